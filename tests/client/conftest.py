"""Fixtures for the client: the test base's databases (tests/_testbase: ``standalone`` on TCP
and a Unix socket, a 3-shard Redis Cluster, each with executors for model/script runs, or
the running ones ``SMARTSIM_TEST_DB`` names), and environment helpers for
SSDB/SR_DB_TYPE/SSKEYIN/SSKEYOUT."""
from __future__ import annotations

import os

import pytest

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
def db(request, clean_env, databases):
    """(kind, SSDB, SR_DB_TYPE) for every topology; the database is flushed first."""
    kind = request.param
    database = databases.get("cluster" if kind == "cluster" else "standalone")
    if kind == "unix" and database.sock is None:
        pytest.skip("the standalone database has no Unix socket (SMARTSIM_TEST_DB: add unix://PATH)")
    database.flush()
    ssdb = f"unix://{database.sock}" if kind == "unix" else database.address
    clean_env.setenv("SSDB", ssdb)
    clean_env.setenv("SR_DB_TYPE", database.db_type)
    return kind, ssdb, database.db_type


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
