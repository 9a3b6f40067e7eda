"""The driver watchdog: a tiny process that ends every member when the driver dies.

Run as ``python -I -S _watchdog.py <driver_pid> <token> [<cancel command>...]`` with its
stdin a pipe from the driver; standard library only, so it starts in a few milliseconds and
imports nothing that could fail.

The driver writes ``+<pgid>`` when it starts a member (every member leads its own process
group) and ``-<pgid>`` once it has reaped it. The watchdog waits on a pidfd of the driver
and on the pipe. When the driver is gone (pidfd readable, pipe at EOF, or it was gone
already at start-up) it sweeps:

1. ``SIGTERM`` to every registered process group and to every process whose environment
   carries ``<TOKEN_VAR>=<token>`` (members and their descendants inherit it, which also
   covers a member forked in the instant before its ``+`` line was written, and processes
   that left the member's group, e.g. with ``setsid``);
2. up to ``GRACE`` seconds for them to go;
3. ``SIGKILL`` to whatever is left, rescanning until nothing carries the token.

Then it exits.

Scheduler jobs are not processes of this host: a launcher that submits them (e.g. Slurm's
``sbatch``) starts the watchdog with its cancel command (``scancel``) and writes ``=<job id>``
when a job is submitted and ``~<job id>`` once it has ended; when the driver is gone the
watchdog runs ``<cancel command> <job id>...`` for the jobs still registered, before the sweep. Why a separate process and not ``PR_SET_PDEATHSIG`` in the child's
``preexec_fn``: see ``smartsim._core.launcher.local``.
"""
import os
import select
import signal
import sys
import time

TOKEN_VAR = b"_SMARTSIM_LAUNCH_TOKEN"
GRACE = 1.0
BATCH_DELAY = 0.02


def _needle(token: bytes) -> bytes:
    """``TOKEN_VAR=token`` as it appears inside ``/proc/<pid>/environ``."""
    return b"\0" + TOKEN_VAR + b"=" + token + b"\0"


def _token_holders(needles: "tuple[bytes, ...]", me: int) -> "list[int]":
    """Pids (but ``me``) whose environment holds any of ``needles``: one pass over /proc."""
    pids: "list[int]" = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return pids
    for entry in entries:
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                env = handle.read()
        except OSError:
            continue
        if any(needle in env for needle in needles):
            pids.append(pid)
    return pids


def token_holders(tokens: "set[str]") -> "list[int]":
    """Pids of the processes (but this one) whose environment carries ``TOKEN_VAR=<token>``
    for any of ``tokens``: what runs started with them left, wherever their process group
    (``smart teardown`` sweeps them for detached runs). One pass over /proc; none for no
    tokens."""
    if not tokens:
        return []
    return _token_holders(tuple(_needle(token.encode()) for token in tokens), os.getpid())


def _signal_all(pgids: "set[int]", pids: "list[int]", sig: int) -> None:
    for pgid in pgids:
        try:
            os.killpg(pgid, sig)
        except OSError:
            pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def _alive(pgids: "set[int]", pids: "list[int]") -> bool:
    for pgid in pgids:
        try:
            os.killpg(pgid, 0)
            return True
        except OSError:
            pass
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
            if state not in (b"Z", b"X"):
                return True
        except (OSError, IndexError):
            pass
    return False


def sweep(pgids: "set[int]", token: bytes) -> None:
    me = os.getpid()
    needles = (_needle(token),)
    pids = _token_holders(needles, me)
    _signal_all(pgids, pids, signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    while time.monotonic() < deadline and _alive(pgids, pids):
        time.sleep(0.02)
    for _ in range(10):
        _signal_all(pgids, pids, signal.SIGKILL)
        pgids = set()
        pids = _token_holders(needles, me)
        if not pids:
            break
        time.sleep(0.01)


def _apply(data: bytes, pgids: "set[int]", jobs: "set[bytes]") -> bytes:
    """Apply complete ``+pgid``/``-pgid``/``=job``/``~job`` lines; return the incomplete tail."""
    lines = data.split(b"\n")
    pending = lines.pop()
    for line in lines:
        if line[:1] == b"+":
            pgids.add(int(line[1:]))
        elif line[:1] == b"-":
            pgids.discard(int(line[1:]))
        elif line[:1] == b"=":
            jobs.add(line[1:])
        elif line[:1] == b"~":
            jobs.discard(line[1:])
    return pending


def cancel_jobs(command: "list[str]", jobs: "set[bytes]") -> None:
    if not command or not jobs:
        return
    try:
        import subprocess  # only here: most drivers never submit a job

        subprocess.run(command + sorted(job.decode() for job in jobs), stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, check=False)
    except (OSError, ValueError, subprocess.SubprocessError):
        pass


def _drain(pgids: "set[int]", jobs: "set[bytes]", pending: bytes) -> None:
    """Read what the driver wrote before it died (it may die before our loop ever ran).

    Non-blocking: a process that inherited the pipe's write end must not hold us up.
    """
    try:
        os.set_blocking(0, False)
    except OSError:
        return
    while True:
        try:
            data = os.read(0, 1 << 20)
        except OSError:  # EAGAIN: nothing more for now
            return
        if not data:
            return
        pending = _apply(pending + data, pgids, jobs)


def main(argv: "list[str]") -> int:
    driver = int(argv[1])
    token = argv[2].encode()
    cancel = list(argv[3:])
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    pgids: "set[int]" = set()
    jobs: "set[bytes]" = set()
    try:
        pidfd = os.pidfd_open(driver)
    except (OSError, AttributeError):
        pidfd = -1
    watch = [0] + ([pidfd] if pidfd >= 0 else [])
    alive = os.getppid() == driver
    pending = b""
    while alive:
        # without a pidfd (old kernels) fall back to checking our parent once a second
        ready, _, _ = select.select(watch, [], [], None if pidfd >= 0 else 1.0)
        if pidfd < 0 and os.getppid() != driver:
            break
        if pidfd in ready:
            break
        if 0 in ready:
            time.sleep(BATCH_DELAY)  # let a burst of launches accumulate into one read
            try:
                data = os.read(0, 1 << 20)
            except OSError:
                data = b""
            if not data:
                break
            pending = _apply(pending + data, pgids, jobs)
    _drain(pgids, jobs, pending)
    cancel_jobs(cancel, jobs)
    sweep(pgids, token)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
