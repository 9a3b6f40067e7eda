"""The controller's database step: start orchestrators, wrap colocated models, and hand
every launched entity its database environment.

``Controller.start`` calls, for the orchestrators among its entities (before the models of
the same call are prepared):

* ``prepare_databases(reg, dbs, runs, env, launcher)``: checks (already running, identifier or port
  in use), where the shards run (a scheduler's nodes: ``launcher.on_host``) and their config
  files; returns the shard tasks, which the controller
  submits through its launcher like any other batch;
* ``await_databases(reg, launches, launcher, env)``: starts the executor sidecars through
  the same launcher and returns once every database answers (cluster formed).

``colocated_argv(reg, model, argv)`` is called from ``Controller._model_tasks`` for a model
with ``colocated_db_settings``: the wrapped command line that starts its database first.

The environment is added by ``DBRegistry.env_for``, registered as one of the controller's
``env_hooks`` the first time a database is started or a colocated model is launched:
``SSDB``/``SR_DB_TYPE`` (+ ``_<db_identifier>`` copies), ``SSKEYIN``/``SSKEYOUT`` and
``SSDB_PASSWORD`` for a password-protected database, as SmartSim 0.8's
``Controller._prep_entity_client_env`` sets them.
"""
from __future__ import annotations

import json
import functools
import os
import sys
import typing as t

from ...database.orchestrator import CLUSTERED, STANDALONE, Orchestrator, db_suffix
from ...entity.ensemble import EnsembleMember
from ...error import EntityRunningError, SmartSimError, SSDBIDConflictError, SSInternalError
from ..launcher.base import Task
from ..server import config as _config
from ..server import discovery as _discovery
from ..server import net as _net
from ..server import shards as _shards

if t.TYPE_CHECKING:
    from ...entity.model import Model
    from ..launcher.base import Launcher

WRAPPER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "server",
                       "colocated.py")


class DBRegistry:
    """The databases one controller started, and the environment they imply."""

    def __init__(self) -> None:
        self.dbs: t.List[Orchestrator] = []
        self._env_key: t.Optional[t.Tuple[t.Any, ...]] = None
        self._env: t.Dict[str, str] = {}

    def add(self, orc: Orchestrator) -> None:
        if orc not in self.dbs:
            self.dbs.append(orc)

    def active(self) -> t.List[Orchestrator]:
        return [orc for orc in self.dbs if orc._running()]  # pylint: disable=protected-access

    def db_env(self) -> t.Dict[str, str]:
        """``SSDB<suffix>``/``SR_DB_TYPE<suffix>`` (and password) of the running databases."""
        active = self.active()
        key = tuple((id(orc), getattr(_current(orc), "generation", 0)) for orc in active)
        if key != self._env_key:
            env: t.Dict[str, str] = {}
            for orc in active:
                suffix = db_suffix(orc.db_identifier)
                addresses = orc._get_address()  # pylint: disable=protected-access
                if not addresses:
                    continue
                env[f"SSDB{suffix}"] = ",".join(addresses[:128])
                env[f"SR_DB_TYPE{suffix}"] = CLUSTERED if len(addresses) > 1 else STANDALONE
                if orc.password:
                    env[f"SSDB_PASSWORD{suffix}"] = orc.password
            self._env, self._env_key = env, key
        return self._env

    def env_for(self, entity: t.Any) -> t.Dict[str, str]:
        env = dict(self.db_env())
        incoming = _incoming_names(entity)
        if incoming:
            env["SSKEYIN"] = ",".join(incoming)
        query = getattr(entity, "query_key_prefixing", None)
        if query is not None and query():
            env["SSKEYOUT"] = entity.name
        colo = _colocated_settings(entity)
        if colo:
            suffix = _colocated_suffix(colo)
            port, sock = colo.get("port"), colo.get("unix_socket")
            if sock and port:
                raise SSInternalError("Co-located was configured for both TCP/IP and UDS")
            if port:
                env[f"SSDB{suffix}"] = f"127.0.0.1:{port}"
            elif sock:
                env[f"SSDB{suffix}"] = f"unix://{sock}"
            else:
                raise SSInternalError("Colocated database was not configured for either TCP or UDS")
            env[f"SR_DB_TYPE{suffix}"] = STANDALONE
            password = _colocated_password(colo)
            if password:
                # the application's client needs it; the colocated wrapper reads it from here too
                env[f"SSDB_PASSWORD{suffix}"] = password
        return env


def _current(orc: Orchestrator) -> t.Optional["_shards.ShardLaunch"]:
    """The orchestrator's current start (None before the first)."""
    return orc._launch  # pylint: disable=protected-access


def _colocated_suffix(colo: t.Mapping[str, t.Any]) -> str:
    """Environment suffix of a colocated database: ``""`` without an identifier."""
    return "_" + colo["db_identifier"] if colo.get("db_identifier") else ""


def _colocated_password(colo: t.Mapping[str, t.Any]) -> t.Optional[str]:
    """The ``requirepass`` of a colocated database (given as a ``colocate_db_*`` kwarg)."""
    return (colo.get("extra_db_args") or {}).get("requirepass") or None


def _incoming_names(entity: t.Any) -> t.List[str]:
    if isinstance(entity, EnsembleMember):  # read through the table: no materialising
        incoming = entity.ensemble.member_table.incoming_entities(entity.position)
    else:
        incoming = getattr(entity, "incoming_entities", None) or []
    return [e.name for e in incoming]


def _colocated_settings(entity: t.Any) -> t.Optional[t.Dict[str, t.Any]]:
    if isinstance(entity, EnsembleMember):  # its own settings if it has them, else the shared
        table = entity.ensemble.member_table
        state = table.overrides.get(entity.position)
        rs = state.run_settings if state is not None else table.run_settings
    else:
        rs = getattr(entity, "run_settings", None)
    return getattr(rs, "colocated_db_settings", None) or None


# ------------------------------------------------------------------------------------------
# standalone / sharded


def prepare_databases(reg: DBRegistry, dbs: t.Sequence[Orchestrator], runs: t.Mapping[str, t.List[Task]],
                      env: t.List[bytes], launcher: "Launcher"
                      ) -> t.Tuple[t.List[Task], t.List["_shards.ShardLaunch"]]:
    """The shard tasks of ``dbs`` (owner and pool left to the controller), and each
    database's start, which now reports these tasks' addresses.

    Raises before anything is launched when a database is already running, its identifier
    is in use by another running database (``SSDBIDConflictError``), or a port is taken.
    ``runs``: the controller's run history (``name -> [Task, ...]``)."""
    running = {id(orc) for orc in reg.active()}
    ids: t.Dict[str, Orchestrator] = {orc.db_identifier: orc for orc in reg.active()}
    for orc in dbs:
        other = ids.get(orc.db_identifier)
        if other is not None and other is not orc:
            raise SSDBIDConflictError(
                f"Database identifier {orc.db_identifier} has already been used. Pass in a "
                "unique name for db_identifier")
        launch = _current(orc)
        if id(orc) in running or (launch is not None and any(task.live for task in launch.tasks)):
            raise EntityRunningError(
                f"Orchestrator {orc.name!r} is already running; stop it before starting it again")
        for node in orc.entities:
            history = runs.get(node.name)
            if history and history[-1].live:
                raise EntityRunningError(
                    f"Orchestrator {orc.name!r}: a database shard named {node.name} is still "
                    f"running (pid {history[-1].pid})")
        ids[orc.db_identifier] = orc
    seen_ports: t.Dict[int, str] = {}
    for orc in dbs:
        for node in orc.entities:
            if node.port in seen_ports:
                raise SmartSimError(f"databases {seen_ports[node.port]!r} and {orc.name!r} both use "
                                    f"port {node.port}")
            seen_ports[node.port] = orc.name
    launches: t.List["_shards.ShardLaunch"] = []
    try:
        for orc in dbs:
            allocation, hosts = None, None
            if orc.batch:
                # one batch job holds the database's nodes; its shards run in it as steps
                allocation, hosts = launcher.hold_allocation(orc.name, orc.path, orc.batch_settings,
                                                             _config.start_timeout())
            try:
                launch = _shards.prepare(orc, _placement(orc, launcher, hosts))
            except BaseException:
                if allocation is not None:
                    launcher.release_allocation(allocation)
                raise
            if allocation is not None:
                launch.allocation = allocation
                launch.release = functools.partial(launcher.release_allocation, allocation)
            launches.append(launch)
    except BaseException:
        for launch in launches:
            if launch.release is not None:
                launch.release()
        raise
    tasks: t.List[Task] = []
    for launch in launches:
        orc = launch.orc
        mine = []
        for i, (node, argv) in enumerate(launch.shards):
            if launch.hosts is not None:
                argv = launcher.on_host(argv, launch.hosts[i], node.name, launch.allocation)
            history = runs.get(node.name)
            base = os.path.join(orc.path, node.name)
            mine.append(Task(node.name, argv, orc.path, env, base + ".out", base + ".err", None,
                             len(history) if history else 0, "DBNode", None, is_db=True))
        launch.begin(mine)
        tasks.extend(mine)
    return tasks, launches


def _placement(orc: Orchestrator, launcher: "Launcher", hosts: t.Optional[t.List[str]] = None
               ) -> t.Optional[t.List[t.Tuple[str, str]]]:
    """``(host, address)`` per shard when ``launcher`` runs steps on other hosts: ``hosts``
    (a batch database's job), else those given with ``set_hosts``, else the allocation's, one
    shard per host in turn (shards that share a host, or hosts that share an address, differ
    by port: shard ``i`` has port+i)."""
    if not launcher.remote_steps:
        return None
    hosts = hosts or list(orc._user_hostlist) or launcher.allocation_hosts()  # pylint: disable=protected-access
    if not hosts:
        raise SmartSimError(
            f"database {orc.name!r}: the {launcher.name} launcher needs hosts to run its shards on: "
            "start the driver inside an allocation, give them with set_hosts, or use batch=True")
    chosen = [hosts[i % len(hosts)] for i in range(orc.num_shards)]
    unique = list(dict.fromkeys(chosen))
    addr_of = dict(zip(unique, launcher.host_addresses(unique)))
    return [(host, addr_of[host]) for host in chosen]


def await_databases(reg: DBRegistry, launches: t.Sequence["_shards.ShardLaunch"], launcher: "Launcher",
                    env: t.List[bytes]) -> None:
    """After the shards were submitted to ``launcher``: start the executor sidecars through
    it and return once every database answers. On failure (or Ctrl-C) every database of
    the call is stopped before the error propagates."""
    try:
        for launch in launches:
            # executors start with their shards (they retry until the server answers), so
            # their start-up overlaps the server's; wait_ready waits for both
            launch.start_sidecars(launcher, env)
        for launch in launches:
            launch.wait_ready(_config.start_timeout())
            reg.add(launch.orc)
    except BaseException:
        for launch in launches:
            launch.orc._stopped()  # pylint: disable=protected-access
        tasks = [task for launch in launches for task in launch.tasks]
        launcher.stop(tasks, 0.5)
        launcher.wait(tasks, 5.0)
        raise


# ------------------------------------------------------------------------------------------
# colocated


def colocated_argv(reg: DBRegistry, model: "Model", argv: t.List[str]) -> t.List[str]:
    """The command line of a model with a colocated database: the wrapper that starts the
    database, waits until it answers, runs ``argv`` and tears the database down."""
    settings = model.run_settings.colocated_db_settings
    assert settings
    colo_id = settings.get("db_identifier") or ""
    for orc in reg.active():
        if (db_suffix(orc.db_identifier)[1:] or "") == colo_id:
            raise SSDBIDConflictError(
                f"Database identifier {colo_id} has already been used. Pass in a unique name "
                "for db_identifier")
    what = f"colocated database of model {model.name!r}"
    server = _discovery.find_redis_server(settings.get("redis_server"))
    module = _discovery.find_ai_module()
    port = int(settings.get("port") or 0)
    sock = settings.get("unix_socket") or None
    extra = {str(k).replace("_", "-"): str(v) for k, v in (settings.get("extra_db_args") or {}).items()}
    # secrets never go on a command line (ps shows it): the password reaches the wrapper in
    # its environment (DBRegistry.env_for), the wrapper writes it to a 0600 config file
    password = _colocated_password(settings)
    extra.pop("requirepass", None)
    if sock:
        _net.check_unix_socket_free(what, sock)
        bind = [_net.LOOPBACK]
        tcp_port = int(extra["port"]) if extra.get("port", "").isdigit() else 0
    else:
        ifname = settings.get("ifname") or "lo"
        bind = _net.interface_addresses([_net.LOOPBACK] + ([ifname] if isinstance(ifname, str) else list(ifname)))
        tcp_port = port
    if tcp_port:
        _net.check_ports_free(what, [(host, tcp_port) for host in bind])
    path = os.fspath(model.path)
    rai = settings.get("rai_args") or {}
    cfg = _config.ShardConfig(
        name=f"{model.name}-db", directory=path, port=port, bind=bind, unix_socket=sock,
        socket_permissions=int(settings.get("socket_permissions") or 755), module=module,
        module_args=_config.module_args(rai.get("threads_per_queue"), rai.get("inter_op_parallelism"),
                                        rai.get("intra_op_parallelism")) if module else (),
        settings=extra, logfile=os.path.join(path, f"{model.name}-db.log"))
    # the wrapper writes a fresh executor secret here when it starts the database
    secret_file = (os.path.join(path, f"{model.name}-db.secret")
                   if module and _discovery.module_checks_executors(module) else None)
    executor = None
    if secret_file and _config.executor_wanted() and settings.get("executor", True):
        where = ["--socket", sock] if sock else ["--host", _net.LOOPBACK, "--port", str(port)]
        executor = _config.executor_argv(threads=rai.get("intra_op_parallelism")) + where + [
            "--parent-pid", "{redis_pid}", "--secret-file", secret_file]
    pin = settings.get("custom_pinning")
    from . import mlobjects  # pylint: disable=import-outside-toplevel

    # the model's ML objects (files, strings), loaded by the wrapper once its database
    # answers and before the application starts; the model's directory exists by now
    ml_objects = mlobjects.write_colocated_spec(model, path)
    spec = {
        "name": model.name,
        "server": server.path,
        "config": cfg._asdict(),
        "config_file": os.path.join(path, f"{model.name}-db.conf"),
        "secret_file": secret_file,
        "password_env": "SSDB_PASSWORD" + _colocated_suffix(settings) if password else None,
        "tcp": [[host, tcp_port] for host in bind] if tcp_port else [],
        "unix_socket": sock,
        "pin": [int(c) for c in str(pin).split(",") if c.strip()] if pin else None,
        "executor": executor,
        "log": cfg.logfile,
        "timeout": _config.start_timeout(),
        "executor_timeout": _config.executor_start_timeout(),
        "debug": bool(settings.get("debug")),
        "address": f"unix://{sock}" if sock else f"127.0.0.1:{port}",
        "ml_objects": ml_objects,
    }
    return [sys.executable, "-I", "-S", WRAPPER, json.dumps(spec, separators=(",", ":")), "--", *argv]
