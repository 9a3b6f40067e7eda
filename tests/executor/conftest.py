"""Fixtures: real redis-server processes with our module, and real executor processes."""
from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
AIMODULE_DIR = SRC / "smartsim" / "_core" / "aimodule"
BUILT_SO = SRC / "smartsim" / "_core" / "lib" / "redisai.so"
REDIS_SERVER = os.environ.get("REDIS_SERVER") or (
    "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server")
    else shutil.which("redis-server") or "redis-server")

if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _build_module(out_dir: Path) -> Path:
    sources = sorted(glob.glob(str(AIMODULE_DIR / "*.c")))
    so = out_dir / "redisai.so"
    cmd = ["gcc", "-shared", "-fPIC", "-std=gnu11", "-O2", "-o", str(so), *sources]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        pytest.fail(f"building the RedisAI-compatible module failed:\n{' '.join(cmd)}\n"
                    f"{res.stderr[-4000:]}")
    return so


@pytest.fixture(scope="session")
def aimodule_path(tmp_path_factory) -> Path:
    """Path of redisai.so: the built one if current, else compiled here from the C sources."""
    sources = sorted(glob.glob(str(AIMODULE_DIR / "*.c")))
    if not sources:
        pytest.skip(f"the RedisAI-compatible module (redisai.so) is missing: no C sources in "
                    f"{AIMODULE_DIR} yet")
    if not os.path.exists(REDIS_SERVER):
        pytest.skip("redis-server is not installed")
    newest = max(os.path.getmtime(p) for p in glob.glob(str(AIMODULE_DIR / "*.[ch]")))
    if BUILT_SO.exists() and BUILT_SO.stat().st_mtime >= newest:
        return BUILT_SO
    return _build_module(tmp_path_factory.mktemp("aimodule"))


class RedisServer:
    """A redis-server with the module loaded, on a Unix socket and a loopback port. The
    module requires ``secret`` from executors (EXECUTOR_SECRET_FILE, see PROTOCOL.md)."""

    def __init__(self, module: Path, workdir: Path, password: str | None = None):
        self.module = module
        self.dir = workdir
        self.sock = str(workdir / "redis.sock")
        self.port = _free_port()
        self.password = password
        self.proc: subprocess.Popen | None = None
        self.log = workdir / "redis.log"
        self.secret = secrets.token_hex(16)
        self.secret_file = workdir / f"executor-{self.port}.secret"
        fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.secret)

    def start(self) -> "RedisServer":
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--unixsocket", self.sock, "--unixsocketperm", "700",
                "--save", "", "--appendonly", "no", "--dir", str(self.dir),
                "--logfile", str(self.log), "--loadmodule", str(self.module),
                "EXECUTOR_SECRET_FILE", str(self.secret_file)]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log_tail()}")
            try:
                if self.client().ping():
                    return self
            except Exception:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return self.log.read_text()[-3000:]
        except OSError:
            return ""

    def client(self, **kw):
        import redis

        return redis.Redis(unix_socket_path=self.sock, password=self.password, **kw)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Executor:
    """An executor subprocess (``python -m smartsim._core.executor``)."""

    def __init__(self, server: RedisServer, name: str = "ex", extra=(), block_modules=(),
                 tcp: bool = False, parent_wrapper: bool = False):
        self.server = server
        self.stats_path = server.dir / f"{name}-stats.json"
        self.log = server.dir / f"{name}.log"
        if self.stats_path.exists():
            self.stats_path.unlink()
        where = (["--host", "127.0.0.1", "--port", str(server.port)] if tcp
                 else ["--socket", server.sock])
        args = [*where, "--stats-file", str(self.stats_path), "--log-level", "INFO", *extra]
        if server.password:
            args += ["--password", server.password]
        if block_modules:
            # Run the executor with these packages made unimportable.
            code = ("import sys, runpy\n"
                    f"for m in {list(block_modules)!r}: sys.modules[m] = None\n"
                    f"sys.argv = ['executor'] + {args!r}\n"
                    "runpy.run_module('smartsim._core.executor', run_name='__main__')\n")
            cmd = [sys.executable, "-c", code]
        else:
            cmd = [sys.executable, "-m", "smartsim._core.executor", *args]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(SRC), env.get("PYTHONPATH")] if p)
        env["SMARTSIM_EXECUTOR_SECRET"] = server.secret  # the environment route (not argv)
        self.cmd = cmd
        self.env = env
        self.proc: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> "Executor":
        self._fh = open(self.log, "ab")
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=self._fh,
                                     stderr=subprocess.STDOUT)
        if wait:
            self.wait_registered()
        return self

    def stats(self) -> dict:
        try:
            return json.loads(self.stats_path.read_text())
        except (OSError, ValueError):
            return {}

    def wait_registered(self, connects: int = 1, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"executor exited ({self.proc.returncode}):\n{self.log_tail()}")
            if self.stats().get("connects", 0) >= connects:
                return
            time.sleep(0.02)
        raise RuntimeError(f"executor did not register:\n{self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return self.log.read_text()[-4000:]
        except OSError:
            return ""

    def kill(self, sig=signal.SIGKILL) -> int:
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
        self._fh.close()
        return rc


@pytest.fixture
def workdir():
    d = Path(tempfile.mkdtemp(prefix="ex", dir="/tmp"))  # short: Unix socket paths
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_server(aimodule_path, workdir):
    servers = []

    def make(password=None, start=True):
        s = RedisServer(aimodule_path, workdir, password=password)
        servers.append(s)
        return s.start() if start else s

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def make_executor():
    started = []

    def make(server, **kw):
        e = Executor(server, name=f"ex{len(started)}", **kw)
        started.append(e)
        return e

    yield make
    for e in started:
        if e.proc is not None:
            e.kill(signal.SIGTERM)


@pytest.fixture
def server(make_server):
    return make_server()


@pytest.fixture
def executor(server, make_executor):
    return make_executor(server).start()


@pytest.fixture(scope="module")
def shared_server(aimodule_path):
    """One server for the tests of a module that only need a working database."""
    d = Path(tempfile.mkdtemp(prefix="exs", dir="/tmp"))
    s = RedisServer(aimodule_path, d).start()
    yield s
    s.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def shared_executor(shared_server):
    e = Executor(shared_server, name="shared").start()
    yield e
    if e.proc is not None:
        e.kill(signal.SIGTERM)


@pytest.fixture
def client(shared_server, shared_executor):
    """A client of the shared server (emptied first) with its executor running."""
    if shared_executor.proc is None or shared_executor.proc.poll() is not None:
        shared_executor.start()
    c = shared_server.client()
    c.flushall()
    yield c
    c.close()
