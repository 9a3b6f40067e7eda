# cython: language_level=3
# Declarations of the extension ``_fastpath.resp`` (the C contract between its parts).
#
# ``resp.pyx`` is built from three included parts (as asyncpg's protocol.pyx); each part's
# structs, cdef class and the cdef functions it offers the other parts are declared in the
# part's own ``.pxd``, included here, so this file is the whole C-level surface of the
# module (and what ``cimport _fastpath.resp`` sees):
#
#   resp_frames.pxd / .pxi  the encoder: Frames (commands -> RESP, payloads referenced)
#   resp_reply.pxd  / .pxi  the reply parser: hiredis object functions -> a reply tree
#                           (RTree) -> Python values / ndarrays
#   resp_conn.pxd   / .pxi  the socket loop: Conn (RState: socket, iovec, RTree), the
#                           poll loop without the GIL, send_ahead / exchange
#
# Order matters: resp_conn.pxd embeds the RTree of resp_reply.pxd and reads Frames' fields.

cdef enum:
    # An argument or reply string longer than this is referenced (sent by gathered write) /
    # kept in an allocation of its own (handed to numpy), never copied into an arena.
    INLINE_MAX_C = 65536

# Make room for ``want`` items of ``item`` bytes in the array at ``*p`` (capacity ``*cap``,
# ``first`` when it is 0); 0 ok, -1 out of memory.  Used by the reply arenas and the iovec.
cdef int _grow(void** p, size_t* cap, size_t want, size_t item, size_t first) noexcept nogil

include "resp_frames.pxd"
include "resp_reply.pxd"
include "resp_conn.pxd"
