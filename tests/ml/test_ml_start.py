"""ML objects loaded by ``exp.start``: Orchestrators the experiment started (a standalone
database and a 3-shard cluster, each with its executors, shared by the module's tests),
applications that are real processes using ``smartsim.client``, and every refusal.

Each application runs the objects the driver attached to it; it fails if they are not in
the database when it starts. The outputs it saves are compared with the same computation
in the driver."""
from __future__ import annotations

import json
import os
import sys
import typing as t
from pathlib import Path

import numpy as np
import pytest

from smartsim import Experiment
from smartsim._core.server import miniresp
from smartsim.client import Client, ConfigOptions
from smartsim.error import SmartSimError, SSNoDatabaseError, SSUnsupportedError
from smartsim.status import SmartSimStatus

from tests._testbase import free_ports

from .conftest import images, keras_cnn, need_tensorflow, onnx_bytes, tflite_bytes, torch_module_bytes
from .test_ml_load import SCRIPT, timesthree

APPS = Path(__file__).resolve().parent / "apps"
_COMPLETED = SmartSimStatus.STATUS_COMPLETED
_NEVER = SmartSimStatus.STATUS_NEVER_STARTED
_CLIENT_VARS = ("SSDB", "SR_DB_TYPE", "SSKEY")


def _clean_environment(mp: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(_CLIENT_VARS):
            mp.delenv(key, raising=False)
    mp.setenv("SR_LOG_LEVEL", "quiet")


class Started:
    """An experiment with one running database of ``kind`` (standalone or cluster)."""

    def __init__(self, exp: Experiment, db: t.Any, kind: str, tmp: Path) -> None:
        self.exp, self.db, self.kind, self.tmp = exp, db, kind, tmp

    def client(self) -> Client:
        return Client(cluster=self.kind == "cluster", address=self.db.get_address()[0],
                      logger_name="driver")

    def shard_keys(self, pattern: str) -> t.List[t.Tuple[str, bytes]]:
        """(shard address, key) for every key matching ``pattern`` on every shard."""
        out = []
        for address in self.db.get_address():
            host, port = address.rsplit(":", 1)
            with miniresp.connect(host, int(port)) as conn:
                out.extend((address, key) for key in conn.call("KEYS", pattern))
        return out

    def run_app(self, name: str, attach: t.Callable[[t.Any], None], inputs: t.Dict[str, np.ndarray],
                calls: t.List[t.List[t.Any]], outputs: t.List[str], replicas: int = 0
                ) -> t.List[t.Dict[str, np.ndarray]]:
        """Start a model (or an ensemble of ``replicas``) running tests/ml/apps/run_ml.py
        with ``attach(entity)`` applied; return each process's saved outputs."""
        spec_dir = self.tmp / f"spec-{name}"
        spec_dir.mkdir()
        np.savez(spec_dir / "inputs.npz", **inputs)
        spec = spec_dir / "spec.json"
        spec.write_text(json.dumps({"inputs": str(spec_dir / "inputs.npz"), "calls": calls,
                                    "outputs": outputs}))
        rs = self.exp.create_run_settings(sys.executable, [str(APPS / "run_ml.py"), str(spec)])
        if replicas:
            entity = self.exp.create_ensemble(name, run_settings=rs, replicas=replicas)
            members = list(entity)
        else:
            entity = self.exp.create_model(name, rs)
            members = [entity]
        attach(entity)
        self.exp.start(entity, block=True)
        results = []
        for member in members:
            err = Path(member.path, f"{member.name}.err")
            assert self.exp.get_status(member) == [_COMPLETED], err.read_text()
            with np.load(Path(member.path, "ml_outputs.npz")) as saved:
                results.append(dict(saved))
        return results


@pytest.fixture(scope="module", params=["standalone", "cluster"])
def started(request, tmp_path_factory):
    """One experiment per kind with its database (and executors) up for the module."""
    kind = request.param
    tmp = tmp_path_factory.mktemp(f"ml-start-{kind}")
    with pytest.MonkeyPatch.context() as mp:
        _clean_environment(mp)
        mp.delenv("SMARTSIM_EXECUTOR", raising=False)
        exp = Experiment(f"ml_{kind}", exp_path=str(tmp / "exp"), launcher="local")
        shards = 3 if kind == "cluster" else 1
        db = exp.create_database(port=free_ports(shards, cluster=shards > 1), db_nodes=shards)
        exp.start(db)
        try:
            yield Started(exp, db, kind, tmp)
        finally:
            exp.stop(db)


@pytest.fixture
def on_db(started, monkeypatch):
    _clean_environment(monkeypatch)
    return started


# ------------------------------------------------------------------ objects, through exp.start
def test_torch_onnx_scripts_and_function_are_loaded_before_the_model_starts(on_db):
    """TorchScript from memory and from file, ONNX from file, a script from a string and
    from a file, a function from a callable: all in the database when the app starts."""
    pytest.importorskip("torch")
    tmp = on_db.tmp
    (tmp / "scale5.pt").write_bytes(torch_module_bytes(5.0))
    (tmp / "m.onnx").write_bytes(onnx_bytes(3.0))
    (tmp / "script.py").write_text(SCRIPT)

    def attach(model):
        model.add_ml_model("t_mem", "TORCH", model=torch_module_bytes(2.0))
        model.add_ml_model("t_file", "TORCH", model_path=str(tmp / "scale5.pt"), device="CPU")
        model.add_ml_model("onnx_file", "ONNX", model_path=str(tmp / "m.onnx"))
        model.add_script("s_str", script=SCRIPT)
        model.add_script("s_file", script_path=str(tmp / "script.py"))
        model.add_function("f", timesthree)

    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    [out] = on_db.run_app("objects", attach, {"x": x}, [
        ["model", "t_mem", ["x"], ["a"]],
        ["model", "t_file", ["x"], ["b"]],
        ["model", "onnx_file", ["x"], ["c"]],
        ["script", "s_str", "negate", ["x"], ["d"]],
        ["script", "s_file", "add", ["a", "b"], ["e"]],
        ["script", "f", "timesthree", ["x"], ["g"]],
    ], ["a", "b", "c", "d", "e", "g"])
    np.testing.assert_array_equal(out["a"], 2 * x)
    np.testing.assert_array_equal(out["b"], 5 * x)
    np.testing.assert_array_equal(out["c"], 3 * x)
    np.testing.assert_array_equal(out["d"], -x)
    np.testing.assert_array_equal(out["e"], 7 * x)
    np.testing.assert_array_equal(out["g"], 3 * x)
    # stored once each, on every shard of a cluster
    shards = len(on_db.db.get_address())
    for key in ("t_mem", "t_file", "onnx_file", "s_str", "s_file", "f"):
        assert len(on_db.shard_keys(f"*{key}")) == shards, key
    c = on_db.client()
    assert c.get_script("s_str") == SCRIPT
    assert c.get_script("s_file") == SCRIPT
    c.close()


def test_keras_cnn_on_an_ensemble_serialized_and_frozen(on_db):
    """The Ensemble chapter: ``serialize_model`` (memory) and ``freeze_model`` (file) on an
    ensemble; both members run both copies on their own images."""
    need_tensorflow()
    from smartsim.ml.tf import freeze_model, serialize_model

    cnn = keras_cnn()
    model, inputs, outputs = serialize_model(cnn)
    model_file, f_inputs, f_outputs = freeze_model(cnn, str(on_db.tmp), "cnn.pb")

    def attach(ensemble_instance):
        ensemble_instance.add_ml_model(name="cnn", backend="TF", model=model, device="CPU",
                                       inputs=inputs, outputs=outputs)
        ensemble_instance.add_ml_model(name="cnn_file", backend="TF", model_path=model_file,
                                       device="CPU", inputs=f_inputs, outputs=f_outputs)

    x = images(2)
    results = on_db.run_app("cnn_ens", attach, {"img": x}, [
        ["model", "cnn", ["img"], ["probs"]],
        ["model", "cnn_file", ["img"], ["probs_file"]],
    ], ["probs", "probs_file"], replicas=2)
    expected = np.asarray(cnn(x))
    for out in results:
        np.testing.assert_allclose(out["probs"], expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["probs_file"], expected, rtol=1e-5, atol=1e-6)
    c = on_db.client()
    assert c.model_exists("cnn") and c.model_exists("cnn_file")
    assert not c.model_exists("cnn_ens_0.cnn")  # shared: stored once, not per member
    c.close()


def test_tflite_model_from_memory_and_file(on_db):
    keras_model, blob = tflite_bytes()
    (on_db.tmp / "m.tflite").write_bytes(blob)

    def attach(model):
        model.add_ml_model("lite", "TFLITE", model=blob)
        model.add_ml_model("lite_file", "TFLITE", model_path=str(on_db.tmp / "m.tflite"))

    x = np.random.default_rng(1).random((1, 4), dtype=np.float32)
    [out] = on_db.run_app("tflite", attach, {"x": x}, [
        ["model", "lite", ["x"], ["y"]], ["model", "lite_file", ["x"], ["z"]]], ["y", "z"])
    expected = np.asarray(keras_model(x))
    np.testing.assert_allclose(out["y"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["z"], expected, rtol=1e-5, atol=1e-6)


def _decode(value):
    return value.decode() if isinstance(value, bytes) else value


def test_gpu_models_run_on_the_gpus_of_the_database_host(on_db):
    """The database's executors serve its host's GPUs too (``--device auto``): a model added
    with ``device="GPU"`` and one on two GPUs (``devices_per_node=2``) run there."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    gpus = 2 if torch.cuda.device_count() >= 2 else 0  # the multi-GPU part needs two

    def attach(model):
        model.add_ml_model("t_gpu", "TORCH", model=torch_module_bytes(2.0), device="GPU")
        if gpus:
            model.add_ml_model("t_multi", "TORCH", model=torch_module_bytes(3.0), device="GPU",
                               devices_per_node=gpus)

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    calls = [["model", "t_gpu", ["x"], ["a"]]] + [
        ["model", f"t_multi.GPU:{i}", ["x"], [f"b{i}"]] for i in range(gpus)]
    [out] = on_db.run_app("gpu", attach, {"x": x}, calls, ["a"] + [f"b{i}" for i in range(gpus)])
    np.testing.assert_array_equal(out["a"], 2 * x)
    for i in range(gpus):
        np.testing.assert_array_equal(out[f"b{i}"], 3 * x)


def test_batching_settings_visible_in_modelget_meta(on_db):
    def attach(model):
        model.add_ml_model("batched", "TORCH", model=torch_module_bytes(2.0), batch_size=8,
                           min_batch_size=2, min_batch_timeout=50, tag="v2")

    x = np.ones((1, 3), dtype=np.float32)
    [out] = on_db.run_app("batching", attach, {"x": x}, [["model", "batched", ["x"], ["y"]]], ["y"])
    np.testing.assert_array_equal(out["y"], 2 * x)
    found = on_db.shard_keys("*batched")
    assert len(found) == len(on_db.db.get_address())  # on every shard of a cluster
    for address, key in found:
        host, port = address.rsplit(":", 1)
        with miniresp.connect(host, int(port)) as conn:
            meta = conn.call("AI.MODELGET", key, "META")
        fields = dict(zip([_decode(k) for k in meta[0::2]], meta[1::2]))
        assert _decode(fields["backend"]) == "TORCH" and _decode(fields["tag"]) == "v2"
        assert (fields["batchsize"], fields["minbatchsize"], fields["minbatchtimeout"]) == (8, 2, 50)


def test_four_member_ensemble_runs_on_its_own_prefixed_tensors(on_db):
    """Shared objects are stored once under their names; each member's own model under
    ``<member>.scale``; each member works on its own ``<member>.*`` tensors."""
    pytest.importorskip("torch")
    rs = on_db.exp.create_run_settings(sys.executable, [str(APPS / "member_ml.py")])
    ens = on_db.exp.create_ensemble("ens", run_settings=rs, replicas=4)
    ens.add_ml_model("double", "TORCH", model=torch_module_bytes(2.0))
    ens.add_script("s", script=SCRIPT)
    ens.add_function("f", timesthree)
    for i, member in enumerate(ens):
        member.add_ml_model("scale", "TORCH", model=torch_module_bytes(10.0 * (i + 1)))
    on_db.exp.start(ens, block=True)
    c = on_db.client()
    for i, member in enumerate(ens):
        assert on_db.exp.get_status(member) == [_COMPLETED], \
            Path(member.path, f"{member.name}.err").read_text()
        out = Path(member.path, f"{member.name}.out").read_text()
        v = float(i + 1)
        assert f"w {[-6.0 * v] * 3}" in out and f"v {[10.0 * (i + 1) * v] * 3}" in out, out
        # the member's tensors, as the driver sees them
        np.testing.assert_array_equal(c.get_tensor(f"ens_{i}.x"), np.full(3, v, dtype=np.float32))
        np.testing.assert_array_equal(c.get_tensor(f"ens_{i}.w"), np.full(3, -6 * v, dtype=np.float32))
        assert c.model_exists(f"ens_{i}.scale") and not c.model_exists(f"ens_{i}.double")
    for key in ("double", "s", "f"):
        assert c.model_exists(key)
    assert not c.model_exists("scale")
    c.close()


def test_a_model_the_backend_rejects_stops_the_start(on_db):
    rs = on_db.exp.create_run_settings(sys.executable, [str(APPS / "exists.py"), "garbage"])
    model = on_db.exp.create_model("rejected", rs)
    model.add_ml_model("garbage", "TORCH", model=b"not a torchscript archive")
    with pytest.raises(SmartSimError) as info:
        on_db.exp.start(model, block=True)
    text = str(info.value)
    assert "'garbage'" in text and "'rejected'" in text and on_db.db.name in text, text
    assert "Nothing of this start was launched" in text
    assert on_db.exp.get_status(model) == [_NEVER]
    assert not os.path.exists(os.path.join(model.path, "rejected.out"))


# ----------------------------------------------------------------- databases of the same call
@pytest.fixture
def no_executor(monkeypatch):
    """Databases without executor sidecars: objects are stored without validation, which
    is all these tests look at (and they start in a fraction of a second)."""
    _clean_environment(monkeypatch)
    monkeypatch.setenv("SMARTSIM_EXECUTOR", "0")


def _stop_all(exp, *dbs):
    for db in dbs:
        if db.is_active():
            exp.stop(db)


def test_database_in_the_same_call_and_every_running_database_gets_the_objects(exp, no_executor):
    """``exp.start(db, other_db, model)``: the databases start first, the objects go into
    each of them, then the model starts and finds them."""
    first = exp.create_database(port=free_ports(1))
    second = exp.create_database(port=free_ports(1), db_identifier="second")
    rs = exp.create_run_settings(sys.executable, [str(APPS / "exists.py"), "m", "s", "f"])
    model = exp.create_model("same_call", rs)
    model.add_ml_model("m", "TORCH", model=b"a model blob")
    model.add_script("s", script=SCRIPT)
    model.add_function("f", timesthree)
    try:
        exp.start(first, second, model, block=True)
        assert exp.get_status(model) == [_COMPLETED], Path(model.path, "same_call.err").read_text()
        out = Path(model.path, "same_call.out").read_text()
        assert out.split("\n")[:3] == ["m True", "s True", "f True"], out
        for db in (first, second):
            c = Client(cluster=False, address=db.get_address()[0], logger_name="driver")
            assert c.get_model("m") == b"a model blob" and c.get_script("s") == SCRIPT
            c.close()
        # once every database is stopped there is nowhere to load them: refused
        exp.stop(first, second)
        with pytest.raises(SSNoDatabaseError):
            exp.start(model, block=True)
        assert len(exp.summary_data()) == 3  # two shards and the one run of the model
    finally:
        _stop_all(exp, first, second)


# ---------------------------------------------------------------------------------- refusals
def _nothing_launched(exp, *entities):
    ctrl = exp._control_
    if ctrl is not None:
        assert ctrl.live_tasks() == []
        assert exp.summary_data() == []
    for entity in entities:
        assert exp.get_status(entity) == [_NEVER] * max(1, len(getattr(entity, "models", ()) or ()))


def test_start_with_ml_objects_and_no_database_is_refused(exp, no_executor, tmp_path):
    (tmp_path / "m.pt").write_bytes(b"blob")
    rs = exp.create_run_settings(sys.executable, [str(APPS / "exists.py")])
    model = exp.create_model("lonely", rs)
    model.add_ml_model("cnn", "TF", model=b"blob", inputs=["x"], outputs=["y"])
    with pytest.raises(SSNoDatabaseError) as info:
        exp.start(model, block=True)
    text = str(info.value)
    assert "'cnn'" in text and "'lonely'" in text and "Orchestrator" in text and "colocate" in text
    assert "Nothing was launched" in text
    assert not os.path.exists(model.path)  # not even its directory
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=4)
    ens.add_script("s", script_path=str(tmp_path / "m.pt"))
    with pytest.raises(SSNoDatabaseError, match=r"script 's' \(attached to 4 members of ensemble 'ens'\)"):
        exp.start(model, ens, block=True)
    other = exp.create_model("plain", exp.create_run_settings("echo"))  # no ML objects: starts
    _nothing_launched(exp, model, ens, other)
    exp.start(other, block=True)
    assert exp.get_status(other) == [_COMPLETED]
    assert exp.get_status(model) == [_NEVER]


def test_ml_objects_without_the_module_are_refused_before_the_database_starts(exp, no_executor,
                                                                              monkeypatch):
    from smartsim._core.server import discovery

    monkeypatch.setattr(discovery, "find_ai_module", lambda: None)  # as after `smart clean`
    db = exp.create_database(port=free_ports(1))
    model = exp.create_model("needs_ai", exp.create_run_settings("echo"))
    model.add_ml_model("m", "TORCH", model=b"blob")
    with pytest.raises(SmartSimError, match=r"ML model 'm' \(attached to 'needs_ai'\) cannot be stored: "
                                            r"the RedisAI-compatible module .* is missing.*smart build"):
        exp.start(db, model, block=True)
    assert not db.is_active()
    _nothing_launched(exp, model)


def test_a_name_clash_is_refused_before_the_database_of_the_call_starts(exp, no_executor):
    db = exp.create_database(port=free_ports(1))
    rs = exp.create_run_settings("echo")
    a, b = exp.create_model("a", rs), exp.create_model("b", rs)
    a.add_ml_model("m", "TORCH", model=b"one")
    b.add_ml_model("m", "TORCH", model=b"two")  # neither has key prefixing
    with pytest.raises(SSUnsupportedError, match="'m'"):
        exp.start(db, a, b, block=True)
    assert not db.is_active()
    _nothing_launched(exp, a, b)


def test_colocated_memory_objects_are_refused_and_nothing_runs(exp, no_executor):
    rs = exp.create_run_settings(sys.executable, [str(APPS / "exists.py")])
    model = exp.create_model("colo", rs)
    model.colocate_db_tcp(port=free_ports(1))
    with pytest.raises(SSUnsupportedError, match="colocated"):
        model.add_ml_model("m", "TORCH", model=b"blob")
    with pytest.raises(SSUnsupportedError, match="colocated"):
        model.add_function("f", timesthree)
    assert list(model.db_models) == [] and list(model.db_scripts) == []
    _nothing_launched(exp, model)
