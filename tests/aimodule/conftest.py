"""Fixtures for the RedisAI-compatible module: real redis-servers with the module loaded,
from the test base (tests/_testbase: ``server_factory``, ``aimodule_path``), plus a shared
server per test module and raw RESP access.

Everything runs on loopback; servers are stopped at teardown (SIGTERM, then SIGKILL).
"""
from __future__ import annotations

import pytest

from .._testbase import redis_binaries as _by_version, redis_server_at_least
from .._testbase.cluster import RedisServer
from .aimodule_resp import RawConn


@pytest.fixture(scope="session")
def redis_binaries():
    """redis-server binaries by version: a 7.x one and a 6.2 one (None if absent)."""
    return {"7": redis_server_at_least((7, 0)), "6.2": _by_version().get("6.2")}


@pytest.fixture(scope="module")
def shared_server(aimodule_path, redis_server_binary, tmp_path_factory):
    s = RedisServer(redis_server_binary, aimodule_path, tmp_path_factory.mktemp("shared"))
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
