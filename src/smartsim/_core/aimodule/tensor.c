/* Tensor data type and the AI.TENSORSET / AI.TENSORGET commands. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "aimodule.h"

RedisModuleType *TensorType = NULL;

/* Zero-filled tensors (no BLOB, no VALUES) are allocated here: bound them. */
#define MAX_ZERO_TENSOR_BYTES ((size_t)1 << 30)

const DTypeInfo ai_dtypes[DT_COUNT] = {
    [DT_FLOAT] = {"FLOAT", DL_FLOAT, 32, 4},   [DT_DOUBLE] = {"DOUBLE", DL_FLOAT, 64, 8},
    [DT_INT8] = {"INT8", DL_INT, 8, 1},        [DT_INT16] = {"INT16", DL_INT, 16, 2},
    [DT_INT32] = {"INT32", DL_INT, 32, 4},     [DT_INT64] = {"INT64", DL_INT, 64, 8},
    [DT_UINT8] = {"UINT8", DL_UINT, 8, 1},     [DT_UINT16] = {"UINT16", DL_UINT, 16, 2},
    [DT_BOOL] = {"BOOL", DL_BOOL, 8, 1},       [DT_STRING] = {"STRING", DL_STRING, 8, 1},
};

/* Keywords (4 to 6 bytes) are compared as one 64-bit word: the bytes, first byte lowest, with
 * ASCII lower case folded to upper case (what strncasecmp does in the C locale; other bytes
 * stay as they are, so only case variants of a keyword pack to its value), and the length in
 * the top byte (so a keyword followed by NUL bytes does not match). */
#define PK(n, a, b, c, d, e, f)                                                                    \
    ((uint64_t)(unsigned char)(a) | (uint64_t)(unsigned char)(b) << 8 |                          \
     (uint64_t)(unsigned char)(c) << 16 | (uint64_t)(unsigned char)(d) << 24 |                   \
     (uint64_t)(unsigned char)(e) << 32 | (uint64_t)(unsigned char)(f) << 40 | (uint64_t)(n) << 56)
#define KW_BLOB PK(4, 'B', 'L', 'O', 'B', 0, 0)
#define KW_VALUES PK(6, 'V', 'A', 'L', 'U', 'E', 'S')
#define KW_META PK(4, 'M', 'E', 'T', 'A', 0, 0)
#define KW_NONE 0 /* never the packing of a keyword */

static inline uint64_t kw_pack(const char *s, size_t n) {
    if (n < 4 || n > 6)
        return KW_NONE;
    uint64_t v;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t lo;
    memcpy(&lo, s, 4);
    v = lo;
    if (n >= 5)
        v |= (uint64_t)(unsigned char)s[4] << 32;
    if (n == 6)
        v |= (uint64_t)(unsigned char)s[5] << 40;
#else
    v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)(unsigned char)s[i] << (8 * i);
#endif
    /* Per byte (7 low bits x, no carry between bytes): x + 0x1f has bit 7 set iff x >= 'a',
     * x + 0x05 iff x > 'z'; bytes with bit 7 set are not letters. */
    const uint64_t low7 = 0x7f7f7f7f7f7f7f7fULL, high = 0x8080808080808080ULL;
    uint64_t x = v & low7;
    uint64_t lower = (x + 0x1f1f1f1f1f1f1f1fULL) & ~(x + 0x0505050505050505ULL) & ~v & high;
    return (v ^ (lower >> 2)) | (uint64_t)n << 56;
}

static const uint64_t dtype_kw[DT_COUNT] = {
    [DT_FLOAT] = PK(5, 'F', 'L', 'O', 'A', 'T', 0),  [DT_DOUBLE] = PK(6, 'D', 'O', 'U', 'B', 'L', 'E'),
    [DT_INT8] = PK(4, 'I', 'N', 'T', '8', 0, 0),     [DT_INT16] = PK(5, 'I', 'N', 'T', '1', '6', 0),
    [DT_INT32] = PK(5, 'I', 'N', 'T', '3', '2', 0),  [DT_INT64] = PK(5, 'I', 'N', 'T', '6', '4', 0),
    [DT_UINT8] = PK(5, 'U', 'I', 'N', 'T', '8', 0),  [DT_UINT16] = PK(6, 'U', 'I', 'N', 'T', '1', '6'),
    [DT_BOOL] = PK(4, 'B', 'O', 'O', 'L', 0, 0),     [DT_STRING] = PK(6, 'S', 'T', 'R', 'I', 'N', 'G'),
};

int dtype_from_name(const char *s, size_t len) {
    uint64_t w = kw_pack(s, len);
    for (int i = 0; i < DT_COUNT; i++) {
        if (w == dtype_kw[i])
            return i;
    }
    return DT_INVALID;
}

/* A positive decimal integer, accepting exactly the positive values that
 * RedisModule_StringToLongLong accepts (no sign, no leading zero, no spaces, <= LLONG_MAX). */
static inline int parse_positive_dim(const char *s, size_t n, long long *out) {
    if (n == 0 || n > 19 || s[0] < '1' || s[0] > '9')
        return 0;
    unsigned long long v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)((unsigned char)s[i] - '0');
        if (d > 9)
            return 0;
        v = v * 10 + d; /* 19 digits cannot overflow 64 bits */
    }
    if (v > (unsigned long long)INT64_MAX)
        return 0;
    *out = (long long)v;
    return 1;
}

int dtype_from_code(uint64_t code, uint64_t bits) {
    for (int i = 0; i < DT_COUNT; i++) {
        if (ai_dtypes[i].code == code && ai_dtypes[i].bits == bits)
            return i;
    }
    return DT_INVALID;
}

int reply_error_fmt(RedisModuleCtx *ctx, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    /* An error reply must be one line. */
    for (char *p = buf; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    return RedisModule_ReplyWithError(ctx, buf);
}

/* A call reply whose protocol bytes are exactly "+OK\r\n", kept for the life of the module.
 * From Redis 7.0 on, RedisModule_ReplyWithCallReply appends those bytes as they are (one
 * append), while RedisModule_ReplyWithSimpleString makes three appends or, on some patched
 * builds (Debian's 7.0.15), builds, sanitizes and frees a string. Redis 6.2 copies a call
 * reply into a new string first, so there the plain simple string reply is the cheaper one.
 * The SELECT below shows once in INFO commandstats (cmdstat_select). */
static RedisModuleCallReply *ok_reply = NULL;

void reply_ok_init(RedisModuleCtx *ctx) {
    if (!RedisModule_GetServerVersion || RedisModule_GetServerVersion() < 0x00070000)
        return;
    /* SELECT 0 on the call's own temporary client replies +OK and changes nothing else. */
    RedisModuleCallReply *r = RedisModule_Call(ctx, "SELECT", "c", "0");
    if (!r)
        return;
    size_t len = 0;
    const char *p = RedisModule_CallReplyProto(r, &len);
    if (p && len == 5 && memcmp(p, "+OK\r\n", 5) == 0)
        ok_reply = r; /* never freed: the module cannot be unloaded (it exports data types) */
    else
        RedisModule_FreeCallReply(r);
}

int reply_ok(RedisModuleCtx *ctx) {
    if (ok_reply && RedisModule_ReplyWithCallReply(ctx, ok_reply) == REDISMODULE_OK)
        return REDISMODULE_OK;
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

/* ---------------------------------------------------------------- tensor object */

const char *tensor_data(const Tensor *t) {
    if (t->blobstr)
        return RedisModule_StringPtrLen(t->blobstr, NULL);
    return t->data;
}

void tensor_incref(Tensor *t) { __atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED); }

/* Free the tensor's payload (retained string or separately allocated buffer); a buffer
 * inside the header block goes with the header. */
static inline void tensor_free_payload(Tensor *t) {
    if (t->blobstr)
        RedisModule_FreeString(NULL, t->blobstr);
    else if (t->data && !tensor_data_inline(t))
        RedisModule_Free(t->data);
    t->blobstr = NULL;
    t->data = NULL;
    t->data_inline = 0;
}

void tensor_decref(Tensor *t) {
    if (!t)
        return;
    if (__atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    tensor_free_payload(t);
    RedisModule_Free(t);
}

int shape_nbytes(const int64_t *shape, int ndims, int dtype, size_t *len, size_t *nbytes) {
    uint64_t n = 1;
    for (int i = 0; i < ndims; i++) {
        if (shape[i] < 0)
            return 0;
        if (__builtin_mul_overflow(n, (uint64_t)shape[i], &n))
            return 0;
    }
    uint64_t b;
    if (__builtin_mul_overflow(n, (uint64_t)ai_dtypes[dtype].size, &b))
        return 0;
    if (b > (uint64_t)SIZE_MAX / 2)
        return 0;
    *len = (size_t)n;
    *nbytes = (size_t)b;
    return 1;
}

/* Allocate a tensor header with room for the shape and, if inline_bytes > 0, for that many
 * bytes of data plus a NUL in the same block (then t->data points there). */
static Tensor *tensor_alloc_inline(int dtype, const int64_t *shape, int ndims, size_t len,
                                   size_t nbytes, size_t inline_bytes) {
    int cap = ndims > 0 ? ndims : 1;
    size_t hdr = sizeof(Tensor) + sizeof(int64_t) * (size_t)cap;
    Tensor *t = RedisModule_Alloc(hdr + (inline_bytes ? inline_bytes + 1 : 0));
    t->refcount = 1;
    t->dtype = dtype;
    t->ndims = ndims;
    t->shape_cap = cap;
    t->shape = (int64_t *)(t + 1);
    if (ndims > 0)
        memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndims);
    t->len = len;
    t->nbytes = nbytes;
    t->data = NULL;
    t->blobstr = NULL;
    t->data_inline = 0;
    t->reserved = 0;
    if (inline_bytes) {
        t->data = (char *)(t->shape + cap);
        t->data[inline_bytes] = '\0';
        t->data_inline = 1;
    }
    return t;
}

static inline Tensor *tensor_alloc(int dtype, const int64_t *shape, int ndims, size_t len,
                                   size_t nbytes) {
    return tensor_alloc_inline(dtype, shape, ndims, len, nbytes, 0);
}

const char *tensor_check_blob(int dtype, size_t len, const char *blob, size_t bloblen) {
    if (dtype == DT_STRING) {
        if (len == 0 && bloblen == 0)
            return NULL;
        if (bloblen == 0 || blob[bloblen - 1] != '\0')
            return "ERR Number of string elements in data blob does not match tensor length";
        size_t count = 0;
        const char *p = blob, *end = blob + bloblen;
        while (p < end) {
            const char *z = memchr(p, '\0', (size_t)(end - p));
            count++;
            p = z + 1;
            if (count > len)
                break;
        }
        if (count != len)
            return "ERR Number of string elements in data blob does not match tensor length";
        return NULL;
    }
    size_t expect;
    if (__builtin_mul_overflow(len, ai_dtypes[dtype].size, &expect) || expect != bloblen)
        return "ERR data length does not match tensor shape and type";
    if (dtype == DT_BOOL) {
        for (size_t i = 0; i < bloblen; i++)
            if ((unsigned char)blob[i] > 1)
                return "ERR BOOL tensor elements must be 0 or 1";
    }
    return NULL;
}

static Tensor *tensor_new_from_blob(int dtype, const int64_t *shape, int ndims, size_t len,
                                    RedisModuleString *s, const char *blob, size_t bloblen) {
    if (bloblen > 0 && bloblen <= TENSOR_COPY_MAX) {
        Tensor *t = tensor_alloc_inline(dtype, shape, ndims, len, bloblen, bloblen);
        memcpy(t->data, blob, bloblen);
        return t;
    }
    Tensor *t = tensor_alloc(dtype, shape, ndims, len, bloblen);
    RedisModule_RetainString(NULL, s);
    t->blobstr = s;
    return t;
}

Tensor *tensor_new_from_string(int dtype, const int64_t *shape, int ndims, size_t len,
                               RedisModuleString *s) {
    size_t bloblen;
    const char *blob = RedisModule_StringPtrLen(s, &bloblen);
    return tensor_new_from_blob(dtype, shape, ndims, len, s, blob, bloblen);
}

/* ---------------------------------------------------------------- keyspace helpers */

int key_is_tensor_or_empty(RedisModuleCtx *ctx, RedisModuleString *keyname) {
    RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ);
    int type = RedisModule_KeyType(key);
    int ok = type == REDISMODULE_KEYTYPE_EMPTY ||
             (type == REDISMODULE_KEYTYPE_MODULE && RedisModule_ModuleTypeGetType(key) == TensorType);
    RedisModule_CloseKey(key);
    return ok;
}

static inline Tensor *tensor_lookup(RedisModuleCtx *ctx, RedisModuleString *keyname,
                                    const char **err) {
    RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ);
    Tensor *t = NULL;
    /* ModuleTypeGetType is NULL for an empty key or one of another type. */
    if (RedisModule_ModuleTypeGetType(key) == TensorType)
        t = RedisModule_ModuleTypeGetValue(key);
    else if (RedisModule_KeyType(key) == REDISMODULE_KEYTYPE_EMPTY)
        *err = "ERR tensor key is empty or in a different shard";
    else
        *err = REDISMODULE_ERRORMSG_WRONGTYPE;
    RedisModule_CloseKey(key);
    return t;
}

Tensor *tensor_get(RedisModuleCtx *ctx, RedisModuleString *keyname, const char **err) {
    return tensor_lookup(ctx, keyname, err);
}

/* ---------------------------------------------------------------- VALUES parsing */

static int set_value_ll(Tensor *t, char *data, size_t i, long long v) {
    switch (t->dtype) {
    case DT_INT8:
        if (v < INT8_MIN || v > INT8_MAX) return 0;
        ((int8_t *)data)[i] = (int8_t)v;
        return 1;
    case DT_INT16:
        if (v < INT16_MIN || v > INT16_MAX) return 0;
        ((int16_t *)data)[i] = (int16_t)v;
        return 1;
    case DT_INT32:
        if (v < INT32_MIN || v > INT32_MAX) return 0;
        ((int32_t *)data)[i] = (int32_t)v;
        return 1;
    case DT_INT64:
        ((int64_t *)data)[i] = (int64_t)v;
        return 1;
    case DT_UINT8:
        if (v < 0 || v > UINT8_MAX) return 0;
        ((uint8_t *)data)[i] = (uint8_t)v;
        return 1;
    case DT_UINT16:
        if (v < 0 || v > UINT16_MAX) return 0;
        ((uint16_t *)data)[i] = (uint16_t)v;
        return 1;
    case DT_BOOL:
        if (v < 0 || v > 1) return 0;
        ((uint8_t *)data)[i] = (uint8_t)v;
        return 1;
    default:
        return 0;
    }
}

/* Element loads go through memcpy: a retained argument string need not be 8-byte aligned. */
#define LOAD_AS(type, data, i)                                                                     \
    __extension__({                                                                                \
        type v_;                                                                                   \
        memcpy(&v_, (data) + (i) * sizeof(type), sizeof(type));                                   \
        v_;                                                                                        \
    })

static long long get_value_ll(const Tensor *t, const char *data, size_t i) {
    switch (t->dtype) {
    case DT_INT8: return LOAD_AS(int8_t, data, i);
    case DT_INT16: return LOAD_AS(int16_t, data, i);
    case DT_INT32: return LOAD_AS(int32_t, data, i);
    case DT_INT64: return LOAD_AS(int64_t, data, i);
    case DT_UINT8: return LOAD_AS(uint8_t, data, i);
    case DT_UINT16: return LOAD_AS(uint16_t, data, i);
    case DT_BOOL: return LOAD_AS(uint8_t, data, i);
    default: return 0;
    }
}

static Tensor *tensor_from_values(int dtype, const int64_t *shape, int ndims, size_t len,
                                  RedisModuleString **vals, const char **err) {
    if (dtype == DT_STRING) {
        size_t total = 0;
        for (size_t i = 0; i < len; i++) {
            size_t l;
            const char *s = RedisModule_StringPtrLen(vals[i], &l);
            if (l > 0 && memchr(s, '\0', l - 1) != NULL) {
                *err = "ERR C-string value contains null character";
                return NULL;
            }
            total += l;
            if (l == 0 || s[l - 1] != '\0')
                total++;
        }
        Tensor *t = tensor_alloc(dtype, shape, ndims, len, total);
        t->data = RedisModule_Calloc(1, total + 1);
        size_t off = 0;
        for (size_t i = 0; i < len; i++) {
            size_t l;
            const char *s = RedisModule_StringPtrLen(vals[i], &l);
            memcpy(t->data + off, s, l);
            off += l;
            if (l == 0 || s[l - 1] != '\0')
                t->data[off++] = '\0';
        }
        return t;
    }
    size_t nbytes = len * ai_dtypes[dtype].size;
    Tensor *t = tensor_alloc(dtype, shape, ndims, len, nbytes);
    t->data = RedisModule_Alloc(nbytes + 1);
    t->data[nbytes] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (dtype == DT_FLOAT || dtype == DT_DOUBLE) {
            double d;
            if (RedisModule_StringToDouble(vals[i], &d) != REDISMODULE_OK) {
                *err = "ERR invalid value";
                tensor_decref(t);
                return NULL;
            }
            if (dtype == DT_FLOAT)
                ((float *)t->data)[i] = (float)d;
            else
                ((double *)t->data)[i] = d;
        } else {
            long long v;
            if (RedisModule_StringToLongLong(vals[i], &v) != REDISMODULE_OK ||
                !set_value_ll(t, t->data, i, v)) {
                *err = "ERR invalid value";
                tensor_decref(t);
                return NULL;
            }
        }
    }
    return t;
}

/* ---------------------------------------------------------------- AI.TENSORSET */

#define SET_NONE 0
#define SET_BLOB 1
#define SET_VALUES 2

/* Parsed AI.TENSORSET arguments (no tensor allocated yet). */
typedef struct {
    int dtype;
    int ndims;
    int fmt;       /* SET_NONE, SET_BLOB or SET_VALUES */
    int pos;       /* argv index of the blob or of the first value */
    int overflow;  /* element count or byte size overflows */
    size_t len;    /* number of elements */
    size_t nbytes; /* len * itemsize (when !overflow) */
    const char *blob;
    size_t bloblen;
    int64_t *shape; /* stack_shape, or allocated when there are many dims */
    int64_t stack_shape[16];
} SetArgs;

static inline void setargs_done(SetArgs *a) {
    if (a->shape != a->stack_shape)
        RedisModule_Free(a->shape);
}

/* Parse and check AI.TENSORSET arguments. Returns 0 with *err set on error. A BLOB is
 * validated here; VALUES are converted when the tensor is built. */
static int parse_tensorset(RedisModuleString **argv, int argc, SetArgs *a, const char **err) {
    /* Work on locals (the API calls in the loop would force reloads through 'a'). */
    size_t tlen;
    const char *tstr = RedisModule_StringPtrLen(argv[2], &tlen);
    int64_t *shape = a->stack_shape;
    a->shape = shape;
    int dtype = dtype_from_name(tstr, tlen);
    a->dtype = dtype;
    a->fmt = SET_NONE;
    a->ndims = 0;
    if (dtype == DT_INVALID) {
        *err = "ERR invalid data type";
        return 0;
    }
    if (argc - 3 > 16)
        a->shape = shape = RedisModule_Alloc(sizeof(int64_t) * (size_t)(argc - 3));
    int ndims = 0, fmt = SET_NONE, overflow = 0, pos = 3;
    size_t len = 1;
    for (; pos < argc; pos++) {
        size_t ol;
        const char *opt = RedisModule_StringPtrLen(argv[pos], &ol);
        long long d;
        if (parse_positive_dim(opt, ol, &d)) { /* the common case: a dimension */
            if (ndims == AI_TENSOR_MAX_DIMS) {
                *err = "ERR too many dimensions in tensor shape (at most " AI_STR(
                    AI_TENSOR_MAX_DIMS) ")";
                return 0;
            }
            shape[ndims++] = d;
            overflow |= __builtin_mul_overflow(len, (size_t)d, &len);
            continue;
        }
        uint64_t kw = kw_pack(opt, ol);
        if (kw == KW_BLOB) {
            fmt = SET_BLOB;
            if (argc - 1 - pos != 1) {
                *err = "ERR a single binary string should come after the BLOB argument in "
                       "'AI.TENSORSET' command";
                return 0;
            }
            pos++;
            break;
        }
        if (kw == KW_VALUES) {
            fmt = SET_VALUES;
            if (overflow || (size_t)(argc - 1 - pos) != len) {
                *err = "ERR wrong number of values was given in 'AI.TENSORSET' command";
                return 0;
            }
            pos++;
            break;
        }
        *err = "ERR invalid or negative value found in tensor shape";
        return 0;
    }
    /* Dims are positive and len is their product (unless overflow): the byte size as
     * shape_nbytes computes it. */
    size_t nbytes = 0;
    if (!overflow && (__builtin_mul_overflow(len, ai_dtypes[dtype].size, &nbytes) ||
                      nbytes > (size_t)SIZE_MAX / 2)) {
        overflow = 1;
        nbytes = 0;
    }
    a->ndims = ndims;
    a->fmt = fmt;
    a->pos = pos;
    a->overflow = overflow;
    a->len = len;
    a->nbytes = nbytes;
    a->blob = NULL;
    a->bloblen = 0;
    if (fmt == SET_BLOB) {
        size_t bloblen;
        const char *blob = RedisModule_StringPtrLen(argv[pos], &bloblen);
        a->blob = blob;
        a->bloblen = bloblen;
        if (overflow) {
            *err = dtype == DT_STRING
                       ? "ERR Number of string elements in data blob does not match tensor length"
                       : "ERR data length does not match tensor shape and type";
            return 0;
        }
        /* tensor_check_blob, with the plain size check of numeric types inline */
        const char *e = dtype == DT_STRING || dtype == DT_BOOL
                            ? tensor_check_blob(dtype, len, blob, bloblen)
                        : nbytes != bloblen ? "ERR data length does not match tensor shape and type"
                                            : NULL;
        if (e) {
            *err = e;
            return 0;
        }
    } else if (fmt == SET_NONE && (overflow || nbytes > MAX_ZERO_TENSOR_BYTES)) {
        *err = "ERR tensor is too large";
        return 0;
    }
    return 1;
}

/* Build a new tensor from parsed arguments; NULL with *err set on error. */
static Tensor *tensor_from_args(RedisModuleString **argv, const SetArgs *a, const char **err) {
    if (a->fmt == SET_BLOB)
        return tensor_new_from_blob(a->dtype, a->shape, a->ndims, a->len, argv[a->pos], a->blob,
                                    a->bloblen);
    if (a->fmt == SET_VALUES)
        return tensor_from_values(a->dtype, a->shape, a->ndims, a->len, argv + a->pos, err);
    /* No data: a zero-filled tensor (empty strings for STRING). */
    Tensor *t = tensor_alloc(a->dtype, a->shape, a->ndims, a->len, a->nbytes);
    t->data = RedisModule_Calloc(1, a->nbytes + 1);
    return t;
}

static inline void tensor_set_meta(Tensor *t, const SetArgs *a, size_t nbytes) {
    t->dtype = a->dtype;
    t->ndims = a->ndims;
    for (int i = 0; i < a->ndims; i++)
        t->shape[i] = a->shape[i];
    t->len = a->len;
    t->nbytes = nbytes;
}

/* Overwrite tensor 'old' (referenced by nobody else, room for the dims) with a BLOB in place.
 * Returns 0 if that cannot be done here (its data lies in its header block and the size
 * changes). Same result as replacing the value, without reallocating what can be reused. */
static int tensor_overwrite_blob(Tensor *old, RedisModuleString *s, const SetArgs *a) {
    size_t n = a->bloblen;
    if (!old->blobstr && old->data && old->nbytes == n && n <= TENSOR_COPY_MAX) {
        /* Same size: the owned buffer (n + 1 bytes, NUL kept) takes the new bytes. */
        memcpy(old->data, a->blob, n);
    } else if (tensor_data_inline(old)) {
        return 0;
    } else {
        tensor_free_payload(old);
        if (n > 0 && n <= TENSOR_COPY_MAX) {
            old->data = RedisModule_Alloc(n + 1);
            memcpy(old->data, a->blob, n);
            old->data[n] = '\0';
        } else {
            RedisModule_RetainString(NULL, s);
            old->blobstr = s;
        }
    }
    tensor_set_meta(old, a, n);
    return 1;
}

static int cmd_tensorset(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 4)
        return RedisModule_WrongArity(ctx);
    RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE);
    /* ModuleTypeGetType is NULL for an empty key or one of another type. */
    int is_tensor = RedisModule_ModuleTypeGetType(key) == TensorType;
    if (!is_tensor && RedisModule_KeyType(key) != REDISMODULE_KEYTYPE_EMPTY) {
        RedisModule_CloseKey(key);
        return RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
    }
    const char *err = NULL;
    SetArgs a;
    if (!parse_tensorset(argv, argc, &a, &err)) {
        setargs_done(&a);
        RedisModule_CloseKey(key);
        return RedisModule_ReplyWithError(ctx, err ? err : "ERR could not create tensor");
    }
    /* Overwriting a tensor nobody else references (no queued job holds it) and without a TTL
     * can happen in place: same result as ModuleTypeSetValue (which deletes and re-adds the
     * key), without the keyspace churn; CloseKey signals the modification. */
    Tensor *old = NULL;
    if (is_tensor) {
        old = RedisModule_ModuleTypeGetValue(key);
        if (__atomic_load_n(&old->refcount, __ATOMIC_ACQUIRE) != 1 || a.ndims > old->shape_cap ||
            RedisModule_GetExpire(key) != REDISMODULE_NO_EXPIRE)
            old = NULL;
    }
    if (old && a.fmt == SET_BLOB && tensor_overwrite_blob(old, argv[a.pos], &a))
        goto stored;
    Tensor *t = tensor_from_args(argv, &a, &err);
    if (!t) {
        setargs_done(&a);
        RedisModule_CloseKey(key);
        return RedisModule_ReplyWithError(ctx, err ? err : "ERR could not create tensor");
    }
    if (old && !tensor_data_inline(old) && !tensor_data_inline(t)) {
        /* Move the new payload into the existing header. */
        tensor_free_payload(old);
        old->data = t->data;
        old->blobstr = t->blobstr;
        tensor_set_meta(old, &a, t->nbytes);
        RedisModule_Free(t);
    } else if (RedisModule_ModuleTypeSetValue(key, TensorType, t) != REDISMODULE_OK) {
        tensor_decref(t);
        setargs_done(&a);
        RedisModule_CloseKey(key);
        return RedisModule_ReplyWithError(ctx, "ERR could not save tensor");
    }
stored:
    setargs_done(&a);
    RedisModule_CloseKey(key);
    reply_ok(ctx);
    RedisModule_ReplicateVerbatim(ctx);
    return REDISMODULE_OK;
}

/* ---------------------------------------------------------------- AI.TENSORGET */

#define FMT_META 1
#define FMT_BLOB 2
#define FMT_VALUES 4

static void reply_values(RedisModuleCtx *ctx, const Tensor *t) {
    const char *data = tensor_data(t);
    RedisModule_ReplyWithArray(ctx, (long)t->len);
    if (t->dtype == DT_STRING) {
        const char *p = data, *end = data + t->nbytes;
        for (size_t i = 0; i < t->len; i++) {
            size_t l = p < end ? strnlen(p, (size_t)(end - p)) : 0;
            RedisModule_ReplyWithStringBuffer(ctx, p, l);
            p += l + 1;
        }
    } else if (t->dtype == DT_FLOAT) {
        for (size_t i = 0; i < t->len; i++)
            RedisModule_ReplyWithDouble(ctx, LOAD_AS(float, data, i));
    } else if (t->dtype == DT_DOUBLE) {
        for (size_t i = 0; i < t->len; i++)
            RedisModule_ReplyWithDouble(ctx, LOAD_AS(double, data, i));
    } else {
        for (size_t i = 0; i < t->len; i++)
            RedisModule_ReplyWithLongLong(ctx, get_value_ll(t, data, i));
    }
}

static void reply_tensor(RedisModuleCtx *ctx, int fmt, const Tensor *t) {
    if (!(fmt & FMT_META)) {
        if (fmt & FMT_BLOB) {
            if (t->blobstr)
                RedisModule_ReplyWithString(ctx, t->blobstr);
            else
                RedisModule_ReplyWithStringBuffer(ctx, t->data, t->nbytes);
            return;
        }
        reply_values(ctx, t);
        return;
    }
    long n = (fmt & (FMT_BLOB | FMT_VALUES)) ? 6 : 4;
    RedisModule_ReplyWithArray(ctx, n);
    RedisModule_ReplyWithCString(ctx, "dtype");
    RedisModule_ReplyWithCString(ctx, ai_dtypes[t->dtype].name);
    RedisModule_ReplyWithCString(ctx, "shape");
    RedisModule_ReplyWithArray(ctx, t->ndims);
    for (int i = 0; i < t->ndims; i++)
        RedisModule_ReplyWithLongLong(ctx, t->shape[i]);
    if (fmt & FMT_BLOB) {
        RedisModule_ReplyWithCString(ctx, "blob");
        if (t->blobstr)
            RedisModule_ReplyWithString(ctx, t->blobstr);
        else
            RedisModule_ReplyWithStringBuffer(ctx, t->data, t->nbytes);
    } else if (fmt & FMT_VALUES) {
        RedisModule_ReplyWithCString(ctx, "values");
        reply_values(ctx, t);
    }
}

static int cmd_tensorget(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc == 3) {
        /* The common AI.TENSORGET key BLOB, with nothing but the essential calls; any error
         * goes the general way below. */
        size_t l;
        const char *s = RedisModule_StringPtrLen(argv[2], &l);
        if (kw_pack(s, l) == KW_BLOB) {
            RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[1], REDISMODULE_READ);
            if (RedisModule_ModuleTypeGetType(key) == TensorType) {
                const Tensor *t = RedisModule_ModuleTypeGetValue(key);
                RedisModule_CloseKey(key);
                if (t->blobstr)
                    return RedisModule_ReplyWithString(ctx, t->blobstr);
                return RedisModule_ReplyWithStringBuffer(ctx, t->data, t->nbytes);
            }
            RedisModule_CloseKey(key);
        }
    }
    if (argc < 2 || argc > 4)
        return RedisModule_WrongArity(ctx);
    const char *err = NULL;
    Tensor *t = tensor_lookup(ctx, argv[1], &err);
    if (!t)
        return RedisModule_ReplyWithError(ctx, err);
    int fmt = 0;
    if (argc == 2) {
        fmt = FMT_META | FMT_BLOB;
    } else {
        for (int i = 2; i < argc; i++) {
            size_t l;
            const char *s = RedisModule_StringPtrLen(argv[i], &l);
            uint64_t kw = kw_pack(s, l);
            if (kw == KW_BLOB)
                fmt |= FMT_BLOB;
            else if (kw == KW_VALUES)
                fmt |= FMT_VALUES;
            else if (kw == KW_META)
                fmt |= FMT_META;
            else
                return RedisModule_ReplyWithError(ctx, "ERR unsupported data format");
        }
        if ((fmt & FMT_BLOB) && (fmt & FMT_VALUES))
            return RedisModule_ReplyWithError(ctx, "ERR both BLOB and VALUES specified");
    }
    reply_tensor(ctx, fmt, t);
    return REDISMODULE_OK;
}

/* ---------------------------------------------------------------- type callbacks */

static void *tensor_rdb_load(RedisModuleIO *io, int encver) {
    if (encver != AI_ENCVER) {
        RedisModule_LogIOError(io, "warning", "AI_TENSOR: unsupported encoding version %d", encver);
        return NULL;
    }
    uint64_t code = RedisModule_LoadUnsigned(io);
    uint64_t bits = RedisModule_LoadUnsigned(io);
    int dtype = dtype_from_code(code, bits);
    int64_t ndims = RedisModule_LoadSigned(io);
    if (dtype == DT_INVALID || ndims < 0 || ndims > (1 << 20)) {
        RedisModule_LogIOError(io, "warning", "AI_TENSOR: corrupt header");
        return NULL;
    }
    int64_t *shape = RedisModule_Alloc(sizeof(int64_t) * (size_t)(ndims ? ndims : 1));
    for (int64_t i = 0; i < ndims; i++)
        shape[i] = RedisModule_LoadSigned(io);
    size_t len = 0, nbytes = 0;
    if (!shape_nbytes(shape, (int)ndims, dtype, &len, &nbytes)) {
        RedisModule_Free(shape);
        RedisModule_LogIOError(io, "warning", "AI_TENSOR: corrupt shape");
        return NULL;
    }
    size_t bloblen = 0;
    char *blob = RedisModule_LoadStringBuffer(io, &bloblen);
    const char *e = tensor_check_blob(dtype, len, blob, bloblen);
    if (e) {
        RedisModule_Free(shape);
        RedisModule_Free(blob);
        RedisModule_LogIOError(io, "warning", "AI_TENSOR: %s", e);
        return NULL;
    }
    if (dtype == DT_STRING) {
        for (size_t i = 0; i < len; i++)
            (void)RedisModule_LoadUnsigned(io); /* element offsets: recomputed on demand */
    }
    Tensor *t = tensor_alloc(dtype, shape, (int)ndims, len, bloblen);
    /* Owned buffers keep a spare NUL byte (Redis' RDB writer may read one past short ones). */
    blob = RedisModule_Realloc(blob, bloblen + 1);
    blob[bloblen] = '\0';
    t->data = blob;
    RedisModule_Free(shape);
    return t;
}

static void tensor_rdb_save(RedisModuleIO *io, void *value) {
    Tensor *t = value;
    RedisModule_SaveUnsigned(io, ai_dtypes[t->dtype].code);
    RedisModule_SaveUnsigned(io, ai_dtypes[t->dtype].bits);
    RedisModule_SaveSigned(io, t->ndims);
    for (int i = 0; i < t->ndims; i++)
        RedisModule_SaveSigned(io, t->shape[i]);
    const char *data = tensor_data(t);
    RedisModule_SaveStringBuffer(io, data, t->nbytes);
    if (t->dtype == DT_STRING) {
        const char *p = data, *end = data + t->nbytes;
        for (size_t i = 0; i < t->len; i++) {
            RedisModule_SaveUnsigned(io, (uint64_t)(p - data));
            p += (p < end ? strnlen(p, (size_t)(end - p)) : 0) + 1;
        }
    }
}

static void tensor_aof_rewrite(RedisModuleIO *aof, RedisModuleString *key, void *value) {
    Tensor *t = value;
    RedisModuleString **dims = RedisModule_Alloc(sizeof(*dims) * (size_t)(t->ndims ? t->ndims : 1));
    for (int i = 0; i < t->ndims; i++)
        dims[i] = RedisModule_CreateStringFromLongLong(NULL, t->shape[i]);
    RedisModule_EmitAOF(aof, "AI.TENSORSET", "scvcb", key, ai_dtypes[t->dtype].name, dims,
                        (size_t)t->ndims, "BLOB", tensor_data(t), t->nbytes);
    for (int i = 0; i < t->ndims; i++)
        RedisModule_FreeString(NULL, dims[i]);
    RedisModule_Free(dims);
}

static size_t tensor_mem_usage(const void *value) {
    const Tensor *t = value;
    return sizeof(Tensor) + sizeof(int64_t) * (size_t)t->ndims + t->nbytes;
}

static void tensor_free(void *value) { tensor_decref(value); }

int tensor_register_type(RedisModuleCtx *ctx) {
    RedisModuleTypeMethods tm = {
        .version = REDISMODULE_TYPE_METHOD_VERSION_USED,
        .rdb_load = tensor_rdb_load,
        .rdb_save = tensor_rdb_save,
        .aof_rewrite = tensor_aof_rewrite,
        .mem_usage = tensor_mem_usage,
        .digest = NULL,
        .free = tensor_free,
    };
    TensorType = RedisModule_CreateDataType(ctx, "AI_TENSOR", AI_ENCVER, &tm);
    return TensorType != NULL ? REDISMODULE_OK : REDISMODULE_ERR;
}

int tensor_register_commands(RedisModuleCtx *ctx) {
    if (RedisModule_CreateCommand(ctx, "ai.tensorset", cmd_tensorset, "write deny-oom", 1, 1, 1) ==
        REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "ai.tensorget", cmd_tensorget, "readonly", 1, 1, 1) ==
        REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
