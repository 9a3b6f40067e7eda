"""A colocated database loads the model's ML objects (from files and strings) after it
answers and before the application's first line; a failure there ends the job before the
application runs."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from smartsim._core.control import mlobjects
from smartsim.status import SmartSimStatus

from tests._testbase import free_ports

from .conftest import torch_module_bytes
from .test_ml_load import SCRIPT

APPS = Path(__file__).resolve().parent / "apps"


@pytest.fixture
def wired(monkeypatch):
    """Hand the colocated wrapper the model's ML objects (``ml_objects`` in its JSON spec),
    as the controller does when it builds the colocated command line."""
    from smartsim._core.control import database as _db

    original = _db.colocated_argv

    def colocated_argv(reg, model, argv):
        cmd = original(reg, model, argv)
        at = cmd.index("--") - 1
        spec = json.loads(cmd[at])
        if "ml_objects" not in spec:
            os.makedirs(model.path, exist_ok=True)
            path = mlobjects.write_colocated_spec(model, model.path)
            if path:
                spec["ml_objects"] = path
        cmd[at] = json.dumps(spec)
        return cmd

    monkeypatch.setattr(_db, "colocated_argv", colocated_argv)
    for key in list(os.environ):
        if key.startswith(("SSDB", "SR_DB_TYPE", "SSKEY")):
            monkeypatch.delenv(key, raising=False)


def _read(model, ext):
    with open(os.path.join(model.path, f"{model.name}.{ext}")) as handle:
        return handle.read()


def _colo_model(exp, tmp_path, name):
    (tmp_path / "m.pt").write_bytes(torch_module_bytes(2.0))
    (tmp_path / "s.py").write_text(SCRIPT)
    rs = exp.create_run_settings(sys.executable, [str(APPS / "colo_infer.py")])
    model = exp.create_model(name, rs)
    model.colocate_db_tcp(port=free_ports(1), custom_pinning=[])
    model.add_ml_model("m", "TORCH", model_path=str(tmp_path / "m.pt"))
    model.add_script("s_str", script=SCRIPT)
    model.add_script("s_file", script_path=str(tmp_path / "s.py"))
    return model


def test_colocated_database_loads_files_and_strings_before_the_app(exp, tmp_path, wired):
    pytest.importorskip("torch")
    model = _colo_model(exp, tmp_path, "colo_ml")
    exp.start(model, block=True)
    out, err = _read(model, "out"), _read(model, "err")
    assert exp.get_status(model) == [SmartSimStatus.STATUS_COMPLETED], err
    assert "model exists True" in out
    assert "result [-1.0, -2.0, -3.0]" in out  # -(2x) + x
    spec = os.path.join(model.path, "colo_ml-db.mlobjects.json")
    assert oct(os.stat(spec).st_mode & 0o777) == "0o600"


def test_colocated_load_failure_stops_before_the_app(exp, tmp_path, wired):
    model = _colo_model(exp, tmp_path, "colo_bad")
    (tmp_path / "m.pt").write_bytes(b"not a model")  # the backend rejects it at load
    exp.start(model, block=True)
    assert exp.get_status(model) == [SmartSimStatus.STATUS_FAILED]
    err = _read(model, "err")
    assert "cannot load the ML objects of colo_bad" in err and "'m'" in err
    assert "model exists" not in _read(model, "out")  # the application never ran
