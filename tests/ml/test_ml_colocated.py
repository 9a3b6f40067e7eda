"""A colocated database loads the model's ML objects (from files and strings) after it
answers and before the application's first line; a failure there ends the job before the
application runs."""
from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import pytest

from smartsim.status import SmartSimStatus

from tests._testbase import free_ports

from .conftest import torch_module_bytes
from .test_ml_load import SCRIPT

APPS = Path(__file__).resolve().parent / "apps"


@pytest.fixture
def no_db_env(monkeypatch):
    """No database of the driver's environment leaks into the colocated model (the
    controller hands the wrapper the model's ML objects: ``ml_objects`` in its spec)."""
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


def test_colocated_database_loads_files_and_strings_before_the_app(exp, tmp_path, no_db_env):
    pytest.importorskip("torch")
    model = _colo_model(exp, tmp_path, "colo_ml")
    exp.start(model, block=True)
    out, err = _read(model, "out"), _read(model, "err")
    assert exp.get_status(model) == [SmartSimStatus.STATUS_COMPLETED], err
    assert "model exists True" in out
    assert "result [-1.0, -2.0, -3.0]" in out  # -(2x) + x
    spec = os.path.join(model.path, "colo_ml-db.mlobjects.json")
    assert oct(os.stat(spec).st_mode & 0o777) == "0o600"


def test_colocated_load_failure_stops_before_the_app(exp, tmp_path, no_db_env):
    model = _colo_model(exp, tmp_path, "colo_bad")
    (tmp_path / "m.pt").write_bytes(b"not a model")  # the backend rejects it at load
    exp.start(model, block=True)
    assert exp.get_status(model) == [SmartSimStatus.STATUS_FAILED]
    err = _read(model, "err")
    assert "cannot load the ML objects of colo_bad" in err and "'m'" in err
    assert "model exists" not in _read(model, "out")  # the application never ran


def test_colocated_database_loads_onnx_tf_and_tflite_files(exp, tmp_path, no_db_env):
    """Every backend from a file: ONNX, a Keras CNN through ``freeze_model``, TFLite; the
    application (tests/ml/apps/run_ml.py) runs them on its colocated database."""
    import numpy as np

    from smartsim.ml.tf import freeze_model

    from .conftest import images, keras_cnn, onnx_bytes, tflite_bytes

    cnn = keras_cnn()
    cnn_file, inputs, outputs = freeze_model(cnn, str(tmp_path), "cnn.pb")
    lite_model, lite = tflite_bytes()
    (tmp_path / "m.tflite").write_bytes(lite)
    (tmp_path / "m.onnx").write_bytes(onnx_bytes(3.0))
    img, x3, x4 = images(1), np.ones((2, 3), dtype=np.float32), np.ones((1, 4), dtype=np.float32)
    np.savez(tmp_path / "inputs.npz", img=img, x3=x3, x4=x4)
    (tmp_path / "spec.json").write_text(json.dumps({
        "inputs": str(tmp_path / "inputs.npz"),
        "calls": [["model", "cnn", ["img"], ["probs"]], ["model", "onnx", ["x3"], ["y3"]],
                  ["model", "lite", ["x4"], ["y4"]]],
        "outputs": ["probs", "y3", "y4"]}))
    rs = exp.create_run_settings(sys.executable, [str(APPS / "run_ml.py"), str(tmp_path / "spec.json")])
    model = exp.create_model("colo_files", rs)
    model.colocate_db_uds(unix_socket=f"/tmp/ss-colo-{uuid.uuid4().hex[:8]}.sock", custom_pinning=[])
    model.add_ml_model("cnn", "TF", model_path=cnn_file, inputs=inputs, outputs=outputs)
    model.add_ml_model("onnx", "ONNX", model_path=str(tmp_path / "m.onnx"))
    model.add_ml_model("lite", "TFLITE", model_path=str(tmp_path / "m.tflite"))
    exp.start(model, block=True)
    assert exp.get_status(model) == [SmartSimStatus.STATUS_COMPLETED], _read(model, "err")
    with np.load(os.path.join(model.path, "ml_outputs.npz")) as out:
        np.testing.assert_allclose(out["probs"], np.asarray(cnn(img)), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(out["y3"], 3 * x3)
        np.testing.assert_allclose(out["y4"], np.asarray(lite_model(x4)), rtol=1e-5, atol=1e-6)
