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
# One extension built from three parts, included below (as asyncpg's protocol.pyx).  The
# encoder, the reply parser and the socket loop call each other on the hot path with plain C
# calls (Conn queues a Frames' segments as iovecs, the poll loop feeds hiredis whose object
# functions fill the reply tree, the decoder hands reply allocations to numpy), so they stay
# one module; each part's C declarations are in its .pxd (all included by resp.pxd).
#
#   resp.pyx          this file: cimports, the public constants and exceptions, shared helpers
#   resp_frames.pxi   the encoder (Frames)
#   resp_reply.pxi    the hiredis reply parser and the decoding of replies to Python values
#   resp_conn.pxi     the socket loop (Conn, send_ahead, exchange)
#
# The parts use the cimports of this file; they are not modules of their own (hence .pxi).
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


include "resp_frames.pxi"
include "resp_reply.pxi"
include "resp_conn.pxi"
