"""``Dataset``: named tensors plus metadata fields, stored as SmartRedis does.

Wire layout (SmartRedis 0.6.1 ``MetadataBuffer``): each metadata field is one hash field
whose value is one type byte followed by the packed little-endian values (scalars) or, for
strings, type byte 7 then per string an 8-byte length and the bytes.  The field
``.tensor_names`` is a string field listing the tensors in insertion order.
"""
import struct
import typing as t

import numpy as np

from _fastpath import tensor as _tensor

from .errors import RedisKeyError, RedisRuntimeError
from .logger import SRObject, SRObjectCore

__all__ = ["Dataset", "DatasetCore"]

# metadata type ids (SmartRedis MetaDataType)
_DOUBLE, _FLOAT, _INT32, _INT64, _UINT32, _UINT64, _STRING = 1, 2, 3, 4, 5, 6, 7
_META_DTYPES: t.Dict[int, np.dtype] = {
    _DOUBLE: np.dtype("<f8"), _FLOAT: np.dtype("<f4"), _INT32: np.dtype("<i4"),
    _INT64: np.dtype("<i8"), _UINT32: np.dtype("<u4"), _UINT64: np.dtype("<u8"),
}
_META_ID_BY_DTYPE = {np.dtype(v).newbyteorder("="): k for k, v in _META_DTYPES.items()}
_META_TYPE_NAMES = {_DOUBLE: "DOUBLE", _FLOAT: "FLOAT", _INT32: "INT32", _INT64: "INT64",
                    _UINT32: "UINT32", _UINT64: "UINT64", _STRING: "STRING"}
_PYTYPE_BY_NAME = {
    "DOUBLE": np.double, "FLOAT": np.float32, "UINT8": np.uint8, "UINT16": np.uint16,
    "UINT32": np.uint32, "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16,
    "INT32": np.int32, "INT64": np.int64, "STRING": str, "BOOL": np.bool_,
}
_TENSOR_TYPE_TEXT = {
    "DOUBLE": "double", "FLOAT": "float", "INT64": "64 bit signed integer",
    "INT32": "32 bit signed integer", "INT16": "16 bit signed integer",
    "INT8": "8 bit signed integer", "UINT16": "16 bit unsigned integer",
    "UINT8": "8 bit unsigned integer",
}
_META_TYPE_TEXT = {
    _DOUBLE: "double", _FLOAT: "float", _INT32: "32 bit signed integer",
    _INT64: "64 bit signed integer", _UINT32: "32 bit unsigned integer",
    _UINT64: "64 bit unsigned integer", _STRING: "string",
}
TENSOR_NAMES_FIELD = ".tensor_names"
ACK_FIELD = ".COMPLETE"
_LEN = struct.Struct("<Q")


def _typecheck(arg: t.Any, name: str, _type: t.Any) -> None:
    if not isinstance(arg, _type):
        raise TypeError(f"Argument {name} is of type {type(arg)}, not {_type}")


def refuse_0d(name: str, data: t.Any) -> None:
    """``RedisRuntimeError`` for a 0-d array (shape ``()``), as SmartRedis 0.6.1 raises it
    (``TensorBase``: "Must provide a dimensions vector with at least one dimension."): its
    readers, C++ to Python, reject a tensor without dimensions, so one stored here would be
    unreadable to them. Tensors must have 1 to ``_tensor.MAX_DIMS`` dimensions; numpy
    cannot make more, and the module refuses more."""
    if isinstance(data, np.ndarray) and data.ndim == 0:
        raise RedisRuntimeError(
            "Must provide a dimensions vector with at least one dimension: the tensor "
            f"{name!r} is a 0-d array (shape ()); tensors have 1 to {_tensor.MAX_DIMS} "
            "dimensions. Store it with shape (1,), e.g. data.reshape(1).")


def encode_strings(values: t.Sequence[str]) -> bytes:
    """The wire form of a string metadata field: the STRING type id, then each value as an
    8-byte length and its UTF-8 bytes.
    """
    parts = [b"\x07"]
    for v in values:
        b = v.encode("utf-8") if isinstance(v, str) else bytes(v)
        parts.append(_LEN.pack(len(b)))
        parts.append(b)
    return b"".join(parts)


def decode_field(name: str, raw: bytes) -> t.Tuple[int, t.Any]:
    """``(type id, values)`` of the metadata field ``name`` from its wire form ``raw``: a list
    of str for strings, else a numpy array; ``RedisRuntimeError`` when it is empty,
    truncated or of an unknown type.
    """
    if not raw:
        raise RedisRuntimeError(f"metadata field {name!r} is empty")
    type_id = raw[0]
    if type_id == _STRING:
        out, pos, n = [], 1, len(raw)
        while pos < n:
            if pos + 8 > n:
                raise RedisRuntimeError(f"metadata field {name!r} is truncated")
            (ln,) = _LEN.unpack_from(raw, pos)
            pos += 8
            out.append(raw[pos:pos + ln].decode("utf-8", "replace"))
            pos += ln
        return _STRING, out
    dt = _META_DTYPES.get(type_id)
    if dt is None:
        raise RedisRuntimeError(f"metadata field {name!r} has unknown type id {type_id}")
    if (len(raw) - 1) % dt.itemsize:
        raise RedisRuntimeError(f"metadata field {name!r} is truncated")
    return type_id, np.frombuffer(raw, dtype=dt, offset=1).astype(dt.newbyteorder("="))


class DatasetCore(SRObjectCore):
    """What a ``Dataset`` holds (0.6.1's ``PyDataset``): its name, tensors and metadata, and
    the logging context named after it."""

    __slots__ = ("tensors", "meta")

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.tensors: t.Dict[str, np.ndarray] = {}
        # field -> (type id, list of values (strings) or list of numpy scalars)
        self.meta: t.Dict[str, t.Tuple[int, list]] = {}

    def get_name(self) -> str:
        """The dataset's name."""
        return self._name


class Dataset(SRObject):
    """A named group of tensors and metadata, stored and fetched as one unit.

    A ``Dataset`` logs under its name (``log_data``, ``log_warning``, ``log_error``) and keeps
    its contents in a ``DatasetCore`` (``get_data``/``set_data``/``from_pybind``, the
    names SmartRedis 0.6.1 uses for its binding object)."""

    def __init__(self, name: str) -> None:
        _typecheck(name, "name", str)
        super().__init__(DatasetCore(name))

    @property
    def _data(self) -> DatasetCore:
        return t.cast(DatasetCore, self._srobject)

    @property
    def _name(self) -> str:  # type: ignore[override]
        return self._srobject._name

    @property
    def _tensors(self) -> t.Dict[str, np.ndarray]:
        return t.cast(DatasetCore, self._srobject).tensors

    @property
    def _meta(self) -> t.Dict[str, t.Tuple[int, list]]:
        return t.cast(DatasetCore, self._srobject).meta

    @staticmethod
    def from_pybind(dataset: DatasetCore) -> "Dataset":
        """A ``Dataset`` over ``dataset``'s contents (the name is 0.6.1's)."""
        _typecheck(dataset, "dataset", DatasetCore)
        new = Dataset(dataset.get_name())
        new.set_data(dataset)
        return new

    def get_data(self) -> DatasetCore:
        """The object holding this dataset's name, tensors and metadata."""
        return self._data

    def set_data(self, dataset: DatasetCore) -> None:
        """Hold ``dataset``'s contents from now on."""
        _typecheck(dataset, "dataset", DatasetCore)
        self._srobject = dataset

    # ------------------------------------------------------------------ tensors
    def add_tensor(self, name: str, data: np.ndarray) -> None:
        """Add a tensor (copied, in logical C order)."""
        _typecheck(name, "name", str)
        _typecheck(data, "data", np.ndarray)
        refuse_0d(name, data)
        arr = _tensor.sendable(data, name)
        if arr is data or np.shares_memory(arr, data):
            arr = arr.copy()
        self._tensors[name] = arr

    def _add_received(self, name: str, arr: np.ndarray) -> None:
        self._tensors[name] = arr

    def get_tensor(self, name: str) -> np.ndarray:
        """The tensor ``name`` of this dataset, as a numpy array; ``RedisKeyError`` when the
        dataset has no such tensor.
        """
        _typecheck(name, "name", str)
        try:
            return self._tensors[name]
        except KeyError:
            raise RedisKeyError(
                f"The tensor \"{name}\" does not exist in dataset \"{self._name}\"") from None

    def get_name(self) -> str:
        """The dataset's name."""
        return self._name

    def get_tensor_names(self) -> t.List[str]:
        """The names of the tensors in this dataset, in the order they were added."""
        return list(self._tensors)

    def get_tensor_type(self, name: str) -> t.Type:
        """The numpy type of the tensor ``name`` (``numpy.float32``, ``numpy.int64``, ...)."""
        arr = self.get_tensor(name)
        return _PYTYPE_BY_NAME[_tensor.type_name(arr).decode()]

    def get_tensor_dims(self, name: str) -> t.List[int]:
        """The shape of the tensor ``name`` as a list of ints."""
        arr = self.get_tensor(name)
        return [int(d) for d in arr.shape]

    # ------------------------------------------------------------------ metadata
    def add_meta_scalar(self, name: str, data: t.Union[int, float]) -> None:
        """Append a scalar to field ``name`` (int -> INT64, float -> DOUBLE, numpy scalars
        keep their type: float64, float32, int32, int64, uint32, uint64)."""
        _typecheck(name, "name", str)
        arr = np.asarray(data)
        if arr.size > 1:
            raise TypeError("Argument provided is not a scalar")
        if arr.dtype.kind not in "iuf":
            raise TypeError(f"Incompatible metadata type provided {arr.dtype}")
        type_id = _META_ID_BY_DTYPE.get(arr.dtype.newbyteorder("="))
        if type_id is None:
            raise TypeError(f"Incompatible metadata type provided {arr.dtype}")
        self._check_reserved(name)
        self._append(name, type_id, arr.reshape(-1)[0].astype(_META_DTYPES[type_id]).item())

    def add_meta_string(self, name: str, data: str) -> None:
        """Append a string to field ``name``."""
        _typecheck(name, "name", str)
        _typecheck(data, "data", str)
        self._check_reserved(name)
        self._append(name, _STRING, data)

    def _check_reserved(self, name: str) -> None:
        if name in (TENSOR_NAMES_FIELD, ACK_FIELD):
            raise RedisRuntimeError(f"{name!r} is a reserved metadata field name")

    def _append(self, name: str, type_id: int, value: t.Any) -> None:
        field = self._meta.get(name)
        if field is None:
            self._meta[name] = (type_id, [value])
        elif field[0] != type_id:
            raise RedisRuntimeError(
                f"The existing metadata field \"{name}\" of dataset \"{self._name}\" has type "
                f"{_META_TYPE_NAMES[field[0]]}, not {_META_TYPE_NAMES[type_id]}")
        else:
            field[1].append(value)

    def _field(self, name: str) -> t.Tuple[int, list]:
        _typecheck(name, "name", str)
        try:
            return self._meta[name]
        except KeyError:
            raise RedisKeyError(
                f"The metadata field \"{name}\" does not exist in dataset \"{self._name}\"") from None

    def get_meta_scalars(self, name: str) -> np.ndarray:
        """The values of the scalar metadata field ``name`` as a numpy array;
        ``RedisRuntimeError`` when the field holds strings.
        """
        type_id, values = self._field(name)
        if type_id == _STRING:
            raise RedisRuntimeError(
                f"The metadata field \"{name}\" of dataset \"{self._name}\" holds strings; "
                "use get_meta_strings")
        return np.array(values, dtype=_META_DTYPES[type_id].newbyteorder("="))

    def get_meta_strings(self, name: str) -> t.List[str]:
        """The values of the string metadata field ``name``; ``RedisRuntimeError`` when the
        field holds scalars.
        """
        type_id, values = self._field(name)
        if type_id != _STRING:
            raise RedisRuntimeError(
                f"The metadata field \"{name}\" of dataset \"{self._name}\" holds scalars; "
                "use get_meta_scalars")
        return list(values)

    def get_metadata_field_names(self) -> t.List[str]:
        """The names of the metadata fields, in the order they were added."""
        return list(self._meta)

    def get_metadata_field_type(self, name: str) -> t.Type:
        """The numpy type of the metadata field ``name`` (``str`` for string fields)."""
        type_id, _ = self._field(name)
        return _PYTYPE_BY_NAME[_META_TYPE_NAMES[type_id]]

    # ------------------------------------------------------------------ wire format
    def _serialize_fields(self) -> t.List[t.Tuple[bytes, bytes]]:
        out = []
        for name, (type_id, values) in self._meta.items():
            if type_id == _STRING:
                raw = encode_strings(values)
            else:
                raw = bytes([type_id]) + np.asarray(values, dtype=_META_DTYPES[type_id]).tobytes()
            out.append((name.encode("utf-8"), raw))
        if self._tensors:
            out.append((TENSOR_NAMES_FIELD.encode(), encode_strings(list(self._tensors))))
        return out

    @classmethod
    def _from_hash(cls, name: str, pairs: t.Sequence[bytes]) -> t.Tuple["Dataset", t.List[str]]:
        """A dataset holding the metadata of an HGETALL reply, and its tensor names."""
        ds = cls(name)
        tensor_names: t.List[str] = []
        for i in range(0, len(pairs) - 1, 2):
            field = pairs[i].decode("utf-8", "replace")
            if field == ACK_FIELD:
                continue
            type_id, values = decode_field(field, pairs[i + 1])
            if field == TENSOR_NAMES_FIELD:
                tensor_names = list(values)
            elif type_id == _STRING:
                ds._meta[field] = (type_id, values)
            else:
                ds._meta[field] = (type_id, [v.item() for v in values])
        return ds, tensor_names

    # ------------------------------------------------------------------ SmartRedis extras
    def __str__(self) -> str:
        lines = [f"DataSet ({self._name}):", "Tensors:"]
        for name, arr in self._tensors.items():
            tname = _tensor.type_name(arr).decode()
            lines += [f"  {name}:", f"    type: {_TENSOR_TYPE_TEXT.get(tname, tname)}",
                      f"    dimensions: {list(arr.shape)}", f"    elements: {arr.size}"]
        lines.append("Metadata:")
        for name, (type_id, _) in self._meta.items():
            lines += [f"  {name}:", f"    type: {_META_TYPE_TEXT[type_id]}"]
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return f"Dataset({self._name!r})"
