"""RunSettings / BatchSettings API and the Experiment constructor, as a driver script sees them."""
from __future__ import annotations

import os
import shutil

import pytest

from smartsim import Experiment
from smartsim.error import SmartSimError, SSUnsupportedError
from smartsim.settings import RunSettings


# -- Experiment -----------------------------------------------------------------------

def test_experiment_creates_missing_exp_path(tmp_path):
    path = tmp_path / "deep" / "nested" / "exp"
    assert not path.exists()
    exp = Experiment("e", exp_path=str(path))
    assert path.is_dir()
    assert exp.exp_path == str(path)
    assert exp.name == "e"


def test_experiment_accepts_pathlike(tmp_path):
    exp = Experiment("e", exp_path=tmp_path / "p")
    assert (tmp_path / "p").is_dir()
    assert exp.exp_path == str(tmp_path / "p")


def test_experiment_existing_exp_path_is_kept(tmp_path):
    path = tmp_path / "exp"
    path.mkdir()
    (path / "keep.txt").write_text("x")
    Experiment("e", exp_path=str(path))
    assert (path / "keep.txt").read_text() == "x"


def test_experiment_default_exp_path_is_cwd_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exp = Experiment("myexp")
    assert exp.exp_path == str(tmp_path / "myexp")
    assert (tmp_path / "myexp").is_dir()


def test_experiment_exp_path_must_be_str_or_pathlike(tmp_path):
    with pytest.raises(TypeError):
        Experiment("e", exp_path=42)


def test_unknown_launcher(tmp_path):
    with pytest.raises(SSUnsupportedError) as info:
        Experiment("e", exp_path=str(tmp_path / "e"), launcher="nosuchwlm")
    msg = str(info.value)
    assert "nosuchwlm" in msg
    for valid in ("local", "slurm", "pbs", "lsf"):
        assert valid in msg


def test_unknown_launcher_creates_no_directory(tmp_path):
    # bad input is refused before anything is written
    with pytest.raises(SSUnsupportedError):
        Experiment("e", exp_path=str(tmp_path / "never"), launcher="nosuchwlm")
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("launcher", ["local", "LOCAL", "auto"])
def test_known_launchers(tmp_path, launcher):
    Experiment("e", exp_path=str(tmp_path / "e"), launcher=launcher)


def test_default_entity_paths(exp):
    rs = exp.create_run_settings("echo")
    assert exp.create_model("m", rs).path == os.path.join(exp.exp_path, "m")
    assert exp.create_ensemble("e", run_settings=rs, replicas=1).path == os.path.join(exp.exp_path, "e")
    custom = exp.create_model("c", rs, path="/some/where")
    assert custom.path == "/some/where"


def test_create_batch_settings_on_local_launcher(exp):
    with pytest.raises(SmartSimError):
        exp.create_batch_settings(nodes=2, time="00:10:00")


# -- RunSettings: executable ---------------------------------------------------------------

def test_exe_resolved_with_which(exp):
    rs = exp.create_run_settings("echo")
    assert isinstance(rs, RunSettings)
    assert rs.exe == [os.path.abspath(shutil.which("echo"))]


def test_exe_relative_path_made_absolute(tmp_path, monkeypatch):
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    rs = RunSettings("./run.sh")
    assert rs.exe == [str(script)]


def test_missing_exe_is_file_not_found(exp, tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        exp.create_run_settings("definitely-not-an-executable-xyz")
    assert "definitely-not-an-executable-xyz" in str(info.value)
    with pytest.raises(FileNotFoundError):
        RunSettings(str(tmp_path / "missing.sh"))


def test_non_executable_file_is_type_error(tmp_path):
    plain = tmp_path / "data.txt"
    plain.write_text("not a program")
    plain.chmod(0o644)
    with pytest.raises(TypeError) as info:
        RunSettings(str(plain))
    assert "data.txt" in str(info.value)


# -- RunSettings: arguments and environment ----------------------------------------------------

def test_exe_args_str_is_split(exp):
    rs = exp.create_run_settings("echo", exe_args="a  b\tc")
    assert rs.exe_args == ["a", "b", "c"]


def test_exe_args_list_kept_and_copied(exp):
    args = ["x", "y z"]
    rs = exp.create_run_settings("echo", exe_args=args)
    assert rs.exe_args == ["x", "y z"]
    args.append("later")
    assert rs.exe_args == ["x", "y z"]


def test_exe_args_wrong_type(exp):
    with pytest.raises(TypeError):
        exp.create_run_settings("echo", exe_args=["ok", 5])


def test_add_exe_args(exp):
    rs = exp.create_run_settings("echo", exe_args=["a"])
    rs.add_exe_args("b c")
    rs.add_exe_args(["d", "e f"])
    assert rs.exe_args == ["a", "b", "c", "d", "e f"]
    with pytest.raises(TypeError):
        rs.add_exe_args([1])


def test_set_run_args(exp):
    rs = exp.create_run_settings("echo")
    rs.set("--foo", "bar")
    rs.set("flag")
    rs.set("skipped", "1", condition=False)
    assert rs.run_args == {"foo": "bar", "flag": None}
    rs.set("foo", "baz")
    assert rs.run_args["foo"] == "baz"
    with pytest.raises(TypeError):
        rs.set(1)
    with pytest.raises(TypeError):
        rs.set("n", 4)


def test_update_env(exp):
    rs = exp.create_run_settings("echo", env_vars={"A": "1"})
    rs.update_env({"B": 2, "C": 1.5, "D": True, "A": "x"})
    assert rs.env_vars == {"A": "x", "B": "2", "C": "1.5", "D": "True"}
    with pytest.raises(TypeError):
        rs.update_env({"E": [1]})


def test_format_run_args_and_env_vars(exp):
    rs = exp.create_run_settings("echo", run_args={"n": 4, "verbose": None},
                                 env_vars={"OMP_NUM_THREADS": "8", "EMPTY": None})
    assert rs.format_run_args() == ["n", "4", "verbose", "None"]
    assert rs.format_env_vars() == ["OMP_NUM_THREADS=8", "EMPTY="]


def test_run_args_and_env_vars_are_copies_of_input(exp):
    run_args = {"n": 4}
    env = {"A": "1"}
    rs = exp.create_run_settings("echo", run_args=run_args, env_vars=env)
    run_args["n"] = 99
    env["B"] = "2"
    assert rs.run_args == {"n": 4}
    assert rs.env_vars == {"A": "1"}


def test_setters_exist_on_run_settings(exp):
    rs = exp.create_run_settings("echo")
    # the base RunSettings accepts (and ignores with a warning) scheduler-specific settings
    rs.set_nodes(2)
    rs.set_tasks(4)
    rs.set_tasks_per_node(2)
    rs.set_cpus_per_task(1)
    rs.set_hostlist(["a", "b"])
    rs.set_walltime("00:10:00")


def test_run_settings_str_mentions_exe(exp):
    rs = exp.create_run_settings("echo", exe_args=["hi"])
    text = str(rs)
    assert shutil.which("echo") in text or "echo" in text
    assert "hi" in text


# -- members get independent copies ---------------------------------------------------------

def test_members_get_independent_settings(exp):
    rs = exp.create_run_settings("echo", exe_args=["base"], run_args={"n": 1}, env_vars={"A": "1"})
    ens = exp.create_ensemble("ens", params={"p": [1, 2]}, run_settings=rs)
    first, second = ens["ens_0"].run_settings, ens["ens_1"].run_settings
    first.update_env({"A": "changed"})
    first.set("n", "8")
    first.add_exe_args("more")
    assert second.env_vars == {"A": "1"}
    assert second.run_args == {"n": 1}
    assert second.exe_args == ["base"]
    assert rs.env_vars == {"A": "1"}
    assert rs.run_args == {"n": 1}
    assert rs.exe_args == ["base"]
    assert ens["ens_0"].run_settings.env_vars == {"A": "changed"}
