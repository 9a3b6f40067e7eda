"""The launch seam: what every launcher implements, the registry that finds one by name,
and the launcher-neutral pieces (``Task``, ``Pool``, environment encoding, exit/Ctrl-C
clean-up) that the controller and every launcher share.

The controller (``_core/control``) turns entities into ``Task``s -- command, environment,
working directory, output files, owner -- and hands them to ONE ``Launcher``, found by name
in the registry (``Experiment(launcher=...)``; ``"auto"`` asks each registered launcher whether
its scheduler is here). A launcher only talks to its scheduler: it never sees a ``Model`` or an
``Ensemble``. It moves each task through ``Queued -> Running -> Completed/Failed/Cancelled``
(fields ``status``, ``returncode``, ``pid``/job id, ``t_launch``, ``t_end``), under its
``cond``, and calls the task owner's hooks (``Listener``) as that happens.

Adding a launcher (the h5py driver registry is the model)::

    class SlurmLauncher(Launcher):
        name = "slurm"
        capabilities = Capabilities(steps=True, batch=True, colocated_db=True)

        @classmethod
        def detect(cls): return bool(shutil.which("sbatch") and shutil.which("srun"))
        def submit(self, tasks, wait_launched=True): ...   # srun steps / sbatch jobs
        def poll(self, tasks): ...                          # one squeue/sacct for all of them
        def stop(self, tasks, grace=DEFAULT_STOP_GRACE): ...
        def wait(self, tasks, timeout=None): ...

    register_launcher(SlurmLauncher)
"""
from __future__ import annotations

import abc
import atexit
import collections
import importlib
import os
import signal
import socket
import sys
import threading
import time
import typing as t

from ...error import LauncherError, SSUnsupportedError
from ...log import get_logger
from ...status import SmartSimStatus

logger = get_logger(__name__)

# Every launched process carries this variable (value: the launcher's token), inherited by
# its descendants: the watchdog finds strays of a killed driver by it.
TOKEN_VAR = "_SMARTSIM_LAUNCH_TOKEN"
DEFAULT_STOP_GRACE = float(os.environ.get("SMARTSIM_STOP_GRACE", "2.0"))
# a job's own event log (its journal lines: launch, end) is <path>/<name><JOB_LOG_SUFFIX>
JOB_LOG_SUFFIX = ".events.jsonl"

_QUEUED = SmartSimStatus.STATUS_QUEUED
_RUNNING = SmartSimStatus.STATUS_RUNNING
_COMPLETED = SmartSimStatus.STATUS_COMPLETED
_FAILED = SmartSimStatus.STATUS_FAILED
_CANCELLED = SmartSimStatus.STATUS_CANCELLED
_NEW = SmartSimStatus.STATUS_NEW
TERMINAL = frozenset((_COMPLETED, _FAILED, _CANCELLED))


# ------------------------------------------------------------------------------------------
# what the controller hands a launcher


class Pool:
    """A concurrency cap: at most ``cap`` of its tasks alive at once (``None``: no cap)."""

    __slots__ = ("cap", "alive", "pending", "prepared", "preparing", "__weakref__")

    def __init__(self, cap: t.Optional[int]) -> None:
        self.cap = cap if cap is not None else sys.maxsize
        self.alive = 0
        self.pending: t.Deque["Task"] = collections.deque()
        # queued tasks whose directory and output files are already open (local launcher)
        self.prepared: t.Deque["Task"] = collections.deque()
        self.preparing = 0

    @property
    def lookahead(self) -> int:
        return min(64, max(8, 4 * self.cap))


class Task:
    """One run of one entity (a step, in scheduler words): what to execute and, once
    launched, how it went.

    The controller fills in the launch fields; the launcher owns the rest. ``pid`` is the
    process id for the local launcher and the job or step id for a scheduler.
    """

    __slots__ = (
        "name", "argv", "cwd", "env", "out", "err", "pool", "owner", "run_id", "etype", "ensemble",
        "is_db", "status", "returncode", "pid", "pidfd", "popen", "t_launch", "t_end", "stopping",
        "error", "env_names", "inflight", "kill_at", "fds", "detached", "adopted", "interrupted",
    )

    def __init__(self, name: str, argv: t.List[str], cwd: str, env: t.List[bytes], out: str, err: str,
                 owner: t.Any, run_id: int, etype: str = "Model", ensemble: t.Optional[str] = None,
                 is_db: bool = False) -> None:
        self.name = name
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.out = out
        self.err = err
        self.pool: t.Optional[Pool] = None
        self.owner = owner
        self.run_id = run_id
        self.etype = etype
        self.ensemble = ensemble
        self.is_db = is_db
        self.status = _NEW
        self.returncode: t.Optional[int] = None
        self.pid: t.Optional[t.Any] = None
        self.pidfd = -1
        self.popen: t.Any = None
        self.t_launch: t.Optional[float] = None
        self.t_end: t.Optional[float] = None
        self.stopping = False
        self.error: t.Optional[str] = None
        self.env_names: t.Optional[t.List[str]] = None
        self.inflight = False
        self.kill_at = 0.0
        self.fds: t.Optional[t.Tuple[int, int]] = None
        # detached: outlives the driver (no watchdog, no stop at exit or on Ctrl-C);
        # adopted: started by another driver, watched here through a pidfd (not our child)
        self.detached = False
        self.adopted = False
        # stopped because of Ctrl-C (set by whoever stops it for that reason; the controller
        # names these tasks in its Ctrl-C line and then clears the mark)
        self.interrupted = False

    @property
    def live(self) -> bool:
        return self.status is _QUEUED or self.status is _RUNNING

    @property
    def elapsed(self) -> float:
        if self.t_launch is None:
            return 0.0
        end = self.t_end if self.t_end is not None else time.time()
        return max(0.0, end - self.t_launch)

    def __repr__(self) -> str:
        return f"Task({self.name!r}, run {self.run_id}, {self.status.value}, pid={self.pid})"


class BatchJob:
    """Tasks that run inside one batch job: an entity with batch settings -- a model, or all
    members of an ensemble, each member a step of the one job. The launcher writes the
    script in its scheduler's syntax from ``batch_settings`` and the tasks' commands."""

    __slots__ = ("name", "cwd", "batch_settings", "tasks", "job_id")

    def __init__(self, name: str, cwd: str, batch_settings: t.Any, tasks: t.List[Task]) -> None:
        self.name = name
        self.cwd = cwd
        self.batch_settings = batch_settings
        self.tasks = tasks
        self.job_id: t.Optional[str] = None

    def __repr__(self) -> str:
        return f"BatchJob({self.name!r}, {len(self.tasks)} tasks, job {self.job_id})"


class Listener(t.Protocol):  # pragma: no cover - typing only
    """A task's ``owner``: told of its launch and end (launcher thread, under ``cond``)."""

    kill_on_interrupt: bool

    def _on_spawned(self, task: Task) -> None: ...  # right after the launch, no lock held
    def _on_launch(self, task: Task) -> None: ...
    def _on_end(self, task: Task) -> None: ...
    def _flush(self) -> None: ...


def encode_env(env: t.Mapping[str, str]) -> t.List[bytes]:
    """``K=V`` bytes, the form launchers pass to ``exec`` (built once per distinct environment)."""
    out = []
    for key, value in env.items():
        k = os.fsencode(key)
        if b"=" in k or not k:
            raise ValueError(f"illegal environment variable name {key!r}")
        out.append(k + b"=" + os.fsencode(value))
    return out


# ------------------------------------------------------------------------------------------
# the interface


class Capabilities(t.NamedTuple):
    """What a launcher can run."""

    steps: bool          # tasks started directly (local processes, or steps in an allocation)
    batch: bool          # entities with batch settings submitted as batch jobs
    colocated_db: bool   # a model's colocated database started with it


class Launcher(abc.ABC):
    """One workload manager. A process holds at most one instance per launcher class
    (``instance()``); every instance still alive is shut down at interpreter exit."""

    name: t.ClassVar[str]
    capabilities: t.ClassVar[Capabilities]
    #: steps may run on hosts other than the driver's: a database then binds the address of
    #: the host it runs on (``host_addresses``), and a shard's process id means nothing here
    remote_steps: t.ClassVar[bool] = False

    #: guards the status fields of every task this launcher runs
    cond: threading.Condition
    #: the value of ``TOKEN_VAR`` in every task's environment
    token: str

    @classmethod
    def detect(cls) -> bool:
        """For ``launcher="auto"``: whether this launcher's scheduler is usable here."""
        return False

    @classmethod
    def instance(cls) -> "Launcher":
        """This process's instance (made on first use; a forked child makes its own)."""
        with _INSTANCES_LOCK:
            launcher = _INSTANCES.get(cls)
            if launcher is None or launcher.owner_pid != os.getpid():
                launcher = _INSTANCES[cls] = cls()
            return launcher

    @property
    def owner_pid(self) -> int:
        """The process that made this instance."""
        return getattr(self, "_pid", os.getpid())

    @abc.abstractmethod
    def submit(self, tasks: t.Sequence[Task], wait_launched: bool = True) -> None:
        """Start many tasks in one call (each with its ``pool`` set); they start as their
        pools allow. With ``wait_launched``, return once the first wave is running."""

    def allocation_hosts(self) -> t.List[str]:
        """The hosts of the allocation this driver runs in ([]: only this machine)."""
        return []

    def host_addresses(self, hosts: t.Sequence[str]) -> t.List[str]:
        """The address to bind and connect to on each of ``hosts``."""
        try:
            return [socket.gethostbyname(host) for host in hosts]
        except OSError as exc:
            raise LauncherError(f"cannot resolve the hosts {', '.join(hosts)}: {exc}") from exc

    def on_host(self, argv: t.List[str], host: str, name: str,
                allocation: t.Optional[str] = None) -> t.List[str]:
        """The command that runs ``argv`` on ``host`` as a step called ``name`` (a database
        shard or its executor), inside the batch job ``allocation`` if given (see
        ``hold_allocation``). Local processes run here, as they are."""
        return list(argv)

    def hold_allocation(self, name: str, cwd: str, batch_settings: t.Any,
                        timeout: float) -> t.Tuple[str, t.List[str]]:
        """Submit a batch job that only holds its nodes, wait until it runs, and return its
        id and hosts: a batch database's shards then run in it as steps (``on_host``)."""
        raise SSUnsupportedError(f"the {self.name} launcher cannot run a database as a batch job")

    def release_allocation(self, allocation: str) -> None:
        """End a job made by ``hold_allocation`` (and every step still in it)."""

    def submit_batch(self, job: BatchJob) -> None:
        """Submit one batch job running ``job.tasks``; its tasks become Queued at once."""
        raise SSUnsupportedError(f"the {self.name} launcher does not support batch workloads")

    @classmethod
    def batch_script_text(cls, job: BatchJob, driver_env: t.AbstractSet[bytes]) -> t.Optional[str]:
        """The script ``submit_batch`` writes for ``job`` (``driver_env``: the driver's
        encoded environment), or None for a launcher without batch jobs. Needs no instance:
        ``Experiment.preview`` shows it without starting a launcher."""
        return None

    def poll(self, tasks: t.Sequence[Task]) -> None:
        """Bring the statuses of many tasks up to date with one scheduler query. Launchers
        that are told of every change as it happens (local processes) have nothing to do."""

    @abc.abstractmethod
    def stop(self, tasks: t.Sequence[Task], grace: float = DEFAULT_STOP_GRACE) -> None:
        """Cancel queued tasks and end running ones: gently now, by force after ``grace`` s."""

    @abc.abstractmethod
    def wait(self, tasks: t.Sequence[Task], timeout: t.Optional[float] = None) -> bool:
        """Block until every task is terminal; False on timeout."""

    def interrupt(self, grace: float = DEFAULT_STOP_GRACE) -> None:
        """Ctrl-C: stop every live task whose owner wants it (safe in a signal handler)."""

    def shutdown(self, grace: float = DEFAULT_STOP_GRACE) -> None:
        """Interpreter exit: end every live task and wait for them."""

    def close(self) -> None:
        """Release what the launcher holds once nothing is running (after ``shutdown``)."""


# ------------------------------------------------------------------------------------------
# the registry

_REGISTRY: t.Dict[str, t.Type[Launcher]] = {}
# The launchers this package ships: their module registers them when first needed, so that
# making an Experiment or Orchestrator imports no launcher machinery.
# (``auto`` asks them in this order: PBS before Cobalt, whose ``qsub`` it shares)
_BUILTIN: t.Dict[str, str] = {"local": "smartsim._core.launcher.local",
                               "slurm": "smartsim._core.launcher.slurm",
                               "lsf": "smartsim._core.launcher.lsf",
                               "pbs": "smartsim._core.launcher.pbs",
                               "pals": "smartsim._core.launcher.pbs",
                               "cobalt": "smartsim._core.launcher.cobalt"}
_INSTANCES: t.Dict[t.Type[Launcher], Launcher] = {}
_INSTANCES_LOCK = threading.Lock()

# Schedulers SmartSim names whose launcher is not registered yet: ``Experiment(launcher=...)``
# accepts them (settings can be made and previewed) and ``start`` says they are not built.
# Each has its detector here so that ``"auto"`` names the scheduler that is present.
# (lsf, pbs, pals and cobalt are launchers now: their detectors are their ``detect``)
_KNOWN_SCHEDULERS: t.Dict[str, t.Callable[[], bool]] = {}


def register_launcher(cls: t.Type[Launcher], name: t.Optional[str] = None) -> t.Type[Launcher]:
    """Make ``cls`` the launcher for ``name`` (default ``cls.name``); usable as a decorator."""
    key = (name or cls.name).lower()
    if key == "auto":
        raise ValueError("'auto' is not a launcher name: it means 'detect the launcher'")
    _REGISTRY[key] = cls
    return cls


def unregister_launcher(name: str) -> None:
    _REGISTRY.pop(name.lower(), None)


def registered_launchers() -> t.List[str]:
    return list(dict.fromkeys([*_BUILTIN, *_REGISTRY]))


def launcher_names() -> t.List[str]:
    """Every name ``Experiment(launcher=...)`` accepts."""
    return list(dict.fromkeys([*registered_launchers(), *_KNOWN_SCHEDULERS, "auto"]))


def check_launcher_name(name: t.Any) -> str:
    """``name`` lower-cased if ``Experiment`` accepts it, else ``SSUnsupportedError``."""
    if not isinstance(name, str) or name.lower() not in launcher_names():
        raise SSUnsupportedError(f"Launcher type not supported: {name!r}; expected one of "
                                 f"{', '.join(launcher_names())}")
    return name.lower()


def launcher_class(name: str) -> t.Type[Launcher]:
    """The launcher registered as ``name``."""
    cls = _REGISTRY.get(name.lower())
    if cls is None and name.lower() in _BUILTIN:
        importlib.import_module(_BUILTIN[name.lower()])
        cls = _REGISTRY.get(name.lower())
    if cls is None:
        if name.lower() in _KNOWN_SCHEDULERS:
            raise SSUnsupportedError(
                f"Launching with the {name!r} launcher is not implemented yet; use launcher='local' "
                f"(implemented: {', '.join(registered_launchers())})")
        raise SSUnsupportedError(f"No launcher is registered as {name!r}; registered: "
                                 f"{', '.join(registered_launchers())}")
    return cls


def detect_launcher() -> str:
    """The workload manager found here (the launchers this package ships and those registered,
    in that order, then the schedulers SmartSim names), else ``local``."""
    for name in registered_launchers():
        if name != "local" and launcher_class(name).detect():
            return name
    for name, present in _KNOWN_SCHEDULERS.items():
        if name not in _REGISTRY and present():
            return name
    return "local"


# ------------------------------------------------------------------------------------------
# interpreter exit and Ctrl-C: every launcher in this process ends what it started

_EXIT_HOOKS: t.List[t.Callable[[], None]] = []
_PREV_SIGINT: t.Any = None
_SIGINT_INSTALLED = False


def stops_on_interrupt(task: Task) -> bool:
    """Does Ctrl-C stop this task? Not when detached, nor when its owner started it with
    ``kill_on_interrupt=False``."""
    return not task.detached and getattr(task.owner, "kill_on_interrupt", True)


def _live_instances() -> t.List[Launcher]:
    pid = os.getpid()
    with _INSTANCES_LOCK:
        return [launcher for launcher in _INSTANCES.values() if launcher.owner_pid == pid]


def add_exit_hook(hook: t.Callable[[], None]) -> None:
    """Run ``hook`` at interpreter exit, after every live task has been ended."""
    _EXIT_HOOKS.append(hook)


def _at_exit() -> None:
    launchers = _live_instances()
    if not launchers:
        return
    try:
        for launcher in launchers:
            launcher.shutdown()
    finally:
        for hook in list(_EXIT_HOOKS):
            try:
                hook()
            except Exception:  # pragma: no cover
                logger.exception("error in a launcher exit hook")
        for launcher in launchers:
            launcher.close()


atexit.register(_at_exit)


def _after_fork_in_child() -> None:
    global _SIGINT_INSTALLED  # pylint: disable=global-statement
    _INSTANCES.clear()
    _EXIT_HOOKS.clear()
    _SIGINT_INSTALLED = False


os.register_at_fork(after_in_child=_after_fork_in_child)


def _sigint_handler(signum: int, frame: t.Any) -> None:
    for launcher in list(_INSTANCES.values()):  # no lock: a signal handler must not block
        if launcher.owner_pid == os.getpid():
            launcher.interrupt()
    prev = _PREV_SIGINT
    if callable(prev):
        prev(signum, frame)
    elif prev == signal.SIG_DFL:
        raise KeyboardInterrupt


def install_sigint_handler() -> None:
    """On Ctrl-C, stop the tasks of experiments started with ``kill_on_interrupt=True``,
    then behave as before (``KeyboardInterrupt`` by default). Main thread only."""
    global _PREV_SIGINT, _SIGINT_INSTALLED  # pylint: disable=global-statement
    if _SIGINT_INSTALLED or threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGINT)
    if current is _sigint_handler:
        _SIGINT_INSTALLED = True
        return
    if current == signal.SIG_IGN or current is None:
        return  # Ctrl-C is ignored in this process: leave it so
    _PREV_SIGINT = current
    signal.signal(signal.SIGINT, _sigint_handler)
    _SIGINT_INSTALLED = True
