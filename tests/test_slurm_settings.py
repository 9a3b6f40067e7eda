"""Slurm settings (``SrunSettings``, ``SbatchSettings``), their factories and the
``smartsim.wlm`` allocation helpers, against golden values produced by SmartSim 0.8.0.

Every expected value below was printed by SmartSim 0.8.0 (``pip install smartsim==0.8.0``
in a separate venv) for the same call, unless the row says ``(better than 0.8.0)``.
No Slurm is needed: scheduler tools are small shell scripts on a private PATH.
"""
from __future__ import annotations

import copy
import logging
import os
import shutil
import typing as t

import pytest

from smartsim import Experiment, wlm
from smartsim.error import (AllocationError, LauncherError, SmartSimError, SSReservedKeywordError,
                            SSUnsupportedError)
from smartsim.settings import (MpiexecSettings, MpirunSettings, RunSettings, SbatchSettings,
                               SrunSettings)
from smartsim.settings.settings import create_batch_settings, create_run_settings
from smartsim.settings.slurmSettings import fmt_walltime
from smartsim.wlm import slurm

ECHO = os.path.abspath(shutil.which("echo") or "/bin/echo")


# -- fixtures ----------------------------------------------------------------------------

@pytest.fixture
def bindir(tmp_path, monkeypatch):
    """``make(name, script_body)`` writes a fake tool; PATH holds only the fake tools
    (``echo`` is used by absolute path), and no SLURM_*/PBS_* variable is set."""
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", str(path))
    for key in list(os.environ):
        if key.startswith(("SLURM_", "PBS_")):
            monkeypatch.delenv(key)

    def make(name: str, body: str = "exit 0") -> str:
        tool = path / name
        tool.write_text("#!/bin/sh\n" + body + "\n")
        tool.chmod(0o755)
        return str(tool)

    make.path = str(path)  # type: ignore[attr-defined]
    return make


@pytest.fixture
def logs():
    """WARNING and ERROR records of the ``smartsim`` loggers, as ``(level, message)``."""
    records: t.List[t.Tuple[str, str]] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                records.append((record.levelname, record.getMessage()))

    handler = _Keep()
    root = logging.getLogger("smartsim")
    root.addHandler(handler)
    yield records
    root.removeHandler(handler)


@pytest.fixture
def rs(bindir):
    return SrunSettings(ECHO, ["hi"])


# -- SrunSettings: construction ----------------------------------------------------------

def test_srun_defaults(rs):
    assert rs.run_command == "srun"          # srun not on PATH: kept as written
    assert rs.alloc is None
    assert rs.mpmd == []
    assert sorted(rs.reserved_run_args) == ["D", "chdir"]
    assert rs.exe == [ECHO]
    assert rs.exe_args == ["hi"]
    assert rs.run_args == {}
    assert rs.env_vars == {}
    assert isinstance(rs, RunSettings)


def test_srun_run_command_expanded_when_on_path(bindir):
    srun = bindir("srun")
    assert SrunSettings(ECHO).run_command == srun


def test_srun_alloc_and_positional_arguments(bindir):
    assert SrunSettings(ECHO, alloc="1234").alloc == "1234"
    assert SrunSettings(ECHO, alloc=99).alloc == 99
    rs = SrunSettings(ECHO, ["a"], {"nodes": 1}, {"E": "1"}, "al")
    assert (rs.run_args, rs.env_vars, rs.alloc) == ({"nodes": 1}, {"E": "1"}, "al")
    assert SrunSettings(ECHO, "a b  c").exe_args == ["a", "b", "c"]


def test_srun_run_command_cannot_be_passed(bindir):
    with pytest.raises(TypeError, match="multiple values for keyword argument 'run_command'"):
        SrunSettings(ECHO, run_command="mpirun")


# -- SrunSettings: every setter, formatted -------------------------------------------------

SRUN_SETTERS = [
    ("nodes", lambda s: s.set_nodes(3), ["--nodes=3"]),
    ("nodes_str", lambda s: s.set_nodes("2"), ["--nodes=2"]),
    ("nodes_float", lambda s: s.set_nodes(2.7), ["--nodes=2"]),
    ("nodes_zero_is_bare_flag", lambda s: s.set_nodes(0), ["--nodes"]),
    ("tasks", lambda s: s.set_tasks(4), ["--ntasks=4"]),
    ("tasks_per_node", lambda s: s.set_tasks_per_node(2), ["--ntasks-per-node=2"]),
    ("cpus_per_task", lambda s: s.set_cpus_per_task(8), ["--cpus-per-task=8"]),
    ("nodes_and_tasks",
     lambda s: (s.set_tasks(8), s.set_nodes(2), s.set_tasks_per_node(4), s.set_cpus_per_task(2)),
     ["--ntasks=8", "--nodes=2", "--ntasks-per-node=4", "--cpus-per-task=2"]),
    ("overwrite_keeps_first_position",
     lambda s: (s.set_tasks(4), s.set_nodes(1), s.set_tasks(8)), ["--ntasks=8", "--nodes=1"]),
    ("hostlist_str_stripped", lambda s: s.set_hostlist("  node1 "), ["--nodelist=node1"]),
    ("hostlist_list", lambda s: s.set_hostlist(["a", "b", "c"]), ["--nodelist=a,b,c"]),
    ("hostlist_comma_str", lambda s: s.set_hostlist("a,b"), ["--nodelist=a,b"]),
    ("hostlist_empty_list", lambda s: s.set_hostlist([]), ["--nodelist"]),
    ("hostlist_from_file", lambda s: s.set_hostlist_from_file("/tmp/hosts.txt"),
     ["--nodefile=/tmp/hosts.txt"]),
    ("excluded_hosts_str", lambda s: s.set_excluded_hosts("n3"), ["--exclude=n3"]),
    ("excluded_hosts_list", lambda s: s.set_excluded_hosts(["n3", "n4"]), ["--exclude=n3,n4"]),
    ("walltime", lambda s: s.set_walltime("10:00:00"), ["--time=10:00:00"]),
    ("walltime_int", lambda s: s.set_walltime(30), ["--time=30"]),
    ("time", lambda s: s.set_time(1, 2, 3), ["--time=01:02:03"]),
    ("time_hours", lambda s: s.set_time(hours=12), ["--time=12:00:00"]),
    ("time_minutes_overflow", lambda s: s.set_time(minutes=90), ["--time=01:30:00"]),
    ("time_seconds", lambda s: s.set_time(seconds=3599), ["--time=00:59:59"]),
    ("time_zero", lambda s: s.set_time(0, 0, 0), ["--time=00:00:00"]),
    ("time_str_parts", lambda s: s.set_time("2", "5", "0"), ["--time=02:05:00"]),
    # (better than 0.8.0, which writes "--time=01 day, 6:00:00", refused by srun)
    ("time_a_day_or_more", lambda s: s.set_time(30, 0, 0), ["--time=1-06:00:00"]),
    ("node_feature_str", lambda s: s.set_node_feature(" P100 "), ["-C", "P100"]),
    ("node_feature_list", lambda s: s.set_node_feature(["P100", "V100"]), ["-C", "P100,V100"]),
    ("node_feature_tuple", lambda s: s.set_node_feature(("a", "b")), ["-C", "a,b"]),
    ("verbose", lambda s: s.set_verbose_launch(True), ["--verbose"]),
    ("verbose_off", lambda s: (s.set_verbose_launch(True), s.set_verbose_launch(False)), []),
    ("verbose_off_unset", lambda s: s.set_verbose_launch(False), []),
    ("quiet", lambda s: s.set_quiet_launch(True), ["--quiet"]),
    ("quiet_off", lambda s: (s.set_quiet_launch(True), s.set_quiet_launch(False)), []),
    ("broadcast", lambda s: s.set_broadcast(), ["--bcast"]),
    ("broadcast_path", lambda s: s.set_broadcast("/tmp/exe"), ["--bcast=/tmp/exe"]),
    ("memory_per_node", lambda s: s.set_memory_per_node(1000), ["--mem=1000M"]),
    ("memory_per_node_str", lambda s: s.set_memory_per_node("512"), ["--mem=512M"]),
    ("cpu_bindings_int", lambda s: s.set_cpu_bindings(2), ["--cpu_bind=map_cpu:2"]),
    ("cpu_bindings_list", lambda s: s.set_cpu_bindings([1, 2, 3]), ["--cpu_bind=map_cpu:1,2,3"]),
    ("set_generic", lambda s: (s.set("exclusive"), s.set("--mpi", "pmix"), s.set("-p", "debug")),
     ["--exclusive", "--mpi=pmix", "-p", "debug"]),
    ("set_reserved_ignored", lambda s: (s.set("chdir", "/x"), s.set("D", "/y"), s.set("--nodes", "3")),
     ["--nodes=3"]),
]


@pytest.mark.parametrize("setter, expected", [row[1:] for row in SRUN_SETTERS],
                         ids=[row[0] for row in SRUN_SETTERS])
def test_srun_setter_formatting(rs, setter, expected):
    setter(rs)
    assert rs.format_run_args() == expected


def test_srun_setters_store_typed_values(rs):
    rs.set_nodes("2")
    rs.set_walltime(30)
    rs.set_node_feature(" P100 ")
    rs.set_broadcast()
    rs.set_hostlist([])
    assert rs.run_args == {"nodes": 2, "time": "30", "C": "P100", "bcast": None, "nodelist": ""}


def test_srun_format_run_args_table(bindir):
    rs = SrunSettings(ECHO)
    rs.run_args = {"nodes": 1, "t": 5, "exclusive": None, "x": "", "oversubscribe": 0,
                   "mpi": "pmix", "C": "gpu", "F": 0.0, "ntasks": 2.5}
    assert rs.format_run_args() == ["--nodes=1", "-t", "5", "--exclusive", "-x", "--oversubscribe",
                                    "--mpi=pmix", "-C", "gpu", "-F", "--ntasks=2.5"]
    rs = SrunSettings(ECHO, run_args={"nodes": 2, "p": "debug", "exclusive": None})
    assert rs.format_run_args() == ["--nodes=2", "-p", "debug", "--exclusive"]


SRUN_ERRORS = [
    ("nodes_bad", lambda s: s.set_nodes("x"), ValueError, "invalid literal for int() with base 10: 'x'"),
    ("nodes_none", lambda s: s.set_nodes(None), TypeError,
     "int() argument must be a string, a bytes-like object or a real number, not 'NoneType'"),
    ("tasks_bad", lambda s: s.set_tasks("four"), ValueError,
     "invalid literal for int() with base 10: 'four'"),
    ("memory_bad", lambda s: s.set_memory_per_node("1G"), ValueError,
     "invalid literal for int() with base 10: '1G'"),
    ("time_bad", lambda s: s.set_time("x"), ValueError, "invalid literal for int() with base 10: 'x'"),
    ("hostlist_int", lambda s: s.set_hostlist(5), TypeError, "host_list argument must be a list of strings"),
    ("hostlist_tuple", lambda s: s.set_hostlist(("a", "b")), TypeError,
     "host_list argument must be a list of strings"),
    ("hostlist_none", lambda s: s.set_hostlist(None), TypeError,
     "host_list argument must be a list of strings"),
    ("hostlist_mixed", lambda s: s.set_hostlist(["a", 1]), TypeError,
     "host_list argument must be list of strings"),
    ("excluded_int", lambda s: s.set_excluded_hosts(3), TypeError,
     "host_list argument must be a list of strings"),
    ("excluded_mixed", lambda s: s.set_excluded_hosts(["n3", None]), TypeError,
     "host_list argument must be list of strings"),
    ("feature_mixed", lambda s: s.set_node_feature(["a", 2]), TypeError,
     "node_feature argument must be string or list of strings"),
    ("feature_int", lambda s: s.set_node_feature(2), TypeError, "'int' object is not iterable"),
    ("het_group_outside_het_job", lambda s: s.set_het_group([1]), ValueError,
     "Requested to set het group, but the allocation is not a het job"),
]


@pytest.mark.parametrize("call, exc, message", [row[1:] for row in SRUN_ERRORS],
                         ids=[row[0] for row in SRUN_ERRORS])
def test_srun_setter_errors(rs, call, exc, message):
    with pytest.raises(exc) as info:
        call(rs)
    assert str(info.value) == message
    assert rs.run_args == {}


def test_srun_str(rs, bindir):
    rs.set_nodes(2)
    rs.set("exclusive")
    assert str(rs) == (f"Executable: {ECHO}\nExecutable Arguments: hi\nRun Command: srun\n"
                       "Run Arguments:\n\tnodes = 2\n\texclusive = None")
    srun = bindir("srun")
    assert str(SrunSettings(ECHO, ["hi"])) == (f"Executable: {ECHO}\nExecutable Arguments: hi\n"
                                               f"Run Command: {srun}")


def test_base_setters_not_for_srun_warn(rs, logs):
    rs.set_task_map("x")
    rs.set_binding("x")
    assert rs.run_args == {}
    assert logs == [
        ("WARNING", "Task mapping specification not implemented for this RunSettings type: "
                    "<class 'smartsim.settings.slurmSettings.SrunSettings'>"),
        ("WARNING", "binding specification not implemented for this RunSettings type: "
                    "<class 'smartsim.settings.slurmSettings.SrunSettings'>"),
    ]


# -- heterogeneous jobs ----------------------------------------------------------------------

HET_WARNING = ("Support for heterogeneous groups is an experimental feature, please report any "
               "unexpected behavior to SmartSim developers by opening an issue on "
               "https://github.com/CrayLabs/SmartSim/issues")


def test_het_group(rs, monkeypatch, logs):
    monkeypatch.setenv("SLURM_HET_SIZE", "3")
    rs.set_het_group([0, 2])
    assert rs.format_run_args() == ["--het-group=0,2"]
    assert logs == [("WARNING", HET_WARNING)]
    rs.set_het_group(range(2))
    assert rs.format_run_args() == ["--het-group=0,1"]
    rs.set_het_group([])
    assert rs.run_args == {"het-group": ""}


@pytest.mark.parametrize("size, groups, expected", [(" 2", [0], ["--het-group=0"]),
                                                    ("2", [-1], ["--het-group=-1"])])
def test_het_group_edge_values(rs, monkeypatch, size, groups, expected):
    monkeypatch.setenv("SLURM_HET_SIZE", size)
    rs.set_het_group(groups)
    assert rs.format_run_args() == expected


def test_het_group_errors(rs, monkeypatch):
    monkeypatch.setenv("SLURM_HET_SIZE", "3")
    with pytest.raises(ValueError) as info:
        rs.set_het_group([1, 3])
    assert str(info.value) == "Het group 3 requested, but max het group in allocation is 2"
    monkeypatch.setenv("SLURM_HET_SIZE", "abc")
    with pytest.raises(ValueError) as info:
        rs.set_het_group([0])
    assert str(info.value) == "invalid literal for int() with base 10: 'abc'"
    monkeypatch.delenv("SLURM_HET_SIZE")
    rs.make_mpmd(SrunSettings(ECHO))
    monkeypatch.setenv("SLURM_HET_SIZE", "3")
    with pytest.raises(ValueError) as info:
        rs.set_het_group([0])
    assert str(info.value) == "Slurm does not support MPMD workloads in heterogeneous jobs\n"
    assert "het-group" not in rs.run_args


# -- MPMD --------------------------------------------------------------------------------------

def test_make_mpmd(rs):
    other = SrunSettings(ECHO, ["b"])
    rs.make_mpmd(other)
    assert len(rs.mpmd) == 1 and rs.mpmd[0] is other
    rs.make_mpmd(RunSettings(ECHO))
    assert len(rs.mpmd) == 2


@pytest.mark.parametrize("prepare, exc, message", [
    (lambda s, mp: setattr(s, "colocated_db_settings", {"port": 1}), SSUnsupportedError,
     "Colocated models cannot be run as a mpmd workload"),
    (lambda s, mp: setattr(s, "container", object()), SSUnsupportedError,
     "Containerized MPMD workloads are not yet supported."),
    (lambda s, mp: mp.setenv("SLURM_HET_SIZE", "2"), ValueError,
     "Slurm does not support MPMD workloads in heterogeneous jobs."),
    (lambda s, mp: mp.setenv("SLURM_HET_SIZE", ""), ValueError,
     "Slurm does not support MPMD workloads in heterogeneous jobs."),
], ids=["colocated", "container", "het_job", "het_size_empty"])
def test_make_mpmd_errors(rs, monkeypatch, prepare, exc, message):
    prepare(rs, monkeypatch)
    with pytest.raises(exc) as info:
        rs.make_mpmd(SrunSettings(ECHO))
    assert str(info.value) == message
    assert rs.mpmd == []


def test_srun_deepcopy_is_independent(rs):
    rs.make_mpmd(SrunSettings(ECHO, env_vars={"A": "x"}))
    clone = copy.deepcopy(rs)
    clone.mpmd[0].env_vars["A"] = "y"
    clone.set_nodes(9)
    assert rs.mpmd[0].env_vars == {"A": "x"}
    assert rs.run_args == {}
    assert clone.run_args == {"nodes": 9}
    assert clone.alloc is None and type(clone) is SrunSettings


# -- environment variables ---------------------------------------------------------------------

ENV_TABLE = [
    ("mixed", {"A": "1", "B": "a,b", "C": None, "D": 3, "E": ""},
     ["A=1", "C=None", "D=3", "E="], ("A=1,C=None,D=3,E=,B", ["B=a,b"])),
    ("two_compound", {"A": "1", "B": "a,b", "C": None, "D": 3, "E": "", "F": "x,y,z"},
     ["A=1", "C=None", "D=3", "E="], ("A=1,C=None,D=3,E=,B,F", ["B=a,b", "F=x,y,z"])),
    ("empty", {}, [], ("", [])),
    ("only_compound", {"B": "a,b"}, [], ("B", ["B=a,b"])),
]


@pytest.mark.parametrize("env, plain, comma_sep", [row[1:] for row in ENV_TABLE],
                         ids=[row[0] for row in ENV_TABLE])
def test_env_var_formatting(rs, env, plain, comma_sep):
    rs.env_vars = env
    assert rs.format_env_vars() == plain
    assert rs.format_comma_sep_env_vars() == comma_sep


def test_update_env_then_format(rs):
    rs.update_env({"X": 1, "Y": "a,b", "Z": True})
    assert rs.env_vars == {"X": "1", "Y": "a,b", "Z": "True"}
    assert rs.format_env_vars() == ["X=1", "Z=True"]
    assert rs.format_comma_sep_env_vars() == ("X=1,Z=True,Y", ["Y=a,b"])


def test_comma_sep_env_vars_include_mpmd_compound_values(rs):
    rs.env_vars = {"A": "1", "B": "a,b"}
    other = SrunSettings(ECHO, env_vars={"M1": "p,q", "M2": "plain"})
    rs.make_mpmd(other)
    assert rs.format_comma_sep_env_vars() == ("A=1,B", ["B=a,b", "M1=p,q"])
    assert other.format_comma_sep_env_vars() == ("M2=plain,M1", ["M1=p,q"])
    lone = SrunSettings(ECHO)
    lone.make_mpmd(SrunSettings(ECHO, env_vars={"M1": "p,q"}))
    assert lone.format_comma_sep_env_vars() == ("", ["M1=p,q"])


ENV_WARNING = ("Variable SS_PRE is set to old in current environment. If the job is running in an "
               "interactive allocation, the value new will not be set. Please consider removing "
               "the variable from the environment and re-running the experiment.")


@pytest.mark.parametrize("call, result", [
    (lambda s: s.format_env_vars(), ["SS_PRE=new", "SS_SAME=same", "SS_NEW=x"]),
    (lambda s: s.format_comma_sep_env_vars(), ("SS_PRE=new,SS_SAME=same,SS_NEW=x,SS_CSV", ["SS_CSV=a,b"])),
    (lambda s: s.check_env_vars(), None),
], ids=["format_env_vars", "format_comma_sep_env_vars", "check_env_vars"])
def test_env_var_already_set_differently_warns(rs, monkeypatch, logs, call, result):
    monkeypatch.setenv("SS_PRE", "old")
    monkeypatch.setenv("SS_SAME", "same")
    monkeypatch.setenv("SS_CSV", "c")
    rs.env_vars = {"SS_PRE": "new", "SS_SAME": "same", "SS_CSV": "a,b", "SS_NEW": "x"}
    assert call(rs) == result
    assert logs == [("WARNING", ENV_WARNING)]


def test_env_var_same_value_as_int_does_not_warn(rs, monkeypatch, logs):
    # (better than 0.8.0, which warns that 5 will not replace "5")
    monkeypatch.setenv("SS_PRE", "5")
    rs.env_vars = {"SS_PRE": 5}
    assert rs.format_env_vars() == ["SS_PRE=5"]
    assert logs == []


# -- walltime helper ---------------------------------------------------------------------------

def test_fmt_walltime():
    assert [fmt_walltime(0, 0, 0), fmt_walltime(1, 0, 0), fmt_walltime(9, 59, 59),
            fmt_walltime(10, 0, 0), fmt_walltime(23, 59, 59), fmt_walltime(0, 0, 3661),
            fmt_walltime(0, 125, 0)] == ["00:00:00", "01:00:00", "09:59:59", "10:00:00",
                                         "23:59:59", "01:01:01", "02:05:00"]


def test_fmt_walltime_days_and_negative():
    # (better than 0.8.0: "01 day, 0:00:00" / "-1 day, 23:00:00", which Slurm refuses)
    assert [fmt_walltime(24, 0, 0), fmt_walltime(25, 1, 1), fmt_walltime(0, 0, 86400 * 3 + 5)] == [
        "1-00:00:00", "1-01:01:01", "3-00:00:05"]
    with pytest.raises(ValueError, match="cannot be negative"):
        fmt_walltime(-1, 0, 0)


# -- SbatchSettings ----------------------------------------------------------------------------

def test_sbatch_basic(bindir):
    bs = SbatchSettings(nodes=2, time="10:00:00", account="A1")
    assert bs.batch_args == {"nodes": "2", "time": "10:00:00", "account": "A1"}
    assert bs.format_batch_args() == ["--nodes=2", "--time=10:00:00", "--account=A1"]
    assert bs.batch_cmd == "sbatch"
    assert list(bs.preamble) == []
    assert str(bs) == ("Batch Command: sbatch\nBatch arguments:\n\tnodes = 2\n\ttime = 10:00:00\n"
                       "\taccount = A1")
    default = SbatchSettings()
    assert (default.batch_args, default.format_batch_args()) == ({}, [])
    sbatch = bindir("sbatch")
    assert SbatchSettings().batch_cmd == sbatch


SBATCH_TABLE = [
    ("batch_args_short_long_flags",
     lambda: SbatchSettings(nodes=2, batch_args={"exclusive": None, "p": "debug", "nodes": "5",
                                                 "N": 3, "ntasks": 4, "x": ""}),
     ["--exclusive", "-p", "debug", "--nodes=2", "-N", "3", "--ntasks=4", "-x"]),
    ("queue_kwarg", lambda: SbatchSettings(nodes=1, queue="debug"), ["--nodes=1", "--partition=debug"]),
    ("positional", lambda: SbatchSettings(3, "02:00:00", "acct", {"exclusive": None}),
     ["--exclusive", "--nodes=3", "--time=02:00:00", "--account=acct"]),
    ("account_int", lambda: SbatchSettings(account=7), ["--account=7"]),
    ("walltime_any_form", lambda: _do(SbatchSettings(time="5"), lambda b: b.set_walltime("1-00:00:00")),
     ["--time=1-00:00:00"]),
    ("setters", lambda: _do(SbatchSettings(), lambda b: (
        b.set_partition("p1"), b.set_queue("p2"), b.set_queue(""), b.set_account("acc"),
        b.set_account(""), b.set_cpus_per_task(4), b.set_nodes(3), b.set_nodes(0),
        b.set_walltime("01:00:00"), b.set_walltime(""))),
     ["--partition=p2", "--account=acc", "--cpus-per-task=4", "--nodes=3", "--time=01:00:00"]),
    ("hostlist_str", lambda: _do(SbatchSettings(), lambda b: b.set_hostlist(" n1 ")), ["--nodelist=n1"]),
    ("hostlist_list", lambda: _do(SbatchSettings(), lambda b: b.set_hostlist(["n1", "n2"])),
     ["--nodelist=n1,n2"]),
    ("hostlist_empty", lambda: _do(SbatchSettings(), lambda b: b.set_hostlist([])), ["--nodelist"]),
]


def _do(settings, action):
    action(settings)
    return settings


def _mismatches(rows, actual_of):
    """``{row id: (actual, expected)}`` for every row of a golden table that differs."""
    found = {}
    for name, *inputs, expected in rows:
        try:
            actual = actual_of(*inputs)
        except Exception as exc:  # pylint: disable=broad-except
            actual = (type(exc), str(exc))
        if actual != expected:
            found[name] = (actual, expected)
    return found


def test_sbatch_formatting(bindir):
    # one test for the whole table: a failing row is named in the assertion
    assert _mismatches(SBATCH_TABLE, lambda make: make().format_batch_args()) == {}


def test_sbatch_stored_values(bindir):
    bs = SbatchSettings(nodes=2, batch_args={"exclusive": None, "p": "debug", "nodes": "5",
                                             "N": 3, "ntasks": 4, "x": ""})
    assert bs.batch_args == {"exclusive": None, "p": "debug", "nodes": "2", "N": 3, "ntasks": 4, "x": ""}
    bs = SbatchSettings()
    bs.set_partition(5)
    bs.set_nodes("4")
    assert bs.batch_args == {"partition": "5", "nodes": "4"}
    assert SbatchSettings(nodes=2.9).batch_args == {"nodes": "2"}
    assert SbatchSettings(time=None).batch_args == {}
    given = {"a": "1"}
    bs = SbatchSettings(batch_args=given)
    given["b"] = "2"
    bs.set_partition("x")
    assert given == {"a": "1", "b": "2"}
    assert bs.batch_args == {"a": "1", "partition": "x"}


SBATCH_ERRORS = [
    ("nodes_bad", lambda b: b.set_nodes("four"), ValueError,
     "invalid literal for int() with base 10: 'four'"),
    ("cpus_bad", lambda b: b.set_cpus_per_task("x"), ValueError,
     "invalid literal for int() with base 10: 'x'"),
    ("hostlist_int", lambda b: b.set_hostlist(1), TypeError, "host_list argument must be a list of strings"),
    ("hostlist_mixed", lambda b: b.set_hostlist(["a", 1]), TypeError,
     "host_list argument must be list of strings"),
    ("preamble_bad", lambda b: b.add_preamble(5), TypeError, "Expected str or List[str] for lines argument"),
]


@pytest.mark.parametrize("call, exc, message", [row[1:] for row in SBATCH_ERRORS],
                         ids=[row[0] for row in SBATCH_ERRORS])
def test_sbatch_errors(bindir, call, exc, message):
    bs = create_batch_settings("slurm")  # no argument set unless asked for
    with pytest.raises(exc) as info:
        call(bs)
    assert str(info.value) == message
    assert bs.batch_args == {}


def test_sbatch_preamble_command_str_and_copy(bindir):
    bs = SbatchSettings()
    bs.add_preamble("module load x")
    bs.add_preamble(["source a", "export B=1"])
    assert list(bs.preamble) == ["module load x", "source a", "export B=1"]
    bs.set_batch_command("/opt/sbatch")
    assert bs.batch_cmd == "/opt/sbatch"
    assert str(SbatchSettings(nodes=2, time="1:00:00")) == (
        "Batch Command: sbatch\nBatch arguments:\n\tnodes = 2\n\ttime = 1:00:00")
    assert str(SbatchSettings()) == "Batch Command: sbatch"
    bs = SbatchSettings(nodes=1)
    bs.add_preamble("x")
    clone = copy.deepcopy(bs)
    clone.set_nodes(5)
    clone.add_preamble("y")
    assert (bs.batch_args, list(bs.preamble)) == ({"nodes": "1"}, ["x"])
    assert (clone.batch_args, list(clone.preamble)) == ({"nodes": "5"}, ["x", "y"])


# -- factories ---------------------------------------------------------------------------------

@pytest.mark.parametrize("tools, cls, command", [
    (["srun", "sbatch", "mpirun"], SrunSettings, "srun"),
    (["mpirun", "mpiexec"], MpirunSettings, "mpirun"),
    (["mpiexec"], MpiexecSettings, "mpiexec"),
], ids=["srun", "mpirun", "mpiexec"])
def test_create_run_settings_slurm_auto_picks_first_found(bindir, tools, cls, command):
    paths = {tool: bindir(tool) for tool in tools}
    settings = create_run_settings("slurm", ECHO)
    assert type(settings) is cls
    assert settings.run_command == paths[command]
    assert type(create_run_settings("SLURM", ECHO, run_command="AUTO")) is cls


def test_create_run_settings_slurm_auto_nothing_found(bindir):
    with pytest.raises(SmartSimError) as info:
        create_run_settings("slurm", ECHO)
    assert str(info.value) == (
        "Could not automatically detect a run command to use for launcher slurm\n"
        "Searched for and could not find the following commands: ['srun', 'mpirun', 'mpiexec']")


# launcher, run_command, tools on PATH -> (settings class, run_command) or (error, message)
EXPLICIT_COMMANDS = [
    ("srun", "slurm", "srun", [], (SrunSettings, "srun")),
    ("srun_upper", "slurm", "SRUN", [], (SrunSettings, "srun")),
    ("srun_on_local", "local", "srun", [], (SrunSettings, "srun")),
    ("mpirun", "slurm", "mpirun", ["srun", "mpirun"], (MpirunSettings, "<bin>/mpirun")),
    ("mpiexec", "slurm", "mpiexec", ["mpirun", "mpiexec"], (MpiexecSettings, "<bin>/mpiexec")),
    ("other_name", "slurm", "aprunx", [], (RunSettings, "aprunx")),
    ("none", "slurm", None, [], (RunSettings, None)),
    ("empty", "slurm", "", [], (RunSettings, None)),
    ("srun_path", "slurm", "<bin>/srun", ["srun"], (RunSettings, "<bin>/srun")),
    # (better than 0.8.0, which lower-cases the name, paths included: "myrun")
    ("case_kept", "slurm", "MyRun", [], (RunSettings, "MyRun")),
    ("mpirun_missing", "slurm", "mpirun", [], (LauncherError,
                                               "Cannot find mpirun. Try passing the full path via run_command.")),
    ("orterun_missing", "slurm", "orterun", [], (LauncherError,
                                                 "Cannot find orterun. Try passing the full path via run_command.")),
]


def test_create_run_settings_explicit_command(bindir, tmp_path):
    def actual(launcher, run_command, tools):
        for tool in os.listdir(bindir.path):
            os.remove(os.path.join(bindir.path, tool))
        for tool in tools:
            bindir(tool)
        if run_command:
            run_command = run_command.replace("<bin>", bindir.path)
        settings = create_run_settings(launcher, ECHO, run_command=run_command, run_args={"n": 1})
        expected_args = ["-n", "1"] if type(settings) is SrunSettings else (
            ["--n", "1"] if type(settings) is not RunSettings else ["n", "1"])
        assert settings.format_run_args() == expected_args
        command = settings.run_command
        return (type(settings), command.replace(bindir.path, "<bin>") if command else command)

    assert _mismatches(EXPLICIT_COMMANDS, actual) == {}


def test_create_run_settings_slurm_arguments_reach_srun(bindir):
    bindir("srun")
    settings = create_run_settings("slurm", ECHO, exe_args=["x"],
                                   run_args={"nodes": 2, "exclusive": None},
                                   env_vars={"A": "b,c", "D": "1"}, alloc="77")
    assert type(settings) is SrunSettings
    assert settings.exe_args == ["x"]
    assert settings.format_run_args() == ["--nodes=2", "--exclusive"]
    assert settings.format_comma_sep_env_vars() == ("D=1,A", ["A=b,c"])
    assert settings.alloc == "77"


def test_create_batch_settings_slurm(bindir):
    bs = create_batch_settings("slurm", nodes=2, time="01:00:00", queue="debug", account="acc",
                               batch_args={"exclusive": None})
    assert type(bs) is SbatchSettings
    assert bs.format_batch_args() == ["--exclusive", "--nodes=2", "--partition=debug",
                                      "--time=01:00:00", "--account=acc"]
    assert create_batch_settings("slurm").format_batch_args() == []
    assert create_batch_settings("slurm", nodes=1, time="", queue="", account="").format_batch_args() == [
        "--nodes=1"]
    with pytest.raises(SmartSimError) as info:
        create_batch_settings("local")
    assert str(info.value) == "Local launcher does not support batch workloads"


def test_create_batch_settings_auto_detects_slurm(bindir):
    # (detection as Experiment(launcher="auto"); 0.8.0 also wants sacct, salloc, ...)
    bindir("srun")
    bindir("sbatch")
    assert type(create_batch_settings("auto", nodes=3)) is SbatchSettings


def test_experiment_on_slurm(bindir, tmp_path, monkeypatch):
    bindir("srun")
    exp = Experiment("e", exp_path=str(tmp_path / "e"), launcher="slurm")
    rs = exp.create_run_settings(ECHO, run_args={"nodes": 1})
    assert type(rs) is SrunSettings and rs.format_run_args() == ["--nodes=1"]
    bs = exp.create_batch_settings()
    assert type(bs) is SbatchSettings and bs.format_batch_args() == ["--nodes=1"]
    assert exp.create_batch_settings(nodes=4, time="01:00:00", queue="q",
                                     account="a").format_batch_args() == [
        "--nodes=4", "--partition=q", "--time=01:00:00", "--account=a"]
    monkeypatch.setenv("PATH", str(tmp_path))  # srun no longer on PATH
    rs = exp.create_run_settings(ECHO, run_command="srun", alloc="5")
    assert (type(rs), rs.alloc, rs.run_command) == (SrunSettings, "5", "srun")


# -- smartsim.wlm: inside and outside an allocation ----------------------------------------------

SCONTROL = 'if [ "$1 $2" = "show hostnames" ]; then printf "nodeb\\nnodea\\nnodec\\n"; else exit 1; fi'


@pytest.mark.parametrize("function, message", [
    (wlm.get_hosts, "Could not parse allocation nodes from SLURM_JOB_NODELIST"),
    (wlm.get_queue, "Could not parse queue from SLURM_JOB_PARTITION"),
    (wlm.get_tasks, "Could not parse number of requested tasks from SLURM_NTASKS"),
    (wlm.get_tasks_per_node, "Could not parse tasks per node from SLURM_TASKS_PER_NODE"),
], ids=["hosts", "queue", "tasks", "tasks_per_node"])
def test_wlm_outside_an_allocation(bindir, function, message):
    with pytest.raises(SmartSimError) as info:
        function("slurm")
    assert str(info.value) == message


@pytest.mark.parametrize("function, what", [
    (wlm.get_hosts, "hosts"), (wlm.get_queue, "queue"), (wlm.get_tasks, "tasks"),
    (wlm.get_tasks_per_node, "tasks per node")])
@pytest.mark.parametrize("launcher", ["local", "lsf"])
def test_wlm_unsupported_launcher(bindir, function, what, launcher):
    with pytest.raises(SSUnsupportedError) as info:
        function(launcher)
    assert str(info.value) == f"SmartSim cannot get {what} for launcher `{launcher}`"


WLM_INSIDE = [
    ("hosts", wlm.get_hosts, {"SLURM_JOB_NODELIST": "node[a-c]"}, ["nodea", "nodeb", "nodec"]),
    ("queue", wlm.get_queue, {"SLURM_JOB_PARTITION": "debug"}, "debug"),
    ("tasks", wlm.get_tasks, {"SLURM_NTASKS": "12"}, 12),
    ("tasks_zero", wlm.get_tasks, {"SLURM_NTASKS": "0"}, 0),
    ("tasks_per_node", wlm.get_tasks_per_node,
     {"SLURM_JOB_NODELIST": "node[a-c]", "SLURM_TASKS_PER_NODE": "2(x2),1"},
     {"nodea": 2, "nodeb": 2, "nodec": 1}),
    ("tasks_per_node_one_value", wlm.get_tasks_per_node,
     {"SLURM_JOB_NODELIST": "node[a-c]", "SLURM_TASKS_PER_NODE": "4"}, {"nodea": 4}),
]


@pytest.mark.parametrize("function, env, expected", [row[1:] for row in WLM_INSIDE],
                         ids=[row[0] for row in WLM_INSIDE])
def test_wlm_inside_an_allocation(bindir, monkeypatch, function, env, expected):
    bindir("scontrol", SCONTROL)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert function("slurm") == expected


WLM_INSIDE_ERRORS = [
    ("queue_empty", wlm.get_queue, {"SLURM_JOB_PARTITION": ""}, SmartSimError,
     "Could not parse queue from SLURM_JOB_PARTITION"),
    ("tasks_empty", wlm.get_tasks, {"SLURM_NTASKS": ""}, SmartSimError,
     "Could not parse number of requested tasks from SLURM_NTASKS"),
    ("tasks_bad", wlm.get_tasks, {"SLURM_NTASKS": "x"}, ValueError,
     "invalid literal for int() with base 10: 'x'"),
    ("tasks_per_node_no_nodelist", wlm.get_tasks_per_node, {"SLURM_TASKS_PER_NODE": "4"},
     SmartSimError, "Could not parse allocation nodes from SLURM_JOB_NODELIST"),
    ("tasks_per_node_bad", wlm.get_tasks_per_node,
     {"SLURM_JOB_NODELIST": "n1", "SLURM_TASKS_PER_NODE": "x"}, ValueError,
     "invalid literal for int() with base 10: 'x'"),
]


@pytest.mark.parametrize("function, env, exc, message", [row[1:] for row in WLM_INSIDE_ERRORS],
                         ids=[row[0] for row in WLM_INSIDE_ERRORS])
def test_wlm_inside_an_allocation_errors(bindir, monkeypatch, function, env, exc, message):
    bindir("scontrol", SCONTROL)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(exc) as info:
        function("slurm")
    assert str(info.value) == message


def test_wlm_hosts_need_scontrol(bindir, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_NODELIST", "node[a-c]")
    for call in (lambda: wlm.get_hosts("slurm"), slurm.get_hosts):
        with pytest.raises(LauncherError) as info:
            call()
        assert str(info.value) == ("Attempted slurm function without access to slurm(scontrol) "
                                   "at the call site")


def test_wlm_slurm_module_functions(bindir, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_PARTITION", "p")
    monkeypatch.setenv("SLURM_NTASKS", "3")
    assert (slurm.get_queue(), slurm.get_tasks()) == ("p", 3)


def test_wlm_detect_launcher(bindir):
    # this project's detection, as Experiment(launcher="auto"): sbatch and srun on PATH
    # (0.8.0 also wants sacct, salloc, scancel, sstat and sinfo)
    assert wlm.detect_launcher() == "local"
    bindir("srun")
    bindir("sbatch")
    assert wlm.detect_launcher() == "slurm"
    # launcher=None detects: outside an allocation the Slurm errors are raised
    with pytest.raises(SmartSimError, match="SLURM_JOB_PARTITION"):
        wlm.get_queue()


# -- smartsim.wlm.slurm: allocations ------------------------------------------------------------

def test_alloc_command():
    assert slurm._get_alloc_cmd(2, "1:30:00", "acct", options={
        "exclusive": None, "p": "debug", "constraint": "gpu", "C": ""}) == [
        "--no-shell", "-N", "2", "-J", "SmartSim", "-t", "01:30:00", "-A", "acct", "--exclusive",
        "-p", "debug", "--constraint=gpu", "-C"]
    assert slurm._get_alloc_cmd(1) == ["--no-shell", "-N", "1", "-J", "SmartSim"]


@pytest.mark.parametrize("key", ["time", "N", "account"])
def test_alloc_command_reserved_options(key):
    with pytest.raises(SSReservedKeywordError) as info:
        slurm._get_alloc_cmd(1, options={key: "1"})
    assert str(info.value) == f"Expecting time, nodes, account as an argument. Also received: {{'{key}'}}"


def test_alloc_time_format():
    assert [slurm._validate_time_format("1:2:3"), slurm._validate_time_format("10:00:00"),
            slurm._validate_time_format("0:90:00")] == ["01:02:03", "10:00:00", "01:30:00"]
    # (better than 0.8.0: "02 days, 0:00:00")
    assert slurm._validate_time_format("48:00:00") == "2-00:00:00"
    for bad in ("10:00", "a:b:c"):
        with pytest.raises(ValueError) as info:
            slurm._validate_time_format(bad)
        assert str(info.value) == "Input time must be formatted as `HH:MM:SS` with valid Integers."


def test_get_allocation(bindir, tmp_path):
    args_file = tmp_path / "salloc-args"
    bindir("salloc", f'echo "$@" > {args_file}\n'
                     'echo "salloc: Granted job allocation 4242" >&2\n'
                     'echo "salloc: Nodes n1 are ready for job" >&2')
    assert slurm.get_allocation(nodes=2, time="00:10:00", account="a",
                                options={"exclusive": None}) == "4242"
    assert args_file.read_text() == "--no-shell -N 2 -J SmartSim -t 00:10:00 -A a --exclusive\n"


@pytest.mark.parametrize("stderr, message", [
    ('echo "salloc: error: invalid partition specified: nope" >&2; '
     'echo "salloc: error: Job submit/allocate failed: Invalid partition name specified" >&2',
     "invalid partition specified: nope"),
    ('echo "salloc: Pending job allocation 7" >&2', "Pending job allocation 7"),
    ('echo "whatever" >&2', "Error retrieving Slurm allocation"),
], ids=["error_line", "first_salloc_line", "unparseable"])
def test_get_allocation_refused(bindir, stderr, message):
    bindir("salloc", stderr + "\nexit 1")
    with pytest.raises(AllocationError) as info:
        slurm.get_allocation()
    assert str(info.value) == message


def test_get_allocation_errors(bindir):
    with pytest.raises(LauncherError) as info:
        slurm.get_allocation()
    assert str(info.value) == "Attempted slurm function without access to slurm(salloc) at the call site"
    bindir("salloc", 'echo "salloc: Granted job allocation 1" >&2')
    with pytest.raises(SSReservedKeywordError) as info:
        slurm.get_allocation(options={"account": "x"})
    assert str(info.value) == "Expecting time, nodes, account as an argument. Also received: {'account'}"


def test_release_allocation(bindir, tmp_path, logs):
    with pytest.raises(LauncherError) as info:
        slurm.release_allocation("12")
    assert str(info.value) == "Attempted slurm function without access to slurm(salloc) at the call site"
    args_file = tmp_path / "scancel-args"
    bindir("scancel", f'echo "$@" > {args_file}')
    assert slurm.release_allocation("12") is None
    assert args_file.read_text() == "12\n"
    bindir("scancel", 'echo "scancel: error: Invalid job id 5" >&2; exit 1')
    with pytest.raises(AllocationError) as info:
        slurm.release_allocation(12)
    assert str(info.value) == "Unable to revoke your allocation for jobid  12"
    assert ("ERROR", "Unable to revoke your allocation for jobid 12") in logs


SINFO = ('case "$*" in *"%P"*) printf "debug*\\nbig\\n";; '
         '*) printf "debug n1 4\\ndebug n2 8\\nbig n3 64\\nbig n4 64\\n";; esac')
SINFO_NO_DEFAULT = ('case "$*" in *"%P"*) printf "debug\\nbig\\n";; '
                    '*) printf "debug n1 4\\n";; esac')


def test_validate(bindir):
    bindir("sinfo", SINFO)
    assert slurm.get_default_partition() == "debug"
    assert slurm.validate(nodes=2, ppn=4) is True
    assert slurm.validate(nodes=2, ppn=8) is False
    assert slurm.validate(nodes=2, ppn=8, partition="big") is True
    assert slurm.validate(nodes=3, ppn=1, partition="big") is False
    with pytest.raises(LauncherError) as info:
        slurm.validate(partition="nope")
    assert str(info.value) == "Partition nope is not found on this system"


def test_validate_errors(bindir):
    with pytest.raises(LauncherError) as info:
        slurm.validate()
    assert str(info.value) == "Slurm Launcher could not find path of sinfo command"
    bindir("sinfo", SINFO_NO_DEFAULT)
    with pytest.raises(LauncherError) as info:
        slurm.validate()
    assert str(info.value) == "No partition provided and default partition could not be found"
    with pytest.raises(LauncherError) as info:
        slurm.get_default_partition()
    assert str(info.value) == "Could not find default partition!"
