# cython: language_level=3
"""RESP2 framing for the client: commands encoded straight from numpy buffers, replies parsed
by hiredis into numpy arrays, sockets driven with the GIL released.

* :class:`Frames` accumulates commands.  Small arguments are copied into one contiguous
  buffer; arguments larger than ``INLINE_MAX`` (tensor blobs, model chunks) are *referenced*
  and go out with gathered writes (``sendmsg`` with an iovec list), so a 64 MiB tensor is
  never copied in user space.
* :class:`Conn` wraps a connected, non-blocking socket (TCP or Unix).  ``exchange(conns,
  frames, timeout)`` writes every connection's frames and reads the expected number of
  replies from all of them at once in one ``poll`` loop without the GIL, so shards are
  served in parallel.  Received bytes go to a hiredis reader whose object functions build
  a compact reply tree (no Python objects, no GIL); a bulk string larger than
  ``INLINE_MAX`` is copied once out of the reader into an allocation of its own, which a
  tensor reply then hands to numpy (the array's base owns it: no second copy).
* Replies are then decoded with the GIL: status/bulk -> bytes, integer -> int, array ->
  list, error -> :class:`RespError` (returned, not raised, so a pipeline reports each
  command); ``AI.TENSORGET .. META BLOB`` replies -> ndarray directly.
"""
cimport cython
from cpython.buffer cimport PyBUF_ANY_CONTIGUOUS, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_CheckSignals
from libc.errno cimport EAGAIN, EINTR, errno
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp, memcpy, memset, strerror

import numpy as np
cimport numpy as cnp

from _fastpath.tensor cimport (MAX_DIMS_C, as_sendable, max_dims, type_name_of,
                               typenum_of_name)

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

cdef extern from "hiredis_compat.h" nogil:
    ctypedef int hiredis_count_t
    cdef struct redisReadTask:
        int type
        int idx
        void* obj
        redisReadTask* parent
        void* privdata
    cdef struct redisReplyObjectFunctions:
        void* (*createString)(const redisReadTask*, char*, size_t) noexcept nogil
        void* (*createArray)(const redisReadTask*, hiredis_count_t) noexcept nogil
        void* (*createInteger)(const redisReadTask*, long long) noexcept nogil
        void* (*createNil)(const redisReadTask*) noexcept nogil
        void (*freeObject)(void*) noexcept nogil
    cdef struct redisReader:
        int err
        char errstr[128]
        void* privdata
    redisReader* redisReaderCreateWithFunctions(redisReplyObjectFunctions* fn)
    void redisReaderFree(redisReader* r)
    int redisReaderFeed(redisReader* r, const char* buf, size_t len)
    int redisReaderGetReply(redisReader* r, void** reply)
    enum:
        REDIS_OK
        REDIS_ERR_OOM
        REDIS_REPLY_STRING
        REDIS_REPLY_ARRAY
        REDIS_REPLY_INTEGER
        REDIS_REPLY_NIL
        REDIS_REPLY_STATUS
        REDIS_REPLY_ERROR

cdef extern from "<time.h>" nogil:
    struct timespec:
        long tv_sec
        long tv_nsec
    int clock_gettime(int clk, timespec* ts)
    int CLOCK_MONOTONIC

DEF INLINE_MAX_C = 65536
DEF IOV_BATCH = 512
DEF READ_CHUNK = 262144
DEF FEED_CHUNK = 16384
DEF TEXT_KEEP = 16777216   # reply text arena kept between exchanges

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


cdef cnp.intp_t[::1] _positions(object positions, Py_ssize_t n):
    cdef cnp.intp_t[::1] pos = np.ascontiguousarray(positions, dtype=np.intp)
    cdef Py_ssize_t j
    for j in range(pos.shape[0]):
        if pos[j] < 0 or pos[j] >= n:
            raise IndexError(f"position {pos[j]} out of range for {n} keys")
    return pos


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


# ------------------------------------------------------------------------------ replies
#
# hiredis parses the replies.  Its reader calls our object functions, which run without the
# GIL and build a compact tree in per-connection arenas (nodes, child slots, string bytes);
# a bulk string larger than INLINE_MAX gets an allocation of its own, which a tensor reply
# hands to numpy as the array's memory (the one copy out of the reader's buffer).  Python
# objects are made from the tree once every reply of the exchange is in.

cdef struct RNode:
    int type
    long long n         # integer value, string length or element count
    size_t off          # string: offset into text; array: first slot in kids
    char* big           # a large string's own allocation (owned until taken)


cdef struct RState:
    int fd
    redisReader* reader
    char* rbuf
    RNode* nodes
    size_t nnodes, nodecap
    size_t* kids
    size_t nkids, kidcap
    char* text
    size_t ntext, textcap
    size_t* roots
    size_t rootcap
    size_t scanned, needed
    iovec* iov
    size_t niov, iov_i, iovcap
    int err
    int eof
    int oom


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


cdef int _grow(void** p, size_t* cap, size_t want, size_t item, size_t first) noexcept nogil:
    """Make room for ``want`` items in the array at ``*p`` (capacity ``*cap``)."""
    cdef size_t c = cap[0] if cap[0] else first
    cdef void* np_
    if want <= cap[0]:
        return 0
    while c < want:
        c *= 2
    np_ = realloc(p[0], c * item)
    if np_ == NULL:
        return -1
    p[0] = np_
    cap[0] = c
    return 0


cdef void* _new_node(const redisReadTask* task, int type, long long n) noexcept nogil:
    """Append a node for ``task`` and link it into its parent; returns the node's handle
    (index + 1, so that no handle is NULL) or NULL when out of memory."""
    cdef RState* s = <RState*>task.privdata
    cdef size_t i = s.nnodes
    cdef RNode* parent
    if _grow(<void**>&s.nodes, &s.nodecap, i + 1, sizeof(RNode), 1024) < 0:
        s.oom = 1
        return NULL
    s.nodes[i].type = type
    s.nodes[i].n = n
    s.nodes[i].off = 0
    s.nodes[i].big = NULL
    s.nnodes = i + 1
    if task.parent != NULL:
        parent = &s.nodes[<size_t>task.parent.obj - 1]
        s.kids[parent.off + <size_t>task.idx] = i
    return <void*>(i + 1)


cdef void* _on_string(const redisReadTask* task, char* data, size_t n) noexcept nogil:
    cdef RState* s = <RState*>task.privdata
    cdef void* h = _new_node(task, task.type, <long long>n)
    cdef RNode* node
    cdef char* big
    if h == NULL:
        return NULL
    node = &s.nodes[<size_t>h - 1]
    if n > INLINE_MAX_C:
        big = <char*>malloc(n)
        if big == NULL:
            s.oom = 1
            return NULL
        memcpy(big, data, n)
        node.big = big
    else:
        if _grow(<void**>&s.text, &s.textcap, s.ntext + n, 1, 65536) < 0:
            s.oom = 1
            return NULL
        memcpy(s.text + s.ntext, data, n)
        node.off = s.ntext
        s.ntext += n
    return h


cdef void* _on_array(const redisReadTask* task, hiredis_count_t elements) noexcept nogil:
    cdef RState* s = <RState*>task.privdata
    cdef size_t first = s.nkids
    cdef void* h
    if _grow(<void**>&s.kids, &s.kidcap, first + <size_t>elements, sizeof(size_t), 1024) < 0:
        s.oom = 1
        return NULL
    h = _new_node(task, REDIS_REPLY_ARRAY, <long long>elements)
    if h == NULL:
        return NULL
    s.nodes[<size_t>h - 1].off = first
    s.nkids = first + <size_t>elements
    return h


cdef void* _on_integer(const redisReadTask* task, long long v) noexcept nogil:
    return _new_node(task, REDIS_REPLY_INTEGER, v)


cdef void* _on_nil(const redisReadTask* task) noexcept nogil:
    return _new_node(task, REDIS_REPLY_NIL, 0)


cdef void _on_free(void* obj) noexcept nogil:
    # nodes live in the connection's arenas, reset before every exchange
    pass


cdef redisReplyObjectFunctions _TREE_FUNCTIONS
memset(&_TREE_FUNCTIONS, 0, sizeof(_TREE_FUNCTIONS))
_TREE_FUNCTIONS.createString = _on_string
_TREE_FUNCTIONS.createArray = _on_array
_TREE_FUNCTIONS.createInteger = _on_integer
_TREE_FUNCTIONS.createNil = _on_nil
_TREE_FUNCTIONS.freeObject = _on_free


cdef void _reset_tree(RState* s) noexcept nogil:
    cdef size_t i
    for i in range(s.nnodes):
        if s.nodes[i].big != NULL:
            free(s.nodes[i].big)
            s.nodes[i].big = NULL
    s.nnodes = 0
    s.nkids = 0
    s.ntext = 0
    if s.textcap > TEXT_KEEP:
        free(s.text)
        s.text = NULL
        s.textcap = 0


cdef int _drain(RState* s) noexcept nogil:
    """Take every complete reply hiredis has; 0 ok, -1 protocol error, -2 out of memory."""
    cdef void* reply
    while s.scanned < s.needed:
        reply = NULL
        if redisReaderGetReply(s.reader, &reply) != REDIS_OK:
            return -2 if (s.oom or s.reader.err == REDIS_ERR_OOM) else -1
        if reply == NULL:
            return 0
        s.roots[s.scanned] = <size_t>reply - 1
        s.scanned += 1
    return 0


cdef inline bint _want_read(RState* s) noexcept nogil:
    return s.scanned < s.needed


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
    """Read what is available and feed it to hiredis. 0 ok/would block, -1 error or EOF
    (s.err: errno, -1 protocol error, -2 out of memory)."""
    cdef ssize_t n
    cdef size_t off, piece, before
    cdef int rc
    while True:
        n = recv(s.fd, s.rbuf, READ_CHUNK, 0)
        if n > 0:
            # hiredis moves the unread rest of its buffer down after every reply, so it is
            # fed in small pieces (as its own socket reader does)
            # to keep that move short; inside a large element (a piece that completes no
            # reply) the rest of the read goes in at once
            off = 0
            piece = FEED_CHUNK
            while off < <size_t>n:
                if piece > <size_t>n - off:
                    piece = <size_t>n - off
                if redisReaderFeed(s.reader, s.rbuf + off, piece) != REDIS_OK:
                    s.err = -2
                    return -1
                off += piece
                before = s.scanned
                rc = _drain(s)
                if rc < 0:
                    s.err = rc
                    return -1
                piece = FEED_CHUNK if s.scanned != before else READ_CHUNK
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


cdef int _exchange_nogil(RState** ss, int k, double deadline, int* bad) noexcept nogil:
    """Drive k connections until every one has sent its frames and parsed its replies (or
    ``deadline``, on the monotonic clock, passes).  0: done; -1: connection error at *bad;
    -2: timeout at *bad; -3: protocol error; -4: out of memory; -5: a signal arrived (the
    caller runs Python's handlers and calls again: all progress is kept in the states)."""
    cdef pollfd* fds = <pollfd*>malloc(k * sizeof(pollfd))
    cdef int i, rc, nf, wait_ms
    cdef int* idx = <int*>malloc(k * sizeof(int))
    cdef double left
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
                free(fds)
                free(idx)
                return -5
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


cdef bytes _OK = b"OK"


cdef class Conn:
    """A connected socket (TCP or Unix) speaking RESP2; made non-blocking on attach."""
    cdef RState st
    cdef readonly object sock
    cdef public object address
    cdef readonly bint broken
    cdef bytearray _kinds
    cdef list _queued      # Frames on the wire for the current request (kept alive)

    def __cinit__(self):
        memset(&self.st, 0, sizeof(RState))
        self.st.fd = -1
        self.st.reader = redisReaderCreateWithFunctions(&_TREE_FUNCTIONS)
        self.st.rbuf = <char*>malloc(READ_CHUNK)
        if self.st.reader == NULL or self.st.rbuf == NULL:
            raise MemoryError()
        self.st.reader.privdata = &self.st

    def __init__(self, sock, address=None):
        sock.setblocking(False)
        self.sock = sock
        self.st.fd = sock.fileno()
        self.address = address
        self.broken = False

    def __dealloc__(self):
        _reset_tree(&self.st)
        if self.st.reader != NULL:
            redisReaderFree(self.st.reader)
        free(self.st.rbuf)
        free(self.st.nodes)
        free(self.st.kids)
        free(self.st.text)
        free(self.st.roots)
        free(self.st.iov)

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

    def abandon(self):
        """Give up a request begun with ``send_ahead`` and not completed by ``exchange``:
        its replies are still due, so the connection is out of step and is closed."""
        if self._queued:
            self.close()
        self._queued = None

    cdef int _begin(self) except -1:
        """Start a new request: no frames queued, no replies expected."""
        if self.broken:
            raise ConnectionLost(0, "connection is closed")
        _reset_tree(&self.st)
        self.st.niov = 0
        self.st.iov_i = 0
        self.st.scanned = 0
        self.st.needed = 0
        self.st.err = 0
        self.st.eof = 0
        self.st.oom = 0
        self._kinds = bytearray()
        self._queued = []
        return 0

    cdef int _append(self, Frames f) except -1:
        """Queue ``f`` behind what is queued (its buffers are referenced, so ``f`` must not
        be added to afterwards)."""
        cdef size_t i, base = self.st.niov
        cdef iovec* v
        if self.broken:
            raise ConnectionLost(0, "connection is closed")
        f._close_run()
        try:
            if _grow(<void**>&self.st.iov, &self.st.iovcap, base + f.nsegs + 1, sizeof(iovec),
                     16) < 0:
                raise MemoryError()
            for i in range(f.nsegs):
                v = &self.st.iov[base + i]
                if f.segs[i].ext == NULL:
                    v.iov_base = f.buf + f.segs[i].off
                else:
                    v.iov_base = f.segs[i].ext
                v.iov_len = f.segs[i].len
            self.st.niov = base + f.nsegs
        finally:
            f._reopen_run()
        if _grow(<void**>&self.st.roots, &self.st.rootcap, self.st.needed + <size_t>f.ncmds + 1,
                 sizeof(size_t), 64) < 0:
            raise MemoryError()
        self.st.needed += f.ncmds
        self._kinds.extend(f.kinds)
        self._queued.append(f)
        return 0

    cdef object _take_big(self, RNode* node):
        blk = _make_block(node.big, node.n)
        node.big = NULL
        return blk

    cdef object _to_py(self, size_t i):
        cdef RNode* node = &self.st.nodes[i]
        cdef long long j
        cdef list out
        cdef char* p
        cdef int t = node.type
        if t == REDIS_REPLY_STRING or t == REDIS_REPLY_STATUS or t == REDIS_REPLY_ERROR:
            if node.big != NULL:
                b = PyBytes_FromStringAndSize(node.big, node.n)
                free(node.big)
                node.big = NULL
            else:
                p = self.st.text + node.off
                if t == REDIS_REPLY_STATUS and node.n == 2 and p[0] == b'O' and p[1] == b'K':
                    return _OK
                b = PyBytes_FromStringAndSize(p, node.n)
            return RespError(b) if t == REDIS_REPLY_ERROR else b
        if t == REDIS_REPLY_INTEGER:
            return node.n
        if t == REDIS_REPLY_ARRAY:
            out = [None] * node.n
            for j in range(node.n):
                out[j] = self._to_py(self.st.kids[node.off + j])
            return out
        return None

    cdef inline bint _is(self, RNode* node, const char* word, size_t n):
        return ((node.type == REDIS_REPLY_STRING or node.type == REDIS_REPLY_STATUS)
                and node.big == NULL and <size_t>node.n == n
                and memcmp(self.st.text + node.off, word, n) == 0)

    cdef object _to_tensor(self, size_t i):
        """``AI.TENSORGET key META BLOB`` reply -> ndarray; anything else (an error, a reply
        of another shape) as the generic decoding."""
        cdef RNode* node = &self.st.nodes[i]
        cdef RNode* key
        cdef RNode* val
        cdef RNode* blob = NULL
        cdef RNode* shape = NULL
        cdef int typenum = -1, nd = 0
        cdef long long j, nbytes
        cdef cnp.npy_intp dims[MAX_DIMS_C]
        cdef cnp.ndarray arr
        if node.type != REDIS_REPLY_ARRAY or node.n % 2:
            return self._to_py(i)
        for j in range(0, node.n, 2):
            key = &self.st.nodes[self.st.kids[node.off + j]]
            val = &self.st.nodes[self.st.kids[node.off + j + 1]]
            if self._is(key, b"dtype", 5) and val.type == REDIS_REPLY_STRING and val.big == NULL:
                typenum = typenum_of_name(self.st.text + val.off, val.n)
            elif self._is(key, b"shape", 5) and val.type == REDIS_REPLY_ARRAY:
                shape = val
            elif self._is(key, b"blob", 4) and val.type == REDIS_REPLY_STRING:
                blob = val
        if typenum < 0 or shape is NULL or blob is NULL:
            return self._to_py(i)
        if shape.n > max_dims():
            # stored by a client without our limit (or before the module had one): numpy
            # cannot hold it; said in place of the reply, so the other replies still decode
            return RespError(f"the tensor has {shape.n} dimensions; numpy {np.__version__} "
                             f"arrays have at most {max_dims()}".encode())
        nd = <int>shape.n
        for j in range(nd):
            val = &self.st.nodes[self.st.kids[shape.off + j]]
            if val.type != REDIS_REPLY_INTEGER or val.n < 0:
                return self._to_py(i)
            dims[j] = <cnp.npy_intp>val.n
        if blob.big != NULL:
            arr = cnp.PyArray_SimpleNewFromData(nd, dims, typenum, blob.big)
            nbytes = cnp.PyArray_NBYTES(arr)
            if nbytes != blob.n:
                raise ProtocolError(0, f"tensor blob of {blob.n} bytes does not match shape "
                                       f"{(<object>arr).shape} of {(<object>arr).dtype}")
            cnp.set_array_base(arr, self._take_big(blob))
            return arr
        arr = cnp.PyArray_EMPTY(nd, dims, typenum, 0)
        nbytes = cnp.PyArray_NBYTES(arr)
        if nbytes != blob.n:
            raise ProtocolError(0, f"tensor blob of {blob.n} bytes does not match shape "
                                   f"{(<object>arr).shape} of {(<object>arr).dtype}")
        memcpy(cnp.PyArray_DATA(arr), self.st.text + blob.off, nbytes)
        return arr

    cdef list _parse_all(self):
        cdef Py_ssize_t i, n = self.st.needed
        cdef list out = [None] * n
        cdef bytearray kinds = self._kinds
        try:
            for i in range(n):
                if kinds[i] == 1:
                    out[i] = self._to_tensor(self.st.roots[i])
                else:
                    out[i] = self._to_py(self.st.roots[i])
        finally:
            _reset_tree(&self.st)
            self._kinds = None
            self._queued = None
        return out

    def request(self, Frames frames, double timeout=100.0):
        """Send ``frames`` and return the list of replies (one per command)."""
        return exchange([self], [frames], timeout)[0]


cdef _lost(list conns, int bad, int rc, double timeout):
    """Close every connection of a failed call and raise what went wrong at ``bad``."""
    cdef Conn c = <Conn>conns[bad]
    cdef int i
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
        msg = "invalid RESP reply: " + (<bytes>c.st.reader.errstr).decode("utf-8", "replace")
    else:
        msg = "out of memory while reading a reply"
    for i in range(len(conns)):
        (<Conn>conns[i]).close()
        (<Conn>conns[i])._queued = None
    if rc == -2:
        raise ReplyTimeout(bad, msg)
    if rc == -3:
        raise ProtocolError(bad, msg)
    if rc == -4:
        raise MemoryError(msg)
    raise ConnectionLost(bad, msg)


cdef int _queue_all(list conns, list frames, RState** ss) except -1:
    cdef int i
    cdef Conn c
    if len(frames) != len(conns):
        raise ValueError("one Frames per connection is expected")
    try:
        for i in range(len(conns)):
            c = <Conn>conns[i]
            if c._queued is None:
                c._begin()
            c._append(<Frames>frames[i])
            ss[i] = &c.st
    except BaseException:
        # a connection with frames already on the wire is out of step: close it
        for i in range(len(conns)):
            c = <Conn>conns[i]
            if c._queued:
                c.close()
            c._queued = None
        raise
    return 0


def send_ahead(list conns, list frames):
    """Queue ``frames[i]`` on ``conns[i]``, write what the sockets take now and parse the
    replies that have already come, then return without waiting.  The next ``exchange`` on
    these connections completes the request and returns every reply, these first.  (A large
    batch sent in pieces this way keeps the server busy while the next piece is encoded.)"""
    cdef int k = len(conns), i, rc = 0, bad = 0
    cdef RState** ss = <RState**>malloc(k * sizeof(RState*)) if k else NULL
    if k and ss == NULL:
        raise MemoryError()
    try:
        _queue_all(conns, frames, ss)
        with nogil:
            for i in range(k):
                if _do_send(ss[i]) < 0:
                    rc, bad = -1, i
                    break
                if _want_read(ss[i]) and _do_recv(ss[i]) < 0:
                    bad = i
                    rc = -3 if ss[i].err == -1 else (-4 if ss[i].err == -2 else -1)
                    break
    finally:
        free(ss)
    if rc != 0:
        _lost(conns, bad, rc, 0.0)


def exchange(list conns, list frames, double timeout=100.0):
    """Send ``frames[i]`` on ``conns[i]`` for every i and read all replies, connections served
    in parallel with the GIL released.  Returns one list of replies per connection (after
    the replies to frames queued by ``send_ahead``, if any).

    On a socket error, end of stream or timeout every connection of the call is closed
    (their streams are no longer in a known state) and ConnectionLost / ReplyTimeout /
    ProtocolError is raised with the index of the failing connection."""
    cdef int k = len(conns), i, rc, bad = 0
    cdef RState** ss = <RState**>malloc(k * sizeof(RState*)) if k else NULL
    if k and ss == NULL:
        raise MemoryError()
    cdef double deadline = _now() + timeout
    try:
        _queue_all(conns, frames, ss)
        while True:
            with nogil:
                rc = _exchange_nogil(ss, k, deadline, &bad)
            if rc != -5:
                break
            try:
                PyErr_CheckSignals()  # Ctrl-C raises here, instead of waiting for the reply
            except BaseException:
                for i in range(k):
                    (<Conn>conns[i]).close()  # replies are still due: out of step
                    (<Conn>conns[i])._queued = None
                raise
    finally:
        free(ss)
    if rc != 0:
        _lost(conns, bad, rc, timeout)
    return [(<Conn>conns[i])._parse_all() for i in range(k)]
