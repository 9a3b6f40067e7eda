"""Run and batch settings of the other workload managers, and the factories that choose them,
against golden values produced by SmartSim 0.8.0: PBS (``QsubBatchSettings``), LSF
(``BsubBatchSettings``, ``JsrunSettings``), Grid Engine (``SgeQsubBatchSettings``), ALPS
(``AprunSettings``), PALS (``PalsMpiexecSettings``), the MPI family (``MpirunSettings``,
``MpiexecSettings``, ``OrterunSettings``) and Cobalt (``CobaltBatchSettings``).

Every expected value below was printed by SmartSim 0.8.0 (``pip install smartsim==0.8.0`` in a
separate venv) for the same expression, unless the row says ``(better than 0.8.0: ...)``.
SmartSim 0.8.0 has no Cobalt: the COBALT rows, and the cobalt rows of the factory tables,
were printed by SmartSim 0.5.1's ``CobaltBatchSettings`` (CrayLabs/SmartSim tag v0.5.1,
``smartsim/settings/cobaltSettings.py``, on 0.5.1's ``BatchSettings.__init__``) and its
``create_run_settings``/``create_batch_settings`` (cobalt: ``aprun``, ``mpirun``, ``mpiexec``).

A row is ``(id, tools on PATH, expression, expected)``; an expected ``(ExceptionClass,
message)`` means the expression raises exactly that. No scheduler is needed: PATH holds only
the row's tools, small shell scripts; ``<bin>`` stands for their directory and ``<echo>`` for
the executable used throughout.
"""
from __future__ import annotations

import copy
import logging
import os
import shutil
import typing as t

import pytest

from smartsim import Experiment
from smartsim.error import (LauncherError, LauncherUnsupportedFeature, SmartSimError,
                            SSConfigError, SSUnsupportedError)
from smartsim.settings import (AprunSettings, BatchSettings, BsubBatchSettings,
                               CobaltBatchSettings, JsrunSettings, MpiexecSettings,
                               MpirunSettings, OrterunSettings, PalsMpiexecSettings,
                               QsubBatchSettings, RunSettings, SgeQsubBatchSettings)
from smartsim.settings.settings import create_batch_settings, create_run_settings

ECHO = os.path.abspath(shutil.which("echo") or "/bin/echo")

# an mpiexec that is Slurm's wrapper (refused by MpiexecSettings, as SmartSim does)
SLURM_MPIEXEC = 'echo "usage: mpiexec.slurm [options]"'


# -- fixtures and helpers ------------------------------------------------------------------

@pytest.fixture
def bindir(tmp_path, monkeypatch):
    """``make(name)`` writes a fake tool (``mpiexec-slurm``: Slurm's mpiexec wrapper); PATH
    holds only the fake tools (``echo`` is used by absolute path), and no scheduler variable
    is set."""
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", str(path))
    for key in list(os.environ):
        if key.startswith(("SLURM_", "PBS_", "LSB_", "COBALT_")):
            monkeypatch.delenv(key)

    def make(name: str) -> str:
        body = "exit 0"
        if name == "mpiexec-slurm":
            name, body = "mpiexec", SLURM_MPIEXEC
        tool = path / name
        tool.write_text("#!/bin/sh\n" + body + "\n")
        tool.chmod(0o755)
        return str(tool)

    make.path = str(path)  # type: ignore[attr-defined]
    return make


@pytest.fixture
def logs():
    """INFO and higher records of the ``smartsim`` loggers, as ``(level, message)``."""
    records: t.List[t.Tuple[str, str]] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append((record.levelname, record.getMessage()))

    handler = _Keep(level=logging.INFO)
    root = logging.getLogger("smartsim")
    old_level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    yield records
    root.removeHandler(handler)
    root.setLevel(old_level)


def _do(obj, *actions):
    for action in actions:
        action(obj)
    return obj


def _args(settings, *actions):
    return _do(settings, *actions).format_run_args()


def _batch(settings, *actions):
    return _do(settings, *actions).format_batch_args()


def _get(obj, *names):
    """The named attributes (``name()``: the method's result; a set: sorted)."""
    values = []
    for name in names:
        value = getattr(obj, name[:-2])() if name.endswith("()") else getattr(obj, name)
        values.append(sorted(value) if isinstance(value, set) else value)
    return tuple(values)


def _kind(settings):
    return (type(settings).__name__, settings.run_command)


def _bkind(settings):
    return (type(settings).__name__, settings.format_batch_args())


def _norm(value, bin_path):
    if isinstance(value, str):
        return value.replace(bin_path, "<bin>").replace(ECHO, "<echo>")
    if isinstance(value, list):
        return [_norm(v, bin_path) for v in value]
    if isinstance(value, tuple):
        return tuple(_norm(v, bin_path) for v in value)
    if isinstance(value, dict):
        return {_norm(k, bin_path): _norm(v, bin_path) for k, v in value.items()}
    return value


def _outcome(bindir, tools, make):
    """What ``make()`` returns with ``tools`` on PATH, or ``(exception class, message)``."""
    for tool in tools:
        bindir(tool)
    try:
        result = make()
    except Exception as exc:  # pylint: disable=broad-except
        result = (type(exc), str(exc))
    return _norm(result, bindir.path)


def _params(rows):
    return pytest.mark.parametrize("tools, make, expected", [row[1:] for row in rows],
                                   ids=[row[0] for row in rows])


# -- PBS Pro: QsubBatchSettings ------------------------------------------------------------

QSUB = [
    ('nodes', [],
     lambda: QsubBatchSettings(nodes=2).format_batch_args(),
     ['-l nodes=2']),
    ('all_constructor_arguments', [],
     lambda: QsubBatchSettings(nodes=2, ncpus=8, time="01:00:00", queue="debug",
                               account="acct").format_batch_args(),
     ['-l nodes=2:ncpus=8', '-l walltime=01:00:00', '-q debug', '-A acct']),
    ('positional', [],
     lambda: QsubBatchSettings(3, 4, "00:10:00", "q", "A").format_batch_args(),
     ['-l nodes=3:ncpus=4', '-l walltime=00:10:00', '-q q', '-A A']),
    ('no_node_request', [],
     lambda: QsubBatchSettings().format_batch_args(),
     (SSConfigError, 'Insufficient resource specification: no nodes or select statement')),
    ('only_walltime_no_nodes', [],
     lambda: QsubBatchSettings(time="01:00:00").format_batch_args(),
     (SSConfigError, 'Insufficient resource specification: no nodes or select statement')),
    ('select_resource', [],
     lambda: QsubBatchSettings(resources={"select": 4, "place": "scatter"}).format_batch_args(),
     ['-l select=4', '-l place=scatter']),
    ('select_ncpus_hosts', [],
     lambda: _batch(QsubBatchSettings(ncpus=2, resources={"select": 3}),
                    lambda b: b.set_hostlist(["n1", "n2"])),
     ['-l select=3:ncpus=2:host=n1+host=n2']),
    ('nodes_ncpus_host_str', [],
     lambda: _batch(QsubBatchSettings(nodes=2), lambda b: b.set_ncpus(4),
                    lambda b: b.set_hostlist(" n1 ")),
     ['-l nodes=2:ncpus=4:host=n1']),
    ('resources_before_nodes_and_walltime', [],
     lambda: QsubBatchSettings(nodes=1, time="00:05:00",
                               resources={"place": "scatter", "mem": "4gb"}).format_batch_args(),
     ['-l nodes=1', '-l place=scatter', '-l mem=4gb', '-l walltime=00:05:00']),
    ('time_overrides_walltime_resource_in_place', [],
     lambda: QsubBatchSettings(nodes=1, time="02:00:00",
                               resources={"walltime": "01:00:00", "mem": "1gb"}).format_batch_args(),
     ['-l nodes=1', '-l walltime=02:00:00', '-l mem=1gb']),
    ('resource_nodes_without_nodes_argument', [],
     lambda: QsubBatchSettings(resources={"nodes": 5}).format_batch_args(),
     ['-l nodes=5']),
    ('nodes_zero_is_not_a_request', [],
     lambda: QsubBatchSettings(nodes=0, resources={"select": 1}).format_batch_args(),
     ['-l select=1']),
    ('select_zero_falls_back_to_nodes', [],
     lambda: _batch(QsubBatchSettings(nodes=2), lambda b: b.set_resource("select", 0)),
     ['-l nodes=2']),
    ('select_with_nodes_zero_kept', [],
     lambda: _batch(QsubBatchSettings(resources={"select": 2, "nodes": 0})),
     ['-l select=2', '-l nodes=0']),
    ('bool_select', [],
     lambda: QsubBatchSettings(resources={"select": True}).format_batch_args(),
     ['-l select=True']),
    ('set_resource_order_and_overwrite', [],
     lambda: _batch(QsubBatchSettings(nodes=1), lambda b: b.set_resource("place", "scatter"),
                    lambda b: b.set_walltime("1:00:00"), lambda b: b.set_resource("place", "pack")),
     ['-l nodes=1', '-l place=pack', '-l walltime=1:00:00']),
    ('setters', [],
     lambda: _batch(QsubBatchSettings(), lambda b: b.set_nodes(4), lambda b: b.set_nodes(0),
                    lambda b: b.set_ncpus("16"), lambda b: b.set_queue("q1"),
                    lambda b: b.set_queue(""), lambda b: b.set_account(7),
                    lambda b: b.set_account(""), lambda b: b.set_walltime(""),
                    lambda b: b.set_walltime("00:30:00")),
     ['-l nodes=4:ncpus=16', '-l walltime=00:30:00', '-q q1', '-A 7']),
    ('batch_args_any_key_one_dash', [],
     lambda: QsubBatchSettings(nodes=1, batch_args={"l": "filesystems=home", "foo": 3, "q": "x"},
                               queue="debug").format_batch_args(),
     ['-l nodes=1', '-l filesystems=home', '-foo 3', '-q debug']),
    ('batch_arg_without_value', [],
     lambda: QsubBatchSettings(nodes=1, batch_args={"V": None}).format_batch_args(),
     (ValueError, 'PBS options without values are not allowed')),
    ('batch_arg_empty_value', [],
     lambda: QsubBatchSettings(nodes=1, batch_args={"W": ""}).format_batch_args(),
     (ValueError, 'PBS options without values are not allowed')),
    ('hostlist_empty_list', [],
     lambda: _batch(QsubBatchSettings(nodes=1), lambda b: b.set_hostlist([])),
     ['-l nodes=1']),
    ('format_twice', [],
     lambda: _get(QsubBatchSettings(nodes=1, ncpus=2), "format_batch_args()", "format_batch_args()"),
     (['-l nodes=1:ncpus=2'], ['-l nodes=1:ncpus=2'])),
    ('resources_property_is_a_copy', [],
     lambda: (lambda b: (b.resources.update({"x": 1}), b.resources)[1])(QsubBatchSettings(nodes=1)),
     {'nodes': 1}),
    ('resources_stored', [],
     lambda: _do(QsubBatchSettings(nodes=2, time="1:00:00", resources={"place": "scatter"}),
                 lambda b: b.set_resource("mem", 5)).resources,
     {'place': 'scatter', 'nodes': 2, 'walltime': '1:00:00', 'mem': 5}),
    ('batch_args_stored', [],
     lambda: QsubBatchSettings(nodes=1, queue=5, account="a", batch_args={"m": "e"}).batch_args,
     {'m': 'e', 'q': '5', 'A': 'a'}),
    ('resources_assignment_checked', [],
     lambda: _do(QsubBatchSettings(nodes=1),
                 lambda b: setattr(b, "resources", {"select": 1, "nodes": 2})),
     (SSConfigError, "'select' and 'nodes' cannot both be specified. This can happen if nodes were specified using the 'set_nodes' method and 'select' was set using 'set_resource'. Please only specify one.")),
    ('err_nodes_and_resource_nodes', [],
     lambda: QsubBatchSettings(nodes=2, resources={"nodes": 3}),
     (ValueError, 'nodes was incorrectly specified as a constructor parameter and also as a key in the resource mapping')),
    ('err_nodes_and_select', [],
     lambda: QsubBatchSettings(nodes=2, resources={"select": 3}),
     (SSConfigError, "'select' and 'nodes' cannot both be specified. This can happen if nodes were specified using the 'set_nodes' method and 'select' was set using 'set_resource'. Please only specify one.")),
    ('err_set_select_after_nodes', [],
     lambda: _do(QsubBatchSettings(nodes=2), lambda b: b.set_resource("select", 2)),
     (SSConfigError, "'select' and 'nodes' cannot both be specified. This can happen if nodes were specified using the 'set_nodes' method and 'select' was set using 'set_resource'. Please only specify one.")),
    ('err_select_str', [],
     lambda: QsubBatchSettings(resources={"select": "2"}),
     (TypeError, "The value for 'select' must be an integer")),
    ('err_nodes_str', [],
     lambda: QsubBatchSettings(nodes="2"),
     (TypeError, "The value for 'nodes' must be an integer")),
    ('err_set_nodes_float', [],
     lambda: _do(QsubBatchSettings(), lambda b: b.set_nodes(2.5)),
     (TypeError, "The value for 'nodes' must be an integer")),
    ('err_resource_key_int', [],
     lambda: QsubBatchSettings(resources={1: "x"}),
     (TypeError, "The type of key=1 is <class 'int'>. Only int and str are allowed.")),
    ('err_resource_value_float', [],
     lambda: _do(QsubBatchSettings(nodes=1), lambda b: b.set_resource("mem", 1.5)),
     (TypeError, "The value associated with key='mem' is <class 'float'>. Only int and str are allowed.")),
    ('err_resource_value_list', [],
     lambda: QsubBatchSettings(resources={"walltime": ["1"]}),
     (TypeError, "The value associated with key='walltime' is <class 'list'>. Only int and str are allowed.")),
    ('err_ncpus_bad', [],
     lambda: _do(QsubBatchSettings(), lambda b: b.set_ncpus("x")),
     (ValueError, "invalid literal for int() with base 10: 'x'")),
    ('err_hostlist_int', [],
     lambda: _do(QsubBatchSettings(), lambda b: b.set_hostlist(5)),
     (TypeError, 'host_list argument must be a list of strings')),
    ('err_hostlist_mixed', [],
     lambda: _do(QsubBatchSettings(), lambda b: b.set_hostlist(["a", 1])),
     (TypeError, 'host_list argument must be a list of strings')),
    ('err_hostlist_tuple', [],
     lambda: _do(QsubBatchSettings(), lambda b: b.set_hostlist(("a",))),
     (TypeError, 'host_list argument must be a list of strings')),
    ('err_walltime_float', [],
     lambda: QsubBatchSettings(time=1.5),
     (TypeError, "The value associated with key='walltime' is <class 'float'>. Only int and str are allowed.")),
    ('str', [],
     lambda: str(QsubBatchSettings(nodes=1, queue="q", account="a")),
     'Batch Command: qsub\nBatch arguments:\n\tq = q\n\tA = a'),
    ('batch_cmd_not_found', [],
     lambda: QsubBatchSettings().batch_cmd,
     'qsub'),
    ('batch_cmd_on_path', ['qsub'],
     lambda: QsubBatchSettings().batch_cmd,
     '<bin>/qsub'),
    ('preamble', [],
     lambda: list(_do(QsubBatchSettings(), lambda b: b.add_preamble("module load x"),
                      lambda b: b.add_preamble(["a", "b"])).preamble),
     ['module load x', 'a', 'b']),
]


@_params(QSUB)
def test_qsub_batch_settings(bindir, tools, make, expected):
    assert _outcome(bindir, tools, make) == expected


# -- LSF: BsubBatchSettings (walltime and project are the batch script's #BSUB -W / -P) ----

BSUB = [
    ('basic', [],
     lambda: _get(BsubBatchSettings(nodes=2, time="01:00:00", project="P"), "format_batch_args()",
                  "walltime", "project", "smts", "expert_mode"),
     (['-nnodes 2'], '01:00', 'P', 0, False)),
    ('defaults', [],
     lambda: _get(BsubBatchSettings(), "format_batch_args()", "walltime", "project", "smts",
                  "expert_mode", "easy_settings", "batch_args"),
     ([], None, None, 0, False, ['ln_slots', 'ln_mem', 'cn_cu', 'nnodes'], {})),
    ('positional', [],
     lambda: _get(BsubBatchSettings(3, "10:30", "proj", {"q": "batch"}, 2), "format_batch_args()",
                  "walltime", "project"),
     (['-q batch', '-nnodes 3', '-alloc_flags smt2'], '10:30', 'proj')),
    ('smts_constructor', [],
     lambda: BsubBatchSettings(nodes=1, smts=4).format_batch_args(),
     ['-nnodes 1', '-alloc_flags smt4']),
    ('smts_added_to_alloc_flags', [],
     lambda: BsubBatchSettings(nodes=1, smts=4,
                               batch_args={"alloc_flags": "gpumps"}).format_batch_args(),
     ['-alloc_flags "gpumps smt4"', '-nnodes 1']),
    ('smts_added_to_quoted_alloc_flags', [],
     lambda: BsubBatchSettings(smts=2,
                               batch_args={"alloc_flags": '"gpumps nvme"'}).format_batch_args(),
     ['-alloc_flags "gpumps nvme smt2"']),
    ('smt_already_in_alloc_flags', [],
     lambda: BsubBatchSettings(smts=4,
                               batch_args={"alloc_flags": "smt1 gpumps"}).format_batch_args(),
     ['-alloc_flags "smt1 gpumps"']),
    ('smt_alone_in_alloc_flags', [],
     lambda: BsubBatchSettings(smts=4, batch_args={"alloc_flags": "smt2"}).format_batch_args(),
     ['-alloc_flags smt2']),
    ('alloc_flags_none_with_smts', [],
     lambda: BsubBatchSettings(smts=4, batch_args={"alloc_flags": None}).format_batch_args(),
     ['-alloc_flags smt4']),
    ('alloc_flags_several_quoted_without_smts', [],
     lambda: BsubBatchSettings(batch_args={"alloc_flags": "gpumps  nvme"}).format_batch_args(),
     ['-alloc_flags "gpumps nvme"']),
    ('alloc_flags_none_without_smts', [],
     lambda: BsubBatchSettings(batch_args={"alloc_flags": None}).format_batch_args(),
     ['-alloc_flags']),
    ('set_smts', [],
     lambda: _batch(BsubBatchSettings(nodes=2), lambda b: b.set_smts(2)),
     ['-nnodes 2', '-alloc_flags smt2']),
    ('set_smts_zero', [],
     lambda: _batch(BsubBatchSettings(smts=4), lambda b: b.set_smts(0)),
     []),
    ('batch_args_after_format', [],
     lambda: _get(BsubBatchSettings(smts=4, batch_args={"alloc_flags": "gpumps"}),
                  "format_batch_args()", "batch_args", "format_batch_args()"),
     (['-alloc_flags "gpumps smt4"'],
      {'alloc_flags': '"gpumps smt4"'},
      ['-alloc_flags "gpumps smt4"'])),
    ('smts_after_format_ignored', [],
     lambda: (lambda b: (b.format_batch_args(), b.set_smts(2),
                         b.format_batch_args()))(BsubBatchSettings(smts=4)),
     (['-alloc_flags smt4'], None, ['-alloc_flags smt4'])),
    ('expert_mode', [],
     lambda: _get(_do(BsubBatchSettings(nodes=4,
                                        batch_args={"ln_slots": "2", "cn_cu": "maxcus=1",
                                                    "ln_mem": "1", "q": "x"}),
                      lambda b: b.set_expert_mode_req("1*{select[LN]} + {select[CN] span[ptile=4]}",
                                                      12)),
                  "format_batch_args()", "expert_mode", "batch_args"),
     (['-q x', '-csm y', '-R 1*{select[LN]} + {select[CN] span[ptile=4]}', '-n 12'],
      True,
      {'ln_slots': '2',
       'cn_cu': 'maxcus=1',
       'ln_mem': '1',
       'q': 'x',
       'nnodes': '4',
       'csm': 'y',
       'R': '1*{select[LN]} + {select[CN] span[ptile=4]}',
       'n': '12'})),
    ('expert_mode_with_smts', [],
     lambda: _batch(BsubBatchSettings(nodes=2, smts=4),
                    lambda b: b.set_expert_mode_req("rusage[mem=4]", "3")),
     ['-csm y', '-R rusage[mem=4]', '-n 3', '-alloc_flags smt4']),
    ('hostlist_list', [],
     lambda: _batch(BsubBatchSettings(), lambda b: b.set_hostlist(["h1", "h2", "h3"])),
     ['-m "h1 h2 h3"']),
    ('hostlist_str', [],
     lambda: _batch(BsubBatchSettings(), lambda b: b.set_hostlist(" h1 ")),
     ['-m "h1"']),
    ('hostlist_empty', [],
     lambda: _batch(BsubBatchSettings(), lambda b: b.set_hostlist([])),
     ['-m ""']),
    ('tasks', [],
     lambda: _batch(BsubBatchSettings(), lambda b: b.set_tasks("8")),
     ['-n 8']),
    ('queue', [],
     lambda: _batch(BsubBatchSettings(queue="batch"), lambda b: b.set_queue(""),
                    lambda b: b.set_queue("debug")),
     ['-q debug']),
    ('nodes_setter', [],
     lambda: _batch(BsubBatchSettings(), lambda b: b.set_nodes("3"), lambda b: b.set_nodes(0),
                    lambda b: b.set_nodes(None)),
     ['-nnodes 3']),
    ('flags_and_values', [],
     lambda: BsubBatchSettings(nodes=1,
                               batch_args={"x": None, "e": "", "core_isolation": 2, "U": "resv",
                                           "csm": "n"}).format_batch_args(),
     ['-x', '-e', '-core_isolation 2', '-U resv', '-csm n', '-nnodes 1']),
    ('walltime_forms', [],
     lambda: [_do(BsubBatchSettings(), lambda b: b.set_walltime(w)).walltime for w in ("10:00",
                                                                                       "10:00:00",
                                                                                       "1:2:3:4",
                                                                                       "45", "",
                                                                                       None)],
     ['10:00', '10:00', '1:2', '45', '', None]),
    ('walltime_constructor', [],
     lambda: [BsubBatchSettings(time=w).walltime for w in ("02:30:15", "", None)],
     ['02:30', '', None]),
    ('project_and_account', [],
     lambda: [(lambda b: b.project)(b) for b in (BsubBatchSettings(project="P", account="A"),
                                                 BsubBatchSettings(account="A"),
                                                 BsubBatchSettings(project="", account="A"),
                                                 BsubBatchSettings(),
                                                 _do(BsubBatchSettings(project="P"),
                                                     lambda b: b.set_account("B")),
                                                 _do(BsubBatchSettings(project="P"),
                                                     lambda b: b.set_project(""),
                                                     lambda b: b.set_account(None)))],
     ['P', 'A', 'A', None, 'B', 'P']),
    ('account_not_a_batch_arg', [],
     lambda: BsubBatchSettings(project="P", account="A", nodes=1).batch_args,
     {'nnodes': '1'}),
    ('err_walltime_int', [],
     lambda: BsubBatchSettings(time=30),
     (AttributeError, "'int' object has no attribute 'split'")),
    ('err_nodes_bad', [],
     lambda: BsubBatchSettings(nodes="two"),
     (ValueError, "invalid literal for int() with base 10: 'two'")),
    ('err_tasks_bad', [],
     lambda: _do(BsubBatchSettings(), lambda b: b.set_tasks("x")),
     (ValueError, "invalid literal for int() with base 10: 'x'")),
    ('err_hostlist_int', [],
     lambda: _do(BsubBatchSettings(), lambda b: b.set_hostlist(1)),
     (TypeError, 'host_list argument must be a list of strings')),
    ('err_hostlist_mixed', [],
     lambda: _do(BsubBatchSettings(), lambda b: b.set_hostlist(["a", None])),
     (TypeError, 'host_list argument must be list of strings')),
    ('err_alloc_flags_int_with_smts', [],
     lambda: BsubBatchSettings(smts=4, batch_args={"alloc_flags": 5}).format_batch_args(),
     (AttributeError, "'int' object has no attribute 'strip'")),
    ('str', [],
     lambda: str(BsubBatchSettings(nodes=2, time="1:00", project="p", smts=2)),
     'Batch Command: bsub\nBatch arguments:\n\tnnodes = 2'),
    ('batch_cmd', ['bsub'],
     lambda: BsubBatchSettings().batch_cmd,
     '<bin>/bsub'),
]


@_params(BSUB)
def test_bsub_batch_settings(bindir, tools, make, expected):
    assert _outcome(bindir, tools, make) == expected


# -- Grid Engine: SgeQsubBatchSettings -----------------------------------------------------

SGE = [
    ('defaults', [],
     lambda: _get(SgeQsubBatchSettings(), "format_batch_args()", "resources", "batch_args",
                  "shebang", "batch_cmd"),
     ([], {}, {}, '#!/bin/bash -l', 'qsub')),
    ('constructor', [],
     lambda: SgeQsubBatchSettings(time="01:00:00", ncpus=4, pe_type="mpi",
                                  account="acct").format_batch_args(),
     ['-pe mpi 4', '-l h_rt=01:00:00', '-A acct']),
    ('positional', [],
     lambda: _get(SgeQsubBatchSettings("00:10:00", 2, "smp", "A", "#!/bin/sh", {"h_vmem": "2G"},
                                       {"j": "y"}),
                  "format_batch_args()", "shebang"),
     (['-pe smp 2', '-l h_vmem=2G', '-l h_rt=00:10:00', '-j y', '-A A'], '#!/bin/sh')),
    ('resources_order', [],
     lambda: SgeQsubBatchSettings(time="1:00:00",
                                  resources={"h_vmem": "4G", "ncpus": 8,
                                             "pe_type": "mpi"}).format_batch_args(),
     ['-pe mpi 8', '-l h_vmem=4G', '-l h_rt=1:00:00']),
    ('every_setter', [],
     lambda: _batch(SgeQsubBatchSettings(), lambda b: b.set_ncpus("6"),
                    lambda b: b.set_pe_type("orte"), lambda b: b.set_pe_type(""),
                    lambda b: b.set_ngpus(2), lambda b: b.set_hyperthreading(),
                    lambda b: b.set_memory_per_pe("2G"), lambda b: b.set_threads_per_pe(4),
                    lambda b: b.set_walltime("00:20:00"), lambda b: b.set_walltime(""),
                    lambda b: b.set_account("a1"), lambda b: b.set_account(""),
                    lambda b: b.set_project("p1"), lambda b: b.set_project(None),
                    lambda b: b.set_resource("arch", "x86")),
     ['-pe orte 6',
      '-l gpu=2',
      '-l threads=1',
      '-l mem=2G',
      '-l h_rt=00:20:00',
      '-l arch=x86',
      '-v OMP_NUM_THREADS=4',
      '-A a1',
      '-P p1']),
    ('hyperthreading_off', [],
     lambda: _batch(SgeQsubBatchSettings(), lambda b: b.set_hyperthreading(False)),
     ['-l threads=0']),
    ('context_variables', [],
     lambda: _batch(SgeQsubBatchSettings(ncpus=2, pe_type="mpi"),
                    lambda b: b.update_context_variables("ac", "A", 1),
                    lambda b: b.update_context_variables("sc", "B", "x"),
                    lambda b: b.update_context_variables("dc", "C"),
                    lambda b: b.update_context_variables("ac", "D"),
                    lambda b: b.set_resource("h_rt", 60), lambda b: b.set_threads_per_pe(2)),
     ['-pe mpi 2', '-ac A=1', '-sc B=x', '-dc C', '-ac D', '-l h_rt=60', '-v OMP_NUM_THREADS=2']),
    ('nodes_ignored', [],
     lambda: _get(SgeQsubBatchSettings(nodes=5, time="1:00:00"), "format_batch_args()", "resources"),
     (['-l h_rt=1:00:00'], {'h_rt': '1:00:00'})),
    ('set_nodes_zero', [],
     lambda: _batch(SgeQsubBatchSettings(), lambda b: b.set_nodes(0), lambda b: b.set_nodes(None)),
     []),
    ('queue_empty_accepted', [],
     lambda: SgeQsubBatchSettings(queue="").format_batch_args(),
     []),
    ('batch_args', [],
     lambda: SgeQsubBatchSettings(batch_args={"j": "y", "cwd": 1, "q": "all.q"}).format_batch_args(),
     ['-j y', '-cwd 1', '-q all.q']),
    ('err_batch_arg_without_value', [],
     lambda: SgeQsubBatchSettings(batch_args={"V": None}).format_batch_args(),
     (ValueError, 'SGE options without values are not allowed')),
    ('err_ncpus_without_pe', [],
     lambda: SgeQsubBatchSettings(ncpus=4).format_batch_args(),
     (SSConfigError, 'ncpus=4 and pe_type=None must both be set. Call set_ncpus and/or set_pe_type.')),
    ('err_pe_without_ncpus', [],
     lambda: SgeQsubBatchSettings(pe_type="mpi").format_batch_args(),
     (SSConfigError, "ncpus=None and pe_type='mpi' must both be set. Call set_ncpus and/or set_pe_type.")),
    ('err_set_nodes', [],
     lambda: _do(SgeQsubBatchSettings(), lambda b: b.set_nodes(2)),
     (LauncherUnsupportedFeature, 'SGE does not support setting the number of nodes')),
    ('err_queue', [],
     lambda: SgeQsubBatchSettings(queue="all.q"),
     (LauncherUnsupportedFeature, 'SGE does not support specifying queues')),
    ('err_set_queue_empty', [],
     lambda: _do(SgeQsubBatchSettings(), lambda b: b.set_queue("")),
     (LauncherUnsupportedFeature, 'SGE does not support specifying queues')),
    ('err_hostlist', [],
     lambda: _do(SgeQsubBatchSettings(), lambda b: b.set_hostlist(["a"])),
     (LauncherUnsupportedFeature, 'SGE does not support requesting specific hosts in batch jobs')),
    ('err_context_action', [],
     lambda: _do(SgeQsubBatchSettings(), lambda b: b.update_context_variables("xc", "A")),
     (ValueError, 'The action argument must be ac, sc, or dc')),
    ('err_context_dc_value', [],
     lambda: _do(SgeQsubBatchSettings(), lambda b: b.update_context_variables("dc", "A", 1)),
     (SSConfigError, "When using the 'dc' action, value should not be set")),
    ('err_ncpus_bad', [],
     lambda: SgeQsubBatchSettings(ncpus="four"),
     (ValueError, "invalid literal for int() with base 10: 'four'")),
    ('err_resource_value', [],
     lambda: SgeQsubBatchSettings(resources={"mem": 2.0}),
     (TypeError, "The value associated with key='mem' is <class 'float'>. Only int and str are allowed.")),
    ('err_resource_key', [],
     lambda: _do(SgeQsubBatchSettings(), lambda b: b.set_resource(3, "x")),
     (TypeError, "The type of key=3 is <class 'int'>. Only int and str are allowed.")),
]


@_params(SGE)
def test_sge_batch_settings(bindir, tools, make, expected):
    assert _outcome(bindir, tools, make) == expected


# -- ALPS: AprunSettings -------------------------------------------------------------------

APRUN = [
    ('defaults', [],
     lambda: _get(AprunSettings(ECHO, ["hi"]), "run_command", "mpmd", "reserved_run_args",
                  "format_run_args()", "format_env_vars()"),
     ('aprun', [], [], [], [])),
    ('run_command_on_path', ['aprun'],
     lambda: AprunSettings(ECHO).run_command,
     '<bin>/aprun'),
    ('cpus_per_task', [],
     lambda: _args(AprunSettings(ECHO), lambda s: s.set_cpus_per_task("4")),
     ['--cpus-per-pe=4']),
    ('tasks', [],
     lambda: _args(AprunSettings(ECHO), lambda s: s.set_tasks(8)),
     ['--pes=8']),
    ('tasks_per_node', [],
     lambda: _args(AprunSettings(ECHO), lambda s: s.set_tasks_per_node(2)),
     ['--pes-per-node=2']),
    ('hostlist_list', [],
     lambda: _args(AprunSettings(ECHO), lambda s: s.set_hostlist(["nid1", "nid2"])),
     ['--node-list=nid1,nid2']),
    ('hostlist_str', [],
     lambda: _args(AprunSettings(ECHO), lambda s: s.set_hostlist(" nid1 ")),
     ['--node-list=nid1']),
    ('hostlist_empty', [],
     lambda: _args(AprunSettings(ECHO), lambda s: s.set_hostlist([])),
     ['--node-list']),
    ('hostlist_from_file', [],
     lambda: _args(AprunSettings(ECHO), lambda s: s.set_hostlist_from_file("/tmp/nodes")),
     ['--node-list-file=/tmp/nodes']),
    ('excluded_hosts', [],
     lambda: _args(AprunSettings(ECHO), lambda s: s.set_excluded_hosts(["nid3", "nid4"]),
                   lambda s: s.set_excluded_hosts("nid5")),
     ['--exclude-node-list=nid5']),
    ('cpu_bindings_int', [],
     lambda: _args(AprunSettings(ECHO), lambda s: s.set_cpu_bindings(3)),
     ['--cpu-binding=3']),
    ('cpu_bindings_list', [],
     lambda: _args(AprunSettings(ECHO), lambda s: s.set_cpu_bindings([0, "2", 4.0])),
     ['--cpu-binding=0,2,4']),
    ('memory_per_node', [],
     lambda: _args(AprunSettings(ECHO), lambda s: s.set_memory_per_node("512")),
     ['--memory-per-pe=512']),
    ('verbose', [],
     lambda: _args(AprunSettings(ECHO), lambda s: s.set_verbose_launch(True)),
     ['--debug=7']),
    ('verbose_off', [],
     lambda: _args(AprunSettings(ECHO), lambda s: s.set_verbose_launch(True),
                   lambda s: s.set_verbose_launch(False), lambda s: s.set_verbose_launch(False)),
     []),
    ('quiet', [],
     lambda: _args(AprunSettings(ECHO), lambda s: s.set_quiet_launch(True)),
     ['--quiet']),
    ('quiet_off', [],
     lambda: _args(AprunSettings(ECHO), lambda s: s.set_quiet_launch(True),
                   lambda s: s.set_quiet_launch(False)),
     []),
    ('walltime', [],
     lambda: _args(AprunSettings(ECHO), lambda s: s.set_walltime(300)),
     ['--cpu-time-limit=300']),
    ('time', [],
     lambda: _args(AprunSettings(ECHO), lambda s: s.set_time(1, 2, 3)),
     ['--cpu-time-limit=3723']),
    ('combination_in_order', [],
     lambda: _args(AprunSettings(ECHO, run_args={"N": 2, "cc": "depth", "j": None, "d": 0}),
                   lambda s: s.set_tasks(4), lambda s: s.set_tasks_per_node(2),
                   lambda s: s.set_cpus_per_task(2), lambda s: s.set_tasks(16)),
     ['-N', '2', '--cc=depth', '-j', '-d', '--pes=16', '--pes-per-node=2', '--cpus-per-pe=2']),
    ('wdir_never_passed', [],
     lambda: _args(AprunSettings(ECHO, run_args={"wdir": "/x", "n": 1}),
                   lambda s: s.set("wdir", "/y")),
     ['-n', '1']),
    ('wdir_settable', [],
     lambda: _do(AprunSettings(ECHO), lambda s: s.set("wdir", "/y"),
                 lambda s: s.set("--cc", "none")).run_args,
     {'wdir': '/y', 'cc': 'none'}),
    ('stored_values', [],
     lambda: _do(AprunSettings(ECHO), lambda s: s.set_tasks("3"), lambda s: s.set_walltime(60),
                 lambda s: s.set_verbose_launch(1)).run_args,
     {'pes': 3, 'cpu-time-limit': '60', 'debug': 7}),
    ('env_vars', [],
     lambda: AprunSettings(ECHO,
                           env_vars={"A": "1", "B": None, "C": "", "D": 4,
                                     "E": "x,y"}).format_env_vars(),
     ['-e', 'A=1', '-e', 'B=None', '-e', 'C=', '-e', 'D=4', '-e', 'E=x,y']),
    ('update_env', [],
     lambda: _do(AprunSettings(ECHO), lambda s: s.update_env({"X": 1, "Y": True})).format_env_vars(),
     ['-e', 'X=1', '-e', 'Y=True']),
    ('mpmd', [],
     lambda: (lambda s: (len(s.mpmd), s.mpmd[0].exe_args))(_do(AprunSettings(ECHO),
                                                               lambda s: s.make_mpmd(AprunSettings(ECHO,
                                                                                                   ["b"])))),
     (1, ['b'])),
    ('err_mpmd_colocated', [],
     lambda: _do(AprunSettings(ECHO), lambda s: setattr(s, "colocated_db_settings", {"port": 1}),
                 lambda s: s.make_mpmd(AprunSettings(ECHO))),
     (SSUnsupportedError, 'Colocated models cannot be run as a mpmd workload')),
    ('err_mpmd_container', [],
     lambda: _do(AprunSettings(ECHO, container=object()),
                 lambda s: s.make_mpmd(AprunSettings(ECHO))),
     (SSUnsupportedError, 'Containerized MPMD workloads are not yet supported.')),
    ('err_tasks_bad', [],
     lambda: _do(AprunSettings(ECHO), lambda s: s.set_tasks("x")),
     (ValueError, "invalid literal for int() with base 10: 'x'")),
    ('err_hostlist_int', [],
     lambda: _do(AprunSettings(ECHO), lambda s: s.set_hostlist(1)),
     (TypeError, 'host_list argument must be a list of strings')),
    ('err_hostlist_mixed', [],
     lambda: _do(AprunSettings(ECHO), lambda s: s.set_hostlist(["a", 1])),
     (TypeError, 'host_list argument must be list of strings')),
    ('err_excluded_mixed', [],
     lambda: _do(AprunSettings(ECHO), lambda s: s.set_excluded_hosts(["a", 1])),
     (TypeError, 'host_list argument must be list of strings')),
    ('err_excluded_tuple', [],
     lambda: _do(AprunSettings(ECHO), lambda s: s.set_excluded_hosts(("a",))),
     (TypeError, 'host_list argument must be a list of strings')),
    ('err_cpu_bindings', [],
     lambda: _do(AprunSettings(ECHO), lambda s: s.set_cpu_bindings(["x"])),
     (ValueError, "invalid literal for int() with base 10: 'x'")),
    ('err_run_command_keyword', [],
     lambda: AprunSettings(ECHO, run_command="srun"),
     (TypeError, "smartsim.settings.base.RunSettings.__init__() got multiple values for keyword argument 'run_command'")),
    ('str', [],
     lambda: str(_do(AprunSettings(ECHO, ["hi"]), lambda s: s.set_tasks(2))),
     ('Executable: <echo>\n'
      'Executable Arguments: hi\n'
      'Run Command: aprun\n'
      'Run Arguments:\n'
      '\tpes = 2')),
]


@_params(APRUN)
def test_aprun_settings(bindir, tools, make, expected):
    assert _outcome(bindir, tools, make) == expected


# -- LSF: JsrunSettings (MPMD through an explicit resource file) ---------------------------

JSRUN = [
    ('defaults', [],
     lambda: _get(JsrunSettings(ECHO, ["hi"]), "run_command", "erf_sets", "mpmd_preamble_lines",
                  "mpmd", "individual_suffix", "reserved_run_args", "format_run_args()"),
     ('jsrun', {'host': '*', 'cpu': '*', 'ranks': '1'}, [], [], '', ['chdir', 'h'], [])),
    ('run_command_on_path', ['jsrun'],
     lambda: JsrunSettings(ECHO).run_command,
     '<bin>/jsrun'),
    ('num_rs', [],
     lambda: _args(JsrunSettings(ECHO), lambda s: s.set_num_rs("4")),
     ['--nrs=4']),
    ('num_rs_int', [],
     lambda: _args(JsrunSettings(ECHO), lambda s: s.set_num_rs(4.0)),
     ['--nrs=4']),
    ('num_rs_keyword', [],
     lambda: _args(JsrunSettings(ECHO), lambda s: s.set_num_rs("ALL_HOSTS")),
     ['--nrs=ALL_HOSTS']),
    ('cpus_per_rs', [],
     lambda: _args(JsrunSettings(ECHO), lambda s: s.set_cpus_per_rs(7)),
     ['--cpu_per_rs=7']),
    ('cpus_per_rs_keyword', [],
     lambda: _args(JsrunSettings(ECHO), lambda s: s.set_cpus_per_rs("ALL_CPUS")),
     ['--cpu_per_rs=ALL_CPUS']),
    ('gpus_per_rs', [],
     lambda: _args(JsrunSettings(ECHO), lambda s: s.set_gpus_per_rs(6),
                   lambda s: s.set_gpus_per_rs("ALL_GPUS")),
     ['--gpu_per_rs=ALL_GPUS']),
    ('rs_per_host', [],
     lambda: _args(JsrunSettings(ECHO), lambda s: s.set_rs_per_host("2")),
     ['--rs_per_host=2']),
    ('tasks', [],
     lambda: _args(JsrunSettings(ECHO), lambda s: s.set_tasks(12)),
     ['--np=12']),
    ('tasks_per_rs', [],
     lambda: _args(JsrunSettings(ECHO), lambda s: s.set_tasks_per_rs(3)),
     ['--tasks_per_rs=3']),
    ('tasks_per_node_is_tasks_per_rs', [],
     lambda: _args(JsrunSettings(ECHO), lambda s: s.set_tasks_per_node("5")),
     ['--tasks_per_rs=5']),
    ('cpus_per_task_is_cpus_per_rs', [],
     lambda: _args(JsrunSettings(ECHO), lambda s: s.set_cpus_per_task(4)),
     ['--cpu_per_rs=4']),
    ('memory_per_rs', [],
     lambda: _args(JsrunSettings(ECHO), lambda s: s.set_memory_per_rs(1024)),
     ['--memory_per_rs=1024']),
    ('memory_per_node_is_memory_per_rs', [],
     lambda: _args(JsrunSettings(ECHO), lambda s: s.set_memory_per_node("2048")),
     ['--memory_per_rs=2048']),
    ('binding', [],
     lambda: _args(JsrunSettings(ECHO), lambda s: s.set_binding("packed:21")),
     ['--bind=packed:21']),
    ('individual_output', [],
     lambda: _get(_do(JsrunSettings(ECHO), lambda s: s.set_individual_output("_%t")),
                  "format_run_args()", "individual_suffix"),
     (['--stdio_mode=individual'], '_%t')),
    ('individual_output_no_suffix', [],
     lambda: _get(_do(JsrunSettings(ECHO), lambda s: s.set_individual_output(),
                      lambda s: s.set_individual_output("")),
                  "format_run_args()", "individual_suffix"),
     (['--stdio_mode=individual'], '')),
    ('combination_in_order', [],
     lambda: _args(JsrunSettings(ECHO,
                                 run_args={"smpiargs": "-gpu", "E": None,
                                           "latency_priority": "gpu-cpu"}),
                   lambda s: s.set_num_rs(2), lambda s: s.set_cpus_per_rs(4),
                   lambda s: s.set_gpus_per_rs(1), lambda s: s.set_rs_per_host(1),
                   lambda s: s.set_tasks_per_rs(2), lambda s: s.set_tasks(4),
                   lambda s: s.set_binding("rs"), lambda s: s.set_memory_per_rs(100)),
     ['--smpiargs=-gpu',
      '-E',
      '--latency_priority=gpu-cpu',
      '--nrs=2',
      '--cpu_per_rs=4',
      '--gpu_per_rs=1',
      '--rs_per_host=1',
      '--tasks_per_rs=2',
      '--np=4',
      '--bind=rs',
      '--memory_per_rs=100']),
    ('launcher_args_never_passed', [],
     lambda: JsrunSettings(ECHO,
                           run_args={"chdir": "/x", "h": "/y", "stdio_stdout": "o", "o": "o",
                                     "stdio_stderr": "e", "k": "e", "n": 2,
                                     "stdio_mode": "collected"}).format_run_args(),
     ['-n', '2', '--stdio_mode=collected']),
    ('reserved_ignored_by_set', [],
     lambda: _do(JsrunSettings(ECHO), lambda s: s.set("chdir", "/x"), lambda s: s.set("-h", "/y"),
                 lambda s: s.set("--smpiargs", "off")).run_args,
     {'smpiargs': 'off'}),
    ('mpmd_drops_erf_args', [],
     lambda: _args(JsrunSettings(ECHO,
                                 run_args={"tasks_per_rs": 1, "a": 1, "np": 2, "p": 2,
                                           "cpu_per_rs": 1, "c": 1, "gpu_per_rs": 1, "g": 1,
                                           "latency_priority": "x", "l": "x", "memory_per_rs": 1,
                                           "m": 1, "nrs": 1, "n": 1, "rs_per_host": 1, "r": 1,
                                           "rs_per_socket": 1, "K": 1, "appfile": "f", "f": "f",
                                           "allocate_only": None, "A": 1, "launch_node_task": "x",
                                           "H": "x", "use_reservation": "x", "J": "x",
                                           "use_resources": None, "bind": "x", "b": "x",
                                           "launch_distribution": "x", "d": "x", "smpiargs": "-gpu",
                                           "stdio_mode": "individual", "X": 1, "chdir": "/x"}),
                   lambda s: s.make_mpmd(JsrunSettings(ECHO, ["b"]))),
     ['--smpiargs=-gpu', '--stdio_mode=individual', '-X', '1']),
    ('erf_input_drops_erf_args', [],
     lambda: JsrunSettings(ECHO,
                           run_args={"erf_input": "f.erf", "np": 4, "bind": "rs",
                                     "smpiargs": "-gpu"}).format_run_args(),
     ['--erf_input=f.erf', '--smpiargs=-gpu']),
    ('without_mpmd_erf_args_kept', [],
     lambda: JsrunSettings(ECHO,
                           run_args={"np": 4, "bind": "rs", "a": 2,
                                     "d": "packed"}).format_run_args(),
     ['--np=4', '--bind=rs', '-a', '2', '-d', 'packed']),
    ('mpmd_state', [],
     lambda: (lambda s: (len(s.mpmd), s.mpmd[0].exe_args, s.mpmd_preamble_lines,
                         s.erf_sets))(_do(JsrunSettings(ECHO),
                                          lambda s: s.make_mpmd(JsrunSettings(ECHO, ["b"])),
                                          lambda s: s.set_mpmd_preamble(["overlapping-rs : allow",
                                                                         "launch_distribution : cyclic"]),
                                          lambda s: s.set_erf_sets({"host": "1",
                                                                    "cpu": "{0:21}, {21:21}",
                                                                    "gpu": "*", "rank": "0, 1"}))),
     (1,
      ['b'],
      ['overlapping-rs : allow', 'launch_distribution : cyclic'],
      {'host': '1', 'cpu': '{0:21}, {21:21}', 'gpu': '*', 'rank': '0, 1'})),
    ('erf_sets_copied', [],
     lambda: (lambda sets: (lambda s: (s.erf_sets, sets.update({"host": "2"}),
                                       s.erf_sets)[::2])(_do(JsrunSettings(ECHO),
                                                             lambda s: s.set_erf_sets(sets))))({"host": "1"}),
     ({'host': '1'}, {'host': '1'})),
    ('env_vars', [],
     lambda: JsrunSettings(ECHO,
                           env_vars={"A": "1", "B": None, "C": "", "D": 0,
                                     "E": "x,y"}).format_env_vars(),
     ['-E', 'A=1', '-E', 'B', '-E', 'C', '-E', 'D', '-E', 'E=x,y']),
    ('str_without_mpmd', [],
     lambda: str(_do(JsrunSettings(ECHO, ["hi"]), lambda s: s.set_tasks(2))),
     'Executable: <echo>\nExecutable Arguments: hi\nRun Command: jsrun\nRun Arguments:\n\tnp = 2'),
    ('str_with_mpmd', [],
     lambda: str(_do(JsrunSettings(ECHO, ["hi"]), lambda s: s.make_mpmd(JsrunSettings(ECHO)),
                     lambda s: s.set_erf_sets({"rank_count": "3", "host": "1", "cpu": "{0:4}"}))),
     ('Executable: <echo>\n'
      'Executable Arguments: hi\n'
      'Run Command: jsrun\n'
      "ERF settings: {'cpu': '{0:4}', 'host': '1', 'rank_count': '3'}")),
    ('err_mpmd_colocated', [],
     lambda: _do(JsrunSettings(ECHO), lambda s: setattr(s, "colocated_db_settings", {"db_cpus": 1}),
                 lambda s: s.make_mpmd(JsrunSettings(ECHO))),
     (SSUnsupportedError, 'Colocated models cannot be run as a mpmd workload')),
    ('colocated_cpus_per_rs', [],
     lambda: _args(JsrunSettings(ECHO),
                   lambda s: setattr(s, "colocated_db_settings", {"db_cpus": 2}),
                   lambda s: s.set_cpus_per_rs(4)),
     ['--cpu_per_rs=4']),
    ('err_colocated_cpus_per_rs_too_few', [],
     lambda: _do(JsrunSettings(ECHO), lambda s: setattr(s, "colocated_db_settings", {"db_cpus": 4}),
                 lambda s: s.set_cpus_per_rs(2)),
     (ValueError, 'Cannot set cpus_per_rs (2) to less than db_cpus (4)')),
    ('err_colocated_without_db_cpus', [],
     lambda: _do(JsrunSettings(ECHO), lambda s: setattr(s, "colocated_db_settings", {"port": 1}),
                 lambda s: s.set_cpus_per_rs(2)),
     (ValueError, 'db_cpus must be configured on colocated_db_settings')),
    ('err_tasks_bad', [],
     lambda: _do(JsrunSettings(ECHO), lambda s: s.set_tasks("x")),
     (ValueError, "invalid literal for int() with base 10: 'x'")),
    ('err_rs_per_host_keyword', [],
     lambda: _do(JsrunSettings(ECHO), lambda s: s.set_rs_per_host("ALL")),
     (ValueError, "invalid literal for int() with base 10: 'ALL'")),
    ('err_run_command_keyword_ignored', [],
     lambda: JsrunSettings(ECHO, run_command="srun").run_command,
     'jsrun'),
    ('prep_colocated_unset', [],
     lambda: _do(JsrunSettings(ECHO), lambda s: s._prep_colocated_db(2)).run_args,
     {'cpu_per_rs': 2, 'rs_per_host': 1}),
    ('prep_colocated_raise_low_values', [],
     lambda: _do(JsrunSettings(ECHO,
                               run_args={"cpu_per_rs": 1, "c": "3", "rs_per_host": 2, "r": "1"}),
                 lambda s: s._prep_colocated_db(4)).run_args,
     {'cpu_per_rs': 4, 'c': 4, 'rs_per_host': '1', 'r': '1'}),
    ('prep_colocated_enough', [],
     lambda: _do(JsrunSettings(ECHO, run_args={"c": 8, "r": 1}),
                 lambda s: s._prep_colocated_db(4)).run_args,
     {'c': 8, 'r': 1}),
]


@_params(JSRUN)
def test_jsrun_settings(bindir, tools, make, expected):
    assert _outcome(bindir, tools, make) == expected


# -- PALS: PalsMpiexecSettings -------------------------------------------------------------

PALS = [
    ('defaults', ['mpiexec'],
     lambda: _get(PalsMpiexecSettings(ECHO, ["hi"]), "run_command", "mpmd", "affinity_script",
                  "reserved_run_args", "format_run_args()", "format_env_vars()"),
     ('<bin>/mpiexec', [], [], ['wd', 'wdir'], [], [])),
    ('tasks', ['mpiexec'],
     lambda: _args(PalsMpiexecSettings(ECHO), lambda s: s.set_tasks("4")),
     ['--np', '4']),
    ('tasks_per_node', ['mpiexec'],
     lambda: _args(PalsMpiexecSettings(ECHO), lambda s: s.set_tasks_per_node(2)),
     ['--ppn', '2']),
    ('cpu_binding_type', ['mpiexec'],
     lambda: _args(PalsMpiexecSettings(ECHO), lambda s: s.set_cpu_binding_type("core")),
     ['--cpu-bind', 'core']),
    ('hostlist', ['mpiexec'],
     lambda: _args(PalsMpiexecSettings(ECHO), lambda s: s.set_hostlist(["x1", "x2"])),
     ['--hosts', 'x1,x2']),
    ('hostlist_str', ['mpiexec'],
     lambda: _args(PalsMpiexecSettings(ECHO), lambda s: s.set_hostlist("x1 ")),
     ['--hosts', 'x1']),
    ('hostlist_from_file', ['mpiexec'],
     lambda: _args(PalsMpiexecSettings(ECHO), lambda s: s.set_hostlist_from_file("/h")),
     ['--hostfile', '/h']),
    ('broadcast', ['mpiexec'],
     lambda: _args(PalsMpiexecSettings(ECHO), lambda s: s.set_broadcast()),
     ['--transfer']),
    ('verbose', ['mpiexec'],
     lambda: _args(PalsMpiexecSettings(ECHO), lambda s: s.set_verbose_launch(True)),
     ['--verbose']),
    ('ignored_setters', ['mpiexec'],
     lambda: _args(PalsMpiexecSettings(ECHO), lambda s: s.set_task_map("core"),
                   lambda s: s.set_cpus_per_task(2), lambda s: s.set_quiet_launch(True),
                   lambda s: s.set_walltime("10")),
     []),
    ('affinity_script', ['mpiexec'],
     lambda: _args(PalsMpiexecSettings(ECHO, run_args={"depth": 4}),
                   lambda s: s.set_gpu_affinity_script("/a.sh", 1, "x"), lambda s: s.set_tasks(8)),
     ['--depth', '4', '--np', '8', '/a.sh', '1', 'x']),
    ('affinity_script_twice', ['mpiexec'],
     lambda: _args(PalsMpiexecSettings(ECHO), lambda s: s.set_gpu_affinity_script("/a.sh"),
                   lambda s: s.set_gpu_affinity_script("/b.sh", 2)),
     ['/a.sh', '/b.sh', '2']),
    ('combination_in_order', ['mpiexec'],
     lambda: _args(PalsMpiexecSettings(ECHO,
                                       run_args={"depth": 8, "label": None, "wdir": "/x",
                                                 "wd": "/y", "x": 0}),
                   lambda s: s.set_tasks(16), lambda s: s.set_tasks_per_node(4),
                   lambda s: s.set_cpu_binding_type("depth"), lambda s: s.set_hostlist("h1")),
     ['--depth',
      '8',
      '--label',
      '--x',
      '--np',
      '16',
      '--ppn',
      '4',
      '--cpu-bind',
      'depth',
      '--hosts',
      'h1']),
    ('env_vars', ['mpiexec'],
     lambda: PalsMpiexecSettings(ECHO,
                                 env_vars={"A": "1", "B": None, "C": "", "D": 3,
                                           "E": None}).format_env_vars(),
     ['--env', 'A=1', '--env', 'D=3', '--envlist', 'B,C,E']),
    ('env_vars_only_exported', ['mpiexec'],
     lambda: PalsMpiexecSettings(ECHO, env_vars={"B": None}).format_env_vars(),
     ['--envlist', 'B']),
    ('mpmd', ['mpiexec'],
     lambda: (lambda s: len(s.mpmd))(_do(PalsMpiexecSettings(ECHO),
                                         lambda s: s.make_mpmd(PalsMpiexecSettings(ECHO)))),
     1),
    ('err_missing_mpiexec', [],
     lambda: PalsMpiexecSettings(ECHO),
     (LauncherError, 'Cannot find mpiexec. Try passing the full path via run_command.')),
    ('missing_mpiexec_allowed', [],
     lambda: _get(_do(PalsMpiexecSettings(ECHO, fail_if_missing_exec=False),
                      lambda s: s.set_tasks(2)),
                  "run_command", "format_run_args()"),
     ('mpiexec', ['--np', '2'])),
    ('no_slurm_wrapper_check', ['mpiexec-slurm'],
     lambda: type(PalsMpiexecSettings(ECHO)).__name__,
     'PalsMpiexecSettings'),
    ('err_hostlist_mixed', ['mpiexec'],
     lambda: _do(PalsMpiexecSettings(ECHO), lambda s: s.set_hostlist(["a", 1])),
     (TypeError, 'host_list argument must be list of strings')),
    ('err_hostlist_int', ['mpiexec'],
     lambda: _do(PalsMpiexecSettings(ECHO), lambda s: s.set_hostlist(3)),
     (TypeError, 'host_list argument must be a list of strings')),
    ('err_tasks_bad', ['mpiexec'],
     lambda: _do(PalsMpiexecSettings(ECHO), lambda s: s.set_tasks("x")),
     (ValueError, "invalid literal for int() with base 10: 'x'")),
]


@_params(PALS)
def test_pals_mpiexec_settings(bindir, tools, make, expected):
    assert _outcome(bindir, tools, make) == expected


# -- MPI family: MpirunSettings, MpiexecSettings, OrterunSettings --------------------------

MPI = [
    ('mpirun_every_setter', ['mpirun'],
     lambda: _args(MpirunSettings(ECHO, run_args={"oversubscribe": None, "x": 0}),
                   lambda s: s.set_tasks(4), lambda s: s.set_tasks_per_node("2"),
                   lambda s: s.set_task_map("ppr:1:node"), lambda s: s.set_cpus_per_task(3),
                   lambda s: s.set_cpu_binding_type("core"), lambda s: s.set_hostlist(["a", "b"]),
                   lambda s: s.set_hostlist_from_file("/hf"), lambda s: s.set_verbose_launch(True),
                   lambda s: s.set_quiet_launch(True), lambda s: s.set_broadcast(),
                   lambda s: s.set_walltime(60)),
     ['--oversubscribe',
      '--x',
      '--n',
      '4',
      '--npernode',
      '2',
      '--map-by',
      'ppr:1:node',
      '--cpus-per-proc',
      '3',
      '--bind-to',
      'core',
      '--host',
      'a,b',
      '--hostfile',
      '/hf',
      '--verbose',
      '--quiet',
      '--preload-binary',
      '--timeout',
      '60']),
    ('mpirun_toggles_off', ['mpirun'],
     lambda: _args(MpirunSettings(ECHO), lambda s: s.set_verbose_launch(True),
                   lambda s: s.set_quiet_launch(True), lambda s: s.set_verbose_launch(False),
                   lambda s: s.set_quiet_launch(False), lambda s: s.set_quiet_launch(False)),
     []),
    ('mpirun_time', ['mpirun'],
     lambda: _args(MpirunSettings(ECHO), lambda s: s.set_time(0, 1, 30)),
     ['--timeout', '90']),
    ('mpirun_hostlist_str', ['mpirun'],
     lambda: _args(MpirunSettings(ECHO), lambda s: s.set_hostlist(" h1 ")),
     ['--host', 'h1']),
    ('mpirun_wd_never_passed', ['mpirun'],
     lambda: _args(MpirunSettings(ECHO, run_args={"wd": "/a", "wdir": "/b", "np": 2}),
                   lambda s: s.set("wdir", "/c"), lambda s: s.set("--bind-to", "none")),
     ['--np', '2', '--bind-to', 'none']),
    ('mpirun_env', ['mpirun'],
     lambda: MpirunSettings(ECHO, env_vars={"A": "1", "B": None, "C": "", "D": 2}).format_env_vars(),
     ['-x', 'A=1', '-x', 'B', '-x', 'C', '-x', 'D=2']),
    ('mpirun_defaults', ['mpirun'],
     lambda: _get(MpirunSettings(ECHO), "run_command", "mpmd", "affinity_script",
                  "reserved_run_args"),
     ('<bin>/mpirun', [], [], ['wd', 'wdir'])),
    ('mpiexec_defaults', ['mpiexec'],
     lambda: (lambda s: (s.run_command,
                         _args(s, lambda s: s.set_tasks(2), lambda s: s.set_tasks_per_node(1)),
                         s.format_env_vars()))(MpiexecSettings(ECHO, env_vars={"A": "b"})),
     ('<bin>/mpiexec', ['--n', '2', '--npernode', '1'], ['-x', 'A=b'])),
    ('orterun_defaults', ['orterun'],
     lambda: (lambda s: (s.run_command, _args(s, lambda s: s.set_tasks(2))))(OrterunSettings(ECHO)),
     ('<bin>/orterun', ['--n', '2'])),
    ('mpmd', ['mpirun'],
     lambda: (lambda s: (len(s.mpmd), s.mpmd[0].exe_args))(_do(MpirunSettings(ECHO),
                                                               lambda s: s.make_mpmd(MpirunSettings(ECHO,
                                                                                                    ["b"])))),
     (1, ['b'])),
    ('mpmd_container_accepted', ['mpirun'],
     lambda: len(_do(MpirunSettings(ECHO, container=object()),
                     lambda s: s.make_mpmd(MpirunSettings(ECHO))).mpmd),
     1),
    ('err_mpmd_colocated', ['mpirun'],
     lambda: _do(MpirunSettings(ECHO), lambda s: setattr(s, "colocated_db_settings", {"port": 1}),
                 lambda s: s.make_mpmd(MpirunSettings(ECHO))),
     (SSUnsupportedError, 'Colocated models cannot be run as a mpmd workload')),
    ('err_mpirun_missing', [],
     lambda: MpirunSettings(ECHO),
     (LauncherError, 'Cannot find mpirun. Try passing the full path via run_command.')),
    ('err_mpiexec_missing', [],
     lambda: MpiexecSettings(ECHO),
     (LauncherError, 'Cannot find mpiexec. Try passing the full path via run_command.')),
    ('err_orterun_missing', [],
     lambda: OrterunSettings(ECHO),
     (LauncherError, 'Cannot find orterun. Try passing the full path via run_command.')),
    ('err_mpiexec_slurm_wrapper', ['mpiexec-slurm'],
     lambda: MpiexecSettings(ECHO),
     (SSUnsupportedError, "Slurm's wrapper for mpiexec is unsupported. Use slurmSettings instead")),
    ('err_hostlist_int', ['mpirun'],
     lambda: _do(MpirunSettings(ECHO), lambda s: s.set_hostlist(1)),
     (TypeError, 'host_list argument must be a list of strings')),
    ('err_hostlist_mixed', ['mpirun'],
     lambda: _do(MpirunSettings(ECHO), lambda s: s.set_hostlist(["a", 2])),
     (TypeError, 'host_list argument must be list of strings')),
    ('err_tasks_bad', ['mpirun'],
     lambda: _do(MpirunSettings(ECHO), lambda s: s.set_tasks("x")),
     (ValueError, "invalid literal for int() with base 10: 'x'")),
    ('str', ['mpirun'],
     lambda: str(_do(MpirunSettings(ECHO, ["hi"]), lambda s: s.set_tasks(2))).replace(ECHO,
                                                                                      "<echo>"),
     ('Executable: <echo>\n'
      'Executable Arguments: hi\n'
      'Run Command: <bin>/mpirun\n'
      'Run Arguments:\n'
      '\tn = 2')),
]


@_params(MPI)
def test_mpi_family_settings(bindir, tools, make, expected):
    assert _outcome(bindir, tools, make) == expected


# -- Cobalt: CobaltBatchSettings (as SmartSim 0.5.1) ---------------------------------------

COBALT = [
    ('constructor', [],
     lambda: CobaltBatchSettings(nodes=2, time="01:00:00", queue="debug",
                                 account="proj").format_batch_args(),
     ['--nodecount 2', '--time 01:00:00', '--queue debug', '--project proj']),
    ('positional', [],
     lambda: CobaltBatchSettings(4, "30", "q", "A", {"attrs": "mcdram=cache"}).format_batch_args(),
     ['--attrs mcdram=cache', '--nodecount 4', '--time 30', '--queue q', '--project A']),
    ('defaults', [],
     lambda: _get(CobaltBatchSettings(), "format_batch_args()", "batch_args", "batch_cmd"),
     ([], {}, 'qsub')),
    ('batch_args_first_then_overrides', [],
     lambda: CobaltBatchSettings(nodes=3, time="10",
                                 batch_args={"attrs": "mcdram=cache", "time": "5", "nodecount": "1",
                                             "x": None, "q": "short", "n": 9}).format_batch_args(),
     ['--attrs mcdram=cache', '--time 10', '--nodecount 3', '-x', '-q', 'short', '-n', '9']),
    ('script_options_never_passed', [],
     lambda: CobaltBatchSettings(nodes=1,
                                 batch_args={"o": "a", "output": "a", "O": "p", "outputprefix": "p",
                                             "e": "e", "error": "e", "cwd": "/x", "jobname": "j",
                                             "debuglog": "d"}).format_batch_args(),
     ['--debuglog d', '--nodecount 1']),
    ('setters', [],
     lambda: _batch(CobaltBatchSettings(), lambda b: b.set_nodes("2"), lambda b: b.set_nodes(0),
                    lambda b: b.set_walltime("00:10:00"), lambda b: b.set_walltime(""),
                    lambda b: b.set_queue(7), lambda b: b.set_queue(""),
                    lambda b: b.set_account("acct"), lambda b: b.set_account(None),
                    lambda b: b.set_tasks("64")),
     ['--nodecount 2', '--time 00:10:00', '--queue 7', '--project acct', '--proccount 64']),
    ('hostlist', [],
     lambda: _batch(CobaltBatchSettings(), lambda b: b.set_hostlist(["n1", "n2"])),
     ['--attrs location=n1,n2']),
    ('hostlist_str', [],
     lambda: _batch(CobaltBatchSettings(), lambda b: b.set_hostlist(" n1 ")),
     ['--attrs location=n1']),
    ('hostlist_replaces_attrs', [],
     lambda: _batch(CobaltBatchSettings(batch_args={"attrs": "mcdram=cache"}),
                    lambda b: b.set_hostlist("n1")),
     ['--attrs location=n1']),
    ('stored_values', [],
     lambda: CobaltBatchSettings(nodes=2.0, time="1:00:00", queue=3, account="a").batch_args,
     {'nodecount': '2', 'time': '1:00:00', 'queue': '3', 'project': 'a'}),
    ('err_nodes_bad', [],
     lambda: CobaltBatchSettings(nodes="x"),
     (ValueError, "invalid literal for int() with base 10: 'x'")),
    ('err_tasks_bad', [],
     lambda: _do(CobaltBatchSettings(), lambda b: b.set_tasks(None)),
     (TypeError, "int() argument must be a string, a bytes-like object or a real number, not 'NoneType'")),
    ('err_hostlist_int', [],
     lambda: _do(CobaltBatchSettings(), lambda b: b.set_hostlist(1)),
     (TypeError, 'host_list argument must be a list of strings')),
    ('err_hostlist_mixed', [],
     lambda: _do(CobaltBatchSettings(), lambda b: b.set_hostlist(["a", 1])),
     (TypeError, 'host_list argument must be list of strings')),
    ('str', [],
     lambda: str(CobaltBatchSettings(nodes=1, queue="q")),
     'Batch Command: qsub\nBatch arguments:\n\tnodecount = 1\n\tqueue = q'),
]


@_params(COBALT)
def test_cobalt_batch_settings(bindir, tools, make, expected):
    assert _outcome(bindir, tools, make) == expected


# -- create_run_settings: launcher and run_command choose the class ------------------------

CRS = [
    ('pbs_auto_aprun_first', ['aprun', 'mpirun', 'mpiexec'],
     lambda: _kind(create_run_settings("pbs", ECHO)),
     ('AprunSettings', '<bin>/aprun')),
    ('pbs_auto_mpirun', ['mpirun', 'mpiexec'],
     lambda: _kind(create_run_settings("pbs", ECHO)),
     ('MpirunSettings', '<bin>/mpirun')),
    ('pbs_auto_mpiexec', ['mpiexec'],
     lambda: _kind(create_run_settings("pbs", ECHO)),
     ('MpiexecSettings', '<bin>/mpiexec')),
    ('pbs_auto_none', [],
     lambda: _kind(create_run_settings("pbs", ECHO)),
     (SmartSimError, "Could not automatically detect a run command to use for launcher pbs\nSearched for and could not find the following commands: ['aprun', 'mpirun', 'mpiexec']")),
    ('pals_auto', ['aprun', 'mpirun', 'mpiexec'],
     lambda: _kind(create_run_settings("pals", ECHO)),
     ('PalsMpiexecSettings', '<bin>/mpiexec')),
    ('pals_auto_none', ['aprun', 'mpirun'],
     lambda: _kind(create_run_settings("pals", ECHO)),
     (SmartSimError, "Could not automatically detect a run command to use for launcher pals\nSearched for and could not find the following commands: ['mpiexec']")),
    ('pals_mpirun', ['mpirun'],
     lambda: _kind(create_run_settings("pals", ECHO, run_command="mpirun")),
     ('MpirunSettings', '<bin>/mpirun')),
    ('lsf_auto_jsrun', ['jsrun', 'mpirun'],
     lambda: _kind(create_run_settings("lsf", ECHO)),
     ('JsrunSettings', '<bin>/jsrun')),
    ('lsf_auto_mpirun', ['mpirun', 'mpiexec'],
     lambda: _kind(create_run_settings("lsf", ECHO)),
     ('MpirunSettings', '<bin>/mpirun')),
    ('lsf_auto_none', [],
     lambda: _kind(create_run_settings("lsf", ECHO)),
     (SmartSimError, "Could not automatically detect a run command to use for launcher lsf\nSearched for and could not find the following commands: ['jsrun', 'mpirun', 'mpiexec']")),
    ('sge_auto_mpirun', ['aprun', 'mpirun', 'mpiexec'],
     lambda: _kind(create_run_settings("sge", ECHO)),
     ('MpirunSettings', '<bin>/mpirun')),
    ('sge_auto_mpiexec', ['mpiexec'],
     lambda: _kind(create_run_settings("sge", ECHO)),
     ('MpiexecSettings', '<bin>/mpiexec')),
    ('sge_auto_none', ['orterun'],
     lambda: _kind(create_run_settings("sge", ECHO)),
     (SmartSimError, "Could not automatically detect a run command to use for launcher sge\nSearched for and could not find the following commands: ['mpirun', 'mpiexec']")),
    ('cobalt_auto_aprun', ['aprun', 'mpirun'],
     lambda: _kind(create_run_settings("cobalt", ECHO)),
     ('AprunSettings', '<bin>/aprun')),
    ('cobalt_auto_mpirun', ['mpirun', 'mpiexec'],
     lambda: _kind(create_run_settings("cobalt", ECHO)),
     ('MpirunSettings', '<bin>/mpirun')),
    ('cobalt_auto_mpiexec', ['mpiexec'],
     lambda: _kind(create_run_settings("cobalt", ECHO)),
     ('MpiexecSettings', '<bin>/mpiexec')),
    ('cobalt_auto_none', [],
     lambda: _kind(create_run_settings("cobalt", ECHO)),
     (SmartSimError, "Could not automatically detect a run command to use for launcher cobalt\nSearched for and could not find the following commands: ['aprun', 'mpirun', 'mpiexec']")),
    ('aprun_explicit_not_installed', [],
     lambda: _kind(create_run_settings("pbs", ECHO, run_command="aprun")),
     ('AprunSettings', 'aprun')),
    ('aprun_upper_on_slurm', [],
     lambda: _kind(create_run_settings("slurm", ECHO, run_command="APRUN")),
     ('AprunSettings', 'aprun')),
    ('jsrun_explicit_on_local', ['jsrun'],
     lambda: _kind(create_run_settings("local", ECHO, run_command="jsrun")),
     ('JsrunSettings', '<bin>/jsrun')),
    ('mpiexec_on_pbs', ['mpiexec'],
     lambda: _kind(create_run_settings("pbs", ECHO, run_command="mpiexec")),
     ('MpiexecSettings', '<bin>/mpiexec')),
    ('orterun_on_lsf', ['orterun'],
     lambda: _kind(create_run_settings("lsf", ECHO, run_command="orterun")),
     ('OrterunSettings', '<bin>/orterun')),
    ('srun_on_pbs', [],
     lambda: _kind(create_run_settings("pbs", ECHO, run_command="srun")),
     ('SrunSettings', 'srun')),
    ('other_name_on_pbs', [],
     lambda: _kind(create_run_settings("pbs", ECHO, run_command="qrsh")),
     ('RunSettings', 'qrsh')),
    ('none_on_lsf', ['jsrun'],
     lambda: _kind(create_run_settings("lsf", ECHO, run_command=None)),
     ('RunSettings', None)),
    ('empty_on_pbs', ['aprun'],
     lambda: _kind(create_run_settings("pbs", ECHO, run_command="")),
     ('RunSettings', None)),
    ('aprun_path_on_pbs', ['aprun'],
     lambda: _kind(create_run_settings("pbs", ECHO, run_command=shutil.which("aprun"))),
     ('RunSettings', '<bin>/aprun')),
    ('pals_mpiexec_missing', [],
     lambda: _kind(create_run_settings("pals", ECHO, run_command="mpiexec")),
     (LauncherError, 'Cannot find mpiexec. Try passing the full path via run_command.')),
    ('arguments_reach_aprun', ['aprun'],
     lambda: _get(create_run_settings("pbs", ECHO, exe_args=["x"], run_args={"n": 2, "cc": "depth"},
                                      env_vars={"A": "1"}),
                  "exe_args", "format_run_args()", "format_env_vars()"),
     (['x'], ['-n', '2', '--cc=depth'], ['-e', 'A=1'])),
    ('arguments_reach_jsrun', ['jsrun'],
     lambda: _get(create_run_settings("lsf", ECHO, exe_args="x y", run_args={"np": 2, "bind": "rs"},
                                      env_vars={"A": None}),
                  "exe_args", "format_run_args()", "format_env_vars()"),
     (['x', 'y'], ['--np=2', '--bind=rs'], ['-E', 'A'])),
    ('arguments_reach_pals', ['mpiexec'],
     lambda: _get(create_run_settings("pals", ECHO, exe_args=["x"], run_args={"np": 2},
                                      env_vars={"A": "1", "B": None}),
                  "exe_args", "format_run_args()", "format_env_vars()"),
     (['x'], ['--np', '2'], ['--env', 'A=1', '--envlist', 'B'])),
]


@_params(CRS)
def test_create_run_settings(bindir, tools, make, expected):
    assert _outcome(bindir, tools, make) == expected


# -- create_batch_settings: the launcher chooses the class ---------------------------------

CBS = [
    ('pbs', [],
     lambda: _bkind(create_batch_settings("pbs", nodes=2, time="01:00:00", queue="debug",
                                          account="acct", batch_args={"m": "abe"})),
     ('QsubBatchSettings',
      ['-l nodes=2', '-l walltime=01:00:00', '-m abe', '-q debug', '-A acct'])),
    ('pbs_ncpus_resources', [],
     lambda: _bkind(create_batch_settings("pbs", nodes=2, ncpus=8, resources={"place": "scatter"})),
     ('QsubBatchSettings', ['-l nodes=2:ncpus=8', '-l place=scatter'])),
    ('pbs_no_nodes', [],
     lambda: _bkind(create_batch_settings("pbs")),
     (SSConfigError, 'Insufficient resource specification: no nodes or select statement')),
    ('pbs_empty_strings', [],
     lambda: _bkind(create_batch_settings("pbs", nodes=1, time="", queue="", account="")),
     ('QsubBatchSettings', ['-l nodes=1'])),
    ('pals', [],
     lambda: _bkind(create_batch_settings("pals", nodes=3, time="00:10:00", queue="q", account="a")),
     ('QsubBatchSettings', ['-l nodes=3', '-l walltime=00:10:00', '-q q', '-A a'])),
    ('lsf', [],
     lambda: _bkind(create_batch_settings("lsf", nodes=2, time="01:00:00", queue="batch",
                                          account="acct", batch_args={"alloc_flags": "gpumps"},
                                          smts=4)),
     ('BsubBatchSettings', ['-alloc_flags "gpumps smt4"', '-nnodes 2', '-q batch'])),
    ('lsf_project_kwarg_wins', [],
     lambda: (lambda b: b.project)(create_batch_settings("lsf", nodes=1, account="acct",
                                                         project="proj")),
     'proj'),
    ('lsf_defaults', [],
     lambda: _bkind(create_batch_settings("lsf")),
     ('BsubBatchSettings', [])),
    ('sge', [],
     lambda: _bkind(create_batch_settings("sge", nodes=4, time="01:00:00", account="acct", ncpus=8,
                                          pe_type="mpi")),
     ('SgeQsubBatchSettings', ['-pe mpi 8', '-l h_rt=01:00:00', '-A acct'])),
    ('sge_queue_refused', [],
     lambda: _bkind(create_batch_settings("sge", queue="all.q")),
     (LauncherUnsupportedFeature, 'SGE does not support specifying queues')),
    ('cobalt', [],
     lambda: _bkind(create_batch_settings("cobalt", nodes=2, time="01:00:00", queue="debug",
                                          account="proj", batch_args={"attrs": "mcdram=cache"})),
     ('CobaltBatchSettings',
      ['--attrs mcdram=cache',
       '--nodecount 2',
       '--time 01:00:00',
       '--queue debug',
       '--project proj'])),
    ('cobalt_defaults', [],
     lambda: _bkind(create_batch_settings("cobalt")),
     ('CobaltBatchSettings', [])),
    ('unsupported', [],
     lambda: create_batch_settings("nosuchwlm"),
     (SmartSimError, 'User attempted to make batch settings for unsupported launcher nosuchwlm')),
]


@_params(CBS)
def test_create_batch_settings(bindir, tools, make, expected):
    assert _outcome(bindir, tools, make) == expected


# -- where this project deliberately differs from 0.8.0 (0.8.0 is broken there) ------------

BETTER_THAN_080 = [
    # (better than 0.8.0: 0.8.0 runs `mpiexec --help` anyway: FileNotFoundError)
    ('mpiexec_missing_allowed', [],
     lambda: _get(_do(MpiexecSettings(ECHO, fail_if_missing_exec=False), lambda s: s.set_tasks(2)),
                  "run_command", "format_run_args()"),
     ('mpiexec', ['--n', '2'])),
    # (better than 0.8.0: 0.8.0 drops the container, then looks for the executable on this host: FileNotFoundError)
    ('jsrun_keeps_container', [],
     lambda: (lambda s: (s.container is not None, s.exe))(JsrunSettings("echo", container=object())),
     (True, ['echo'])),
    # (better than 0.8.0: 0.8.0 drops the container, then looks for the executable on this host: FileNotFoundError)
    ('create_jsrun_keeps_container', [],
     lambda: (lambda s: (s.container is not None, s.exe))(create_run_settings("lsf", "echo",
                                                                              run_command="jsrun",
                                                                              container=object())),
     (True, ['echo'])),
    # (better than 0.8.0: 0.8.0: AttributeError: 'QsubBatchSettings' object has no attribute '_resources')
    ('qsub_resources_not_a_dict', [],
     lambda: QsubBatchSettings(resources=[("select", 1)]),
     (TypeError, "resources must be a dict of str to int or str, got <class 'list'>")),
    # (better than 0.8.0: 0.8.0: AttributeError: 'str' object has no attribute 'copy')
    ('qsub_resources_assigned_not_a_dict', [],
     lambda: _do(QsubBatchSettings(nodes=1), lambda b: setattr(b, "resources", "select=1")),
     (TypeError, "resources must be a dict of str to int or str, got <class 'str'>")),
    # (better than 0.8.0: 0.8.0: AttributeError: 'SgeQsubBatchSettings' object has no attribute '_resources')
    ('sge_resources_not_a_dict', [],
     lambda: SgeQsubBatchSettings(resources=("mem", 1)),
     (TypeError, "resources must be a dict of str to int or str, got <class 'tuple'>")),
    # (as 0.8.0: a falsy value is no resources)
    ('qsub_resources_falsy_not_a_dict', [],
     lambda: QsubBatchSettings(nodes=1, resources=[]).format_batch_args(),
     ['-l nodes=1']),
]


@_params(BETTER_THAN_080)
def test_better_than_080(bindir, tools, make, expected):
    assert _outcome(bindir, tools, make) == expected

# -- warnings and information, as 0.8.0 logs them -------------------------------------------

def test_pals_unsupported_setters_warn(bindir, logs):
    bindir("mpiexec")
    rs = _do(PalsMpiexecSettings(ECHO), lambda s: s.set_task_map("core"),
             lambda s: s.set_cpus_per_task(2), lambda s: s.set_quiet_launch(True),
             lambda s: s.set_walltime("10"))
    assert rs.run_args == {}
    assert logs == [("WARNING", "set_task_map not supported under PALS"),
                    ("WARNING", "set_cpus_per_task not supported under PALS"),
                    ("WARNING", "set_quiet_launch not supported under PALS"),
                    ("WARNING", "set_walltime not supported under PALS")]


@pytest.mark.parametrize("tool, cls, expected", [
    ("mpiexec", PalsMpiexecSettings, ["--transfer"]),
    ("mpirun", MpirunSettings, ["--preload-binary"]),
], ids=["pals", "mpirun"])
def test_broadcast_destination_warns(bindir, logs, tool, cls, expected):
    bindir(tool)
    assert _args(cls(ECHO), lambda s: s.set_broadcast("/tmp/dest")) == expected
    assert logs == [("WARNING", f"<class '{cls.__module__}.{cls.__name__}'> cannot set a "
                                "destination path during broadcast. Using session directory instead")]


def test_pals_missing_mpiexec_allowed_warns(bindir, logs):
    assert PalsMpiexecSettings(ECHO, fail_if_missing_exec=False).format_run_args() == []
    assert logs == [("WARNING", "Cannot find mpiexec. Try passing the full path via run_command.")]


def test_aprun_setters_it_lacks_warn(bindir, logs):
    rs = _do(AprunSettings(ECHO), lambda s: s.set_nodes(2), lambda s: s.set_task_map("x"),
             lambda s: s.set_broadcast(), lambda s: s.set_node_feature("gpu"),
             lambda s: s.set_binding("x"), lambda s: s.set_mpmd_preamble(["x"]))
    assert rs.format_run_args() == []
    kind = "RunSettings type: <class 'smartsim.settings.alpsSettings.AprunSettings'>"
    assert logs == [("WARNING", f"{what} specification not implemented for this {kind}")
                    for what in ("Node", "Task mapping", "Broadcast", "Feature", "binding",
                                 "MPMD preamble")]


def test_jsrun_setters_it_lacks_warn(bindir, logs):
    rs = _do(JsrunSettings(ECHO), lambda s: s.set_nodes(2), lambda s: s.set_hostlist(["a"]),
             lambda s: s.set_walltime("10"), lambda s: s.set_verbose_launch(True),
             lambda s: s.set_cpu_bindings(1))
    assert rs.format_run_args() == []
    kind = "RunSettings type: <class 'smartsim.settings.lsfSettings.JsrunSettings'>"
    assert logs == [("WARNING", f"{what} specification not implemented for this {kind}")
                    for what in ("Node", "Hostlist", "Walltime", "Verbose", "CPU binding")]


PREP_COLOCATED = [
    ("unset", {}, 2, {"cpu_per_rs": 2, "rs_per_host": 1}, [
        ("INFO", "Colocated DB requires 2 CPUs per RS. Automatically setting --cpus_per_rs==2"),
        ("INFO", "Colocated DB requires one resource set per host.  Automatically setting "
                 "--rs_per_host==1")]),
    ("too_low", {"cpu_per_rs": 1, "c": "3", "rs_per_host": 2, "r": "1"}, 4,
     {"cpu_per_rs": 4, "c": 4, "rs_per_host": "1", "r": "1"}, [
         ("INFO", "cpu_per_rs flag was set to 1, but colocated DB requires 4 CPUs per RS. "
                  "Automatically setting cpu_per_rs flag to 4"),
         ("INFO", "c flag was set to 3, but colocated DB requires 4 CPUs per RS. Automatically "
                  "setting c flag to 4"),
         ("INFO", "rs_per_host flag was set to 2, but colocated DB requires running ONE resource "
                  "set per host. Automatically setting rs_per_host flag to 1"),
         ("INFO", "r flag was set to 1, but colocated DB requires running ONE resource set per "
                  "host. Automatically setting r flag to 1")]),
    ("enough", {"c": 8, "r": 1}, 4, {"c": 8, "r": 1}, []),
]


@pytest.mark.parametrize("run_args, db_cpus, expected, messages", [row[1:] for row in PREP_COLOCATED],
                         ids=[row[0] for row in PREP_COLOCATED])
def test_jsrun_prepared_for_a_colocated_database(bindir, logs, run_args, db_cpus, expected,
                                                 messages):
    rs = JsrunSettings(ECHO, run_args=run_args)
    rs._prep_colocated_db(db_cpus)  # pylint: disable=protected-access
    assert rs.run_args == expected
    assert logs == messages


# -- import paths, as 0.8.0 ---------------------------------------------------------------

def test_import_paths_and_modules():
    from smartsim import settings
    from smartsim.settings import (alpsSettings, batch, cobaltSettings, lsfSettings,
                                   mpiSettings, palsSettings, pbsSettings, sgeSettings)

    assert {"AprunSettings", "BsubBatchSettings", "JsrunSettings", "MpirunSettings",
            "MpiexecSettings", "OrterunSettings", "QsubBatchSettings", "RunSettings",
            "SettingsBase", "SbatchSettings", "SgeQsubBatchSettings", "SrunSettings",
            "PalsMpiexecSettings"} <= set(settings.__all__)
    modules = {AprunSettings: alpsSettings, BsubBatchSettings: lsfSettings,
               JsrunSettings: lsfSettings, PalsMpiexecSettings: palsSettings,
               QsubBatchSettings: pbsSettings, SgeQsubBatchSettings: sgeSettings,
               CobaltBatchSettings: cobaltSettings, MpirunSettings: mpiSettings,
               MpiexecSettings: mpiSettings, OrterunSettings: mpiSettings}
    for cls, module in modules.items():
        assert cls.__module__ == module.__name__
        assert getattr(module, cls.__name__) is cls
    for cls in (QsubBatchSettings, BsubBatchSettings, SgeQsubBatchSettings, CobaltBatchSettings):
        assert getattr(batch, cls.__name__) is cls and issubclass(cls, BatchSettings)
    for cls in (AprunSettings, JsrunSettings, PalsMpiexecSettings):
        assert issubclass(cls, RunSettings)
    assert issubclass(PalsMpiexecSettings, mpiSettings._BaseMPISettings)  # pylint: disable=protected-access
    assert not issubclass(PalsMpiexecSettings, MpiexecSettings)


# -- through the Experiment ------------------------------------------------------------------

@pytest.mark.parametrize("launcher, batch_cls, default, full, run_cls", [
    ("pbs", QsubBatchSettings, ["-l nodes=1"],
     ["-l nodes=3", "-l walltime=01:00:00", "-q q", "-A a"], AprunSettings),
    ("lsf", BsubBatchSettings, ["-nnodes 1"], ["-nnodes 3", "-q q"], JsrunSettings),
    ("cobalt", CobaltBatchSettings, ["--nodecount 1"],
     ["--nodecount 3", "--time 01:00:00", "--queue q", "--project a"], AprunSettings),
])
def test_experiment_chooses_by_launcher(bindir, tmp_path, launcher, batch_cls, default, full,
                                        run_cls):
    aprun, jsrun = bindir("aprun"), bindir("jsrun")
    exp = Experiment("e", exp_path=str(tmp_path / launcher), launcher=launcher)
    batch = exp.create_batch_settings()
    assert type(batch) is batch_cls and batch.format_batch_args() == default
    batch = exp.create_batch_settings(nodes=3, time="01:00:00", queue="q", account="a")
    assert batch.format_batch_args() == full
    if launcher == "lsf":
        assert (batch.walltime, batch.project) == ("01:00", "a")
    rs = exp.create_run_settings(ECHO, exe_args=["hi"])
    assert type(rs) is run_cls
    assert rs.run_command == (jsrun if run_cls is JsrunSettings else aprun)


# -- copies ----------------------------------------------------------------------------------

def test_deepcopy_is_independent(bindir):
    js = _do(JsrunSettings(ECHO), lambda s: s.make_mpmd(JsrunSettings(ECHO, env_vars={"A": "x"})),
             lambda s: s.set_erf_sets({"host": "1"}), lambda s: s.set_mpmd_preamble(["p"]))
    clone = copy.deepcopy(js)
    clone.erf_sets["host"] = "2"
    clone.mpmd[0].env_vars["A"] = "y"
    clone.mpmd_preamble_lines.append("q")
    assert (js.erf_sets, js.mpmd[0].env_vars, js.mpmd_preamble_lines) == (
        {"host": "1"}, {"A": "x"}, ["p"])
    qs = _do(QsubBatchSettings(nodes=2), lambda b: b.set_hostlist(["n1"]))
    qclone = copy.deepcopy(qs)
    qclone.set_resource("place", "scatter")
    qclone.set_hostlist("n2")
    assert qs.format_batch_args() == ["-l nodes=2:host=n1"]
    assert qclone.format_batch_args() == ["-l nodes=2:host=n2", "-l place=scatter"]
