"""Runs that outlive their driver: detach, the database checkpoint, reconnect, attach, and the
per-user index that ``smart teardown`` reads. The design is in ``docs/lifecycle.md``.

* **Detach** (``start(..., block=False, detach=True)``): the tasks carry ``detached``; the
  launcher keeps them out of its watchdog and does not stop them at exit or on Ctrl-C;
  their environment carries a launch token of their own (``detach_token``), not the one the
  watchdog sweeps for. A detached local process runs under ``_supervisor.py``, which
  records its exit status (``<cwd>/<name>.exitcode``) and appends its ``end`` line to the
  journal, so a later driver sees Completed/Failed/Cancelled. The launch line of a detached
  run also records ``detached``, ``start_ticks`` (with the pid, it names one process: a
  recycled pid has another start time) and ``token``. The experiment is added to the user's
  index (``user_index_path``).
* **Checkpoint**: every database start writes ``<db path>/smartsim_db.dat`` (JSON, mode
  0600: it holds the password): identifier, addresses, shards with pids and start times.
* **Reconnect / attach**: the shards (and members) are *adopted* by this driver's launcher
  (``LocalLauncher.adopt``: a pidfd per process) and stopped as if started here.
"""
from __future__ import annotations

import json
import os
import time
import typing as t
import uuid

from ...error import SmartSimError, SSUnsupportedError
from ...log import get_logger
from ...status import SmartSimStatus
from ..launcher.base import Task
from .manifest import JOURNAL_NAME, ExperimentLock, FileLock, _read_journal, fold_journal

if t.TYPE_CHECKING:
    from ...database.orchestrator import Orchestrator
    from ..server.shards import ShardLaunch
    from .controller import Controller

logger = get_logger(__name__)

CHECKPOINT_SCHEMA = 1
INDEX_NAME = "detached.jsonl"

_STATUS = {s.value: s for s in SmartSimStatus}


def user_state_dir() -> str:
    """``$XDG_STATE_HOME/smartsim`` (default ``~/.local/state/smartsim``)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "smartsim")


def user_index_path() -> str:
    """The user's index of experiments with detached work: one JSON line per detached start
    (``exp_path``, ``session``, ``time``, ``entities``, ``token``)."""
    return os.path.join(user_state_dir(), INDEX_NAME)


def same_process(pid: t.Any, start_ticks: t.Any) -> bool:
    """Is ``pid`` still the process that was recorded (same start time)? Only a process id
    recorded as an integer counts: a scheduler's job id (recorded as a string, "1234") is
    never a process of this host, even when a process with that number exists."""
    from ..launcher.local import process_state  # pylint: disable=import-outside-toplevel

    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    state = process_state(pid)
    if state is None or state[0] in ("Z", "X"):  # gone, or a zombie: it has ended
        return False
    return start_ticks is None or int(start_ticks) == state[1]


class Lifecycle:
    """The detach/reconnect/attach side of one controller."""

    def __init__(self, ctrl: "Controller", batch_type: t.Callable[..., t.Any]) -> None:
        self.ctrl = ctrl
        self._batch_type = batch_type  # the controller's owner of a group of tasks (_Batch)
        self.detach_token = f"detached-{uuid.uuid4().hex}"
        self.sessions: t.Dict[int, str] = {}   # id(task) -> session of an adopted run
        self._commands: t.Dict[int, t.List[str]] = {}  # id(task) -> the command before wrapping

    # -- detach ------------------------------------------------------------------------
    def detach(self, tasks: t.Sequence[Task], job_tasks: t.Sequence[Task], names: t.Sequence[str]) -> None:
        """Mark ``tasks`` detached; local processes (steps) go under the supervisor."""
        from ..launcher.local import supervised_argv  # pylint: disable=import-outside-toplevel

        in_jobs = {id(task) for task in job_tasks}
        manifest = self.ctrl.manifest
        for task in tasks:
            task.detached = True
            if id(task) not in in_jobs:  # batch tasks record their exit status themselves
                self._commands[id(task)] = task.argv
                task.argv = supervised_argv(task, manifest.journal_path, manifest.session)
        self._add_to_user_index({"exp_path": self.ctrl.exp_path, "session": manifest.session, "time": time.time(),
                     "entities": list(names), "token": self.detach_token})

    def launch_fields(self, task: Task) -> t.Dict[str, t.Any]:
        from ..launcher.local import process_start_time  # pylint: disable=import-outside-toplevel

        fields: t.Dict[str, t.Any] = {"detached": True, "token": self.detach_token}
        if isinstance(task.pid, int):
            fields["start_ticks"] = process_start_time(task.pid)
        original = self._commands.pop(id(task), None)
        if original is not None:
            fields["command"] = original
        return fields

    @staticmethod
    def _add_to_user_index(record: t.Dict[str, t.Any]) -> None:
        path = user_index_path()
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            with FileLock(path + ".lock"):  # smart teardown may be rewriting it
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    os.write(fd, (json.dumps(record) + "\n").encode())
                finally:
                    os.close(fd)
        except OSError as exc:
            logger.warning(f"could not record the detached start in {path}: {exc}; "
                           "smart teardown will not find it (pass --exp-path)")

    # -- the database checkpoint ---------------------------------------------------------
    def write_checkpoint(self, launch: "ShardLaunch") -> None:
        """``<db path>/smartsim_db.dat``: what reconnecting to this database needs."""
        from ..launcher.local import process_start_time  # pylint: disable=import-outside-toplevel

        orc = launch.orc
        manifest = self.ctrl.manifest
        shards = []
        for (node, _), task, (host, port) in zip(launch.shards, launch.tasks, launch.endpoints):
            pid = task.pid
            shards.append({"name": node.name, "host": host, "port": port, "job_id": pid,
                           "start_ticks": process_start_time(pid) if isinstance(pid, int) else None,
                           "out": task.out, "err": task.err, "run_id": task.run_id})
        doc = {"schema_version": CHECKPOINT_SCHEMA, "db_identifier": orc.db_identifier, "path": orc.path,
               "launcher": self.ctrl.launcher_name, "exp_path": self.ctrl.exp_path,
               "session": manifest.session, "detached": all(task.detached for task in launch.tasks),
               "cluster": orc.is_cluster, "interface": list(orc._interfaces),  # pylint: disable=protected-access
               "addresses": [f"{h}:{p}" for h, p in launch.endpoints], "password": orc.password,
               "shards": shards, "time": time.time()}
        path = orc.checkpoint_file
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(doc, handle, indent=1)
            os.replace(tmp, path)
        except OSError as exc:
            logger.warning(f"could not write the database checkpoint {path}: {exc}")

    def reconnect(self, checkpoint: t.Union[str, "os.PathLike[str]"]) -> "Orchestrator":
        """The running database recorded in ``checkpoint``, adopted by this driver."""
        from ...database.orchestrator import Orchestrator  # pylint: disable=import-outside-toplevel
        from ..server.shards import ShardLaunch  # pylint: disable=import-outside-toplevel

        path = os.fspath(checkpoint)
        if not os.path.exists(path):
            raise FileNotFoundError(f"The SmartSim database config file {path} cannot be found.")
        try:
            with open(path, encoding="utf-8") as handle:
                doc = json.load(handle)
            shards = doc["shards"]
            ident = doc["db_identifier"]
            # every field read below, checked here: a partial file is refused naming it
            if not isinstance(shards, list) or not shards or not isinstance(doc["path"], str):
                raise ValueError("no shards, or no path")
            [(rec["name"], rec["host"], int(rec["port"])) for rec in shards]  # pylint: disable=expression-not-assigned
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise SmartSimError(f"The SmartSim database checkpoint {path} is incomplete or corrupted "
                                f"({exc!r}); expected the JSON this version writes") from exc
        ctrl = self.ctrl
        if doc.get("launcher") not in (None, ctrl.launcher_name):
            raise SmartSimError(f"database {ident!r} in {path} was started with the {doc['launcher']!r} "
                                f"launcher; reconnect from an Experiment with that launcher, not "
                                f"{ctrl.launcher_name!r}")
        gone = [f"{s['name']} (pid {s.get('job_id')})" for s in shards
                if not same_process(s.get("job_id"), s.get("start_ticks"))]
        if gone:
            raise SmartSimError(f"database {ident!r} recorded in {path} is not running: shard "
                                f"{', '.join(gone)} is gone")
        for other in ctrl.active_databases():
            if other.db_identifier == ident:
                return other
        orc = Orchestrator(path=doc["path"], port=int(shards[0]["port"]), db_nodes=len(shards),
                           interface=doc.get("interface") or "lo", launcher=ctrl.launcher_name,
                           db_identifier=ident, password=doc.get("password"))
        tasks = []
        for node, rec in zip(orc.entities, shards):
            task = self._adopted_task(rec["name"], rec.get("run_id") or 0, doc["path"], rec.get("out") or "",
                                      rec.get("err") or "", rec.get("job_id"), "DBNode", None,
                                      doc.get("session"), is_db=True)
            task.t_launch = doc.get("time")
            node.host = rec["host"]
            tasks.append(task)
        launch = ShardLaunch(orc, [(node, []) for node in orc.entities],
                             [(rec["host"], int(rec["port"])) for rec in shards])
        launch.begin(tasks)
        launch.ready = True
        self._adopt(tasks)
        ctrl.add_database(orc)
        ctrl.register(orc)
        return orc

    # -- attach ------------------------------------------------------------------------
    def _adopted_task(self, name: str, run_id: int, cwd: str, out: str, err: str, pid: t.Any, etype: str,
                      ensemble: t.Optional[str], session: t.Optional[str], is_db: bool = False) -> Task:
        task = Task(name, [], cwd, [], out, err, None, run_id, etype, ensemble, is_db=is_db)
        task.pid = pid
        task.detached = True
        if session:
            self.sessions[id(task)] = session
        return task

    def _adopt(self, tasks: t.List[Task]) -> None:
        """Hand running tasks of another driver to this driver's launcher."""
        ctrl = self.ctrl
        launcher = ctrl.launcher
        adopt = getattr(launcher, "adopt", None)
        if adopt is None:
            raise SSUnsupportedError(f"the {ctrl.launcher_name} launcher cannot watch processes another "
                                     "driver started")
        for task in tasks:  # running as far as the records say; the launcher checks at once
            task.status = SmartSimStatus.STATUS_RUNNING
        ctrl.adopt(tasks, self._batch_type(ctrl, tasks))
        adopt(tasks)

    def attach(self) -> t.Dict[str, t.Any]:
        """Rebuild the entities of the manifest in ``exp_path``: name -> Model / Ensemble /
        Orchestrator; running detached processes are adopted, ended runs show their outcome."""
        from ...entity.ensemble import Ensemble  # pylint: disable=import-outside-toplevel
        from ...entity.model import Model  # pylint: disable=import-outside-toplevel
        from ...settings.base import RunSettings  # pylint: disable=import-outside-toplevel

        ctrl = self.ctrl
        fold = fold_journal(ctrl.exp_path)
        entities: t.Dict[str, t.Any] = {}
        # databases: from their checkpoints (the shards' directory is the database's path)
        db_paths = []
        for run in fold.runs:
            if run.get("type") == "DBNode" and run.get("path") not in db_paths:
                db_paths.append(run.get("path"))
        db_nodes: t.Set[str] = set()
        for path in db_paths:
            checkpoint = os.path.join(path or "", "smartsim_db.dat")
            try:
                orc = self.reconnect(checkpoint)
            except (SmartSimError, FileNotFoundError) as exc:
                logger.warning(f"not attaching the database of {checkpoint}: {exc}")
                continue
            entities[orc.name] = orc
            db_nodes.update(node.name for node in orc.entities)
        history: t.Dict[str, t.List[t.Dict[str, t.Any]]] = {}
        for run in fold.runs:
            if run.get("type") in ("DBNode", "Executor") or run.get("name") in db_nodes:
                continue
            history.setdefault(run["name"], []).append(run)
        members: t.Dict[str, t.Dict[str, t.Dict[str, t.Any]]] = {}
        to_adopt: t.List[Task] = []
        for name, runs in history.items():
            last = runs[-1]
            tasks = [self._recorded_task(run, run is last, to_adopt) for run in runs]
            ctrl.set_history(name, [task for task in tasks if task not in to_adopt])
            if last.get("ensemble"):
                members.setdefault(last["ensemble"], {})[name] = last
            else:
                entities[name] = Model(name, {}, _settings(RunSettings, last), path=last.get("path"))
        for ens_name, recs in members.items():
            ordered = sorted(recs.values(), key=lambda r: _member_index(ens_name, r["name"]))
            paths = {os.path.dirname(r.get("path") or "") for r in ordered}
            entities[ens_name] = Ensemble.of_members(
                ens_name, [Model(rec["name"], {}, _settings(RunSettings, rec), path=rec.get("path"))
                           for rec in ordered], path=paths.pop() if len(paths) == 1 else None)
        # the manifest keeps environment variable names, never values (they may be secrets):
        # a relaunch of these (start(only_failed=True)) needs them set again
        unrecorded = sorted(name for name, runs in history.items() if runs[-1].get("env_vars"))
        if unrecorded:
            logger.warning(
                f"attached {len(unrecorded)} run(s) launched with environment variables whose values "
                f"are not recorded ({', '.join(unrecorded[:5])}{', ...' if len(unrecorded) > 5 else ''}: "
                f"{', '.join(history[unrecorded[0]][-1]['env_vars'])}); set them on the entity's "
                "run_settings.env_vars before relaunching it")
        ctrl.register(*entities.values())
        if to_adopt:
            self._adopt(to_adopt)
        return entities

    def _recorded_task(self, run: t.Dict[str, t.Any], last: bool, to_adopt: t.List[Task]) -> Task:
        """A run of the manifest as a task: ended runs with their outcome; the last run of a
        name, detached and still alive, adopted."""
        task = self._adopted_task(run["name"], run.get("run_id") or 0, run.get("path") or "",
                                  run.get("out") or "", run.get("err") or "", run.get("job_id"),
                                  run.get("type") or "Model", run.get("ensemble"), run.get("session"))
        task.argv = list(run.get("command") or [])
        task.t_launch = run.get("launched_at_epoch")
        status = run.get("status")
        # a scheduler's job (its id a string) is adopted as long as nothing recorded its end:
        # the launcher's first status query tells whether it still runs
        if status is None and last and run.get("detached") and (
                isinstance(run.get("job_id"), str) or same_process(run.get("job_id"), run.get("start_ticks"))):
            to_adopt.append(task)
            return task
        task.detached = bool(run.get("detached"))
        if status is None:
            from ..launcher.local import read_exit_record  # pylint: disable=import-outside-toplevel

            code, t_end, stopped = read_exit_record(task) if run.get("detached") else (None, None, False)
            if stopped:  # its supervisor was told to stop it (another driver, smart teardown)
                status = "Cancelled"
                task.returncode = code
                task.t_end = t_end
            elif code is not None:
                status = "Completed" if code == 0 else "Failed"
                task.returncode = code
                task.t_end = t_end
            else:
                status = "Cancelled"
                task.error = "ended with the driver that started it (no exit status was recorded)"
        else:
            task.returncode = run.get("returncode")
            task.t_end = run.get("ended_at_epoch")
        task.status = _STATUS.get(status, SmartSimStatus.STATUS_FAILED)
        return task


def _settings(cls: t.Any, run: t.Dict[str, t.Any]) -> t.Any:
    command = list(run.get("command") or ["true"])
    return cls(command[0], exe_args=command[1:])


def _member_index(ens: str, name: str) -> t.Tuple[int, str]:
    tail = name[len(ens) + 1:] if name.startswith(ens + "_") else ""
    return (int(tail), name) if tail.isdigit() else (1 << 60, name)


# ------------------------------------------------------------------------------------------
# smart teardown: end what this user's experiments left running, by our records


def indexed_experiments() -> t.List[str]:
    """The experiment paths in the user's index (first-seen order)."""
    paths: t.List[str] = []
    for rec in _read_journal(user_index_path()):
        path = rec.get("exp_path")
        if isinstance(path, str) and path not in paths:
            paths.append(path)
    return paths


def left_behind(exp_path: str) -> t.Tuple[t.List[t.Dict[str, t.Any]], t.List[t.Dict[str, t.Any]],
                                         t.List[t.Tuple[int, int]]]:
    """What the detached runs of ``exp_path`` left, from one read of its journal:

    * processes: runs whose recorded process is still that process (pid and start time:
      detached local runs always record it, so a recycled pid is never taken for the run);
    * batch jobs: runs in a scheduler's job (job id a string) that recorded no end, neither
      an end event nor their own exit-status file; each carries ``launcher``, the launcher of
      the session that submitted it;
    * strays: ``(pid, start time)`` of processes outside the process groups of those runs
      whose environment carries the launch token of one of the experiment's detached runs
      (descendants that left their run's group, e.g. with ``setsid``, or outlived it)."""
    from ..launcher._watchdog import token_holders  # pylint: disable=import-outside-toplevel
    from ..launcher.local import EXIT_SUFFIX, process_start_time  # pylint: disable=import-outside-toplevel

    fold = fold_journal(exp_path)
    launchers = {rec.get("session"): rec.get("launcher") for rec in fold.sessions}
    open_runs = [run for run in fold.last_outcomes().values()
                 if run.get("detached") and run.get("status") is None]
    processes = [run for run in open_runs if run.get("start_ticks") is not None
                 and same_process(run.get("job_id"), run.get("start_ticks"))]
    jobs = [dict(run, launcher=launchers.get(run.get("session"))) for run in open_runs
            if isinstance(run.get("job_id"), str)
            and not os.path.exists(os.path.join(run.get("path") or "", run["name"] + EXIT_SUFFIX))]
    groups = {run["job_id"] for run in processes}
    tokens = {run["token"] for run in fold.runs if run.get("detached") and isinstance(run.get("token"), str)}
    strays = []
    for pid in token_holders(tokens):
        try:
            if os.getpgid(pid) in groups:
                continue  # its run's group is ended as a whole
        except OSError:
            continue
        ticks = process_start_time(pid)
        if ticks is not None:  # None: gone since the scan
            strays.append((pid, ticks))
    return processes, jobs, strays


def _cancel_jobs(runs: t.Sequence[t.Dict[str, t.Any]], out: t.Callable[[str], None]) -> t.List[t.Dict[str, t.Any]]:
    """Cancel the batch jobs of ``runs`` with their launcher's cancel command (``scancel``,
    ``qdel``, ``bkill``); the runs whose job was cancelled (or was already gone)."""
    import subprocess  # pylint: disable=import-outside-toplevel

    from ..launcher.base import launcher_class  # pylint: disable=import-outside-toplevel

    by_launcher: t.Dict[str, t.Dict[str, t.List[t.Dict[str, t.Any]]]] = {}
    for run in runs:
        by_launcher.setdefault(run.get("launcher") or "", {}).setdefault(run["job_id"], []).append(run)
    cancelled: t.List[t.Dict[str, t.Any]] = []
    for name, jobs in by_launcher.items():
        try:
            command = tuple(getattr(launcher_class(name), "cancel_command", ()) or ())
        except Exception:  # pylint: disable=broad-except  # an unknown launcher: say so, go on
            command = ()
        if not command:
            out(f"cannot cancel batch job(s) {', '.join(sorted(jobs))}: launcher {name!r} has no cancel command")
            continue
        try:
            proc = subprocess.run([*command, *sorted(jobs)], capture_output=True, text=True, timeout=60,
                                  check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            out(f"{command[0]} {' '.join(sorted(jobs))} failed: {exc}")
            continue
        if proc.returncode != 0:  # e.g. a job that ended meanwhile: reported, still recorded
            out(f"{command[0]} {' '.join(sorted(jobs))}: {(proc.stderr or proc.stdout).strip()}")
        for job_runs in jobs.values():
            cancelled.extend(job_runs)
    return cancelled


def teardown(exp_paths: t.Optional[t.Sequence[str]] = None, grace: float = 2.0,
             dry_run: bool = False, out: t.Callable[[str], None] = print) -> int:
    """End the detached databases and members of ``exp_paths`` (default: every experiment in
    the user's index): ``SIGTERM`` to each recorded process group, ``SIGKILL`` after
    ``grace`` s; detached batch jobs cancelled with their launcher's cancel command; each
    end goes to the experiment's journal. Processes are found only by the pid and start time
    recorded at launch, jobs by their recorded job id, never by name. Returns how many were
    ended (or would be, with ``dry_run``); experiments with nothing left leave the index."""
    import signal  # pylint: disable=import-outside-toplevel

    from .manifest import _dumps  # pylint: disable=import-outside-toplevel

    from_index = exp_paths is None
    paths = indexed_experiments() if exp_paths is None else [os.path.abspath(p) for p in exp_paths]
    ended = 0
    for path in paths:
        runs, jobs, strays = left_behind(path)
        for run in runs:
            out(f"{'would end' if dry_run else 'ending'} {run.get('type') or 'Model'} {run['name']} "
                f"(pid {run['job_id']}) of {path}")
        for run in jobs:
            out(f"{'would cancel' if dry_run else 'cancelling'} {run.get('type') or 'Model'} {run['name']} "
                f"({run['launcher']} job {run['job_id']}) of {path}")
        for pid, _ in strays:
            out(f"{'would end' if dry_run else 'ending'} process {pid} of {path}: outside its run's "
                "process group, it carries the launch token of a detached run")
        if dry_run or not (runs or jobs or strays):
            ended += len(runs) + len(jobs) + len(strays)
            continue
        if jobs:
            jobs = _cancel_jobs(jobs, out)
        targets = [(int(run["job_id"]), run.get("start_ticks"), os.killpg) for run in runs] + [
            (pid, ticks, os.kill) for pid, ticks in strays]
        for pid, _, kill in targets:
            try:
                kill(pid, signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(same_process(pid, ticks) for pid, ticks, _ in targets):
            time.sleep(0.05)
        for pid, ticks, kill in targets:
            if same_process(pid, ticks):
                try:
                    kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        now = time.time()
        lines = b"".join(_dumps({
            "event": "end", "session": run.get("session"), "time": now, "name": run["name"],
            "run_id": run.get("run_id"), "job_id": run["job_id"], "status": "Cancelled",
            "returncode": None, "elapsed": round(now - (run.get("launched_at_epoch") or now), 6),
            "by": "teardown"}).encode() + b"\n" for run in [*runs, *jobs])
        ended += len(runs) + len(jobs) + len(strays)
        try:
            with ExperimentLock(path):
                fd = os.open(os.path.join(path, JOURNAL_NAME), os.O_WRONLY | os.O_APPEND)
                try:
                    os.write(fd, lines)
                finally:
                    os.close(fd)
                _rewrite_manifest(path)
        except OSError as exc:  # ended all the same; the next experiments still get their turn
            out(f"ended them, but could not record it in {path}: {exc}")
    if from_index and not dry_run:
        _prune_index()
    return ended


def _prune_index() -> None:
    """Drop the experiments with nothing left running from the user's index (under its
    lock: a driver recording a detached start meanwhile must not be lost)."""
    path = user_index_path()
    try:
        with FileLock(path + ".lock"):
            records = _read_journal(path)
            busy = {exp_path: any(left_behind(exp_path))
                    for exp_path in {rec.get("exp_path") for rec in records} if isinstance(exp_path, str)}
            tmp = f"{path}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(rec) + "\n" for rec in records
                                 if busy.get(str(rec.get("exp_path")), False))
            os.replace(tmp, path)
    except OSError as exc:
        logger.warning(f"could not rewrite {path}: {exc}")


def _rewrite_manifest(exp_path: str) -> None:
    """The folded ``smartsim_manifest.json`` from the journal (experiment lock held)."""
    from .manifest import MANIFEST_NAME, _dumps  # pylint: disable=import-outside-toplevel

    fold = fold_journal(exp_path)
    target = os.path.join(exp_path, MANIFEST_NAME)
    tmp = f"{target}.{os.getpid()}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(_dumps(fold.document()).encode())
    os.replace(tmp, target)
