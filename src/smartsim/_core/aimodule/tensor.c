/* Tensor data type and the AI.TENSORSET / AI.TENSORGET commands. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

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

int dtype_from_name(const char *s, size_t len) {
    for (int i = 0; i < DT_COUNT; i++) {
        if (strlen(ai_dtypes[i].name) == len && strncasecmp(ai_dtypes[i].name, s, len) == 0)
            return i;
    }
    return DT_INVALID;
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

/* ---------------------------------------------------------------- tensor object */

const char *tensor_data(const Tensor *t) {
    if (t->blobstr)
        return RedisModule_StringPtrLen(t->blobstr, NULL);
    return t->data;
}

void tensor_incref(Tensor *t) { __atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED); }

void tensor_decref(Tensor *t) {
    if (!t)
        return;
    if (__atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    if (t->blobstr)
        RedisModule_FreeString(NULL, t->blobstr);
    if (t->data)
        RedisModule_Free(t->data);
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

/* Allocate a tensor header with room for the shape. */
static Tensor *tensor_alloc(int dtype, const int64_t *shape, int ndims, size_t len, size_t nbytes) {
    Tensor *t = RedisModule_Alloc(sizeof(Tensor) + sizeof(int64_t) * (size_t)(ndims > 0 ? ndims : 1));
    t->refcount = 1;
    t->dtype = dtype;
    t->ndims = ndims;
    t->shape_cap = ndims > 0 ? ndims : 1;
    t->shape = (int64_t *)(t + 1);
    if (ndims > 0)
        memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndims);
    t->len = len;
    t->nbytes = nbytes;
    t->data = NULL;
    t->blobstr = NULL;
    return t;
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

Tensor *tensor_new_from_string(int dtype, const int64_t *shape, int ndims, size_t len,
                               RedisModuleString *s) {
    size_t bloblen;
    RedisModule_StringPtrLen(s, &bloblen);
    Tensor *t = tensor_alloc(dtype, shape, ndims, len, bloblen);
    RedisModule_RetainString(NULL, s);
    t->blobstr = s;
    return t;
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

Tensor *tensor_get(RedisModuleCtx *ctx, RedisModuleString *keyname, const char **err) {
    RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ);
    int type = RedisModule_KeyType(key);
    Tensor *t = NULL;
    if (type == REDISMODULE_KEYTYPE_EMPTY) {
        *err = "ERR tensor key is empty or in a different shard";
    } else if (type != REDISMODULE_KEYTYPE_MODULE || RedisModule_ModuleTypeGetType(key) != TensorType) {
        *err = REDISMODULE_ERRORMSG_WRONGTYPE;
    } else {
        t = RedisModule_ModuleTypeGetValue(key);
    }
    RedisModule_CloseKey(key);
    return t;
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

/* Parse AI.TENSORSET arguments into a new tensor. On error returns NULL with *err set. */
static Tensor *parse_tensorset(RedisModuleString **argv, int argc, const char **err) {
    size_t tlen;
    const char *tstr = RedisModule_StringPtrLen(argv[2], &tlen);
    int dtype = dtype_from_name(tstr, tlen);
    if (dtype == DT_INVALID) {
        *err = "ERR invalid data type";
        return NULL;
    }
    int ndims = 0;
    int64_t stack_shape[16];
    int64_t *shape = stack_shape;
    int fmt = 0; /* 0 none, 1 blob, 2 values */
    int pos = 3;
    size_t len = 1;
    int overflow = 0;
    Tensor *t = NULL;
    if (argc - 3 > 16)
        shape = RedisModule_Alloc(sizeof(int64_t) * (size_t)(argc - 3));
    for (; pos < argc; pos++) {
        size_t ol;
        const char *opt = RedisModule_StringPtrLen(argv[pos], &ol);
        if (ol == 4 && strncasecmp(opt, "BLOB", 4) == 0) {
            fmt = 1;
            if (argc - 1 - pos != 1) {
                *err = "ERR a single binary string should come after the BLOB argument in "
                       "'AI.TENSORSET' command";
                goto done;
            }
            pos++;
            break;
        }
        if (ol == 6 && strncasecmp(opt, "VALUES", 6) == 0) {
            fmt = 2;
            if (overflow || (size_t)(argc - 1 - pos) != len) {
                *err = "ERR wrong number of values was given in 'AI.TENSORSET' command";
                goto done;
            }
            pos++;
            break;
        }
        long long d;
        if (RedisModule_StringToLongLong(argv[pos], &d) != REDISMODULE_OK || d <= 0) {
            *err = "ERR invalid or negative value found in tensor shape";
            goto done;
        }
        shape[ndims++] = d;
        if (__builtin_mul_overflow(len, (size_t)d, &len))
            overflow = 1;
    }
    size_t nbytes = 0;
    if (overflow || !shape_nbytes(shape, ndims, dtype, &len, &nbytes)) {
        overflow = 1;
    }
    if (fmt == 1) {
        size_t bloblen;
        const char *blob = RedisModule_StringPtrLen(argv[pos], &bloblen);
        if (overflow) {
            *err = dtype == DT_STRING
                       ? "ERR Number of string elements in data blob does not match tensor length"
                       : "ERR data length does not match tensor shape and type";
            goto done;
        }
        const char *e = tensor_check_blob(dtype, len, blob, bloblen);
        if (e) {
            *err = e;
            goto done;
        }
        t = tensor_new_from_string(dtype, shape, ndims, len, argv[pos]);
    } else if (fmt == 2) {
        t = tensor_from_values(dtype, shape, ndims, len, argv + pos, err);
    } else {
        /* No data: a zero-filled tensor (empty strings for STRING). */
        if (overflow || nbytes > MAX_ZERO_TENSOR_BYTES) {
            *err = "ERR tensor is too large";
            goto done;
        }
        t = tensor_alloc(dtype, shape, ndims, len, nbytes);
        t->data = RedisModule_Calloc(1, nbytes + 1);
    }
done:
    if (shape != stack_shape)
        RedisModule_Free(shape);
    return t;
}

static int cmd_tensorset(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 4)
        return RedisModule_WrongArity(ctx);
    RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE);
    int type = RedisModule_KeyType(key);
    if (type != REDISMODULE_KEYTYPE_EMPTY &&
        (type != REDISMODULE_KEYTYPE_MODULE || RedisModule_ModuleTypeGetType(key) != TensorType)) {
        RedisModule_CloseKey(key);
        return RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
    }
    const char *err = NULL;
    Tensor *t = parse_tensorset(argv, argc, &err);
    if (!t) {
        RedisModule_CloseKey(key);
        return RedisModule_ReplyWithError(ctx, err ? err : "ERR could not create tensor");
    }
    if (type == REDISMODULE_KEYTYPE_MODULE) {
        /* Overwriting a tensor nobody else references (no queued job holds it) and without a
         * TTL: swap the contents in place. Same result as ModuleTypeSetValue (which deletes and
         * re-adds the key), without the keyspace churn; CloseKey signals the modification. */
        Tensor *old = RedisModule_ModuleTypeGetValue(key);
        if (__atomic_load_n(&old->refcount, __ATOMIC_ACQUIRE) == 1 && t->ndims <= old->shape_cap &&
            RedisModule_GetExpire(key) == REDISMODULE_NO_EXPIRE) {
            if (old->blobstr)
                RedisModule_FreeString(NULL, old->blobstr);
            if (old->data)
                RedisModule_Free(old->data);
            old->dtype = t->dtype;
            old->ndims = t->ndims;
            if (t->ndims > 0)
                memcpy(old->shape, t->shape, sizeof(int64_t) * (size_t)t->ndims);
            old->len = t->len;
            old->nbytes = t->nbytes;
            old->data = t->data;
            old->blobstr = t->blobstr;
            RedisModule_Free(t);
            RedisModule_CloseKey(key);
            RedisModule_ReplyWithSimpleString(ctx, "OK");
            RedisModule_ReplicateVerbatim(ctx);
            return REDISMODULE_OK;
        }
    }
    if (RedisModule_ModuleTypeSetValue(key, TensorType, t) != REDISMODULE_OK) {
        tensor_decref(t);
        RedisModule_CloseKey(key);
        return RedisModule_ReplyWithError(ctx, "ERR could not save tensor");
    }
    RedisModule_CloseKey(key);
    RedisModule_ReplyWithSimpleString(ctx, "OK");
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
    if (argc < 2 || argc > 4)
        return RedisModule_WrongArity(ctx);
    const char *err = NULL;
    Tensor *t = tensor_get(ctx, argv[1], &err);
    if (!t)
        return RedisModule_ReplyWithError(ctx, err);
    int fmt = 0;
    if (argc == 2) {
        fmt = FMT_META | FMT_BLOB;
    } else {
        for (int i = 2; i < argc; i++) {
            size_t l;
            const char *s = RedisModule_StringPtrLen(argv[i], &l);
            if (l == 4 && !strncasecmp(s, "BLOB", 4))
                fmt |= FMT_BLOB;
            else if (l == 6 && !strncasecmp(s, "VALUES", 6))
                fmt |= FMT_VALUES;
            else if (l == 4 && !strncasecmp(s, "META", 4))
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
