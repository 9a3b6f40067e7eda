"""The test base's pytest fixtures (registered for every test by ``tests/conftest.py``).

* ``aimodule_path`` (session) -- our module, built once (:func:`tests._testbase.aimodule_path`).
* ``redis_server_binary`` (session) -- the redis-server the base starts.
* ``server_factory`` -- start :class:`RedisServer` s on demand; stopped at teardown.
* ``executor_factory`` -- :class:`Executor` s for those servers; stopped at teardown.
* ``databases`` (session) -- THE database fixture: ``databases.get("standalone"|"cluster")``
  starts one (servers with the module, executors) once per session, or hands out the one
  named by ``SMARTSIM_TEST_DB``; ``standalone`` and ``cluster`` are shorthands.
"""
from __future__ import annotations

import shutil
import signal
import typing as t
from pathlib import Path

import pytest

from . import DB_ENV, Unavailable, aimodule_path as _aimodule_path, redis_server
from . import test_db_addresses
from .cluster import Database, Executor, RedisServer

_DEFAULT = object()


def _need_module() -> Path:
    try:
        return _aimodule_path()
    except Unavailable as exc:
        pytest.skip(str(exc))
    raise AssertionError  # unreachable


def _need_binary() -> str:
    binary = redis_server()
    if binary is None:
        pytest.skip("redis-server 7.x is not installed")
    return binary


@pytest.fixture(scope="session")
def aimodule_path() -> Path:
    """Path of our RedisAI-compatible module (current with its sources)."""
    _need_binary()
    return _need_module()


@pytest.fixture(scope="session")
def redis_server_binary() -> str:
    return _need_binary()


@pytest.fixture
def server_factory(tmp_path: Path) -> t.Iterator[t.Callable[..., RedisServer]]:
    """``make(binary=None, module=<ours>, workdir=None, start=True, **RedisServer options)``:
    a server (started unless ``start=False``), ``module=None`` for a plain one."""
    servers: t.List[RedisServer] = []

    def make(binary: t.Optional[str] = None, module: t.Any = _DEFAULT,
             workdir: t.Optional[Path] = None, start: bool = True, **kw: t.Any) -> RedisServer:
        binary = binary or _need_binary()
        if module is _DEFAULT:
            module = _need_module()
        server = RedisServer(binary, module, workdir or tmp_path / f"srv{len(servers)}", **kw)
        servers.append(server)
        if start:
            server.start()
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.cleanup()


@pytest.fixture
def executor_factory() -> t.Iterator[t.Callable[..., Executor]]:
    """``make(server, **Executor options)``: an executor (not started yet)."""
    started: t.List[Executor] = []

    def make(server: RedisServer, **kw: t.Any) -> Executor:
        kw.setdefault("name", f"ex{len(started)}")
        executor = Executor(server, **kw)
        started.append(executor)
        return executor

    yield make
    for executor in started:
        if executor.proc is not None:
            executor.kill(signal.SIGTERM)


class Databases:
    """Standalone and clustered databases for a session: started on first use, or the
    running ones ``SMARTSIM_TEST_DB`` names."""

    def __init__(self) -> None:
        self._started: t.Dict[str, Database] = {}
        self._external: t.Optional[t.Dict[str, Database]] = None
        addresses = test_db_addresses()
        if addresses:
            self._external = Database.from_addresses(addresses)

    @property
    def external(self) -> bool:
        return self._external is not None

    def get(self, kind: str) -> Database:
        if kind not in ("standalone", "cluster"):
            raise ValueError(kind)
        if self._external is not None:
            if kind not in self._external:
                pytest.skip(f"{DB_ENV} names no {kind} database")
            return self._external[kind]
        if kind not in self._started:
            binary, module = _need_binary(), _need_module()
            if kind == "standalone":
                self._started[kind] = Database.start_standalone(module, binary=binary)
            else:
                self._started[kind] = Database.start_cluster(module, binary=binary)
        return self._started[kind]

    def close(self) -> None:
        for db in self._started.values():
            db.stop()
            if db.workdir is not None:
                shutil.rmtree(db.workdir, ignore_errors=True)
        self._started.clear()


@pytest.fixture(scope="session")
def databases() -> t.Iterator[Databases]:
    pool = Databases()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="session")
def standalone(databases: Databases) -> Database:
    """One server with the module on TCP and a Unix socket (``sock``), with an executor."""
    return databases.get("standalone")


@pytest.fixture(scope="session")
def cluster(databases: Databases) -> Database:
    """A 3-shard Redis Cluster with the module, an executor per shard."""
    return databases.get("cluster")


__all__ = ["aimodule_path", "redis_server_binary", "server_factory", "executor_factory",
           "databases", "standalone", "cluster", "Databases"]
