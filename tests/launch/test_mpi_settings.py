"""MPI run settings (formatting as SmartSim 0.8) and run_command="auto" on the local launcher."""
from __future__ import annotations

import os

import pytest

from smartsim.error import LauncherError
from smartsim.settings import LocalRunSettings, MpiexecSettings, MpirunSettings, OrterunSettings, RunSettings
from smartsim.settings.settings import create_run_settings
from smartsim.status import SmartSimStatus

FAKE_MPI = """
n=1
while [ $# -gt 0 ]; do
  case "$1" in
    --n) n=$2; shift 2;;
    --*) shift 2;;
    *) break;;
  esac
done
i=0
while [ $i -lt $n ]; do RANK=$i "$@" & i=$((i+1)); done
wait
"""


@pytest.fixture
def fake_mpi(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("mpirun", "mpiexec", "orterun"):
        path = bindir / name
        path.write_text("#!/bin/sh\n" + FAKE_MPI)
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    return bindir


@pytest.fixture
def no_mpi(monkeypatch):
    import shutil

    real = shutil.which

    def which(cmd, *args, **kwargs):
        if os.path.basename(str(cmd)) in ("mpirun", "mpiexec", "orterun"):
            return None
        return real(cmd, *args, **kwargs)

    monkeypatch.setattr(shutil, "which", which)


@pytest.mark.parametrize("cls, cmd", [(MpirunSettings, "mpirun"), (MpiexecSettings, "mpiexec"),
                                      (OrterunSettings, "orterun")])
def test_mpi_formatting(fake_mpi, cls, cmd):
    rs = cls("echo", exe_args=["hi"], run_args={"oversubscribe": None}, env_vars={"A": "1", "B": None})
    rs.set_tasks(4)
    rs.set_tasks_per_node(2)
    rs.set_hostlist(["a", "b"])
    rs.set_task_map("core")
    rs.set_cpus_per_task(3)
    rs.set_verbose_launch(True)
    rs.set_walltime("60")
    rs.set("wdir", "/x")  # reserved: ignored
    assert os.path.basename(rs.run_command) == cmd
    assert rs.format_run_args() == ["--oversubscribe", "--n", "4", "--npernode", "2", "--host", "a,b",
                                    "--map-by", "core", "--cpus-per-proc", "3", "--verbose",
                                    "--timeout", "60"]
    assert rs.format_env_vars() == ["-x", "A=1", "-x", "B"]
    rs.set_verbose_launch(False)
    assert "--verbose" not in rs.format_run_args()


def test_mpi_missing_binary(no_mpi):
    with pytest.raises(LauncherError, match="mpirun"):
        MpirunSettings("echo")
    rs = MpirunSettings("echo", fail_if_missing_exec=False)
    rs.set_tasks(2)
    assert rs.format_run_args() == ["--n", "2"]


def test_create_run_settings_picks_the_class(fake_mpi):
    assert type(create_run_settings("local", "echo", run_command="mpirun")) is MpirunSettings
    assert type(create_run_settings("local", "echo", run_command="mpiexec")) is MpiexecSettings
    assert type(create_run_settings("local", "echo", run_command="orterun")) is OrterunSettings
    auto = create_run_settings("local", "echo")
    assert isinstance(auto, LocalRunSettings) and isinstance(auto, RunSettings)
    assert auto.run_command is None and auto.format_run_args() == []


def test_auto_single_process_runs_directly(exp, fake_mpi):
    rs = exp.create_run_settings("sh", exe_args=["-c", "echo one"])
    rs.set_tasks(1)
    assert rs.run_command is None
    model = exp.create_model("single", rs)
    exp.start(model)
    assert open(os.path.join(model.path, "single.out")).read() == "one\n"


def test_auto_uses_mpi_for_several_tasks(exp, fake_mpi):
    rs = exp.create_run_settings("sh", exe_args=["-c", 'echo "rank $RANK"'])
    rs.set_tasks(3)
    assert rs.run_command == str(fake_mpi / "mpirun")
    assert rs.format_run_args() == ["--n", "3"]
    model = exp.create_model("ranks", rs)
    exp.start(model)
    assert exp.get_status(model) == [SmartSimStatus.STATUS_COMPLETED]
    lines = sorted(open(os.path.join(model.path, "ranks.out")).read().split("\n")[:-1])
    assert lines == ["rank 0", "rank 1", "rank 2"]
    cmd = exp.launch_manifest()["runs"][-1]["command"]
    assert cmd[:3] == [str(fake_mpi / "mpirun"), "--n", "3"]


def test_auto_without_mpi_warns_and_runs_one_process(no_mpi, caplog):
    rs = create_run_settings("local", "echo")
    rs.set_tasks(4)
    assert rs.run_command is None and rs.format_run_args() == []


def test_mpmd_launch_line(exp, fake_mpi):
    first = MpirunSettings("echo", exe_args=["a"])
    first.set_tasks(1)
    second = MpirunSettings("echo", exe_args=["b"])
    second.set_tasks(2)
    first.make_mpmd(second)
    model = exp.create_model("mpmd", first)
    exp.start(model)
    cmd = exp.launch_manifest()["runs"][-1]["command"]
    assert [os.path.basename(c) if c.startswith("/") else c for c in cmd] == [
        "mpirun", "--n", "1", "echo", "a", ":", "--n", "2", "echo", "b"]
