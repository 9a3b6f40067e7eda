"""ML backends: TorchScript models and scripts (torch), ONNX (onnxruntime), TF/TFLite.

Every runtime is optional and imported on first use. A backend whose python package is
missing raises :class:`BackendUnavailable` (its message names the package); a model or
script that the runtime rejects, or that fails while running, raises
:class:`BackendError` with the runtime's own message.

A loaded object has ``run(arrays, n_outputs) -> list of ndarrays`` (models) or
``run(fn_name, arrays, keys, args, n_outputs)`` (scripts); arrays are numpy, on the
host. Messages follow RedisAI 1.2.7's wording where it has one.
"""
from __future__ import annotations

import importlib
import importlib.util
import io
import math
import os
import sys
import threading
import time
import warnings
from collections import OrderedDict
from typing import Any, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    "BACKENDS",
    "BackendError",
    "BackendUnavailable",
    "ModelCache",
    "OnnxModel",
    "TFLiteModel",
    "TFModel",
    "TorchModel",
    "TorchScript",
    "available_backends",
    "load_model",
    "load_script",
    "package_available",
    "parse_device",
    "prewarm",
    "resolve_devices",
    "visible_gpus",
]

BACKENDS = ("TORCH", "ONNX", "TF", "TFLITE")

# The python package each backend needs (first available one wins).
PACKAGES: Dict[str, Tuple[str, ...]] = {
    "TORCH": ("torch",),
    "ONNX": ("onnxruntime",),
    "TF": ("tensorflow",),
    "TFLITE": ("tensorflow", "tflite_runtime", "ai_edge_litert"),
}


# Runtimes an idle executor imports ahead of the first job. TensorFlow (TF, TFLITE) is not
# among them: its import costs ~3 s of CPU and ~500 MB per executor, paid by every shard
# of every database whether or not it ever runs a TF model; the first TF/TFLITE model
# stored (validated at store time) imports it instead.
PREWARMED = ("TORCH", "ONNX")


class BackendError(RuntimeError):
    """The runtime rejected a model/script or failed while running it."""


class BackendUnavailable(BackendError):
    """The python package a backend needs is not installed (or does not import)."""


# Intra-op threads for the runtimes (0: runtime default). Set by the worker.
NUM_THREADS = 0
# Timed calls per candidate thread count when a TorchScript model meets a new batch size
# (TorchModel._pick).
THREAD_TRIALS = 5
# Only batches whose call on the configured threads takes less than this are measured on
# one thread too: a bigger one gains from the threads, and a slow one-thread call costs more.
THREAD_TRIAL_MAX_S = 0.005
# False once torch refused to change its thread count (RuntimeError): no more trials.
_pick_threads = True

_import_lock = threading.RLock()
_modules: Dict[str, Any] = {}


def package_available(name: str) -> bool:
    """Whether ``import name`` can be expected to work, without importing it."""
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def available_backends() -> List[str]:
    """Backends whose python package is installed, in :data:`BACKENDS` order."""
    return [b for b in BACKENDS if any(package_available(p) for p in PACKAGES[b])]


def _import(backend: str):
    """Import the package behind ``backend`` or raise :class:`BackendUnavailable`."""
    mod = _modules.get(backend)
    if mod is not None:
        return mod
    with _import_lock:
        mod = _modules.get(backend)
        if mod is not None:
            return mod
        errors = []
        for pkg in PACKAGES[backend]:
            if not package_available(pkg):
                errors.append(f"python package '{pkg}' is not installed")
                continue
            if pkg == "tensorflow":  # its C++ start-up chatter would fill the executor's log
                os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    mod = importlib.import_module(pkg)
            except Exception as exc:  # a broken install: report it, do not crash
                errors.append(f"python package '{pkg}' failed to import: {exc}")
                continue
            if pkg == "torch":
                warnings.filterwarnings(
                    "ignore", message="The given NumPy array is not writable")
                if NUM_THREADS > 0:
                    mod.set_num_threads(NUM_THREADS)
            _modules[backend] = mod
            return mod
        raise BackendUnavailable(f"backend {backend} unavailable: " + "; ".join(errors))


def prewarm(backends: Sequence[str]) -> None:
    """Import the runtimes of ``backends`` (errors are left for first use)."""
    for b in backends:
        try:
            _import(b)
        except BackendError:
            pass


def parse_device(device: str) -> Tuple[str, int]:
    """``"CPU"``, ``"GPU"``, ``"GPU:1"`` (any case) -> ``("GPU", 1)``."""
    text = (device or "CPU").strip().upper()
    kind, _, idx = text.partition(":")
    if kind not in ("CPU", "GPU"):
        raise BackendError(f"unsupported device {device!r}")
    try:
        index = int(idx) if idx else 0
    except ValueError:
        raise BackendError(f"unsupported device {device!r}") from None
    if index < 0:
        raise BackendError(f"unsupported device {device!r}")
    return kind, index


# Where the NVIDIA driver lists the GPUs of this host (one entry per GPU).
NVIDIA_GPUS_DIR = "/proc/driver/nvidia/gpus"


def visible_gpus(environ: Optional[Mapping[str, str]] = None, gpus_dir: str = NVIDIA_GPUS_DIR) -> int:
    """How many GPUs CUDA numbers ``GPU:0``, ``GPU:1``, ... on this host, found without
    importing an ML runtime (seconds): the NVIDIA driver's entries in ``gpus_dir``, limited
    by ``CUDA_VISIBLE_DEVICES`` as CUDA reads it (indices or ``GPU-``/``MIG-`` UUIDs, up to the
    first entry that names no device: an empty value or ``-1`` hides every GPU)."""
    env = os.environ if environ is None else environ
    try:
        present = len(os.listdir(gpus_dir))
    except OSError:
        return 0
    mask = env.get("CUDA_VISIBLE_DEVICES")
    if mask is None:
        return present
    count = 0
    for item in (part.strip() for part in mask.split(",")):
        if (item.isdigit() and int(item) < present) or item.startswith(("GPU-", "MIG-")):
            count += 1
        else:
            break
    return min(count, present)


def resolve_devices(text: str, gpus: Optional[int] = None) -> List[str]:
    """The executor's ``--device``: ``auto`` (CPU and every GPU of :func:`visible_gpus`, or
    ``gpus`` of them) or a comma-separated list of ``CPU``, ``GPU``, ``GPU:n``, each once;
    normalised (``GPU`` -> ``GPU:0``). Raises :class:`BackendError` naming a bad entry."""
    if text.strip().lower() == "auto":
        n = visible_gpus() if gpus is None else gpus
        return ["CPU"] + [f"GPU:{i}" for i in range(n)]
    out: List[str] = []
    for item in text.split(","):
        if not item.strip():
            raise BackendError(f"empty device in {text!r}; expected auto or CPU, GPU, GPU:n, "
                               "separated by commas")
        kind, index = parse_device(item)
        name = "CPU" if kind == "CPU" else f"GPU:{index}"
        if name in out:
            raise BackendError(f"device {name} given twice in {text!r}")
        out.append(name)
    return out


def _one_line(msg: object, limit: int = 4000) -> str:
    text = " ".join(str(msg).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- torch
def _torch_device(torch, device: str):
    kind, index = parse_device(device)
    if kind == "CPU":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise BackendError("GPU requested but Torch couldn't find CUDA")
    count = torch.cuda.device_count()
    if index >= count:
        raise BackendError(
            f"GPU:{index} requested but Torch sees {count} CUDA device(s)")
    return torch.device("cuda", index)


def _to_torch(torch, arr: np.ndarray, device):
    if arr.dtype.kind == "O":
        raise BackendError("STRING tensors are not supported by the TORCH backend")
    t = torch.from_numpy(arr)
    if device.type != "cpu":
        t = t.to(device, non_blocking=True)
    return t


def _torch_outputs(torch, value, fn_name: str, n_outputs: int) -> List[np.ndarray]:
    """Flatten a TorchScript return value the way RedisAI's torchHandlOutputs does."""
    if n_outputs == 0:
        return []
    if n_outputs == 1 and type(value) is torch.Tensor and value.device.type == "cpu":
        try:
            return [value.contiguous().numpy()]
        except (TypeError, RuntimeError):
            pass  # e.g. requires grad, bfloat16: the general path below
    if isinstance(value, torch.Tensor):
        flat = [value]
    elif isinstance(value, (list, tuple)):
        flat = list(value)
        for t in flat:
            if not isinstance(t, torch.Tensor):
                raise BackendError(f"Function returned non-tensor values{fn_name}")
    else:
        raise BackendError(f"Function returned non-tensor values{fn_name}")
    if len(flat) != n_outputs:
        raise BackendError(f"Function returned unexpected number of outputs - {fn_name}")
    out = []
    for t in flat:
        if t.device.type != "cpu":
            t = t.cpu()
        if t.requires_grad:
            t = t.detach()
        try:
            out.append(t.contiguous().numpy())
        except TypeError as exc:  # e.g. bfloat16
            raise BackendError(f"output of {fn_name} has unsupported type {t.dtype}") from exc
    return out


class TorchModel:
    """A TorchScript module (``torch.jit.save`` output)."""

    backend = "TORCH"

    def __init__(self, blob, device: str = "CPU"):
        torch = self.torch = _import("TORCH")
        self.device = _torch_device(torch, device)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.jit.load is "deprecated" in torch 2.x
                self.module = torch.jit.load(io.BytesIO(bytes(blob)), map_location=self.device)
            self.module.eval()
            self.forward = self.module.forward  # skips nn.Module.__call__ hooks
        except Exception as exc:
            raise BackendError(_one_line(exc)) from exc
        # rows (dim 0 of the first input, rounded down to a power of two: at most 64 keys)
        # -> intra-op threads that ran it faster; see _pick
        self._threads_for: Dict[int, int] = {}
        self._trials: Dict[int, List[float]] = {}
        self._warm = False  # a call has run (the first one of a TorchScript model is slow)

    def _pick(self, rows: int, threads: int):
        """Intra-op threads for a call of ``rows`` rows: ``threads`` (the configured count)
        or 1. Small batches of small models often run slower on several threads (waking
        the pool costs more than the work it shares), so the first calls of each row count
        (rounded down to a power of two) run on both and the faster (best of
        :data:`THREAD_TRIALS` each, switching the count included) is kept. The first two
        trials use ``threads``: if neither took less than :data:`THREAD_TRIAL_MAX_S` (a big
        batch), ``threads`` is kept without a call on one thread. Never more than
        ``threads``. Returns (threads, trial slot or None)."""
        if not _pick_threads:
            return threads, None
        if rows > 0:
            rows = 1 << (rows.bit_length() - 1)
        chosen = self._threads_for.get(rows)
        if chosen is not None:
            return chosen, None
        trial = self._trials.get(rows)
        if trial is None:
            if len(self._trials) >= 64:  # many shapes at once: stop measuring, keep the count
                self._threads_for[rows] = threads
                return threads, None
            trial = self._trials[rows] = [math.inf, math.inf, 0]
        n = int(trial[2])
        if n >= 2 * THREAD_TRIALS or (n == 2 and trial[0] >= THREAD_TRIAL_MAX_S):
            del self._trials[rows]
            best = 1 if trial[1] < trial[0] else threads
            self._threads_for[rows] = best
            return best, None
        # threads, threads, 1, 1, then alternating: 5 of each in 10 calls
        return (1 if n == 2 or (n > 2 and n % 2 == 1) else threads), trial

    def _set_threads(self, n: int) -> bool:
        """torch.set_num_threads(n); False (and no more trials, in any model) if torch
        refuses to change the count."""
        global _pick_threads  # pylint: disable=global-statement
        try:
            self.torch.set_num_threads(n)
            return True
        except RuntimeError:
            _pick_threads = False
            self._trials.clear()
            return False

    def run(self, arrays: Sequence[np.ndarray], n_outputs: int) -> List[np.ndarray]:
        torch = self.torch
        grad = torch.is_grad_enabled()
        trial = None
        threads = use = 1
        if self.device.type == "cpu":
            threads = torch.get_num_threads()
            if threads > 1:
                rows = arrays[0].shape[0] if arrays and arrays[0].ndim else 0
                use, trial = self._pick(rows, threads)
        switched = False  # the count is ``use`` now and must go back to ``threads``
        try:
            if grad:  # as RedisAI's NoGradGuard, without a context manager per call
                torch._C._set_grad_enabled(False)
            # A trial times the switch to ``use`` threads and back too: on some builds a
            # switch rebuilds the thread pool, which one thread must win back.
            t0 = time.perf_counter() if trial is not None else 0.0
            if use != threads:
                switched = self._set_threads(use)
                if not switched:
                    trial = None
            if len(arrays) == 1:
                value = self.forward(_to_torch(torch, arrays[0], self.device))
            else:
                value = self.forward(*[_to_torch(torch, a, self.device) for a in arrays])
            if switched:
                switched = False
                self._set_threads(threads)
            if trial is not None:
                elapsed = time.perf_counter() - t0
                if self._warm:  # the first call of a model is slow whatever its rows
                    slot = 0 if use == threads else 1
                    trial[slot] = min(trial[slot], elapsed)
                    trial[2] += 1
            self._warm = True
            return _torch_outputs(torch, value, "forward", n_outputs)
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(_one_line(exc)) from exc
        finally:
            if grad:
                torch._C._set_grad_enabled(True)
            if switched:
                self._set_threads(threads)


def _script_resolver(torch):
    import math

    names = {"torch": torch, "math": math, "np": None}

    def rcb(name: str):
        return names.get(name)

    return rcb


def _arg_kind(arg) -> str:
    """``TENSOR``, ``TENSOR_LIST``, ``STRING_LIST``, ... for a schema argument."""
    t = arg.type
    kind = t.kind()
    if kind == "TensorType":
        return "TENSOR"
    if kind == "ListType":
        elem = t.getElementType().kind()
        return {"TensorType": "TENSOR_LIST", "StringType": "STRING_LIST",
                "IntType": "INT_LIST", "FloatType": "FLOAT_LIST"}.get(elem, "UNKNOWN")
    return {"IntType": "INT", "FloatType": "FLOAT", "StringType": "STRING"}.get(kind, "UNKNOWN")


class TorchScript:
    """TorchScript source with one or more functions (``AI.SCRIPTSTORE``/``SCRIPTSET``).

    A function listed as an entry point (``SCRIPTSTORE ... ENTRY_POINTS``) is called as
    RedisAI 1.2.7 does: ``fn(tensors: List[Tensor], keys: List[str], args: List[str])``.
    Any other function (scripts set with ``SCRIPTSET``) is called in RedisAI's "best
    effort" way: one input tensor per ``Tensor`` parameter, and a ``List[Tensor]``
    parameter takes all the remaining inputs (the variadic form). A non-entry-point
    function whose signature is the entry-point one gets the entry-point call too.
    """

    backend = "TORCH"

    def __init__(self, source, device: str = "CPU", entry_points: Sequence[str] = ()):
        torch = self.torch = _import("TORCH")
        self.device = _torch_device(torch, device)
        if isinstance(source, (bytes, bytearray, memoryview)):
            source = bytes(source).decode("utf-8")
        try:
            cu = torch._C.CompilationUnit()
            cu.define(source, _script_resolver(torch))
        except Exception as exc:
            raise BackendError(_one_line(exc)) from exc
        self.cu = cu
        self.entry_points = set(
            e.decode() if isinstance(e, (bytes, bytearray)) else str(e) for e in entry_points)
        self._calls: Dict[str, Tuple[Any, str, List[str]]] = {}
        for ep in self.entry_points:
            fn = cu.find_function(ep)
            if fn is None:
                raise BackendError(f"Function {ep} does not exist in the given script.")
            kinds = [_arg_kind(a) for a in fn.schema.arguments]
            if len(kinds) != 3:
                raise BackendError(
                    f"Wrong number of inputs in function {ep}. Expected 3 but was {len(kinds)}")
            if kinds != ["TENSOR_LIST", "STRING_LIST", "STRING_LIST"]:
                raise BackendError(
                    f"Wrong inputs type in function {ep}. Expected signature similar to: "
                    f"def {ep}(tensors: List[Tensor], keys: List[str], args: List[str])")

    def functions(self) -> List[str]:
        return [f.name for f in self.cu.get_functions()]

    def _call_plan(self, fn_name: str):
        plan = self._calls.get(fn_name)
        if plan is not None:
            return plan
        fn = self.cu.find_function(fn_name)
        if fn is None:
            raise BackendError(f"Function does not exist: {fn_name}")
        kinds = [_arg_kind(a) for a in fn.schema.arguments]
        if fn_name in self.entry_points or kinds == ["TENSOR_LIST", "STRING_LIST", "STRING_LIST"]:
            mode = "entry"
        else:
            mode = "positional"
            for k in kinds:
                if k == "TENSOR_LIST":
                    break
                if k != "TENSOR":
                    raise BackendError(
                        f"Unsupported input type in function definition: {fn_name}")
        plan = (fn, mode, kinds)
        self._calls[fn_name] = plan
        return plan

    def run(self, fn_name: str, arrays: Sequence[np.ndarray], keys: Sequence,
            args: Sequence, n_outputs: int) -> List[np.ndarray]:
        torch = self.torch
        try:
            fn, mode, kinds = self._call_plan(fn_name)
            tensors = [_to_torch(torch, a, self.device) for a in arrays]
            if mode == "entry":
                stack = [tensors, [_s(k) for k in keys], [_s(a) for a in args]]
            else:
                if len(kinds) > len(tensors):
                    raise BackendError(
                        f"Wrong number of inputs provided to function: {fn_name}")
                stack = []
                for i, k in enumerate(kinds):
                    if k == "TENSOR":
                        stack.append(tensors[i])
                    else:  # TENSOR_LIST: the rest of the inputs
                        stack.append(tensors[i:])
                        break
            with torch.no_grad():
                value = fn(*stack)
            return _torch_outputs(torch, value, fn_name, n_outputs)
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(_one_line(exc)) from exc


def _s(value) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


# ---------------------------------------------------------------------------- onnx
class OnnxModel:
    """An ONNX model run by onnxruntime."""

    backend = "ONNX"

    def __init__(self, blob, device: str = "CPU"):
        ort = _import("ONNX")
        kind, index = parse_device(device)
        if kind == "GPU":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendError("GPU requested but ONNX couldn't find CUDA")
            providers = [("CUDAExecutionProvider", {"device_id": index}),
                         "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        opts = ort.SessionOptions()
        if NUM_THREADS > 0:
            opts.intra_op_num_threads = NUM_THREADS
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(bytes(blob), sess_options=opts,
                                                providers=providers)
        except Exception as exc:
            raise BackendError(_one_line(exc)) from exc
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.string_inputs = {i.name for i in self.session.get_inputs() if "string" in i.type}
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, arrays: Sequence[np.ndarray], n_outputs: int) -> List[np.ndarray]:
        if len(arrays) != len(self.input_names):
            raise BackendError(
                f"Expected {len(self.input_names)} inputs but got {len(arrays)}")
        if n_outputs != len(self.output_names):
            raise BackendError(
                f"Expected {len(self.output_names)} outputs but got {n_outputs}")
        feed = {}
        for name, arr in zip(self.input_names, arrays):
            if arr.dtype == object:
                arr = np.vectorize(_s, otypes=[object])(arr) if arr.size else arr
            feed[name] = arr
        try:
            outs = self.session.run(None, feed)
        except Exception as exc:
            raise BackendError(_one_line(exc)) from exc
        return [np.asarray(o) for o in outs]


# ------------------------------------------------------------------------------ tf
def _tf_device(device: str) -> str:
    kind, index = parse_device(device)
    return f"/{kind}:{index}"


class TFModel:
    """A frozen TensorFlow graph (GraphDef) with named inputs and outputs."""

    backend = "TF"

    def __init__(self, blob, device: str = "CPU", inputs: Sequence = (),
                 outputs: Sequence = ()):
        tf = _import("TF")
        if parse_device(device)[0] == "GPU" and not tf.config.list_physical_devices("GPU"):
            raise BackendError("GPU requested but TF couldn't find CUDA")
        v1 = tf.compat.v1
        try:
            graph_def = v1.GraphDef()
            graph_def.ParseFromString(bytes(blob))
            graph = tf.Graph()
            with graph.as_default(), tf.device(_tf_device(device)):
                tf.graph_util.import_graph_def(graph_def, name="")
            config = v1.ConfigProto(allow_soft_placement=True)
            if NUM_THREADS > 0:
                config.intra_op_parallelism_threads = NUM_THREADS
            self.session = v1.Session(graph=graph, config=config)
            self.inputs = [graph.get_tensor_by_name(_tf_name(n)) for n in inputs]
            self.outputs = [graph.get_tensor_by_name(_tf_name(n)) for n in outputs]
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(_one_line(exc)) from exc

    def run(self, arrays: Sequence[np.ndarray], n_outputs: int) -> List[np.ndarray]:
        if len(arrays) != len(self.inputs):
            raise BackendError(f"Expected {len(self.inputs)} inputs but got {len(arrays)}")
        if n_outputs != len(self.outputs):
            raise BackendError(f"Expected {len(self.outputs)} outputs but got {n_outputs}")
        try:
            outs = self.session.run(self.outputs, dict(zip(self.inputs, arrays)))
        except Exception as exc:
            raise BackendError(_one_line(exc)) from exc
        return [np.asarray(o) for o in outs]


def _tf_name(name) -> str:
    name = _s(name)
    return name if ":" in name else name + ":0"


class TFLiteModel:
    """A TFLite flatbuffer run by ``tf.lite.Interpreter`` (or ``tflite_runtime``)."""

    backend = "TFLITE"

    def __init__(self, blob, device: str = "CPU"):
        mod = _import("TFLITE")
        if parse_device(device)[0] == "GPU":
            raise BackendError("GPU is not supported by the TFLITE backend")
        if hasattr(mod, "lite"):
            interpreter_cls = mod.lite.Interpreter
        else:  # tflite_runtime or LiteRT (ai_edge_litert)
            interpreter_cls = importlib.import_module(mod.__name__ + ".interpreter").Interpreter
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
                self.interp = interpreter_cls(model_content=bytes(blob),
                                              num_threads=NUM_THREADS or None)
            self.interp.allocate_tensors()
        except Exception as exc:
            raise BackendError(_one_line(exc)) from exc
        self.input_details = self.interp.get_input_details()
        self.output_details = self.interp.get_output_details()

    def run(self, arrays: Sequence[np.ndarray], n_outputs: int) -> List[np.ndarray]:
        if len(arrays) != len(self.input_details):
            raise BackendError(
                f"Expected {len(self.input_details)} inputs but got {len(arrays)}")
        if n_outputs != len(self.output_details):
            raise BackendError(
                f"Expected {len(self.output_details)} outputs but got {n_outputs}")
        try:
            resized = False
            for det, arr in zip(self.input_details, arrays):
                if tuple(det["shape"]) != arr.shape:
                    self.interp.resize_tensor_input(det["index"], list(arr.shape))
                    resized = True
            if resized:
                self.interp.allocate_tensors()
                self.input_details = self.interp.get_input_details()
            for det, arr in zip(self.input_details, arrays):
                self.interp.set_tensor(det["index"], np.ascontiguousarray(arr))
            self.interp.invoke()
            return [np.array(self.interp.get_tensor(d["index"])) for d in self.output_details]
        except Exception as exc:
            raise BackendError(_one_line(exc)) from exc


# ------------------------------------------------------------------------- loading
def load_model(backend: str, device: str, blob, inputs: Sequence = (),
               outputs: Sequence = ()):
    """Load a model blob with ``backend`` (TORCH, ONNX, TF, TFLITE)."""
    backend = _s(backend).upper()
    if backend == "TORCH":
        return TorchModel(blob, device)
    if backend == "ONNX":
        return OnnxModel(blob, device)
    if backend == "TF":
        return TFModel(blob, device, inputs, outputs)
    if backend == "TFLITE":
        return TFLiteModel(blob, device)
    raise BackendError(f"unsupported backend {backend}")


def load_script(device: str, source, entry_points: Sequence = ()) -> TorchScript:
    """Compile TorchScript source (scripts always run on the TORCH backend)."""
    return TorchScript(source, device, entry_points)


class ModelCache:
    """Loaded models and scripts by ``(key, version)``; one version per key, LRU-bounded."""

    def __init__(self, max_entries: int = 256):
        self.max_entries = max_entries
        self._items: "OrderedDict[Tuple[Hashable, int], Any]" = OrderedDict()
        self._version_of: Dict[Hashable, int] = {}

    def get(self, key: Hashable, version: int) -> Optional[Any]:
        item = self._items.get((key, version))
        if item is not None:
            self._items.move_to_end((key, version))
        return item

    def put(self, key: Hashable, version: int, obj: Any) -> None:
        old = self._version_of.get(key)
        if old is not None and old != version:
            self._items.pop((key, old), None)
        self._version_of[key] = version
        self._items[(key, version)] = obj
        self._items.move_to_end((key, version))
        while len(self._items) > self.max_entries:
            (k, v), _ = self._items.popitem(last=False)
            if self._version_of.get(k) == v:
                del self._version_of[k]

    def clear(self) -> None:
        self._items.clear()
        self._version_of.clear()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, kv) -> bool:
        return kv in self._items
