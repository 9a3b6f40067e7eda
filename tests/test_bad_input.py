"""Bad input: each case raises a ``SmartSimError`` subclass that is also the matching builtin,
names the bad value, and happens before any directory is written."""
from __future__ import annotations

import os

import pytest

from smartsim.error import EntityExistsError, SmartSimError, UserStrategyError


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "src"
    d.mkdir()
    (d / "in.txt").write_text("a=;A;\n")
    (d / "copy.dat").write_text("data")
    (d / "link.dat").write_text("data")
    return d


def tree(root):
    """Every path under ``root`` (relative), to compare before and after."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found


@pytest.fixture
def untouched(exp, tmp_path):
    """Assert that the experiment directory (and the tmp dir) gain no entries."""
    before = tree(tmp_path)
    assert os.listdir(exp.exp_path) == []

    def check():
        assert os.listdir(exp.exp_path) == [], "something was written to the experiment directory"
        assert tree(tmp_path) == before

    return check


def assert_error(excinfo, builtin, *needles):
    err = excinfo.value
    assert isinstance(err, SmartSimError), f"{type(err).__mro__} is not a SmartSimError"
    if builtin is not None:
        assert isinstance(err, builtin), f"{type(err).__mro__} is not a {builtin.__name__}"
    message = str(err)
    for needle in needles:
        assert needle in message, f"{needle!r} not named in: {message}"


STRATEGIES = ["all_perm", "step", "random"]


# -- parameter values ---------------------------------------------------------------------

@pytest.mark.parametrize("strategy", STRATEGIES)
def test_empty_value_list(exp, rs, untouched, strategy):
    with pytest.raises(SmartSimError) as info:
        exp.create_ensemble("ens", params={"ok": [1, 2], "alpha": []}, run_settings=rs,
                            perm_strategy=strategy)
    assert_error(info, ValueError, "alpha")
    untouched()


@pytest.mark.parametrize("value, shown", [
    ({"k": 1}, "{'k': 1}"),
    (None, "None"),
    ((1, 2), "(1, 2)"),
    ({1, 2}, "{1, 2}"),
    (1 + 2j, "(1+2j)"),
])
def test_value_not_list_or_scalar(exp, rs, untouched, value, shown):
    with pytest.raises(SmartSimError) as info:
        exp.create_ensemble("ens", params={"ok": [1], "beta": value}, run_settings=rs)
    assert_error(info, TypeError, "beta", shown)
    untouched()


@pytest.mark.parametrize("element, shown", [
    (None, "None"),
    ([2], "[2]"),
    ({"x": 1}, "{'x': 1}"),
    ((3, 4), "(3, 4)"),
    (object, "object"),
])
def test_list_element_of_wrong_type(exp, rs, untouched, element, shown):
    with pytest.raises(SmartSimError) as info:
        exp.create_ensemble("ens", params={"gamma": [1, "two", 3.0, element]}, run_settings=rs)
    assert_error(info, TypeError, "gamma", shown)
    untouched()


@pytest.mark.parametrize("key", [12345, ("tu", "ple"), None, 1.5])
def test_non_string_param_key(exp, rs, untouched, key):
    with pytest.raises(SmartSimError) as info:
        exp.create_ensemble("ens", params={"ok": [1], key: [1, 2]}, run_settings=rs)
    assert_error(info, TypeError, repr(key))
    untouched()


def test_non_string_param_key_on_model(exp, rs, untouched):
    with pytest.raises(SmartSimError) as info:
        exp.create_model("m", rs, params={12345: 1})
    assert_error(info, TypeError, "12345")
    untouched()


@pytest.mark.parametrize("value", [[1, 2], None, {"x": 1}])
def test_model_param_value_of_wrong_type(exp, rs, untouched, value):
    with pytest.raises(SmartSimError) as info:
        exp.create_model("m", rs, params={"delta": value})
    assert_error(info, TypeError, "delta")
    untouched()


def test_params_not_a_dict(exp, rs, untouched):
    with pytest.raises(SmartSimError) as info:
        exp.create_ensemble("ens", params=[("a", [1, 2])], run_settings=rs)
    assert_error(info, TypeError, "list")
    untouched()


# -- strategies -------------------------------------------------------------------------------

def test_step_unequal_lengths_names_the_lengths(exp, rs, untouched):
    with pytest.raises(SmartSimError) as info:
        exp.create_ensemble("ens", params={"a": [1, 2, 3], "b": ["x", "y"], "c": [7, 8, 9]},
                            run_settings=rs, perm_strategy="step")
    assert_error(info, ValueError, "3", "2", "b")
    assert isinstance(info.value, UserStrategyError)
    untouched()


@pytest.mark.parametrize("strategy", ["bogus", "ALL_PERM", "", 5])
def test_unknown_perm_strategy(exp, rs, untouched, strategy):
    with pytest.raises(SmartSimError) as info:
        exp.create_ensemble("ens", params={"a": [1, 2]}, run_settings=rs, perm_strategy=strategy)
    assert_error(info, ValueError, repr(strategy))
    untouched()


def test_unknown_perm_strategy_even_without_params(exp, rs, untouched):
    with pytest.raises(SmartSimError) as info:
        exp.create_ensemble("ens", run_settings=rs, replicas=2, perm_strategy="bogus")
    assert_error(info, ValueError, "bogus")
    untouched()


@pytest.mark.parametrize("replicas", [0, -3])
@pytest.mark.parametrize("with_params", [True, False])
def test_replicas_below_one(exp, rs, untouched, replicas, with_params):
    params = {"a": [1, 2]} if with_params else None
    with pytest.raises(SmartSimError) as info:
        exp.create_ensemble("ens", params=params, run_settings=rs, replicas=replicas)
    assert_error(info, ValueError, str(replicas))
    untouched()


def test_replicas_below_one_with_random(exp, rs, untouched):
    with pytest.raises(SmartSimError) as info:
        exp.create_ensemble("ens", params={"a": [1, 2]}, run_settings=rs, replicas=-1,
                            perm_strategy="random")
    assert_error(info, ValueError, "-1")
    untouched()


def test_random_asks_for_too_many(exp, rs, untouched):
    with pytest.raises(SmartSimError) as info:
        exp.create_ensemble("ens", params={"a": [1, 2]}, run_settings=rs, perm_strategy="random",
                            n_models=3)
    assert_error(info, ValueError, "3")
    untouched()


def test_user_strategy_bad_return(exp, rs, untouched):
    def bad(names, values, n_models):
        return "not a list"

    with pytest.raises(UserStrategyError) as info:
        exp.create_ensemble("ens", params={"a": [1, 2]}, run_settings=rs, perm_strategy=bad)
    assert "bad" in str(info.value)
    untouched()


# -- name collisions at generate ------------------------------------------------------------

def test_member_name_collides_with_model(exp, rs, untouched):
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=3)
    model = exp.create_model("ens_1", rs)
    with pytest.raises(SmartSimError) as info:
        exp.generate(ens, model)
    assert isinstance(info.value, EntityExistsError)
    assert_error(info, None, "ens_1")
    untouched()


def test_member_name_collides_with_model_in_any_order(exp, rs, untouched):
    ens = exp.create_ensemble("ens", params={"a": [1, 2]}, run_settings=rs)
    model = exp.create_model("ens_0", rs)
    with pytest.raises(EntityExistsError) as info:
        exp.generate(model, ens)
    assert_error(info, None, "ens_0")
    untouched()


def test_added_member_collides_with_model(exp, rs, untouched):
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=1)
    ens.add_model(exp.create_model("shared", rs))
    with pytest.raises(EntityExistsError) as info:
        exp.generate(ens, exp.create_model("shared", rs))
    assert_error(info, None, "shared")
    untouched()


def test_member_name_collides_with_other_ensemble(exp, rs, untouched):
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=2)
    other = exp.create_ensemble("ens_1", run_settings=rs, replicas=1)
    with pytest.raises(EntityExistsError) as info:
        exp.generate(ens, other)
    assert_error(info, None, "ens_1")
    untouched()


def test_two_entities_with_the_same_name(exp, rs, untouched):
    with pytest.raises(EntityExistsError) as info:
        exp.generate(exp.create_model("twin", rs), exp.create_model("twin", rs))
    assert_error(info, None, "twin")
    untouched()


def test_generate_non_entity(exp, untouched):
    with pytest.raises(SmartSimError) as info:
        exp.generate("not-an-entity")
    assert_error(info, TypeError, "not-an-entity")
    untouched()


# -- missing files -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["to_copy", "to_symlink", "to_configure"])
@pytest.mark.parametrize("entity_kind", ["model", "ensemble"])
def test_missing_file_at_attach(exp, rs, src, untouched, kind, entity_kind):
    entity = (exp.create_model("m", rs) if entity_kind == "model"
              else exp.create_ensemble("ens", run_settings=rs, replicas=2))
    missing = str(src / "no-such-file.txt")
    with pytest.raises(SmartSimError) as info:
        entity.attach_generator_files(**{kind: [str(src / "in.txt"), missing]})
    assert_error(info, FileNotFoundError, "no-such-file.txt")
    untouched()


@pytest.mark.parametrize("kind, filename", [
    ("to_copy", "copy.dat"), ("to_symlink", "link.dat"), ("to_configure", "in.txt")])
@pytest.mark.parametrize("entity_kind", ["model", "ensemble"])
def test_file_removed_before_generate(exp, rs, src, kind, filename, entity_kind):
    model = exp.create_model("first", rs, params={"A": 1})
    if entity_kind == "model":
        entity = exp.create_model("m", rs, params={"A": 1})
    else:
        entity = exp.create_ensemble("ens", params={"A": [1, 2]}, run_settings=rs)
    entity.attach_generator_files(**{kind: [str(src / filename)]})
    os.remove(src / filename)
    with pytest.raises(SmartSimError) as info:
        exp.generate(model, entity)
    assert_error(info, FileNotFoundError, filename)
    assert os.listdir(exp.exp_path) == []


def test_missing_file_in_one_ensemble_writes_no_other_entity(exp, rs, src):
    good = exp.create_ensemble("good", params={"A": [1, 2]}, run_settings=rs)
    good.attach_generator_files(to_configure=[str(src / "in.txt")])
    (src / "gone.txt").write_text("x")
    bad = exp.create_model("bad", rs)
    bad.attach_generator_files(to_copy=[str(src / "gone.txt")])
    os.remove(src / "gone.txt")
    with pytest.raises(FileNotFoundError):
        exp.generate(good, bad)
    assert os.listdir(exp.exp_path) == []


def test_params_as_args_not_in_params(exp, rs, untouched):
    with pytest.raises(ValueError) as info:
        exp.create_ensemble("ens", params={"a": [1]}, run_settings=rs, params_as_args=["zeta"])
    assert "zeta" in str(info.value)
    untouched()
