"""Orchestrators on a real Slurm: a 3-shard database used by a model through the client,
inside an allocation (shards are steps on the allocation's nodes) and as a batch job (one job
holds the nodes, shards run in it as steps); a colocated model runs its database inside its
own step. Each driver is a script run the way a user runs it (``salloc ... python driver.py``
or plainly, for the batch case), so the launcher sees a real allocation."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.timeout(240)

APP = textwrap.dedent("""\
    import os, numpy as np
    from smartsim.client import Client
    client = Client(cluster=os.environ["SR_DB_TYPE"] == "Clustered")
    client.put_tensor("x", np.arange(4.0))
    print(json.dumps({"ssdb": os.environ["SSDB"], "x": client.get_tensor("x").tolist(),
                      "job": os.environ.get("SLURM_JOB_ID"), "step": os.environ.get("SLURM_STEP_ID")}))
    """).replace("import os,", "import json, os,")

DRIVER = textwrap.dedent("""\
    import json, os, subprocess, sys
    from smartsim import Experiment
    exp = Experiment("ex", exp_path=sys.argv[1], launcher="slurm")
    mode, port = sys.argv[2], int(sys.argv[3])
    out = {}
    if mode == "colocated":
        db = None
    else:
        db = exp.create_database(db_nodes=3, port=port, interface="lo", batch=(mode == "batch"),
                                 time="00:05:00")
        exp.start(db)
        out["address"] = db.get_address()
        out["db_steps"] = subprocess.run(["squeue", "--steps", "--noheader", "--format=%i %j"],
                                         capture_output=True, text=True).stdout.split("\\n")
    rs = exp.create_run_settings(sys.executable, ["-c", sys.argv[4]])
    rs.set_nodes(1)
    rs.set_tasks(1)
    model = exp.create_model("app", rs)
    if mode == "colocated":
        model.colocate_db_tcp(port=port)
    exp.start(model)
    out["status"] = [s.value for s in exp.get_status(model)]
    out["app"] = open(os.path.join(model.path, "app.out")).read()
    out["app_err"] = open(os.path.join(model.path, "app.err")).read()[-2000:]
    if db is not None:
        exp.stop(db)
        out["db_status"] = [s.value for s in exp.get_status(db)]
    print("@@" + json.dumps(out))
    """)


def _drive(local_slurm, tmp_path, mode, port, prefix=()):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    env = dict(local_slurm.env, SMARTSIM_LOG_LEVEL="quiet")
    proc = subprocess.run([*prefix, sys.executable, str(script), str(tmp_path / "exp"), mode, str(port), APP],
                          env=env, capture_output=True, text=True, timeout=200)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("@@")]
    assert proc.returncode == 0 and lines, f"driver failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    out = json.loads(lines[-1][2:])
    out["app"] = json.loads(out["app"].strip().splitlines()[-1]) if out["app"].strip() else out["app_err"]
    return out, _drained(local_slurm)


def _drained(local_slurm, timeout=15.0):
    """What ``squeue`` still lists once the queue is empty or ``timeout`` has passed (a job
    that just ended, e.g. the driver's own allocation, stays a moment in COMPLETING)."""
    deadline = time.monotonic() + timeout
    while True:
        left = local_slurm.run(["squeue", "--noheader", "--format=%i %j %T"]).stdout.strip()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def test_three_shard_database_in_an_allocation(local_slurm, tmp_path):
    out, leftover = _drive(local_slurm, tmp_path, "allocation", 7101, ["salloc", "-N3", "--time=5"])
    assert out["status"] == ["Completed"], out
    assert out["address"] == ["127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"]
    assert out["app"]["ssdb"] == "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"
    assert out["app"]["x"] == [0.0, 1.0, 2.0, 3.0]
    # the shards ran as steps of the allocation, one per node, each with its executor
    steps = [line.split()[1] for line in out["db_steps"] if line.strip()]
    assert sorted(s for s in steps if s.startswith("orchestrator")) == sorted(
        [f"orchestrator_{i}" for i in range(3)] + [f"orchestrator_{i}-executor" for i in range(3)])
    assert out["db_status"] == ["Cancelled"] * 3
    assert leftover == ""


def test_three_shard_database_as_a_batch_job(local_slurm, tmp_path):
    out, leftover = _drive(local_slurm, tmp_path, "batch", 7111)
    assert out["status"] == ["Completed"], out
    assert out["app"]["ssdb"] == "127.0.0.1:7111,127.0.0.1:7112,127.0.0.1:7113"
    assert out["app"]["x"] == [0.0, 1.0, 2.0, 3.0]
    # one job: every shard is a step of the same batch job
    shard_jobs = {line.split()[0].split(".")[0] for line in out["db_steps"]
                  if line.strip() and line.split()[1].startswith("orchestrator_")}
    assert len(shard_jobs) == 1, out["db_steps"]
    assert leftover == "", f"the database's job is still queued or running: {leftover}"


def test_colocated_database_runs_inside_the_model_step(local_slurm, tmp_path):
    out, leftover = _drive(local_slurm, tmp_path, "colocated", 7121, ["salloc", "-N1", "--time=5"])
    assert out["status"] == ["Completed"], out
    assert out["app"]["ssdb"] == "127.0.0.1:7121"
    assert out["app"]["x"] == [0.0, 1.0, 2.0, 3.0]
    assert out["app"]["step"] is not None  # the application (and its database) ran in a step
    assert leftover == ""


def test_database_without_allocation_or_hosts_is_refused(local_slurm, tmp_path, monkeypatch):
    for var in [v for v in os.environ if v.startswith("SLURM_JOB") or v == "SLURM_NODELIST"]:
        monkeypatch.delenv(var)
    from smartsim import Experiment
    from smartsim.error import SmartSimError

    exp = Experiment("noalloc", exp_path=str(tmp_path / "noalloc"), launcher="slurm")
    db = exp.create_database(db_nodes=3, port=7131, interface="lo")
    with pytest.raises(SmartSimError, match="needs hosts to run its shards on"):
        exp.start(db)
    assert _drained(local_slurm) == ""
