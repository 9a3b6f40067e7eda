"""The launch seam: a second launcher, registered by name, runs a model, an ensemble and a
database end to end, and the controller never needs to know which launcher it talks to.

``RelayLauncher`` runs every step through the local machinery under another name, the way a
scheduler's launcher would wrap a step in ``srun``: each command goes through ``env`` with a
marker variable, and the launcher records what it was handed and how often it was polled.
"""
from __future__ import annotations

import os

import pytest

from smartsim import Experiment
from smartsim._core.launcher import base
from smartsim._core.launcher.local import LocalLauncher
from smartsim.error import SSUnsupportedError
from smartsim.status import SmartSimStatus

S = SmartSimStatus
ENV = "/usr/bin/env"


class RelayLauncher(LocalLauncher):
    name = "relay"
    capabilities = base.Capabilities(steps=True, batch=False, colocated_db=False)
    submitted: "list[str]" = []

    def submit(self, tasks, wait_launched=True):
        for task in tasks:
            task.argv = [ENV, "RELAYED_BY=relay", *task.argv]
            type(self).submitted.append(task.name)
        super().submit(tasks, wait_launched)


@pytest.fixture
def relay():
    RelayLauncher.submitted = []
    base.register_launcher(RelayLauncher)
    try:
        yield RelayLauncher
    finally:
        launcher = base._INSTANCES.pop(RelayLauncher, None)
        if launcher is not None:
            launcher.shutdown(0.5)
        base.unregister_launcher("relay")


@pytest.fixture
def rexp(relay, tmp_path):
    return Experiment("relayed", exp_path=str(tmp_path / "relayed"), launcher="relay")


def _out(entity_path, name):
    with open(os.path.join(entity_path, f"{name}.out")) as handle:
        return handle.read()


def test_registered_launcher_is_accepted_by_name(relay, tmp_path):
    assert "relay" in base.launcher_names()
    exp = Experiment("e", exp_path=str(tmp_path / "e"), launcher="RELAY")
    assert exp.launcher == "relay"
    base.unregister_launcher("relay")
    with pytest.raises(SSUnsupportedError, match="'nope'.*expected one of"):
        Experiment("e", exp_path=str(tmp_path / "e"), launcher="nope")


def test_model_runs_through_the_second_launcher(rexp, relay):
    model = rexp.create_model("m", rexp.create_run_settings("sh", ["-c", "echo via=$RELAYED_BY"]))
    rexp.start(model)
    assert rexp.get_status(model) == [S.STATUS_COMPLETED]
    assert _out(model.path, "m") == "via=relay\n"
    assert relay.submitted == ["m"]
    # and not through the local launcher's instance
    assert isinstance(rexp._control.launcher, RelayLauncher)


def test_ensemble_runs_through_the_second_launcher(rexp, relay):
    rs = rexp.create_run_settings("sh", ["-c", "echo $RELAYED_BY"])
    ens = rexp.create_ensemble("ens", run_settings=rs, replicas=4)
    fail = rexp.create_model("bad", rexp.create_run_settings("sh", ["-c", "exit 5"]))
    ens.add_model(fail)
    rexp.start(ens)
    assert rexp.get_status(ens) == [S.STATUS_COMPLETED] * 4 + [S.STATUS_FAILED]
    assert sorted(relay.submitted) == sorted([f"ens_{i}" for i in range(4)] + ["bad"])
    assert all(_out(m.path, m.name) == "relay\n" for m in list(ens)[:4])
    assert rexp.summary_data()[-1]["Returncode"] == 5


def test_what_the_launcher_cannot_do_is_refused_before_launch(rexp, relay):
    rs = rexp.create_run_settings("sleep", ["1"])
    model = rexp.create_model("colo", rs)
    model.colocate_db_tcp(port=6999)
    with pytest.raises(SSUnsupportedError, match="relay launcher cannot start"):
        rexp.start(model)
    assert relay.submitted == []


def test_scheduler_without_a_launcher_is_refused_at_start(tmp_path, monkeypatch):
    # (every scheduler SmartSim names has a launcher now: a made-up one stands for the rest)
    monkeypatch.setitem(base._KNOWN_SCHEDULERS, "acme", lambda: False)
    exp = Experiment("s", exp_path=str(tmp_path / "s"), launcher="acme")
    model = exp.create_model("m", exp.create_run_settings("true", run_command=""))
    with pytest.raises(SSUnsupportedError, match="'acme' launcher is not implemented yet"):
        exp.start(model)
