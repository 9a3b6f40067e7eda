# cython: language_level=3
"""RESP2 framing for the client: commands encoded straight from numpy buffers, replies read
straight into numpy arrays, sockets driven with the GIL released.

* :class:`Frames` accumulates commands.  Small arguments are copied into one contiguous
  buffer; arguments larger than ``INLINE_MAX`` (tensor blobs, model chunks) are *referenced*
  and go out with gathered writes (``sendmsg`` with an iovec list), so a 64 MiB tensor is
  never copied in user space.
* :class:`Conn` wraps a connected, non-blocking socket (TCP or Unix).  ``exchange(conns,
  frames, timeout)`` writes every connection's frames and reads the expected number of
  replies from all of them at once in one ``poll`` loop without the GIL, so shards are
  served in parallel.  While reading, a scanner counts complete replies; bulk strings
  larger than ``INLINE_MAX`` are diverted into their own allocation and received directly
  there, then handed to numpy without a copy (the array's base owns the block).
* Replies are then decoded with the GIL: ``+``/``$`` -> bytes, ``:`` -> int, ``*`` -> list,
  ``-`` -> :class:`RespError` (returned, not raised, so a pipeline reports each command);
  ``AI.TENSORGET .. META BLOB`` replies -> ndarray directly.
"""
cimport cython
from cpython.buffer cimport PyBUF_ANY_CONTIGUOUS, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.errno cimport EAGAIN, EINTR, errno
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcpy, memmove, strerror

import numpy as np
cimport numpy as cnp

from _fastpath.tensor cimport as_sendable, dtype_of_name, type_name_of

cnp.import_array()


cdef extern from "<sys/uio.h>" nogil:
    struct iovec:
        void* iov_base
        size_t iov_len

cdef extern from "<sys/socket.h>" nogil:
    struct msghdr:
        void* msg_name
        unsigned int msg_namelen
        iovec* msg_iov
        size_t msg_iovlen
        void* msg_control
        size_t msg_controllen
        int msg_flags
    ssize_t sendmsg(int fd, const msghdr* msg, int flags)
    ssize_t recv(int fd, void* buf, size_t n, int flags)
    int MSG_NOSIGNAL

cdef extern from "<errno.h>" nogil:
    int EWOULDBLOCK

cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    int poll(pollfd* fds, unsigned long nfds, int timeout)
    short POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL

cdef extern from "<time.h>" nogil:
    struct timespec:
        long tv_sec
        long tv_nsec
    int clock_gettime(int clk, timespec* ts)
    int CLOCK_MONOTONIC

DEF INLINE_MAX_C = 65536
DEF MAX_DEPTH = 32
DEF IOV_BATCH = 512
DEF READ_CHUNK = 262144

INLINE_MAX = INLINE_MAX_C

# reply kinds
KIND_GENERIC = 0
KIND_TENSOR = 1


class RespError(object):
    """An error reply (``-ERR ...``), returned in place of a value."""
    __slots__ = ("message",)

    def __init__(self, message):
        self.message = message

    def __repr__(self):
        return f"RespError({self.message!r})"

    def __str__(self):
        return self.message.decode("utf-8", "replace")


class ConnectionLost(Exception):
    """The peer closed the connection or a socket call failed (``index``: which connection)."""

    def __init__(self, index, message):
        super().__init__(message)
        self.index = index


class ReplyTimeout(Exception):
    """No complete reply within the timeout (``index``: the first connection still waiting)."""

    def __init__(self, index, message):
        super().__init__(message)
        self.index = index


class ProtocolError(Exception):
    """The byte stream is not valid RESP2."""

    def __init__(self, index, message):
        super().__init__(message)
        self.index = index


cdef inline double _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


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


cdef inline long long _parse_int(const char* p, const char* end) noexcept nogil:
    cdef long long v = 0
    cdef bint neg = False
    if p < end and p[0] == b'-':
        neg = True
        p += 1
    while p < end and p[0] >= 48 and p[0] <= 57:
        v = v * 10 + (p[0] - 48)
        p += 1
    return -v if neg else v


# ------------------------------------------------------------------------------ Frames

cdef struct Seg:
    char* ext          # NULL: an inline range [off, off + len) of the frame buffer
    size_t off
    size_t len


cdef class Frames:
    """Commands to send on one connection, with the kind of reply each one expects."""
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

    cdef inline int _header(self, char kind, Py_ssize_t nargs) except -1:
        self._reserve(24)
        self.buf[self.blen] = b'*'
        self.blen += 1 + _fmt_int(self.buf + self.blen + 1, nargs)
        self.buf[self.blen] = b'\r'
        self.buf[self.blen + 1] = b'\n'
        self.blen += 2
        self.kinds.append(kind)
        self.ncmds += 1
        return 0

    cdef inline int _bulk(self, const char* data, size_t n) except -1:
        self._reserve(n + 32)
        self.buf[self.blen] = b'$'
        self.blen += 1 + _fmt_int(self.buf + self.blen + 1, n)
        self.buf[self.blen] = b'\r'
        self.buf[self.blen + 1] = b'\n'
        self.blen += 2
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
        self.buf[self.blen] = b'$'
        self.blen += 1 + _fmt_int(self.buf + self.blen + 1, n)
        self.buf[self.blen] = b'\r'
        self.buf[self.blen + 1] = b'\n'
        self.blen += 2
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
        if nd == 0:
            # a numpy scalar array: one element of shape (1,)
            self._header(0, 6)
            self._bulk(b"AI.TENSORSET", 12)
            self._bulk(PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key))
            self._bulk(PyBytes_AS_STRING(tname), PyBytes_GET_SIZE(tname))
            self._bulk_int(1)
        else:
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

    def tensorsets(self, list keys, list arrays, list names=None):
        """``tensorset`` for parallel lists of keys and arrays."""
        cdef Py_ssize_t i, n = len(keys)
        if len(arrays) != n:
            raise ValueError("keys and arrays differ in length")
        for i in range(n):
            self.tensorset(keys[i], arrays[i], names[i] if names is not None else None)

    def tensorgets(self, list keys):
        cdef Py_ssize_t i
        for i in range(len(keys)):
            self.tensorget(keys[i])

    def keyed(self, bytes verb, list keys):
        """One ``verb key`` command per key (``EXISTS``, ``UNLINK``, ...)."""
        cdef Py_ssize_t i
        cdef bytes k
        for i in range(len(keys)):
            k = keys[i]
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


# ------------------------------------------------------------------------------ connection state

cdef struct BigSeg:
    char* data
    size_t len          # payload + CRLF
    size_t filled


cdef struct RState:
    int fd
    char* buf
    size_t start, end, cap
    size_t scan
    int depth
    long long rem[MAX_DEPTH]
    BigSeg* segs
    size_t nsegs, segcap, seg_read
    long filling
    size_t scanned, needed
    iovec* iov
    size_t niov, iov_i
    int err
    int eof


cdef class _Block:
    """A malloc'd reply payload exposed through the buffer protocol (freed with the last view)."""
    cdef char* data
    cdef Py_ssize_t size
    cdef Py_ssize_t shape[1]
    cdef Py_ssize_t strides[1]

    def __dealloc__(self):
        free(self.data)

    def __getbuffer__(self, Py_buffer* view, int flags):
        self.shape[0] = self.size
        self.strides[0] = 1
        view.buf = self.data
        view.obj = self
        view.len = self.size
        view.readonly = 0
        view.itemsize = 1
        view.format = "B"
        view.ndim = 1
        view.shape = self.shape
        view.strides = self.strides
        view.suboffsets = NULL
        view.internal = NULL

    def __releasebuffer__(self, Py_buffer* view):
        pass


cdef _Block _make_block(char* data, Py_ssize_t size):
    cdef _Block b = _Block.__new__(_Block)
    b.data = data
    b.size = size
    return b


cdef int _ensure_room(RState* s, size_t want) noexcept nogil:
    cdef size_t cap
    cdef char* nb
    if s.cap - s.end >= want:
        return 0
    cap = s.cap if s.cap else READ_CHUNK
    while cap - s.end < want:
        cap *= 2
    nb = <char*>realloc(s.buf, cap)
    if nb == NULL:
        return -1
    s.buf = nb
    s.cap = cap
    return 0


cdef int _scan(RState* s) noexcept nogil:
    """Advance the reply scanner over buffered bytes. 0: ok (maybe need more), -1: bad RESP,
    -2: out of memory."""
    cdef char* p
    cdef char* nl
    cdef size_t avail, linelen, hdr_end, take
    cdef long long n
    cdef char t
    cdef bint done
    cdef BigSeg* ns
    while s.scanned < s.needed and s.filling < 0:
        avail = s.end - s.scan
        if avail < 3:
            return 0
        p = s.buf + s.scan
        nl = <char*>memchr(p, b'\n', avail)
        if nl == NULL:
            return 0
        linelen = nl - p + 1
        t = p[0]
        done = True
        if t == b'+' or t == b'-' or t == b':':
            s.scan += linelen
        elif t == b'$':
            n = _parse_int(p + 1, nl)
            if n < 0:
                s.scan += linelen
            elif n > INLINE_MAX_C:
                hdr_end = s.scan + linelen
                if s.nsegs == s.segcap:
                    ns = <BigSeg*>realloc(s.segs, (s.segcap * 2 + 4) * sizeof(BigSeg))
                    if ns == NULL:
                        return -2
                    s.segs = ns
                    s.segcap = s.segcap * 2 + 4
                s.segs[s.nsegs].data = <char*>malloc(n + 2)
                if s.segs[s.nsegs].data == NULL:
                    return -2
                s.segs[s.nsegs].len = n + 2
                take = s.end - hdr_end
                if take > <size_t>(n + 2):
                    take = n + 2
                if take:
                    memcpy(s.segs[s.nsegs].data, s.buf + hdr_end, take)
                    memmove(s.buf + hdr_end, s.buf + hdr_end + take, s.end - hdr_end - take)
                    s.end -= take
                s.segs[s.nsegs].filled = take
                if take < <size_t>(n + 2):
                    s.filling = s.nsegs
                s.nsegs += 1
                s.scan = hdr_end
            else:
                if avail < linelen + n + 2:
                    return 0
                s.scan += linelen + n + 2
        elif t == b'*':
            n = _parse_int(p + 1, nl)
            s.scan += linelen
            if n > 0:
                if s.depth >= MAX_DEPTH:
                    return -1
                s.rem[s.depth] = n
                s.depth += 1
                done = False
        else:
            return -1
        if done:
            while s.depth > 0:
                s.rem[s.depth - 1] -= 1
                if s.rem[s.depth - 1] == 0:
                    s.depth -= 1
                else:
                    break
            if s.depth == 0:
                s.scanned += 1
    return 0


cdef inline bint _want_read(RState* s) noexcept nogil:
    return s.filling >= 0 or s.scanned < s.needed


cdef int _do_send(RState* s) noexcept nogil:
    """Send as much as the socket takes. 0 ok/would block, -1 error (errno in s.err)."""
    cdef msghdr msg
    cdef ssize_t n
    cdef size_t cnt, left
    while s.iov_i < s.niov:
        cnt = s.niov - s.iov_i
        if cnt > IOV_BATCH:
            cnt = IOV_BATCH
        msg.msg_name = NULL
        msg.msg_namelen = 0
        msg.msg_iov = s.iov + s.iov_i
        msg.msg_iovlen = cnt
        msg.msg_control = NULL
        msg.msg_controllen = 0
        msg.msg_flags = 0
        n = sendmsg(s.fd, &msg, MSG_NOSIGNAL)
        if n < 0:
            if errno == EAGAIN or errno == EWOULDBLOCK:
                return 0
            if errno == EINTR:
                continue
            s.err = errno
            return -1
        left = <size_t>n
        while left > 0 and s.iov_i < s.niov:
            if left >= s.iov[s.iov_i].iov_len:
                left -= s.iov[s.iov_i].iov_len
                s.iov_i += 1
            else:
                s.iov[s.iov_i].iov_base = <char*>s.iov[s.iov_i].iov_base + left
                s.iov[s.iov_i].iov_len -= left
                left = 0
        while s.iov_i < s.niov and s.iov[s.iov_i].iov_len == 0:
            s.iov_i += 1
    return 0


cdef int _do_recv(RState* s) noexcept nogil:
    """Read what is available. 0 ok/would block, -1 error or EOF."""
    cdef ssize_t n
    cdef BigSeg* g
    while True:
        if s.filling >= 0:
            g = &s.segs[s.filling]
            n = recv(s.fd, g.data + g.filled, g.len - g.filled, 0)
            if n > 0:
                g.filled += n
                if g.filled == g.len:
                    s.filling = -1
                    if _scan(s) < 0:
                        s.err = -1
                        return -1
                continue
        else:
            if _ensure_room(s, 65536) < 0:
                s.err = -2
                return -1
            n = recv(s.fd, s.buf + s.end, s.cap - s.end, 0)
            if n > 0:
                s.end += n
                if _scan(s) < 0:
                    s.err = -1
                    return -1
                if not _want_read(s):
                    return 0
                continue
        if n == 0:
            s.eof = 1
            return -1
        if errno == EAGAIN or errno == EWOULDBLOCK:
            return 0
        if errno == EINTR:
            continue
        s.err = errno
        return -1


cdef int _exchange_nogil(RState** ss, int k, double timeout, int* bad) noexcept nogil:
    """Drive k connections until every one has sent its frames and buffered its replies.
    0: done; -1: connection error at *bad; -2: timeout at *bad; -3: protocol error;
    -4: out of memory."""
    cdef pollfd* fds = <pollfd*>malloc(k * sizeof(pollfd))
    cdef int i, rc, nf, wait_ms
    cdef int* idx = <int*>malloc(k * sizeof(int))
    cdef double deadline = _now() + timeout, left
    cdef RState* s
    if fds == NULL or idx == NULL:
        free(fds)
        free(idx)
        return -4
    # optimistic first write: most frames fit the socket buffer at once
    for i in range(k):
        s = ss[i]
        if _do_send(s) < 0:
            bad[0] = i
            free(fds)
            free(idx)
            return -1
        if _scan(s) < 0:
            bad[0] = i
            free(fds)
            free(idx)
            return -3
    while True:
        nf = 0
        for i in range(k):
            s = ss[i]
            if s.iov_i < s.niov or _want_read(s):
                fds[nf].fd = s.fd
                fds[nf].events = 0
                if s.iov_i < s.niov:
                    fds[nf].events |= POLLOUT
                if _want_read(s):
                    fds[nf].events |= POLLIN
                fds[nf].revents = 0
                idx[nf] = i
                nf += 1
        if nf == 0:
            free(fds)
            free(idx)
            return 0
        left = deadline - _now()
        if left <= 0:
            bad[0] = idx[0]
            free(fds)
            free(idx)
            return -2
        wait_ms = <int>(left * 1000) + 1
        rc = poll(fds, nf, wait_ms)
        if rc < 0:
            if errno == EINTR:
                continue
            bad[0] = idx[0]
            ss[idx[0]].err = errno
            free(fds)
            free(idx)
            return -1
        if rc == 0:
            continue
        for i in range(nf):
            s = ss[idx[i]]
            if fds[i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL):
                if _do_recv(s) < 0:
                    bad[0] = idx[i]
                    free(fds)
                    free(idx)
                    if s.err == -1:
                        return -3
                    if s.err == -2:
                        return -4
                    return -1
            if fds[i].revents & POLLOUT:
                if _do_send(s) < 0:
                    bad[0] = idx[i]
                    free(fds)
                    free(idx)
                    return -1


cdef class Conn:
    """A connected socket (TCP or Unix) speaking RESP2; made non-blocking on attach."""
    cdef RState st
    cdef readonly object sock
    cdef public object address
    cdef readonly bint broken
    cdef bytearray _kinds

    def __cinit__(self):
        self.st.fd = -1
        self.st.filling = -1
        self.st.cap = 0
        self.st.buf = NULL

    def __init__(self, sock, address=None):
        sock.setblocking(False)
        self.sock = sock
        self.st.fd = sock.fileno()
        self.address = address
        self.broken = False

    def __dealloc__(self):
        self._free_segs()
        free(self.st.buf)
        free(self.st.iov)

    cdef void _free_segs(self):
        cdef size_t i
        for i in range(self.st.seg_read, self.st.nsegs):
            free(self.st.segs[i].data)
        free(self.st.segs)
        self.st.segs = NULL
        self.st.nsegs = 0
        self.st.segcap = 0
        self.st.seg_read = 0

    def close(self):
        """Close the socket; the connection cannot be used afterwards."""
        self.broken = True
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.st.fd = -1

    @property
    def closed(self):
        return self.broken

    cdef int _prepare(self, Frames f) except -1:
        cdef size_t i, count
        cdef iovec* v
        if self.broken:
            raise ConnectionLost(0, "connection is closed")
        f._close_run()
        count = f.nsegs
        try:
            if self.st.niov < f.nsegs or self.st.iov == NULL:
                v = <iovec*>realloc(self.st.iov, (f.nsegs + 1) * sizeof(iovec))
                if v == NULL:
                    raise MemoryError()
                self.st.iov = v
            for i in range(f.nsegs):
                if f.segs[i].ext == NULL:
                    self.st.iov[i].iov_base = f.buf + f.segs[i].off
                else:
                    self.st.iov[i].iov_base = f.segs[i].ext
                self.st.iov[i].iov_len = f.segs[i].len
        finally:
            f._reopen_run()
        self.st.niov = count
        self.st.iov_i = 0
        # reset the reply buffer (every previous reply was consumed)
        if self.st.start == self.st.end:
            self.st.start = self.st.end = self.st.scan = 0
        self._free_segs()
        self.st.filling = -1
        self.st.depth = 0
        self.st.scanned = 0
        self.st.needed = f.ncmds
        self.st.err = 0
        self.st.eof = 0
        return 0

    cdef object _take_seg(self):
        cdef BigSeg* g
        if self.st.seg_read >= self.st.nsegs:
            raise ProtocolError(0, "reply scanner and decoder disagree")
        g = &self.st.segs[self.st.seg_read]
        self.st.seg_read += 1
        blk = _make_block(g.data, g.len - 2)
        g.data = NULL
        return blk

    cdef object _parse(self):
        cdef char* p = self.st.buf + self.st.start
        cdef char* nl = <char*>memchr(p, b'\n', self.st.end - self.st.start)
        cdef size_t linelen = nl - p + 1
        cdef long long n, i
        cdef char t = p[0]
        cdef list out
        self.st.start += linelen
        if t == b'+':
            return PyBytes_FromStringAndSize(p + 1, linelen - 3)
        if t == b':':
            return _parse_int(p + 1, nl)
        if t == b'-':
            return RespError(PyBytes_FromStringAndSize(p + 1, linelen - 3))
        if t == b'$':
            n = _parse_int(p + 1, nl)
            if n < 0:
                return None
            if n > INLINE_MAX_C:
                return bytes(memoryview(self._take_seg()))
            self.st.start += n + 2
            return PyBytes_FromStringAndSize(p + linelen, n)
        if t == b'*':
            n = _parse_int(p + 1, nl)
            if n < 0:
                return None
            out = [None] * n
            for i in range(n):
                out[i] = self._parse()
            return out
        raise ProtocolError(0, f"unexpected RESP type byte {chr(t)!r}")

    cdef object _parse_tensor(self):
        """``AI.TENSORGET key META BLOB`` reply -> ndarray (or RespError / raw list)."""
        cdef char* p = self.st.buf + self.st.start
        cdef char* nl
        cdef long long n, i, nbytes
        cdef object dtype = None, shape = None, key, val, arr = None
        cdef cnp.ndarray a
        if p[0] != b'*':
            return self._parse()
        nl = <char*>memchr(p, b'\n', self.st.end - self.st.start)
        n = _parse_int(p + 1, nl)
        self.st.start += nl - p + 1
        items = []
        i = 0
        while i < n:
            key = self._parse()
            i += 1
            if i >= n:
                items.append(key)
                break
            if key == b"blob" and dtype is not None and shape is not None:
                p = self.st.buf + self.st.start
                if p[0] != b'$':
                    items.append(key)
                    continue
                nl = <char*>memchr(p, b'\n', self.st.end - self.st.start)
                nbytes = _parse_int(p + 1, nl)
                self.st.start += nl - p + 1
                if nbytes > INLINE_MAX_C:
                    arr = np.frombuffer(self._take_seg(), dtype=dtype).reshape(shape)
                else:
                    a = np.empty(shape, dtype=dtype)
                    if <long long>cnp.PyArray_NBYTES(a) != nbytes:
                        self.st.start += nbytes + 2
                        raise ProtocolError(0, f"tensor blob of {nbytes} bytes does not match "
                                               f"shape {shape} of {dtype}")
                    memcpy(cnp.PyArray_DATA(a), self.st.buf + self.st.start, nbytes)
                    self.st.start += nbytes + 2
                    arr = a
                i += 1
                items.append(key)
                items.append(arr)
                continue
            val = self._parse()
            i += 1
            if key == b"dtype" and isinstance(val, bytes):
                dtype = dtype_of_name(val)
                if dtype is None:
                    dtype = None
            elif key == b"shape" and isinstance(val, list):
                shape = tuple(val)
            items.append(key)
            items.append(val)
        if dtype is None or shape is None:
            return items
        return arr if arr is not None else items

    cdef list _parse_all(self):
        cdef Py_ssize_t i, n = self.st.needed
        cdef list out = [None] * n
        cdef bytearray kinds = self._kinds
        for i in range(n):
            if kinds[i] == 1:
                out[i] = self._parse_tensor()
            else:
                out[i] = self._parse()
        if self.st.start == self.st.end:
            self.st.start = self.st.end = self.st.scan = 0
        self._free_segs()
        self._kinds = None
        return out

    def request(self, Frames frames, double timeout=100.0):
        """Send ``frames`` and return the list of replies (one per command)."""
        return exchange([self], [frames], timeout)[0]


def exchange(list conns, list frames, double timeout=100.0):
    """Send ``frames[i]`` on ``conns[i]`` for every i and read all replies, connections served
    in parallel with the GIL released.  Returns one list of replies per connection.

    On a socket error, end of stream or timeout every connection of the call is closed
    (their streams are no longer in a known state) and ConnectionLost / ReplyTimeout /
    ProtocolError is raised with the index of the failing connection."""
    cdef int k = len(conns), i, rc, bad = 0
    cdef RState** ss = <RState**>malloc(k * sizeof(RState*))
    cdef Conn c
    cdef Frames f
    if ss == NULL:
        raise MemoryError()
    try:
        for i in range(k):
            c = <Conn>conns[i]
            f = <Frames>frames[i]
            c._prepare(f)
            c._kinds = f.kinds
            ss[i] = &c.st
        with nogil:
            rc = _exchange_nogil(ss, k, timeout, &bad)
    finally:
        free(ss)
    if rc != 0:
        c = <Conn>conns[bad]
        if rc == -1:
            if c.st.eof:
                msg = "connection closed by the server"
            elif c.st.err > 0:
                msg = strerror(c.st.err).decode("utf-8", "replace")
            else:
                msg = "socket error"
        elif rc == -2:
            msg = f"no reply within {timeout:g} s"
        elif rc == -3:
            msg = "invalid RESP reply"
        else:
            msg = "out of memory while reading a reply"
        for i in range(k):
            (<Conn>conns[i]).close()
        if rc == -2:
            raise ReplyTimeout(bad, msg)
        if rc == -3:
            raise ProtocolError(bad, msg)
        if rc == -4:
            raise MemoryError(msg)
        raise ConnectionLost(bad, msg)
    return [(<Conn>conns[i])._parse_all() for i in range(k)]
