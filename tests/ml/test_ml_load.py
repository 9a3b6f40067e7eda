"""ML objects attached to entities, stored through the loader (``plan_loads`` + ``store``)
in real databases with executors, then run with the client: a standalone server and a
3-shard cluster (every test runs on both), plus a colocated database's loader."""
from __future__ import annotations

import numpy as np
import pytest

from smartsim._core.control.mlobjects import load_into, plan_loads, store
from smartsim.error import SmartSimError

from .conftest import (images, keras_cnn, member_client, need_tensorflow, onnx_bytes,
                       tflite_bytes, torch_module_bytes)

SCRIPT = """
def negate(x):
    return torch.neg(x)

def add(a, b):
    return a + b
"""


def timesthree(x):
    return 3 * x


def _load(*entities, client):
    ops = plan_loads(entities)
    store(ops, client)
    return ops


@pytest.fixture
def rs(exp):
    return exp.create_run_settings("echo")


def test_torch_model_from_file_and_memory(exp, rs, client, tmp_path):
    blob = torch_module_bytes(2.0)
    (tmp_path / "m.pt").write_bytes(torch_module_bytes(5.0))
    model = exp.create_model("app", rs)
    model.add_ml_model("mem", "TORCH", model=blob)
    model.add_ml_model("file", "torch", model_path=str(tmp_path / "m.pt"), device="cpu")
    ops = _load(model, client=client)
    assert sorted(op.key for op in ops) == ["file", "mem"]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    client.put_tensor("x", x)
    client.run_model("mem", "x", "y")
    client.run_model("file", "x", "z")
    np.testing.assert_array_equal(client.get_tensor("y"), x * 2)
    np.testing.assert_array_equal(client.get_tensor("z"), x * 5)
    assert client.get_model("mem") == blob


def test_onnx_model_from_file(exp, rs, db, client, tmp_path, monkeypatch):
    (tmp_path / "m.onnx").write_bytes(onnx_bytes(3.0))
    model = exp.create_model("app", rs)
    model.add_ml_model("onnx", "ONNX", model_path=str(tmp_path / "m.onnx"))
    # as the controller stores: a client made from the database's addresses alone
    monkeypatch.setenv("SSDB", "127.0.0.1:1")  # the driver's own settings play no part
    monkeypatch.setenv("SSKEYOUT", "driver")
    load_into(plan_loads([model]), db.addresses, cluster=db.kind == "cluster")
    x = np.ones((4, 3), dtype=np.float32)
    client.put_tensor("x", x)
    client.run_model("onnx", "x", "y")
    np.testing.assert_array_equal(client.get_tensor("y"), x * 3)


def test_keras_cnn_serialized_and_frozen(exp, rs, client, tmp_path):
    """The Ensemble chapter: serialize_model (memory) and freeze_model (file)."""
    need_tensorflow()
    from smartsim.ml.tf import freeze_model, serialize_model

    cnn = keras_cnn()
    blob, inputs, outputs = serialize_model(cnn)
    assert isinstance(blob, bytes) and inputs and outputs
    path, f_inputs, f_outputs = freeze_model(cnn, str(tmp_path), "cnn")
    assert path == str((tmp_path / "cnn.pb").resolve()) and (f_inputs, f_outputs) == (inputs, outputs)
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=2)
    ens.add_ml_model("cnn", "TF", model=blob, device="CPU", inputs=inputs, outputs=outputs)
    ens.add_ml_model("cnn_file", "TF", model_path=path, inputs=inputs, outputs=outputs)
    assert sorted(op.key for op in _load(ens, client=client)) == ["cnn", "cnn_file"]
    x = images(2)
    expected = np.asarray(cnn(x))
    client.put_tensor("img", x)
    client.run_model("cnn", "img", "probs")
    client.run_model("cnn_file", "img", "probs_file")
    np.testing.assert_allclose(client.get_tensor("probs"), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(client.get_tensor("probs_file"), expected, rtol=1e-5, atol=1e-6)


def test_tflite_model(exp, rs, client, tmp_path):
    keras_model, blob = tflite_bytes()
    (tmp_path / "m.tflite").write_bytes(blob)
    model = exp.create_model("app", rs)
    model.add_ml_model("lite", "TFLITE", model=blob)
    model.add_ml_model("lite_file", "TFLITE", model_path=str(tmp_path / "m.tflite"))
    _load(model, client=client)
    x = np.random.default_rng(1).random((1, 4), dtype=np.float32)
    client.put_tensor("x", x)
    client.run_model("lite", "x", "y")
    client.run_model("lite_file", "x", "z")
    expected = np.asarray(keras_model(x))
    np.testing.assert_allclose(client.get_tensor("y"), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(client.get_tensor("z"), expected, rtol=1e-5, atol=1e-6)


def test_scripts_from_string_file_and_function(exp, rs, client, tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "script.py").write_text(SCRIPT)
    model = exp.create_model("app", rs)
    model.add_script("s_str", script=SCRIPT)
    model.add_script("s_file", script_path=str(tmp_path / "script.py"))
    model.add_function("f", timesthree)
    _load(model, client=client)
    x = np.array([1.0, -2.0, 3.0], dtype=np.float32)
    client.put_tensor("x", x)
    client.run_script("s_str", "negate", ["x"], ["neg"])
    client.run_script("s_file", "add", ["x", "x"], ["sum"])
    client.run_script("f", "timesthree", ["x"], ["x3"])
    np.testing.assert_array_equal(client.get_tensor("neg"), -x)
    np.testing.assert_array_equal(client.get_tensor("sum"), x + x)
    np.testing.assert_array_equal(client.get_tensor("x3"), 3 * x)
    assert client.get_script("s_str") == SCRIPT


def _decode(value):
    return value.decode() if isinstance(value, bytes) else value


def test_batching_settings_visible_in_modelget_meta(exp, rs, db, client):
    model = exp.create_model("app", rs)
    model.add_ml_model("batched", "TORCH", model=torch_module_bytes(), batch_size=8,
                       min_batch_size=2, min_batch_timeout=50, tag="v2")
    _load(model, client=client)
    copies = 0
    for shard in db.shard_clients():
        for key in shard.keys("*batched"):
            meta = shard.execute_command("AI.MODELGET", key, "META")
            fields = dict(zip([_decode(k) for k in meta[0::2]], meta[1::2]))
            assert _decode(fields["backend"]) == "TORCH" and _decode(fields["tag"]) == "v2"
            assert (fields["batchsize"], fields["minbatchsize"], fields["minbatchtimeout"]) == (8, 2, 50)
            copies += 1
        shard.close()
    assert copies == (3 if db.kind == "cluster" else 1)  # on every shard of a cluster
    x = np.ones((1, 3), dtype=np.float32)
    client.put_tensor("x", x)
    client.run_model("batched", "x", "y")
    np.testing.assert_array_equal(client.get_tensor("y"), x * 2)


def test_four_member_ensemble_runs_on_its_own_prefixed_tensors(exp, rs, client, clean_env, db):
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=4)
    ens.add_ml_model("double", "TORCH", model=torch_module_bytes(2.0))
    ens.add_script("s", script=SCRIPT)
    ens.add_function("f", timesthree)
    ops = _load(ens, client=client)
    assert sorted(op.key for op in ops) == ["double", "f", "s"]  # once, not once per member
    members = [member_client(clean_env, m.name) for m in ens]
    for i, c in enumerate(members):
        c.put_tensor("x", np.full(3, float(i + 1), dtype=np.float32))
    for i, c in enumerate(members):
        c.run_model("double", "x", "y")
        c.run_script("s", "negate", ["y"], ["z"])
        c.run_script("f", "timesthree", ["z"], ["w"])
    for i, c in enumerate(members):
        np.testing.assert_array_equal(c.get_tensor("w"), np.full(3, -6.0 * (i + 1), dtype=np.float32))
        c.close()
    for i in range(4):  # the members' keys, as the driver sees them
        np.testing.assert_array_equal(client.get_tensor(f"ens_{i}.y"),
                                      np.full(3, 2.0 * (i + 1), dtype=np.float32))
        assert not client.model_exists(f"ens_{i}.double")


def test_member_specific_models_are_stored_under_member_prefixes(exp, rs, client, clean_env):
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=4)
    for i, member in enumerate(ens):
        member.add_ml_model("scale", "TORCH", model=torch_module_bytes(float(i + 1)))
    ops = _load(ens, client=client)
    assert sorted(op.key for op in ops) == [f"ens_{i}.scale" for i in range(4)]
    assert not client.model_exists("scale")
    for i, member in enumerate(ens):
        c = member_client(clean_env, member.name, model_prefix=True)
        c.put_tensor("x", np.ones(2, dtype=np.float32))
        c.run_model("scale", "x", "y")  # finds <member>.scale
        np.testing.assert_array_equal(c.get_tensor("y"), np.full(2, float(i + 1), dtype=np.float32))
        c.close()


def test_a_rejected_model_is_reported_with_its_name(exp, rs, client):
    model = exp.create_model("app", rs)
    model.add_ml_model("garbage", "TORCH", model=b"not a torchscript archive")
    with pytest.raises(SmartSimError) as info:
        _load(model, client=client)
    assert "'garbage'" in str(info.value) and "attached to 'app'" in str(info.value)
    assert not client.model_exists("garbage")


def test_colocated_loader_stores_files_and_strings(exp, rs, standalone_db, tmp_path):
    """What the colocated wrapper does once its database answers: load_colocated through
    the wrapper's own RESP client (here against the test base's standalone server)."""
    import importlib.util
    import os

    from smartsim._core.control import mlobjects
    from smartsim.client import Client

    server_dir = os.path.join(os.path.dirname(os.path.dirname(mlobjects.__file__)), "server")
    spec = importlib.util.spec_from_file_location("miniresp", os.path.join(server_dir, "miniresp.py"))
    miniresp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(miniresp)

    (tmp_path / "m.pt").write_bytes(torch_module_bytes(4.0))
    (tmp_path / "s.py").write_text(SCRIPT)
    model = exp.create_model("colo", rs)
    model.colocate_db_tcp(port=standalone_db.port)
    model.add_ml_model("m", "TORCH", model_path=str(tmp_path / "m.pt"), batch_size=4)
    model.add_script("s_str", script=SCRIPT)
    model.add_script("s_file", script_path=str(tmp_path / "s.py"))
    path = mlobjects.write_colocated_spec(model, str(tmp_path))
    with miniresp.connect(standalone_db.host, standalone_db.port, timeout=120) as conn:
        assert mlobjects.load_colocated(path, conn) == 3
    c = Client(None, logger_name="app")
    x = np.array([1.0, 2.0], dtype=np.float32)
    c.put_tensor("x", x)
    c.run_model("m", "x", "y")
    c.run_script("s_str", "negate", ["y"], ["z"])
    c.run_script("s_file", "add", ["z", "x"], ["w"])
    np.testing.assert_array_equal(c.get_tensor("w"), -4 * x + x)
    c.close()
    # a blob the backend rejects: the error names the object
    (tmp_path / "m.pt").write_bytes(b"garbage")
    with miniresp.connect(standalone_db.host, standalone_db.port, timeout=120) as conn:
        with pytest.raises(mlobjects.ColocatedLoadError, match="'m'"):
            mlobjects.load_colocated(path, conn)
