"""The run-time half of an ``Orchestrator``: preparing a start (ports, checkpoints, config
files, executor secrets), readiness (every shard answers, a cluster is formed), and the
executor sidecars that are supervised while the shards run.

The controller's database step (``_core/control/database.py``) drives it::

    launch = prepare(orc)                # raises before anything is launched
    tasks = [Task(node.name, argv, ...) for node, argv in launch.shards]
    launch.begin(tasks)                  # the Orchestrator now reports these addresses
    ... the controller submits the tasks through its launcher ...
    launch.start_sidecars(launcher, env) # executors go through the same launcher
    launch.wait_ready(timeout)

Nothing here knows which launcher runs the shards: tasks go in, statuses are read from them,
and the sidecars are handed to the launcher the controller passes in.
"""
from __future__ import annotations

import itertools
import os
import re
import threading
import time
import typing as t

from ...error import SmartSimError, SSConfigError
from ...log import get_logger
from ...status import SmartSimStatus
from ..launcher.base import Task
from ..utils.helpers import tail_text
from . import config as _config
from . import discovery as _discovery
from . import miniresp
from . import net as _net

if t.TYPE_CHECKING:
    from ...database.orchestrator import DBNode, Orchestrator
    from ..launcher.base import Launcher

logger = get_logger(__name__)

_RUNNING = SmartSimStatus.STATUS_RUNNING
_QUEUED = SmartSimStatus.STATUS_QUEUED
# numbers the starts of all databases: a new number tells the environment of launched
# entities (SSDB) to be rebuilt
_GENERATIONS = itertools.count(1)


def prepare(orc: "Orchestrator", placement: t.Optional[t.Sequence[t.Tuple[str, str]]] = None) -> "ShardLaunch":
    """Validate and prepare a start of ``orc``: check the ports, the checkpoints and the
    shard directories; write the config files (password) and executor secrets. The result
    holds each shard's command line; nothing is launched yet.

    ``placement``: ``(host, address)`` per shard when a launcher runs the shards on other
    hosts (a scheduler's nodes); each shard then binds its host's address, and only the
    ports of addresses of this machine can be checked here."""
    what = f"database {orc.name!r}"
    server = orc._locate_server()  # pylint: disable=protected-access
    addresses = [addr for _, addr in placement] if placement is not None else None
    configs = orc._shard_configs(addresses)  # pylint: disable=protected-access
    local = set(_net.local_addresses()) if placement is not None else None
    endpoints: t.List[t.Tuple[str, int]] = []
    for cfg in configs:
        for host in cfg.bind:
            if local is not None and host not in local:
                continue
            endpoints += [(host, port) for port in _net.database_ports(cfg.port, 1, cfg.cluster)]
    _net.check_ports_free(what, endpoints)
    newest = _config.max_rdb_version(server.version)
    shards = []
    for node, cfg in zip(orc.entities, configs):
        try:
            os.makedirs(cfg.directory, exist_ok=True)
        except OSError as exc:
            raise SmartSimError(f"{what}: could not create {cfg.directory}: {exc}") from exc
        found = _config.rdb_version(cfg.rdb_path)
        if found is not None and found > newest:
            raise SSConfigError(
                f"{what}: the checkpoint {cfg.rdb_path} was written by a newer Redis (RDB "
                f"format {found}) than {server.path} (Redis {server.version_str}, reads up to "
                f"format {newest}); use a newer redis-server (SMARTSIM_REDIS_SERVER) or "
                "remove the file")
        if cfg.module and _discovery.module_checks_executors(cfg.module):
            # a fresh secret per start: only this shard's executor sidecar can register
            cfg = cfg._replace(module_args=[*cfg.module_args, *_config.new_executor_secret(
                os.path.join(cfg.directory, _config.SECRET_FILE))])
        conf = _config.write_config(cfg)
        argv = _config.config_command_line(server.path, conf)
        node.run_settings.exe_args = argv[1:]
        shards.append((node, argv))
    # clients connect to the first address a shard binds
    launch = ShardLaunch(orc, shards, [(cfg.bind[0], cfg.port) for cfg in configs])
    if placement is not None:
        launch.hosts = [host for host, _ in placement]
    return launch


class ShardLaunch:
    """One start of an orchestrator: its shard tasks, their addresses, its sidecars.

    The ``Orchestrator`` keeps the current one (``is_active``, ``get_address``, ``hosts``
    read it); the controller's database registry keys the environment on ``generation``.
    """

    def __init__(self, orc: "Orchestrator", shards: t.List[t.Tuple["DBNode", t.List[str]]],
                 endpoints: t.List[t.Tuple[str, int]]) -> None:
        self.orc = orc
        self.shards = shards
        self.generation = 0
        self.tasks: t.List[Task] = []
        self.endpoints = endpoints  # connect address per shard
        self.ready = False
        self.sidecars: t.List["_Sidecar"] = []
        self.stopped = False
        # the host each shard runs on, when a launcher places shards on other hosts (None:
        # this machine; then a shard's pid identifies the server answering at its port)
        self.hosts: t.Optional[t.List[str]] = None
        # a batch database: the job holding its nodes, and how to end it
        self.allocation: t.Optional[str] = None
        self.release: t.Optional[t.Callable[[], None]] = None

    def begin(self, tasks: t.List[Task]) -> None:
        """The shards' tasks are about to be submitted: from now on ``orc`` reports this
        start's addresses."""
        self.tasks = list(tasks)
        self.generation = next(_GENERATIONS)
        for (node, _), (host, _) in zip(self.shards, self.endpoints):
            node.host = host
        self.orc._attach(self)  # pylint: disable=protected-access

    def running(self) -> bool:
        """Every shard is running (and not being stopped), and the database was ready."""
        if not self.ready or self.stopped or not self.tasks:
            return False
        return all(task.status is _RUNNING and not task.stopping for task in self.tasks)

    def stop(self) -> None:
        """The database is being stopped: stop supervising (and end) its executors, and end
        the batch job that holds its nodes."""
        self.stopped = True
        for sidecar in self.sidecars:
            sidecar.stop()
        release, self.release = self.release, None
        if release is not None:
            release()

    # -- readiness -----------------------------------------------------------------------
    def wait_ready(self, timeout: t.Optional[float] = None) -> None:
        """Return when every shard answers PING (and a cluster is formed and ``ok``);
        ``SmartSimError`` with the shard's log when one exits or the time runs out."""
        orc = self.orc
        timeout = _config.start_timeout() if timeout is None else timeout
        deadline = time.monotonic() + timeout
        pending = list(range(len(self.tasks)))
        delay = 0.001
        why: t.Dict[int, str] = {}
        while pending:
            still = []
            for i in pending:
                dead = self._dead_shard(i)
                if dead:
                    raise SmartSimError(dead)
                host, port = self.endpoints[i]
                ok, why[i] = miniresp.probe(host, port, password=orc.password, timeout=1.0)
                if ok:
                    ok, why[i] = self._answered_by_shard(i)
                if not ok:
                    still.append(i)
            pending = still
            if not pending:
                break
            if time.monotonic() > deadline:
                names = ", ".join(f"{self.tasks[i].name} ({why.get(i)})" for i in pending)
                raise SmartSimError(f"database {orc.name!r} did not answer within {timeout:g} s: {names}")
            time.sleep(delay)
            delay = min(delay * 2, 0.02)
        if orc.is_cluster:
            from .cluster import create_cluster  # pylint: disable=import-outside-toplevel

            def alive() -> t.Optional[str]:
                for i in range(len(self.tasks)):
                    dead = self._dead_shard(i)
                    if dead:
                        return dead
                return None

            create_cluster(self.endpoints, orc.password, max(1.0, deadline - time.monotonic()),
                           orc.redis_server.version, alive)
        if self.sidecars:
            self._wait_executors()
        self.ready = True

    def _wait_executors(self) -> None:
        """Wait until every shard's executor has registered with the module, so a model run
        right after ``start`` finds one (a missing executor is a warning, not a failure:
        the database works without ML)."""
        timeout = _config.executor_start_timeout()
        deadline = time.monotonic() + timeout
        pending = list(range(len(self.endpoints)))
        delay = 0.005
        password = self.orc.password
        while pending:
            pending = [i for i in pending
                       if not miniresp.executor_registered(*self.endpoints[i], password=password)]
            if not pending:
                return
            if time.monotonic() > deadline:
                names = ", ".join(self.tasks[i].name for i in pending)
                logger.warning(f"database {self.orc.name!r}: the executor of {names} did not register "
                               f"within {timeout:g} s; ML models cannot run there until it does (see "
                               f"{os.path.join(self.orc.path, self.tasks[pending[0]].name)}-executor.err)")
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _answered_by_shard(self, i: int) -> t.Tuple[bool, str]:
        """Is the server answering at shard ``i``'s address the one we launched? A port can
        be taken between our check and the shard's bind (then the shard exits, and whoever
        took the port answers): that is reported at once, naming the port. ``(False, why)``
        while the shard's pid is not known yet."""
        task = self.tasks[i]
        host, port = self.endpoints[i]
        if task.pid is None:
            return False, "not launched yet"
        if self.hosts is not None:
            # the pid we hold is the step's launcher (srun), not the server on its node: only a
            # port found busy when the shard started (its log) tells that the port was taken
            return True, ""
        pid = miniresp.server_pid(host, port, password=self.orc.password)
        if pid is None:
            return False, "INFO server did not answer"
        if pid == task.pid or _descends_from(pid, task.pid):
            return True, ""
        raise SmartSimError(self._port_taken(i, port, f"redis-server (pid {pid})"))

    def _port_taken(self, i: int, port: int, holder: str = "") -> str:
        host = self.endpoints[i][0]
        holder = holder or _net.port_holder(port)
        by = f" by {holder}" if holder else ""
        return (f"database {self.orc.name!r}: port {port} on {host} was taken{by} after it was "
                f"checked free, so shard {self.tasks[i].name} could not listen there; choose "
                "another port or stop that process")

    def _dead_shard(self, i: int) -> t.Optional[str]:
        task = self.tasks[i]
        if task.status in (_RUNNING, _QUEUED):
            return None
        tail = tail_text(task.out, 1500).strip() or tail_text(task.err, 1500).strip()
        busy = _BIND_FAILED.search(tail)
        if busy:  # the port was free when prepare checked it
            return self._port_taken(i, int(busy.group(1) or busy.group(2)))
        rc = task.returncode
        how = task.error or (f"exited with code {rc}" if rc is not None else f"is {task.status.value}")
        msg = f"database shard {task.name} {how} before it was ready"
        if tail:
            msg += f"; its log ({task.out}) ends with:\n{tail}"
        return msg

    # -- executor sidecars -----------------------------------------------------------------
    def start_sidecars(self, launcher: "Launcher", env: t.List[bytes]) -> None:
        """Start an executor per shard through ``launcher`` (the one that runs the shards),
        when the module wants executors and an ML runtime is installed."""
        orc = self.orc
        module = _discovery.find_ai_module()
        if not (orc._executor_enabled and module  # pylint: disable=protected-access
                and _discovery.module_checks_executors(module)
                and _config.executor_wanted()):
            return
        if orc.password:
            env = env + [b"SMARTSIM_EXECUTOR_PASSWORD=" + os.fsencode(orc.password)]
        self.sidecars = [_Sidecar(self, i, launcher, env) for i in range(len(self.tasks))]
        for sidecar in self.sidecars:
            sidecar.start()


class _Sidecar:
    """Supervises the executor of one shard: launched by the shards' launcher (so the
    watchdog and exit handling cover it), restarted with back-off when it ends while its
    shard runs."""

    def __init__(self, launch: ShardLaunch, index: int, launcher: "Launcher", env: t.List[bytes]) -> None:
        self.launch = launch
        self.index = index
        self.launcher = launcher
        self.env = env
        self.task: t.Optional[Task] = None
        self.starts = 0
        self.quick_failures = 0
        self.kill_on_interrupt = True
        self.stopping = False

    @property
    def shard(self) -> Task:
        return self.launch.tasks[self.index]

    def _wanted(self) -> bool:
        shard = self.shard
        launch = self.launch
        return (not self.stopping and not launch.stopped
                and launch.orc._launch is launch  # pylint: disable=protected-access
                and shard.status is _RUNNING and not shard.stopping)

    def start(self) -> None:
        if not self._wanted():
            return
        shard = self.shard
        orc = self.launch.orc
        host, port = self.launch.endpoints[self.index]
        argv = _config.executor_argv(orc._executor_device,  # pylint: disable=protected-access
                                     threads=orc.intra_threads) + [
            "--host", host, "--port", str(port),
            "--secret-file", os.path.join(orc.path, shard.name, _config.SECRET_FILE)]
        placed = self.launch.hosts
        if placed is None:
            argv += ["--parent-pid", str(shard.pid)]
        else:  # next to its shard, on the shard's host
            argv = self.launcher.on_host(argv, placed[self.index], f"{shard.name}-executor",
                                         self.launch.allocation)
        base = os.path.join(orc.path, f"{shard.name}-executor")
        task = Task(f"{shard.name}-executor", argv, orc.path, self.env, base + ".out",
                    base + ".err", self, self.starts, "Executor", None, is_db=True)
        task.detached = shard.detached  # it lives as long as its shard does (--parent-pid)
        self.starts += 1
        self.task = task
        self.launcher.submit([task], wait_launched=False)

    def stop(self) -> None:
        self.stopping = True
        task = self.task
        if task is not None and task.live:
            self.launcher.stop([task], 1.0)

    # launcher callbacks (launcher threads): never block here
    def _on_spawned(self, task: Task) -> None:
        pass

    def _on_launch(self, task: Task) -> None:
        pass

    def _on_end(self, task: Task) -> None:
        if not self._wanted():
            return
        quick = task.elapsed < 2.0
        self.quick_failures = self.quick_failures + 1 if quick else 0
        delay = 0.1 if not quick else min(10.0, 0.25 * 2 ** min(self.quick_failures, 6))
        logger.warning(f"executor of {self.shard.name} ended (code {task.returncode}); restarting it "
                       f"in {delay:.2g} s")
        timer = threading.Timer(delay, self.start)
        timer.daemon = True
        timer.start()

    def _flush(self) -> None:
        pass


# redis-server's log when it cannot bind: 6.2/7.0 "Could not create server TCP listening
# socket 127.0.0.1:6379: bind: Address already in use", 7.x "Failed listening on port 6379"
_BIND_FAILED = re.compile(r"listening socket \S*:(\d+): bind: Address already in use|"
                          r"Failed listening on port (\d+)")


def _descends_from(pid: int, ancestor: int) -> bool:
    """Is ``pid`` a descendant of ``ancestor`` (a server started by a wrapper script)?"""
    try:
        import psutil  # pylint: disable=import-outside-toplevel

        return any(parent.pid == ancestor for parent in psutil.Process(pid).parents())
    except Exception:  # pylint: disable=broad-except  # gone, AccessDenied
        return False


