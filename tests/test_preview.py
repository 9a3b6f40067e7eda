"""``Experiment.preview``: SmartSim 0.8's plain-text preview with our command lines, shard
commands and batch scripts; it launches nothing and writes nothing but ``output_filename``.

Goldens live in ``tests/golden/preview/<case>.txt`` with paths normalised (``<EXP>``: the
experiment path, ``<DATA>``: the test's input files, ``<REDIS>``, ``<SRUN>``, ``<SBATCH>``);
``SMARTSIM_REGEN_GOLDEN=1`` rewrites them."""
import os
import shutil
import subprocess
import sys

import psutil
import pytest

from smartsim import Experiment
from smartsim._core.control.preview import render
from smartsim.error import EntityExistsError, PreviewFormatError

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "preview")
LEVELS = ("info", "debug", "developer")


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    app = d / "app.sh"
    app.write_text("#!/bin/sh\necho hi\n")
    app.chmod(0o755)
    (d / "in.txt").write_text("x=;x;\n")
    (d / "cp.txt").write_text("c\n")
    (d / "model.pt").write_bytes(b"not really torch")
    (d / "script.py").write_text("def f(x):\n    return x\n")
    return d


def normalise(text, exp, data, db=None):
    text = text.replace(exp.exp_path, "<EXP>").replace(str(data), "<DATA>")
    if db is not None:
        text = text.replace(db.redis_server.path, "<REDIS>")
    for tool in ("sbatch", "srun"):
        found = shutil.which(tool)
        if found:
            text = text.replace(found, f"<{tool.upper()}>")
    return text


def check_golden(name, text):
    path = os.path.join(GOLDEN, name + ".txt")
    if os.environ.get("SMARTSIM_REGEN_GOLDEN") == "1":
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    with open(path, encoding="utf-8") as handle:
        assert text == handle.read(), f"preview differs from {path}"


def snapshot(exp_path):
    found = []
    for root, dirs, files in os.walk(exp_path):
        found += [os.path.join(root, n) for n in dirs + files]
    return sorted(found)


def model_case(tmp_path, data):
    exp = Experiment("pvexp", exp_path=str(tmp_path / "exp"), launcher="local")
    rs = exp.create_run_settings(str(data / "app.sh"), exe_args=["hello", "world"], env_vars={"A": "1"})
    model = exp.create_model("m1", rs, params={"x": 1, "y": "two"})
    model.attach_generator_files(to_copy=[str(data / "cp.txt")], to_symlink=[str(data / "cp.txt")],
                                 to_configure=[str(data / "in.txt")])
    model.add_ml_model("cnn", "TORCH", model_path=str(data / "model.pt"))
    model.add_script("scr", script_path=str(data / "script.py"))
    model.enable_key_prefixing()
    return exp, [model], None


def ensemble_case(tmp_path, data):
    exp = Experiment("pvexp", exp_path=str(tmp_path / "exp"), launcher="local")
    rs = exp.create_run_settings(str(data / "app.sh"), exe_args=["sim"])
    ens = exp.create_ensemble("ens", params={"p": [1, 2], "q": ["a", "b"]}, run_settings=rs,
                              perm_strategy="all_perm", params_as_args=["p"])
    return exp, [ens], None


def database_case(tmp_path, data):
    exp = Experiment("pvexp", exp_path=str(tmp_path / "exp"), launcher="local")
    db = exp.create_database(port=6780, interface="lo")
    clus = exp.create_database(port=6790, db_nodes=3, interface="lo", db_identifier="clus")
    colo = exp.create_model("colo", exp.create_run_settings(str(data / "app.sh"), exe_args=["hi"]))
    colo.colocate_db_tcp(port=6999, ifname="lo", db_cpus=2)
    colo.add_script("scr", script_path=str(data / "script.py"))
    uds = exp.create_model("uds", exp.create_run_settings(str(data / "app.sh")))
    uds.colocate_db_uds(unix_socket=str(data / "x.sock"), db_identifier="cdb")
    return exp, [db, clus, colo, uds], db


def batch_case(tmp_path, data):
    exp = Experiment("pvexp", exp_path=str(tmp_path / "exp"), launcher="slurm")
    db = exp.create_database(port=6780, db_nodes=3, interface="ib0", db_identifier="clus", batch=True,
                             time="00:10:00")
    bs = exp.create_batch_settings(nodes=2, time="01:00:00", account="acct",
                                   batch_args={"partition": "debug"})
    rs = exp.create_run_settings(str(data / "app.sh"), exe_args=["sim"], run_args={"ntasks": 2},
                                 env_vars={"OMP_NUM_THREADS": "4"})
    rs.set_tasks(4)
    ens = exp.create_ensemble("bens", params={"t": [1, 2, 3]}, batch_settings=bs, run_settings=rs,
                              perm_strategy="all_perm")
    return exp, [db, ens], db


CASES = {"model": model_case, "ensemble": ensemble_case, "database": database_case, "batch": batch_case}


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_preview_golden(case, level, tmp_path, data):
    exp, entities, db = CASES[case](tmp_path, data)
    before = snapshot(exp.exp_path)
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    text = render(exp, *entities, verbosity_level=level)
    check_golden(f"{case}_{level}", normalise(text, exp, data, db))
    # nothing launched, nothing written
    assert snapshot(exp.exp_path) == before
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= children
    assert exp._control_ is None  # no controller, no launcher


def test_experiment_preview_logs_the_preview(tmp_path, data):
    """A driver script's preview reaches its stdout, as SmartSim 0.8's logger prints it."""
    driver = tmp_path / "driver.py"
    driver.write_text(
        "from smartsim import Experiment\n"
        f"exp = Experiment('pvexp', exp_path={str(tmp_path / 'exp')!r})\n"
        f"rs = exp.create_run_settings({str(data / 'app.sh')!r}, exe_args=['hello', 'world'])\n"
        "m = exp.create_model('m1', rs, params={'x': 1})\n"
        "assert exp.preview(m, verbosity_level='debug') is None\n")
    proc = subprocess.run([sys.executable, str(driver)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert "=== Experiment Overview ===" in proc.stdout
    assert "= Model Name: m1 =" in proc.stdout
    assert f"Launch Command: {data / 'app.sh'} hello world" in proc.stdout
    assert not os.listdir(tmp_path / "exp")


def test_preview_to_file_never_overwrites(tmp_path, data):
    exp, entities, _ = model_case(tmp_path, data)
    out = tmp_path / "preview.txt"
    exp.preview(*entities, output_filename=str(out))
    first = out.read_text()
    assert "= Model Name: m1 =" in first and first.startswith("=== Experiment Overview ===")
    exp.preview(*entities, verbosity_level="debug", output_filename=str(out))
    assert out.read_text() == first  # kept; the second went next to it
    assert "Path: " + exp.exp_path + "/m1" in (tmp_path / "preview_01.txt").read_text()
    assert not os.listdir(exp.exp_path)


def test_bad_arguments(tmp_path, data):
    exp, entities, _ = model_case(tmp_path, data)
    with pytest.raises(ValueError, match="'loud'.*'info', 'debug', 'developer'"):
        exp.preview(*entities, verbosity_level="loud")
    with pytest.raises(PreviewFormatError, match="'json'.*plain_text"):
        exp.preview(*entities, output_format="json")
    with pytest.raises(TypeError, match="output_filename"):
        exp.preview(*entities, output_filename=3)
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        exp.preview(*entities, output_filename=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="directory does not exist"):
        exp.preview(*entities, output_filename=str(tmp_path / "nope" / "p.txt"))
    with pytest.raises(TypeError, match="got int: 1"):
        exp.preview(entities[0], 1)
    with pytest.raises(EntityExistsError, match="'m1' was passed to preview twice"):
        exp.preview(entities[0], [entities[0]])
    assert not os.listdir(exp.exp_path)
    assert sorted(os.listdir(tmp_path)) == ["data", "exp"]


def test_running_database_is_shown_as_active(tmp_path, data):
    exp = Experiment("pvexp", exp_path=str(tmp_path / "exp"), launcher="local")
    port = 16000 + os.getpid() % 20000
    db = exp.create_database(port=port, interface="lo", executor=False)
    model = exp.create_model("m", exp.create_run_settings(str(data / "app.sh")))
    exp.start(db)
    try:
        text = render(exp, model, db, verbosity_level="info")
        running = render(exp, model, verbosity_level="debug")
    finally:
        exp.stop(db)
    assert "== Active Infrastructure ==" not in text  # db passed in: shown only as started
    assert "WARNING: Cannot preview orchestrator, because it is already started." in text
    # not passed in but running: what the model would connect to (SSDB)
    assert "== Active Infrastructure ==" in running
    assert "Client Configuration:\n          Database Identifier: orchestrator" in running
    assert f"              {port}\n            Type: Standalone" in running
    text = render(exp, model, verbosity_level="info")  # stopped: nothing active any more
    assert "Active Infrastructure" not in text


def test_touched_member_and_pbs_batch_model(tmp_path, data):
    """A member given its own settings shows them; a PBS batch model shows the #PBS script
    the PBS launcher would submit (no qsub needed)."""
    exp = Experiment("pvexp", exp_path=str(tmp_path / "exp"), launcher="pbs")
    rs = exp.create_run_settings(str(data / "app.sh"), exe_args=["sim"], run_command="")
    ens = exp.create_ensemble("ens", params={"p": [1, 2]}, run_settings=rs, params_as_args=["p"])
    ens[1].run_settings.add_exe_args("--own")
    bs = exp.create_batch_settings(nodes=1, time="00:05:00", queue="debug")
    model = exp.create_model("bm", exp.create_run_settings(str(data / "app.sh"), run_command=""),
                             batch_settings=bs)
    text = normalise(render(exp, ens, model, verbosity_level="developer"), exp, data)
    assert "- Model Name: ens_0 -" in text and "app.sh sim -p 1\n" in text
    assert "app.sh sim -p 2 --own\n" in text
    assert "#PBS -N bm" in text and "#PBS -l walltime=00:05:00" in text and "#PBS -q debug" in text
    assert "smartsim_task <EXP>/bm/bm.exitcode <EXP>/bm" in text
    assert not os.listdir(exp.exp_path)
