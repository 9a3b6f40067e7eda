"""ML objects attached to models and ensembles: loaded into the database(s) at start.

``DBModel`` (a TF, TFLITE, TORCH or ONNX model, from memory or from file) and ``DBScript``
(TorchScript from a string, a file or a Python function) as in SmartSim 0.8. Every
argument is checked here, when the object is made (so ``add_ml_model`` & co. refuse a bad
value at the call that gives it, naming it), including the combinations that 0.8 lets
through and that only fail when the database is asked to store or run the object.
"""
from __future__ import annotations

import hashlib
import os
import re
import typing as t
from pathlib import Path

from ..error import ParameterError, ParameterTypeError, SSUnsupportedError

__all__ = ["DBObject", "DBModel", "DBScript", "BACKENDS"]

BACKENDS = ("TF", "TFLITE", "TORCH", "ONNX")
_DEVICE = re.compile(r"(CPU|GPU)(?::(\d+))?\Z")
_BAD_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _check_int(value: t.Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterTypeError(f"{what} must be an int, got {type(value).__name__}: {value!r}")
    if value < minimum:
        bound = "positive" if minimum == 1 else "non-negative"
        raise ParameterError(f"{what} must be a {bound} int, got {value}")
    return value


def _check_object_name(name: t.Any, kind: str) -> str:
    if not isinstance(name, str):
        raise ParameterTypeError(f"the name of an {kind} must be a str, got "
                                 f"{type(name).__name__}: {name!r}")
    if not name or _BAD_NAME_CHARS.search(name):
        raise ParameterError(f"{name!r} is not a valid name for an {kind}: it is the key the "
                             "object is stored under (non-empty, no control characters)")
    return name


def _check_filepath(file: t.Any, what: str) -> Path:
    if not isinstance(file, (str, os.PathLike)):
        raise ParameterTypeError(f"{what} must be a str or path, got {type(file).__name__}: {file!r}")
    path = Path(os.fspath(file)).resolve()
    if not path.is_file():
        raise FileNotFoundError(2, f"{what} does not exist or is not a file", str(path))
    if not os.access(path, os.R_OK):
        raise PermissionError(13, f"{what} is not readable", str(path))
    return path


def _check_device(device: t.Any) -> t.Tuple[str, t.Optional[int]]:
    """``(normalised device, device number or None)``: CPU, GPU, CPU:n or GPU:n (any case)."""
    if not isinstance(device, str):
        raise ParameterTypeError(f"device must be a str, got {type(device).__name__}: {device!r}")
    if not device.lower().startswith(("cpu", "gpu")):
        raise ParameterError(f"Device argument must start with either CPU or GPU, got {device!r}")
    match = _DEVICE.match(device.strip().upper())
    if not match:
        raise ParameterError(f"device {device!r} is not a device: expected CPU, GPU, CPU:<n> or GPU:<n>")
    number = match.group(2)
    return match.group(0), (int(number) if number is not None else None)


class DBObject:
    """What models and scripts have in common: a name (the key they are stored under),
    their source (``func``: in memory; ``file``: a resolved path) and devices."""

    _kind = "object"

    def __init__(self, name: str, func: t.Any, file_path: t.Optional[t.Union[str, os.PathLike]],
                 device: str, devices_per_node: int, first_device: int) -> None:
        self.name = _check_object_name(name, self._kind)
        self.func = func
        self.file: t.Optional[Path] = None
        if file_path is not None and file_path != "":
            self.file = _check_filepath(file_path, f"the file of {self._kind} {name!r}")
        self.device, number = _check_device(device)
        self.devices_per_node = _check_int(devices_per_node, "devices_per_node", 1)
        self.first_device = _check_int(first_device, "first_device", 0)
        kind = self.device.split(":")[0]
        if kind == "CPU" and self.devices_per_node > 1:
            raise SSUnsupportedError("Cannot set devices_per_node>1 if CPU is specified under devices")
        if kind == "CPU" and self.first_device > 0:
            raise SSUnsupportedError("Cannot set first_device>0 if CPU is specified under devices")
        if number is not None and self.devices_per_node > 1:
            raise ParameterError(
                "Cannot set devices_per_node>1 if a device numeral is specified, the device was "
                f"set to {device} and devices_per_node=={self.devices_per_node}")
        if number is not None and self.first_device > 0:
            raise ParameterError(
                f"Cannot set first_device>0 if a device numeral is specified, the device was set "
                f"to {device} and first_device=={self.first_device}")

    @property
    def devices(self) -> t.List[str]:
        """The devices the object is stored for: ``GPU:first .. GPU:first+n-1`` when
        ``devices_per_node`` > 1 on GPU, else just ``device``."""
        if self.device == "GPU" and self.devices_per_node > 1:
            return [f"GPU:{i}" for i in range(self.first_device, self.first_device + self.devices_per_node)]
        return [self.device]

    @property
    def multigpu(self) -> bool:
        """Stored with SmartRedis's ``*_multigpu`` calls (keys ``<name>.GPU:<n>``)."""
        return self.device == "GPU" and self.devices_per_node > 1

    @property
    def is_file(self) -> bool:
        """True when the object is stored from a file (``model_path``/``script_path``) rather
        than from bytes, source text or a function held in memory.
        """
        return not self.func

    def _signature(self) -> t.Tuple[t.Any, ...]:
        """What the database receives, as a hashable value (equal signatures: the same
        object twice, stored once)."""
        raise NotImplementedError

    def _devices_str(self) -> str:
        devices = self.device + ("s per node\n" if self.devices_per_node > 1 else " per node\n")
        text = f"Devices: {self.devices_per_node} {devices}"
        if self.first_device > 0:
            text += f"First device: {self.first_device}\n"
        return text


class DBScript(DBObject):
    """TorchScript to store in the database: ``script`` (source text, or a Python function
    whose source is taken with ``inspect``) or ``script_path`` (a file of TorchScript)."""

    _kind = "script"

    def __init__(self, name: str, script: t.Optional[t.Union[str, t.Callable[..., t.Any]]] = None,
                 script_path: t.Optional[t.Union[str, os.PathLike]] = None, device: str = "CPU",
                 devices_per_node: int = 1, first_device: int = 0) -> None:
        if script is not None and not isinstance(script, str) and not callable(script):
            raise ParameterTypeError(
                f"script {name!r} must be TorchScript source (a str) or a function, got "
                f"{type(script).__name__}: {script!r}")
        super().__init__(name, script or None, script_path, device, devices_per_node, first_device)
        if not script and not script_path:
            raise ParameterError("Either script or script_path must be provided")
        if script and self.file is not None:
            raise ParameterError(f"script {name!r}: give either script or script_path, not both")
        self.source: t.Optional[str] = None  # what is stored for an in-memory script
        if isinstance(script, str):
            self.source = script
        elif script is not None:
            self.source = function_source(script, name)
        if self.source is not None:
            _check_syntax(self.source, f"script {name!r}")
        elif self.file is not None:
            try:
                text = self.file.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise ParameterError(f"the script file of {name!r} is not UTF-8 text: {self.file}") from None
            _check_syntax(text, f"the script file of {name!r} ({self.file})")

    @property
    def script(self) -> t.Optional[t.Union[str, t.Callable[..., t.Any]]]:
        """The script as given: source text or a function (None for a file)."""
        return self.func

    @property
    def is_function(self) -> bool:
        """True when the script is a Python function (sent as TorchScript source), not source
        text or a file.
        """
        return self.func is not None and not isinstance(self.func, str)

    def _signature(self) -> t.Tuple[t.Any, ...]:
        return ("script", self.name, self.device, self.devices_per_node, self.first_device,
                str(self.file) if self.file is not None else None, self.source)

    def __str__(self) -> str:
        text = f"Name: {self.name}\n"
        if self.func:
            text += f"Func: {self.func}\n"
        if self.file:
            text += f"File path: {self.file}\n"
        return text + self._devices_str()


class DBModel(DBObject):
    """A TF, TFLITE, TORCH or ONNX model to store in the database: ``model`` (the
    serialized model in memory) or ``model_file`` (a file holding it)."""

    _kind = "ML model"

    def __init__(self, name: str, backend: str, model: t.Optional[bytes] = None,
                 model_file: t.Optional[t.Union[str, os.PathLike]] = None, device: str = "CPU",
                 devices_per_node: int = 1, first_device: int = 0, batch_size: int = 0,
                 min_batch_size: int = 0, min_batch_timeout: int = 0, tag: str = "",
                 inputs: t.Optional[t.Union[str, t.List[str]]] = None,
                 outputs: t.Optional[t.Union[str, t.List[str]]] = None) -> None:
        if model is not None and not isinstance(model, (bytes, bytearray, memoryview)):
            raise ParameterTypeError(f"model {name!r} must be the serialized model as bytes, got "
                                     f"{type(model).__name__}")
        if isinstance(model, (bytearray, memoryview)):
            model = bytes(model)
        super().__init__(name, model or None, model_file, device, devices_per_node, first_device)
        self.backend = self._check_backend(backend)
        if not model and self.file is None:
            raise ParameterError("Either model or model_file must be provided")
        if model and self.file is not None:
            raise ParameterError(f"ML model {name!r}: give either model or model_path, not both")
        self.batch_size = _check_int(batch_size, "batch_size", 0)
        self.min_batch_size = _check_int(min_batch_size, "min_batch_size", 0)
        self.min_batch_timeout = _check_int(min_batch_timeout, "min_batch_timeout", 0)
        if self.min_batch_size and not self.batch_size:
            raise ParameterError(f"min_batch_size={self.min_batch_size} needs batch_size > 0 "
                                 f"(ML model {name!r})")
        if self.min_batch_size > self.batch_size:
            raise ParameterError(f"min_batch_size={self.min_batch_size} is larger than batch_size="
                                 f"{self.batch_size} (ML model {name!r}): a batch holds at most "
                                 "batch_size samples")
        if self.min_batch_timeout and not self.min_batch_size:
            raise ParameterError(f"min_batch_timeout={self.min_batch_timeout} needs min_batch_size > 0 "
                                 f"(ML model {name!r})")
        if not isinstance(tag, str):
            raise ParameterTypeError(f"tag must be a str, got {type(tag).__name__}: {tag!r}")
        self.tag = tag
        self.inputs, self.outputs = self._check_tensor_args(inputs, outputs)
        if self.backend == "TF" and not (self.inputs and self.outputs):
            raise ParameterError(
                f"TF model {name!r} needs the names of its input and output nodes (inputs=..., "
                "outputs=...; serialize_model and freeze_model return them)")
        if self.backend != "TF" and (self.inputs or self.outputs):
            raise ParameterError(
                f"inputs and outputs are only valid for TF models, not {self.backend} (ML model "
                f"{name!r}: inputs={self.inputs}, outputs={self.outputs})")
        if self.file is not None and self.file.stat().st_size == 0:
            raise ParameterError(f"the model file of {name!r} is empty: {self.file}")
        self._digest: t.Optional[str] = None

    @staticmethod
    def _check_backend(backend: t.Any) -> str:
        if not isinstance(backend, str):
            raise ParameterTypeError(f"backend must be a str, got {type(backend).__name__}: {backend!r}")
        upper = backend.upper()
        if upper in BACKENDS:
            return upper
        raise ParameterError(f"Backend type {upper} unsupported. Options are {list(BACKENDS)}")

    @staticmethod
    def _check_tensor_args(inputs: t.Any, outputs: t.Any) -> t.Tuple[t.List[str], t.List[str]]:
        out = []
        for value, what in ((inputs, "inputs"), (outputs, "outputs")):
            if value is None:
                value = []
            elif isinstance(value, str):
                value = [value]
            elif isinstance(value, (list, tuple)):
                value = list(value)
            else:
                raise ParameterTypeError(f"{what} must be a str or a list of str, got "
                                         f"{type(value).__name__}: {value!r}")
            for item in value:
                if not isinstance(item, str) or not item:
                    raise ParameterError(f"{what} must name tensors (non-empty str), got {item!r}")
            out.append(value)
        return out[0], out[1]

    @property
    def model(self) -> t.Optional[bytes]:
        """The serialized model bytes given to ``add_ml_model(model=...)``; ``None`` when the
        model is read from ``model_path``.
        """
        return self.func

    def _signature(self) -> t.Tuple[t.Any, ...]:
        if self._digest is None and self.func is not None:
            self._digest = hashlib.sha256(self.func).hexdigest()
        return ("model", self.name, self.backend, self.device, self.devices_per_node,
                self.first_device, self.batch_size, self.min_batch_size, self.min_batch_timeout,
                self.tag, tuple(self.inputs), tuple(self.outputs),
                str(self.file) if self.file is not None else None, self._digest)

    def __str__(self) -> str:
        text = f"Name: {self.name}\n"
        if self.model:
            text += "Model stored in memory\n"
        if self.file:
            text += f"File path: {self.file}\n"
        text += self._devices_str() + f"Backend: {self.backend}\n"
        for label, value in (("Batch size", self.batch_size), ("Min batch size", self.min_batch_size),
                             ("Min batch time out", self.min_batch_timeout), ("Tag", self.tag)):
            if value:
                text += f"{label}: {value}\n"
        if self.inputs:
            text += f"Inputs: {self.inputs}\n"
        if self.outputs:
            text += f"Outputs: {self.outputs}\n"
        return text


def function_source(function: t.Callable[..., t.Any], name: str = "") -> str:
    """The TorchScript source of a Python function: its source text (``inspect``),
    dedented, without decorators; refused when there is none to take."""
    import inspect  # pylint: disable=import-outside-toplevel  (~10 ms; only functions need it)
    import textwrap  # pylint: disable=import-outside-toplevel

    what = f"function {name!r}" if name else "function"
    if not callable(function):
        raise ParameterTypeError(f"{what} must be callable, got {type(function).__name__}: {function!r}")
    code = getattr(function, "code", None)
    if isinstance(code, str) and type(function).__name__ == "ScriptFunction":
        return code  # already TorchScript (torch.jit.script): its compiled source
    if getattr(function, "__name__", "") == "<lambda>":
        raise ParameterError(f"{what}: a lambda cannot be stored as TorchScript; define it with def")
    if not inspect.isfunction(function):
        raise ParameterTypeError(f"{what} must be a Python function defined with def (its source "
                                 f"becomes TorchScript), got {type(function).__name__}: {function!r}")
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError) as exc:
        raise ParameterError(f"cannot read the source of {what} ({function.__qualname__}): {exc}; "
                             "define it in a file, or pass its text with add_script") from None
    lines = textwrap.dedent(source).splitlines(keepends=True)
    while lines and lines[0].lstrip().startswith("@"):
        lines.pop(0)  # decorators are not TorchScript
    return "".join(lines)


def _check_syntax(source: str, what: str) -> None:
    """TorchScript is a subset of Python: a syntax error is caught here, not at load."""
    import ast  # pylint: disable=import-outside-toplevel

    try:
        ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(f"{what} is not valid TorchScript: line {exc.lineno}: {exc.msg}") from None
