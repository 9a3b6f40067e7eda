"""3-shard orchestrators on PBS, LSF and Cobalt through their FAKE schedulers, used by a model
through the client: inside an allocation (each shard and its executor a step on an
allocation host: ``pbs_tmrsh``, ``blaunch``, ``aprun -L``) and as a batch job (one job holds
the nodes and runs the shards as its steps, through the job agent); a SIGKILLed driver
leaves no job and no shard behind. Each driver is a script run the way a user runs it."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from tests._testbase import free_ports

from .conftest import CANCEL_COMMAND, SUBMIT_COMMAND, SYSTEMS, run_driver, wait_until

pytestmark = pytest.mark.timeout(240)

STEP_COMMAND = {"pbs": "pbs_tmrsh", "lsf": "blaunch", "cobalt": "aprun"}

APP = textwrap.dedent("""\
    import json, os, numpy as np
    from smartsim.client import Client
    client = Client(cluster=True)
    client.put_tensor("x", np.arange(4.0))
    print(json.dumps({"ssdb": os.environ["SSDB"], "x": client.get_tensor("x").tolist()}))
    """)

DRIVER = textwrap.dedent("""\
    import json, os, sys, time
    from smartsim import Experiment
    launcher, exp_path, mode, port, app = sys.argv[1:6]
    exp = Experiment("ex", exp_path=exp_path, launcher=launcher)
    db = exp.create_database(db_nodes=3, port=int(port), interface="lo", batch=(mode != "allocation"),
                             time="00:05:00")
    exp.start(db)
    out = {"address": db.get_address()}
    if mode == "kill":
        print("@@" + json.dumps(out), flush=True)
        time.sleep(600)
    # in an allocation the model is a step (the run command); outside one a local process
    rs = exp.create_run_settings(sys.executable, ["-c", app],
                                 run_command="auto" if mode == "allocation" else "")
    model = exp.create_model("app", rs)
    exp.start(model)
    out["status"] = [s.value for s in exp.get_status(model)]
    out["app"] = open(os.path.join(model.path, "app.out")).read()
    out["app_err"] = open(os.path.join(model.path, "app.err")).read()[-2000:]
    exp.stop(db)
    out["db_status"] = [s.value for s in exp.get_status(db)]
    print("@@" + json.dumps(out))
    """)


@pytest.fixture(params=SYSTEMS)
def system(request):
    return request.param


def _answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _drive(fake, tmp_path, mode, env):
    port = free_ports(3, cluster=True)
    proc = run_driver(DRIVER, tmp_path, env, args=[fake.launcher, str(tmp_path / "exp"), mode, str(port), APP])
    lines = [line for line in proc.stdout.splitlines() if line.startswith("@@")]
    assert proc.returncode == 0 and lines, f"driver failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    out = json.loads(lines[-1][2:])
    out["app"] = json.loads(out["app"].strip().splitlines()[-1]) if out["app"].strip() else out["app_err"]
    return out, port


def test_three_shard_database_in_an_allocation(fake_wlm, system, tmp_path, aimodule_path):
    fake = fake_wlm(system)
    out, port = _drive(fake, tmp_path, "allocation", dict(fake.env, **fake.allocation(nodes=3)))
    addresses = [f"127.0.0.1:{port + i}" for i in range(3)]
    assert out["status"] == ["Completed"], out
    assert out["address"] == addresses
    assert out["app"] == {"ssdb": ",".join(addresses), "x": [0.0, 1.0, 2.0, 3.0]}
    assert out["db_status"] == ["Cancelled"] * 3
    # each shard and each executor ran as a step on an allocation host; no job was submitted
    steps = fake.calls(STEP_COMMAND[system])
    shards = [call for call in steps if "redis-server" in " ".join(call)]
    executors = [call for call in steps if "smartsim._core.executor" in call]
    assert len(shards) == 3 and len(executors) >= 3
    assert all("localhost" in call for call in shards + executors)
    assert fake.calls(SUBMIT_COMMAND[system]) == []
    assert not any(_answers(port + i) for i in range(3))


def test_three_shard_database_as_a_batch_job(fake_wlm, system, tmp_path, aimodule_path):
    fake = fake_wlm(system)
    out, port = _drive(fake, tmp_path, "batch", fake.env)
    addresses = [f"127.0.0.1:{port + i}" for i in range(3)]
    assert out["status"] == ["Completed"], out
    assert out["app"] == {"ssdb": ",".join(addresses), "x": [0.0, 1.0, 2.0, 3.0]}
    assert out["db_status"] == ["Cancelled"] * 3
    # one job held the database's three nodes; the shards ran in it as steps on its host
    jobs = fake.jobs()
    assert len(jobs) == 1 and jobs[0]["nodes"] == 3 and jobs[0]["name"] == "orchestrator"
    assert sum("redis-server" in " ".join(call) for call in fake.calls(STEP_COMMAND[system])) == 3
    # stop ended it (the driver's watchdog may repeat the cancel at exit if the driver left
    # before it saw the job end): no job of ours is left
    assert {jobs[0]["seq"]} == {int(call[1].split(".")[0]) for call in fake.calls(CANCEL_COMMAND[system])}
    assert wait_until(lambda: fake.jobs()[0]["state"] == "finished", 10)
    assert wait_until(lambda: not fake.job_processes_alive(fake.jobs()[0]), 10)
    assert not any(_answers(port + i) for i in range(3))
    assert not list((tmp_path / "exp" / "orchestrator").glob(".orchestrator.steps.*"))


def test_killed_driver_leaves_no_database_job(fake_wlm, system, tmp_path, aimodule_path):
    fake = fake_wlm(system)
    port = free_ports(3, cluster=True)
    path = tmp_path / "driver.py"
    path.write_text(DRIVER)
    driver = subprocess.Popen([sys.executable, str(path), system, str(tmp_path / "exp"), "kill", str(port), APP],
                              env=dict(fake.env, SMARTSIM_LOG_LEVEL="quiet"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        line = driver.stdout.readline()
        assert line.startswith("@@"), driver.stderr.read() if driver.poll() is not None else line
        assert all(_answers(port + i) for i in range(3))
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        job = fake.jobs()[0]
        assert wait_until(lambda: fake.jobs()[0]["state"] == "finished", 20)
        assert fake.jobs()[0]["cancel"]
        assert wait_until(lambda: not fake.job_processes_alive(fake.jobs()[0]), 10)
        assert wait_until(lambda: not any(_answers(port + i) for i in range(3)), 10)
        assert {str(job["seq"])} == {call[1].split(".")[0] for call in fake.calls(CANCEL_COMMAND[system])}
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
