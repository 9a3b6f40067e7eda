"""Fixtures for the client: real redis-servers with our module (reusing the helpers of
tests/aimodule/conftest.py), a 3-shard Redis Cluster, a Unix-socket server, executors for
model/script runs, and environment helpers for SSDB/SR_DB_TYPE/SSKEYIN/SSKEYOUT."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"

from ..aimodule import conftest as aim

REDIS7 = "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else aim.redis7_binary()


def _module_path() -> Path:
    newest = max(p.stat().st_mtime for p in aim._sources())
    if aim.LIB.exists() and aim.LIB.stat().st_mtime >= newest:
        return aim.LIB
    return aim.build_module(Path(tempfile.mkdtemp(prefix="aimod")))


@pytest.fixture(scope="session")
def module_so():
    if REDIS7 is None:
        pytest.skip("redis-server not installed")
    return _module_path()


class Executor:
    """``python -m smartsim._core.executor`` attached to one server."""

    def __init__(self, port: int, workdir: Path, secret_file: str):
        self.log = workdir / f"executor-{port}.log"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(SRC), env.get("PYTHONPATH")] if p)
        self.fh = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "smartsim._core.executor", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "WARNING", "--secret-file", secret_file],
            env=env, stdout=self.fh, stderr=subprocess.STDOUT)

    def wait_ready(self, server, slot=None, timeout=60):
        """Until a script run on ``server`` succeeds (the executor has registered)."""
        import redis
        from _fastpath.crc16 import shard_tag

        r = server.client()
        tag = b"probe" if slot is None else b"{" + shard_tag(slot) + b"}"
        r.execute_command("AI.SCRIPTSET", tag + b".s", "CPU", "SOURCE",
                          "def f(x):\n    return x\n")
        r.execute_command("AI.TENSORSET", tag + b".x", "FLOAT", 1, "VALUES", 1)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"executor exited: {self.log.read_text()[-2000:]}")
            try:
                r.execute_command("AI.SCRIPTRUN", tag + b".s", "f", "INPUTS", tag + b".x",
                                  "OUTPUTS", tag + b".y")
                r.execute_command("AI.SCRIPTDEL", tag + b".s")
                r.delete(tag + b".x", tag + b".y")
                return self
            except redis.ResponseError as exc:
                if "no executor" not in str(exc):
                    raise
                time.sleep(0.1)
        raise RuntimeError("executor did not register")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.fh.close()


class Cluster:
    """Three primaries with the module, slots split evenly, cluster_state:ok."""

    def __init__(self, module, workdir: Path, n=3):
        self.servers = []
        for i in range(n):
            port = aim.free_port()
            s = aim.RedisServer(REDIS7, module, workdir / f"node{i}", port=port, extra=[
                "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-node-timeout", "5000"])
            self.servers.append(s)

    def start(self):
        for s in self.servers:
            s.start()
        n = len(self.servers)
        bounds = self.bounds = [round(i * 16384 / n) for i in range(n + 1)]
        for i, s in enumerate(self.servers):
            c = s.client()
            c.execute_command("CLUSTER", "ADDSLOTSRANGE", bounds[i], bounds[i + 1] - 1)
        first = self.servers[0].client()
        for s in self.servers[1:]:
            first.execute_command("CLUSTER", "MEET", "127.0.0.1", s.port)
        deadline = time.time() + 30
        while time.time() < deadline:
            ok = True
            for s in self.servers:
                c = s.client()
                info = c.execute_command("CLUSTER", "INFO")
                state = info.get("cluster_state") if isinstance(info, dict) else None
                if state != "ok" and "cluster_state:ok" not in str(info):
                    ok = False
                elif len(c.execute_command("CLUSTER", "SLOTS")) != n:
                    ok = False
            if ok:
                return self
            time.sleep(0.1)
        raise RuntimeError("cluster did not become ready")

    @property
    def address(self):
        return f"127.0.0.1:{self.servers[0].port}"

    @property
    def addresses(self):
        return [f"127.0.0.1:{s.port}" for s in self.servers]

    def flush(self):
        for s in self.servers:
            if s.alive():
                s.client().flushall()

    def stop(self):
        for s in self.servers:
            s.stop()


@pytest.fixture(scope="session")
def standalone(module_so, tmp_path_factory):
    """One server on TCP and a Unix socket, with an executor."""
    wd = Path(tempfile.mkdtemp(prefix="cl", dir="/tmp"))
    sock = wd / "redis.sock"
    s = aim.RedisServer(REDIS7, module_so, wd, extra=[
        "--unixsocket", str(sock), "--unixsocketperm", "700"])
    s.start()
    s.sock = str(sock)
    ex = Executor(s.port, wd, s.secret_file).wait_ready(s)
    try:
        yield s
    finally:
        ex.stop()
        s.stop()


@pytest.fixture(scope="session")
def cluster(module_so):
    wd = Path(tempfile.mkdtemp(prefix="clc", dir="/tmp"))
    c = Cluster(module_so, wd).start()
    exs = [Executor(s.port, wd, s.secret_file) for s in c.servers]
    for i, (e, s) in enumerate(zip(exs, c.servers)):
        e.wait_ready(s, c.bounds[i])
    try:
        yield c
    finally:
        for e in exs:
            e.stop()
        c.stop()


_CLIENT_VARS = ("SSDB", "SR_DB_TYPE", "SSKEYIN", "SSKEYOUT", "SR_CONN_TIMEOUT",
                "SR_CMD_TIMEOUT", "SR_MODEL_TIMEOUT")


@pytest.fixture
def clean_env(monkeypatch):
    for k in list(os.environ):
        if k.startswith(_CLIENT_VARS):
            monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("SR_LOG_LEVEL", "quiet")
    return monkeypatch


@pytest.fixture(params=["standalone", "cluster", "unix"])
def db(request, clean_env):
    """(kind, SSDB, SR_DB_TYPE) for every topology; the database is flushed first."""
    kind = request.param
    if kind == "cluster":
        c = request.getfixturevalue("cluster")
        c.flush()
        env = (c.address, "Clustered")
    else:
        s = request.getfixturevalue("standalone")
        s.client().flushall()
        env = (f"127.0.0.1:{s.port}" if kind == "standalone" else f"unix://{s.sock}",
               "Standalone")
    clean_env.setenv("SSDB", env[0])
    clean_env.setenv("SR_DB_TYPE", env[1])
    return kind, env[0], env[1]


@pytest.fixture
def client(db):
    from smartsim.client import Client

    c = Client(None, logger_name="test")
    yield c
    c.close()


def torch_model_bytes(kind="double"):
    torch = pytest.importorskip("torch")
    import io

    class M(torch.nn.Module):
        def forward(self, x):
            return x * 2.0

    class Slow(torch.nn.Module):
        def forward(self, x):
            s = x
            for _ in range(200000):
                s = s + 0.0
            return s

    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(Slow() if kind == "slow" else M()), buf)
    return buf.getvalue()
