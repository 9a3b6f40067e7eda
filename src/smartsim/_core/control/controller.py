"""The controller behind ``Experiment.start/stop/poll/finished/get_status/summary``.

It turns entities into launch tasks (validating everything first, so bad input never
leaves a half-launched ensemble), hands them to the experiment's launcher (looked up by name
in the registry of ``_core/launcher/base.py``; the controller never knows which one), keeps
each entity's run history (``name -> [Task, ...]``, the last one current), and records
every launch and ending in the experiment's manifest.

Concurrency: ensemble members go through a pool capped at ``max_concurrent`` (the
experiment's, default ``os.cpu_count()``, shared by all its starts), or through a private
pool when ``start(max_concurrent=k)`` is given (then every entity of that call, standalone
models included, is capped at ``k``). Standalone models started without an explicit cap
are never queued, so a SmartSim script that starts coupled models one by one with
``block=False`` keeps running them side by side.
"""
from __future__ import annotations

import os
import threading
import time
import typing as t

from ...database.orchestrator import Orchestrator
from ...entity.ensemble import Ensemble, EnsembleMember
from ...entity.entity import SmartSimEntity
from ...entity.model import Model, param_args
from ...error import (EntityExistsError, EntityNotLaunchedError, EntityRunningError,
                      ExecutableNotFoundError, NotExecutableError, SmartSimError, SSNoDatabaseError,
                      SSConfigError, SSUnsupportedError, UnknownEntityError)
from ...log import developer_logging, get_logger
from ...status import SmartSimStatus
from ..launcher.base import (DEFAULT_STOP_GRACE, TOKEN_VAR, BatchJob, Launcher, Pool, Task, add_exit_hook,
                             encode_env, install_sigint_handler, launcher_class)
from ..server import discovery as _discovery
from . import database as _db
from . import mlobjects as _ml
from . import report as _report
from .lifecycle import Lifecycle
from .manifest import ManifestWriter
from .progress import ProgressBar, progress_wanted

# what start() takes: Models, Ensembles and Orchestrators (not SmartSimEntity: Orchestrator is
# a group of database nodes, not one entity)
Launchable = t.Union[Model, Ensemble, Orchestrator]

if t.TYPE_CHECKING:
    from ...settings.base import RunSettings

logger = get_logger(__name__)

_NEVER = SmartSimStatus.STATUS_NEVER_STARTED
_COMPLETED = SmartSimStatus.STATUS_COMPLETED
_FAILED = SmartSimStatus.STATUS_FAILED
_CANCELLED = SmartSimStatus.STATUS_CANCELLED
_QUEUED = SmartSimStatus.STATUS_QUEUED
_RUNNING = SmartSimStatus.STATUS_RUNNING
_TERMINAL = frozenset((_COMPLETED, _FAILED, _CANCELLED))

SUMMARY_HEADERS = ["Name", "Entity-Type", "JobID", "RunID", "Time", "Status", "Returncode"]

EnvHook = t.Callable[[SmartSimEntity], t.Mapping[str, str]]


def resolve_max_concurrent(value: t.Any, what: str = "max_concurrent",
                           launcher: t.Optional[str] = None) -> int:
    """``None`` -> the default of ``launcher`` (its ``default_max_concurrent()``, where it has
    one: Slurm steps in an allocation run on its nodes, not here), else ``os.cpu_count()``;
    otherwise a positive int."""
    if value is None:
        if launcher is not None:
            try:
                default = getattr(launcher_class(launcher), "default_max_concurrent", None)
                cap = default() if default is not None else None
            except Exception:  # pylint: disable=broad-except  # (no launcher yet: start says so)
                cap = None
            if cap:
                return max(1, int(cap))
        return max(1, os.cpu_count() or 1)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be a positive int or None, got {value!r}")
    if value < 1:
        raise ValueError(f"{what} must be at least 1, got {value}")
    return value


def param_argv(name: str, params: t.Mapping[str, str], as_args: t.Sequence[str]) -> t.List[str]:
    """The argv items a member's ``params_as_args`` add after the executable arguments."""
    return [part for arg in param_args(name, params, as_args) for part in arg.split()]


def _names(items: t.Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _no_database_message(ops: t.Sequence["_ml.LoadOp"]) -> str:
    what = [f"{'ML model' if op.kind == 'model' else 'script'} {op.obj.name!r} (attached to "
            f"{', '.join(op.owners)})" for op in ops]
    return (f"{_names(what, 3)} must be loaded into a database before the application starts, and no "
            "database is running: start an Orchestrator first (exp.start(db), or in the same "
            "exp.start call), or colocate a database with the model (colocate_db_tcp / "
            "colocate_db_uds; in-memory models and functions need a standalone Orchestrator). "
            "Nothing was launched.")


class _Batch:
    """The tasks of one ``start`` call: counters for the progress bar, callbacks from the
    launcher (run in its thread, under its lock)."""

    __slots__ = ("ctrl", "total", "running", "done", "failed", "cancelled", "tasks")

    def __init__(self, ctrl: "Controller", tasks: t.List[Task]) -> None:
        self.ctrl = ctrl
        self.tasks = tasks
        self.total = len(tasks)
        self.running = 0
        self.done = 0
        self.failed = 0
        self.cancelled = 0

    @property
    def kill_on_interrupt(self) -> bool:
        return self.ctrl.kill_on_interrupt

    def _on_spawned(self, task: Task) -> None:
        # in the spawner thread, right after the fork: the journal line cannot be lost
        self.ctrl._record_launch(task)

    def _on_launch(self, task: Task) -> None:
        self.running += 1

    def _on_end(self, task: Task) -> None:
        if task.t_launch is not None and task.pid is not None:
            self.running -= 1
        self.done += 1
        if task.status is _FAILED:
            self.failed += 1
        elif task.status is _CANCELLED:
            self.cancelled += 1
        self.ctrl._record_end(task)

    def _flush(self) -> None:
        self.ctrl._manifest.flush()


class Controller:
    """Launch, monitor and stop the entities of one ``Experiment``."""

    def __init__(self, exp_name: str, exp_path: str, launcher: str = "local",
                 max_concurrent: t.Optional[int] = None) -> None:
        self.exp_name = exp_name
        self.exp_path = exp_path
        self.launcher_name = launcher
        self.max_concurrent = resolve_max_concurrent(max_concurrent, launcher=launcher)
        self.kill_on_interrupt = True
        self.stop_grace = DEFAULT_STOP_GRACE
        self.env_hooks: t.List[EnvHook] = []
        self._runs: t.Dict[str, t.List[Task]] = {}
        self._known: t.Set[str] = set()
        self._pool = Pool(self.max_concurrent)
        self._launcher: t.Optional[Launcher] = None
        self._live = 0  # queued or running non-database tasks (under the engine lock)
        self._idle = threading.Event()
        self._idle.set()
        session = f"{os.getpid()}-{time.time_ns()}"
        self._manifest = ManifestWriter(exp_name, exp_path, launcher, session)
        self._exit_hook_added = False
        self._db_registry: t.Optional[_db.DBRegistry] = None
        self._lifecycle = Lifecycle(self, _Batch)
        self._unreported: t.List[_Batch] = []  # batches whose outcome no blocking call has logged

    # -- bookkeeping ------------------------------------------------------------------
    @property
    def launcher(self) -> Launcher:
        """The launcher this experiment's tasks go to (this process's instance of it)."""
        launcher = self._launcher
        if launcher is None or launcher.owner_pid != os.getpid():
            launcher = self._launcher = launcher_class(self.launcher_name).instance()
        return launcher

    def set_max_concurrent(self, value: t.Optional[int]) -> None:
        self.max_concurrent = resolve_max_concurrent(value, launcher=self.launcher_name)
        self._pool.cap = self.max_concurrent  # takes effect as slots free up

    def register(self, *entities: t.Any) -> None:
        """Remember entities made or generated by the experiment (``get_status`` of one that
        never ran is ``NeverStarted``; of an entity the experiment never saw, an error)."""
        for entity in entities:
            if isinstance(entity, (list, tuple)):
                self.register(*entity)
            elif isinstance(entity, SmartSimEntity) or hasattr(entity, "name"):
                self._known.add(entity.name)

    def _record_launch(self, task: Task) -> None:
        self._manifest.event_now({
            "event": "launch", "time": task.t_launch, "name": task.name, "type": task.etype,
            "ensemble": task.ensemble, "run_id": task.run_id, "job_id": task.pid, "path": task.cwd,
            "command": task.argv, "env_vars": task.env_names, "out": task.out, "err": task.err,
            **(self._lifecycle.launch_fields(task) if task.detached else {})})

    def _record_end(self, task: Task) -> None:
        ev: t.Dict[str, t.Any] = {
            "event": "end", "time": task.t_end, "name": task.name, "run_id": task.run_id,
            "job_id": task.pid, "status": task.status.value, "returncode": task.returncode,
            "elapsed": round(task.elapsed, 6)}
        if task.t_launch is None or task.pid is None:
            ev.update(type=task.etype, ensemble=task.ensemble, path=task.cwd, command=task.argv)
        if task.error:
            ev["error"] = task.error
        self._manifest.event(ev, session=self._lifecycle.sessions.get(id(task)))
        if not task.is_db:
            self._live -= 1
            if self._live <= 0:
                self._live = 0
                self._idle.set()

    @property
    def manifest(self) -> ManifestWriter:
        """The writer of this experiment's manifest and journal."""
        return self._manifest

    def adopt(self, tasks: t.Sequence[Task], batch: "_Batch") -> None:
        """Make running ``tasks`` that another driver started this controller's (their run
        history, the live count ``poll`` waits on, the exit hook), before its launcher
        watches them."""
        self._ensure_exit_hook()
        self._track(tasks, batch)

    def set_history(self, name: str, tasks: t.List[Task]) -> None:
        """The recorded runs of ``name`` (oldest first), as another driver left them."""
        self._runs[name] = tasks

    def _ensure_exit_hook(self) -> None:
        if not self._exit_hook_added:
            self._exit_hook_added = True
            add_exit_hook(self._report_interrupt_at_exit)
            add_exit_hook(self._manifest.close)

    def _report_interrupt_at_exit(self) -> None:
        """A Ctrl-C outside a blocking start/poll: the launcher stopped (and marked) this
        experiment's jobs on behalf of the signal handler, where nothing may be logged; say
        what it stopped now, at exit (after the launchers' shutdown: they have ended)."""
        self._report_interrupted()

    def _report_interrupted(self) -> None:
        """One line naming what Ctrl-C stopped since the last such line (the tasks marked
        ``interrupted``), then clear the marks."""
        marked = [task for history in list(self._runs.values()) for task in history if task.interrupted]
        for task in marked:
            task.interrupted = False
        stopped = [task for task in marked if not task.is_db]
        if stopped:
            logger.warning(_report.interrupted(self.exp_name, stopped))

    @property
    def _databases(self) -> _db.DBRegistry:
        """The databases this controller started; made on first use, when it also starts
        handing launched entities their database environment."""
        reg = self._db_registry
        if reg is None:
            reg = self._db_registry = _db.DBRegistry()
            self.env_hooks.append(reg.env_for)
        return reg

    def add_database(self, orc: Orchestrator) -> None:
        """Count ``orc`` (running, started by another driver) among this controller's
        databases: launched entities get its environment, ``stop`` ends it."""
        self._databases.add(orc)

    def active_databases(self) -> t.List[Orchestrator]:
        """The databases this controller started that are running."""
        reg = self._db_registry
        return reg.active() if reg is not None else []

    # -- entity resolution ------------------------------------------------------------
    @staticmethod
    def _flatten(args: t.Sequence[t.Any]) -> t.List[Launchable]:
        out: t.List[Launchable] = []
        for arg in args:
            if isinstance(arg, (list, tuple)):
                out.extend(Controller._flatten(arg))
            elif isinstance(arg, (Model, Ensemble, Orchestrator)):
                out.append(arg)
            elif isinstance(arg, SmartSimEntity) or hasattr(arg, "entities"):
                raise SSUnsupportedError(
                    f"{type(arg).__name__} {getattr(arg, 'name', arg)!r} cannot be launched yet")
            else:
                raise TypeError(f"Argument was of type {type(arg).__name__}, not a Model or Ensemble: "
                                f"{arg!r}")
        return out

    def _is_known(self, entity: t.Union[SmartSimEntity, Launchable]) -> bool:
        if entity.name in self._known or entity.name in self._runs:
            return True
        if isinstance(entity, EnsembleMember):
            return entity.ensemble.name in self._known
        return False

    def _check_known(self, entity: t.Union[SmartSimEntity, Launchable]) -> None:
        if not self._is_known(entity):
            raise UnknownEntityError(
                f"{entity.type} {entity.name!r} is not part of experiment {self.exp_name!r}: it was "
                "neither created, generated nor launched by it")

    # -- launching --------------------------------------------------------------------
    def start(self, *args: t.Any, block: bool = True, kill_on_interrupt: bool = True,
              max_concurrent: t.Optional[int] = None, only_failed: bool = False,
              progress: t.Optional[bool] = None, detach: bool = False) -> None:
        if detach and block:
            raise ValueError("start(detach=True) needs block=False: detached entities outlive the "
                             "driver, a blocking start would wait for them")
        if detach and max_concurrent is not None:
            raise ValueError(f"start(detach=True) launches every member at once; max_concurrent="
                             f"{max_concurrent!r} cannot be kept by a driver that is gone (omit it)")
        launcher = self.launcher  # an unregistered launcher name fails here, before any work
        entities = self._flatten(args)
        if not entities:
            return
        seen: t.Set[str] = set()
        for entity in entities:
            if entity.name in seen:
                raise EntityExistsError(f"{entity.type} {entity.name!r} was passed to start twice")
            seen.add(entity.name)
        dbs = [entity for entity in entities if isinstance(entity, Orchestrator)]
        apps = [entity for entity in entities if not isinstance(entity, Orchestrator)]
        # the ML objects to store before these entities run (no I/O but reading files to
        # compare same-named objects); with nothing to store them in: refused before
        # anything, databases of this call included, is launched
        ml_ops = _ml.plan_loads(apps) if apps else []
        if ml_ops and not dbs and not self.active_databases():
            raise SSNoDatabaseError(_no_database_message(ml_ops))
        if ml_ops and _discovery.find_ai_module() is None:
            op = ml_ops[0]
            raise SSConfigError(f"{'ML model' if op.kind == 'model' else 'script'} {op.obj.name!r} "
                                f"(attached to {', '.join(op.owners)}) cannot be stored: "
                                f"{_discovery.missing_ai_module_message()}. Nothing was launched.")
        if dbs:
            self._start_databases(dbs, kill_on_interrupt, detach)
            if not apps:
                return
        cap_pool = Pool(resolve_max_concurrent(max_concurrent)) if max_concurrent is not None else None
        if detach:  # nothing may wait in this driver's queue: it may be gone before a slot frees up
            cap_pool = Pool(None)
        previous = self._manifest.previous_outcomes() if only_failed else {}
        env_base = _EnvBase(self._lifecycle.detach_token if detach else launcher.token)
        tasks: t.List[Task] = []
        jobs: t.List[BatchJob] = []
        skipped = 0
        checked: t.Set[str] = set()
        for entity in apps:
            if isinstance(entity, Ensemble):
                made, skip = self._ensemble_tasks(entity, env_base, cap_pool or self._pool, only_failed,
                                                  previous, checked)
            else:
                made, skip = self._model_tasks(entity, env_base, cap_pool, only_failed, previous, checked)
            batch_settings = getattr(entity, "batch_settings", None)
            if batch_settings and made:
                # one batch job per entity: a model, or every member of an ensemble as a step
                jobs.append(BatchJob(entity.name, os.fspath(entity.path), batch_settings, made))
            else:
                tasks.extend(made)
            skipped += skip
        if ml_ops and (tasks or jobs):
            # after every database answers (executors up), before any entity is launched
            self._load_ml_objects(ml_ops)
        # everything is valid and loaded: from here on nothing raises before the launch
        if only_failed and skipped:
            logger.info(f"only_failed: relaunching {len(tasks)} members, keeping {skipped} that "
                        "completed or are still running")
        batch = self._submit(tasks, [e.name for e in apps], kill_on_interrupt, {
            "skipped": skipped, "only_failed": bool(only_failed), "block": bool(block),
            "max_concurrent": None if detach else cap_pool.cap if cap_pool is not None else self.max_concurrent},
            jobs, detach)
        if block:
            self._block(batch, kill_on_interrupt, progress)

    def _submit(self, tasks: t.List[Task], names: t.List[str], kill_on_interrupt: bool,
                record: t.Dict[str, t.Any], jobs: t.Sequence[BatchJob] = (), detach: bool = False) -> _Batch:
        """Hand validated tasks to the launcher as one batch: ``tasks`` as steps, each of
        ``jobs`` as one batch job (``record``: the manifest's fields of this start;
        ``detach``: they outlive this driver)."""
        launcher = self.launcher
        job_tasks = [task for job in jobs for task in job.tasks]
        tasks = tasks + job_tasks
        self._known.update(names)
        self.kill_on_interrupt = kill_on_interrupt
        self._ensure_exit_hook()
        install_sigint_handler()
        self._manifest.event({"event": "start", "time": time.time(), "entities": names,
                              "members": len(tasks), **record}, flush=True)
        batch = _Batch(self, tasks)
        if tasks:
            # the user's commands, before detach wraps them in the supervisor
            _report.log_launches(logger, tasks, developer_logging(), self._manifest.manifest_path)
        if tasks and detach:
            self._lifecycle.detach(tasks, job_tasks, names)
        if tasks:
            if any(not task.is_db for task in tasks):
                self._unreported.append(batch)
            self._track(tasks, batch)
            steps = tasks[:len(tasks) - len(job_tasks)]
            if steps:
                launcher.submit(steps)
            for i, job in enumerate(jobs):
                try:
                    launcher.submit_batch(job)
                except BaseException:
                    # the jobs not submitted never ran: end their tasks so nothing waits on them
                    self._never_launched([task for other in jobs[i:] for task in other.tasks])
                    raise
        return batch

    def _track(self, tasks: t.Sequence[Task], batch: _Batch) -> None:
        """Make ``tasks`` (of one ``batch``) this controller's: their run history, the live
        count ``poll`` waits on. Before the launcher sees them (it calls their owner back)."""
        with self.launcher.cond:
            for task in tasks:
                task.owner = batch
                self._runs.setdefault(task.name, []).append(task)
            self._live += sum(1 for task in tasks if not task.is_db)
            if self._live:
                self._idle.clear()

    def _never_launched(self, tasks: t.List[Task]) -> None:
        with self.launcher.cond:
            for task in tasks:
                if task.owner is not None and task.status not in _TERMINAL:
                    task.status = _FAILED
                    task.error = "the batch job was not submitted"
                    task.t_end = time.time()
                    task.owner._on_end(task)
            self.launcher.cond.notify_all()

    def _start_databases(self, dbs: t.List[Orchestrator], kill_on_interrupt: bool, detach: bool) -> None:
        """Launch the shards of ``dbs`` as one batch and return once every database answers
        (cluster formed, executors registered)."""
        for orc in dbs:
            if orc.batch:
                self._check_batch_support("Orchestrator", orc.name)
        reg = self._databases
        env = _EnvBase(self._lifecycle.detach_token if detach else self.launcher.token).encoded()
        tasks, launches = _db.prepare_databases(reg, dbs, self._runs, env, self.launcher)
        t0 = time.perf_counter()
        self._submit(tasks, [orc.name for orc in dbs], kill_on_interrupt, {
            "skipped": 0, "only_failed": False, "block": False, "max_concurrent": None}, (), detach)
        try:
            _db.await_databases(reg, launches, self.launcher, env)
        except BaseException:
            self._manifest.checkpoint()
            raise
        for launch in launches:
            self._lifecycle.write_checkpoint(launch)
        logger.debug(f"databases {', '.join(orc.name for orc in dbs)} ready in "
                     f"{time.perf_counter() - t0:.3f} s")

    def _load_ml_objects(self, ops: t.List["_ml.LoadOp"]) -> None:
        """Store ``ops`` in every running database (all shards of a cluster), as SmartSim
        0.8 does, through a client of the controller's own (independent of the launcher:
        the driver reaches the databases' addresses on any of them)."""
        dbs = self.active_databases()
        if not dbs:  # stopped between the check in start and now
            raise SSNoDatabaseError(_no_database_message(ops))
        for orc in dbs:
            addresses = orc.get_address()
            t0 = time.perf_counter()
            try:
                _ml.load_into(ops, addresses, password=orc.password)
            except SmartSimError as exc:
                raise SmartSimError(f"Loading into database {orc.name!r}: {exc}. Nothing of this "
                                    "start was launched.") from exc
            logger.debug(f"{len(ops)} ML object(s) stored in database {orc.name!r} in "
                         f"{time.perf_counter() - t0:.3f} s")

    def _model_tasks(self, model: Model, env_base: "_EnvBase", pool: t.Optional[Pool],
                     only_failed: bool, previous: t.Dict[str, t.Dict[str, t.Any]],
                     checked: t.Set[str]) -> t.Tuple[t.List[Task], int]:
        if getattr(model, "batch_settings", None):
            self._check_batch_support("Model", model.name)
        rs = model.run_settings
        if rs is None:
            raise SmartSimError(f"Model {model.name!r} has no run settings to launch it with")
        if self._skip(model.name, only_failed, previous):
            return [], 1
        head, tail = self._argv_parts(rs, model.name, colocated_ok=True)
        self._check_exe(head, rs, "Model", model.name, checked)
        argv = head + tail
        path = os.fspath(model.path)
        self._make_dir(path, "Model", model.name)  # (a colocated model's ML objects go there)
        if getattr(rs, "colocated_db_settings", None):
            if not self.launcher.capabilities.colocated_db:
                raise SSUnsupportedError(f"Model {model.name!r} has a colocated database: the "
                                         f"{self.launcher_name} launcher cannot start one")
            # the database runs where the application runs: inside the step (after the run
            # command and its arguments) when the launcher's steps run on other hosts
            cut = 1 + len(rs.format_run_args()) if self.launcher.remote_steps and rs.run_command else 0
            argv = argv[:cut] + _db.colocated_argv(self._databases, model, argv[cut:])
        env = self._env(rs, env_base, model)
        task = self._new_task(model.name, argv, path, env, None)
        task.env_names = list(rs.env_vars) or None
        task.pool = pool
        return [task], 0

    def _check_batch_support(self, etype: str, name: str) -> None:
        if not self.launcher.capabilities.batch:
            raise SSUnsupportedError(f"{etype} {name!r} has batch settings: the {self.launcher_name} "
                                     "launcher does not support batch workloads")

    def _ensemble_tasks(self, ens: Ensemble, env_base: "_EnvBase", pool: Pool, only_failed: bool,
                        previous: t.Dict[str, t.Dict[str, t.Any]],
                        checked: t.Set[str]) -> t.Tuple[t.List[Task], int]:
        if ens.batch:
            self._check_batch_support("Ensemble", ens.name)
        if not len(ens):
            raise SmartSimError(f"Ensemble {ens.name!r} has no members to launch")
        tasks: t.List[Task] = []
        skipped = 0
        live = [n for n in self._live_names(ens)] if not only_failed else []
        if live:
            raise EntityRunningError(
                f"Ensemble {ens.name!r} is already running: members {_names(live)} are still "
                "queued or running (stop them, wait for them, or use only_failed=True)")
        table = ens.member_table
        n = table.n_expanded
        shared_rs = table.run_settings
        shared: t.Optional[t.Tuple[t.List[str], t.List[str], t.List[bytes]]] = None
        shared_names: t.Optional[t.List[str]] = None
        if n:
            if shared_rs is None:
                raise SmartSimError(f"Ensemble {ens.name!r} has no run settings to launch its members with")
            head, tail = self._argv_parts(shared_rs, table.name(0))
            self._check_exe(head, shared_rs, "Ensemble", ens.name, checked)
            shared = (head, tail, self._env(shared_rs, env_base, ens))
            shared_names = list(shared_rs.env_vars) or None
            try:
                os.makedirs(ens.path, exist_ok=True)
            except OSError as exc:
                raise SmartSimError(f"Could not create the directory {ens.path} of ensemble "
                                    f"{ens.name!r}: {exc}") from exc
        overrides = table.overrides
        as_args = table.params_as_args
        prefix = table.prefix
        for i in range(n):
            name = prefix + str(i)
            if only_failed and self._skip(name, only_failed, previous):
                skipped += 1
                continue
            state = overrides.get(i)
            if state is not None and state.run_settings is not None and state.run_settings is not shared_rs:
                rs = state.run_settings
                head_i, tail_i = self._argv_parts(rs, name)
                self._check_exe(head_i, rs, "Model", name, checked)
                argv = head_i + tail_i  # materialised settings already carry the param args
                env = self._env(rs, env_base, table.member(i))
                names = list(rs.env_vars) or None
            else:
                names = shared_names
                head, tail, env = shared  # type: ignore[misc]
                if self.env_hooks:  # per-member wiring (e.g. SSKEYOUT = the member's name)
                    env = self._env(shared_rs, env_base, table.member(i))  # type: ignore[arg-type]
                if as_args:
                    extra = param_argv(name, table.params(i), as_args)
                    argv = head + extra + tail
                else:
                    argv = head + tail
            path = table.path(i)  # created by the launcher if missing
            task = self._new_task(name, argv, path, env, ens.name)
            task.env_names = names
            task.pool = pool
            tasks.append(task)
        for model in list(table.added.values()):
            if self._skip(model.name, only_failed, previous):
                skipped += 1
                continue
            made, _ = self._model_tasks(model, env_base, pool, False, {}, checked)
            for task in made:
                task.ensemble = ens.name
            tasks.extend(made)
        return tasks, skipped

    def _live_names(self, ens: Ensemble) -> t.Iterator[str]:
        runs = self._runs
        for name in ens.member_names():
            history = runs.get(name)
            if history and history[-1].live:
                yield name

    def _skip(self, name: str, only_failed: bool, previous: t.Dict[str, t.Dict[str, t.Any]]) -> bool:
        """Whether ``name`` is left alone by this start (raises if it is running and
        ``only_failed`` is off)."""
        history = self._runs.get(name)
        if history:
            last = history[-1]
            if last.live:
                if only_failed:
                    return True
                raise EntityRunningError(
                    f"{last.etype} {name!r} is already {last.status.value.lower()} (job {last.pid}); "
                    "it cannot be started again until it ends or is stopped")
            return only_failed and last.status is _COMPLETED
        if only_failed:
            record = previous.get(name)
            if record is not None and record.get("status") == _COMPLETED.value:
                self._import_completed(name, record)
                return True
        return False

    def _import_completed(self, name: str, record: t.Dict[str, t.Any]) -> None:
        """A member completed by an earlier driver: show it as such (it is not rerun)."""
        task = Task(name, list(record.get("command") or []), record.get("path") or "", [],
                    record.get("out") or "", record.get("err") or "", None, 0,
                    etype=record.get("type") or "Model", ensemble=record.get("ensemble"))
        task.status = _COMPLETED
        task.returncode = record.get("returncode", 0)
        task.pid = record.get("job_id")
        task.t_launch = record.get("launched_at_epoch")
        task.t_end = record.get("ended_at_epoch")
        self._runs.setdefault(name, []).append(task)

    def _new_task(self, name: str, argv: t.List[str], path: str, env: t.List[bytes],
                  ensemble: t.Optional[str]) -> Task:
        history = self._runs.get(name)
        base = os.path.join(path, name)
        return Task(name, argv, path, env, base + ".out", base + ".err", None,
                    len(history) if history else 0, "Model", ensemble)

    @staticmethod
    def _argv_parts(rs: "RunSettings", name: str,
                    colocated_ok: bool = False) -> t.Tuple[t.List[str], t.List[str]]:
        """(run command + run args + exe + exe args, MPMD tail) for ``rs``."""
        if getattr(rs, "container", None):
            raise SSUnsupportedError(f"Model {name!r}: containers are not supported yet")
        if getattr(rs, "colocated_db_settings", None) and not colocated_ok:
            raise SSUnsupportedError(f"Model {name!r}: colocated databases are not supported for "
                                     "ensemble members yet (colocate standalone models)")
        head: t.List[str] = []
        run_command = rs.run_command
        if run_command:
            head.append(run_command)
            head.extend(rs.format_run_args())
        head.extend(rs.exe)
        head.extend(rs.exe_args)
        tail: t.List[str] = []
        for other in getattr(rs, "mpmd", None) or ():
            tail.append(":")
            tail.extend(other.format_run_args())
            tail.extend(other.exe)
            tail.extend(other.exe_args)
        return head, tail

    @staticmethod
    def _check_exe(argv: t.List[str], rs: "RunSettings", etype: str, name: str, checked: t.Set[str]) -> None:
        for path in (argv[0], rs.exe[0]):
            if path in checked:
                continue
            if not os.path.isabs(path):
                import shutil  # pylint: disable=import-outside-toplevel

                found = shutil.which(path)
                if found is None:
                    raise ExecutableNotFoundError(
                        f"{etype} {name!r}: executable {path!r} was not found on PATH")
                path = found
            if not os.path.exists(path):
                raise ExecutableNotFoundError(f"{etype} {name!r}: executable {path} does not exist")
            if os.path.isdir(path) or not os.access(path, os.X_OK):
                raise NotExecutableError(f"{etype} {name!r}: {path} is not an executable file")
            checked.add(path)

    @staticmethod
    def _make_dir(path: str, etype: str, name: str) -> None:
        try:
            os.mkdir(path)
        except FileExistsError:
            if not os.path.isdir(path):
                raise SmartSimError(f"{etype} {name!r}: its path {path} exists and is not a "
                                    "directory") from None
        except FileNotFoundError:
            try:
                os.makedirs(path, exist_ok=True)
            except OSError as exc:
                raise SmartSimError(f"{etype} {name!r}: could not create its directory {path}: "
                                    f"{exc}") from exc
        except OSError as exc:
            raise SmartSimError(f"{etype} {name!r}: could not create its directory {path}: {exc}") from exc

    def _env(self, rs: "RunSettings", env: "_EnvBase", entity: SmartSimEntity) -> t.List[bytes]:
        """The encoded environment of one launch: the driver's, then the run settings'
        ``env_vars`` (``None`` -> empty), then what the env hooks add (database wiring)."""
        env_vars = rs.env_vars
        if not env_vars and not self.env_hooks:
            return env.encoded()
        extra: t.Dict[str, str] = {}
        for key, value in (env_vars or {}).items():
            extra[str(key)] = "" if value is None else str(value)
        for hook in self.env_hooks:
            extra.update(hook(entity))
        return env.overlay(extra)

    # -- waiting ----------------------------------------------------------------------
    def _block(self, batch: _Batch, kill_on_interrupt: bool, progress: t.Optional[bool]) -> None:
        try:
            enabled = progress_wanted(progress) and batch.total > 1
            if enabled:
                with ProgressBar(f"{self.exp_name}", batch.total) as bar:
                    while not self._idle.wait(0.1):
                        bar.update(batch.done, batch.running, batch.failed,
                                   batch.total - batch.done - batch.running)
                    bar.update(batch.done, batch.running, batch.failed, 0)
            else:
                self._idle.wait()
        except KeyboardInterrupt:
            self._interrupted(kill_on_interrupt)
            raise
        self._manifest.checkpoint()
        self._report_outcome([batch])

    def _report_outcome(self, batches: t.Sequence[_Batch]) -> None:
        """Log how the non-database tasks of ``batches`` ended (once per batch)."""
        tasks = [task for batch in batches for task in batch.tasks if not task.is_db]
        self._unreported = [batch for batch in self._unreported if batch not in batches]
        if tasks:
            level, text = _report.outcome(tasks, self.exp_name)
            logger.log(level, text)

    def _interrupted(self, kill_on_interrupt: bool) -> None:
        # the SIGINT handler has already asked the launcher to stop (and mark) them; what it
        # has not reached yet is stopped here. Detached tasks are never stopped by Ctrl-C.
        self._unreported.clear()  # the Ctrl-C line is their report
        live = [task for task in self.live_tasks() if not task.detached]
        if not kill_on_interrupt:
            left = [task for task in live if not task.is_db]
            if left:
                logger.warning(_report.interrupted_left_running(self.exp_name, left))
            return
        for task in live:
            task.interrupted = True
        engine = self.launcher
        engine.stop(live, self.stop_grace)  # no-op for tasks the SIGINT handler already stopped
        try:
            engine.wait(live, self.stop_grace + 2.0)
        except KeyboardInterrupt:
            engine.stop(live, 0.0)
            engine.wait(live, 2.0)
        self._manifest.checkpoint(force=True)
        self._report_interrupted()

    def live_tasks(self) -> t.List[Task]:
        return [history[-1] for history in list(self._runs.values()) if history[-1].live]

    def poll(self, interval: float = 10, verbose: bool = True, kill_on_interrupt: bool = True) -> None:
        """Wait until every non-database job has ended, logging progress every ``interval`` s."""
        self.kill_on_interrupt = kill_on_interrupt
        try:
            while not self._idle.wait(interval if interval and interval > 0 else None):
                if verbose:
                    self._log_status()
        except KeyboardInterrupt:
            self._interrupted(kill_on_interrupt)
            raise
        self._manifest.checkpoint()
        self._report_outcome(list(self._unreported))

    def _log_status(self) -> None:
        live = self.live_tasks()
        if len(live) <= 20:
            for task in live:
                logger.info(f"{task.etype} {task.name} (job {task.pid}): {task.status.value}, "
                            f"{task.elapsed:.1f} s")
        else:
            running = sum(1 for task in live if task.status is _RUNNING)
            logger.info(f"{len(live)} jobs live: {running} running, {len(live) - running} queued")

    # -- queries ----------------------------------------------------------------------
    def _members(self, entity: t.Union[SmartSimEntity, Launchable]) -> t.Iterator[str]:
        if isinstance(entity, Ensemble):
            yield from entity.member_names()
        elif isinstance(entity, Orchestrator):
            yield from (node.name for node in entity.entities)
        else:
            yield entity.name

    def get_status(self, *args: t.Any) -> t.List[SmartSimStatus]:
        out: t.List[SmartSimStatus] = []
        runs = self._runs
        for entity in self._flatten(args):
            self._check_known(entity)
            for name in self._members(entity):
                history = runs.get(name)
                out.append(history[-1].status if history else _NEVER)
        return out

    def finished(self, entity: t.Any) -> bool:
        if isinstance(entity, (list, tuple)):
            return all(self.finished(e) for e in entity)
        if not isinstance(entity, (Model, Ensemble)):
            if isinstance(entity, SmartSimEntity) or hasattr(entity, "entities"):
                raise TypeError(f"finished() does not support {type(entity).__name__} instances")
            raise TypeError(f"Argument was of type {type(entity).__name__}, not a Model or Ensemble")
        done = True
        for name in self._members(entity):
            history = self._runs.get(name)
            if not history:
                what = (f"Member {name!r} of ensemble {entity.name!r}" if isinstance(entity, Ensemble)
                        else f"{entity.type} {name!r}")
                raise EntityNotLaunchedError(f"{what} has not been launched in experiment "
                                             f"{self.exp_name!r}")
            if history[-1].status not in _TERMINAL:
                done = False
        return done

    def stop(self, *args: t.Any) -> None:
        entities = self._flatten(args)
        to_stop: t.List[Task] = []
        for entity in entities:
            launched = False
            for name in self._members(entity):
                history = self._runs.get(name)
                if not history:
                    continue
                launched = True
                if history[-1].live:
                    to_stop.append(history[-1])
            if not launched:
                raise EntityNotLaunchedError(
                    f"Cannot stop {entity.type} {entity.name!r}: it was never started by experiment "
                    f"{self.exp_name!r}")
        for entity in entities:
            if isinstance(entity, Orchestrator):
                entity._stopped()  # pylint: disable=protected-access
        if not to_stop:
            return
        for task in to_stop:
            logger.debug(f"Stopping {task.etype} {task.name} (job {task.pid})")
        engine = self.launcher
        engine.stop(to_stop, self.stop_grace)
        if not engine.wait(to_stop, self.stop_grace + 5.0):
            left = [task.name for task in to_stop if task.live]
            logger.warning(f"{len(left)} jobs did not end after stop: {_names(left)}")
        self._manifest.checkpoint()
        # One line for what stop ended (as a blocking start or a poll reports); a batch with
        # nothing left running is reported here, not again by a later poll.
        stopped = [task for task in to_stop if not task.is_db]
        if stopped:
            level, text = _report.outcome(stopped, self.exp_name)
            logger.log(level, text)
            self._unreported = [batch for batch in self._unreported
                                if any(task.live for task in batch.tasks if not task.is_db)]

    def summary_rows(self) -> t.List[t.Dict[str, t.Any]]:
        """One dict per run with the summary columns (raw values: JobID str or None,
        RunID int, Time float seconds, Status SmartSimStatus, Returncode int or None)."""
        rows = []
        for name, history in list(self._runs.items()):
            for task in list(history):
                rows.append({
                    "Name": name, "Entity-Type": task.etype,
                    "JobID": None if task.pid is None else str(task.pid),
                    "RunID": task.run_id, "Time": task.elapsed, "Status": task.status,
                    "Returncode": task.returncode,
                })
        return rows

    def summary(self, style: str = "github") -> str:
        from tabulate import tabulate  # pylint: disable=import-outside-toplevel

        values = [[r["Name"], r["Entity-Type"], r["JobID"], r["RunID"], f"{r['Time']:.4f}", r["Status"],
                   r["Returncode"]] for r in self.summary_rows()]
        return tabulate(values, SUMMARY_HEADERS, showindex=True, tablefmt=style, missingval="None",
                        disable_numparse=True)

    def checkpoint(self) -> None:
        self._manifest.checkpoint(force=True)

    @property
    def manifest_path(self) -> str:
        return self._manifest.manifest_path


_ITEM_CACHE: t.Dict[t.Tuple[str, str], bytes] = {}  # encoded K=V items shared by many members


class _EnvBase:
    """The driver's environment at ``start`` (plus the launch token), encoded once."""

    __slots__ = ("base", "_encoded", "_position")

    def __init__(self, token: str) -> None:
        self.base = dict(os.environ)
        self.base[TOKEN_VAR] = token
        self._encoded: t.Optional[t.List[bytes]] = None
        self._position: t.Optional[t.Dict[str, int]] = None  # key -> its place in ``base``

    def encoded(self) -> t.List[bytes]:
        if self._encoded is None:
            self._encoded = encode_env(self.base)
        return self._encoded

    def overlay(self, extra: t.Mapping[str, str]) -> t.List[bytes]:
        """``encode_env({**base, **extra})`` without re-encoding the base for every member
        (same order: overridden keys keep their place, new ones are appended)."""
        base = self.encoded()
        if not extra:
            return base
        if self._position is None:
            self._position = {key: i for i, key in enumerate(self.base)}
        out = list(base)
        index = self._position
        cache = _ITEM_CACHE
        for key, value in extra.items():
            item = cache.get((key, value))
            if item is None:
                item = encode_env({key: value})[0]
                if len(cache) > 4096:
                    cache.clear()
                cache[(key, value)] = item
            pos = index.get(key)
            if pos is None:
                out.append(item)
            else:
                out[pos] = item
        return out
