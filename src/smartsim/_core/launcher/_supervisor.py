"""The supervisor of a detached process: it outlives the driver and records how its process ended.

Run as ``python -I -S _supervisor.py <spec json> -- <argv...>`` as the detached task's
command (the local launcher starts it in a session of its own, so its pid is the process
group of the task). It runs ``argv`` as its child in that same group, so ``stop`` (a signal
to the whole group, from this driver or from a later one) reaches both. When the child ends
it writes

* ``<exit_file>``: the child's exit status (``-N`` for signal N), the same file a batch task
  records (``<cwd>/<name>.exitcode``), and a second line ``stopped`` when the supervisor was
  signalled (a stop, from whichever driver: the run is Cancelled, not Failed);
* an ``end`` line appended to the experiment's journal (``smartsim_manifest.jsonl``, one
  ``O_APPEND`` write) and to the job's event log, with ``"by": "supervisor"``: Completed/Failed by the exit status,
  Cancelled when the supervisor itself was signalled (a stop);

then ends the way its child did. A driver that is no longer the parent (killed, exited,
or a new driver that attached) reads these instead of ``waitpid``. Standard library only.
"""
import json
import os
import signal
import subprocess
import sys
import time


def _append(path: str, record: dict) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        return
    try:
        os.write(fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())
    finally:
        os.close(fd)


def main(argv: "list[str]") -> int:
    if len(argv) < 4 or argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    spec = json.loads(argv[1])
    stopped = []

    def on_signal(signum: int, _frame: object) -> None:
        # the group got it too: the child ends on its own; we wait to record that
        stopped.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    began = time.time()
    exit_file = spec["exit_file"]
    try:
        os.unlink(exit_file)
    except OSError:
        pass
    try:
        child = subprocess.Popen(argv[3:], stdin=subprocess.DEVNULL, close_fds=False)
    except OSError as exc:
        print(f"smartsim: could not start {argv[3]}: {exc}", file=sys.stderr)
        rc = 127
    else:
        while True:
            try:
                rc = child.wait()
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
    now = time.time()
    tmp = f"{exit_file}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(f"{rc}\n" + ("stopped\n" if stopped else ""))
        os.replace(tmp, exit_file)
    except OSError:
        pass
    status = "Cancelled" if stopped else ("Completed" if rc == 0 else "Failed")
    journal = spec.get("journal")
    if journal:
        record = {"event": "end", "session": spec.get("session"), "time": now,
                  "name": spec.get("name"), "run_id": spec.get("run_id"), "job_id": os.getpid(),
                  "status": status, "returncode": rc, "elapsed": round(now - began, 6),
                  "by": "supervisor"}
        _append(journal, record)
        if spec.get("job_log"):
            _append(spec["job_log"], record)
    sys.stdout.flush()
    if rc < 0:  # end the way the child did (a driver that reaps us sees the same status)
        signal.signal(-rc, signal.SIG_DFL)
        os.kill(os.getpid(), -rc)
    return rc & 0xFF


if __name__ == "__main__":
    sys.exit(main(sys.argv))
