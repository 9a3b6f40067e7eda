"""The ``smart`` command line: SmartSim 0.8's commands and flags, run in-process through
``main([...])`` and through the installed ``smart`` console script, with real
redis-servers, our module and the ML runtimes installed here."""
import importlib.metadata
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

import smartsim
from smartsim._core import cli
from smartsim._core.lib import aimodule_build

from ._testbase import SRC, free_ports

SMART = shutil.which("smart")
RUNTIMES = [r.package for r in cli._runtimes()]  # pylint: disable=protected-access
HAVE = {name: importlib.util.find_spec(name) is not None for name in RUNTIMES}


def run(capsys, *argv):
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def smart(*argv, env=None, timeout=300):
    if SMART is None:
        pytest.skip("the smart console script is not installed (pip install -e .)")
    return subprocess.run([SMART, *argv], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, check=False)


@pytest.fixture
def own_tmp(tmp_path, monkeypatch):
    """Temporary files of the command (smart validate's experiment) go to tmp_path."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def lib_dir(tmp_path, monkeypatch, aimodule_path):
    """A module folder standing in for the package's: a built module, a killed build's
    folder, and files that are not the build's."""
    folder = tmp_path / "lib"
    folder.mkdir()
    shutil.copy2(aimodule_path, folder / aimodule_build.MODULE_FILENAME)
    (folder / (aimodule_build.BUILD_DIR_PREFIX + "killed")).mkdir()
    (folder / (aimodule_build.BUILD_DIR_PREFIX + "killed") / "redisai.so").write_bytes(b"x")
    (folder / "__init__.py").write_text("")
    (folder / "notes.txt").write_text("mine")
    monkeypatch.setattr(aimodule_build, "LIB_DIR", folder)
    return folder


def _taken_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, sock.getsockname()[1]


# ------------------------------------------------------------------ smart, smart --version


def test_version_is_the_distribution_version(capsys):
    rc, out, _ = run(capsys, "--version")
    assert rc == 0
    assert out.strip() == smartsim.__version__ == importlib.metadata.version("smartsim-fast")


def test_version_from_console_script():
    proc = smart("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == importlib.metadata.version("smartsim-fast")


def test_no_command_prints_help_and_usage_status(capsys):
    rc, out, _ = run(capsys)
    assert rc == os.EX_USAGE
    for command in ("build", "clean", "clobber", "dbcli", "site", "info", "validate",
                    "dashboard"):
        assert command in out


def test_unknown_command_is_named(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bulid"])
    assert exc.value.code == 2
    assert "'bulid'" in capsys.readouterr().err


def test_site_and_info(capsys):
    rc, out, _ = run(capsys, "site")
    assert rc == 0 and Path(out.strip()) == Path(smartsim.__file__).parent
    rc, out, _ = run(capsys, "info")
    assert rc == 0 and "redis-server" in out and "RedisAI-compatible module" in out


# ------------------------------------------------------------------ smart build


def _runtime_lines(out):
    return {line.split()[0]: line for line in out.splitlines()
            if line.split() and line.split()[0].rstrip(":") in RUNTIMES}


def test_build_cpu_reports_server_module_and_runtimes(capsys):
    rc, out, err = run(capsys, "build", "--device", "cpu")
    assert rc == os.EX_OK, err
    assert "redis-server: /" in out
    module = aimodule_build.LIB_DIR / aimodule_build.MODULE_FILENAME
    assert f"RedisAI-compatible module: {module} (" in out
    assert aimodule_build.is_current(module)
    lines = _runtime_lines(out)
    for name in RUNTIMES:
        if HAVE[name]:
            version = importlib.import_module(name).__version__
            assert lines[name].startswith(f"{name} {version}: "), out
        else:
            assert f"{name}: not installed" in out
    assert out.rstrip().endswith("smart build: ready (--device cpu)")


def test_build_gpu_says_which_runtime_cannot(capsys):
    rc, out, err = run(capsys, "build", "--device", "GPU", "--skip-tensorflow")
    assert "tensorflow: not checked (--skip-tensorflow)" in out
    cpu_only = []
    if HAVE["torch"]:
        import torch  # pylint: disable=import-outside-toplevel

        if not (torch.version.cuda or getattr(torch.version, "hip", None)):
            cpu_only.append(("torch", "--skip-torch"))
    if HAVE["onnxruntime"]:
        import onnxruntime  # pylint: disable=import-outside-toplevel

        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            cpu_only.append(("onnxruntime", "--skip-onnx"))
    if not HAVE["torch"] and not HAVE["onnxruntime"]:
        assert rc == os.EX_SOFTWARE and "no ML runtime installed" in err
        return
    assert rc == (os.EX_SOFTWARE if cpu_only else os.EX_OK), (out, err)
    for name, flag in cpu_only:
        assert f"{name} " in err and "cannot run" in err and "--device gpu" in err
        assert "CPU-only build" in err and flag in err


def test_build_ignored_flags_are_noted_one_line_each(capsys):
    rc, out, err = run(capsys, "build", "-v", "--dragon", "--keydb", "--config-dir", "/nope",
                       "--skip-python-packages", "--skip-torch", "--skip-onnx",
                       "--skip-tensorflow")
    assert rc == os.EX_OK, err
    notes = [line for line in out.splitlines() if line.startswith("note: --")]
    assert [n.split()[1] for n in notes] == ["--dragon", "--keydb", "--skip-python-packages",
                                             "--config-dir"]
    assert all(" ignored: " in n for n in notes)
    for name, flag in (("torch", "--skip-torch"), ("onnxruntime", "--skip-onnx"),
                       ("tensorflow", "--skip-tensorflow")):
        assert f"{name}: not checked ({flag})" in out
    assert "compile flags: " in out  # -v


def test_build_compiles_a_missing_module_that_redis_loads(capsys, tmp_path, monkeypatch,
                                                          server_factory):
    folder = tmp_path / "lib"
    folder.mkdir()
    monkeypatch.setattr(aimodule_build, "LIB_DIR", folder)
    rc, out, err = run(capsys, "build", "--skip-backends", "--skip-torch", "--skip-onnx",
                       "--skip-tensorflow")
    assert rc == os.EX_OK, err
    assert "(not built; not compiled: --skip-backends)" in out
    assert not list(folder.iterdir())
    rc, out, err = run(capsys, "build", "--skip-torch", "--skip-onnx", "--skip-tensorflow")
    assert rc == os.EX_OK, err
    module = folder / aimodule_build.MODULE_FILENAME
    assert f"RedisAI-compatible module: {module} (compiled in " in out
    assert sorted(p.name for p in folder.iterdir()) == [aimodule_build.MODULE_FILENAME]
    server = server_factory(module=module)  # redis-server loads it (start fails if not)
    assert server.alive()
    assert any(m[b"name"] == b"ai" for m in server.client().execute_command("MODULE", "LIST"))
    rc, out, _ = run(capsys, "build", "--skip-torch", "--skip-onnx", "--skip-tensorflow")
    assert rc == os.EX_OK and f"{module} (up to date)" in out


@pytest.mark.parametrize("argv, bad", [(["build", "--device", "tpu"], "'tpu'"),
                                       (["build", "--onnx"], "--onnx"),
                                       (["validate", "--device", "cuda-12"], "'cuda-12'"),
                                       (["validate", "-p", "70000"], "'70000'"),
                                       (["validate", "--shards", "0"], "'0'")])
def test_bad_flags_are_named(capsys, argv, bad):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert bad in capsys.readouterr().err


# ------------------------------------------------------------------ smart validate


def _expected_models():
    from smartsim._core.executor import backends  # pylint: disable=import-outside-toplevel

    return [b for b in ("TORCH", "ONNX", "TF") if b in backends.available_backends()]


def test_validate_on_a_given_port(capsys, own_tmp):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rc, out, err = run(capsys, "validate", "-p", str(port), "--device", "cpu")
    assert rc == os.EX_OK, (out, err)
    assert f"database: 1 shard(s) on 127.0.0.1:{port}, ready in " in out
    assert "tensor round trip: ok" in out
    for backend in _expected_models():
        assert f"{backend} model on CPU: ok" in out or f"{backend} model on CPU: skipped" in out
    assert out.rstrip().endswith("smart validate: ok")
    assert not list(own_tmp.glob("smart-validate-*"))  # its experiment is removed on success
    with socket.socket() as sock:  # and the database is gone
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_validate_on_a_taken_port_fails_before_starting(capsys, own_tmp):
    sock, port = _taken_port()
    with sock:
        rc, out, err = run(capsys, "validate", "--port", str(port))
    assert rc == os.EX_USAGE
    assert f"port {port} on 127.0.0.1 is already in use" in err
    assert "-p/--port" in err
    assert "database:" not in out and not list(own_tmp.glob("smart-validate-*"))


def test_validate_cluster_on_a_free_port(capsys, own_tmp):
    rc, out, err = run(capsys, "validate", "--shards", "3", "--device", "CPU")
    assert rc == os.EX_OK, (out, err)
    assert "database: 3 shard(s) on 127.0.0.1:" in out and "tensor round trip: ok" in out


def test_validate_gpu_reports_each_backend(capsys, own_tmp):
    models = _expected_models()
    if not models:
        pytest.skip("no ML runtime installed")
    rc, out, err = run(capsys, "validate", "--device", "gpu")
    lines = {b: next(line for line in out.splitlines() if line.startswith(f"{b} model on GPU: "))
             for b in models}
    failed = [b for b, line in lines.items() if ": FAILED: " in line]
    for backend in failed:
        assert "GPU" in lines[backend] or "CUDA" in lines[backend]
    if failed:
        assert rc == os.EX_SOFTWARE
        assert f"smart validate: FAILED: {', '.join(b + ' model' for b in failed)}" in err
        kept = Path(err.rsplit("kept in ", 1)[1].strip())
        assert kept.parent == own_tmp and kept.is_dir()
    else:
        assert rc == os.EX_OK


def test_validate_console_script_taken_port(own_tmp):
    sock, port = _taken_port()
    with sock:
        proc = smart("validate", "-p", str(port), env={"TMPDIR": str(own_tmp)})
    assert proc.returncode == os.EX_USAGE
    assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr


# ------------------------------------------------------------------ smart clean / clobber


@pytest.mark.parametrize("argv", [["clobber"], ["clean"], ["clean", "--clobber"]])
def test_clobber_removes_only_the_build_artefacts(capsys, lib_dir, argv):
    rc, out, _ = run(capsys, *argv)
    assert rc == os.EX_OK
    assert sorted(p.name for p in lib_dir.iterdir()) == ["__init__.py", "notes.txt"]
    assert out.count("removed ") == 2
    rc, out, _ = run(capsys, *argv)
    assert rc == os.EX_OK and "nothing to remove" in out


def test_clobber_build_validate_with_console_script(tmp_path, own_tmp):
    """On a copy of the package: smart clobber removes its module, smart build compiles it
    again, smart validate runs a database with it."""
    site = tmp_path / "site"
    shutil.copytree(Path(smartsim.__file__).parent, site / "smartsim",
                    ignore=shutil.ignore_patterns("__pycache__",
                                                  aimodule_build.BUILD_DIR_PREFIX + "*"))
    lib = site / "smartsim" / "_core" / "lib"
    (lib / (aimodule_build.BUILD_DIR_PREFIX + "killed")).mkdir()
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(SRC)]), "TMPDIR": str(own_tmp),
           "SMARTSIM_REDISAI": ""}

    def files():
        return sorted(str(p.relative_to(site)) for p in site.rglob("*")
                      if "__pycache__" not in p.parts)

    before = files()
    proc = smart("site", env=env)
    assert Path(proc.stdout.strip()) == site / "smartsim"
    proc = smart("clobber", env=env)
    assert proc.returncode == 0, proc.stderr
    removed = set(before) - set(files())
    assert removed == {"smartsim/_core/lib/redisai.so",
                       "smartsim/_core/lib/" + aimodule_build.BUILD_DIR_PREFIX + "killed"}
    proc = smart("build", "--skip-torch", "--skip-onnx", "--skip-tensorflow", env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"{lib / 'redisai.so'} (not built): compiling..." in proc.stdout
    assert (lib / "redisai.so").is_file()
    proc = smart("validate", env=env)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "tensor round trip: ok" in proc.stdout
    assert proc.stdout.rstrip().endswith("smart validate: ok")


def test_clean_refuses_when_the_module_could_not_be_compiled_again(capsys, lib_dir,
                                                                    monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/cc")  # what build() would run (customize_compiler)
    why = aimodule_build.missing_compiler()
    assert why is not None and "/nonexistent/cc" in why
    for argv in (["clean"], ["clobber"]):
        rc, out, err = run(capsys, *argv)
        assert rc == os.EX_SOFTWARE
        assert f"not removing {lib_dir / aimodule_build.MODULE_FILENAME}" in err
        assert "/nonexistent/cc" in err and "C compiler" in err and "`smart build`" in err
        assert "removed" not in out
    assert (lib_dir / aimodule_build.MODULE_FILENAME).is_file()
    monkeypatch.delenv("CC")
    assert aimodule_build.missing_compiler() is None  # this machine compiles it
    rc, out, _ = run(capsys, "clean")
    assert rc == os.EX_OK and out.count("removed ") == 2


def test_clean_refuses_without_sources(capsys, lib_dir, monkeypatch):
    monkeypatch.setattr(aimodule_build, "sources", lambda: [])
    rc, _, err = run(capsys, "clobber")
    assert rc == os.EX_SOFTWARE and "its sources are not installed" in err
    assert (lib_dir / aimodule_build.MODULE_FILENAME).is_file()


@pytest.fixture
def no_module(tmp_path, monkeypatch):
    """The package's module is missing (as after `smart clean`)."""
    from smartsim._core.server import discovery  # pylint: disable=import-outside-toplevel

    monkeypatch.delenv("SMARTSIM_REDISAI", raising=False)
    monkeypatch.setattr(discovery, "_module_path", lambda: tmp_path / "gone" / "redisai.so")
    monkeypatch.setattr(discovery, "_WARNED_MISSING", set())
    assert discovery.find_ai_module() is None
    return tmp_path / "gone" / "redisai.so"


def test_database_without_the_module_warns_once(no_module, tmp_path):
    import logging  # pylint: disable=import-outside-toplevel

    from smartsim.database import Orchestrator  # pylint: disable=import-outside-toplevel

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("smartsim").addHandler(handler)
    try:
        orc = Orchestrator(path=str(tmp_path / "db"), port=free_ports())
        for _ in range(2):  # two starts: one warning
            configs = orc._shard_configs()  # pylint: disable=protected-access
            assert configs[0].module is None
    finally:
        logging.getLogger("smartsim").removeHandler(handler)
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(no_module) in warnings[0] and "`smart build`" in warnings[0]
    assert "AI.*" in warnings[0]


def test_database_that_asks_for_executors_refuses_without_the_module(no_module, tmp_path):
    from smartsim.database import Orchestrator  # pylint: disable=import-outside-toplevel
    from smartsim.error import SSConfigError  # pylint: disable=import-outside-toplevel

    orc = Orchestrator(path=str(tmp_path / "db"), port=free_ports(), executor=True)
    with pytest.raises(SSConfigError) as exc:
        orc._shard_configs()  # pylint: disable=protected-access
    assert "executor=True" in str(exc.value) and str(no_module) in str(exc.value)
    assert "`smart build`" in str(exc.value)


# ------------------------------------------------------------------ smart build: details


def test_build_says_when_another_process_compiled_the_module(capsys, tmp_path, monkeypatch):
    folder = tmp_path / "lib"
    folder.mkdir()
    monkeypatch.setattr(aimodule_build, "LIB_DIR", folder)
    monkeypatch.setattr(aimodule_build, "build_in_place",
                        lambda lib: (Path(lib) / aimodule_build.MODULE_FILENAME, False))
    rc, out, err = run(capsys, "build", "--skip-torch", "--skip-onnx", "--skip-tensorflow")
    assert rc == os.EX_OK, err
    assert "compiled meanwhile by another process" in out and "compiled in" not in out


def test_build_names_the_lock_it_cannot_open(capsys, tmp_path, monkeypatch):
    folder = tmp_path / "lib"
    folder.mkdir()
    monkeypatch.setattr(aimodule_build, "LIB_DIR", folder)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-tmp"))
    rc, _, err = run(capsys, "build", "--skip-torch", "--skip-onnx", "--skip-tensorflow")
    assert rc == os.EX_SOFTWARE
    assert f"cannot open the build lock {tmp_path / 'no-such-tmp'}" in err
    assert "cannot write the RedisAI-compatible module into" not in err


def test_runtimes_are_the_executor_backends_packages():
    from smartsim._core.executor import backends  # pylint: disable=import-outside-toplevel

    packages = {p for b in backends.BACKENDS for p in backends.PACKAGES[b]}
    assert set(RUNTIMES) == packages and len(RUNTIMES) == len(packages)
    by_name = {r.package: r for r in cli._runtimes()}  # pylint: disable=protected-access
    assert by_name["tflite_runtime"].backends == ("TFLITE",)
    assert by_name["tensorflow"].serves == "TF and TFLITE models"
    assert by_name["torch"].serves == "TORCH models and scripts"


# ------------------------------------------------------------------ smart validate: usage


def test_validate_two_shards_is_a_usage_error(capsys, own_tmp):
    with pytest.raises(SystemExit) as exc:
        cli.main(["validate", "--shards", "2"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "'2'" in err and "at least 3" in err
    assert not list(own_tmp.glob("smart-validate-*"))


def test_validate_cluster_without_room_for_bus_ports(capsys, own_tmp):
    rc, out, err = run(capsys, "validate", "-p", "60000", "--shards", "3")
    assert rc == os.EX_USAGE
    assert "bus" in err and "60000" in err
    assert "database:" not in out and not list(own_tmp.glob("smart-validate-*"))


def test_validate_gpu_executors_without_touching_the_environment(capsys, own_tmp,
                                                                  monkeypatch):
    from smartsim import Experiment  # pylint: disable=import-outside-toplevel
    from smartsim._core.server import net  # pylint: disable=import-outside-toplevel

    seen = []

    def start(_exp, db, **_kw):
        seen.append((db._executor_device,  # pylint: disable=protected-access
                     os.environ.get("SMARTSIM_EXECUTOR_ARGS")))
        raise net.PortUnavailable("database 'orchestrator': port 1 on 127.0.0.1 is already in use")

    monkeypatch.setenv("SMARTSIM_EXECUTOR_ARGS", "--threads 2")
    monkeypatch.setattr(Experiment, "start", start)
    rc, _, err = run(capsys, "validate", "--device", "gpu")
    assert rc == os.EX_USAGE and "-p/--port" in err
    assert seen == [("GPU:0", "--threads 2")]
    assert not list(own_tmp.glob("smart-validate-*"))


def test_free_base_port_leaves_room_for_bus_ports():
    from smartsim._core.server import net  # pylint: disable=import-outside-toplevel

    base = net.free_base_port(3, cluster=True)
    ports = net.database_ports(base, 3, cluster=True)
    assert ports == [base, base + 1, base + 2] + [p + net.CLUSTER_BUS_OFFSET
                                                  for p in (base, base + 1, base + 2)]
    assert all(net.port_in_use("127.0.0.1", p) is None for p in ports)


# ------------------------------------------------------------------ smart dashboard


def test_dashboard_not_installed(capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "smartdashboard" else real(name, *a))
    rc, _, err = run(capsys, "dashboard", "--port", "8888")
    assert rc == os.EX_CONFIG and "smartdashboard plugin not found" in err


def test_dashboard_runs_the_plugin_with_its_arguments(tmp_path):
    plugin = tmp_path / "smartdashboard"
    plugin.mkdir()
    (plugin / "__init__.py").write_text("")
    (plugin / "__main__.py").write_text(
        "import sys\nprint('dashboard', sys.argv[1:])\nsys.exit(3)\n")
    proc = smart("dashboard", "--port", "8888", "-d", "exp",
                 env={"PYTHONPATH": os.pathsep.join([str(tmp_path), str(SRC)])})
    assert proc.returncode == 3
    assert proc.stdout.strip() == "dashboard ['--port', '8888', '-d', 'exp']"
