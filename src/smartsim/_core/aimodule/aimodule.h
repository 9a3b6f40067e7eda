/* Internal declarations shared by the files of the RedisAI-compatible module. */
#ifndef AIMODULE_H
#define AIMODULE_H

#include <stdint.h>
#include <stddef.h>

#include "rmapi.h"

#define AI_MODULE_NAME "ai"
#define AI_MODULE_VERSION 10207 /* speaks RedisAI 1.2.7 */
#define AI_ENCVER 4             /* RDB layout follows RedisAI's encoding version 4 */

/* ---------------------------------------------------------------- dtypes */
enum {
    DT_FLOAT,
    DT_DOUBLE,
    DT_INT8,
    DT_INT16,
    DT_INT32,
    DT_INT64,
    DT_UINT8,
    DT_UINT16,
    DT_BOOL,
    DT_STRING,
    DT_COUNT,
    DT_INVALID = -1
};

/* DLPack type codes used in the RDB encoding. */
#define DL_INT 0
#define DL_UINT 1
#define DL_FLOAT 2
#define DL_BOOL 6
#define DL_STRING 8

typedef struct {
    const char *name;
    uint8_t code; /* DLPack code */
    uint8_t bits;
    size_t size; /* bytes per element */
} DTypeInfo;

extern const DTypeInfo ai_dtypes[DT_COUNT];
int dtype_from_name(const char *s, size_t len);
int dtype_from_code(uint64_t code, uint64_t bits);

/* ---------------------------------------------------------------- tensor */
/* Most dimensions a tensor may have; AI.TENSORSET refuses more. RedisAI sets no limit, but a
 * tensor is read back as a numpy array (our client, SmartRedis's Python client, the executor)
 * and numpy 2 arrays stop at 64 dimensions (NPY_MAXDIMS): a tensor with more could be stored
 * and never read. The client's copy of this number: MAX_DIMS_C in src/_fastpath/tensor.pxd. */
#define AI_TENSOR_MAX_DIMS 64
#define AI_STR_(x) #x
#define AI_STR(x) AI_STR_(x)
typedef struct Tensor {
    int refcount;
    int16_t dtype;
    uint8_t data_inline; /* data lies in the header block, after the shape (freed with it) */
    uint8_t reserved;
    int ndims;
    int shape_cap; /* room for this many dims after the header */
    int64_t *shape;
    size_t len;    /* number of elements */
    size_t nbytes; /* blob size */
    char *data;    /* owned buffer (may lie in the header block: data_inline), or NULL when
                      blobstr holds the bytes */
    RedisModuleString *blobstr; /* a retained argument string holding the bytes (zero copy) */
} Tensor;

/* Blobs up to this size are copied into the tensor; larger ones are kept as the retained
 * argument string (zero copy). Copying small blobs is cheaper than retaining the argument:
 * Redis trims retained argument strings after the command, and an overwrite of a tensor of
 * the same size then reuses the buffer it already has. */
#define TENSOR_COPY_MAX ((size_t)4 << 10)

static inline int tensor_data_inline(const Tensor *t) { return t->data_inline; }

extern RedisModuleType *TensorType;

const char *tensor_data(const Tensor *t);
void tensor_incref(Tensor *t);
void tensor_decref(Tensor *t);

/* Product of dims times itemsize with overflow checks. Returns 0 on overflow. */
int shape_nbytes(const int64_t *shape, int ndims, int dtype, size_t *len, size_t *nbytes);
/* Validate a blob against shape/dtype; returns NULL on success or the error text. */
const char *tensor_check_blob(int dtype, size_t len, const char *blob, size_t bloblen);
/* New tensor holding the bytes of s: a copy when small (TENSOR_COPY_MAX), else s itself,
 * retained (zero copy); shape is copied. */
Tensor *tensor_new_from_string(int dtype, const int64_t *shape, int ndims, size_t len,
                               RedisModuleString *s);
int tensor_register_type(RedisModuleCtx *ctx);
int tensor_register_commands(RedisModuleCtx *ctx);

/* Open key for writing a tensor; returns NULL (and replies WRONGTYPE) if the key holds another type. */
int key_is_tensor_or_empty(RedisModuleCtx *ctx, RedisModuleString *keyname);
/* Fetch tensor at key: returns NULL and sets *err to the RedisAI error text. */
Tensor *tensor_get(RedisModuleCtx *ctx, RedisModuleString *keyname, const char **err);

/* ---------------------------------------------------------------- models / scripts */
enum { BK_TF = 0, BK_TFLITE = 1, BK_TORCH = 2, BK_ONNX = 3, BK_COUNT };
extern const char *ai_backend_names[BK_COUNT];
int backend_from_name(const char *s);

enum { OBJ_MODEL = 0, OBJ_SCRIPT = 1 };

typedef struct AIObj {
    int refcount;
    int kind;
    uint64_t version;
    int backend;
    char *device;       /* as given by the user */
    char devnorm[24];   /* CPU or GPU:n */
    char *tag;
    size_t taglen;
    unsigned long long batchsize, minbatchsize, minbatchtimeout;
    size_t ninputs, noutputs;
    char **inputs, **outputs;
    char *blob; /* model blob, or script source (NUL terminated) */
    size_t bloblen;
    size_t nentry;
    char **entry;
    /* statistics (main thread only) */
    long long duration_us, samples, calls, errors;
    /* exec.c (main thread only): batch samples of this object's MODEL jobs queued or pulled
     * and not answered yet */
    long long pend_samples;
    struct AIObj *reg_prev, *reg_next;
} AIObj;

extern RedisModuleType *ModelType;
extern RedisModuleType *ScriptType;

void obj_incref(AIObj *o);
void obj_decref(AIObj *o);
/* Find a live object by version and take a reference, or NULL. */
AIObj *obj_find_version(uint64_t version);
int normalize_device(const char *in, char *out, size_t outlen);

/* Store obj under key (takes ownership on success); returns an error text or NULL. */
const char *obj_store_key(RedisModuleCtx *ctx, RedisModuleString *keyname, AIObj *obj);
AIObj *model_get(RedisModuleCtx *ctx, RedisModuleString *keyname, const char **err);
AIObj *script_get(RedisModuleCtx *ctx, RedisModuleString *keyname, const char **err);

int model_register_types(RedisModuleCtx *ctx);
int model_register_commands(RedisModuleCtx *ctx);

/* ---------------------------------------------------------------- config */
extern long long cfg_model_chunk_size;
extern char *cfg_backends_path;
int config_register_commands(RedisModuleCtx *ctx);
int config_load_args(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);

/* ---------------------------------------------------------------- execution */
int exec_init(RedisModuleCtx *ctx);
int exec_register_commands(RedisModuleCtx *ctx);
/* 1 if an executor serving 'backend' (BK_*) on device 'devnorm' is connected now. */
int exec_can_validate(const char *devnorm, int backend);
/* Queue a LOAD job for a pending object and block the client; the store happens when the
 * executor answers. Returns REDISMODULE_OK if the client was blocked. */
int exec_submit_load(RedisModuleCtx *ctx, RedisModuleString *key, AIObj *obj);
/* The secret an executor must present in AI._EXEC.HELLO (copied; from EXECUTOR_SECRET_FILE). */
void exec_set_secret(const char *secret, size_t len);
/* For INFO: whether a secret is configured, and how many executors are registered now. */
int exec_secret_configured(void);
long long exec_registered_count(void);
/* Blocking is impossible in this context (MULTI, Lua, loading, replicated stream). */
int ctx_cannot_block(RedisModuleCtx *ctx);

/* Reply +OK (through a cached call reply holding those bytes: cheaper than
 * RedisModule_ReplyWithSimpleString). reply_ok_init runs once at load time. */
void reply_ok_init(RedisModuleCtx *ctx);
int reply_ok(RedisModuleCtx *ctx);

int reply_error_fmt(RedisModuleCtx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
long long ustime_now(void);

#endif
