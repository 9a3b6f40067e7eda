"""The package is typed: ``mypy`` over ``src/`` finds nothing, and a user's driver script
sees real types (``from smartsim import Experiment`` is a class, not ``Any``)."""
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytest.importorskip("mypy")


def _mypy(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "mypy", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_user_script_sees_real_types(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent("""
        from smartsim import Experiment
        from smartsim.client import Client

        exp = Experiment("typed", launcher="local")
        rs = exp.create_run_settings("echo", exe_args=["hi"])
        reveal_type(exp)
        reveal_type(rs)
        reveal_type(exp.create_model("m", rs))
        reveal_type(exp.create_ensemble("e", run_settings=rs, replicas=2))
        reveal_type(exp.create_database(port=6780))
        reveal_type(exp.create_batch_settings())
        reveal_type(Client(address="127.0.0.1:6379", cluster=False).get_dataset("d"))
        exp.create_model(3, rs)  # a name must be a str
    """))
    # run from tmp_path with the package found through its installed (editable) path
    result = _mypy("--no-incremental", "--config-file", os.path.join(REPO, "pyproject.toml"),
                   str(script), cwd=REPO)
    out = result.stdout
    assert 'Revealed type is "smartsim.experiment.Experiment"' in out, out
    assert 'Revealed type is "smartsim.settings.base.RunSettings"' in out, out
    assert 'Revealed type is "smartsim.entity.model.Model"' in out, out
    assert 'Revealed type is "smartsim.entity.ensemble.Ensemble"' in out, out
    assert 'Revealed type is "smartsim.database.orchestrator.Orchestrator"' in out, out
    assert 'Revealed type is "smartsim.settings.base.BatchSettings"' in out, out
    assert 'Revealed type is "smartsim.client.dataset.Dataset"' in out, out
    # the bad call is caught: the API's argument types are real, not Any
    assert 'driver.py:14: error: Argument 1 to "create_model" of "Experiment"' in out, out


def test_mypy_over_src_finds_nothing():
    result = _mypy()
    assert result.returncode == 0, result.stdout[-6000:]
    assert "Success: no issues found" in result.stdout
