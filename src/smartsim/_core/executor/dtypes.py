"""RedisAI tensor types <-> numpy arrays.

A tensor on the wire is ``(dtype name, shape, blob)`` with a C-order blob. ``STRING``
tensors are NUL-separated byte strings (one per element); they become numpy object
arrays of ``bytes`` here.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple, Union

import numpy as np

__all__ = [
    "NUMPY_OF",
    "REDISAI_OF",
    "TensorTypeError",
    "decode",
    "encode",
    "itemsize",
]


class TensorTypeError(ValueError):
    """A tensor type that RedisAI cannot represent, or a blob that does not fit."""


# RedisAI name -> numpy dtype (STRING handled apart).
NUMPY_OF: Dict[str, np.dtype] = {
    "FLOAT": np.dtype(np.float32),
    "DOUBLE": np.dtype(np.float64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "BOOL": np.dtype(np.bool_),
}

# numpy dtype (native byte order) -> RedisAI name.
REDISAI_OF = {dt: name for name, dt in NUMPY_OF.items()}

# Blobs at most this long are copied into a private, writable buffer: a script may
# modify its inputs in place, and CPython shares tiny ``bytes`` objects.
_COPY_BELOW = 64


def itemsize(dtype: str) -> int:
    """Bytes per element of a RedisAI dtype (STRING: 0, variable)."""
    dt = NUMPY_OF.get(dtype)
    return dt.itemsize if dt is not None else 0


def decode(dtype: str, shape: Sequence[int], blob) -> np.ndarray:
    """``(dtype, shape, blob)`` -> ndarray (zero copy where the blob allows it)."""
    shape = tuple(map(int, shape))
    if dtype == "STRING":
        parts = bytes(blob).split(b"\0")
        if parts and parts[-1] == b"" and len(parts) > int(np.prod(shape, dtype=np.int64)):
            parts.pop()
        arr = np.empty(len(parts), dtype=object)
        arr[:] = parts
        try:
            return arr.reshape(shape)
        except ValueError:
            raise TensorTypeError(
                f"STRING tensor has {len(parts)} elements, shape {list(shape)}"
            ) from None
    dt = NUMPY_OF.get(dtype)
    if dt is None:
        raise TensorTypeError(f"unsupported tensor type {dtype!r}")
    n = 1
    for d in shape:
        n *= d
    if len(blob) != n * dt.itemsize:
        raise TensorTypeError(
            f"data length {len(blob)} does not match tensor shape {list(shape)} and type {dtype}"
        )
    if len(blob) <= _COPY_BELOW:
        blob = bytearray(blob)
    return np.ndarray(shape, dt, blob)  # a view of the blob, as frombuffer().reshape()


def encode(arr: np.ndarray) -> Tuple[str, bytes, Union[bytes, memoryview]]:
    """ndarray -> ``(dtype name, shape as b"d0 d1 ...", C-order buffer)``.

    The buffer is a memoryview of the array when it is already C-contiguous.
    A 0-d array is sent as shape ``[1]`` (RedisAI tensors have at least one dim).
    """
    if arr.ndim == 0:
        arr = arr.reshape(1)
    dt = arr.dtype
    shape = " ".join(map(str, arr.shape)).encode()
    name = REDISAI_OF.get(dt)
    if name is not None and dt.byteorder != ">":  # the common case: native, known type
        if not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        if arr.size == 0:
            return name, shape, b""
        return name, shape, arr.data.cast("B")  # arr.data: the array's memoryview
    if dt.kind in "OSU":
        items = arr.reshape(-1).tolist()
        out = []
        for item in items:
            if isinstance(item, str):
                item = item.encode()
            elif not isinstance(item, (bytes, bytearray)):
                item = str(item).encode()
            out.append(bytes(item))
        return "STRING", shape, b"\0".join(out) + (b"\0" if out else b"")
    if dt.byteorder == ">" or (dt.byteorder == "=" and not np.little_endian):
        arr = arr.astype(dt.newbyteorder("<"))
        dt = arr.dtype
    name = REDISAI_OF.get(dt.newbyteorder("=") if dt.byteorder != "|" else dt)
    if name is None:
        raise TensorTypeError(f"output type {dt} has no RedisAI tensor type")
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    if arr.size == 0:
        return name, shape, b""
    return name, shape, arr.data.cast("B")
