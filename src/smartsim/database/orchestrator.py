"""``Orchestrator``: a Redis database (one shard, or a Redis Cluster of 3+) with our
RedisAI-compatible module, started and stopped through ``Experiment.start``/``stop``.

Local launcher: every shard is a ``redis-server`` launched by the experiment's launcher
(own process group, reaped by the engine, ended by its watchdog if the driver dies),
listening on ``port + i`` of the requested interface, with its files in
``<path>/<shard>/`` and its log in ``<path>/<shard>.out``. A sharded database becomes a
Redis Cluster formed by the library (``CLUSTER ADDSLOTS`` + ``CLUSTER MEET``). An executor
sidecar per shard runs the ML work of the module and is restarted if it dies.
"""
from __future__ import annotations

import os
import re
import sys
import threading
import time
import typing as t

from .._core.server import config as _config
from .._core.server import discovery as _discovery
from .._core.server import miniresp
from .._core.server import net as _net
from .._core.launcher.base import detect_launcher
from .._core.utils.helpers import check_name
from ..error import (ParameterTypeError, SmartSimError, SSConfigError, SSUnsupportedError,
                     UnsupportedValueError)
from ..log import get_logger
from ..status import SmartSimStatus

if t.TYPE_CHECKING:
    from .._core.launcher.base import Task
    from ..settings.base import RunSettings

logger = get_logger(__name__)

CLUSTERED = "Clustered"
STANDALONE = "Standalone"

_RUN_COMMANDS = {
    "local": [""],
    "slurm": ["srun", "mpirun", "mpiexec"],
    "pbs": ["aprun", "mpirun", "mpiexec"],
    "pals": ["mpiexec"],
    "lsf": ["jsrun"],
    "sge": ["mpirun", "mpiexec", "orterun"],
    "cobalt": ["aprun", "mpirun"],
}


def start_timeout() -> float:
    """Seconds a database may take to answer after launch (``SMARTSIM_DB_START_TIMEOUT``)."""
    try:
        return float(os.environ.get("SMARTSIM_DB_START_TIMEOUT", "120"))
    except ValueError:
        return 120.0


def db_suffix(db_identifier: str) -> str:
    """The environment suffix of a standalone database (SmartSim's ``unpack_db_identifier``):
    ``""`` for ``orchestrator``, else ``_<db_identifier>``."""
    return "" if db_identifier == "orchestrator" else "_" + db_identifier


def executor_start_timeout() -> float:
    """Seconds to wait for executor sidecars to register (``SMARTSIM_EXECUTOR_START_TIMEOUT``)."""
    try:
        return float(os.environ.get("SMARTSIM_EXECUTOR_START_TIMEOUT", "60"))
    except ValueError:
        return 60.0


def executor_wanted() -> bool:
    """Start executor sidecars? (``SMARTSIM_EXECUTOR=0`` turns them off; they are also left
    out when the module is not built or no ML runtime is installed.)"""
    if os.environ.get("SMARTSIM_EXECUTOR", "1").strip().lower() in ("0", "no", "off", "false"):
        return False
    return _ml_runtime_present()


_ML_PRESENT: t.Optional[bool] = None


def _ml_runtime_present() -> bool:
    global _ML_PRESENT  # pylint: disable=global-statement
    if _ML_PRESENT is None:
        import importlib.util  # pylint: disable=import-outside-toplevel

        _ML_PRESENT = any(importlib.util.find_spec(m) is not None
                          for m in ("torch", "onnxruntime", "tensorflow"))
    return _ML_PRESENT


def executor_argv(device: str = "CPU", threads: t.Optional[int] = None) -> t.List[str]:
    """Executor command line without its connection options."""
    argv = [sys.executable, "-m", "smartsim._core.executor", "--device", device]
    if threads:
        argv += ["--threads", str(int(threads))]
    extra = os.environ.get("SMARTSIM_EXECUTOR_ARGS", "").split()
    return argv + extra


def _module_args(queue: t.Optional[int], inter: t.Optional[int], intra: t.Optional[int]) -> t.List[str]:
    args: t.List[str] = []
    for name, value in (("THREADS_PER_QUEUE", queue), ("INTER_OP_PARALLELISM", inter),
                        ("INTRA_OP_PARALLELISM", intra)):
        if value:
            args += [name, str(int(value))]
    return args


class DBNode:
    """One shard of an ``Orchestrator`` (``<db_identifier>_<i>``)."""

    def __init__(self, name: str, path: str, run_settings: "RunSettings", port: int,
                 db_identifier: str) -> None:
        self.name = name
        self.path = path
        self.run_settings = run_settings
        self.ports = [port]
        self.db_identifier = db_identifier
        self.host: t.Optional[str] = None

    @property
    def type(self) -> str:
        return "DBNode"

    @property
    def port(self) -> int:
        return self.ports[0]

    @property
    def num_shards(self) -> int:
        return 1

    @property
    def is_mpmd(self) -> bool:
        return False

    @property
    def hosts(self) -> t.List[str]:
        return [self.host] if self.host else []

    def set_hosts(self, hosts: t.List[str]) -> None:
        self.host = hosts[0] if hosts else None

    def clear_hosts(self) -> None:
        self.host = None

    def remove_stale_dbnode_files(self) -> None:
        """Remove this shard's cluster config and checkpoint (an earlier run's state)."""
        directory = os.path.join(self.path, self.name)
        for name in (_config.CLUSTER_CONFIG, _config.RDB_FILENAME, _config.AOF_FILENAME):
            try:
                os.remove(os.path.join(directory, name))
            except OSError:
                pass

    def __repr__(self) -> str:
        return self.name

    def __str__(self) -> str:
        return f"Name: {self.name}\nType: {self.type}\nPort: {self.port}"


class _Launch:
    """The state of one start of an orchestrator: shard tasks, addresses, sidecars."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.tasks: t.List["Task"] = []
        self.endpoints: t.List[t.Tuple[str, int]] = []  # connect address per shard
        self.ready = False
        self.sidecars: t.List["_Sidecar"] = []
        self.stopped = False


class Orchestrator:
    """An in-memory database for a SmartSim experiment (Redis + our RedisAI-compatible module).

    Usually made by ``Experiment.create_database(...)``. ``db_nodes`` is 1 (standalone) or at
    least 3 (a Redis Cluster on ports ``port, port+1, ...``). Extra keyword arguments:
    ``password`` (``requirepass``; handed to launched entities as ``SSDB_PASSWORD``),
    ``redis_server`` (the server binary to run, ahead of ``SMARTSIM_REDIS_SERVER``),
    ``executor`` (``False``: no executor sidecars), other keys are accepted and ignored on
    the local launcher (SmartSim hands them to batch settings).
    """

    def __init__(
        self,
        path: t.Optional[str] = None,
        port: int = 6379,
        interface: t.Union[str, t.List[str]] = "lo",
        launcher: str = "local",
        run_command: str = "auto",
        db_nodes: int = 1,
        batch: bool = False,
        hosts: t.Optional[t.Union[t.List[str], str]] = None,
        account: t.Optional[str] = None,
        time: t.Optional[str] = None,  # pylint: disable=redefined-outer-name
        alloc: t.Optional[str] = None,
        single_cmd: bool = False,
        *,
        threads_per_queue: t.Optional[int] = None,
        inter_op_threads: t.Optional[int] = None,
        intra_op_threads: t.Optional[int] = None,
        db_identifier: str = "orchestrator",
        **kwargs: t.Any,
    ) -> None:
        check_name(db_identifier, "db_identifier")
        if isinstance(port, bool) or not isinstance(port, int):
            raise ParameterTypeError(f"port must be an int, got {port!r}")
        if isinstance(db_nodes, bool) or not isinstance(db_nodes, int):
            try:
                if isinstance(db_nodes, bool) or float(db_nodes) != int(db_nodes):
                    raise ValueError
                db_nodes = int(db_nodes)
            except (TypeError, ValueError):
                raise ParameterTypeError(f"db_nodes must be an int, got {db_nodes!r}") from None
        if db_nodes == 2:
            raise SSUnsupportedError(
                "Orchestrator does not support clusters of size 2: a Redis Cluster needs at "
                "least 3 shards (use db_nodes=1 for a standalone database or db_nodes>=3)")
        if db_nodes < 1:
            raise UnsupportedValueError(f"db_nodes must be at least 1, got {db_nodes}")
        cluster = db_nodes >= 3
        last_port = port + db_nodes - 1 + (10000 if cluster else 0)
        if port < 1 or last_port > 65535:
            extra = " (a cluster shard also uses port+10000 for its bus)" if cluster else ""
            raise UnsupportedValueError(
                f"ports {port}..{port + db_nodes - 1} are not all valid TCP ports{extra}")
        if launcher == "auto":
            launcher = detect_launcher()
        self.launcher = launcher
        if run_command == "auto":
            run_command = "" if launcher == "local" else run_command
        allowed = _RUN_COMMANDS.get(launcher)
        if launcher == "local" and run_command not in allowed:  # type: ignore[operator]
            raise SmartSimError(
                f"Run command {run_command} is not supported on launcher {launcher}\n"
                f"Supported run commands for the given launcher are: {allowed}")
        if launcher == "local" and batch:
            raise SmartSimError("Local orchestrator can not be launched with batch=True")
        self.run_command = run_command
        self.name = db_identifier
        self.path = os.path.abspath(os.fspath(path)) if path is not None else os.getcwd()
        self.batch = batch
        self.batch_settings = None
        self.single_cmd = single_cmd
        self._interfaces = [interface] if isinstance(interface, str) else list(interface)
        if not self._interfaces or not all(isinstance(i, str) and i for i in self._interfaces):
            raise ParameterTypeError(f"interface must be a str or a list of str, got {interface!r}")
        self.queue_threads = threads_per_queue
        self.inter_threads = inter_op_threads
        self.intra_threads = intra_op_threads
        self._password: t.Optional[str] = kwargs.pop("password", None)
        if self._password is not None and (not isinstance(self._password, str) or not self._password):
            raise ParameterTypeError("password must be a non-empty str")
        self._explicit_server: t.Optional[str] = kwargs.pop("redis_server", None)
        self._executor_enabled = bool(kwargs.pop("executor", True))
        self._kwargs = kwargs
        self._account, self._time, self._alloc = account, time, alloc
        self._user_hostlist: t.List[str] = []
        self._cpus: t.Optional[int] = None
        self._db_conf: t.Dict[str, str] = {}
        self._lock = threading.Lock()
        self._launch: t.Optional[_Launch] = None
        self._generations = 0
        # detect the server now, as SmartSim does (SSConfigError when there is none)
        self._server = _discovery.find_redis_server(self._explicit_server)
        from ..settings.base import RunSettings  # pylint: disable=import-outside-toplevel

        self.ports = [port + i for i in range(db_nodes)]
        self.entities: t.List[DBNode] = [
            DBNode(f"{db_identifier}_{i}", self.path, RunSettings(self._server.path), port + i, db_identifier)
            for i in range(db_nodes)]
        if hosts:
            self.set_hosts(hosts)

    # -- identity ------------------------------------------------------------------------
    @property
    def type(self) -> str:
        return "Orchestrator"

    @property
    def db_identifier(self) -> str:
        return self.name

    @property
    def num_shards(self) -> int:
        return len(self.entities)

    @property
    def db_nodes(self) -> int:
        return self.num_shards

    @property
    def is_cluster(self) -> bool:
        return self.num_shards >= 3

    @property
    def models(self) -> t.List[DBNode]:
        return self.entities

    @property
    def password(self) -> t.Optional[str]:
        return self._password

    @property
    def redis_server(self) -> "_discovery.RedisServerBinary":
        """The redis-server binary this database runs (path, version, where it was found)."""
        return self._server

    @property
    def checkpoint_file(self) -> str:
        """``<path>/smartsim_db.dat`` (where SmartSim keeps what reconnecting needs)."""
        return os.path.join(self.path, "smartsim_db.dat")

    def set_path(self, path: str) -> None:
        self.path = os.path.abspath(os.fspath(path))
        for node in self.entities:
            node.path = self.path

    def __iter__(self) -> t.Iterator[DBNode]:
        return iter(self.entities)

    def __len__(self) -> int:
        return len(self.entities)

    def __str__(self) -> str:
        return (f"Name: {self.name}\nType: {self.type}\nShards: {self.num_shards}\n"
                f"Ports: {', '.join(map(str, self.ports))}\nInterface: {','.join(self._interfaces)}")

    def __repr__(self) -> str:
        return self.name

    # -- addresses and liveness ----------------------------------------------------------
    @property
    def hosts(self) -> t.List[str]:
        """Addresses of the hosts the shards run on (unique, in shard order) once launched;
        before that, the hosts given with ``set_hosts``."""
        launch = self._launch
        if launch is not None and launch.endpoints:
            out: t.List[str] = []
            for host, _ in launch.endpoints:
                if host not in out:
                    out.append(host)
            return out
        return list(self._user_hostlist)

    def _get_address(self) -> t.List[str]:
        launch = self._launch
        if launch is None:
            return []
        return [f"{host}:{port}" for host, port in launch.endpoints]

    def get_address(self) -> t.List[str]:
        """``["ip:port", ...]`` of every shard; ``SmartSimError`` if it is not running."""
        if self._launch is None or not self._launch.endpoints:
            raise SmartSimError("Could not find database address")
        if not self.is_active():
            raise SmartSimError("Database is not active")
        return self._get_address()

    def _running(self) -> bool:
        launch = self._launch
        if launch is None or not launch.ready or launch.stopped or not launch.tasks:
            return False
        running = SmartSimStatus.STATUS_RUNNING
        for task in launch.tasks:
            if task.status is not running or task.stopping:
                return False
        return True

    def is_active(self) -> bool:
        """True when this database's shards are running and every one answers ``PING``
        (another server that took a port after this database stopped does not count)."""
        launch = self._launch
        if launch is None or not launch.endpoints or not self._running():
            return False
        for host, port in launch.endpoints:
            ok, _ = miniresp.probe(host, port, password=self._password, timeout=2.0)
            if not ok:
                return False
        return True

    # -- settings ------------------------------------------------------------------------
    def set_cpus(self, num_cpus: int) -> None:
        """CPUs per shard (used by batch launchers; the local launcher does not limit shards)."""
        if isinstance(num_cpus, bool) or not isinstance(num_cpus, int) or num_cpus < 1:
            raise ParameterTypeError(f"num_cpus must be a positive int, got {num_cpus!r}")
        self._cpus = num_cpus

    def set_walltime(self, walltime: str) -> None:
        if not self.batch:
            raise SmartSimError("Not running as batch, cannot set walltime")

    def set_hosts(self, host_list: t.Union[t.List[str], str]) -> None:
        if isinstance(host_list, str):
            host_list = [host_list.strip()]
        if not isinstance(host_list, list):
            raise TypeError("host_list argument must be a list of strings")
        if not all(isinstance(host, str) for host in host_list):
            raise TypeError("host_list argument must be list of strings")
        self._user_hostlist = host_list.copy()

    def reset_hosts(self) -> None:
        """Forget launch hosts (back to those given with ``set_hosts``)."""
        for node in self.entities:
            node.clear_hosts()

    def remove_stale_files(self) -> None:
        """Remove the shards' cluster configs and checkpoints left by an earlier run."""
        for node in self.entities:
            node.remove_stale_dbnode_files()

    def set_batch_arg(self, arg: str, value: t.Optional[str] = None) -> None:
        raise SmartSimError("Not running as batch, cannot set batch_arg")

    def set_run_arg(self, arg: str, value: t.Optional[str] = None) -> None:
        for node in self.entities:
            node.run_settings.run_args[arg] = value

    def enable_checkpoints(self, frequency: int) -> None:
        """Save every ``frequency`` seconds when at least one key changed (``save "<f> 1"``);
        the database also saves when it is stopped, and a restart loads the checkpoint."""
        self.set_db_conf("save", f"{frequency} 1")

    def set_max_memory(self, mem: str) -> None:
        """``maxmemory`` (e.g. ``"3gb"``; ``0``: no limit)."""
        self.set_db_conf("maxmemory", mem)

    def set_eviction_strategy(self, strategy: str) -> None:
        """``maxmemory-policy`` (``volatile-lru``, ``allkeys-lru``, ...)."""
        self.set_db_conf("maxmemory-policy", strategy)

    def set_max_clients(self, clients: int = 50_000) -> None:
        self.set_db_conf("maxclients", str(clients))

    def set_max_message_size(self, size: int = 1_073_741_824) -> None:
        """``proto-max-bulk-len`` in bytes (at least 1 MiB)."""
        self.set_db_conf("proto-max-bulk-len", str(size))

    def set_db_conf(self, key: str, value: str) -> None:
        """``CONFIG SET key value`` on every shard of the running database. The setting is
        kept for later starts of this ``Orchestrator``.

        :raises TypeError: key or value is not a str
        :raises SmartSimError: the database is not active, or the server refused the pair
        """
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(
                "Incompatible function arguments. The key and value used for setting the "
                "database configurations must be strings.")
        launch = self._launch
        if launch is None or not self.is_active():
            raise SmartSimError(
                "The SmartSim Orchestrator must be active in order to set the database's "
                "configurations.")
        for host, port in launch.endpoints:
            try:
                with miniresp.connect(host, port, password=self._password, timeout=10.0) as conn:
                    reply = conn.call("CONFIG", "SET", key, value)
            except OSError as exc:
                raise SmartSimError(f"Could not set {key} on the database at {host}:{port}: {exc}") from None
            if isinstance(reply, miniresp.ReplyError):
                raise SmartSimError(f"Invalid CONFIG key-value pair ({key}: {value}): {reply}")
        self._db_conf[key] = value

    # -- launch (called by the controller) --------------------------------------------------
    def _shard_configs(self) -> t.List[_config.ShardConfig]:
        bind = _net.interface_addresses(self._interfaces)
        module = _discovery.find_ai_module()
        settings = dict(self._db_conf)
        module_args = _module_args(self.queue_threads, self.inter_threads, self.intra_threads)
        return [
            _config.ShardConfig(
                name=node.name, directory=os.path.join(self.path, node.name), port=node.port,
                bind=bind, cluster=self.is_cluster, password=self._password, module=module,
                module_args=module_args if module else (),
                settings=settings)
            for node in self.entities]

    def _prepare(self) -> t.List[t.Tuple[DBNode, t.List[str]]]:
        """Validate and prepare a start: check the ports, the checkpoints and the shard
        directories; write the config files (password) and executor secrets; return
        ``(node, argv)`` per shard."""
        what = f"database {self.name!r}"
        if self.launcher != "local":
            raise SSUnsupportedError(f"{what}: launching databases with the {self.launcher!r} "
                                     "launcher is not implemented yet; use launcher='local'")
        server = self._server = _discovery.find_redis_server(self._explicit_server)
        configs = self._shard_configs()
        endpoints: t.List[t.Tuple[str, int]] = []
        for cfg in configs:
            for host in cfg.bind:
                endpoints.append((host, cfg.port))
                if cfg.cluster:
                    endpoints.append((host, cfg.port + 10000))
        _net.check_ports_free(what, endpoints)
        newest = _config.max_rdb_version(server.version)
        out = []
        for node, cfg in zip(self.entities, configs):
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
            out.append((node, argv))
        return out

    def _begin(self, tasks: t.List["Task"]) -> _Launch:
        with self._lock:
            self._generations += 1
            launch = _Launch(self._generations)
            launch.tasks = list(tasks)
            bind = _net.interface_addresses(self._interfaces)
            launch.endpoints = [(bind[0], node.port) for node in self.entities]
            for node in self.entities:
                node.host = bind[0]
            self._launch = launch
        return launch

    def _wait_ready(self, launch: _Launch, timeout: t.Optional[float] = None) -> None:
        """Return when every shard answers PING (and a cluster is formed and ``ok``);
        ``SmartSimError`` with the shard's log when one exits or the time runs out."""
        timeout = start_timeout() if timeout is None else timeout
        deadline = time.monotonic() + timeout
        pending = list(range(len(launch.tasks)))
        delay = 0.001
        why: t.Dict[int, str] = {}
        while pending:
            still = []
            for i in pending:
                dead = self._dead_shard(launch, i)
                if dead:
                    raise SmartSimError(dead)
                host, port = launch.endpoints[i]
                ok, why[i] = miniresp.probe(host, port, password=self._password, timeout=1.0)
                if ok:
                    ok, why[i] = self._answered_by_shard(launch, i)
                if not ok:
                    still.append(i)
            pending = still
            if not pending:
                break
            if time.monotonic() > deadline:
                names = ", ".join(f"{launch.tasks[i].name} ({why.get(i)})" for i in pending)
                raise SmartSimError(f"database {self.name!r} did not answer within {timeout:g} s: {names}")
            time.sleep(delay)
            delay = min(delay * 2, 0.02)
        if self.is_cluster:
            from .._core.server.cluster import create_cluster  # pylint: disable=import-outside-toplevel

            def alive() -> t.Optional[str]:
                for i in range(len(launch.tasks)):
                    dead = self._dead_shard(launch, i)
                    if dead:
                        return dead
                return None

            create_cluster(launch.endpoints, self._password, max(1.0, deadline - time.monotonic()),
                           self._server.version, alive)
        if launch.sidecars:
            self._wait_executors(launch)
        launch.ready = True

    def _wait_executors(self, launch: _Launch) -> None:
        """Wait until every shard's executor has registered with the module, so a model run
        right after ``start`` finds one (a missing executor is a warning, not a failure:
        the database works without ML)."""
        timeout = executor_start_timeout()
        deadline = time.monotonic() + timeout
        pending = list(range(len(launch.endpoints)))
        delay = 0.005
        while pending:
            pending = [i for i in pending
                       if not miniresp.executor_registered(*launch.endpoints[i], password=self._password)]
            if not pending:
                return
            if time.monotonic() > deadline:
                names = ", ".join(launch.tasks[i].name for i in pending)
                logger.warning(f"database {self.name!r}: the executor of {names} did not register within "
                               f"{timeout:g} s; ML models cannot run there until it does (see "
                               f"{os.path.join(self.path, launch.tasks[pending[0]].name)}-executor.err)")
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _answered_by_shard(self, launch: _Launch, i: int) -> t.Tuple[bool, str]:
        """Is the server answering at shard ``i``'s address the one we launched? A port can
        be taken between our check and the shard's bind (then the shard exits, and whoever
        took the port answers): that is reported at once, naming the port. ``(False, why)``
        while the shard's pid is not known yet."""
        task = launch.tasks[i]
        host, port = launch.endpoints[i]
        if task.pid is None:
            return False, "not launched yet"
        pid = miniresp.server_pid(host, port, password=self._password)
        if pid is None:
            return False, "INFO server did not answer"
        if pid == task.pid or _descends_from(pid, task.pid):
            return True, ""
        raise SmartSimError(self._port_taken(launch, i, port, f"redis-server (pid {pid})"))

    def _port_taken(self, launch: _Launch, i: int, port: int, holder: str = "") -> str:
        host = launch.endpoints[i][0]
        holder = holder or _net.port_holder(port)
        by = f" by {holder}" if holder else ""
        return (f"database {self.name!r}: port {port} on {host} was taken{by} after it was checked "
                f"free, so shard {launch.tasks[i].name} could not listen there; choose another "
                "port or stop that process")

    def _dead_shard(self, launch: _Launch, i: int) -> t.Optional[str]:
        task = launch.tasks[i]
        if task.status in (SmartSimStatus.STATUS_RUNNING, SmartSimStatus.STATUS_QUEUED):
            return None
        tail = _tail(task.out) or _tail(task.err)
        busy = _BIND_FAILED.search(tail)
        if busy:  # the port was free when _prepare checked it
            return self._port_taken(launch, i, int(busy.group(1) or busy.group(2)))
        rc = task.returncode
        how = task.error or (f"exited with code {rc}" if rc is not None else f"is {task.status.value}")
        msg = f"database shard {task.name} {how} before it was ready"
        if tail:
            msg += f"; its log ({task.out}) ends with:\n{tail}"
        return msg

    def _start_sidecars(self, launch: _Launch, env: t.List[bytes]) -> None:
        module = _discovery.find_ai_module()
        if not (self._executor_enabled and module and _discovery.module_checks_executors(module)
                and executor_wanted()):
            return
        if self._password:
            env = env + [b"SMARTSIM_EXECUTOR_PASSWORD=" + os.fsencode(self._password)]
        launch.sidecars = [_Sidecar(self, launch, i, env) for i in range(len(launch.tasks))]
        for sidecar in launch.sidecars:
            sidecar.start()

    def _stopped(self) -> None:
        launch = self._launch
        if launch is not None:
            launch.stopped = True
            for sidecar in launch.sidecars:
                sidecar.stop()


class _Sidecar:
    """Supervises the executor of one shard: launched by the engine (so the watchdog and
    exit handling cover it), restarted with back-off when it ends while its shard runs."""

    def __init__(self, orc: Orchestrator, launch: _Launch, index: int, env: t.List[bytes]) -> None:
        self.orc = orc
        self.launch = launch
        self.index = index
        self.env = env
        self.task: t.Optional["Task"] = None
        self.starts = 0
        self.quick_failures = 0
        self.kill_on_interrupt = True
        self.stopping = False

    @property
    def shard(self) -> "Task":
        return self.launch.tasks[self.index]

    def _wanted(self) -> bool:
        shard = self.shard
        return (not self.stopping and not self.launch.stopped and self.orc._launch is self.launch
                and shard.status is SmartSimStatus.STATUS_RUNNING and not shard.stopping)

    def start(self) -> None:
        from .._core.launcher.local import Task, get_launcher  # pylint: disable=import-outside-toplevel

        if not self._wanted():
            return
        shard = self.shard
        host, port = self.launch.endpoints[self.index]
        argv = executor_argv(threads=self.orc.intra_threads) + [
            "--host", host, "--port", str(port), "--parent-pid", str(shard.pid),
            "--secret-file", os.path.join(self.orc.path, shard.name, _config.SECRET_FILE)]
        base = os.path.join(self.orc.path, f"{shard.name}-executor")
        task = Task(f"{shard.name}-executor", argv, self.orc.path, self.env, base + ".out",
                    base + ".err", self, self.starts, "Executor", None, is_db=True)
        self.starts += 1
        self.task = task
        get_launcher().submit([task], wait_launched=False)

    def stop(self) -> None:
        from .._core.launcher.local import get_launcher  # pylint: disable=import-outside-toplevel

        self.stopping = True
        task = self.task
        if task is not None and task.live:
            get_launcher().stop([task], 1.0)

    # launcher callbacks (engine/spawner threads): never block here
    def _on_spawned(self, task: "Task") -> None:
        pass

    def _on_launch(self, task: "Task") -> None:
        pass

    def _on_end(self, task: "Task") -> None:
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


def _tail(path: str, n: int = 1500) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - n))
            return handle.read().decode(errors="replace").strip()
    except OSError:
        return ""
