"""``smartsim.client.util``: the helpers SmartRedis 0.6.1 has in ``smartredis.util``.

``Dtypes`` (numpy dtype <-> SmartRedis type names), ``init_default``, ``typecheck`` and
``exception_handler`` with 0.6.1's names, signatures and messages.  One deliberate
difference: ``Dtypes.from_string("FLOAT")`` is ``numpy.float32`` (0.6.1 maps it to
``numpy.float64``, so its ``Dataset.get_tensor_type`` reports float64 for float32 tensors).
"""
import functools
import typing as t

import numpy as np

from . import errors

__all__ = ["Dtypes", "init_default", "exception_handler", "typecheck"]

_TENSOR_TYPES = {
    "float64": "DOUBLE", "float32": "FLOAT", "uint8": "UINT8", "uint16": "UINT16",
    "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64",
}
_METADATA_TYPES = {
    "float64": "DOUBLE", "float32": "FLOAT", "uint32": "UINT32", "uint64": "UINT64",
    "int32": "INT32", "int64": "INT64",
}
_PYTHON_TYPES: t.Dict[str, t.Any] = {
    "DOUBLE": np.double, "FLOAT": np.float32, "UINT8": np.uint8, "UINT16": np.uint16,
    "UINT32": np.uint32, "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16,
    "INT32": np.int32, "INT64": np.int64, "STRING": str,
}


class Dtypes:
    """Conversions between numpy dtypes and SmartRedis type names."""

    @staticmethod
    def tensor_from_numpy(array: np.ndarray) -> str:
        """The tensor type name of ``array`` (``TypeError`` for types tensors cannot hold)."""
        dtype = str(array.dtype)
        name = _TENSOR_TYPES.get(dtype)
        if name is None:
            raise TypeError(f"Incompatible tensor type provided {dtype}")
        return name

    @staticmethod
    def metadata_from_numpy(array: np.ndarray) -> str:
        """The metadata scalar type name of ``array`` (``TypeError`` if not a metadata type)."""
        dtype = str(array.dtype)
        name = _METADATA_TYPES.get(dtype)
        if name is None:
            raise TypeError(f"Incompatible metadata type provided {dtype}")
        return name

    @staticmethod
    def from_string(type_name: str) -> t.Type:
        """The Python/numpy type for a SmartRedis type name."""
        try:
            return _PYTHON_TYPES[type_name]
        except (KeyError, TypeError):
            raise TypeError(f"Unrecognized type name {type_name}") from None


def init_default(default: t.Any, init_value: t.Any,
                 expected_type: t.Optional[t.Any] = None) -> t.Any:
    """``default`` when ``init_value`` is None, else ``init_value`` (``TypeError`` unless it
    is an ``expected_type``)."""
    if init_value is None:
        return default
    if expected_type is not None and not isinstance(init_value, expected_type):
        raise TypeError(f"Argument was of type {type(init_value)}, not {expected_type}")
    return init_value


def typecheck(arg: t.Any, name: str, _type: t.Union[t.Tuple, type]) -> None:
    """``TypeError`` unless ``arg`` is an instance of ``_type``."""
    if not isinstance(arg, _type):
        raise TypeError(f"Argument {name} is of type {type(arg)}, not {_type}")


def exception_handler(func: t.Callable) -> t.Callable:
    """Decorate an API function: a ``RedisReplyError`` it raises is re-raised as the same
    class with SmartRedis's ``<Class>.<method> execution failed`` first line (``TypeError``
    and ``ValueError`` pass through unchanged, as in 0.6.1)."""

    @functools.wraps(func)
    def smartredis_api_wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
        try:
            return func(*args, **kwargs)
        except errors.RedisReplyError as exc:
            text = str(exc)
            if not args or text.split("\n", 1)[0].endswith(" execution failed"):
                raise
            src = args[0] if isinstance(args[0], type) else type(args[0])
            method = f"{src.__name__}.{func.__name__}"
            raise type(exc)(text, method, getattr(exc, "key", "")) from None

    return smartredis_api_wrapper
