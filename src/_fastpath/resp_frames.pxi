# Part of the extension _fastpath.resp, included by resp.pyx (declarations: resp_frames.pxd).
#
# The encoder.  Frames accumulates commands as one RESP2 wire image: small arguments are
# copied into one contiguous buffer, arguments larger than INLINE_MAX_C (tensor blobs, model
# chunks) are referenced as segments of their own, so a 64 MiB tensor goes to the socket by
# gathered write and is never copied in user space.  It is a part of one extension, not a
# module of its own, because the socket loop (resp_conn.pxi) turns a Frames' segments into
# its iovec with direct struct access on every request.


cdef inline Py_ssize_t _fmt_int(char* out, long long v) noexcept nogil:
    """Write ``v`` in decimal at ``out``; return the number of bytes."""
    cdef char tmp[24]
    cdef Py_ssize_t n = 0, i
    cdef unsigned long long u
    cdef bint neg = v < 0
    u = <unsigned long long>(-v) if neg else <unsigned long long>v
    if u == 0:
        tmp[0] = b'0'
        n = 1
    while u > 0:
        tmp[n] = <char>(48 + u % 10)
        u //= 10
        n += 1
    i = 0
    if neg:
        out[0] = b'-'
        i = 1
    while n > 0:
        n -= 1
        out[i] = tmp[n]
        i += 1
    return i


cdef cnp.intp_t[::1] _positions(object positions, Py_ssize_t n):
    cdef cnp.intp_t[::1] pos = np.ascontiguousarray(positions, dtype=np.intp)
    cdef Py_ssize_t j
    for j in range(pos.shape[0]):
        if pos[j] < 0 or pos[j] >= n:
            raise IndexError(f"position {pos[j]} out of range for {n} keys")
    return pos


cdef class Frames:
    """Commands to send on one connection, with the kind of reply each one expects."""

    def __cinit__(self):
        self.bcap = 4096
        self.buf = <char*>malloc(self.bcap)
        self.segcap = 8
        self.segs = <Seg*>malloc(self.segcap * sizeof(Seg))
        self.viewcap = 0
        self.views = NULL
        if self.buf == NULL or self.segs == NULL:
            raise MemoryError()
        self.keep = []
        self.kinds = bytearray()

    def __dealloc__(self):
        cdef size_t i
        for i in range(self.nviews):
            PyBuffer_Release(&self.views[i])
        free(self.views)
        free(self.buf)
        free(self.segs)

    def __len__(self):
        return self.ncmds

    @property
    def nbytes(self):
        """Bytes this frame set puts on the wire."""
        cdef size_t total = self.blen, i
        for i in range(self.nsegs):
            if self.segs[i].ext != NULL:
                total += self.segs[i].len
        return total

    cdef int _reserve(self, size_t n) except -1:
        cdef size_t cap
        cdef char* nb
        if self.blen + n <= self.bcap:
            return 0
        cap = self.bcap * 2
        while cap < self.blen + n:
            cap *= 2
        nb = <char*>realloc(self.buf, cap)
        if nb == NULL:
            raise MemoryError()
        self.buf = nb
        self.bcap = cap
        return 0

    cdef int _add_seg(self, char* ext, size_t off, size_t ln) except -1:
        cdef Seg* ns
        if self.nsegs == self.segcap:
            ns = <Seg*>realloc(self.segs, self.segcap * 2 * sizeof(Seg))
            if ns == NULL:
                raise MemoryError()
            self.segs = ns
            self.segcap *= 2
        self.segs[self.nsegs].ext = ext
        self.segs[self.nsegs].off = off
        self.segs[self.nsegs].len = ln
        self.nsegs += 1
        return 0

    cdef inline void _prefix(self, char marker, long long n) noexcept:
        """``*n\\r\\n`` or ``$n\\r\\n`` at the end of the buffer (room already reserved)."""
        self.buf[self.blen] = marker
        self.blen += 1 + _fmt_int(self.buf + self.blen + 1, n)
        self.buf[self.blen] = b'\r'
        self.buf[self.blen + 1] = b'\n'
        self.blen += 2

    cdef inline int _header(self, char kind, Py_ssize_t nargs) except -1:
        self._reserve(24)
        self._prefix(b'*', nargs)
        self.kinds.append(kind)
        self.ncmds += 1
        return 0

    cdef inline int _bulk(self, const char* data, size_t n) except -1:
        self._reserve(n + 32)
        self._prefix(b'$', n)
        if n:
            memcpy(self.buf + self.blen, data, n)
        self.blen += n
        self.buf[self.blen] = b'\r'
        self.buf[self.blen + 1] = b'\n'
        self.blen += 2
        return 0

    cdef inline int _bulk_int(self, long long v) except -1:
        cdef char tmp[24]
        cdef Py_ssize_t n = _fmt_int(tmp, v)
        return self._bulk(tmp, n)

    cdef int _bulk_ext(self, char* data, size_t n, object owner) except -1:
        """A large argument: header inline, payload referenced (gathered write)."""
        self._reserve(32)
        self._prefix(b'$', n)
        self._add_seg(NULL, self.run_start, self.blen - self.run_start)
        self._add_seg(data, 0, n)
        self.keep.append(owner)
        self.run_start = self.blen
        self.buf[self.blen] = b'\r'
        self.buf[self.blen + 1] = b'\n'
        self.blen += 2
        return 0

    cdef int _bulk_buffer(self, object obj) except -1:
        cdef Py_buffer* v
        cdef Py_buffer view
        PyObject_GetBuffer(obj, &view, PyBUF_ANY_CONTIGUOUS)
        if <size_t>view.len <= INLINE_MAX_C:
            try:
                self._bulk(<const char*>view.buf, view.len)
            finally:
                PyBuffer_Release(&view)
            return 0
        if self.nviews == self.viewcap:
            v = <Py_buffer*>realloc(self.views, (self.viewcap * 2 + 4) * sizeof(Py_buffer))
            if v == NULL:
                PyBuffer_Release(&view)
                raise MemoryError()
            self.views = v
            self.viewcap = self.viewcap * 2 + 4
        self.views[self.nviews] = view
        self.nviews += 1
        self._bulk_ext(<char*>view.buf, view.len, None)
        return 0

    cdef int _arg(self, object a) except -1:
        cdef bytes b
        if type(a) is bytes:
            b = <bytes>a
            if PyBytes_GET_SIZE(b) > INLINE_MAX_C:
                self._bulk_ext(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b), b)
            else:
                self._bulk(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))
        elif isinstance(a, str):
            b = (<str>a).encode("utf-8")
            self._arg(b)
        elif isinstance(a, bool):
            self._bulk_int(1 if a else 0)
        elif isinstance(a, int):
            self._bulk_int(a)
        elif isinstance(a, float):
            self._arg(repr(a).encode())
        else:
            self._bulk_buffer(a)
        return 0

    def command(self, *args, int kind=0):
        """Append one command; arguments are bytes, str, int, float or buffers."""
        self._header(<char>kind, len(args))
        for a in args:
            self._arg(a)

    def command_list(self, list args, int kind=0):
        """Append one command given as a list of arguments."""
        self._header(<char>kind, len(args))
        for a in args:
            self._arg(a)

    cpdef tensorset(self, bytes key, object data, object name=None):
        """Append ``AI.TENSORSET key TYPE d0 .. BLOB data`` for a numpy array.

        The array is validated (dtype, size, object arrays) and sent in logical C order; a
        contiguous native array is not copied (large ones are not even copied into the frame
        buffer: their memory goes to the socket by gathered write)."""
        cdef cnp.ndarray arr = as_sendable(data, name if name is not None else key)
        cdef bytes tname = type_name_of(arr)
        cdef int nd = cnp.PyArray_NDIM(arr), i
        cdef cnp.npy_intp* dims = cnp.PyArray_DIMS(arr)
        cdef size_t nbytes = cnp.PyArray_NBYTES(arr)
        # the shape as it is: a 0-d array goes with no dims (as RedisAI stores it) so a 0-d
        # tensor already in the database (a model output) is copied exactly; the client API
        # refuses 0-d arrays from users before they get here, as SmartRedis 0.6.1 does
        self._header(0, 5 + nd)
        self._bulk(b"AI.TENSORSET", 12)
        self._bulk(PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key))
        self._bulk(PyBytes_AS_STRING(tname), PyBytes_GET_SIZE(tname))
        for i in range(nd):
            self._bulk_int(dims[i])
        self._bulk(b"BLOB", 4)
        if nbytes > INLINE_MAX_C:
            self._bulk_ext(<char*>cnp.PyArray_DATA(arr), nbytes, arr)
        else:
            self._bulk(<const char*>cnp.PyArray_DATA(arr), nbytes)

    cpdef tensorget(self, bytes key):
        """Append ``AI.TENSORGET key META BLOB`` (the reply decodes to an ndarray)."""
        self._header(1, 4)
        self._bulk(b"AI.TENSORGET", 12)
        self._bulk(PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key))
        self._bulk(b"META", 4)
        self._bulk(b"BLOB", 4)

    def tensorsets(self, list keys, list arrays, list names=None, object positions=None):
        """``tensorset`` for parallel lists of keys and arrays; with ``positions`` (indices
        into the lists, e.g. the keys of one shard) only those, in that order."""
        cdef Py_ssize_t i, j, n = len(keys)
        cdef cnp.intp_t[::1] pos
        if len(arrays) != n or (names is not None and len(names) != n):
            raise ValueError("keys, arrays and names differ in length")
        if positions is None:
            for i in range(n):
                self.tensorset(keys[i], arrays[i], names[i] if names is not None else None)
            return
        pos = _positions(positions, n)
        for j in range(pos.shape[0]):
            i = pos[j]
            self.tensorset(keys[i], arrays[i], names[i] if names is not None else None)

    def tensorgets(self, list keys, object positions=None):
        """``tensorget`` for each key (or each of ``positions``)."""
        cdef Py_ssize_t i, j
        cdef cnp.intp_t[::1] pos
        if positions is None:
            for i in range(len(keys)):
                self.tensorget(keys[i])
            return
        pos = _positions(positions, len(keys))
        for j in range(pos.shape[0]):
            self.tensorget(keys[pos[j]])

    def keyed(self, bytes verb, list keys, object positions=None):
        """One ``verb key`` command per key (``EXISTS``, ``UNLINK``, ...), or per position."""
        cdef Py_ssize_t i, j, n
        cdef cnp.intp_t[::1] pos
        cdef bytes k
        if positions is None:
            n = len(keys)
        else:
            pos = _positions(positions, len(keys))
            n = pos.shape[0]
        for j in range(n):
            k = keys[j if positions is None else pos[j]]
            self._header(0, 2)
            self._bulk(PyBytes_AS_STRING(verb), PyBytes_GET_SIZE(verb))
            self._bulk(PyBytes_AS_STRING(k), PyBytes_GET_SIZE(k))

    def to_bytes(self):
        """The whole wire image (for tests)."""
        cdef size_t i
        out = []
        self._close_run()
        for i in range(self.nsegs):
            if self.segs[i].ext == NULL:
                out.append(PyBytes_FromStringAndSize(self.buf + self.segs[i].off, self.segs[i].len))
            else:
                out.append(PyBytes_FromStringAndSize(self.segs[i].ext, self.segs[i].len))
        self._reopen_run()
        return b"".join(out)

    cdef int _close_run(self) except -1:
        if self.blen > self.run_start:
            self._add_seg(NULL, self.run_start, self.blen - self.run_start)
        return 0

    cdef int _reopen_run(self) except -1:
        if self.blen > self.run_start:
            self.nsegs -= 1
        return 0
