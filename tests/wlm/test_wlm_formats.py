"""Golden batch scripts, command lines and scheduler outputs of the PBS, LSF and Cobalt
launchers (no scheduler runs here).

Sources of the formats: SmartSim 0.8.0's ``QsubBatchStep``/``BsubBatchStep`` and 0.5.1's
``CobaltBatchStep`` (directive lines and their order), the PBS Professional and LSF command
references (``qstat -f -F json``, ``bjobs -o``, ``bsub``'s reply), Cobalt's own ``qsub``/``qstat``
clients (``#COBALT`` lines right after the first line; the ``=`` rule under the header)."""
from __future__ import annotations

import subprocess
import textwrap

import pytest

from smartsim._core.launcher import base, cobalt, lsf, pbs, wlm
from smartsim._core.launcher.base import BatchJob, Task
from smartsim.error import LauncherError
from smartsim.settings.cobaltSettings import CobaltBatchSettings
from smartsim.settings.lsfSettings import BsubBatchSettings
from smartsim.settings.pbsSettings import QsubBatchSettings


def _bare(cls):
    """A launcher object for its formatting hooks only (no engine thread)."""
    obj = cls.__new__(cls)
    obj.user = "alice"
    return obj


def _job(tmp_path, settings, n=2):
    tasks = []
    for i in range(n):
        cwd = str(tmp_path / "ens" / f"ens_{i}")
        tasks.append(Task(f"ens_{i}", ["/bin/echo", f"member {i}"], cwd, [b"SSKEYIN=ens_%d" % i],
                          f"{cwd}/ens_{i}.out", f"{cwd}/ens_{i}.err", None, 0))
    return BatchJob("ens", str(tmp_path / "ens"), settings, tasks)


def _body(tmp_path, n=2):
    lines = ["", "# <exit status file> <directory> <stdout> <stderr> <command...>", "smartsim_task() {",
             "    local rc_file=$1 dir=$2 out=$3 err=$4", "    shift 4",
             "    ( cd \"$dir\" && exec \"$@\" ) >\"$out\" 2>\"$err\"", "    echo $? >\"$rc_file\"", "}", ""]
    for i in range(n):
        d = f"{tmp_path}/ens/ens_{i}"
        lines.append(f"smartsim_task {d}/ens_{i}.exitcode {d} {d}/ens_{i}.out {d}/ens_{i}.err "
                     f"env SSKEYIN=ens_{i} /bin/echo 'member {i}' &")
    return lines + ["wait", ""]


def _script(launcher_cls, job, env_file=None):
    return wlm.batch_script(job, _bare(launcher_cls).directives(job), set(), env_file)


# ------------------------------------------------------------------------------------------
# batch scripts


def test_pbs_batch_script(tmp_path):
    bs = QsubBatchSettings(nodes=2, ncpus=36, time="01:00:00", queue="debug", account="proj",
                           resources={"place": "scatter"})
    bs.add_preamble(["module load cray-python", "export OMP_NUM_THREADS=4"])
    script = _script(pbs.PBSLauncher, _job(tmp_path, bs))
    d = tmp_path / "ens"
    assert script == "\n".join([
        "#!/bin/bash",
        f"#PBS -o {d}/ens.batch.out",
        f"#PBS -e {d}/ens.batch.err",
        "#PBS -N ens",
        "#PBS -V",
        "#PBS -l nodes=2:ncpus=36",
        "#PBS -l place=scatter",
        "#PBS -l walltime=01:00:00",
        "#PBS -q debug",
        "#PBS -A proj",
        "module load cray-python",
        "export OMP_NUM_THREADS=4",
        *_body(tmp_path)])


def test_pbs_select_and_hosts(tmp_path):
    bs = QsubBatchSettings(resources={"select": 3}, ncpus=8)
    bs.set_hostlist(["n1", "n2"])
    bs.set_walltime("00:10:00")
    assert _bare(pbs.PBSLauncher).directives(_job(tmp_path, bs))[4:] == [
        "#PBS -l select=3:ncpus=8:host=n1+host=n2", "#PBS -l walltime=00:10:00"]


def test_lsf_batch_script(tmp_path):
    bs = BsubBatchSettings(nodes=4, time="01:30:00", project="proj", smts=4,
                           batch_args={"alloc_flags": "gpumps"})
    bs.set_queue("batch")
    bs.add_preamble("module load gcc")
    script = _script(lsf.LSFLauncher, _job(tmp_path, bs))
    d = tmp_path / "ens"
    assert script == "\n".join([
        "#!/bin/bash",
        "#BSUB -W 01:30",
        "#BSUB -P proj",
        "#BSUB -J ens",
        f"#BSUB -o {d}/ens.batch.out",
        f"#BSUB -e {d}/ens.batch.err",
        '#BSUB -alloc_flags "gpumps smt4"',
        "#BSUB -nnodes 4",
        "#BSUB -q batch",
        "module load gcc",
        *_body(tmp_path)])


def test_lsf_expert_mode_leaves_out_the_easy_options(tmp_path):
    bs = BsubBatchSettings(nodes=2, time="00:20")
    bs.set_expert_mode_req("1*{select[LN]span[hosts=1]}+42*{select[CN]}", 42)
    assert _bare(lsf.LSFLauncher).directives(_job(tmp_path, bs)) == [
        "#BSUB -W 00:20", "#BSUB -J ens", f"#BSUB -o {tmp_path}/ens/ens.batch.out",
        f"#BSUB -e {tmp_path}/ens/ens.batch.err", "#BSUB -csm y",
        "#BSUB -R 1*{select[LN]span[hosts=1]}+42*{select[CN]}", "#BSUB -n 42"]


def test_cobalt_batch_script(tmp_path):
    bs = CobaltBatchSettings(nodes=2, time="00:10:00", queue="debug-cache-quad", account="proj",
                             batch_args={"attrs": "mcdram=cache:numa=quad", "A": "other"})
    bs.add_preamble("module load miniconda")
    env_file = str(tmp_path / "ens" / "ens.batch.env")
    script = _script(cobalt.CobaltLauncher, _job(tmp_path, bs), env_file)
    d = tmp_path / "ens"
    assert script == "\n".join([
        "#!/bin/bash",
        f"#COBALT -o {d}/ens.batch.out",
        f"#COBALT -e {d}/ens.batch.err",
        f"#COBALT --cwd {d}",
        "#COBALT --jobname ens",
        f"#COBALT --debuglog {d}/ens.cobalt-debug",
        "#COBALT --attrs mcdram=cache:numa=quad",
        "#COBALT -A other",
        "#COBALT --nodecount 2",
        "#COBALT --time 00:10:00",
        "#COBALT --queue debug-cache-quad",
        "#COBALT --project proj",
        f". {env_file}",
        "module load miniconda",
        *_body(tmp_path)])
    # Cobalt reads only the #COBALT lines that directly follow the first line
    lines = script.splitlines()
    assert all(line.startswith("#COBALT ") for line in lines[1:12])


def test_env_file_leaves_out_the_schedulers_and_the_shells_own(tmp_path):
    text = wlm.env_file_text({"PATH": "/a b:/c", "X": "it's", "COBALT_JOBID": "12", "PWD": "/x",
                              "BASH_FUNC_f%%": "() { :; }", "SHLVL": "2"}, ("COBALT_",))
    assert text == "export PATH='/a b:/c'\nexport X='it'\"'\"'s'\n"


# ------------------------------------------------------------------------------------------
# submit commands and their replies


@pytest.mark.parametrize("cls, argv, stdin", [
    (pbs.PBSLauncher, ["qsub", "/j/ens.batch.sh"], None),
    (lsf.LSFLauncher, ["bsub"], "/j/ens.batch.sh"),  # bsub < script: #BSUB lines are read
    (cobalt.CobaltLauncher, ["qsub", "--mode", "script", "/j/ens.batch.sh"], None),
])
def test_submit_command(cls, argv, stdin):
    assert _bare(cls).submit_argv("/j/ens.batch.sh") == (argv, stdin)


@pytest.mark.parametrize("cls, out, job_id", [
    (pbs.PBSLauncher, "1234.pbs01\n", "1234.pbs01"),
    (pbs.PBSLauncher, "\n 77.sdb\n", "77.sdb"),
    (lsf.LSFLauncher, "Job <123> is submitted to queue <normal>.\n", "123"),
    (lsf.LSFLauncher, "Warning: job being submitted without an AFS token.\n"
                      "Job <99> is submitted to default queue <batch>.\n", "99"),
    (cobalt.CobaltLauncher, "Job routed to queue 'debug-flat-quad'.\n"
                            "Memory mode set to flat quad for queue debug-flat-quad\n507998\n", "507998"),
    (lsf.LSFLauncher, "Request aborted by esub. Job not submitted.\n", None),
    (cobalt.CobaltLauncher, "", None),
])
def test_job_id_from_the_submit_reply(cls, out, job_id):
    assert _bare(cls).parse_job_id(out) == job_id


# ------------------------------------------------------------------------------------------
# status queries


def _fake_run(monkeypatch, module, stdout, stderr="", rc=0):
    seen = []

    def run(argv, **_):
        seen.append(list(argv))
        return subprocess.CompletedProcess(argv, rc, stdout, stderr)

    monkeypatch.setattr(module, "run", run)
    return seen


QSTAT_JSON = textwrap.dedent("""\
    {
        "timestamp":1700000000,
        "pbs_version":"2022.1.3",
        "pbs_server":"pbs01",
        "Jobs":{
            "11.pbs01.example.com":{
                "Job_Name":"ens",
                "job_state":"R",
                "Variable_List":{
                    "PBS_O_HOME":"/home/alice",
                    "WEIRD":"a "quoted" value",
                    "PBS_O_WORKDIR":"/home/alice/exp"
                }
            },
            "12.pbs01":{
                "Job_Name":"m",
                "job_state":"F",
                "Exit_status":271
            },
            "13.pbs01":{
                "job_state":"Q",
                "Submit_arguments":"-v "X=1" job.sh"
            },
            "14.pbs01":{
                "job_state":"E"
            }
        }
    }
    """)


def test_pbs_status_of_all_jobs_in_one_qstat(monkeypatch):
    seen = _fake_run(monkeypatch, pbs, QSTAT_JSON, "qstat: Unknown Job Id 15.pbs01\n", 153)
    states = _bare(pbs.PBSLauncher).query_states(["11.pbs01", "12.pbs01", "13.pbs01", "14.pbs01", "15.pbs01"])
    assert seen == [["qstat", "-f", "-F", "json", "-x", "11.pbs01", "12.pbs01", "13.pbs01", "14.pbs01",
                     "15.pbs01"]]
    assert states == {  # (the lines qstat wrote without escaping are dropped)
        "11.pbs01": wlm.JobState(wlm.ACTIVE, "R"),
        "12.pbs01": wlm.JobState(wlm.ENDED, "F", 271),
        "13.pbs01": wlm.JobState(wlm.WAITING, "Q"),
        "14.pbs01": wlm.JobState(wlm.ACTIVE, "E"),
    }


def test_pbs_query_failure_is_an_error(monkeypatch):
    _fake_run(monkeypatch, pbs, "", "Connection refused\nqstat: cannot connect to server pbs01 (errno=111)\n", 2)
    with pytest.raises(LauncherError, match="cannot connect"):
        _bare(pbs.PBSLauncher).query_states(["1.pbs01"])
    _fake_run(monkeypatch, pbs, "", "qstat: 1.pbs01 Job has finished, use -x or -H to obtain historical "
                                    "job information\n", 35)
    assert _bare(pbs.PBSLauncher).query_states(["1.pbs01"]) == {}


def test_lsf_status_of_all_jobs_in_one_bjobs(monkeypatch):
    seen = _fake_run(monkeypatch, lsf, "101 RUN -\n102 EXIT 7\n103 PEND -\n104 DONE -\n",
                     "Job <105> is not found\n", 255)
    states = _bare(lsf.LSFLauncher).query_states(["101", "102", "103", "104", "105"])
    assert seen == [["bjobs", "-o", "jobid stat exit_code", "-noheader", "-a", "101", "102", "103", "104", "105"]]
    assert states == {"101": wlm.JobState(wlm.ACTIVE, "RUN"), "102": wlm.JobState(wlm.ENDED, "EXIT", 7),
                      "103": wlm.JobState(wlm.WAITING, "PEND"), "104": wlm.JobState(wlm.ENDED, "DONE")}
    _fake_run(monkeypatch, lsf, "", "LSF is down; try later\n", 255)
    with pytest.raises(LauncherError, match="LSF is down"):
        _bare(lsf.LSFLauncher).query_states(["101"])


def test_cobalt_status_of_all_jobs_in_one_qstat(monkeypatch):
    table = ("JobId   State     \n"
             "==================\n"
             "507975  running   \n"
             "507976  queued    \n"
             "507977  exiting   \n")
    seen = _fake_run(monkeypatch, cobalt, table)
    states = _bare(cobalt.CobaltLauncher).query_states(["507975", "507976", "507977", "507978"])
    assert seen == [["qstat", "--header", "JobId:State", "-u", "alice", "507975", "507976", "507977", "507978"]]
    assert states == {"507975": wlm.JobState(wlm.ACTIVE, "running"),
                      "507976": wlm.JobState(wlm.WAITING, "queued"),
                      "507977": wlm.JobState(wlm.ACTIVE, "exiting")}
    _fake_run(monkeypatch, cobalt, "", "", 1)  # none of them known any more
    assert _bare(cobalt.CobaltLauncher).query_states(["507975"]) == {}
    _fake_run(monkeypatch, cobalt, "", "*** FATAL EXCEPTION: cannot reach the queue manager ***\n", 1)
    with pytest.raises(LauncherError, match="queue manager"):
        _bare(cobalt.CobaltLauncher).query_states(["507975"])


def test_cancel_commands():
    assert _bare(pbs.PBSLauncher).cancel_argv(["1.s", "2.s"]) == ["qdel", "1.s", "2.s"]
    assert _bare(lsf.LSFLauncher).cancel_argv(["1"]) == ["bkill", "1"]
    assert _bare(cobalt.CobaltLauncher).cancel_argv(["9"]) == ["qdel", "9"]
    # and the watchdog runs the same for a killed driver
    assert (pbs.PBSLauncher.cancel_command, lsf.LSFLauncher.cancel_command,
            cobalt.CobaltLauncher.cancel_command) == (("qdel",), ("bkill",), ("qdel",))


# ------------------------------------------------------------------------------------------
# allocations: hosts and steps on a host


def test_allocation_hosts_from_the_jobs_environment(tmp_path):
    nodefile = tmp_path / "nodes"
    nodefile.write_text("x1000c0s0b0n0\nx1000c0s0b0n0\nx1000c0s0b0n1\n")
    assert pbs.PBSLauncher.job_hosts({"PBS_NODEFILE": str(nodefile)}) == ["x1000c0s0b0n0", "x1000c0s0b0n1"]
    assert lsf.LSFLauncher.job_hosts({"LSB_MCPU_HOSTS": "batch1 1 h41n01 42 h41n02 42"}) == [
        "batch1", "h41n01", "h41n02"]
    assert lsf.LSFLauncher.job_hosts({"LSB_HOSTS": "a a b"}) == ["a", "b"]
    assert cobalt.CobaltLauncher.job_hosts({"COBALT_PARTNAME": "3824-3826,3830"}) == [
        "nid03824", "nid03825", "nid03826", "nid03830"]
    assert cobalt.CobaltLauncher.job_hosts({"COBALT_NODEFILE": str(nodefile)}) == [
        "x1000c0s0b0n0", "x1000c0s0b0n1"]
    assert pbs.PBSLauncher.job_hosts({}) == lsf.LSFLauncher.job_hosts({}) == []


def test_step_on_a_host_of_the_job(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    argv = ["/opt/redis-server", "/exp/db/redis.conf"]
    assert _bare(pbs.PBSLauncher).step_on_host(argv, "n1", "db_0") == ["pbs_tmrsh", "n1", *argv]
    assert _bare(pbs.PalsLauncher).step_on_host(argv, "n1", "db_0") == [
        "mpiexec", "--hosts", "n1", "-n", "1", "--ppn", "1", *argv]
    assert _bare(lsf.LSFLauncher).step_on_host(argv, "h41n01", "db_0") == ["blaunch", "h41n01", *argv]
    assert _bare(cobalt.CobaltLauncher).step_on_host(argv, "nid03824", "db_0") == [
        "aprun", "-n", "1", "-N", "1", "-L", "3824", *argv]


def test_registered_and_detected_by_name():
    for name, cls in (("pbs", pbs.PBSLauncher), ("pals", pbs.PalsLauncher), ("lsf", lsf.LSFLauncher),
                      ("cobalt", cobalt.CobaltLauncher)):
        assert base.launcher_class(name) is cls
        assert cls.capabilities == base.Capabilities(steps=True, batch=True, colocated_db=True)
        assert cls.remote_steps
    assert not base._KNOWN_SCHEDULERS  # pylint: disable=protected-access
