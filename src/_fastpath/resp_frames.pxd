# Part of _fastpath.resp (included by resp.pxd; the code is in resp_frames.pxi).
# The encoder: Frames turns commands into one RESP2 wire image, small arguments copied into
# one buffer and large ones referenced.  The socket loop (resp_conn.pxi) reads ``segs`` /
# ``buf`` to build its iovec with plain C access, hence one extension.

cdef struct Seg:
    char* ext          # NULL: an inline range [off, off + len) of the frame buffer
    size_t off
    size_t len


cdef class Frames:
    cdef char* buf
    cdef size_t blen, bcap
    cdef Seg* segs
    cdef size_t nsegs, segcap
    cdef size_t run_start
    cdef Py_buffer* views
    cdef size_t nviews, viewcap
    cdef list keep
    cdef readonly bytearray kinds
    cdef readonly Py_ssize_t ncmds

    cdef int _reserve(self, size_t n) except -1
    cdef int _add_seg(self, char* ext, size_t off, size_t ln) except -1
    cdef inline void _prefix(self, char marker, long long n) noexcept
    cdef inline int _header(self, char kind, Py_ssize_t nargs) except -1
    cdef inline int _bulk(self, const char* data, size_t n) except -1
    cdef inline int _bulk_int(self, long long v) except -1
    cdef int _bulk_ext(self, char* data, size_t n, object owner) except -1
    cdef int _bulk_buffer(self, object obj) except -1
    cdef int _arg(self, object a) except -1
    cpdef tensorset(self, bytes key, object data, object name=*)
    cpdef tensorget(self, bytes key)
    # the segments as sent: the open inline run closed for the duration (resp_conn.pxi
    # builds its iovec in between), then reopened so that more commands can be appended
    cdef int _close_run(self) except -1
    cdef int _reopen_run(self) except -1
