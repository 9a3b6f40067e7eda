"""Model and Ensemble as a driver script uses them: lazy members, per-member state,
params_as_args, add_model, attached files, key prefixing, incoming entities."""
from __future__ import annotations

import itertools
import os
import time

import pytest

from smartsim.entity import Ensemble, Model
from smartsim.error import EntityExistsError, SmartSimError
from smartsim.settings import RunSettings, SbatchSettings


@pytest.fixture
def rs(exp):
    return exp.create_run_settings("echo", exe_args=["hello"])


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "src"
    d.mkdir()
    (d / "in.txt").write_text("a=;a;\n")
    (d / "data.bin").write_bytes(b"\x00\x01")
    return d


# -- naming, paths, lazy members ---------------------------------------------------

def test_member_names_and_paths(exp, rs):
    ens = exp.create_ensemble("ens", params={"a": [1, 2, 3]}, run_settings=rs)
    assert ens.path == os.path.join(exp.exp_path, "ens")
    assert [m.name for m in ens] == ["ens_0", "ens_1", "ens_2"]
    for m in ens:
        assert m.path == os.path.join(exp.exp_path, "ens", m.name)
    assert ens["ens_1"].name == "ens_1"
    assert ens["ens_1"].params == {"a": "2"}


def test_model_defaults(exp, rs):
    model = exp.create_model("m", rs, params={"x": 1, "y": "s", "z": 0.5, "b": True})
    assert model.path == os.path.join(exp.exp_path, "m")
    assert model.params == {"x": "1", "y": "s", "z": "0.5", "b": "True"}
    assert model.run_settings is rs
    assert model.query_key_prefixing() is False


def test_model_param_of_wrong_type_names_key(exp, rs):
    with pytest.raises(TypeError) as info:
        exp.create_model("m", rs, params={"good": 1, "badkey": [1, 2]})
    assert "badkey" in str(info.value)


def test_model_equality_and_hash_by_name(rs):
    a = Model("same", {"x": 1}, rs, path="/tmp/a")
    b = Model("same", {"x": 2}, rs, path="/tmp/b")
    c = Model("other", {"x": 1}, rs, path="/tmp/a")
    assert a == b
    assert a != c
    assert len({a, b, c}) == 2


def test_million_member_ensemble_is_lazy_and_fast(exp, rs):
    params = {"a": list(range(100)), "b": list(range(100)), "c": list(range(100))}
    start = time.perf_counter()
    ens = exp.create_ensemble("big", params=params, run_settings=rs)
    n = len(ens)
    found = [ens[f"big_{i}"] for i in range(0, 1_000_000, 1000)]
    elapsed = time.perf_counter() - start
    assert n == 1_000_000
    assert len(found) == 1000
    # the target is 0.5 s; allow head-room for slow CI machines
    assert elapsed < 2.0
    member = ens["big_123456"]
    assert isinstance(member, Model)
    assert member.name == "big_123456"
    assert member.params == {"a": "12", "b": "34", "c": "56"}
    assert member.path == os.path.join(exp.exp_path, "big", "big_123456")
    assert ens["big_999999"].params == {"a": "99", "b": "99", "c": "99"}
    first = list(itertools.islice(iter(ens), 3))
    assert all(isinstance(m, Model) for m in first)
    assert [m.name for m in first] == ["big_0", "big_1", "big_2"]
    assert first[2].params == {"a": "0", "b": "0", "c": "2"}


def test_million_member_iteration_lists_all_names(exp, rs):
    params = {"a": list(range(100)), "b": list(range(100)), "c": list(range(100))}
    ens = exp.create_ensemble("big", params=params, run_settings=rs)
    count = 0
    last = None
    for m in ens:
        count += 1
        last = m.name
    assert count == 1_000_000
    assert last == "big_999999"


def test_unknown_member_name_lookup_returns_none_like_smartsim(exp, rs):
    # SmartSim 0.8.0's EntitySequence.__getitem__ returns None for a name it does not hold,
    # and driver scripts test ``ens["x"] is None``
    ens = exp.create_ensemble("ens", params={"a": [1, 2]}, run_settings=rs)
    for name in ("ens_2", "ens_01", "other_0", "ens_-1", "ens_"):
        assert ens[name] is None, name


# -- per-member state ----------------------------------------------------------------

def test_member_mutation_seen_by_later_lookup_and_isolated(exp, rs):
    ens = exp.create_ensemble("ens", params={"a": [1, 2, 3]}, run_settings=rs)
    m = ens["ens_1"]
    m.run_settings.update_env({"ONLY_ONE": "yes"})
    m.run_settings.add_exe_args("--extra")
    m.params["a"] = "changed"
    m.params["new"] = "p"

    again = ens["ens_1"]
    assert again.run_settings.env_vars.get("ONLY_ONE") == "yes"
    assert "--extra" in again.run_settings.exe_args
    assert again.params == {"a": "changed", "new": "p"}
    # iteration sees the same member state
    via_iter = [x for x in ens if x.name == "ens_1"][0]
    assert via_iter.params["a"] == "changed"
    assert via_iter.run_settings.env_vars.get("ONLY_ONE") == "yes"

    for other in ("ens_0", "ens_2"):
        o = ens[other]
        assert "ONLY_ONE" not in o.run_settings.env_vars
        assert "--extra" not in o.run_settings.exe_args
        assert "new" not in o.params
    assert ens["ens_0"].params == {"a": "1"}
    assert ens["ens_2"].params == {"a": "3"}
    # the run settings given to create_ensemble are untouched
    assert "ONLY_ONE" not in rs.env_vars
    assert rs.exe_args == ["hello"]


def test_member_run_settings_assignment_is_kept(exp, rs):
    ens = exp.create_ensemble("ens", replicas=2, run_settings=rs)
    new_rs = exp.create_run_settings("echo", exe_args="replaced")
    ens["ens_0"].run_settings = new_rs
    assert ens["ens_0"].run_settings.exe_args == ["replaced"]
    assert ens["ens_1"].run_settings.exe_args == ["hello"]


def test_members_get_independent_run_settings_copies(exp, rs):
    ens = exp.create_ensemble("ens", replicas=3, run_settings=rs)
    settings = [m.run_settings for m in ens]
    assert all(isinstance(s, RunSettings) for s in settings)
    assert all(s is not rs for s in settings)
    assert len({id(s) for s in settings}) == 3
    settings[0].env_vars["LEAK"] = "1"
    assert "LEAK" not in ens["ens_1"].run_settings.env_vars
    assert "LEAK" not in ens["ens_2"].run_settings.env_vars
    assert "LEAK" not in rs.env_vars
    assert all(s.exe == rs.exe for s in settings)


# -- params_as_args -------------------------------------------------------------------

def test_params_as_args_formatting(exp, rs):
    params = {"--long": [2], "-s": [3], "x": [1], "name": [4], "other": [5]}
    ens = exp.create_ensemble("ens", params=params, run_settings=rs,
                              params_as_args=["x", "--long", "-s", "name"])
    args = ens["ens_0"].run_settings.exe_args
    assert args == ["hello", "-x", "1", "--long=2", "-s", "3", "--name=4"]
    assert rs.exe_args == ["hello"]


def test_params_as_args_per_member_values(exp, rs):
    ens = exp.create_ensemble("ens", params={"steps": [10, 20], "t": [1]}, run_settings=rs,
                              params_as_args=["steps", "t"])
    assert [m.run_settings.exe_args for m in ens] == [
        ["hello", "--steps=10", "-t", "1"], ["hello", "--steps=20", "-t", "1"]]
    # repeated lookups do not append the arguments twice
    assert ens["ens_1"].run_settings.exe_args == ["hello", "--steps=20", "-t", "1"]


def test_model_params_to_args(rs):
    model = Model("m", {"x": 1, "--y": 2, "-z": 3, "long": "v"}, rs, params_as_args=["x", "--y", "-z", "long"])
    model.params_to_args()
    assert rs.exe_args == ["hello", "-x", "1", "--y=2", "-z", "3", "--long=v"]


def test_model_params_to_args_missing_param(rs):
    model = Model("m", {"x": 1}, rs, params_as_args=["nope"])
    with pytest.raises(ValueError) as info:
        model.params_to_args()
    assert "nope" in str(info.value)


# -- add_model --------------------------------------------------------------------------

def test_add_model(exp, rs):
    ens = exp.create_ensemble("ens", params={"a": [1, 2]}, run_settings=rs)
    extra = exp.create_model("extra", rs, params={"a": 9})
    ens.add_model(extra)
    assert len(ens) == 3
    assert [m.name for m in ens] == ["ens_0", "ens_1", "extra"]
    assert ens["extra"] is extra
    assert extra in ens.models


def test_add_model_rejects_non_model(exp, rs):
    ens = exp.create_ensemble("ens", replicas=1, run_settings=rs)
    for bad in ("model", rs, 5, None, ens):
        with pytest.raises(TypeError):
            ens.add_model(bad)
    assert len(ens) == 1


def test_add_model_duplicate_names(exp, rs):
    ens = exp.create_ensemble("ens", params={"a": [1, 2]}, run_settings=rs)
    ens.add_model(exp.create_model("extra", rs))
    with pytest.raises(EntityExistsError):
        ens.add_model(exp.create_model("extra", rs))
    # a name taken by an expanded member is a duplicate as well
    with pytest.raises(EntityExistsError):
        ens.add_model(exp.create_model("ens_1", rs))
    assert len(ens) == 3


def test_batch_only_ensemble_is_empty_and_filled_by_add_model(exp, rs):
    bs = SbatchSettings(nodes=2, time="01:00:00")
    ens = exp.create_ensemble("ens", batch_settings=bs)
    assert len(ens) == 0
    assert ens.models == []
    assert ens.batch
    for i in range(3):
        ens.add_model(exp.create_model(f"m{i}", rs))
    assert [m.name for m in ens] == ["m0", "m1", "m2"]


def test_add_model_is_fast_for_many_models(exp, rs):
    bs = SbatchSettings(nodes=1)
    ens = exp.create_ensemble("ens", batch_settings=bs)
    models = [Model(f"m{i}", {}, rs, path="/tmp") for i in range(20_000)]
    start = time.perf_counter()
    for m in models:
        ens.add_model(m)
    assert time.perf_counter() - start < 2.0
    assert len(ens) == 20_000


# -- attached files ----------------------------------------------------------------------

def test_model_attach_generator_files(exp, rs, src):
    model = exp.create_model("m", rs)
    model.attach_generator_files(to_copy=[str(src / "data.bin")], to_configure=str(src / "in.txt"))
    assert model.files.copy == [str(src / "data.bin")]
    assert model.files.tagged == [str(src / "in.txt")]
    assert model.files.link == []
    # a later call replaces the earlier attachments
    model.attach_generator_files(to_symlink=[str(src / "data.bin")])
    assert model.files.copy == []
    assert model.files.tagged == []
    assert model.files.link == [str(src / "data.bin")]


def test_attach_missing_file_names_it(exp, rs, src):
    model = exp.create_model("m", rs)
    missing = str(src / "nope.txt")
    with pytest.raises(FileNotFoundError) as info:
        model.attach_generator_files(to_configure=[str(src / "in.txt"), missing])
    assert "nope.txt" in str(info.value)


def test_attach_params_log_name_is_refused(exp, rs, tmp_path):
    reserved = tmp_path / "smartsim_params.txt"
    reserved.write_text("x")
    model = exp.create_model("m", rs)
    with pytest.raises(ValueError):
        model.attach_generator_files(to_copy=[str(reserved)])


def test_ensemble_attach_applies_to_all_members(exp, rs, src):
    ens = exp.create_ensemble("ens", params={"a": [1, 2, 3]}, run_settings=rs)
    touched = ens["ens_0"]
    touched.params  # materialise one member before attaching
    added = exp.create_model("added", rs)
    ens.add_model(added)
    ens.attach_generator_files(to_copy=[str(src / "data.bin")], to_configure=[str(src / "in.txt")])
    for m in ens:
        assert m.files is not None, m.name
        assert m.files.copy == [str(src / "data.bin")]
        assert m.files.tagged == [str(src / "in.txt")]
    assert ens["ens_0"].files.tagged == [str(src / "in.txt")]
    assert added.files.tagged == [str(src / "in.txt")]


# -- key prefixing ---------------------------------------------------------------------------

def test_key_prefixing_defaults(exp, rs):
    ens = exp.create_ensemble("ens", params={"a": [1, 2]}, run_settings=rs)
    assert ens.query_key_prefixing() is True
    assert all(m.query_key_prefixing() for m in ens)
    model = exp.create_model("m", rs)
    assert model.query_key_prefixing() is False
    prefixed = exp.create_model("p", rs, enable_key_prefixing=True)
    assert prefixed.query_key_prefixing() is True


def test_model_key_prefixing_toggle(exp, rs):
    model = exp.create_model("m", rs)
    model.enable_key_prefixing()
    assert model.query_key_prefixing() is True
    model.disable_key_prefixing()
    assert model.query_key_prefixing() is False


def test_ensemble_key_prefixing_covers_added_models(exp, rs):
    ens = exp.create_ensemble("ens", params={"a": [1, 2]}, run_settings=rs)
    plain = exp.create_model("plain", rs)
    ens.add_model(plain)
    assert ens.query_key_prefixing() is False
    ens.enable_key_prefixing()
    assert plain.query_key_prefixing() is True
    assert ens.query_key_prefixing() is True


# -- incoming entities -------------------------------------------------------------------------

def test_model_register_incoming_entity(exp, rs):
    producer = exp.create_model("producer", rs)
    consumer = exp.create_model("consumer", rs)
    consumer.register_incoming_entity(producer)
    assert [e.name for e in consumer.incoming_entities] == ["producer"]
    with pytest.raises(EntityExistsError):
        consumer.register_incoming_entity(producer)
    # another object with the same name is a duplicate too
    with pytest.raises(EntityExistsError):
        consumer.register_incoming_entity(exp.create_model("producer", rs))


def test_ensemble_register_incoming_entity(exp, rs):
    producer = exp.create_model("producer", rs)
    ens = exp.create_ensemble("ens", params={"a": [1, 2, 3]}, run_settings=rs)
    ens["ens_2"].params  # one member already materialised
    ens.register_incoming_entity(producer)
    for m in ens:
        assert [e.name for e in m.incoming_entities] == ["producer"]
    with pytest.raises(EntityExistsError):
        ens.register_incoming_entity(producer)


# -- ensemble construction rules ---------------------------------------------------------------

def test_params_without_run_settings(exp):
    with pytest.raises(SmartSimError):
        exp.create_ensemble("ens", params={"a": [1, 2]})


def test_run_settings_without_params_or_replicas(exp, rs):
    with pytest.raises(SmartSimError):
        exp.create_ensemble("ens", run_settings=rs)


def test_neither_run_nor_batch_settings(exp):
    with pytest.raises(SmartSimError):
        exp.create_ensemble("ens", replicas=2)


def test_ensemble_class_direct(rs, tmp_path):
    ens = Ensemble("direct", {"a": [1, 2]}, path=str(tmp_path / "direct"), run_settings=rs)
    assert [m.name for m in ens] == ["direct_0", "direct_1"]
    assert ens["direct_1"].path == str(tmp_path / "direct" / "direct_1")
