cimport numpy as cnp

cdef bytes type_name_of(cnp.ndarray arr)
cdef int check_sendable(object data, object name) except -1
cdef cnp.ndarray as_sendable(object data, object name)
cdef object dtype_of_name(bytes type_name)
cdef int typenum_of_name(const char* p, size_t n) noexcept nogil

# Most dimensions of a tensor: numpy 2's NPY_MAXDIMS, and the limit the module enforces on
# AI.TENSORSET (AI_TENSOR_MAX_DIMS in src/smartsim/_core/aimodule/aimodule.h).
cdef enum:
    MAX_DIMS_C = 64
# what the installed numpy holds: MAX_DIMS_C, or 32 with numpy 1.x
cdef int max_dims() noexcept
