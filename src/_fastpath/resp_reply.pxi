# Part of the extension _fastpath.resp, included by resp.pyx (declarations: resp_reply.pxd).
#
# The reply parser.  hiredis parses the replies.  Its reader calls our object functions,
# which run without the GIL and build a compact tree (RTree) in per-connection arenas
# (nodes, child slots, string bytes); a bulk string larger than INLINE_MAX_C gets an
# allocation of its own, which a tensor reply hands to numpy as the array's memory (the one
# copy out of the reader's buffer).  Python objects are made from the tree once every reply
# of the exchange is in (_decode_all, with the GIL).  It is a part of one extension, not a
# module of its own, because the socket loop (resp_conn.pxi) feeds the reader from inside
# its GIL-free poll loop on every read, with plain C calls into this part.

cdef enum:
    FEED_CHUNK = 16384
    TEXT_KEEP = 16777216   # reply text arena kept between exchanges


cdef class _Block:
    """A malloc'd reply payload exposed through the buffer protocol (freed with the last view)."""

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


# ------------------------------------------------------------------ the tree (no GIL)

cdef void* _new_node(const redisReadTask* task, int type, long long n) noexcept nogil:
    """Append a node for ``task`` and link it into its parent; returns the node's handle
    (index + 1, so that no handle is NULL) or NULL when out of memory."""
    cdef RTree* t = <RTree*>task.privdata
    cdef size_t i = t.nnodes
    cdef RNode* parent
    if _grow(<void**>&t.nodes, &t.nodecap, i + 1, sizeof(RNode), 1024) < 0:
        t.oom = 1
        return NULL
    t.nodes[i].type = type
    t.nodes[i].n = n
    t.nodes[i].off = 0
    t.nodes[i].big = NULL
    t.nnodes = i + 1
    if task.parent != NULL:
        parent = &t.nodes[<size_t>task.parent.obj - 1]
        t.kids[parent.off + <size_t>task.idx] = i
    return <void*>(i + 1)


cdef void* _on_string(const redisReadTask* task, char* data, size_t n) noexcept nogil:
    cdef RTree* t = <RTree*>task.privdata
    cdef void* h = _new_node(task, task.type, <long long>n)
    cdef RNode* node
    cdef char* big
    if h == NULL:
        return NULL
    node = &t.nodes[<size_t>h - 1]
    if n > INLINE_MAX_C:
        big = <char*>malloc(n)
        if big == NULL:
            t.oom = 1
            return NULL
        memcpy(big, data, n)
        node.big = big
    else:
        if _grow(<void**>&t.text, &t.textcap, t.ntext + n, 1, 65536) < 0:
            t.oom = 1
            return NULL
        memcpy(t.text + t.ntext, data, n)
        node.off = t.ntext
        t.ntext += n
    return h


cdef void* _on_array(const redisReadTask* task, hiredis_count_t elements) noexcept nogil:
    cdef RTree* t = <RTree*>task.privdata
    cdef size_t first = t.nkids
    cdef void* h
    if _grow(<void**>&t.kids, &t.kidcap, first + <size_t>elements, sizeof(size_t), 1024) < 0:
        t.oom = 1
        return NULL
    h = _new_node(task, REDIS_REPLY_ARRAY, <long long>elements)
    if h == NULL:
        return NULL
    t.nodes[<size_t>h - 1].off = first
    t.nkids = first + <size_t>elements
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


cdef int _tree_init(RTree* t) noexcept nogil:
    t.reader = redisReaderCreateWithFunctions(&_TREE_FUNCTIONS)
    if t.reader == NULL:
        return -1
    t.reader.privdata = t
    return 0


cdef void _tree_free(RTree* t) noexcept nogil:
    _reset_tree(t)
    if t.reader != NULL:
        redisReaderFree(t.reader)
        t.reader = NULL
    free(t.nodes)
    free(t.kids)
    free(t.text)
    free(t.roots)
    t.nodes = NULL
    t.kids = NULL
    t.text = NULL
    t.roots = NULL


cdef void _reset_tree(RTree* t) noexcept nogil:
    cdef size_t i
    for i in range(t.nnodes):
        if t.nodes[i].big != NULL:
            free(t.nodes[i].big)
            t.nodes[i].big = NULL
    t.nnodes = 0
    t.nkids = 0
    t.ntext = 0
    if t.textcap > TEXT_KEEP:
        free(t.text)
        t.text = NULL
        t.textcap = 0


cdef int _expect(RTree* t, size_t n) noexcept nogil:
    if _grow(<void**>&t.roots, &t.rootcap, t.needed + n + 1, sizeof(size_t), 64) < 0:
        return -1
    t.needed += n
    return 0


cdef int _drain(RTree* t) noexcept nogil:
    """Take every complete reply hiredis has; 0 ok, -1 protocol error, -2 out of memory."""
    cdef void* reply
    while t.scanned < t.needed:
        reply = NULL
        if redisReaderGetReply(t.reader, &reply) != REDIS_OK:
            return -2 if (t.oom or t.reader.err == REDIS_ERR_OOM) else -1
        if reply == NULL:
            return 0
        t.roots[t.scanned] = <size_t>reply - 1
        t.scanned += 1
    return 0


cdef int _feed(RTree* t, const char* buf, size_t n) noexcept nogil:
    """Feed ``n`` received bytes to hiredis and drain the replies they complete; 0 ok, -1
    protocol error, -2 out of memory."""
    cdef size_t off = 0, piece = FEED_CHUNK, before
    cdef int rc
    # hiredis moves the unread rest of its buffer down after every reply, so it is fed in
    # small pieces (as its own socket reader does) to keep that move short; inside a large
    # element (a piece that completes no reply) the rest of the read goes in at once
    while off < n:
        if piece > n - off:
            piece = n - off
        if redisReaderFeed(t.reader, buf + off, piece) != REDIS_OK:
            return -2
        off += piece
        before = t.scanned
        rc = _drain(t)
        if rc < 0:
            return rc
        piece = FEED_CHUNK if t.scanned != before else n
    return 0


# ------------------------------------------------------------------ the tree -> Python

cdef bytes _OK = b"OK"


cdef object _take_big(RNode* node):
    blk = _make_block(node.big, node.n)
    node.big = NULL
    return blk


cdef object _to_py(RTree* t, size_t i):
    cdef RNode* node = &t.nodes[i]
    cdef long long j
    cdef list out
    cdef char* p
    cdef int typ = node.type
    if typ == REDIS_REPLY_STRING or typ == REDIS_REPLY_STATUS or typ == REDIS_REPLY_ERROR:
        if node.big != NULL:
            b = PyBytes_FromStringAndSize(node.big, node.n)
            free(node.big)
            node.big = NULL
        else:
            p = t.text + node.off
            if typ == REDIS_REPLY_STATUS and node.n == 2 and p[0] == b'O' and p[1] == b'K':
                return _OK
            b = PyBytes_FromStringAndSize(p, node.n)
        return RespError(b) if typ == REDIS_REPLY_ERROR else b
    if typ == REDIS_REPLY_INTEGER:
        return node.n
    if typ == REDIS_REPLY_ARRAY:
        out = [None] * node.n
        for j in range(node.n):
            out[j] = _to_py(t, t.kids[node.off + j])
        return out
    return None


cdef inline bint _is(RTree* t, RNode* node, const char* word, size_t n) noexcept:
    return ((node.type == REDIS_REPLY_STRING or node.type == REDIS_REPLY_STATUS)
            and node.big == NULL and <size_t>node.n == n
            and memcmp(t.text + node.off, word, n) == 0)


cdef object _to_tensor(RTree* t, size_t i):
    """``AI.TENSORGET key META BLOB`` reply -> ndarray; anything else (an error, a reply
    of another shape) as the generic decoding."""
    cdef RNode* node = &t.nodes[i]
    cdef RNode* key
    cdef RNode* val
    cdef RNode* blob = NULL
    cdef RNode* shape = NULL
    cdef int typenum = -1, nd = 0
    cdef long long j, nbytes
    cdef cnp.npy_intp dims[MAX_DIMS_C]
    cdef cnp.ndarray arr
    if node.type != REDIS_REPLY_ARRAY or node.n % 2:
        return _to_py(t, i)
    for j in range(0, node.n, 2):
        key = &t.nodes[t.kids[node.off + j]]
        val = &t.nodes[t.kids[node.off + j + 1]]
        if _is(t, key, b"dtype", 5) and val.type == REDIS_REPLY_STRING and val.big == NULL:
            typenum = typenum_of_name(t.text + val.off, val.n)
        elif _is(t, key, b"shape", 5) and val.type == REDIS_REPLY_ARRAY:
            shape = val
        elif _is(t, key, b"blob", 4) and val.type == REDIS_REPLY_STRING:
            blob = val
    if typenum < 0 or shape is NULL or blob is NULL:
        return _to_py(t, i)
    if shape.n > max_dims():
        # stored by a client without our limit (or before the module had one): numpy
        # cannot hold it; said in place of the reply, so the other replies still decode
        return RespError(f"the tensor has {shape.n} dimensions; numpy {np.__version__} "
                         f"arrays have at most {max_dims()}".encode())
    nd = <int>shape.n
    for j in range(nd):
        val = &t.nodes[t.kids[shape.off + j]]
        if val.type != REDIS_REPLY_INTEGER or val.n < 0:
            return _to_py(t, i)
        dims[j] = <cnp.npy_intp>val.n
    if blob.big != NULL:
        arr = cnp.PyArray_SimpleNewFromData(nd, dims, typenum, blob.big)
        nbytes = cnp.PyArray_NBYTES(arr)
        if nbytes != blob.n:
            raise ProtocolError(0, f"tensor blob of {blob.n} bytes does not match shape "
                                   f"{(<object>arr).shape} of {(<object>arr).dtype}")
        cnp.set_array_base(arr, _take_big(blob))
        return arr
    arr = cnp.PyArray_EMPTY(nd, dims, typenum, 0)
    nbytes = cnp.PyArray_NBYTES(arr)
    if nbytes != blob.n:
        raise ProtocolError(0, f"tensor blob of {blob.n} bytes does not match shape "
                               f"{(<object>arr).shape} of {(<object>arr).dtype}")
    memcpy(cnp.PyArray_DATA(arr), t.text + blob.off, nbytes)
    return arr


cdef list _decode_all(RTree* t, bytearray kinds):
    cdef Py_ssize_t i, n = t.needed
    cdef list out = [None] * n
    for i in range(n):
        if kinds[i] == 1:
            out[i] = _to_tensor(t, t.roots[i])
        else:
            out[i] = _to_py(t, t.roots[i])
    return out
