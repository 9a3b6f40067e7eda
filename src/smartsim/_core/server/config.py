"""redis-server settings for orchestrator shards and colocated databases.

Settings follow SmartSim 0.8.0's shipped configuration, adapted: protected mode stays on
unless a non-loopback address is bound, nothing is saved until checkpoints are enabled,
and every file a shard writes lives in its own directory (never the process's cwd, where a
stray ``dump.rdb`` would be loaded at start). The log goes to stdout (the shard's ``.out``
file) unless a log file is given.

An orchestrator shard starts from ``<path>/<shard>/redis.conf`` (mode 0600, so a password
in it never shows in the process list); a colocated database from ``<model>-db.conf`` in
the model's directory, written by the colocated wrapper.

Executor secret: whoever starts a server writes a fresh random secret to a 0600 file
(``new_executor_secret``) and names that file in the module's load arguments
(``EXECUTOR_SECRET_FILE``); the executor reads the same file (``--secret-file``) and
presents the secret when it registers, so no other client can act as the executor (see
``aimodule/PROTOCOL.md``). The file, not the secret, is the argument because Redis 7 shows
module arguments to any client (``MODULE LIST``).

Also here: the start-up knobs read from the environment (``start_timeout``, ``executor_*``),
shared by the Orchestrator, its shard start (``shards``) and colocated databases. This
module imports nothing from the package: the colocated wrapper loads it on its own.
"""
from __future__ import annotations

import os
import secrets
import sys
import typing as t

RDB_FILENAME = "dump.rdb"
AOF_FILENAME = "appendonly.aof"
CLUSTER_CONFIG = "nodes.conf"
CONFIG_FILE = "redis.conf"
SECRET_FILE = "executor.secret"
# the module's load argument naming the secret file; also how we recognise a module build
# that checks executors (discovery.module_checks_executors)
SECRET_ARG = "EXECUTOR_SECRET_FILE"

# newest RDB format version each Redis release line reads
_RDB_VERSIONS = ((6, 0, 9), (7, 0, 10), (7, 2, 11), (7, 4, 12))


class ShardConfig(t.NamedTuple):
    name: str
    directory: str
    port: int
    bind: t.Sequence[str] = ("127.0.0.1",)
    cluster: bool = False
    unix_socket: t.Optional[str] = None
    socket_permissions: int = 755
    password: t.Optional[str] = None
    module: t.Optional[str] = None
    module_args: t.Sequence[str] = ()
    checkpoint_frequency: t.Optional[int] = None
    settings: t.Mapping[str, str] = {}
    logfile: str = ""  # "" = stdout

    @property
    def dbfilename(self) -> str:
        return RDB_FILENAME

    @property
    def rdb_path(self) -> str:
        return os.path.join(self.directory, RDB_FILENAME)

    @property
    def cluster_config(self) -> str:
        return CLUSTER_CONFIG

    @property
    def cluster_config_path(self) -> str:
        return os.path.join(self.directory, CLUSTER_CONFIG)

    @property
    def config_path(self) -> str:
        return os.path.join(self.directory, CONFIG_FILE)


def is_loopback(addr: str) -> bool:
    return addr.startswith("127.") or addr in ("::1", "localhost")


def protected_mode_for(bind: t.Sequence[str]) -> str:
    return "yes" if all(is_loopback(addr) for addr in bind) else "no"


def directives(cfg: ShardConfig) -> t.List[t.List[str]]:
    """The shard's settings as ``[name, arg, ...]`` directives, in order (later ones win)."""
    out: t.List[t.List[str]] = [["port", str(cfg.port)]]
    if cfg.bind:
        out.append(["bind", *cfg.bind])
    out += [["protected-mode", protected_mode_for(cfg.bind or ("0.0.0.0",))],
            ["dir", cfg.directory],
            ["dbfilename", cfg.dbfilename],
            ["appendfilename", AOF_FILENAME],
            ["logfile", cfg.logfile],
            ["daemonize", "no"],
            # keep argv/environ intact: the launcher's watchdog finds members by a token in
            # /proc/<pid>/environ, which a rewritten process title would overwrite
            ["set-proc-title", "no"],
            ["tcp-backlog", "4096"],
            ["maxclients", "50000"],
            ["save", ""]]
    if cfg.checkpoint_frequency:
        out.append(["save", str(int(cfg.checkpoint_frequency)), "1"])
    if cfg.cluster:
        out += [["cluster-enabled", "yes"], ["cluster-config-file", cfg.cluster_config],
                ["cluster-require-full-coverage", "yes"], ["cluster-node-timeout", "5000"]]
    if cfg.unix_socket:
        out += [["unixsocket", cfg.unix_socket], ["unixsocketperm", str(cfg.socket_permissions)]]
    for key, value in cfg.settings.items():
        # multi-word values ("save 900 1") are separate arguments
        out.append([key, *(str(value).split() or [""])])
    if cfg.password:
        out.append(["requirepass", cfg.password])
        if cfg.cluster:
            out.append(["masterauth", cfg.password])
    if cfg.module:
        out.append(["loadmodule", cfg.module, *cfg.module_args])
    return out


def _quote(arg: str) -> str:
    if arg and all(c.isprintable() and c not in ' "\\\'' for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _write_private(path: str, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 0600, also when the file
    existed with another mode)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)


def write_config(cfg: ShardConfig, path: t.Optional[str] = None) -> str:
    """Write the shard's ``redis.conf`` (mode 0600: it may hold the password) in its
    directory, or at ``path``; return its path."""
    path = path or os.path.join(cfg.directory, CONFIG_FILE)
    text = "# written by smartsim for database shard %s\n" % cfg.name
    text += "".join(" ".join(_quote(a) for a in line) + "\n" for line in directives(cfg))
    _write_private(path, text)
    return path


def new_executor_secret(path: str) -> t.List[str]:
    """Write a fresh executor secret to ``path`` (mode 0600) and return the module load
    arguments that make the module require it."""
    _write_private(path, secrets.token_hex(32) + "\n")
    return [SECRET_ARG, path]


def config_command_line(server: str, config_file: str) -> t.List[str]:
    """argv of a shard started from its config file."""
    return [server, config_file]


def command_line(server: str, cfg: ShardConfig) -> t.List[str]:
    """argv with every setting as ``--name value`` (no file; without a password only: it
    would show in the process list)."""
    if cfg.password:
        raise ValueError("a password-protected server is started from its config file")
    args = [server]
    for line in directives(cfg):
        args += ["--" + line[0], *line[1:]]
    return args


def rdb_version(path: str) -> t.Optional[int]:
    """The format version of an RDB file (``REDIS0010`` -> 10), None if absent or unreadable."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
    except OSError:
        return None
    if len(head) == 9 and head[:5] == b"REDIS" and head[5:].isdigit():
        return int(head[5:])
    return None


def max_rdb_version(server_version: t.Sequence[int]) -> int:
    """The newest RDB format a server of this version loads."""
    best = 9
    for major, minor, rdb in _RDB_VERSIONS:
        if tuple(server_version[:2]) >= (major, minor):
            best = rdb
    return best


def module_args(queue: t.Optional[int], inter: t.Optional[int], intra: t.Optional[int]) -> t.List[str]:
    """The module's load arguments for RedisAI's thread settings (unset ones left out)."""
    args: t.List[str] = []
    for name, value in (("THREADS_PER_QUEUE", queue), ("INTER_OP_PARALLELISM", inter),
                        ("INTRA_OP_PARALLELISM", intra)):
        if value:
            args += [name, str(int(value))]
    return args


# ------------------------------------------------------------------------------------------
# start-up knobs


def start_timeout() -> float:
    """Seconds a database may take to answer after launch (``SMARTSIM_DB_START_TIMEOUT``)."""
    try:
        return float(os.environ.get("SMARTSIM_DB_START_TIMEOUT", "120"))
    except ValueError:
        return 120.0


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


def executor_argv(device: str = "auto", threads: t.Optional[int] = None) -> t.List[str]:
    """Executor command line without its connection options. ``device``: what the executor
    serves (``auto``: the CPU and every GPU of its host; ``CPU``, ``GPU:0``, a comma-separated
    list); ``SMARTSIM_EXECUTOR_ARGS`` is appended, so an option given there still wins."""
    argv = [sys.executable, "-m", "smartsim._core.executor", "--device", device]
    if threads:
        argv += ["--threads", str(int(threads))]
    extra = os.environ.get("SMARTSIM_EXECUTOR_ARGS", "").split()
    return argv + extra
