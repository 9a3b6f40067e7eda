# Part of _fastpath.resp (included by resp.pxd; the code is in resp_reply.pxi).
# The reply parser: a hiredis reader whose object functions build a reply tree (RTree) in
# arenas without the GIL, and the decoding of that tree to Python values and ndarrays.  The
# socket loop (resp_conn.pxi) embeds an RTree in each connection's state and feeds it from
# its poll loop with plain C calls, hence one extension.

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


cdef struct RNode:
    int type
    long long n         # integer value, string length or element count
    size_t off          # string: offset into text; array: first slot in kids
    char* big           # a large string's own allocation (owned until taken)


cdef struct RTree:
    # The replies of one request on one connection: the hiredis reader (its privdata points
    # back here) and the arenas its object functions fill; reset before every request.
    redisReader* reader
    RNode* nodes
    size_t nnodes, nodecap
    size_t* kids          # child slots of arrays (node indices)
    size_t nkids, kidcap
    char* text            # the bytes of every string not larger than INLINE_MAX_C
    size_t ntext, textcap
    size_t* roots         # node index of each complete reply, in order
    size_t rootcap
    size_t scanned        # replies complete so far
    size_t needed         # replies expected
    int oom


cdef class _Block:
    cdef char* data
    cdef Py_ssize_t size
    cdef Py_ssize_t shape[1]
    cdef Py_ssize_t strides[1]


# An RTree with its reader (0), or -1 out of memory; _tree_free releases everything.
cdef int _tree_init(RTree* t) noexcept nogil
cdef void _tree_free(RTree* t) noexcept nogil
# Drop the replies (and a large text arena); the reader and the other arenas are kept.
cdef void _reset_tree(RTree* t) noexcept nogil
# ``n`` more replies are expected; 0, or -1 out of memory.
cdef int _expect(RTree* t, size_t n) noexcept nogil
# Take every complete reply hiredis has; 0 ok, -1 protocol error, -2 out of memory.
cdef int _drain(RTree* t) noexcept nogil
# Give ``n`` received bytes to hiredis and take the replies they complete; as _drain.
cdef int _feed(RTree* t, const char* buf, size_t n) noexcept nogil
# The expected replies as Python values (``kinds[i] == 1``: an AI.TENSORGET reply -> ndarray).
cdef list _decode_all(RTree* t, bytearray kinds)
