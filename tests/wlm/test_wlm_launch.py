"""The PBS, LSF and Cobalt launchers end to end through their FAKE schedulers
(``tests/fake_wlm``): steps in an allocation, batch models and ensembles (one job each), one
status query per poll for all jobs, ``stop``, a SIGKILLed driver, ``auto`` detection."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from smartsim import Experiment
from smartsim._core.launcher import base, wlm
from smartsim.error import LauncherError
from smartsim.status import SmartSimStatus

from .conftest import CANCEL_COMMAND, STATUS_COMMAND, SUBMIT_COMMAND, SYSTEMS, run_driver, wait_until

pytestmark = pytest.mark.timeout(120)

S = SmartSimStatus
SH = "/bin/sh"
JOB_VAR = {"pbs": "PBS_JOBID", "lsf": "LSB_JOBID", "cobalt": "COBALT_JOBID"}
RUN_COMMAND = {"pbs": "aprun", "lsf": "jsrun", "cobalt": "aprun"}
# each member prints its name and the job it runs in; ens_3 fails with 7
MEMBER = 'n=$(basename "$PWD"); echo "$n ${%s}"; [ "$n" != ens_3 ] || exit 7'


@pytest.fixture(params=SYSTEMS)
def system(request):
    return request.param


def _exp(tmp_path, launcher, name="wlm"):
    return Experiment(name, exp_path=str(tmp_path / name), launcher=launcher)


def _read(path):
    with open(path) as handle:
        return handle.read()


def _rows(exp):
    return {row["Name"]: row for row in exp.summary_data()}


def test_model_and_ensemble_as_steps_in_an_allocation(fake_wlm, system, tmp_path, monkeypatch):
    fake = fake_wlm(system)
    for key, value in fake.allocation().items():
        monkeypatch.setenv(key, value)
    exp = _exp(tmp_path, system)
    rs = exp.create_run_settings(SH, ["-c", f"echo in ${{{JOB_VAR[system]}}}"])
    assert os.path.basename(rs.run_command) == RUN_COMMAND[system]  # auto: the fake's
    model = exp.create_model("m", rs)
    exp.start(model)
    assert exp.get_status(model) == [S.STATUS_COMPLETED]
    assert _read(os.path.join(model.path, "m.out")) == f"in {fake.allocation()[JOB_VAR[system]]}\n"

    ens = exp.create_ensemble("ens", run_settings=exp.create_run_settings(SH, ["-c", MEMBER % JOB_VAR[system]]),
                              replicas=5)
    exp.start(ens)
    assert exp.get_status(ens) == [S.STATUS_COMPLETED] * 3 + [S.STATUS_FAILED, S.STATUS_COMPLETED]
    assert _rows(exp)["ens_3"]["Returncode"] == 7
    # steps are the run command's processes: no job submitted, nothing asked of the scheduler
    assert len(fake.calls(RUN_COMMAND[system])) == 6
    assert fake.calls(SUBMIT_COMMAND[system]) == [] and fake.calls(STATUS_COMMAND[system]) == []


def test_batch_model_and_eight_member_ensemble(fake_wlm, system, tmp_path, monkeypatch):
    fake = fake_wlm(system)
    monkeypatch.setenv("FAKE_WLM_QUEUE_DELAY", "1.5")
    exp = _exp(tmp_path, system)
    ens = exp.create_ensemble("ens", batch_settings=exp.create_batch_settings(nodes=2, time="00:10:00"),
                              run_settings=exp.create_run_settings(SH, ["-c", MEMBER % JOB_VAR[system]]),
                              replicas=8)
    model = exp.create_model("m", exp.create_run_settings(SH, ["-c", "echo model"]),
                             batch_settings=exp.create_batch_settings(nodes=1, time="00:10:00"))
    exp.start(model, ens, block=False)
    assert exp.get_status(model, ens) == [S.STATUS_QUEUED] * 9  # the fake queues them for 1.5 s
    assert wait_until(lambda: all(exp.finished(e) for e in (model, ens)), 60)
    assert exp.get_status(model) == [S.STATUS_COMPLETED]
    assert exp.get_status(ens) == [S.STATUS_COMPLETED] * 3 + [S.STATUS_FAILED] + [S.STATUS_COMPLETED] * 4
    rows = _rows(exp)
    assert [rows[f"ens_{i}"]["Returncode"] for i in range(8)] == [0, 0, 0, 7, 0, 0, 0, 0]
    # one job per entity: the ensemble's members are steps of one job
    jobs = fake.jobs()
    assert len(fake.calls(SUBMIT_COMMAND[system])) == 2 and len(jobs) == 2
    ens_job = {rows[f"ens_{i}"]["JobID"] for i in range(8)}
    assert len(ens_job) == 1 and ens_job != {rows["m"]["JobID"]}
    job_id = ens_job.pop()
    assert fake.job(job_id)["name"] == "ens" and fake.job(job_id)["nodes"] == 2
    # each member ran inside that job, through the run command
    for i in range(8):
        assert _read(os.path.join(ens.path, f"ens_{i}", f"ens_{i}.out")) == f"ens_{i} {job_id}\n"
    assert _read(os.path.join(model.path, "m.out")) == "model\n"
    assert all(job["state"] == "finished" and not job["cancel"] for job in jobs)


def test_one_status_query_per_poll_for_all_jobs(fake_wlm, system, tmp_path):
    fake = fake_wlm(system)
    exp = _exp(tmp_path, system)
    release = tmp_path / "release"
    wait_for_release = f"while [ ! -e {release} ]; do sleep 0.05; done"
    models = [exp.create_model(f"m{i}", exp.create_run_settings(SH, ["-c", wait_for_release]),
                               batch_settings=exp.create_batch_settings(nodes=1, time="00:10:00"))
              for i in range(3)]
    t0 = time.monotonic()
    exp.start(*models, block=False)
    assert wait_until(lambda: exp.get_status(*models) == [S.STATUS_RUNNING] * 3, 30)
    ids = [_rows(exp)[f"m{i}"]["JobID"] for i in range(3)]

    def asked_about_all():
        return [call for call in fake.calls(STATUS_COMMAND[system]) if set(ids) <= set(call)]

    assert wait_until(lambda: len(asked_about_all()) >= 5, 30)
    release.touch()
    assert wait_until(lambda: all(exp.finished(m) for m in models), 30)
    elapsed = time.monotonic() - t0
    assert exp.get_status(*models) == [S.STATUS_COMPLETED] * 3
    queries = fake.calls(STATUS_COMMAND[system])
    prefix = {"pbs": ["-f", "-F", "json", "-x"], "lsf": ["-o", "jobid stat exit_code", "-noheader", "-a"],
              "cobalt": ["--header", "JobId:State", "-u", fake.jobs()[0]["owner"]]}[system]
    assert all(call[1:1 + len(prefix)] == prefix for call in queries)
    # once the three jobs were submitted, every query asked about the three of them at once,
    # until they ended
    with_all = [i for i, call in enumerate(queries) if set(ids) <= set(call)]
    assert with_all == list(range(with_all[0], with_all[0] + len(with_all)))
    assert all(len(call) == 1 + len(prefix) + len(ids) for call in queries[with_all[0]:with_all[-1] + 1])
    # one query per poll (0.1 s), not one per job
    assert len(queries) <= elapsed / 0.1 + 5, (len(queries), elapsed)


def test_stop_cancels_a_running_batch_job(fake_wlm, system, tmp_path):
    fake = fake_wlm(system)
    exp = _exp(tmp_path, system)
    model = exp.create_model("m", exp.create_run_settings(SH, ["-c", "sleep 60"]),
                             batch_settings=exp.create_batch_settings(nodes=1, time="00:10:00"))
    exp.start(model, block=False)
    assert wait_until(lambda: exp.get_status(model) == [S.STATUS_RUNNING], 20)
    job_id = _rows(exp)["m"]["JobID"]
    assert wait_until(lambda: fake.job(job_id)["state"] == "running")
    running = fake.job_processes_alive(fake.job(job_id))
    assert running
    exp.stop(model)
    assert exp.get_status(model) == [S.STATUS_CANCELLED]
    assert [job_id] in [call[1:] for call in fake.calls(CANCEL_COMMAND[system])]
    # the fake's job is over and every process of it gone
    assert wait_until(lambda: fake.job(job_id)["state"] == "finished")
    assert fake.job(job_id)["cancel"]
    assert wait_until(lambda: not fake.job_processes_alive(fake.job(job_id)), 10)


def test_job_ended_without_its_members_is_failed(fake_wlm, system, tmp_path, monkeypatch):
    fake = fake_wlm(system)
    monkeypatch.setattr(wlm.SchedulerLauncher, "exit_file_grace", 0.5)
    exp = _exp(tmp_path, system)
    model = exp.create_model("m", exp.create_run_settings(SH, ["-c", "sleep 60"]),
                             batch_settings=exp.create_batch_settings(nodes=1, time="00:10:00"))
    exp.start(model, block=False)
    assert wait_until(lambda: exp.get_status(model) == [S.STATUS_RUNNING], 20)
    job_id = _rows(exp)["m"]["JobID"]
    # someone else (an operator, a time limit) ends the job
    subprocess.run([CANCEL_COMMAND[system], job_id], env=fake.env, capture_output=True, check=True)
    assert wait_until(lambda: exp.finished(model), 20)
    assert exp.get_status(model) == [S.STATUS_FAILED]
    task = exp._control._runs["m"][-1]  # pylint: disable=protected-access
    word = {"pbs": "F, exit status 271", "lsf": "EXIT, exit status 143", "cobalt": "no longer known to Cobalt"}
    assert f"batch job {job_id} ended ({word[system]}) before m recorded an exit status" in task.error


def test_killed_driver_leaves_no_job(fake_wlm, system, tmp_path):
    fake = fake_wlm(system)
    code = textwrap.dedent(f"""\
        import sys, time
        from smartsim import Experiment
        exp = Experiment("k", exp_path=sys.argv[1], launcher={system!r})
        model = exp.create_model("m", exp.create_run_settings("/bin/sh", ["-c", "sleep 300"]),
                                 batch_settings=exp.create_batch_settings(nodes=1, time="00:10:00"))
        exp.start(model, block=False)
        while exp.get_status(model)[0].value != "Running":
            time.sleep(0.05)
        print("@@" + exp.summary_data()[0]["JobID"], flush=True)
        time.sleep(600)
        """)
    path = tmp_path / "driver.py"
    path.write_text(code)
    driver = subprocess.Popen([sys.executable, str(path), str(tmp_path / "k")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=dict(fake.env, SMARTSIM_LOG_LEVEL="quiet"))
    try:
        line = driver.stdout.readline()
        assert line.startswith("@@"), driver.stderr.read() if driver.poll() is not None else line
        job_id = line[2:].strip()
        assert fake.job(job_id)["state"] == "running"
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        # the watchdog cancels the job with the scheduler's cancel command
        assert wait_until(lambda: fake.job(job_id)["state"] == "finished", 20), fake.job(job_id)
        assert fake.job(job_id)["cancel"]
        assert [job_id] in [call[1:] for call in fake.calls(CANCEL_COMMAND[system])]
        assert wait_until(lambda: not fake.job_processes_alive(fake.job(job_id)), 10)
        assert all(job["state"] == "finished" for job in fake.jobs())
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()


def test_auto_detects_the_scheduler(fake_wlm, system, tmp_path, monkeypatch):
    fake = fake_wlm(system)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", f"{fake.bin}{os.pathsep}{empty}")  # no sbatch from the host
    assert base.detect_launcher() == system
    exp = _exp(tmp_path, "auto")
    assert exp.launcher == system
    monkeypatch.setenv("PATH", fake.env["PATH"])
    model = exp.create_model("m", exp.create_run_settings(SH, ["-c", "echo auto"], run_command=""),
                             batch_settings=exp.create_batch_settings(nodes=1, time="00:05:00"))
    exp.start(model)
    assert exp.get_status(model) == [S.STATUS_COMPLETED]
    assert len(fake.calls(SUBMIT_COMMAND[system])) == 1


def test_refused_submission_is_reported(fake_wlm, tmp_path):
    fake = fake_wlm("cobalt")
    exp = _exp(tmp_path, "cobalt")
    # Cobalt's qsub wants a walltime and a node count
    model = exp.create_model("m", exp.create_run_settings(SH, ["-c", "true"], run_command=""),
                             batch_settings=exp.create_batch_settings(nodes=1))
    with pytest.raises(LauncherError, match=r"qsub refused the batch job 'm' .*'time' not provided"):
        exp.start(model)
    assert exp.get_status(model) == [S.STATUS_FAILED]
    assert fake.jobs() == []


def test_pbs_without_job_history(fake_wlm, tmp_path, monkeypatch):
    """A server that keeps no history forgets a job as it ends: statuses come from the
    members' exit-status files."""
    fake = fake_wlm("pbs")
    monkeypatch.setenv("FAKE_PBS_NO_HISTORY", "1")
    exp = _exp(tmp_path, "pbs")
    ens = exp.create_ensemble("ens", batch_settings=exp.create_batch_settings(nodes=1, time="00:10:00"),
                              run_settings=exp.create_run_settings(SH, ["-c", MEMBER % "PBS_JOBID"]),
                              replicas=4)
    exp.start(ens)
    assert exp.get_status(ens) == [S.STATUS_COMPLETED] * 3 + [S.STATUS_FAILED]
    # (the job is unknown to the server now)
    qstat = subprocess.run(["qstat", "-f", "-F", "json", "-x", "1.fakepbs"], capture_output=True, text=True)
    assert qstat.returncode == 153 and qstat.stderr == "qstat: Unknown Job Id 1.fakepbs\n"
    assert fake.jobs()[0]["state"] == "finished"


def test_pals_steps_through_pals_mpiexec(fake_wlm, tmp_path, monkeypatch):
    fake = fake_wlm("pbs", launcher="pals")
    for key, value in fake.allocation().items():
        monkeypatch.setenv(key, value)
    exp = _exp(tmp_path, "pals")
    rs = exp.create_run_settings(SH, ["-c", "echo $GREETING $PBS_JOBID"], env_vars={"GREETING": "hello"})
    rs.set_tasks(1)
    assert type(rs).__name__ == "PalsMpiexecSettings" and os.path.basename(rs.run_command) == "mpiexec"
    model = exp.create_model("m", rs)
    exp.start(model)
    assert exp.get_status(model) == [S.STATUS_COMPLETED]
    assert _read(os.path.join(model.path, "m.out")) == "hello 999.fakepbs\n"
    assert fake.calls("mpiexec")[0][:4] == ["mpiexec", "--np", "1", SH]


def test_ctrl_c_cancels_batch_jobs_started_without_blocking(fake_wlm, system, tmp_path):
    fake = fake_wlm(system)
    code = textwrap.dedent(f"""\
        import os, signal, sys, time
        from smartsim import Experiment
        exp = Experiment("c", exp_path=sys.argv[1], launcher={system!r})
        model = exp.create_model("m", exp.create_run_settings("/bin/sh", ["-c", "sleep 300"]),
                                 batch_settings=exp.create_batch_settings(nodes=1, time="00:10:00"))
        exp.start(model, block=False)
        while exp.get_status(model)[0].value != "Running":
            time.sleep(0.05)
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            pass
        deadline = time.monotonic() + 20
        while exp.get_status(model)[0].value == "Running" and time.monotonic() < deadline:
            time.sleep(0.05)
        print("@@" + exp.get_status(model)[0].value + " " + exp.summary_data()[0]["JobID"])
        """)
    proc = run_driver(code, tmp_path, fake.env, args=[str(tmp_path / "c")], timeout=60)
    line = [line for line in proc.stdout.splitlines() if line.startswith("@@")]
    assert line, proc.stderr
    status, job_id = line[0][2:].split()
    assert status == "Cancelled"
    assert [job_id] in [call[1:] for call in fake.calls(CANCEL_COMMAND[system])]
    assert wait_until(lambda: fake.job(job_id)["state"] == "finished", 10)


def test_refused_database_job_leaves_nothing(fake_wlm, tmp_path):
    fake = fake_wlm("cobalt")
    exp = _exp(tmp_path, "cobalt")
    db = exp.create_database(db_nodes=3, port=7990, interface="lo", batch=True)  # no walltime
    with pytest.raises(LauncherError, match="'time' not provided"):
        exp.start(db)
    assert fake.jobs() == []
    assert not list((tmp_path / "wlm").rglob(".orchestrator.steps.*"))
