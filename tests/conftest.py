"""Fixtures shared by the top-level tests (sub-packages may override them)."""
import pytest

from smartsim import Experiment


@pytest.fixture
def exp(tmp_path):
    """A local-launcher experiment rooted in the test's temporary directory."""
    return Experiment("exp", exp_path=str(tmp_path / "exp"), launcher="local")


@pytest.fixture
def rs(exp):
    return exp.create_run_settings("echo")
