"""The launch manifest of an experiment: what was launched, when, how, and how it ended.

Two files in ``exp_path``:

``smartsim_manifest.jsonl`` — the journal, the source of truth. One JSON object per line,
appended with a single ``write`` per launcher turn (``O_APPEND``), so a driver that crashes
or is killed leaves every line written up to that moment:

* ``{"event": "session", "session", "time", "experiment", "path", "launcher", "driver_pid", ...}``
  once per ``Experiment`` controller, before its first launch;
* ``{"event": "start", "session", "time", "entities", "members", "max_concurrent", "only_failed",
  "block"}`` per ``Experiment.start`` call;
* ``{"event": "launch", "session", "time", "name", "type", "ensemble", "run_id", "job_id", "path",
  "command", "env_vars", "out", "err"}`` when a process starts (``env_vars``: the names the run
  settings set; values are not recorded);
* ``{"event": "end", "session", "time", "name", "run_id", "job_id", "status", "returncode",
  "elapsed"[, "error"]}`` when it ends (``Cancelled`` also for members stopped before launch,
  with ``job_id`` null).

``smartsim_manifest.json`` — the same history folded into one document: ``runs`` in launch
order (give or take members launched at the same instant by different spawner threads),
each with ``launched_at``/``ended_at`` as ISO-8601 and epoch seconds; rewritten at
checkpoints (end of a blocking ``start``, ``stop``, ``poll``, interpreter exit). Runs whose
driver died before they ended have ``status`` ``null`` ("unknown: the driver stopped
recording").

``load_manifest(exp_path)`` folds the journal, so it is true even after a crash.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import threading
import time
import typing as t

from ..launcher.base import JOB_LOG_SUFFIX

JOURNAL_NAME = "smartsim_manifest.jsonl"
MANIFEST_NAME = "smartsim_manifest.json"
LOCK_NAME = "smartsim_manifest.lock"
SCHEMA_VERSION = 1
WRITE_BATCH = 0.005  # the journal is at most this late on disk (a crash loses at most that)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def _iso(ts: t.Optional[float]) -> t.Optional[str]:
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).astimezone().isoformat(timespec="microseconds")


class _Fold:
    """Folds journal events into the manifest document."""

    def __init__(self) -> None:
        self.sessions: t.List[t.Dict[str, t.Any]] = []
        self.starts: t.List[t.Dict[str, t.Any]] = []
        self.runs: t.List[t.Dict[str, t.Any]] = []
        # keyed by (session, name, run_id) as the events carry them
        self._by_run: t.Dict[t.Tuple[t.Any, t.Any, t.Any], t.Dict[str, t.Any]] = {}

    def add(self, ev: t.Dict[str, t.Any]) -> None:
        kind = ev.get("event")
        run: t.Optional[t.Dict[str, t.Any]]
        if kind == "launch":
            fields = {
                "name": ev.get("name"), "type": ev.get("type"), "ensemble": ev.get("ensemble"),
                "session": ev.get("session"), "run_id": ev.get("run_id"), "job_id": ev.get("job_id"),
                "path": ev.get("path"), "command": ev.get("command"), "env_vars": ev.get("env_vars"),
                "out": ev.get("out"), "err": ev.get("err"), "launched_at_epoch": ev.get("time"),
            }
            for key in ("detached", "start_ticks", "token"):
                if key in ev:
                    fields[key] = ev[key]
            run_key = (fields["session"], fields["name"], fields["run_id"])
            run = self._by_run.get(run_key)
            if run is not None:
                # its end came first: a detached run's supervisor appends the end on its
                # own and can beat the driver's launch line; the launch fills in the rest
                run.update(fields)
                return
            run = dict(fields, ended_at_epoch=None, status=None, returncode=None, elapsed=None)
            self._by_run[run_key] = run
            self.runs.append(run)
        elif kind == "end":
            run_key = (ev.get("session"), ev.get("name"), ev.get("run_id"))
            run = self._by_run.get(run_key)
            if run is None:  # ended without a launch: cancelled while queued, or failed to spawn
                run = {
                    "name": ev.get("name"), "type": ev.get("type"), "ensemble": ev.get("ensemble"),
                    "session": ev.get("session"), "run_id": ev.get("run_id"), "job_id": ev.get("job_id"),
                    "path": ev.get("path"), "command": ev.get("command"), "env_vars": ev.get("env_vars"),
                    "out": ev.get("out"), "err": ev.get("err"),
                    "launched_at_epoch": None,
                }
                self._by_run[run_key] = run
                self.runs.append(run)
            run["ended_at_epoch"] = ev.get("time")
            run["status"] = ev.get("status")
            run["returncode"] = ev.get("returncode")
            run["elapsed"] = ev.get("elapsed")
            if ev.get("error"):
                run["error"] = ev["error"]
        elif kind == "session":
            self.sessions.append({k: v for k, v in ev.items() if k != "event"})
        elif kind == "start":
            self.starts.append({k: v for k, v in ev.items() if k != "event"})

    def document(self, experiment: t.Optional[t.Dict[str, t.Any]] = None) -> t.Dict[str, t.Any]:
        if experiment is None:
            last = self.sessions[-1] if self.sessions else {}
            experiment = {"name": last.get("experiment"), "path": last.get("path"),
                          "launcher": last.get("launcher")}
        runs = []
        for run in self.runs:
            run = dict(run)
            run["launched_at"] = _iso(run.get("launched_at_epoch"))
            run["ended_at"] = _iso(run.get("ended_at_epoch"))
            runs.append(run)
        return {"schema_version": SCHEMA_VERSION, "experiment": experiment,
                "sessions": self.sessions, "starts": self.starts, "runs": runs}

    def last_outcomes(self) -> t.Dict[str, t.Dict[str, t.Any]]:
        """name -> its latest run (in journal order)."""
        latest: t.Dict[str, t.Dict[str, t.Any]] = {}
        for run in self.runs:
            latest[run["name"]] = run
        return latest


def _read_journal(path: str) -> t.Iterator[t.Dict[str, t.Any]]:
    try:
        handle = open(path, "rb")  # pylint: disable=consider-using-with
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break  # a line cut short by a crash
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict):
                yield ev


def _read_new(path: str, offset: int) -> t.Tuple[t.List[t.Dict[str, t.Any]], int]:
    """The complete journal lines after byte ``offset``, and the offset after them."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    events = []
    for line in data[:end].splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict):
            events.append(ev)
    return events, offset + end


def job_logs_wanted() -> bool:
    """Per-job event logs for every run, not only detached ones: ``SMARTSIM_FLAG_TELEMETRY=1``
    (SmartSim's switch). Off by default: one more file created per member, on top of its
    ``.out``/``.err`` (measured 5-20 % slower for a 2000-member ensemble of ``true`` on a busy
    2-core machine); the journal has the same lines for every run anyway."""
    return os.environ.get("SMARTSIM_FLAG_TELEMETRY", "0").strip().lower() in ("1", "true", "yes", "on")


def job_log_path(path: str, name: str) -> str:
    """The event log of the job ``name`` that runs in ``path``: its journal lines only."""
    return os.path.join(path, name + JOB_LOG_SUFFIX)


def _append_job_lines(jobs: t.List[t.Tuple[str, bytes]]) -> None:
    grouped: t.Dict[str, t.List[bytes]] = {}
    for path, line in jobs:
        grouped.setdefault(path, []).append(line)
    for path, lines in grouped.items():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        except OSError:
            continue  # the job's directory is gone: the journal still has the line
        try:
            os.write(fd, b"".join(lines))
        except OSError:
            pass
        finally:
            os.close(fd)


class FileLock:
    """An exclusive ``flock`` on the file ``path`` (created, mode 0600) for a ``with`` block:
    one process at a time rewrites what it guards."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = -1

    def __enter__(self) -> "FileLock":
        import fcntl  # pylint: disable=import-outside-toplevel

        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: t.Any) -> None:
        os.close(self._fd)  # releases the lock
        self._fd = -1


class ExperimentLock(FileLock):
    """``flock`` on ``<exp_path>/smartsim_manifest.lock``: one driver at a time rewrites the
    folded manifest (and the other shared files of an experiment), however many are attached."""

    def __init__(self, exp_path: str) -> None:
        super().__init__(os.path.join(exp_path, LOCK_NAME))


def fold_journal(exp_path: str) -> "_Fold":
    """Every event of ``exp_path``'s journal, folded into runs (true even after a crash)."""
    fold = _Fold()
    for ev in _read_journal(os.path.join(exp_path, JOURNAL_NAME)):
        fold.add(ev)
    return fold


def load_manifest(exp_path: str) -> t.Dict[str, t.Any]:
    """The manifest of ``exp_path`` folded from its journal (true even after a crash)."""
    return fold_journal(exp_path).document()


class ManifestWriter:
    """Appends journal lines and rewrites the folded manifest at checkpoints."""

    # a checkpoint is skipped when the previous one ended less than this many times its
    # own duration ago (a tight loop of tiny starts over a huge manifest stays linear)
    CHECKPOINT_BACKOFF = 10.0

    def __init__(self, exp_name: str, exp_path: str, launcher: str, session: str) -> None:
        self.exp_name = exp_name
        self.exp_path = exp_path
        self.launcher = launcher
        self.session = session
        self.journal_path = os.path.join(exp_path, JOURNAL_NAME)
        self.manifest_path = os.path.join(exp_path, MANIFEST_NAME)
        self._fd = -1
        self._fold: t.Optional[_Fold] = None
        self._offset = 0
        self._buf: t.List[bytes] = []
        # per-job event logs: (log path, line), appended by the writer thread
        self._jobbuf: t.List[t.Tuple[str, bytes]] = []
        self._job_logs: t.Dict[str, str] = {}  # name -> its event log (from its launch)
        self._lock = threading.Lock()
        self._dirty = False
        self._next_checkpoint = 0.0
        self._session_written = False
        self._writer: t.Optional[threading.Thread] = None
        self._wake = threading.Event()
        self._write_lock = threading.Lock()

    def _open(self) -> None:
        if self._fd < 0:
            os.makedirs(self.exp_path, exist_ok=True)
            self._fd = os.open(self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                               0o644)

    def _ensure_fold(self) -> _Fold:
        if self._fold is None:
            fold = _Fold()
            events, self._offset = _read_new(self.journal_path, 0)
            for ev in events:
                fold.add(ev)
            self._fold = fold
        return self._fold

    def _catch_up(self) -> None:
        """Fold what other writers appended since we last read (other drivers attached to
        this experiment, supervisors of detached runs); our own lines are folded already.
        The file is read without ``_lock``: ``event()`` on the launcher thread never waits
        for it. (Experiment lock held: one catch-up at a time.)"""
        with self._lock:
            self._ensure_fold()  # (the first fold reads the journal and sets the offset)
            offset = self._offset
        events, offset = _read_new(self.journal_path, offset)
        with self._lock:
            self._offset = offset
            fold = self._ensure_fold()
            for ev in events:
                if ev.get("session") != self.session or ev.get("by"):
                    fold.add(ev)

    def previous_outcomes(self) -> t.Dict[str, t.Dict[str, t.Any]]:
        """The latest recorded run of every name in this experiment path's journal."""
        with self._lock:
            return self._ensure_fold().last_outcomes()

    def _head_locked(self) -> bytes:
        """The session line, the first time anything is recorded (lock held)."""
        if self._session_written:
            return b""
        self._session_written = True
        head = {"event": "session", "session": self.session, "time": time.time(),
                "experiment": self.exp_name, "path": self.exp_path, "launcher": self.launcher,
                "driver_pid": os.getpid()}
        self._ensure_fold().add(head)
        return _dumps(head).encode() + b"\n"

    def event(self, ev: t.Dict[str, t.Any], flush: bool = False, session: t.Optional[str] = None) -> None:
        """Record one event (buffered: the writer thread appends it within a few ms, or
        at once with ``flush``; ``session``: of a run another driver launched)."""
        ev["session"] = session or self.session
        line = _dumps(ev).encode() + b"\n"
        with self._lock:
            head = self._head_locked()
            if head:
                self._buf.append(head)
            self._buf.append(line)
            self._job_line_locked(ev, line)
            self._ensure_fold().add(ev)
            self._dirty = True
        if flush:
            self.sync()

    def event_now(self, ev: t.Dict[str, t.Any]) -> None:
        """Record one event and append it at once from the calling thread (launches: a
        driver killed a microsecond later still leaves the line)."""
        ev["session"] = self.session
        line = _dumps(ev).encode() + b"\n"
        with self._lock:
            head = self._head_locked()
            self._job_line_locked(ev, line)
            self._ensure_fold().add(ev)
            self._dirty = True
            try:
                self._open()
            except OSError:
                pass
            fd = self._fd
        try:
            os.write(fd, head + line)  # O_APPEND: one write, one atomic append
        except OSError as exc:
            from ...log import get_logger  # pylint: disable=import-outside-toplevel

            get_logger(__name__).warning(f"could not write the launch journal {self.journal_path}: {exc}")

    def _job_line_locked(self, ev: t.Dict[str, t.Any], line: bytes) -> None:
        """Queue ``line`` for the job's own event log (``<path>/<name>.events.jsonl``)."""
        kind = ev.get("event")
        path: t.Optional[str]
        if kind == "launch" and ev.get("path") and (ev.get("detached") or job_logs_wanted()):
            path = self._job_logs[ev["name"]] = job_log_path(ev["path"], ev["name"])
        elif kind == "end":
            path = self._job_logs.pop(str(ev.get("name")), None)
            if path is None and ev.get("path") and job_logs_wanted():  # never launched
                path = job_log_path(ev["path"], ev["name"])
        else:
            return
        if path is not None:
            self._jobbuf.append((path, line))

    def flush(self) -> None:
        """Hand the buffered lines to the journal writer thread (returns at once: the
        launcher thread never waits on the file system)."""
        if self._buf or self._jobbuf:
            if self._writer is None:
                with self._lock:
                    if self._writer is None:
                        self._writer = threading.Thread(target=self._write_loop, daemon=True,
                                                        name="smartsim-manifest")
                        self._writer.start()
            self._wake.set()

    def sync(self) -> None:
        """Write every buffered line now (in the calling thread)."""
        with self._write_lock:
            self._write_pending()

    def _write_loop(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(WRITE_BATCH)  # gather a few launcher turns into one write
            self._wake.clear()
            with self._write_lock:
                self._write_pending()

    def _write_pending(self) -> None:
        with self._lock:
            jobs, self._jobbuf = self._jobbuf, []
            data = b"".join(self._buf)
            self._buf.clear()
        if jobs:
            _append_job_lines(jobs)
        if not data:
            return
        try:
            self._open()
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            from ...log import get_logger  # pylint: disable=import-outside-toplevel

            get_logger(__name__).warning(f"could not write the launch journal {self.journal_path}: {exc}")

    def checkpoint(self, force: bool = False) -> None:
        """Rewrite ``smartsim_manifest.json`` (unless ``force``, skipped while the previous
        rewrite is recent compared with how long it took)."""
        self.sync()
        with self._lock:
            if not self._dirty:
                return
            began = time.monotonic()
            if not force and began < self._next_checkpoint:
                return
        tmp = f"{self.manifest_path}.{os.getpid()}.tmp"
        try:
            with ExperimentLock(self.exp_path):
                self._catch_up()
                with self._lock:
                    doc = self._ensure_fold().document(
                        {"name": self.exp_name, "path": self.exp_path, "launcher": self.launcher})
                    data = _dumps(doc).encode()
                    self._dirty = False
                with open(tmp, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, self.manifest_path)
            ended = time.monotonic()
            self._next_checkpoint = ended + self.CHECKPOINT_BACKOFF * (ended - began)
        except OSError as exc:
            from ...log import get_logger  # pylint: disable=import-outside-toplevel

            get_logger(__name__).warning(f"could not write the manifest {self.manifest_path}: {exc}")

    def close(self) -> None:
        self.checkpoint(force=True)
        with self._write_lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
