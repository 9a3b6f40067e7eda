"""Issue 13: runs that outlive the driver. Driver 1 (a real subprocess) starts a database and
a 4-member ensemble with ``detach=True``; it is SIGKILLed (or exits normally); everything
keeps running; driver 2 attaches by ``exp_path``, sees them Running, reads through the
attached database's address a tensor a member wrote, stops them; nothing is left."""
from __future__ import annotations

import json
import logging
import signal
import time

import numpy as np
import pytest

from smartsim import Experiment
from smartsim.client import Client
from smartsim.status import SmartSimStatus

from .conftest import alive_runs, run_driver, wait_gone

RUNNING = SmartSimStatus.STATUS_RUNNING
CANCELLED = SmartSimStatus.STATUS_CANCELLED


@pytest.mark.parametrize("how", ["kill", "exit"])
def test_detached_work_survives_its_driver_and_a_new_driver_attaches(exp_path, port, how):
    driver = run_driver(exp_path, port, how)
    if how == "kill":
        driver.send_signal(signal.SIGKILL)
    driver.wait(30)
    time.sleep(2.0)  # the killed driver's watchdog sweeps within about a second
    alive = alive_runs(exp_path)
    assert sorted(run["name"] for run in alive) == ["ens_0", "ens_1", "ens_2", "ens_3", "orchestrator_0"]
    pids = [(run["job_id"], run["start_ticks"]) for run in alive]

    exp = Experiment.attach(exp_path)
    assert set(exp.entities) == {"orchestrator", "ens", "not_detached"}
    ens, db = exp.entities["ens"], exp.entities["orchestrator"]
    # ended with driver 1 (by its watchdog, or by its exit hook), and recorded as such
    assert exp.get_status(exp.entities["not_detached"]) == [CANCELLED]
    assert ens.member_names() == [f"ens_{i}" for i in range(4)]
    assert exp.get_status(ens) == [RUNNING] * 4
    assert exp.get_status(db) == [RUNNING]
    assert not exp.finished(ens)
    assert db.get_address() == [f"127.0.0.1:{port}"] and db.is_active()
    client = Client(address=db.get_address()[0], cluster=False)
    assert np.array_equal(client.get_tensor("ens_2.ens_2_tensor"), np.full(4, 5.0, dtype=np.float32))

    exp.stop(ens, db)
    assert exp.get_status(ens) == [CANCELLED] * 4 and exp.finished(ens)
    assert not db.is_active()
    assert wait_gone(pids) == [], "a process of the experiment outlived stop"
    assert exp.summary().count("STATUS_CANCELLED") == 6
    exp._control.checkpoint()
    with open(exp_path / "smartsim_manifest.json", encoding="utf-8") as handle:
        runs = {run["name"]: run for run in json.load(handle)["runs"]}
    assert {runs[f"ens_{i}"]["status"] for i in range(4)} == {"Cancelled"}
    assert runs["orchestrator_0"]["status"] == "Cancelled"


def test_a_detached_member_that_ends_alone_is_seen_completed_or_failed(exp_path, tmp_path):
    """Its supervisor records the end, so driver 2 sees Completed/Failed, not 'unknown'."""
    exp = Experiment("ends", exp_path=str(exp_path), launcher="local")
    ok = exp.create_model("ok", exp.create_run_settings("true"))
    bad = exp.create_model("bad", exp.create_run_settings("sh", exe_args=["-c", "exit 3"]))
    exp.start(ok, bad, block=False, detach=True)
    exp.poll(interval=0.1, verbose=False)
    assert exp.get_status(ok, bad) == [SmartSimStatus.STATUS_COMPLETED, SmartSimStatus.STATUS_FAILED]
    assert (exp_path / "bad" / "bad.exitcode").read_text().strip() == "3"

    again = Experiment.attach(exp_path)
    assert again.get_status(again.entities["ok"], again.entities["bad"]) == [
        SmartSimStatus.STATUS_COMPLETED, SmartSimStatus.STATUS_FAILED]
    assert {row["Name"]: row["Returncode"] for row in again.summary_data()} == {"ok": 0, "bad": 3}
    # telemetry: the job's own event log, as it happened (the driver's lines and its supervisor's)
    events = [json.loads(line) for line in (exp_path / "bad" / "bad.events.jsonl").read_text().splitlines()]
    assert events[0]["event"] == "launch" and events[0]["path"] == str(exp_path / "bad")
    assert events[0]["command"][-2:] == ["-c", "exit 3"] and events[0]["detached"] is True
    ends = [ev for ev in events[1:] if ev["event"] == "end"]
    assert ends and {(ev["status"], ev["returncode"]) for ev in ends} == {("Failed", 3)}
    assert any(ev.get("by") == "supervisor" for ev in ends)


def test_only_failed_relaunches_an_attached_failed_member(exp_path):
    exp = Experiment("relaunch", exp_path=str(exp_path), launcher="local")
    rs = exp.create_run_settings("sh", exe_args=["-c", "test -e ../go"])
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=2)
    exp.start(ens, block=False, detach=True)
    exp.poll(interval=0.1, verbose=False)
    assert exp.get_status(ens) == [SmartSimStatus.STATUS_FAILED] * 2

    again = Experiment.attach(exp_path)
    (exp_path / "ens" / "go").write_text("")
    again.start(again.entities["ens"], only_failed=True, block=True)
    assert again.get_status(again.entities["ens"]) == [SmartSimStatus.STATUS_COMPLETED] * 2


def test_attach_says_which_environment_values_were_not_recorded(exp_path, caplog):
    exp = Experiment("envs", exp_path=str(exp_path), launcher="local")
    rs = exp.create_run_settings("sh", exe_args=["-c", 'test -n "$MY_TOKEN"'],
                                 env_vars={"MY_TOKEN": "s3cret"})
    model = exp.create_model("app", rs)
    exp.start(model, block=False, detach=True)
    exp.poll(interval=0.1, verbose=False)
    assert exp.get_status(model) == [SmartSimStatus.STATUS_COMPLETED]
    # the value never reaches the records; the name does, and attach says it must be set again
    assert not [p for p in exp_path.rglob("*.json*") if "s3cret" in p.read_text()]
    logger = logging.getLogger("smartsim")
    logger.addHandler(caplog.handler)
    try:
        again = Experiment.attach(exp_path)
    finally:
        logger.removeHandler(caplog.handler)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("app" in msg and "MY_TOKEN" in msg for msg in warned), warned
    again.entities["app"].run_settings.env_vars["MY_TOKEN"] = "s3cret"
    again.start(again.entities["app"], block=True)
    assert again.get_status(again.entities["app"]) == [SmartSimStatus.STATUS_COMPLETED]


def test_detach_with_block_is_refused_before_anything_runs(exp_path):
    exp = Experiment("refuse", exp_path=str(exp_path), launcher="local")
    model = exp.create_model("m", exp.create_run_settings("true"))
    with pytest.raises(ValueError, match="detach=True.*block=False"):
        exp.start(model, detach=True)
    with pytest.raises(ValueError, match="max_concurrent=2"):
        exp.start(model, block=False, detach=True, max_concurrent=2)
    assert not (exp_path / "smartsim_manifest.jsonl").exists()


def test_attach_needs_a_manifest(tmp_path):
    with pytest.raises(FileNotFoundError, match="no experiment to attach"):
        Experiment.attach(tmp_path)


def test_every_run_gets_an_event_log_with_telemetry_on(exp_path, monkeypatch):
    monkeypatch.setenv("SMARTSIM_FLAG_TELEMETRY", "1")
    exp = Experiment("telemetry", exp_path=str(exp_path), launcher="local")
    model = exp.create_model("m", exp.create_run_settings("sh", exe_args=["-c", "exit 2"]))
    exp.start(model, block=True)
    exp.launch_manifest()  # (syncs the journal thread)
    events = [json.loads(line) for line in (exp_path / "m" / "m.events.jsonl").read_text().splitlines()]
    assert [ev["event"] for ev in events] == ["launch", "end"]
    assert events[1]["status"] == "Failed" and events[1]["returncode"] == 2
    monkeypatch.setenv("SMARTSIM_FLAG_TELEMETRY", "0")
    other = exp.create_model("n", exp.create_run_settings("true"))
    exp.start(other, block=True)
    exp.launch_manifest()
    assert not (exp_path / "n" / "n.events.jsonl").exists()


def test_a_supervisor_end_written_before_the_launch_line_folds_into_one_run():
    from smartsim._core.control.manifest import _Fold

    key = {"session": "s1", "name": "m", "run_id": 0}
    fold = _Fold()
    fold.add({"event": "end", **key, "time": 2.0, "status": "Completed", "returncode": 0,
              "elapsed": 1.0, "by": "supervisor"})
    fold.add({"event": "launch", **key, "time": 1.0, "job_id": 123, "path": "/x/m", "detached": True})
    assert len(fold.runs) == 1
    run = fold.runs[0]
    assert (run["status"], run["returncode"], run["job_id"], run["launched_at_epoch"]) == ("Completed", 0, 123, 1.0)
