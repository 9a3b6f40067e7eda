"""redis-server command lines for orchestrator shards and colocated databases.

Settings follow SmartSim 0.8.0's shipped configuration, adapted: protected mode stays on
unless a non-loopback address is bound, nothing is saved until checkpoints are enabled,
and every file a shard writes lives in its own directory (never the process's cwd, where a
stray ``dump.rdb`` would be loaded at start). The log goes to stdout (the shard's ``.out``
file) unless a log file is given. A password never appears on the command line: it is
written to a ``0600`` config file in the shard directory that redis-server reads first.
"""
from __future__ import annotations

import os
import typing as t

RDB_FILENAME = "dump.rdb"
AOF_FILENAME = "appendonly.aof"
CLUSTER_CONFIG = "nodes.conf"
SECRET_CONF = "auth.conf"

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
    def secret_path(self) -> str:
        return os.path.join(self.directory, SECRET_CONF)


def is_loopback(addr: str) -> bool:
    return addr.startswith("127.") or addr in ("::1", "localhost")


def protected_mode_for(bind: t.Sequence[str]) -> str:
    return "yes" if all(is_loopback(addr) for addr in bind) else "no"


def write_secret(cfg: ShardConfig) -> t.Optional[str]:
    """Write the password config file (mode 0600); its path, or None without a password."""
    if not cfg.password:
        return None
    if any(c in cfg.password for c in "\r\n\"\\"):
        raise ValueError("the database password must not contain quotes, backslashes or newlines")
    os.makedirs(cfg.directory, exist_ok=True)
    path = cfg.secret_path
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f'requirepass "{cfg.password}"\n')
        if cfg.cluster:
            handle.write(f'masterauth "{cfg.password}"\n')
    os.chmod(path, 0o600)
    return path


def command_line(server: str, cfg: ShardConfig, secret_file: t.Optional[str] = None) -> t.List[str]:
    """argv for one shard: settings as ``--name value`` pairs after the optional secret file."""
    args = [server]
    if secret_file:
        args.append(secret_file)
    args += ["--port", str(cfg.port)]
    if cfg.bind:
        args += ["--bind", *cfg.bind]
    args += ["--protected-mode", protected_mode_for(cfg.bind or ("0.0.0.0",)),
             "--dir", cfg.directory,
             "--dbfilename", cfg.dbfilename,
             "--appendfilename", AOF_FILENAME,
             "--logfile", cfg.logfile,
             "--daemonize", "no",
             # keep argv/environ intact: the launcher's watchdog finds members by a token in
             # /proc/<pid>/environ, which a rewritten process title would overwrite
             "--set-proc-title", "no",
             "--tcp-backlog", "4096",
             "--maxclients", "50000",
             "--save", ""]
    if cfg.checkpoint_frequency:
        args += ["--save", str(int(cfg.checkpoint_frequency)), "1"]
    if cfg.cluster:
        args += ["--cluster-enabled", "yes", "--cluster-config-file", cfg.cluster_config,
                 "--cluster-require-full-coverage", "yes", "--cluster-node-timeout", "5000"]
    if cfg.unix_socket:
        args += ["--unixsocket", cfg.unix_socket, "--unixsocketperm", str(cfg.socket_permissions)]
    for key, value in cfg.settings.items():
        # multi-word values ("save 900 1") are separate arguments on the command line
        args += [f"--{key}", *(str(value).split() or [""])]
    if cfg.module:
        args += ["--loadmodule", cfg.module, *cfg.module_args]
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
