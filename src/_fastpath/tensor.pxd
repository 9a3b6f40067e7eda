cimport numpy as cnp

cdef bytes type_name_of(cnp.ndarray arr)
cdef int check_sendable(object data, object name) except -1
cdef cnp.ndarray as_sendable(object data, object name)
cdef object dtype_of_name(bytes type_name)
cdef int typenum_of_name(const char* p, size_t n) noexcept nogil
