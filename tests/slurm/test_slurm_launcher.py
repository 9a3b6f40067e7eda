"""The Slurm launcher on a real Slurm (the ``local_slurm`` fixture: three nodes on this host).

Each driver is a script run the way a user runs it -- plainly, or inside ``salloc -N3`` when
its members should be steps of an allocation -- so the launcher sees a real allocation, a
real ``srun``, ``sbatch``, ``squeue`` and ``scancel``. What each test shows:

- a model started through ``srun`` (launcher="slurm"): its output, ``Completed``, exit status 0;
- 8 ensemble members as steps of the driver's allocation: all ``Completed``, each member's
  output shows it ran as a step (``SLURM_STEP_ID``) of the allocation's job, three at a time
  (one per node: the default cap is the allocation's CPUs, not this machine's cores);
- an ensemble as ONE batch job: one job id for every member, statuses Queued/Running ->
  Completed, each member a step of that job;
- ``stop`` of a running batch job (and of one still pending): ``Cancelled`` -- members whose
  steps still waited for a node too, a member that ended before the stop keeps its status --
  and the job gone from ``squeue`` within seconds;
- a failing member is ``Failed`` with its exit code, as a step and inside a batch job;
- a driver killed with SIGKILL leaves no job or step of its own in ``squeue`` after 10 s.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.timeout(180)

PRELUDE = textwrap.dedent("""\
    import json, os, subprocess, sys, time
    from smartsim import Experiment
    exp = Experiment("ex", exp_path=sys.argv[1], launcher="slurm")
    # a member prints where it ran: job id, step id, node
    WHERE = 'echo "where $SLURM_JOB_ID $SLURM_STEP_ID $SLURMD_NODENAME"'

    def emit(**fields):
        print("@@" + json.dumps(fields), flush=True)

    def srun_settings(command):
        rs = exp.create_run_settings("bash", ["-c", command])
        rs.set_nodes(1)
        rs.set_tasks(1)
        return rs

    def outputs(entity):
        members = list(entity) if hasattr(entity, "__iter__") else [entity]
        return {m.name: open(os.path.join(m.path, m.name + ".out")).read() for m in members}

    def rows():
        return {r["Name"]: {"job": r["JobID"], "status": r["Status"].value, "rc": r["Returncode"]}
                for r in exp.summary_data()}

    def statuses(entity):
        return [s.value for s in exp.get_status(entity)]

    def wait_for(entity, wanted, timeout=60):
        deadline = time.monotonic() + timeout
        while statuses(entity) != wanted:
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {wanted}: {statuses(entity)}")
            time.sleep(0.05)
    """)


def _driver(local_slurm, tmp_path, body, prefix=(), timeout=120, env=None, args=()):
    """Run ``PRELUDE + body`` as a driver script; its last ``@@{json}`` line, parsed."""
    script = tmp_path / "driver.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    run_env = dict(local_slurm.env, SMARTSIM_LOG_LEVEL="quiet", **(env or {}))
    proc = subprocess.run([*prefix, sys.executable, str(script), str(tmp_path / "exp"), *args],
                          env=run_env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("@@")]
    assert proc.returncode == 0 and lines, \
        f"driver failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return json.loads(lines[-1][2:])


def _where(output):
    """(job id, step id, node) from a member's output."""
    line = [line for line in output.splitlines() if line.startswith("where ")][-1]
    _, job, step, node = line.split()
    return job, step, node


def _queue(local_slurm, *args):
    """``squeue`` lines (live jobs, or steps with ``--steps``), as ``%i %T``/``%i`` fields."""
    proc = local_slurm.run(["squeue", "--noheader", *args])
    assert proc.returncode == 0, proc.stderr
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def _gone(local_slurm, job_ids, timeout):
    """Seconds until none of ``job_ids`` (nor any step of them) is in ``squeue``; None if
    they are still there after ``timeout``."""
    t0 = time.monotonic()
    while True:
        jobs = {line.split()[0] for line in _queue(local_slurm, "--format=%i")}
        steps = {line.split()[0].split(".")[0] for line in _queue(local_slurm, "--steps", "--format=%i")}
        if not (jobs | steps) & set(job_ids):
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            return None
        time.sleep(0.1)


def _final_state(local_slurm, job_id):
    """The job's state as slurmctld still remembers it (MinJobAge) after its end."""
    proc = local_slurm.run(["squeue", "--noheader", "--states=all", "--jobs", job_id, "--format=%T"])
    return proc.stdout.strip()


def _drained(local_slurm, ignore=(), timeout=15.0):
    """``squeue`` lines of jobs not in ``ignore``, once none is left or ``timeout`` has passed
    (a job that just ended stays a moment in COMPLETING)."""
    deadline = time.monotonic() + timeout
    while True:
        left = [line for line in _queue(local_slurm, "--format=%i %j %T") if line.split()[0] not in ignore]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


@pytest.fixture(autouse=True)
def _nothing_left(local_slurm):
    """Every test leaves no job of its own in the queue (jobs of earlier tests still ending
    are waited for, and ignored if they stay)."""
    before = {line.split()[0] for line in _drained(local_slurm)}
    yield
    left = _drained(local_slurm, ignore=before)
    if left:  # end them so the next test starts clean, then fail this one
        local_slurm.run(["scancel", *[line.split()[0] for line in left]])
        pytest.fail(f"jobs left in squeue: {left}")


def test_model_runs_through_srun(local_slurm, tmp_path):
    out = _driver(local_slurm, tmp_path, """\
        rs = srun_settings(WHERE + "; echo hello from the model")
        model = exp.create_model("hello", rs)
        exp.start(model, block=True)
        emit(run_command=rs.run_command, args=rs.format_run_args(), driver_job=os.environ.get("SLURM_JOB_ID"),
             status=statuses(model), out=outputs(model), rows=rows())
        """)
    assert os.path.basename(out["run_command"]) == "srun"
    assert out["args"] == ["--nodes=1", "--ntasks=1"]
    assert out["driver_job"] is None  # no allocation: srun made its own job
    assert out["status"] == ["Completed"]
    text = out["out"]["hello"]
    assert "hello from the model" in text
    job, step, node = _where(text)
    assert job.isdigit() and step == "0", text  # the first step of the job srun created
    assert node in local_slurm.nodes
    assert out["rows"]["hello"]["rc"] == 0


def _peak(intervals):
    """The most intervals ((start, end) pairs) that overlap at one instant."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = level = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


def test_ensemble_of_8_runs_as_steps_of_the_allocation(local_slurm, tmp_path):
    out = _driver(local_slurm, tmp_path, """\
        rs = srun_settings(WHERE + '; echo "from $(date +%s.%N)"; sleep 0.5; echo "to $(date +%s.%N)"')
        ens = exp.create_ensemble("ens", run_settings=rs, replicas=8)
        t0 = time.monotonic()
        exp.start(ens, block=True)
        emit(elapsed=time.monotonic() - t0, driver_job=os.environ["SLURM_JOB_ID"],
             cpus=os.environ["SLURM_JOB_CPUS_PER_NODE"], max_concurrent=exp.max_concurrent,
             status=statuses(ens), out=outputs(ens), rows=rows())
        """, prefix=["salloc", "-N3", "--time=5"])
    assert out["status"] == ["Completed"] * 8, out
    where = {name: _where(text) for name, text in out["out"].items()}
    assert sorted(where) == [f"ens_{i}" for i in range(8)]
    # every member ran as a step of the allocation the driver runs in, each its own step
    assert {job for job, _, _ in where.values()} == {out["driver_job"]}, where
    steps = [step for _, step, _ in where.values()]
    assert all(step.isdigit() for step in steps) and len(set(steps)) == 8, where
    assert {node for _, _, node in where.values()} <= set(local_slurm.nodes)
    assert all(row["rc"] == 0 for row in out["rows"].values())
    # the steps run on the allocation's nodes: by default as many members run at once as the
    # allocation has CPUs (not as this machine has cores), so the three nodes were busy together
    # (a plain step holds a whole node: three at a time)
    count, _, times = out["cpus"].partition("(x")
    assert out["max_concurrent"] == min(4096, max(os.cpu_count() or 1, int(count) * int(times.rstrip(")") or 1)))
    spans = []
    for text in out["out"].values():
        stamps = dict(line.split() for line in text.splitlines() if line.startswith(("from ", "to ")))
        spans.append((float(stamps["from"]), float(stamps["to"])))
    assert _peak(spans) == 3, spans


def test_ensemble_as_one_batch_job(local_slurm, tmp_path):
    out = _driver(local_slurm, tmp_path, """\
        bs = exp.create_batch_settings(nodes=3, time="00:05:00")
        ens = exp.create_ensemble("ens", run_settings=srun_settings(WHERE), batch_settings=bs, replicas=4)
        exp.start(ens, block=False)
        first = statuses(ens)
        exp.poll(interval=1, verbose=False)
        emit(first=first, status=statuses(ens), out=outputs(ens), rows=rows(),
             driver_job=os.environ.get("SLURM_JOB_ID"))
        """)
    assert out["driver_job"] is None
    assert set(out["first"]) <= {"Queued", "Running"}, out["first"]
    assert out["status"] == ["Completed"] * 4, out
    # one job for every member, and each member ran as a step of it
    job_ids = {row["job"] for row in out["rows"].values()}
    assert len(job_ids) == 1, out["rows"]
    job_id = job_ids.pop()
    assert job_id and job_id.isdigit()
    where = [_where(text) for text in out["out"].values()]
    assert {job for job, _, _ in where} == {job_id}
    assert len({step for _, step, _ in where}) == 4, where
    assert all(row["rc"] == 0 for row in out["rows"].values())
    assert _final_state(local_slurm, job_id) == "COMPLETED"
    name = local_slurm.run(["squeue", "--noheader", "--states=all", "--jobs", job_id, "--format=%j"])
    assert name.stdout.strip() == "ens"  # submitted with sbatch under the ensemble's name


STOP_DRIVER = """\
    when = sys.argv[2]
    # pending: --begin holds the job in the queue, so it is stopped before it ever ran
    bs = exp.create_batch_settings(nodes=1, time="00:05:00",
                                   batch_args={"begin": "now+300"} if when == "pending" else None)
    if when == "one_ended":
        # three members side by side on the job's node (--overlap); ens_0 ends at once
        rs = srun_settings('case "${PWD##*/}" in *_0) echo quick;; *) sleep 120;; esac')
        rs.run_args["overlap"] = None
    else:
        # four members, one node: one step runs, three wait for the node ("step creation
        # temporarily disabled") when the job is cancelled
        rs = srun_settings("sleep 120")
    ens = exp.create_ensemble("ens", run_settings=rs, batch_settings=bs,
                              replicas=3 if when == "one_ended" else 4)
    exp.start(ens, block=False)
    n = len(ens)
    if when == "pending":
        time.sleep(1.5)  # a few polls: the job stays pending
    else:
        wait_for(ens, ["Running"] * n)
        if when == "one_ended":
            first = ens["ens_0"]
            while not os.path.exists(os.path.join(first.path, "ens_0.exitcode")):
                time.sleep(0.05)
        else:
            time.sleep(1.0)  # the waiting steps are waiting
    before = statuses(ens)
    job = rows()["ens_0"]["job"]
    state = subprocess.run(["squeue", "--noheader", "--jobs", job, "--format=%T"],
                           capture_output=True, text=True).stdout.strip()
    t0 = time.monotonic()
    exp.stop(ens)
    stop_took = time.monotonic() - t0
    emit(before=before, state=state, after=statuses(ens), job=job, stop_took=stop_took, rows=rows())
    """


@pytest.mark.parametrize("when", ["running", "pending", "one_ended"])
def test_stop_batch_job(local_slurm, tmp_path, when):
    out = _driver(local_slurm, tmp_path, STOP_DRIVER, args=[when])
    if when == "pending":
        assert out["before"] == ["Queued"] * 4 and out["state"] == "PENDING", out
    else:
        assert set(out["before"]) == {"Running"} and out["state"] == "RUNNING", out
    if when == "one_ended":
        # the member that ended before the stop keeps its own outcome
        assert out["after"] == ["Completed", "Cancelled", "Cancelled"], out
        assert out["rows"]["ens_0"]["rc"] == 0
    else:
        assert out["after"] == ["Cancelled"] * 4, out
    assert out["stop_took"] < 10, out
    took = _gone(local_slurm, [out["job"]], timeout=5)
    assert took is not None, f"job {out['job']} still in squeue 5 s after stop"
    assert _final_state(local_slurm, out["job"]) == "CANCELLED"


FAIL_SECOND = 'case "${PWD##*/}" in *_1) echo failing; exit 3;; esac; ' + "echo fine"


@pytest.mark.parametrize("mode", ["step", "batch"])
def test_failing_member_is_failed_with_its_exit_code(local_slurm, tmp_path, mode):
    out = _driver(local_slurm, tmp_path, """\
        bs = exp.create_batch_settings(nodes=1, time="00:05:00") if sys.argv[2] == "batch" else None
        ens = exp.create_ensemble("ens", run_settings=srun_settings(sys.argv[3]), batch_settings=bs,
                                  replicas=3)
        exp.start(ens, block=True)
        emit(status=statuses(ens), rows=rows(), out=outputs(ens),
             driver_job=os.environ.get("SLURM_JOB_ID"))
        """, prefix=["salloc", "-N1", "--time=5"] if mode == "step" else [], args=[mode, FAIL_SECOND])
    assert out["status"] == ["Completed", "Failed", "Completed"], out
    assert [out["rows"][f"ens_{i}"]["rc"] for i in range(3)] == [0, 3, 0], out["rows"]
    assert "failing" in out["out"]["ens_1"] and "fine" in out["out"]["ens_0"]
    if mode == "batch":
        assert len({row["job"] for row in out["rows"].values()}) == 1
        assert out["driver_job"] is None
    else:
        assert out["driver_job"]


KILLED_DRIVER = """\
    # one long step in the allocation named by SLURM_JOB_ID, one long batch job; the members'
    # own processes do not carry the launch token (as on another host, out of the watchdog's
    # reach): only Slurm can end them
    quiet_sleep = "exec env -u _SMARTSIM_LAUNCH_TOKEN sleep 300"
    step = exp.create_model("longstep", srun_settings(quiet_sleep))
    bs = exp.create_batch_settings(nodes=1, time="00:05:00")
    batch = exp.create_model("longbatch", srun_settings(quiet_sleep), batch_settings=bs)
    exp.start(step, batch, block=False)
    wait_for([step, batch], ["Running", "Running"])
    emit(batch_job=rows()["longbatch"]["job"])
    time.sleep(600)
    """


def test_sigkilled_driver_leaves_no_job_or_step(local_slurm, tmp_path):
    # an allocation held apart from the driver (salloc --no-shell): it outlives the driver, so
    # only the watchdog can end the step the driver started in it
    proc = local_slurm.run(["salloc", "--no-shell", "-N1", "--time=5"], timeout=60)
    match = re.search(r"Granted job allocation (\d+)", proc.stderr)
    assert match, proc.stderr
    alloc = match.group(1)
    script = tmp_path / "driver.py"
    script.write_text(PRELUDE + textwrap.dedent(KILLED_DRIVER))
    env = dict(local_slurm.env, SMARTSIM_LOG_LEVEL="quiet", SLURM_JOB_ID=alloc, SLURM_JOBID=alloc)
    driver = subprocess.Popen([sys.executable, str(script), str(tmp_path / "exp")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL)
    try:
        line = driver.stdout.readline()
        assert line.startswith("@@"), f"driver failed:\n{line}{driver.stderr.read()}"
        batch_job = json.loads(line[2:])["batch_job"]
        # wait until both steps exist in Slurm: the one in the allocation, the one in the batch job
        deadline = time.monotonic() + 30
        while True:
            steps = {line.split()[0].split(".")[0] for line in _queue(local_slurm, "--steps", "--format=%i")}
            if {alloc, batch_job} <= steps:
                break
            assert time.monotonic() < deadline, f"steps of {alloc} and {batch_job} never showed: {steps}"
            time.sleep(0.1)
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
        took = _gone(local_slurm, [batch_job], timeout=10)
        assert took is not None, f"batch job {batch_job} still in squeue 10 s after the driver died: " \
                                 f"{_queue(local_slurm, '--format=%i %j %T')}"
        left = [line for line in _queue(local_slurm, "--steps", "--format=%i %j") if line.startswith(alloc + ".")]
        deadline = time.monotonic() + max(0.0, 10 - took)
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = [line for line in _queue(local_slurm, "--steps", "--format=%i %j") if line.startswith(alloc + ".")]
        assert not left, f"steps of the allocation still running 10 s after the driver died: {left}"
        # the batch job was cancelled (scancel by the watchdog), not merely left to finish
        assert _final_state(local_slurm, batch_job) == "CANCELLED"
        assert not [line for line in _queue(local_slurm, "--format=%i") if line != alloc]
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        local_slurm.run(["scancel", alloc])
        _gone(local_slurm, [alloc], timeout=10)


DETACH_DRIVER = """\
    # two ensembles as batch jobs, detached (they outlive this driver), and one model as a
    # batch job, not detached (this driver's exit must cancel it)
    rs = srun_settings("sleep 120")
    rs.run_args["overlap"] = None
    bs = exp.create_batch_settings(nodes=1, time="00:05:00")
    kept = [exp.create_ensemble(name, run_settings=rs, batch_settings=bs, replicas=2) for name in ("a", "b")]
    plain = exp.create_model("c", srun_settings("sleep 120"), batch_settings=bs)
    exp.start(*kept, block=False, detach=True)
    exp.start(plain, block=False)
    for ens in kept:
        wait_for(ens, ["Running"] * 2)
    emit(jobs={name: rows()[name + "_0"]["job"] for name in ("a", "b")}, plain=rows()["c"]["job"])
    """

ATTACH_DRIVER = """\
    exp = Experiment.attach(sys.argv[1])
    a, b = exp.entities["a"], exp.entities["b"]
    before = {"a": statuses(a), "b": statuses(b), "c": statuses(exp.entities["c"])}
    exp.stop(a)
    emit(before=before, after={"a": statuses(a), "b": statuses(b)})
    """


def test_detached_batch_jobs_outlive_the_driver_and_are_attached_and_torn_down(local_slurm, tmp_path):
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    first = _driver(local_slurm, tmp_path, DETACH_DRIVER, env=env)
    jobs = first["jobs"]
    # driver 1 has exited: its plain batch job is cancelled, the detached ones still run
    assert _gone(local_slurm, [first["plain"]], timeout=10) is not None
    live = {line.split()[0]: line.split()[1] for line in _queue(local_slurm, "--format=%i %T")}
    assert live.get(jobs["a"]) == "RUNNING" and live.get(jobs["b"]) == "RUNNING", live

    second = _driver(local_slurm, tmp_path, ATTACH_DRIVER, env=env)
    assert second["before"] == {"a": ["Running"] * 2, "b": ["Running"] * 2, "c": ["Cancelled"]}, second
    assert second["after"] == {"a": ["Cancelled"] * 2, "b": ["Running"] * 2}, second
    assert _gone(local_slurm, [jobs["a"]], timeout=10) is not None, "stop did not cancel the attached job"
    assert _final_state(local_slurm, jobs["a"]) == "CANCELLED"

    # what is left (ensemble b) goes with smart teardown, by the job id recorded at launch
    proc = subprocess.run([sys.executable, "-m", "smartsim._core.cli", "teardown", "--exp-path",
                           str(tmp_path / "exp")], env=dict(local_slurm.env, **env),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"slurm job {jobs['b']}" in proc.stdout, proc.stdout
    assert _gone(local_slurm, [jobs["b"]], timeout=10) is not None, "teardown did not cancel the job"
    assert _drained(local_slurm) == []
