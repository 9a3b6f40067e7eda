# cython: language_level=3
"""Tensor type mapping between numpy and the RedisAI wire format.

* ``type_name(array)``: the RedisAI type (``b"FLOAT"``, ...) of a numpy array, or ``TypeError``.
* ``sendable(data, name)``: validate a user array and return it C-contiguous, native byte order
  (Fortran-ordered and strided arrays are copied into logical C order; contiguous native
  arrays are returned as they are, no copy).
* ``dtype_for(type_name)``: the numpy dtype of a RedisAI type (``FLOAT`` -> float32).
* ``MAX_DIMS``: the most dimensions a tensor may have (numpy 2's limit; the module's too);
  ``first_0d(arrays)``: where the first 0-d array of a batch is (the client refuses those).
"""
import numpy as np
cimport numpy as cnp
from libc.string cimport memcmp

cnp.import_array()

# RedisAI type name for each numpy type number (native byte order).
cdef dict _NAME_BY_NUM = {
    cnp.NPY_FLOAT64: b"DOUBLE",
    cnp.NPY_FLOAT32: b"FLOAT",
    cnp.NPY_INT8: b"INT8",
    cnp.NPY_INT16: b"INT16",
    cnp.NPY_INT32: b"INT32",
    cnp.NPY_INT64: b"INT64",
    cnp.NPY_UINT8: b"UINT8",
    cnp.NPY_UINT16: b"UINT16",
}
# `long long` and `long` are both int64 on LP64 platforms; map the alias too.
if np.dtype(np.longlong).itemsize == 8:
    _NAME_BY_NUM[cnp.NPY_LONGLONG] = b"INT64"

cdef struct _TypeName:
    const char* name
    size_t len
    int typenum

# the RedisAI type names a reply can carry, and their numpy type numbers
cdef _TypeName[9] _TYPES
_TYPES[0] = _TypeName(b"FLOAT", 5, cnp.NPY_FLOAT32)
_TYPES[1] = _TypeName(b"DOUBLE", 6, cnp.NPY_FLOAT64)
_TYPES[2] = _TypeName(b"INT8", 4, cnp.NPY_INT8)
_TYPES[3] = _TypeName(b"INT16", 5, cnp.NPY_INT16)
_TYPES[4] = _TypeName(b"INT32", 5, cnp.NPY_INT32)
_TYPES[5] = _TypeName(b"INT64", 5, cnp.NPY_INT64)
_TYPES[6] = _TypeName(b"UINT8", 5, cnp.NPY_UINT8)
_TYPES[7] = _TypeName(b"UINT16", 6, cnp.NPY_UINT16)
_TYPES[8] = _TypeName(b"BOOL", 4, cnp.NPY_BOOL)


cdef int typenum_of_name(const char* p, size_t n) noexcept nogil:
    cdef int i
    for i in range(9):
        if _TYPES[i].len == n and memcmp(_TYPES[i].name, p, n) == 0:
            return _TYPES[i].typenum
    return -1


MAX_DIMS = MAX_DIMS_C
# numpy 1.x arrays have at most 32 dimensions (NPY_MAXDIMS before 2.0)
cdef int _np_max_dims = MAX_DIMS_C if int(np.__version__.split(".")[0]) >= 2 else 32


cdef int max_dims() noexcept:
    return _np_max_dims


SUPPORTED = ("float64", "float32", "int8", "int16", "int32", "int64", "uint8", "uint16")


cdef bytes _B_DOUBLE = b"DOUBLE", _B_FLOAT = b"FLOAT", _B_INT8 = b"INT8", _B_INT16 = b"INT16"
cdef bytes _B_INT32 = b"INT32", _B_INT64 = b"INT64", _B_UINT8 = b"UINT8", _B_UINT16 = b"UINT16"


cdef inline object _name_of_num(int num, int itemsize):
    if num == cnp.NPY_FLOAT32:
        return _B_FLOAT
    if num == cnp.NPY_FLOAT64:
        return _B_DOUBLE
    if num == cnp.NPY_UINT8:
        return _B_UINT8
    if num == cnp.NPY_INT8:
        return _B_INT8
    if num == cnp.NPY_INT16:
        return _B_INT16
    if num == cnp.NPY_UINT16:
        return _B_UINT16
    if num == cnp.NPY_INT32 or ((num == cnp.NPY_LONG or num == cnp.NPY_INT) and itemsize == 4):
        return _B_INT32
    if num == cnp.NPY_INT64 or ((num == cnp.NPY_LONG or num == cnp.NPY_LONGLONG) and itemsize == 8):
        return _B_INT64
    return None


cdef bytes type_name_of(cnp.ndarray arr):
    cdef object name = _name_of_num(cnp.PyArray_TYPE(arr), cnp.PyArray_ITEMSIZE(arr))
    if name is None:
        raise TypeError(
            f"Incompatible tensor type provided {arr.dtype}; supported types are "
            + ", ".join(SUPPORTED))
    return <bytes>name


cdef int check_sendable(object data, object name) except -1:
    """Raise what ``as_sendable`` would raise for ``data``, without converting anything."""
    cdef cnp.ndarray arr
    if not isinstance(data, cnp.ndarray):
        raise TypeError(
            f"Argument data of tensor {name!r} is of type {type(data)}, not <class 'numpy.ndarray'>")
    arr = <cnp.ndarray>data
    if cnp.PyArray_SIZE(arr) > 0 and \
            _name_of_num(cnp.PyArray_TYPE(arr), cnp.PyArray_ITEMSIZE(arr)) is not None:
        return 0
    if cnp.PyArray_TYPE(arr) == cnp.NPY_OBJECT:
        raise TypeError(f"tensor {name!r}: object arrays cannot be stored as tensors")
    if cnp.PyArray_SIZE(arr) == 0:
        raise ValueError(f"tensor {name!r} has no elements (shape {(<object>arr).shape}); "
                         "zero-size tensors cannot be stored")
    type_name_of(arr)
    return 0


cdef cnp.ndarray as_sendable(object data, object name):
    cdef cnp.ndarray arr
    check_sendable(data, name)
    arr = <cnp.ndarray>data
    if cnp.PyArray_ISCARRAY_RO(arr):
        return arr
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr):
        arr = np.ascontiguousarray(arr)
    return arr


cdef object dtype_of_name(bytes type_name):
    cdef bytes upper = type_name.upper()
    cdef int num = typenum_of_name(upper, len(upper))
    return None if num < 0 else cnp.PyArray_DescrFromType(num)


def type_name(arr):
    """RedisAI type name (bytes) of a numpy array; ``TypeError`` for unsupported dtypes."""
    return type_name_of(np.asarray(arr))


def sendable(data, name="tensor"):
    """``data`` validated, C-contiguous and in native byte order (copied only when needed)."""
    return as_sendable(data, name)


def check_all(list arrays, list names):
    """Validate every array as ``sendable`` would (same errors), converting nothing."""
    cdef Py_ssize_t i
    for i in range(len(arrays)):
        check_sendable(arrays[i], names[i])


def first_0d(list arrays):
    """Position of the first 0-d ndarray in ``arrays``, or -1 (one C loop, for batches)."""
    cdef Py_ssize_t i
    cdef object a
    for i in range(len(arrays)):
        a = arrays[i]
        if isinstance(a, cnp.ndarray) and cnp.PyArray_NDIM(<cnp.ndarray>a) == 0:
            return i
    return -1


def dtype_for(type_name):
    """numpy dtype of a RedisAI type name (str or bytes), or None when unknown."""
    if isinstance(type_name, str):
        type_name = type_name.encode()
    return dtype_of_name(type_name)
