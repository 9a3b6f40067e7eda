"""Server, executor and database handles of the test base (as asyncpg's ``cluster.py``).

* :class:`RedisServer` -- one real ``redis-server`` child process, with our module loaded
  (and a per-server executor secret) or plain; TCP on loopback, optionally a Unix socket.
* :class:`Executor` -- one ``python -m smartsim._core.executor`` attached to a server.
* :class:`Database` -- what a test talks to: a standalone server or a Redis Cluster, started
  here (servers, slots, executors) or running already (``SMARTSIM_TEST_DB``).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import redis

from . import (WRAPPER_ENV, executor_env, free_port, new_secret, redis_server, short_tempdir,
               write_secret)

LOOPBACK = "127.0.0.1"
_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux


class RedisServer:
    """A redis-server child process, stopped with SIGTERM (then SIGKILL).

    ``module``: loaded with ``--loadmodule`` (None: a plain server). Our module gets an
    executor secret (``EXECUTOR_SECRET_FILE``, PROTOCOL.md): ``secret``/``secret_file`` are
    what this server's executors present; ``secret=False`` loads it without one.
    ``unixsocket``: also listen on ``sock`` (kept short: in ``workdir`` or under /tmp).
    A stopped server starts again on the same port and socket."""

    def __init__(self, binary: t.Optional[str], module: t.Optional[t.Union[str, Path]],
                 workdir: t.Union[str, Path], port: t.Optional[int] = None,
                 extra: t.Sequence[str] = (), module_args: t.Sequence[str] = (),
                 secret: bool = True, password: t.Optional[str] = None,
                 unixsocket: bool = False, client_timeout: t.Optional[float] = 30):
        self.binary = binary or redis_server()
        if self.binary is None:
            raise RuntimeError("no redis-server 7.x installed")
        self.module = str(module) if module else None
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.extra = list(extra)
        self.module_args = list(module_args)
        self.password = password
        self.client_timeout = client_timeout
        self.secret: t.Optional[str] = None
        self.secret_file: t.Optional[str] = None
        if secret and self.module:
            self.secret = new_secret()
            self.secret_file = str(write_secret(self.dir / f"executor-{self.port}.secret", self.secret))
            self.module_args += ["EXECUTOR_SECRET_FILE", self.secret_file]
        self.sock: t.Optional[str] = None
        self._sock_dir: t.Optional[Path] = None
        if unixsocket:
            sock = self.dir / f"redis-{self.port}.sock"
            if len(str(sock)) > _SOCKET_PATH_MAX:
                self._sock_dir = short_tempdir("rs")
                sock = self._sock_dir / f"redis-{self.port}.sock"
            self.sock = str(sock)
        self.proc: t.Optional[subprocess.Popen] = None
        self.logfile = self.dir / f"redis-{self.port}.log"

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def command_line(self) -> t.List[str]:
        wrapper = os.environ.get(WRAPPER_ENV, "").split()
        return [
            *wrapper, self.binary, "--port", str(self.port), "--bind", LOOPBACK,
            "--dir", str(self.dir), "--save", "", "--appendonly", "no",
            "--logfile", str(self.logfile), "--protected-mode", "no",
            *(["--unixsocket", self.sock, "--unixsocketperm", "700"] if self.sock else []),
            *(["--requirepass", self.password] if self.password else []),
            *self.extra,
            *(["--loadmodule", self.module, *self.module_args] if self.module else []),
        ]

    def start(self, timeout: t.Optional[float] = None) -> "RedisServer":
        if timeout is None:
            timeout = 120 if os.environ.get(WRAPPER_ENV) else 15
        with open(self.dir / f"stderr-{self.port}.log", "ab") as err:
            self.proc = subprocess.Popen(self.command_line(), stdout=subprocess.DEVNULL,
                                         stderr=err, cwd=self.dir)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log_tail()}")
            try:
                if self.client().ping():
                    return self
            except (redis.ConnectionError, redis.BusyLoadingError, OSError):
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start: {self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        out = ""
        for f in (self.logfile, self.dir / f"stderr-{self.port}.log"):
            try:
                out += f.read_text(errors="replace")[-n:]
            except OSError:
                pass
        return out

    def client(self, **kw: t.Any) -> redis.Redis:
        """A redis-py client on TCP (``unix=True``: on the Unix socket)."""
        kw.setdefault("socket_timeout", self.client_timeout)
        kw.setdefault("password", self.password)
        if kw.pop("unix", False):
            return redis.Redis(unix_socket_path=self.sock, **kw)
        return redis.Redis(host=LOOPBACK, port=self.port, **kw)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> t.Optional[int]:
        return self.proc.pid if self.proc is not None else None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def cleanup(self) -> None:
        """Stop, and remove the short socket folder if one was made."""
        self.stop()
        if self._sock_dir is not None:
            shutil.rmtree(self._sock_dir, ignore_errors=True)


class Executor:
    """``python -m smartsim._core.executor`` attached to ``server``: on its Unix socket, or on
    TCP with ``tcp=True``; the secret through ``$SMARTSIM_EXECUTOR_SECRET`` (``secret_via=
    "env"``) or ``--secret-file`` (``"file"``). Counters go to ``stats_path``.
    ``block_modules``: packages made unimportable in it (a machine without the ml extra)."""

    def __init__(self, server: RedisServer, name: str = "ex", extra: t.Sequence[str] = (),
                 block_modules: t.Sequence[str] = (), tcp: bool = False,
                 secret_via: str = "env", log_level: t.Optional[str] = "INFO"):
        self.server = server
        self.stats_path = server.dir / f"{name}-{server.port}-stats.json"
        self.log = server.dir / f"{name}-{server.port}.log"
        if self.stats_path.exists():
            self.stats_path.unlink()
        if not tcp and server.sock is None:
            raise ValueError("the server has no Unix socket: start it with unixsocket=True or use tcp=True")
        where = (["--host", LOOPBACK, "--port", str(server.port)] if tcp
                 else ["--socket", server.sock])
        args = [*where, "--stats-file", str(self.stats_path),
                *(["--log-level", log_level] if log_level else []), *extra]
        if server.password:
            args += ["--password", server.password]
        if secret_via == "file" and server.secret_file:
            args += ["--secret-file", server.secret_file]
        if block_modules:
            code = ("import sys, runpy\n"
                    f"for m in {list(block_modules)!r}: sys.modules[m] = None\n"
                    f"sys.argv = ['executor'] + {args!r}\n"
                    "runpy.run_module('smartsim._core.executor', run_name='__main__')\n")
            cmd = [sys.executable, "-c", code]
        else:
            cmd = [sys.executable, "-m", "smartsim._core.executor", *args]
        self.cmd = cmd
        self.env = executor_env(server.secret if secret_via == "env" else None)
        self.proc: t.Optional[subprocess.Popen] = None
        self._fh: t.Optional[t.IO[bytes]] = None

    def start(self, wait: bool = True) -> "Executor":
        self._fh = open(self.log, "ab")
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=self._fh,
                                     stderr=subprocess.STDOUT)
        if wait:
            self.wait_registered()
        return self

    def stats(self) -> t.Dict[str, int]:
        try:
            return json.loads(self.stats_path.read_text())
        except (OSError, ValueError):
            return {}

    def wait_registered(self, connects: int = 1, timeout: float = 30) -> "Executor":
        """Until the module accepted this executor's ``connects``-th registration."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"executor exited ({self.proc.returncode}):\n{self.log_tail()}")
            if self.stats().get("connects", 0) >= connects:
                return self
            time.sleep(0.02)
        raise RuntimeError(f"executor did not register:\n{self.log_tail()}")

    def wait_serving(self, tag: bytes = b"probe", timeout: float = 60) -> "Executor":
        """Until a script run through this executor's server succeeds (registered, and its
        ML runtime loaded). ``tag``: a key prefix that lands on this server's slots."""
        server = self.server.client()
        server.execute_command("AI.SCRIPTSET", tag + b".s", "CPU", "SOURCE",
                               "def f(x):\n    return x\n")
        server.execute_command("AI.TENSORSET", tag + b".x", "FLOAT", 1, "VALUES", 1)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"executor exited: {self.log_tail()}")
            try:
                server.execute_command("AI.SCRIPTRUN", tag + b".s", "f", "INPUTS", tag + b".x",
                                       "OUTPUTS", tag + b".y")
                server.execute_command("AI.SCRIPTDEL", tag + b".s")
                server.delete(tag + b".x", tag + b".y")
                return self
            except redis.ResponseError as exc:
                if "no executor" not in str(exc):
                    raise
                time.sleep(0.1)
        raise RuntimeError("executor did not register")

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def kill(self, sig: int = signal.SIGKILL) -> int:
        """Send ``sig`` and reap it; its exit status."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        return rc

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


def _slot_bounds(n: int) -> t.List[int]:
    return [round(i * 16384 / n) for i in range(n + 1)]


def _shard_tag(slot: int) -> bytes:
    from _fastpath.crc16 import shard_tag  # pylint: disable=import-outside-toplevel

    return b"{" + shard_tag(slot) + b"}"


class Database:
    """A standalone database or a Redis Cluster the tests talk to.

    ``kind``: ``"standalone"`` or ``"cluster"``; ``addresses``: ``host:port`` of every
    server/shard; ``servers``/``executors``: what was started here (empty for a database
    that was running already, ``external``); ``sock``: the standalone server's Unix socket."""

    def __init__(self, kind: str, addresses: t.Sequence[str],
                 servers: t.Sequence[RedisServer] = (), executors: t.Sequence[Executor] = (),
                 sock: t.Optional[str] = None, bounds: t.Optional[t.List[int]] = None,
                 workdir: t.Optional[Path] = None):
        self.kind = kind
        self.addresses = list(addresses)
        self.servers = list(servers)
        self.executors = list(executors)
        self.sock = sock
        self.bounds = bounds
        self.workdir = workdir

    # -- starting

    @classmethod
    def start_standalone(cls, module: t.Optional[t.Union[str, Path]], workdir: t.Optional[Path] = None,
                         binary: t.Optional[str] = None, executor: bool = True,
                         unixsocket: bool = True, extra: t.Sequence[str] = ()) -> "Database":
        """One server with the module (TCP and a Unix socket), and an executor that has run
        a script once."""
        workdir = Path(workdir) if workdir else short_tempdir("db")
        server = RedisServer(binary, module, workdir, unixsocket=unixsocket, extra=extra)
        db = cls("standalone", [server.address], [server], sock=server.sock, workdir=workdir)
        try:
            server.start()
            if executor:
                db.executors.append(Executor(server, tcp=True, secret_via="file",
                                             log_level="WARNING").start(wait=False).wait_serving())
        except BaseException:
            db.stop()
            raise
        return db

    @classmethod
    def start_cluster(cls, module: t.Optional[t.Union[str, Path]], workdir: t.Optional[Path] = None,
                      shards: int = 3, binary: t.Optional[str] = None, executors: bool = True,
                      timeout: float = 30) -> "Database":
        """``shards`` primaries with the module, slots split evenly (shard i holds
        ``bounds[i]..bounds[i+1]-1``), ``cluster_state:ok`` everywhere; with ``executors``
        one per shard that has run a script once."""
        workdir = Path(workdir) if workdir else short_tempdir("dbc")
        servers = []
        for i in range(shards):
            port = free_port()
            servers.append(RedisServer(
                binary, module, workdir / f"node{i}", port=port,
                extra=["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                       "--cluster-node-timeout", "5000"]))
        bounds = _slot_bounds(shards)
        db = cls("cluster", [s.address for s in servers], servers, bounds=bounds, workdir=workdir)
        try:
            for s in servers:
                s.start()
            for i, s in enumerate(servers):
                s.client().execute_command("CLUSTER", "ADDSLOTS", *range(bounds[i], bounds[i + 1]))
            first = servers[0].client()
            for s in servers[1:]:
                first.execute_command("CLUSTER", "MEET", LOOPBACK, s.port)
            db._wait_cluster_ok(timeout)
            if executors:
                exs = [Executor(s, tcp=True, secret_via="file", log_level="WARNING").start(wait=False)
                       for s in servers]
                db.executors.extend(exs)
                for i, e in enumerate(exs):
                    e.wait_serving(_shard_tag(bounds[i]))
        except BaseException:
            db.stop()
            raise
        return db

    def _wait_cluster_ok(self, timeout: float) -> None:
        n = len(self.servers)
        deadline = time.time() + timeout
        states: t.List[str] = []
        while time.time() < deadline:
            states = []
            for s in self.servers:
                c = s.client()
                info = c.execute_command("CLUSTER", "INFO")
                text = info.decode() if isinstance(info, bytes) else str(info)
                states.append(text)
                if ("cluster_state:ok" not in text or f"cluster_known_nodes:{n}" not in text
                        or len(c.execute_command("CLUSTER", "SLOTS")) != n):
                    break
            else:
                return
            time.sleep(0.1)
        raise RuntimeError(f"cluster did not become ready: {states}")

    @classmethod
    def from_addresses(cls, addresses: t.Sequence[str]) -> t.Dict[str, "Database"]:
        """Running databases by kind, from ``host:port`` and ``unix://path`` entries (the
        ``SMARTSIM_TEST_DB`` syntax): each TCP address is asked whether it is a cluster node."""
        standalone: t.List[str] = []
        nodes: t.List[str] = []
        sock = None
        for address in addresses:
            if address.startswith("unix://"):
                sock = address[len("unix://"):]
                continue
            host, _, port = address.rpartition(":")
            try:
                info = redis.Redis(host=host, port=int(port), socket_timeout=10).info("cluster")
            except (ValueError, redis.RedisError) as exc:
                raise RuntimeError(f"SMARTSIM_TEST_DB: cannot reach {address}: {exc}") from exc
            (nodes if info.get("cluster_enabled") else standalone).append(address)
        out: t.Dict[str, Database] = {}
        if standalone:
            out["standalone"] = cls("standalone", standalone[:1], sock=sock)
        elif sock is not None:
            raise RuntimeError("SMARTSIM_TEST_DB: a unix:// socket needs the host:port of the "
                               "same standalone server too")
        if nodes:
            out["cluster"] = cls("cluster", nodes)
        return out

    # -- using

    @property
    def external(self) -> bool:
        return not self.servers

    @property
    def address(self) -> str:
        return self.addresses[0]

    @property
    def host(self) -> str:
        return self.address.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.address.rpartition(":")[2])

    @property
    def db_type(self) -> str:
        """``SR_DB_TYPE`` for this database."""
        return "Clustered" if self.kind == "cluster" else "Standalone"

    def env(self) -> t.Dict[str, str]:
        """``SSDB`` and ``SR_DB_TYPE`` of this database."""
        return {"SSDB": self.address, "SR_DB_TYPE": self.db_type}

    def client(self, shard: int = 0, **kw: t.Any) -> redis.Redis:
        """A redis-py client of one server (the first by default)."""
        if shard < len(self.servers):
            return self.servers[shard].client(**kw)
        host, _, port = self.addresses[shard].rpartition(":")
        kw.setdefault("socket_timeout", 30)
        return redis.Redis(host=host, port=int(port), **kw)

    def shard_clients(self) -> t.List[redis.Redis]:
        """A client of every primary (of a running cluster: from ``CLUSTER SLOTS``)."""
        if self.servers:
            return [s.client() for s in self.servers if s.alive()]
        if self.kind != "cluster":
            return [self.client()]
        primaries = {}
        for entry in self.client().execute_command("CLUSTER", "SLOTS"):
            host, port = entry[2][0], entry[2][1]
            host = host.decode() if isinstance(host, bytes) else host
            primaries[(host or self.host, int(port))] = None
        return [redis.Redis(host=h, port=p, socket_timeout=30) for h, p in primaries]

    def flush(self) -> None:
        """FLUSHALL on every primary."""
        for c in self.shard_clients():
            c.flushall()
            c.close()

    @property
    def pids(self) -> t.List[int]:
        """Server process ids (of a running database: from ``INFO server``, loopback only)."""
        if self.servers:
            return [s.pid for s in self.servers if s.pid is not None]
        return [int(c.info("server")["process_id"]) for c in self.shard_clients()]

    def stop(self) -> None:
        """Stop what was started here (nothing for a running database)."""
        for e in self.executors:
            if e.proc is not None:
                e.stop()
        for s in self.servers:
            s.cleanup()
