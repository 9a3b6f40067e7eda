"""Entity names are validated once, at creation, and ``generate`` never removes or writes
anything outside ``exp_path`` (issue 16): real directories in ``tmp_path`` with a sibling
``victim/`` next to the experiment that must survive every case."""
from __future__ import annotations

import os

import pytest

from smartsim import Experiment
from smartsim.entity import Model
from smartsim.error import EntityNameError, EntityTypeError, GenerationError, SmartSimError

BAD_NAMES = ["..", "../victim", ".", "", "a/b", "/abs", ".hidden", "-flag", "has space", "tab\tname"]
GOOD_NAMES = ["my-model_1", "ens.v2", "orchestrator_0", "A", "_x", "v1.2.3"]


@pytest.fixture
def victim(tmp_path):
    """A sibling of the experiment directory with a file in it."""
    d = tmp_path / "victim"
    d.mkdir()
    (d / "precious.txt").write_text("keep me")
    return d


@pytest.fixture
def elsewhere(tmp_path):
    """A directory outside the experiment that a planted symlink points at."""
    d = tmp_path / "elsewhere"
    d.mkdir()
    (d / "precious.txt").write_text("keep me")
    return d


def survives(directory):
    assert (directory / "precious.txt").read_text() == "keep me"
    assert sorted(os.listdir(directory)) == ["precious.txt"]


def assert_name_error(info, name):
    err = info.value
    assert isinstance(err, EntityNameError) and isinstance(err, SmartSimError) and isinstance(err, ValueError)
    assert repr(name) in str(err), str(err)
    assert "letters, digits" in str(err), str(err)


# -- the reproductions ------------------------------------------------------------

@pytest.mark.parametrize("name", ["..", "../victim"])
def test_model_name_escaping_exp_path_is_rejected(exp, rs, victim, name):
    with pytest.raises(EntityNameError) as info:
        model = exp.create_model(name, rs)
        exp.generate(model, overwrite=True)
    assert_name_error(info, name)
    survives(victim)
    assert os.listdir(exp.exp_path) == []


@pytest.mark.parametrize("name", ["..", "../victim"])
def test_ensemble_name_escaping_exp_path_is_rejected(exp, rs, victim, name):
    with pytest.raises(EntityNameError) as info:
        ens = exp.create_ensemble(name, replicas=2, run_settings=rs)
        exp.generate(ens, overwrite=True)
    assert_name_error(info, name)
    survives(victim)
    assert os.listdir(exp.exp_path) == []


@pytest.mark.parametrize("name", ["..", "../victim"])
def test_db_identifier_escaping_exp_path_is_rejected_even_without_overwrite(exp, victim, name):
    with pytest.raises(EntityNameError) as info:
        db = exp.create_database(db_identifier=name)
        exp.generate(db)
    assert_name_error(info, name)
    survives(victim)
    assert os.listdir(exp.exp_path) == []


# -- one rule for every name that becomes a directory -------------------------------------

@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_rejected_everywhere(exp, rs, tmp_path, monkeypatch, name):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for create in (lambda: exp.create_model(name, rs),
                   lambda: exp.create_ensemble(name, replicas=1, run_settings=rs),
                   lambda: exp.create_database(db_identifier=name),
                   lambda: Model(name, {}, rs, path=str(tmp_path)),
                   lambda: Experiment(name, launcher="local")):
        with pytest.raises(EntityNameError) as info:
            create()
        assert_name_error(info, name)
    assert os.listdir(exp.exp_path) == [] and os.listdir(work) == []


def test_non_str_names_are_type_errors(exp, rs):
    for create in (lambda: exp.create_model(5, rs), lambda: exp.create_ensemble(None, replicas=1),
                   lambda: exp.create_database(db_identifier=b"db"), lambda: Experiment(["e"])):
        with pytest.raises(EntityTypeError) as info:
            create()
        assert isinstance(info.value, TypeError) and "must be a str" in str(info.value)


def test_add_model_checks_the_name_it_has_now(exp, rs, victim):
    ens = exp.create_ensemble("ens", replicas=1, run_settings=rs)
    model = Model("fine", {}, rs, path=str(victim))
    model.name = "../victim"
    with pytest.raises(EntityNameError) as info:
        ens.add_model(model)
    assert_name_error(info, "../victim")
    assert len(ens) == 1
    survives(victim)


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_names_still_generate(tmp_path, name):
    # guards the rule against being too strict: these passed before the fix and still must
    exp = Experiment(f"exp.{name}", exp_path=str(tmp_path / name), launcher="local")
    rs = exp.create_run_settings("echo")
    model = exp.create_model(name, rs)
    ens = exp.create_ensemble(f"{name}-ens", replicas=2, run_settings=rs)
    ens.add_model(Model(f"{name}_added", {}, rs))
    db = exp.create_database(db_identifier=f"{name}_db")
    exp.generate(model, ens, db)
    root = tmp_path / name
    assert (root / name).is_dir() and (root / f"{name}_db").is_dir()
    assert sorted(os.listdir(root / f"{name}-ens")) == sorted(
        [f"{name}-ens_0", f"{name}-ens_1", f"{name}_added"])
    assert model.path == str(root / name) and db.path == str(root / f"{name}_db")


# -- the generator proves every path lies inside exp_path ---------------------------------

def test_name_changed_after_creation_cannot_escape(exp, rs, victim):
    model = exp.create_model("m", rs)
    model.name = "../victim"
    with pytest.raises(GenerationError) as info:
        exp.generate(model, overwrite=True)
    assert str(victim) in str(info.value) and "not inside the experiment directory" in str(info.value)
    survives(victim)
    assert os.listdir(exp.exp_path) == []


def test_symlinked_model_dir_is_not_followed_by_overwrite(exp, rs, elsewhere):
    os.symlink(elsewhere, os.path.join(exp.exp_path, "m"))
    model = exp.create_model("m", rs)
    with pytest.raises(GenerationError) as info:
        exp.generate(model, overwrite=True)
    assert str(elsewhere) in str(info.value)
    survives(elsewhere)
    assert os.path.islink(os.path.join(exp.exp_path, "m"))
    assert os.listdir(exp.exp_path) == ["m"]


def test_symlinked_ensemble_dir_is_not_written_into(exp, rs, elsewhere):
    os.symlink(elsewhere, os.path.join(exp.exp_path, "ens"))
    ens = exp.create_ensemble("ens", replicas=2, run_settings=rs)
    with pytest.raises(GenerationError) as info:
        exp.generate(ens)
    assert str(elsewhere) in str(info.value)
    survives(elsewhere)


def test_symlinked_orchestrator_dir_is_neither_removed_nor_used(exp, elsewhere):
    link = os.path.join(exp.exp_path, "orchestrator")
    os.symlink(elsewhere, link)
    db = exp.create_database()
    for overwrite in (True, False):
        with pytest.raises(GenerationError) as info:
            exp.generate(db, overwrite=overwrite)
        assert str(elsewhere) in str(info.value)
        survives(elsewhere)
        assert os.path.islink(link)


def test_template_cannot_be_rendered_through_an_attached_symlink(exp, rs, tmp_path):
    data = tmp_path / "data" / "sub"
    data.mkdir(parents=True)
    (data / "precious.txt").write_text("keep me")
    tpl = tmp_path / "tpl"
    (tpl / "sub").mkdir(parents=True)
    (tpl / "sub" / "in.txt").write_text("x=;x;\n")
    model = exp.create_model("m", rs, params={"x": 1})
    model.attach_generator_files(to_configure=[str(tpl)], to_symlink=[str(data)])
    with pytest.raises(GenerationError) as info:
        exp.generate(model)
    assert os.path.join("sub", "in.txt") in str(info.value)
    survives(data)
    assert os.listdir(exp.exp_path) == []


# -- the orchestrator directory -----------------------------------------------------------

def test_orchestrator_dir_is_kept_without_overwrite(exp):
    db = exp.create_database(db_identifier="keep")
    exp.generate(db)
    saved = os.path.join(exp.exp_path, "keep", "checkpoint.rdb")
    with open(saved, "w", encoding="utf-8") as handle:
        handle.write("state")
    exp.generate(db)
    assert os.path.isfile(saved), "generate without overwrite removed the orchestrator directory"
    assert db.path == os.path.join(exp.exp_path, "keep")
    exp.generate(db, overwrite=True)
    assert os.listdir(os.path.join(exp.exp_path, "keep")) == []
