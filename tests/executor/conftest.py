"""Fixtures: real redis-server processes with our module, and real executor processes, from
the test base (tests/_testbase: ``server_factory``, ``executor_factory``)."""
from __future__ import annotations

import shutil
import signal

import pytest

from .._testbase import short_tempdir
from .._testbase.cluster import Executor, RedisServer


@pytest.fixture
def workdir():
    d = short_tempdir("ex")  # short: Unix socket paths
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_server(server_factory, workdir):
    """``make(password=None, start=True)``: a server on a loopback port and a Unix socket;
    its executors need its ``secret`` (EXECUTOR_SECRET_FILE, see PROTOCOL.md)."""

    def make(password=None, start=True):
        return server_factory(workdir=workdir, password=password, start=start, unixsocket=True,
                              client_timeout=None)

    return make


@pytest.fixture
def make_executor(executor_factory):
    """``make(server, extra=(), block_modules=(), tcp=False)``: an executor, not started;
    the secret comes through $SMARTSIM_EXECUTOR_SECRET."""
    return executor_factory


@pytest.fixture
def server(make_server):
    return make_server()


@pytest.fixture
def executor(server, make_executor):
    return make_executor(server).start()


@pytest.fixture(scope="module")
def shared_server(aimodule_path, redis_server_binary):
    """One server for the tests of a module that only need a working database."""
    d = short_tempdir("exs")
    s = RedisServer(redis_server_binary, aimodule_path, d, unixsocket=True,
                    client_timeout=None).start()
    yield s
    s.cleanup()
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
