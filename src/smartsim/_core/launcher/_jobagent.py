"""Steps in a batch job held by the driver, for schedulers that cannot start a step in a job
from outside it (PBS, LSF, Cobalt): an agent inside the job, a relay on the driver's side.

``python _jobagent.py agent <launcher> <spool>`` -- the job's only command (``hold_allocation``).
It writes ``<spool>/hosts`` (the job's hosts, from its environment, as the launcher reads
them: ``job_hosts``), touches ``<spool>/heartbeat`` every second, and runs each request
``<spool>/<id>.req`` (JSON: argv, cwd, env, out, err) as a process group of its own, with the
job's own scheduler variables (``PBS_*`` ...) over the request's environment; its exit status
goes to ``<id>.exit``. ``<id>.cancel`` ends that step (``SIGTERM``, ``SIGKILL`` two seconds
later); ``<spool>/stop`` or a signal ends them all and the agent.

``python -I -S _jobagent.py step <spool> <id> -- <argv...>`` -- the relay, a local process
of the driver standing for the step: it hands the agent its command, working directory,
environment and output files (its own stdout/stderr), exits with the step's exit status, and
turns ``SIGTERM`` (``stop``) into a cancel request. If the agent stops beating (the job is
gone) it exits with 255; once the driver released the job (``<spool>/stop``) it waits a few
seconds for its own stop and exits with 143.

Standard library only in ``step`` mode (it starts with ``-I -S``); ``agent`` mode imports the
launcher by name (the job script puts this package on ``PYTHONPATH``).
"""
import json
import os
import signal
import subprocess
import sys
import time

HEARTBEAT = 1.0
DEAD_AFTER = 20.0
KILL_AFTER = 2.0
RELEASE_WAIT = 5.0
TICK = 0.05


def _write_atomic(path: str, text: str, mode: int = 0o600) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass


# ------------------------------------------------------------------------------------------
# inside the job


class _Step:
    __slots__ = ("proc", "kill_at")

    def __init__(self, proc: "subprocess.Popen[bytes]") -> None:
        self.proc = proc
        self.kill_at = 0.0


def _start(spool: str, step_id: str, keep: "dict[str, str]") -> "subprocess.Popen[bytes] | int":
    """Start a request (its process, or the exit status of a start that failed)."""
    with open(os.path.join(spool, step_id + ".req"), encoding="utf-8", errors="surrogateescape") as handle:
        req = json.load(handle)
    env = dict(req["env"])
    env.update(keep)
    out_path, err_path = req.get("out"), req.get("err")
    # pylint: disable=consider-using-with
    out = open(out_path, "ab") if out_path else None
    err = out if err_path == out_path else (open(err_path, "ab") if err_path else None)
    try:
        return subprocess.Popen(req["argv"], cwd=req.get("cwd") or None, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                stdout=out if out is not None else subprocess.DEVNULL,
                                stderr=err if err is not None else subprocess.DEVNULL)
    except OSError as exc:
        if err is not None:
            err.write(f"could not start {req['argv'][0]}: {exc}\n".encode())
        return 127
    finally:
        for stream in {id(h): h for h in (out, err) if h is not None}.values():
            stream.close()


def agent(launcher: str, spool: str) -> int:
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stopping.append(True))
    try:
        from smartsim._core.launcher.base import launcher_class  # pylint: disable=import-outside-toplevel

        cls = launcher_class(launcher)
        hosts = cls.job_hosts(os.environ)  # type: ignore[attr-defined]
        prefixes = tuple(getattr(cls, "own_env_prefixes", ()))
    except Exception as exc:  # pylint: disable=broad-except
        print(f"smartsim job agent: cannot read this job's hosts: {exc!r}", file=sys.stderr)
        return 1
    keep = {k: v for k, v in os.environ.items() if prefixes and k.startswith(prefixes)}
    beat = os.path.join(spool, "heartbeat")
    _write_atomic(beat, "")
    _write_atomic(os.path.join(spool, "hosts"), json.dumps({"hosts": hosts, "pid": os.getpid()}))
    steps: "dict[str, _Step]" = {}
    done: "set[str]" = set()
    last_beat = time.monotonic()
    while True:
        now = time.monotonic()
        if now - last_beat >= HEARTBEAT:
            try:
                os.utime(beat)
            except OSError:
                break  # the driver removed the directory: released
            last_beat = now
        if stopping or os.path.exists(os.path.join(spool, "stop")):
            break
        try:
            names = os.listdir(spool)
        except OSError:
            break
        for entry in names:
            if not entry.endswith(".req"):
                continue
            step_id = entry[:-4]
            if step_id in steps or step_id in done:
                continue
            try:
                started = _start(spool, step_id, keep)
            except (OSError, ValueError, KeyError) as exc:
                print(f"smartsim job agent: bad request {entry}: {exc!r}", file=sys.stderr)
                started = 255
            if isinstance(started, int):
                _write_atomic(os.path.join(spool, step_id + ".exit"), str(started))
                done.add(step_id)
            else:
                steps[step_id] = _Step(started)
        for step_id, step in list(steps.items()):
            code = step.proc.poll()
            if code is not None:
                _killpg(step.proc.pid, signal.SIGKILL)  # what it left in its group
                _write_atomic(os.path.join(spool, step_id + ".exit"), str(code))
                done.add(step_id)
                del steps[step_id]
            elif step.kill_at == 0.0 and os.path.exists(os.path.join(spool, step_id + ".cancel")):
                _killpg(step.proc.pid, signal.SIGTERM)
                step.kill_at = now + KILL_AFTER
            elif step.kill_at and now >= step.kill_at:
                _killpg(step.proc.pid, signal.SIGKILL)
        done.intersection_update(entry[:-4] for entry in names if entry.endswith(".req"))
        time.sleep(TICK)
    for step in steps.values():
        _killpg(step.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_AFTER
    while any(step.proc.poll() is None for step in steps.values()) and time.monotonic() < deadline:
        time.sleep(TICK)
    for step_id, step in steps.items():
        _killpg(step.proc.pid, signal.SIGKILL)
        try:
            _write_atomic(os.path.join(spool, step_id + ".exit"), str(step.proc.wait()))
        except OSError:
            pass
    return 0


# ------------------------------------------------------------------------------------------
# on the driver's side


def _fd_path(fd: int) -> "str | None":
    try:
        path = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    return path if path.startswith("/") and path != os.devnull else None


def step(spool: str, step_id: str, argv: "list[str]") -> int:
    cancel: "list[float]" = []  # when a stop was first asked for (monotonic), if it was

    def on_signal(signum: int, _frame: object) -> None:
        if not cancel:
            cancel.append(time.monotonic())
            try:
                with open(os.path.join(spool, step_id + ".cancel"), "w", encoding="utf-8"):
                    pass
            except OSError:
                pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
               "out": _fd_path(1), "err": _fd_path(2)}
    req = os.path.join(spool, step_id + ".req")
    _write_atomic(req, json.dumps(request))
    exit_path = os.path.join(spool, step_id + ".exit")
    beat = os.path.join(spool, "heartbeat")
    stop = os.path.join(spool, "stop")
    since = time.time()
    released = 0.0  # when the driver released the job (its steps are being stopped)
    try:
        while True:
            try:
                with open(exit_path, encoding="utf-8") as handle:
                    code = int(handle.read().strip())
                break
            except (OSError, ValueError):
                pass
            now = time.monotonic()
            if not released and os.path.exists(stop):
                released = now
            if cancel and (released or now - cancel[0] > 4 * KILL_AFTER):
                return 128 + signal.SIGTERM
            if released:
                if now - released > RELEASE_WAIT:
                    return 128 + signal.SIGTERM
            else:
                try:
                    last = max(os.stat(beat).st_mtime, since)
                except OSError:
                    last = since if os.path.isdir(spool) else 0.0
                if time.time() - last > DEAD_AFTER:
                    print(f"smartsim: the batch job running this step is gone ({spool})", file=sys.stderr)
                    return 255
            time.sleep(TICK)
        if (released or os.path.exists(stop)) and not cancel:
            # the job was released: this step is about to be stopped too, wait for that so it
            # ends as stopped rather than as failed
            deadline = time.monotonic() + RELEASE_WAIT
            while not cancel and time.monotonic() < deadline:
                time.sleep(TICK)
    finally:
        for suffix in (".req", ".exit", ".cancel"):
            _unlink(os.path.join(spool, step_id + suffix))
    return code if code >= 0 else 128 - code


def main(args: "list[str]") -> int:
    if len(args) == 3 and args[0] == "agent":
        return agent(args[1], args[2])
    if len(args) >= 5 and args[0] == "step" and args[3] == "--":
        return step(args[1], args[2], args[4:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
