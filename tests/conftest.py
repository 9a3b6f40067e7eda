"""Fixtures shared by the top-level tests (sub-packages may override them), and the test
base's server fixtures for every test (tests/_testbase: one redis-server lookup, one module
build, one database fixture)."""
import pytest

from smartsim import Experiment

from ._testbase.fixtures import (  # noqa: F401  (fixtures)
    aimodule_path, cluster, databases, executor_factory, redis_server_binary, server_factory,
    standalone)


@pytest.fixture
def exp(tmp_path):
    """A local-launcher experiment rooted in the test's temporary directory."""
    return Experiment("exp", exp_path=str(tmp_path / "exp"), launcher="local")


@pytest.fixture
def rs(exp):
    return exp.create_run_settings("echo")
