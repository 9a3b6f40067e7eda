"""Local launch: outcomes, outputs, environment, statuses, errors, summary."""
from __future__ import annotations

import os
import time

import pytest

from smartsim import Experiment
from smartsim.error import (EntityExistsError, EntityNotLaunchedError, EntityRunningError,
                            ExecutableNotFoundError, NotExecutableError, SmartSimError,
                            UnknownEntityError)
from smartsim.status import SmartSimStatus

S = SmartSimStatus


def test_success_writes_outputs_and_completes(exp):
    rs = exp.create_run_settings("sh", exe_args=["-c", "echo out; echo err >&2"])
    model = exp.create_model("hello", rs)
    assert exp.get_status(model) == [S.STATUS_NEVER_STARTED]
    exp.start(model)
    assert exp.get_status(model) == [S.STATUS_COMPLETED]
    assert exp.finished(model)
    assert model.path == os.path.join(exp.exp_path, "hello")
    with open(os.path.join(model.path, "hello.out")) as handle:
        assert handle.read() == "out\n"
    with open(os.path.join(model.path, "hello.err")) as handle:
        assert handle.read() == "err\n"
    row = exp.summary_data()[0]
    assert row["Returncode"] == 0 and row["Status"] is S.STATUS_COMPLETED and row["RunID"] == 0


def test_runs_in_its_own_directory(exp, tmp_path):
    path = tmp_path / "elsewhere" / "deep"
    model = exp.create_model("where", exp.create_run_settings("pwd"), path=str(path))
    exp.start(model)
    assert (path / "where.out").read_text().strip() == str(path)


def test_failure_keeps_return_code(exp):
    model = exp.create_model("three", exp.create_run_settings("sh", exe_args=["-c", "sleep 0.05; exit 3"]))
    exp.start(model)
    assert exp.get_status(model) == [S.STATUS_FAILED]
    assert exp.summary_data()[-1]["Returncode"] == 3


def test_instant_failure_is_failed_not_never_started(exp):
    """0.8.0 reports a model that dies in the first millisecond as NeverStarted."""
    models = [exp.create_model(f"f{i}", exp.create_run_settings("false")) for i in range(5)]
    exp.start(*models)
    assert exp.get_status(*models) == [S.STATUS_FAILED] * 5
    assert {row["Returncode"] for row in exp.summary_data()} == {1}


def test_killed_by_signal_is_failed_with_negative_code(exp):
    model = exp.create_model("sig", exp.create_run_settings("sh", exe_args=["-c", "kill -9 $$"]))
    exp.start(model)
    assert exp.get_status(model) == [S.STATUS_FAILED]
    assert exp.summary_data()[-1]["Returncode"] == -9


def test_env_vars_over_driver_environment(exp, monkeypatch):
    monkeypatch.setenv("FROM_DRIVER", "driver")
    monkeypatch.setenv("OVERRIDDEN", "driver")
    rs = exp.create_run_settings("sh", exe_args=["-c", 'echo "$FROM_DRIVER $OVERRIDDEN $NEW [$EMPTY]"'],
                                 env_vars={"OVERRIDDEN": "settings", "NEW": "1", "EMPTY": None})
    model = exp.create_model("env", rs)
    exp.start(model)
    with open(os.path.join(model.path, "env.out")) as handle:
        assert handle.read() == "driver settings 1 []\n"


def test_block_returns_when_last_member_ends(exp):
    rs = exp.create_run_settings("sleep", exe_args=["0.3"])
    ens = exp.create_ensemble("nap", run_settings=rs, replicas=3)
    began = time.monotonic()
    exp.start(ens, max_concurrent=3)
    took = time.monotonic() - began
    assert exp.get_status(ens) == [S.STATUS_COMPLETED] * 3
    assert 0.3 <= took < 1.5, took


def test_nonblocking_start_then_poll_and_finished(exp):
    model = exp.create_model("later", exp.create_run_settings("sleep", exe_args=["0.3"]))
    exp.start(model, block=False)
    assert exp.get_status(model) == [S.STATUS_RUNNING]
    assert not exp.finished(model)
    began = time.monotonic()
    exp.poll(interval=5, verbose=False)
    assert time.monotonic() - began < 2.0  # returns when the job ends, not on the interval
    assert exp.finished(model)
    assert exp.get_status(model) == [S.STATUS_COMPLETED]
    exp.poll(interval=5)  # nothing running: returns at once


def test_restart_appends_a_run(exp):
    model = exp.create_model("again", exp.create_run_settings("true"))
    exp.start(model)
    exp.start(model)
    rows = [r for r in exp.summary_data() if r["Name"] == "again"]
    assert [r["RunID"] for r in rows] == [0, 1]
    assert rows[0]["JobID"] != rows[1]["JobID"]


def test_missing_executable_is_an_error_before_launch(exp, script):
    exe = script("tool.sh", "exit 0\n")
    model = exp.create_model("ghost", exp.create_run_settings(exe))
    other = exp.create_model("fine", exp.create_run_settings("true"))
    os.remove(exe)
    with pytest.raises(ExecutableNotFoundError, match="ghost") as info:
        exp.start(other, model)
    assert exe in str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert exp.get_status(other, model) == [S.STATUS_NEVER_STARTED] * 2  # nothing launched


def test_not_executable_is_an_error_before_launch(exp, script):
    exe = script("tool.sh", "exit 0\n")
    ens = exp.create_ensemble("noexec", run_settings=exp.create_run_settings(exe), replicas=3)
    os.chmod(exe, 0o644)
    with pytest.raises(NotExecutableError, match="noexec"):
        exp.start(ens)
    assert exp.get_status(ens) == [S.STATUS_NEVER_STARTED] * 3


def test_starting_a_running_entity_twice_is_an_error(exp):
    model = exp.create_model("busy", exp.create_run_settings("sleep", exe_args=["30"]))
    exp.start(model, block=False)
    try:
        with pytest.raises(EntityRunningError, match="busy"):
            exp.start(model, block=False)
        ens = exp.create_ensemble("crowd", run_settings=exp.create_run_settings("sleep", exe_args=["30"]),
                                  replicas=2)
        exp.start(ens, block=False)
        with pytest.raises(EntityRunningError, match="crowd"):
            exp.start(ens, block=False)
    finally:
        exp.stop(model)
        exp.stop(ens)
    assert exp.get_status(model, ens) == [S.STATUS_CANCELLED] * 3


def test_same_entity_twice_in_one_call(exp):
    model = exp.create_model("dup", exp.create_run_settings("true"))
    with pytest.raises(EntityExistsError, match="dup"):
        exp.start(model, model)


def test_stop_never_started_is_an_error(exp):
    model = exp.create_model("idle", exp.create_run_settings("true"))
    with pytest.raises(EntityNotLaunchedError, match="idle"):
        exp.stop(model)
    with pytest.raises(ValueError, match="idle"):
        exp.finished(model)


def test_stop_after_completion_is_a_no_op(exp):
    model = exp.create_model("done", exp.create_run_settings("true"))
    exp.start(model)
    exp.stop(model)
    assert exp.get_status(model) == [S.STATUS_COMPLETED]


def test_get_status_of_a_foreign_entity_is_an_error(exp, tmp_path):
    other = Experiment("other", exp_path=str(tmp_path / "other"))
    stranger = other.create_model("stranger", other.create_run_settings("true"))
    with pytest.raises(UnknownEntityError, match="stranger"):
        exp.get_status(stranger)
    with pytest.raises(SmartSimError):
        exp.get_status(stranger)
    ens = exp.create_ensemble("mine", run_settings=exp.create_run_settings("true"), replicas=2)
    assert exp.get_status(ens) == [S.STATUS_NEVER_STARTED] * 2
    assert exp.get_status(ens["mine_1"]) == [S.STATUS_NEVER_STARTED]
    with pytest.raises(TypeError):
        exp.get_status("mine")


def test_summary_table(exp):
    ok = exp.create_model("ok", exp.create_run_settings("true"))
    bad = exp.create_model("bad", exp.create_run_settings("false"))
    exp.start(ok, bad)
    table = exp.summary()
    lines = table.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["", "Name", "Entity-Type", "JobID", "RunID", "Time", "Status", "Returncode"]
    body = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert [row[0] for row in body] == ["0", "1"]
    assert body[0][1:3] == ["ok", "Model"] and body[0][6:] == ["SmartSimStatus.STATUS_COMPLETED", "0"]
    assert body[1][1:3] == ["bad", "Model"] and body[1][6:] == ["SmartSimStatus.STATUS_FAILED", "1"]
    assert body[0][3].isdigit() and body[0][4] == "0"
    assert "." in body[0][5] and len(body[0][5].split(".")[1]) == 4
    assert exp.summary(style="plain").splitlines()[0].split() == [
        "Name", "Entity-Type", "JobID", "RunID", "Time", "Status", "Returncode"]


def test_ensemble_members_with_params_as_args(exp):
    rs = exp.create_run_settings("echo")
    ens = exp.create_ensemble("args", params={"x": [1, 2], "y": ["a"]}, run_settings=rs,
                              params_as_args=["x", "y"])
    exp.start(ens)
    outs = [open(os.path.join(m.path, f"{m.name}.out")).read() for m in ens]
    assert outs == ["-x 1 -y a\n", "-x 2 -y a\n"]
    assert all(r["Entity-Type"] == "Model" for r in exp.summary_data())


def test_member_with_its_own_settings(exp):
    rs = exp.create_run_settings("sh", exe_args=["-c", 'echo "$WHO"'], env_vars={"WHO": "shared"})
    ens = exp.create_ensemble("own", run_settings=rs, replicas=2)
    ens["own_1"].run_settings.update_env({"WHO": "mine"})
    exp.start(ens)
    assert [open(os.path.join(m.path, f"{m.name}.out")).read() for m in ens] == ["shared\n", "mine\n"]


def test_lists_of_entities_and_progress_flag(exp, capsys):
    models = [exp.create_model(f"l{i}", exp.create_run_settings("true")) for i in range(3)]
    exp.start(models, progress=True)
    assert exp.get_status(models) == [S.STATUS_COMPLETED] * 3


def test_unsupported_and_wrong_types(exp):
    with pytest.raises(TypeError):
        exp.start("not an entity")
    batch_exp = Experiment("b", exp_path=exp.exp_path, launcher="local")
    from smartsim.settings.base import RunSettings
    model = batch_exp.create_model("m", RunSettings("true"))
    model.batch_settings = object()
    with pytest.raises(SmartSimError, match="batch"):
        batch_exp.start(model)


@pytest.fixture
def stalled_engine(monkeypatch):
    """This process's local launcher, its engine never getting to a command (waits cut to
    0.05 s): ``(engine, the warnings it logs)``."""
    from smartsim._core.launcher import local

    engine = local.LocalLauncher.instance()
    said: list = []
    monkeypatch.setattr(local, "ADOPT_WAIT_S", 0.05)
    monkeypatch.setattr(local, "SUBMIT_WAIT_S", 0.05)
    monkeypatch.setattr(local.logger, "warning", said.append)
    monkeypatch.setattr(engine, "_command", lambda cmd: None)
    monkeypatch.setattr(engine, "_watchdog", object())  # none started for these
    return engine, said


def test_adopt_says_so_when_the_engine_does_not_take_over(stalled_engine):
    engine, said = stalled_engine
    engine.adopt([object(), object()])  # type: ignore[list-item]  # never looked at
    assert said == ["The local launcher has not taken over 2 running processes after 0.05 s; "
                    "their status may lag"]


def test_submit_says_so_when_the_first_wave_is_late(stalled_engine):
    engine, said = stalled_engine

    class Sentinel:
        status = None

    engine.submit([Sentinel(), Sentinel(), Sentinel()])  # type: ignore[list-item]
    assert said == ["The local launcher has not started the first of 3 tasks after 0.05 s; "
                    "they show Queued until it does"]
