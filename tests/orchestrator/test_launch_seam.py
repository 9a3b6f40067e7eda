"""A database goes through the launcher of the experiment that starts it: its shards and
its executor sidecars are submitted to (and stopped by) the launcher the controller found by
name, never handed to the local launcher behind the controller's back."""
from __future__ import annotations

import pytest

from smartsim import Experiment
from smartsim._core.launcher import base
from smartsim._core.launcher.local import LocalLauncher
from smartsim.status import SmartSimStatus
from tests._testbase import free_ports


class RecordingLauncher(LocalLauncher):
    """The local machinery under another name, recording what it is handed."""

    name = "recording"
    submitted: "list[str]" = []
    stopped: "list[str]" = []

    def submit(self, tasks, wait_launched=True):
        type(self).submitted.extend(task.name for task in tasks)
        super().submit(tasks, wait_launched)

    def stop(self, tasks, grace=base.DEFAULT_STOP_GRACE):
        type(self).stopped.extend(task.name for task in tasks)
        super().stop(tasks, grace)


@pytest.fixture
def recording():
    RecordingLauncher.submitted, RecordingLauncher.stopped = [], []
    base.register_launcher(RecordingLauncher)
    try:
        yield RecordingLauncher
    finally:
        launcher = base._INSTANCES.pop(RecordingLauncher, None)
        if launcher is not None:
            launcher.shutdown(0.5)
        base.unregister_launcher("recording")


def _local_task_names():
    local = base._INSTANCES.get(LocalLauncher)
    return [task.name for task in local.live_tasks()] if local is not None else []


def test_shards_and_sidecars_go_through_the_experiments_launcher(recording, tmp_path, monkeypatch):
    monkeypatch.setenv("SMARTSIM_EXECUTOR", "1")
    monkeypatch.setenv("SMARTSIM_EXECUTOR_ARGS", "--no-prewarm")
    from smartsim.database.orchestrator import executor_wanted

    if not executor_wanted():
        pytest.skip("no ML runtime installed: no executor sidecars")
    exp = Experiment("seam", exp_path=str(tmp_path / "seam"), launcher="recording")
    db = exp.create_database(port=free_ports(1), db_identifier="seamdb")
    exp.start(db)
    try:
        assert db.is_active()
        assert recording.submitted[0] == "seamdb_0"
        assert "seamdb_0-executor" in recording.submitted
        assert not [name for name in _local_task_names() if name.startswith("seamdb")]
    finally:
        exp.stop(db)
    assert exp.get_status(db) == [SmartSimStatus.STATUS_CANCELLED]
    # the executor was running (start waits until it registers): the same launcher ends it
    assert "seamdb_0" in recording.stopped and "seamdb_0-executor" in recording.stopped
    assert not db.is_active()
