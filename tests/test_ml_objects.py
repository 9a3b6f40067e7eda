"""ML objects on models and ensembles (add_ml_model / add_script / add_function), without a
database: every argument check, duplicates, ensemble members (lazy, touched, added later),
the db_models / db_scripts properties, the loader's plan (which keys), the store calls it
makes, and the colocated description and loader."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from smartsim._core.control import mlobjects
from smartsim._core.control.mlobjects import LoadOp, plan_loads, store
from smartsim.entity.dbobject import DBModel, DBScript
from smartsim.error import SmartSimError, SSUnsupportedError

TS = "def double(x):\n    return x * 2\n"


@pytest.fixture
def rs(exp):
    return exp.create_run_settings("echo")


@pytest.fixture
def files(tmp_path):
    d = tmp_path / "ml"
    d.mkdir()
    (d / "model.pt").write_bytes(b"torchscript bytes")
    (d / "copy.pt").write_bytes(b"torchscript bytes")
    (d / "other.pt").write_bytes(b"other bytes")
    (d / "empty.pt").write_bytes(b"")
    (d / "script.py").write_text(TS)
    (d / "bad.py").write_text("def f(x)\n    return x\n")
    (d / "latin1.py").write_bytes(b"# \xe9\ndef f(x):\n    return x\n")
    return d


def timestwo(x):
    return 2 * x


# -- Model -------------------------------------------------------------------------

def test_model_add_ml_model_records_everything(exp, rs, files):
    model = exp.create_model("m", rs)
    model.add_ml_model("mem", "torch", model=b"blob", device="gpu", devices_per_node=2,
                       first_device=1, batch_size=8, min_batch_size=4, min_batch_timeout=10,
                       tag="v1")
    model.add_ml_model("file", "TF", model_path=str(files / "model.pt"), inputs="x",
                       outputs=["y", "z"])
    mem, file_ = list(model.db_models)
    assert isinstance(mem, DBModel)
    assert (mem.name, mem.backend, mem.model, mem.file, mem.is_file) == ("mem", "TORCH", b"blob", None, False)
    assert (mem.device, mem.devices_per_node, mem.first_device) == ("GPU", 2, 1)
    assert mem.devices == ["GPU:1", "GPU:2"]
    assert (mem.batch_size, mem.min_batch_size, mem.min_batch_timeout, mem.tag) == (8, 4, 10, "v1")
    assert file_.is_file and file_.model is None
    assert file_.file == (files / "model.pt").resolve()
    assert (file_.inputs, file_.outputs) == (["x"], ["y", "z"])
    assert file_.devices == ["CPU"]
    assert "DB Models" in str(model)
    assert "Backend: TORCH" in str(mem) and "Batch size: 8" in str(mem)


def test_model_add_script_and_function(exp, rs, files):
    model = exp.create_model("m", rs)
    model.add_script("s_str", script=TS)
    model.add_script("s_file", script_path=str(files / "script.py"), device="CPU")
    model.add_function("f", function=timestwo)
    s_str, s_file, func = list(model.db_scripts)
    assert all(isinstance(s, DBScript) for s in (s_str, s_file, func))
    assert s_str.script == TS and s_str.source == TS and not s_str.is_file
    assert s_file.is_file and s_file.file == (files / "script.py").resolve() and s_file.script is None
    assert func.script is timestwo and func.is_function
    assert func.source.startswith("def timestwo(x):") and "return 2 * x" in func.source
    assert list(model.db_models) == []


def test_function_source_is_dedented_without_decorators(exp, rs):
    def deco(fn):
        return fn

    @deco
    def inner(a, b):
        return a + b

    model = exp.create_model("m", rs)
    model.add_function("inner", inner)
    (script,) = model.db_scripts
    assert script.source == "def inner(a, b):\n    return a + b\n"


def test_db_models_property_is_a_read_only_view(exp, rs):
    model = exp.create_model("m", rs)
    model.add_ml_model("a", "ONNX", model=b"x")
    view = model.db_models
    assert not isinstance(view, list)
    assert [m.name for m in view] == ["a"]
    assert [m.name for m in model.db_models] == ["a"]  # a fresh iterator each time


BAD_MODEL_ARGS = [
    (dict(backend="PYTORCH"), ValueError, "Backend type PYTORCH unsupported"),
    (dict(backend=3), TypeError, "backend"),
    (dict(model=None), ValueError, "Either model or model_file must be provided"),
    (dict(model=b""), ValueError, "Either model or model_file must be provided"),
    (dict(model="text"), TypeError, "bytes"),
    (dict(model_path="MISSING"), FileNotFoundError, "MISSING.pt"),
    (dict(model_path="EMPTY", model=None), ValueError, "empty"),
    (dict(model_path="FILE"), ValueError, "not both"),
    (dict(device="TPU"), ValueError, "Device argument must start with either CPU or GPU"),
    (dict(device="GPUX"), ValueError, "'GPUX'"),
    (dict(device="GPU:a"), ValueError, "'GPU:a'"),
    (dict(device=0), TypeError, "device"),
    (dict(device="GPU", devices_per_node=0), ValueError, "devices_per_node must be a positive int, got 0"),
    (dict(device="GPU", devices_per_node="2"), TypeError, "devices_per_node"),
    (dict(device="GPU", devices_per_node=True), TypeError, "devices_per_node"),
    (dict(devices_per_node=2), SSUnsupportedError, "Cannot set devices_per_node>1 if CPU is specified"),
    (dict(first_device=1), SSUnsupportedError, "Cannot set first_device>0 if CPU is specified"),
    (dict(device="GPU", first_device=-1), ValueError, "first_device must be a non-negative int, got -1"),
    (dict(device="GPU:1", devices_per_node=2), ValueError, "device numeral"),
    (dict(device="GPU:1", first_device=2), ValueError, "first_device==2"),
    (dict(batch_size=-1), ValueError, "batch_size must be a non-negative int, got -1"),
    (dict(batch_size=2.0), TypeError, "batch_size"),
    (dict(min_batch_size=4), ValueError, "min_batch_size=4 needs batch_size > 0"),
    (dict(batch_size=4, min_batch_size=8), ValueError, "min_batch_size=8 is larger than batch_size=4"),
    (dict(batch_size=4, min_batch_timeout=10), ValueError, "min_batch_timeout=10 needs min_batch_size"),
    (dict(batch_size=4, min_batch_size=2, min_batch_timeout=-5), ValueError, "got -5"),
    (dict(tag=5), TypeError, "tag"),
    (dict(backend="TF"), ValueError, "needs the names of its input and output nodes"),
    (dict(backend="TF", inputs=["x"]), ValueError, "needs the names"),
    (dict(backend="TORCH", inputs=["x"], outputs=["y"]), ValueError, "only valid for TF models, not TORCH"),
    (dict(backend="TFLITE", outputs="y"), ValueError, "not TFLITE"),
    (dict(backend="TF", inputs=[1], outputs=["y"]), ValueError, "1"),
    (dict(backend="TF", inputs={"x": 1}, outputs=["y"]), TypeError, "inputs"),
    (dict(name=""), ValueError, "''"),
    (dict(name=7), TypeError, "7"),
    (dict(name="a\nb"), ValueError, "a\\nb"),
]


@pytest.mark.parametrize("kwargs,exc,text", BAD_MODEL_ARGS)
def test_add_ml_model_refuses_bad_arguments(exp, rs, files, kwargs, exc, text):
    paths = {"MISSING": str(files / "MISSING.pt"), "EMPTY": str(files / "empty.pt"),
             "FILE": str(files / "model.pt")}
    args = dict(name="m", backend="TORCH", model=b"blob")
    args.update(kwargs)
    if "model_path" in args:
        args["model_path"] = paths[args["model_path"]]
    model = exp.create_model("m", rs)
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=2)
    for target in (model, ens):
        with pytest.raises(exc) as info:
            target.add_ml_model(**args)
        assert text in str(info.value)
        assert isinstance(info.value, SmartSimError) or exc is FileNotFoundError
    assert list(model.db_models) == [] and list(ens.db_models) == []
    assert all(list(m.db_models) == [] for m in ens)


def test_backends_and_devices_accepted(exp, rs):
    model = exp.create_model("m", rs)
    for i, backend in enumerate(["tf", "TFLite", "Torch", "onnx"]):
        io = dict(inputs=["x"], outputs=["y"]) if backend == "tf" else {}
        model.add_ml_model(f"m{i}", backend, model=b"blob", **io)
    model.add_ml_model("g", "TORCH", model=b"b", device="gpu:3")
    model.add_ml_model("c", "TORCH", model=bytearray(b"b"), device="cpu")
    assert [m.backend for m in model.db_models] == ["TF", "TFLITE", "TORCH", "ONNX", "TORCH", "TORCH"]
    assert [m.device for m in model.db_models][-2:] == ["GPU:3", "CPU"]
    assert list(model.db_models)[-1].model == b"b"


BAD_SCRIPT_ARGS = [
    (dict(), ValueError, "Either script or script_path must be provided"),
    (dict(script=TS, script_path="FILE"), ValueError, "not both"),
    (dict(script_path="MISSING"), FileNotFoundError, "none.py"),
    (dict(script_path="BAD"), ValueError, "line 1"),
    (dict(script_path="LATIN1"), ValueError, "not UTF-8"),
    (dict(script="def f(x)\n  return x\n"), ValueError, "not valid TorchScript"),
    (dict(script=42), TypeError, "int"),
    (dict(script=TS, device="FPGA"), ValueError, "Device argument must start with either CPU or GPU"),
    (dict(script=TS, devices_per_node=3), SSUnsupportedError, "devices_per_node>1"),
    (dict(script=TS, device="GPU:0", devices_per_node=3), ValueError, "device numeral"),
    (dict(script=TS, name=None), TypeError, "None"),
]


@pytest.mark.parametrize("kwargs,exc,text", BAD_SCRIPT_ARGS)
def test_add_script_refuses_bad_arguments(exp, rs, files, kwargs, exc, text):
    paths = {"MISSING": str(files / "none.py"), "BAD": str(files / "bad.py"),
             "LATIN1": str(files / "latin1.py"), "FILE": str(files / "script.py")}
    args = dict(name="s")
    args.update(kwargs)
    if "script_path" in args:
        args["script_path"] = paths[args["script_path"]]
    model = exp.create_model("m", rs)
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=2)
    for target in (model, ens):
        with pytest.raises(exc) as info:
            target.add_script(**args)
        assert text in str(info.value)
    assert list(model.db_scripts) == [] and list(ens.db_scripts) == []


def test_add_function_refuses_what_has_no_source(exp, rs):
    model = exp.create_model("m", rs)
    with pytest.raises(ValueError, match="lambda"):
        model.add_function("f", lambda x: x)
    with pytest.raises(TypeError, match="defined with def"):
        model.add_function("f", len)
    with pytest.raises(ValueError, match="Either script or script_path"):
        model.add_function("f")
    with pytest.raises(TypeError, match="int"):
        model.add_function("f", 3)
    ns = {}
    exec("def made(x):\n    return x\n", ns)  # no source file to read
    with pytest.raises(ValueError, match="cannot read the source of function 'f'"):
        model.add_function("f", ns["made"])
    with pytest.raises(SSUnsupportedError, match="devices_per_node>1"):
        model.add_function("f", timestwo, devices_per_node=2)
    assert list(model.db_scripts) == []
    model.add_function("f", timestwo, device="GPU", devices_per_node=2, first_device=2)
    assert list(model.db_scripts)[0].devices == ["GPU:2", "GPU:3"]


def test_duplicate_names_on_a_model(exp, rs):
    model = exp.create_model("m", rs)
    model.add_ml_model("m", "TORCH", model=b"a")
    with pytest.raises(SSUnsupportedError, match='An ML Model with name "m" already exists'):
        model.add_ml_model("m", "TORCH", model=b"b")
    model.add_script("s", TS)
    with pytest.raises(SSUnsupportedError, match='A Script with name "s" already exists'):
        model.add_function("s", timestwo)
    assert len(list(model.db_models)) == 1 and len(list(model.db_scripts)) == 1


# -- colocated ---------------------------------------------------------------------

def test_colocated_model_refuses_memory_objects_when_added(exp, rs, files):
    model = exp.create_model("m", rs)
    model.colocate_db_tcp(port=6780)
    with pytest.raises(SSUnsupportedError) as info:
        model.add_ml_model("mem", "TORCH", model=b"blob")
    assert "ML model can not be set from memory for colocated databases" in str(info.value)
    assert "mem" in str(info.value) and "colocated" in str(info.value)
    with pytest.raises(SSUnsupportedError) as info:
        model.add_function("f", timestwo)
    assert "Functions can not be set from memory for colocated databases" in str(info.value)
    model.add_ml_model("file", "TORCH", model_path=str(files / "model.pt"))
    model.add_script("s_str", script=TS)
    model.add_script("s_file", script_path=str(files / "script.py"))
    assert [m.name for m in model.db_models] == ["file"]
    assert [s.name for s in model.db_scripts] == ["s_str", "s_file"]


@pytest.mark.parametrize("attach", ["model", "function"])
def test_colocating_a_model_with_memory_objects_is_refused(exp, rs, attach):
    model = exp.create_model("m", rs)
    if attach == "model":
        model.add_ml_model("mem", "TORCH", model=b"blob")
    else:
        model.add_function("f", timestwo)
    with pytest.raises(SSUnsupportedError, match="from memory for colocated databases"):
        model.colocate_db_uds()
    assert not model.colocated


def test_ensemble_refuses_memory_objects_for_colocated_members(exp, rs, files):
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=3)
    ens["ens_1"].colocate_db_tcp(port=6781)
    with pytest.raises(SSUnsupportedError, match="ens_1"):
        ens.add_ml_model("mem", "TORCH", model=b"blob")
    with pytest.raises(SSUnsupportedError, match="ens_1"):
        ens.add_function("f", timestwo)
    assert list(ens.db_models) == [] and list(ens.db_scripts) == []
    assert all(list(m.db_models) == [] for m in ens)
    ens.add_ml_model("file", "TORCH", model_path=str(files / "model.pt"))
    ens.add_script("s", script=TS)
    assert all([m.name for m in member.db_models] == ["file"] for member in ens)


def test_ensemble_of_colocated_run_settings_refuses_memory_objects(exp, rs):
    model = exp.create_model("m", rs)
    model.colocate_db_tcp(port=6782)
    ens = exp.create_ensemble("ens", run_settings=model.run_settings, replicas=2)
    assert ens[0].colocated
    with pytest.raises(SSUnsupportedError, match="ens_0"):
        ens.add_ml_model("mem", "TORCH", model=b"blob")
    assert ens._states == {}  # checked without materialising anyone


# -- Ensemble ----------------------------------------------------------------------

def test_ensemble_objects_reach_current_lazy_and_later_members(exp, rs):
    ens = exp.create_ensemble("ens", params={"a": [1, 2, 3, 4]}, run_settings=rs)
    touched = ens["ens_2"]
    touched.params  # materialise member 2 before the objects are added
    early = exp.create_model("early", rs)
    ens.add_model(early)
    ens.add_ml_model("cnn", "TORCH", model=b"blob")
    ens.add_script("s", script=TS)
    ens.add_function("f", timestwo)
    assert set(ens._states) == {2}  # nobody else was materialised
    late = exp.create_model("late", rs)
    ens.add_model(late)
    for member in ens:
        assert [m.name for m in member.db_models] == ["cnn"], member.name
        assert [s.name for s in member.db_scripts] == ["s", "f"], member.name
    assert set(ens._states) == {2}  # reading db_models does not materialise either
    shared = list(ens.db_models)[0]
    assert all(list(m.db_models)[0] is shared for m in ens)
    # a member touched after the objects were added copies the ensemble's lists
    ens["ens_0"].params
    assert [m.name for m in ens["ens_0"].db_models] == ["cnn"]
    table = ens.member_table
    assert table.db_models(3) is table.ensemble_db_models
    assert [m.name for m in table.db_models(2)] == ["cnn"]
    assert [s.name for s in table.db_scripts(1)] == ["s", "f"]
    assert table.colocated(1) is False


def test_member_objects_are_its_own(exp, rs):
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=3)
    ens["ens_1"].add_ml_model("own", "TORCH", model=b"own")
    assert [m.name for m in ens["ens_1"].db_models] == ["own"]
    assert list(ens["ens_0"].db_models) == [] and list(ens.db_models) == []
    ens.add_ml_model("shared", "TORCH", model=b"shared")
    assert [m.name for m in ens["ens_1"].db_models] == ["own", "shared"]
    assert [m.name for m in ens["ens_0"].db_models] == ["shared"]


def test_ensemble_duplicates_are_refused_atomically(exp, rs):
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=3)
    ens.add_ml_model("m", "TORCH", model=b"a")
    with pytest.raises(SSUnsupportedError, match='An ML Model with name "m" already exists'):
        ens.add_ml_model("m", "ONNX", model=b"b")
    ens.add_script("s", TS)
    with pytest.raises(SSUnsupportedError, match='A Script with name "s" already exists'):
        ens.add_function("s", timestwo)
    # a member that has its own object of that name: refused, and no member changed
    ens["ens_2"].add_script("own", TS)
    with pytest.raises(SSUnsupportedError, match='A Script with name "own" already exists.*ens_2'):
        ens.add_script("own", TS)
    assert [s.name for s in ens.db_scripts] == ["s"]
    assert [s.name for s in ens["ens_0"].db_scripts] == ["s"]
    assert [s.name for s in ens["ens_2"].db_scripts] == ["s", "own"]
    added = exp.create_model("added", rs)
    added.add_script("later", TS)
    ens.add_model(added)
    with pytest.raises(SSUnsupportedError, match="added"):
        ens.add_script("later", TS)
    assert [s.name for s in ens["ens_1"].db_scripts] == ["s"]


def test_add_model_with_a_clashing_object_is_refused(exp, rs):
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=2)
    ens.add_ml_model("m", "TORCH", model=b"a")
    model = exp.create_model("x", rs)
    model.add_ml_model("m", "TORCH", model=b"b")
    with pytest.raises(SSUnsupportedError, match='An ML Model with name "m" already exists'):
        ens.add_model(model)
    assert "x" not in ens and len(ens) == 2
    assert [m.model for m in model.db_models] == [b"b"]


def test_add_model_colocated_with_memory_object_is_refused(exp, rs):
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=1)
    ens.add_function("f", timestwo)
    model = exp.create_model("x", rs)
    model.colocate_db_tcp(port=6783)
    with pytest.raises(SSUnsupportedError, match="Functions can not be set from memory"):
        ens.add_model(model)
    assert "x" not in ens


def test_ensemble_db_properties(exp, rs):
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=2)
    assert list(ens.db_models) == [] and list(ens.db_scripts) == []
    ens.add_ml_model("m", "TORCH", model=b"a")
    ens.add_script("s", TS)
    assert [m.name for m in ens.db_models] == ["m"] and [s.name for s in ens.db_scripts] == ["s"]


# -- plan_loads: which keys ----------------------------------------------------------

def _keys(ops):
    return sorted((op.kind, op.key) for op in ops)


def test_plan_shared_object_once_for_many_members(exp, rs):
    ens = exp.create_ensemble("ens", params={"a": list(range(1000))}, run_settings=rs)
    ens.add_ml_model("m", "TORCH", model=b"a")
    ens.add_script("s", TS)
    ens[5].params  # one member touched: still the same objects
    ops = plan_loads([ens])
    assert _keys(ops) == [("model", "m"), ("script", "s")]
    assert set(ens._states) == {5}  # planning materialised nobody
    op = next(o for o in ops if o.kind == "model")
    assert op.obj is list(ens.db_models)[0]
    assert "ens" in ", ".join(op.owners)


def test_plan_same_content_attached_twice_is_stored_once(exp, rs, files):
    a = exp.create_model("a", rs)
    b = exp.create_model("b", rs)
    a.add_ml_model("m", "TORCH", model_path=str(files / "model.pt"))
    b.add_ml_model("m", "TORCH", model_path=str(files / "copy.pt"))  # same bytes, other file
    a.add_ml_model("mem", "ONNX", model=b"same")
    b.add_ml_model("mem", "ONNX", model=b"same")
    a.add_function("f", timestwo)
    b.add_function("f", timestwo)
    assert _keys(plan_loads([a, b])) == [("model", "m"), ("model", "mem"), ("script", "f")]


def test_plan_member_specific_objects_go_under_member_prefixes(exp, rs, files):
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=3)
    ens.add_script("shared", TS)
    ens["ens_0"].add_ml_model("m", "TORCH", model_path=str(files / "model.pt"))
    ens["ens_1"].add_ml_model("m", "TORCH", model_path=str(files / "other.pt"))
    ens["ens_2"].add_ml_model("solo", "TORCH", model=b"x")
    ops = plan_loads([ens])
    assert _keys(ops) == [("model", "ens_0.m"), ("model", "ens_1.m"), ("model", "solo"),
                          ("script", "shared")]
    by_key = {op.key: op for op in ops}
    assert by_key["ens_0.m"].obj.file == (files / "model.pt").resolve()
    assert by_key["ens_1.m"].owners == ("ens_1",)


def test_plan_conflict_with_a_shared_object_expands_to_every_member(exp, rs):
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=3)
    ens.add_ml_model("m", "TORCH", model=b"ensemble")
    other = exp.create_model("other", rs)
    other.enable_key_prefixing()
    other.add_ml_model("m", "TORCH", model=b"different")
    ops = plan_loads([ens, other])
    assert _keys(ops) == [("model", "ens_0.m"), ("model", "ens_1.m"), ("model", "ens_2.m"),
                          ("model", "other.m")]
    assert {op.obj.model for op in ops if op.key.startswith("ens_")} == {b"ensemble"}
    assert ens._states == {}


def test_plan_conflict_without_prefixing_is_refused(exp, rs, files):
    a = exp.create_model("a", rs)
    b = exp.create_model("b", rs)
    a.add_ml_model("m", "TORCH", model_path=str(files / "model.pt"))
    b.add_ml_model("m", "TORCH", model_path=str(files / "other.pt"))
    with pytest.raises(SSUnsupportedError) as info:
        plan_loads([a, b])
    text = str(info.value)
    assert "'m'" in text and "'a'" in text and "'b'" in text and "key prefixing" in text
    # a model and a script under one name clash too
    c = exp.create_model("c", rs)
    c.add_script("m", TS)
    with pytest.raises(SSUnsupportedError, match="2 different ML objects are named 'm'"):
        plan_loads([a, c])
    a.enable_key_prefixing()
    b.enable_key_prefixing()
    assert _keys(plan_loads([a, b])) == [("model", "a.m"), ("model", "b.m")]


def test_plan_skips_colocated_and_objectless_entities(exp, rs, files):
    colo = exp.create_model("colo", exp.create_run_settings("echo"))
    colo.colocate_db_tcp(port=6784)
    colo.add_ml_model("m", "TORCH", model_path=str(files / "model.pt"))
    plain = exp.create_model("plain", rs)
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=2)
    ens["ens_1"].colocate_db_tcp(port=6785)
    ens.add_script("s", TS)
    db = exp.create_database(port=6786)
    ops = plan_loads([colo, plain, ens, db, ens])
    assert _keys(ops) == [("script", "s")]
    assert ops[0].owners == ("1 members of ensemble 'ens'",)
    assert plan_loads([]) == [] and plan_loads([plain]) == []


def test_plan_for_a_single_member_and_added_model(exp, rs):
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=2)
    ens.add_ml_model("m", "TORCH", model=b"a")
    added = exp.create_model("added", rs)
    ens.add_model(added)
    assert _keys(plan_loads([ens[1]])) == [("model", "m")]
    assert _keys(plan_loads([ens, added])) == [("model", "m")]
    assert ens._states == {}


# -- store: the client calls ---------------------------------------------------------

class RecordingClient:
    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail

    def __getattr__(self, name):
        def call(*args, **kwargs):
            if self.fail and name == self.fail:
                raise RuntimeError("set_model of 'x' failed on the database at 127.0.0.1:1: ERR boom")
            self.calls.append((name, args, kwargs))
        return call


def test_store_calls_the_client_as_smartredis_would(exp, rs, files):
    model = exp.create_model("m", rs)
    model.add_ml_model("mem", "TORCH", model=b"blob", batch_size=8, min_batch_size=2,
                       min_batch_timeout=5, tag="t")
    model.add_ml_model("file", "TF", model_path=str(files / "model.pt"), inputs=["a"], outputs="b")
    model.add_ml_model("multi", "ONNX", model=b"o", device="GPU", devices_per_node=2, first_device=1)
    model.add_ml_model("multif", "ONNX", model_path=str(files / "model.pt"), device="GPU", devices_per_node=3)
    model.add_ml_model("gpu1", "TORCH", model=b"g", device="GPU:1")
    model.add_script("s", TS)
    model.add_script("sf", script_path=str(files / "script.py"), device="GPU", devices_per_node=2)
    model.add_script("sm", TS, device="GPU", devices_per_node=2)
    model.add_function("f", timestwo, device="GPU")
    client = RecordingClient()
    store(plan_loads([model]), client)
    path = str((files / "model.pt").resolve())
    common = dict(batch_size=0, min_batch_size=0, min_batch_timeout=0, tag="", inputs=None, outputs=None)
    assert client.calls == [
        ("set_model", ("mem", b"blob", "TORCH", "CPU"),
         dict(batch_size=8, min_batch_size=2, min_batch_timeout=5, tag="t", inputs=None, outputs=None)),
        ("set_model_from_file", ("file", path, "TF", "CPU"), dict(common, inputs=["a"], outputs=["b"])),
        ("set_model_multigpu", ("multi", b"o", "ONNX", 1, 2), common),
        ("set_model_from_file_multigpu", ("multif", path, "ONNX", 0, 3), common),
        ("set_model", ("gpu1", b"g", "TORCH", "GPU:1"), common),
        ("set_script", ("s", TS, "CPU"), {}),
        ("set_script_from_file_multigpu", ("sf", str((files / "script.py").resolve()), 0, 2), {}),
        ("set_script_multigpu", ("sm", TS, 0, 2), {}),
        ("set_script", ("f", list(model.db_scripts)[-1].source, "GPU"), {}),
    ]


def test_store_failure_names_the_object(exp, rs):
    model = exp.create_model("owner", rs)
    model.add_ml_model("x", "TORCH", model=b"blob")
    with pytest.raises(SmartSimError) as info:
        store(plan_loads([model]), RecordingClient(fail="set_model"))
    text = str(info.value)
    assert "'x'" in text and "'owner'" in text and "ERR boom" in text
    assert isinstance(plan_loads([model])[0], LoadOp)


# -- colocated: the description the wrapper loads --------------------------------------

def test_colocated_spec_file(exp, rs, files, tmp_path):
    model = exp.create_model("colo", rs)
    model.colocate_db_tcp(port=6787)
    assert mlobjects.write_colocated_spec(model, str(tmp_path)) is None
    assert not list(tmp_path.glob("*.mlobjects.json"))
    model.add_ml_model("m", "TF", model_path=str(files / "model.pt"), inputs=["x"], outputs=["y"],
                       batch_size=4, min_batch_size=2, min_batch_timeout=3, tag="t")
    model.add_script("s", TS)
    model.add_script("sf", script_path=str(files / "script.py"), device="GPU", devices_per_node=2)
    path = mlobjects.write_colocated_spec(model, str(tmp_path))
    assert path == str(tmp_path / "colo-db.mlobjects.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    spec = json.loads(open(path).read())
    assert spec["version"] == 1 and spec["entity"] == "colo"
    assert spec["models"] == [{
        "key": "m", "backend": "TF", "file": str((files / "model.pt").resolve()), "device": "CPU",
        "devices_per_node": 1, "first_device": 0, "batch_size": 4, "min_batch_size": 2,
        "min_batch_timeout": 3, "tag": "t", "inputs": ["x"], "outputs": ["y"]}]
    assert spec["scripts"] == [
        {"key": "s", "device": "CPU", "devices_per_node": 1, "first_device": 0, "source": TS},
        {"key": "sf", "device": "GPU", "devices_per_node": 2, "first_device": 0,
         "file": str((files / "script.py").resolve())}]
    os.chmod(path, 0o644)  # rewritten: back to 0600
    mlobjects.write_colocated_spec(model, str(tmp_path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_colocated_spec_refuses_memory_objects_at_start(exp, rs, tmp_path):
    model = exp.create_model("colo", rs)
    model.colocate_db_tcp(port=6788)
    # slipped past the checks (appended directly): refused when the database is started
    model._db_models.append(DBModel("mem", "TORCH", model=b"blob"))
    with pytest.raises(SSUnsupportedError, match="from memory for colocated databases"):
        mlobjects.write_colocated_spec(model, str(tmp_path))
    model._db_models.clear()
    model._db_scripts.append(DBScript("f", timestwo))
    with pytest.raises(SSUnsupportedError, match="Functions can not be set from memory"):
        mlobjects.colocated_spec(model)


def test_colocated_spec_of_a_lazy_member(exp, rs, files, tmp_path):
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=2)
    ens.add_script("s", script_path=str(files / "script.py"))
    spec = mlobjects.colocated_spec(ens[1])
    assert [s["key"] for s in spec["scripts"]] == ["s"] and spec["entity"] == "ens_1"
    assert ens._states == {}


class FakeConn:
    def __init__(self, fail_on=None):
        self.commands = []
        self.fail_on = fail_on

    def call(self, *args):
        self.commands.append(args)
        if args[0] == "AI.CONFIG":
            return 4  # a 4-byte MODEL_CHUNK_SIZE: the blob goes in chunks
        if self.fail_on and args[1] == self.fail_on:
            return RuntimeError("ERR model rejected")
        return "OK"


def test_load_colocated_sends_redisai_commands(exp, rs, files, tmp_path):
    model = exp.create_model("colo", rs)
    model.add_ml_model("m", "TORCH", model_path=str(files / "other.pt"), batch_size=4,
                       min_batch_size=2, min_batch_timeout=3, tag="t")
    model.add_ml_model("tf", "TF", model_path=str(files / "other.pt"), inputs=["a", "b"], outputs=["c"])
    model.add_ml_model("g", "ONNX", model_path=str(files / "other.pt"), device="GPU", devices_per_node=2,
                       first_device=1)
    model.add_script("s", TS, device="GPU", devices_per_node=2)
    model.add_script("sf", script_path=str(files / "script.py"))
    model.colocate_db_tcp(port=6789)
    path = mlobjects.write_colocated_spec(model, str(tmp_path))
    conn = FakeConn()
    assert mlobjects.load_colocated(path, conn) == 9
    chunks = ("BLOB", b"othe", b"r by", b"tes")
    expected = [
        ("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE"),
        ("AI.MODELSTORE", "m", "TORCH", "CPU", "TAG", "t", "BATCHSIZE", 4, "MINBATCHSIZE", 2,
         "MINBATCHTIMEOUT", 3) + chunks,
        ("AI.MODELSTORE", "tf", "TF", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c") + chunks,
        ("AI.MODELSTORE", "g.GPU:1", "ONNX", "GPU:1") + chunks,
        ("AI.MODELSTORE", "g.GPU:2", "ONNX", "GPU:2") + chunks,
        ("AI.MODELSTORE", "g", "ONNX", "GPU") + chunks,
        ("AI.SCRIPTSET", "s.GPU:0", "GPU:0", "SOURCE", TS),
        ("AI.SCRIPTSET", "s.GPU:1", "GPU:1", "SOURCE", TS),
        ("AI.SCRIPTSET", "s", "GPU", "SOURCE", TS),
        ("AI.SCRIPTSET", "sf", "CPU", "SOURCE", TS),
    ]
    assert conn.commands == expected


def test_load_colocated_errors_name_the_object(exp, rs, files, tmp_path):
    model = exp.create_model("colo", rs)
    model.add_ml_model("bad", "ONNX", model_path=str(files / "other.pt"))
    path = mlobjects.write_colocated_spec(model, str(tmp_path))
    with pytest.raises(mlobjects.ColocatedLoadError, match="'bad'.*ERR model rejected"):
        mlobjects.load_colocated(path, FakeConn(fail_on="bad"))
    os.remove(files / "other.pt")
    with pytest.raises(mlobjects.ColocatedLoadError, match="cannot read ML model 'bad'"):
        mlobjects.load_colocated(path, FakeConn())
    with pytest.raises(mlobjects.ColocatedLoadError, match="cannot read the ML objects"):
        mlobjects.load_colocated(str(tmp_path / "nothing.json"), FakeConn())


def test_mlobjects_loads_with_the_standard_library_only(tmp_path):
    """The colocated wrapper (python -I -S) loads this module by path."""
    code = ("import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('m', {mlobjects.__file__!r})\n"
            "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
            "assert 'smartsim' not in sys.modules and 'numpy' not in sys.modules\n"
            "print(mod.load_colocated.__name__)\n")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "load_colocated"


# -- smartsim.ml.tf without TensorFlow --------------------------------------------------

def test_ml_tf_without_tensorflow_says_so():
    code = ("import sys\nsys.modules['tensorflow'] = None\n"
            "try:\n    import smartsim.ml.tf\nexcept ModuleNotFoundError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "TensorFlow is not installed. Please install it to use smartsim.ml.tf" in out.stdout, out.stderr
    import smartsim.ml  # noqa: F401  (light: no framework import)
