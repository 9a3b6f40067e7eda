"""``smart teardown`` (issue 14: stop from a new driver) and ``reconnect_orchestrator`` from
the checkpoint every database start writes; two drivers attached to one experiment."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from smartsim import Experiment
from smartsim._core.cli import main as smart
from smartsim._core.control import lifecycle
from smartsim._core.control.manifest import load_manifest
from smartsim._core.launcher.local import process_start_time
from smartsim.client import Client
from smartsim.error import SmartSimError
from smartsim.status import SmartSimStatus

from .conftest import alive_runs, run_driver, wait_gone


def test_smart_teardown_ends_what_killed_drivers_left(exp_path, port, tmp_path, capsys):
    driver = run_driver(exp_path, port, "kill")
    driver.send_signal(signal.SIGKILL)
    driver.wait(30)
    index = tmp_path / "state" / "smartsim" / "detached.jsonl"
    assert [json.loads(line)["exp_path"] for line in index.read_text().splitlines()] == [str(exp_path)] * 2
    deadline = time.monotonic() + 10  # the killed driver's watchdog ends what was not detached
    while len(alive := alive_runs(exp_path)) > 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(run["name"] for run in alive) == ["ens_0", "ens_1", "ens_2", "ens_3", "orchestrator_0"]
    assert smart(["teardown", "--dry-run"]) == 0
    assert "would end 5 process(es)" in capsys.readouterr().out
    assert len(alive_runs(exp_path)) == 5, "a dry run ended something"
    assert smart(["teardown", "--grace", "1"]) == 0
    assert "ended 5 process(es)" in capsys.readouterr().out
    assert wait_gone([(r["job_id"], r["start_ticks"]) for r in alive]) == []
    statuses = {run["name"]: run["status"] for run in load_manifest(str(exp_path))["runs"]}
    # teardown records what it ended; the run its driver's watchdog ended has no record (an
    # attached driver shows it Cancelled, "ended with the driver that started it")
    assert statuses.pop("not_detached") is None
    assert set(statuses.values()) == {"Cancelled"}
    assert index.read_text() == "", "an experiment with nothing left stays in the index"
    assert smart(["teardown", "--exp-path", str(tmp_path / "nope")]) == os.EX_USAGE


def test_teardown_never_touches_a_process_whose_pid_was_recycled(exp_path):
    """Records name a process by pid AND start time: another process with the pid is left."""
    exp_path.mkdir()
    bystander = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        with open(exp_path / "smartsim_manifest.jsonl", "w", encoding="utf-8") as handle:
            handle.write(json.dumps({"event": "launch", "session": "s", "name": "m", "run_id": 0,
                                     "job_id": bystander.pid, "detached": True, "start_ticks": 1}) + "\n")
        assert lifecycle.teardown([str(exp_path)], grace=0.1) == 0
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_reconnect_orchestrator_from_its_checkpoint(exp_path, port):
    exp = Experiment("db", exp_path=str(exp_path), launcher="local")
    db = exp.create_database(port=port, interface="lo")
    exp.start(db, block=False, detach=True)
    checkpoint = db.checkpoint_file
    assert os.stat(checkpoint).st_mode & 0o777 == 0o600  # it may hold a password
    Client(address=db.get_address()[0], cluster=False).put_tensor(
        "x", np.arange(3, dtype=np.int64))
    # a second driver, in another process, while the first is still alive
    code = (f"from smartsim import Experiment\nfrom smartsim.client import Client\n"
            f"exp = Experiment('other', exp_path={str(exp_path / 'other')!r})\n"
            f"db = exp.reconnect_orchestrator({checkpoint!r})\n"
            "print(Client(address=db.get_address()[0], cluster=False)"
            ".get_tensor('x').tolist())\n"
            "exp.stop(db)\nprint(db.is_active())\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[0,", "1,", "2]", "False"]
    assert not db.is_active()
    with pytest.raises(SmartSimError, match="is not running"):
        Experiment("late", exp_path=str(exp_path / "late")).reconnect_orchestrator(checkpoint)


def test_reconnect_orchestrator_refuses_a_bad_checkpoint(tmp_path):
    exp = Experiment("bad", exp_path=str(tmp_path / "bad"))
    with pytest.raises(FileNotFoundError, match="cannot be found"):
        exp.reconnect_orchestrator(tmp_path / "missing.dat")
    (tmp_path / "smartsim_db.dat").write_bytes(b"\x80\x04 not json")
    with pytest.raises(SmartSimError, match="incomplete or corrupted"):
        exp.reconnect_orchestrator(tmp_path / "smartsim_db.dat")
    for partial in ('{"shards": [], "db_identifier": "x", "path": "/p"}',
                    '{"shards": [{"name": "s0", "port": 1}], "db_identifier": "x", "path": "/p"}'):
        (tmp_path / "partial.dat").write_text(partial)
        with pytest.raises(SmartSimError, match="partial.dat is incomplete or corrupted"):
            exp.reconnect_orchestrator(tmp_path / "partial.dat")


def test_two_attached_drivers_keep_one_consistent_manifest(exp_path):
    exp = Experiment("two", exp_path=str(exp_path), launcher="local")
    rs = exp.create_run_settings("sleep", exe_args=["30"])
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=6)
    exp.start(ens, block=False, detach=True)
    time.sleep(0.5)  # the members run (a stop before a supervisor is up is another test)
    first, second = Experiment.attach(exp_path), Experiment.attach(exp_path)
    names = ens.member_names()
    barrier = threading.Barrier(2)

    def stop_half(attached, half):
        barrier.wait()
        attached.stop(*[attached.entities["ens"][name] for name in half])

    threads = [threading.Thread(target=stop_half, args=(first, names[:3])),
               threading.Thread(target=stop_half, args=(second, names[3:]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    exp.poll(interval=0.1, verbose=False)
    for attached in (first, second, exp):
        attached._control.checkpoint()
    with open(exp_path / "smartsim_manifest.json", encoding="utf-8") as handle:
        doc = json.load(handle)  # written last by one of them, it knows what both did
    assert {run["name"]: run["status"] for run in doc["runs"]} == {name: "Cancelled" for name in names}
    assert exp.get_status(ens) == [SmartSimStatus.STATUS_CANCELLED] * 6


ESCAPER = """
import subprocess, sys, time
# a grandchild in a session (and process group) of its own, as a daemonising tool makes
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
open("grandchild.pid", "w").write(str(child.pid))
time.sleep(600)
"""


def test_teardown_also_ends_what_left_a_detached_runs_process_group(exp_path, capsys):
    """A detached run's descendant in another process group still carries the run's launch
    token: ``smart teardown`` finds it by that token and ends it with the run."""
    driver = textwrap.dedent(f"""
        import sys
        from smartsim import Experiment
        exp = Experiment("esc", exp_path={str(exp_path)!r})
        model = exp.create_model("escaper", exp.create_run_settings(sys.executable, ["-c", {ESCAPER!r}]))
        exp.generate(model)
        exp.start(model, block=False, detach=True)
    """)
    subprocess.run([sys.executable, "-c", driver], check=True, timeout=60)
    pid_file = exp_path / "escaper" / "grandchild.pid"
    deadline = time.monotonic() + 20
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    ticks = process_start_time(grandchild)
    try:
        assert os.getpgid(grandchild) == grandchild  # not in its run's group: killpg misses it
        assert smart(["teardown", "--exp-path", str(exp_path), "--dry-run"]) == 0
        said = capsys.readouterr().out
        assert f"would end process {grandchild} of {exp_path}" in said
        assert "would end 2 process(es)" in said
        assert smart(["teardown", "--exp-path", str(exp_path), "--grace", "1"]) == 0
        assert "ended 2 process(es)" in capsys.readouterr().out
        assert wait_gone([(grandchild, ticks)]) == []
        assert [run for run in alive_runs(exp_path)] == []
    finally:
        try:
            os.kill(grandchild, signal.SIGKILL)
        except OSError:
            pass
