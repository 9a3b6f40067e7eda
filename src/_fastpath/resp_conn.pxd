# Part of _fastpath.resp (included by resp.pxd; the code is in resp_conn.pxi).
# The socket loop: Conn holds a socket, the iovec of the frames queued on it and the reply
# tree its replies are parsed into (RState); send_ahead / exchange drive many connections in
# one poll loop without the GIL.  It reads Frames' segments (resp_frames.pxd) and feeds the
# reply parser (resp_reply.pxd) with plain C calls, hence one extension.

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


cdef struct RState:
    # One connection's side of a request, everything the GIL-free loop touches.
    int fd
    char* rbuf            # READ_CHUNK bytes: what recv reads before hiredis gets it
    RTree tree            # the replies (resp_reply.pxd); tree.reader.privdata == &tree
    iovec* iov            # the queued frames' segments; iov_i: the first not fully sent
    size_t niov, iov_i, iovcap
    int err               # errno of the failed call, or -1 protocol error, -2 out of memory
    int eof


cdef class Conn:
    cdef RState st
    cdef readonly object sock
    cdef public object address
    cdef readonly bint broken
    cdef bytearray _kinds
    cdef list _queued      # Frames on the wire for the current request (kept alive)

    cdef int _begin(self) except -1
    cdef int _append(self, Frames f) except -1
    cdef list _parse_all(self)


# The GIL-free loop.  _do_send / _do_recv: 0 ok or would block, -1 error (s.err, s.eof).
cdef int _do_send(RState* s) noexcept nogil
cdef int _do_recv(RState* s) noexcept nogil
# Drive k connections to completion or ``deadline``; 0 done, -1 connection error, -2 timeout,
# -3 protocol error, -4 out of memory, -5 a signal arrived (call again after the handlers).
cdef int _exchange_nogil(RState** ss, int k, double deadline, int* bad) noexcept nogil
