# Part of the extension _fastpath.resp, included by resp.pyx (declarations: resp_conn.pxd).
#
# The socket loop.  Conn wraps a connected, non-blocking socket; ``exchange`` queues each
# connection's Frames as an iovec, writes them with sendmsg and reads every expected reply
# from all connections in one poll loop with the GIL released (shards served in parallel),
# then decodes the replies with the GIL.  It is a part of one extension, not a module of its
# own, because every request crosses into the encoder (a Frames' segments become the iovec)
# and the reply parser (each read is fed to hiredis and the reply tree filled) on the hot
# path, with plain C calls and struct access.

cdef enum:
    IOV_BATCH = 512
    READ_CHUNK = 262144


cdef inline double _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef inline bint _want_read(RState* s) noexcept nogil:
    return s.tree.scanned < s.tree.needed


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
    cdef int rc
    while True:
        n = recv(s.fd, s.rbuf, READ_CHUNK, 0)
        if n > 0:
            rc = _feed(&s.tree, s.rbuf, <size_t>n)
            if rc < 0:
                s.err = rc
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


cdef class Conn:
    """A connected socket (TCP or Unix) speaking RESP2; made non-blocking on attach."""

    def __cinit__(self):
        memset(&self.st, 0, sizeof(RState))
        self.st.fd = -1
        self.st.rbuf = <char*>malloc(READ_CHUNK)
        if _tree_init(&self.st.tree) < 0 or self.st.rbuf == NULL:
            raise MemoryError()

    def __init__(self, sock, address=None):
        sock.setblocking(False)
        self.sock = sock
        self.st.fd = sock.fileno()
        self.address = address
        self.broken = False

    def __dealloc__(self):
        _tree_free(&self.st.tree)
        free(self.st.rbuf)
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
        _reset_tree(&self.st.tree)
        self.st.tree.scanned = 0
        self.st.tree.needed = 0
        self.st.tree.oom = 0
        self.st.niov = 0
        self.st.iov_i = 0
        self.st.err = 0
        self.st.eof = 0
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
        if _expect(&self.st.tree, <size_t>f.ncmds) < 0:
            raise MemoryError()
        self._kinds.extend(f.kinds)
        self._queued.append(f)
        return 0

    cdef list _parse_all(self):
        cdef list out
        try:
            out = _decode_all(&self.st.tree, self._kinds)
        finally:
            _reset_tree(&self.st.tree)
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
        msg = "invalid RESP reply: " + (<bytes>c.st.tree.reader.errstr).decode("utf-8", "replace")
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
