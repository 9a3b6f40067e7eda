"""``Orchestrator``: a Redis database (one shard, or a Redis Cluster of 3+) with our
RedisAI-compatible module, started and stopped through ``Experiment.start``/``stop``.

An entity like ``Model``: what the database is (shards, ports, interfaces, password, module
settings) and what a user asks of it (``is_active``, ``get_address``, ``set_db_conf``).
Starting it is the controller's database step (``_core/control/database.py``), which hands
every shard to the experiment's launcher as a task; the run-time half -- config files,
readiness, the cluster, the executor sidecars -- is ``_core/server/shards.py``. Each shard is a
``redis-server`` listening on ``port + i`` of the requested interface, with its files in
``<path>/<shard>/`` and its log in ``<path>/<shard>.out``.
"""
from __future__ import annotations

import os
import typing as t

from .._core.server import config as _config
from .._core.server import discovery as _discovery
from .._core.server import miniresp
from .._core.server import net as _net
# re-exported: scripts and tests ask ``smartsim.database.orchestrator`` whether sidecars start
from .._core.server.config import executor_wanted
from .._core.utils.helpers import check_name
from ..error import (ParameterTypeError, SmartSimError, SSConfigError, SSUnsupportedError,
                     UnsupportedValueError)
from ..log import get_logger

if t.TYPE_CHECKING:
    from .._core.server.shards import ShardLaunch
    from ..settings.base import RunSettings

__all__ = ["CLUSTERED", "STANDALONE", "DBNode", "Orchestrator", "db_suffix", "executor_wanted"]

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


def db_suffix(db_identifier: str) -> str:
    """The environment suffix of a standalone database (SmartSim's ``unpack_db_identifier``):
    ``""`` for ``orchestrator``, else ``_<db_identifier>``."""
    return "" if db_identifier == "orchestrator" else "_" + db_identifier


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
        """``"DBNode"``: the entity type shown in summaries."""
        return "DBNode"

    @property
    def port(self) -> int:
        """The port this shard listens on."""
        return self.ports[0]

    @property
    def num_shards(self) -> int:
        """Shards run by this node's process: always 1 (one process per shard)."""
        return 1

    @property
    def is_mpmd(self) -> bool:
        """False: each shard is its own launch, never one MPMD step."""
        return False

    @property
    def hosts(self) -> t.List[str]:
        """The host this shard runs on (one element) once placed, else an empty list."""
        return [self.host] if self.host else []

    def set_hosts(self, hosts: t.List[str]) -> None:
        """Place this shard on the first of ``hosts`` (none: leave it unplaced)."""
        self.host = hosts[0] if hosts else None

    def clear_hosts(self) -> None:
        """Forget the host this shard was placed on."""
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


class Orchestrator:
    """An in-memory database for a SmartSim experiment (Redis + our RedisAI-compatible module).

    Usually made by ``Experiment.create_database(...)``. ``db_nodes`` is 1 (standalone) or at
    least 3 (a Redis Cluster on ports ``port, port+1, ...``). Extra keyword arguments:
    ``password`` (``requirepass``; handed to launched entities as ``SSDB_PASSWORD``),
    ``redis_server`` (the server binary to run, ahead of ``SMARTSIM_REDIS_SERVER``),
    ``executor`` (``False``: no executor sidecars; ``True`` given explicitly: a start
    without the RedisAI-compatible module is refused), other keys are accepted and ignored
    on the local launcher (SmartSim hands them to batch settings). A start without the
    module (removed by ``smart clean``; ``smart build`` compiles it) logs a warning.
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
        last_port = max(_net.database_ports(port, db_nodes, cluster))
        if port < 1 or last_port > 65535:
            extra = (f" (a cluster shard also uses port+{_net.CLUSTER_BUS_OFFSET} for its bus)"
                     if cluster else "")
            raise UnsupportedValueError(
                f"ports {port}..{port + db_nodes - 1} are not all valid TCP ports{extra}")
        # "auto" stays as given: the launcher of the experiment that starts the database runs
        # it (Experiment.create_database passes its own, already detected); an entity does not
        # look launchers up
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
        self.batch_settings: t.Any = None
        if batch:
            from ..settings.settings import create_batch_settings  # pylint: disable=import-outside-toplevel

            # the job that holds the shards' nodes: one node per shard, as SmartSim 0.8 asks
            self.batch_settings = create_batch_settings(launcher, nodes=db_nodes, time=time or "",
                                                        account=account or "",
                                                        batch_args=kwargs.pop("batch_args", None))
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
        # ``executor=True`` given explicitly: a start without the module is an error
        self._executor_required = bool(kwargs.get("executor", False))
        self._executor_enabled = bool(kwargs.pop("executor", True))
        # what the executor sidecars serve (their ``--device``): ``auto`` is the CPU and
        # every GPU of the shard's host; ``smart validate --device gpu`` sets ``"GPU:0"``
        self._executor_device = "auto"
        self._kwargs = kwargs
        self._account, self._time, self._alloc = account, time, alloc
        self._user_hostlist: t.List[str] = []
        self._cpus: t.Optional[int] = None
        self._db_conf: t.Dict[str, str] = {}
        # the current start (``_core/server/shards.ShardLaunch``), None until the first
        self._launch: t.Optional["ShardLaunch"] = None
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
        """``"Orchestrator"``: the entity type shown in summaries and the manifest."""
        return "Orchestrator"

    @property
    def db_identifier(self) -> str:
        """The database's identifier (its name): shards are ``<db_identifier>_<i>``, and
        entities find it through ``SSDB`` (``SSDB_<db_identifier>`` unless it is
        ``orchestrator``).
        """
        return self.name

    @property
    def num_shards(self) -> int:
        """The number of shards (Redis servers): 1, or 3 and more for a cluster."""
        return len(self.entities)

    @property
    def db_nodes(self) -> int:
        """The number of shards (SmartSim's name for :attr:`num_shards`)."""
        return self.num_shards

    @property
    def is_cluster(self) -> bool:
        """True when the shards form a Redis Cluster (3 shards or more)."""
        return self.num_shards >= 3

    @property
    def models(self) -> t.List[DBNode]:
        """The shards as :class:`DBNode` entities, in order."""
        return self.entities

    @property
    def password(self) -> t.Optional[str]:
        """The password clients must give (``password=`` keyword), or ``None`` when the
        database has none.
        """
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
        """Put the database's files (configs, logs, checkpoints) under ``path`` (made absolute)."""
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
        return launch is not None and launch.running()

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
        """Limit the database's batch job to ``walltime`` (``HH:MM:SS``); ``SmartSimError`` unless
        the database was created with ``batch=True``.
        """
        if not self.batch:
            raise SmartSimError("Not running as batch, cannot set walltime")
        self.batch_settings.set_walltime(walltime)

    def set_hosts(self, host_list: t.Union[t.List[str], str]) -> None:
        """Run the shards on the hosts in ``host_list`` (a host name or a list of str, one shard
        per host in order); ``TypeError`` for anything else.
        """
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
        """Set the batch directive ``arg`` (``None``: a flag without value) of the database's
        batch job; ``SmartSimError`` unless the database was created with ``batch=True``.
        """
        if not self.batch:
            raise SmartSimError("Not running as batch, cannot set batch_arg")
        self.batch_settings.batch_args[arg] = value

    def set_run_arg(self, arg: str, value: t.Optional[str] = None) -> None:
        """Set the run-command argument ``arg`` (``None``: a flag without value) of every
        shard's launch.
        """
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
        """Let each shard accept up to ``clients`` connections (Redis ``maxclients``)."""
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

    # -- the run-time half (``_core/server/shards.py``) ---------------------------------------
    def _shard_configs(self, addresses: t.Optional[t.Sequence[str]] = None) -> t.List[_config.ShardConfig]:
        """What each shard runs with: it binds ``addresses[i]`` (the address of the host a
        launcher places it on), else the addresses of this machine's interfaces, looked up now."""
        bind = _net.interface_addresses(self._interfaces) if addresses is None else []
        module = _discovery.find_ai_module()
        if module is None:
            missing = _discovery.missing_ai_module_message()
            if self._executor_required:
                raise SSConfigError(f"database {self.name!r} was created with executor=True, "
                                    f"but {missing}")
            _discovery.warn_missing_ai_module(logger)
        settings = dict(self._db_conf)
        module_args = _config.module_args(self.queue_threads, self.inter_threads, self.intra_threads)
        return [
            _config.ShardConfig(
                name=node.name, directory=os.path.join(self.path, node.name), port=node.port,
                bind=bind if addresses is None else [addresses[i]], cluster=self.is_cluster,
                password=self._password, module=module, module_args=module_args if module else (),
                settings=settings)
            for i, node in enumerate(self.entities)]

    def _locate_server(self) -> "_discovery.RedisServerBinary":
        """Look the redis-server binary up again (each start runs the one found then)."""
        self._server = _discovery.find_redis_server(self._explicit_server)
        return self._server

    def _attach(self, launch: "ShardLaunch") -> None:
        """``launch`` is this database's current start (``ShardLaunch.begin``)."""
        self._launch = launch

    def _stopped(self) -> None:
        """The database is being stopped (the controller, or a start that failed)."""
        launch = self._launch
        if launch is not None:
            launch.stop()
