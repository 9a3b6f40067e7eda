/* Model and script data types, their store/get/del commands and AI.INFO. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "aimodule.h"

RedisModuleType *ModelType = NULL;
RedisModuleType *ScriptType = NULL;

const char *ai_backend_names[BK_COUNT] = {"TF", "TFLITE", "TORCH", "ONNX"};

int backend_from_name(const char *s) {
    for (int i = 0; i < BK_COUNT; i++)
        if (!strcasecmp(s, ai_backend_names[i]))
            return i;
    return -1;
}

/* ---------------------------------------------------------------- registry of live objects */

/* Objects may be freed from a lazy-free thread (FLUSHALL ASYNC): guard the registry. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static AIObj *reg_head = NULL;
static uint64_t next_version = 0;

static void reg_add(AIObj *o) {
    pthread_mutex_lock(&reg_lock);
    o->version = ++next_version;
    o->reg_prev = NULL;
    o->reg_next = reg_head;
    if (reg_head)
        reg_head->reg_prev = o;
    reg_head = o;
    pthread_mutex_unlock(&reg_lock);
}

AIObj *obj_find_version(uint64_t version) {
    AIObj *found = NULL;
    pthread_mutex_lock(&reg_lock);
    for (AIObj *o = reg_head; o; o = o->reg_next) {
        if (o->version == version) {
            __atomic_add_fetch(&o->refcount, 1, __ATOMIC_RELAXED);
            found = o;
            break;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return found;
}

static void free_strv(char **v, size_t n) {
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        RedisModule_Free(v[i]);
    RedisModule_Free(v);
}

void obj_incref(AIObj *o) { __atomic_add_fetch(&o->refcount, 1, __ATOMIC_RELAXED); }

void obj_decref(AIObj *o) {
    if (!o)
        return;
    if (__atomic_sub_fetch(&o->refcount, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    pthread_mutex_lock(&reg_lock);
    if (o->reg_prev)
        o->reg_prev->reg_next = o->reg_next;
    else if (reg_head == o)
        reg_head = o->reg_next;
    if (o->reg_next)
        o->reg_next->reg_prev = o->reg_prev;
    pthread_mutex_unlock(&reg_lock);
    RedisModule_Free(o->device);
    RedisModule_Free(o->tag);
    free_strv(o->inputs, o->ninputs);
    free_strv(o->outputs, o->noutputs);
    free_strv(o->entry, o->nentry);
    RedisModule_Free(o->blob);
    RedisModule_Free(o);
}

static char *dup_buf(const char *s, size_t len) {
    char *d = RedisModule_Alloc(len + 1);
    if (len)
        memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

static AIObj *obj_new(int kind, int backend, const char *device, const char *devnorm,
                      const char *tag, size_t taglen) {
    AIObj *o = RedisModule_Calloc(1, sizeof(AIObj));
    o->refcount = 1;
    o->kind = kind;
    o->backend = backend;
    o->device = RedisModule_Strdup(device);
    snprintf(o->devnorm, sizeof(o->devnorm), "%s", devnorm);
    o->tag = dup_buf(tag ? tag : "", tag ? taglen : 0);
    o->taglen = tag ? taglen : 0;
    reg_add(o);
    return o;
}

/* CPU, CPU:n -> CPU; GPU -> GPU:0; GPU:n -> GPU:n. Returns 0 if not a device. */
int normalize_device(const char *in, char *out, size_t outlen) {
    if (!strcasecmp(in, "CPU")) {
        snprintf(out, outlen, "CPU");
        return 1;
    }
    if (!strcasecmp(in, "GPU")) {
        snprintf(out, outlen, "GPU:0");
        return 1;
    }
    if ((strncasecmp(in, "CPU:", 4) == 0 || strncasecmp(in, "GPU:", 4) == 0)) {
        const char *d = in + 4;
        size_t n = strlen(d);
        if (n == 0 || n > 6)
            return 0;
        unsigned long v = 0;
        for (size_t i = 0; i < n; i++) {
            if (d[i] < '0' || d[i] > '9')
                return 0;
            v = v * 10 + (unsigned long)(d[i] - '0');
        }
        if (in[0] == 'c' || in[0] == 'C')
            snprintf(out, outlen, "CPU");
        else
            snprintf(out, outlen, "GPU:%lu", v);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- argument cursor */

typedef struct {
    RedisModuleString **argv;
    int argc;
    int pos;
} Cursor;

static int cur_at_end(Cursor *c) { return c->pos >= c->argc; }
static int cur_remaining(Cursor *c) { return c->argc - c->pos; }

static const char *cur_str(Cursor *c, size_t *len) {
    if (c->pos >= c->argc)
        return NULL;
    return RedisModule_StringPtrLen(c->argv[c->pos++], len);
}

static int cur_match(Cursor *c, const char *word) {
    if (c->pos >= c->argc)
        return 0;
    const char *s = RedisModule_StringPtrLen(c->argv[c->pos], NULL);
    if (strcasecmp(s, word) != 0)
        return 0;
    c->pos++;
    return 1;
}

static int cur_ull(Cursor *c, unsigned long long *out) {
    if (c->pos >= c->argc)
        return 0;
    long long v;
    if (RedisModule_StringToLongLong(c->argv[c->pos], &v) != REDISMODULE_OK || v < 0)
        return 0;
    c->pos++;
    *out = (unsigned long long)v;
    return 1;
}

/* BATCHSIZE, MINBATCHSIZE and MINBATCHTIMEOUT: a non-negative integer, as RedisAI parses
 * them, and at most INT32_MAX (the int that SmartRedis clients send). RedisAI stops only at
 * LLONG_MAX; a larger value here is an overflow or a typo, not a batch or a wait anyone
 * means. Out of range gets RedisAI's text for an unparsable value of that argument. */
#define BATCH_ARG_MAX 2147483647ULL
/* No RedisAI text (RedisAI accepts it, and a request smaller than BATCHSIZE then waits for a
 * minimum that no batch can hold): refused so that no stored model can make a client wait
 * for a batch that cannot form. */
#define ERR_MINBATCH_ABOVE_BATCH "ERR MINBATCHSIZE must be less than or equal to BATCHSIZE"

static int cur_batch_arg(Cursor *c, unsigned long long *out) {
    return cur_ull(c, out) && *out <= BATCH_ARG_MAX;
}

/* Concatenate blob chunks argv[from..argc). */
static char *concat_chunks(RedisModuleString **argv, int from, int argc, size_t *outlen) {
    size_t total = 0;
    for (int i = from; i < argc; i++) {
        size_t l;
        RedisModule_StringPtrLen(argv[i], &l);
        total += l;
    }
    /* One spare NUL byte: Redis' RDB string writer may read one byte past short buffers. */
    char *buf = RedisModule_Alloc(total + 1);
    buf[total] = '\0';
    size_t off = 0;
    for (int i = from; i < argc; i++) {
        size_t l;
        const char *s = RedisModule_StringPtrLen(argv[i], &l);
        memcpy(buf + off, s, l);
        off += l;
    }
    *outlen = total;
    return buf;
}

static char **dup_argv_strs(RedisModuleString **argv, size_t n) {
    if (n == 0)
        return NULL;
    char **v = RedisModule_Alloc(sizeof(char *) * n);
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *s = RedisModule_StringPtrLen(argv[i], &l);
        v[i] = dup_buf(s, l);
    }
    return v;
}

/* ---------------------------------------------------------------- storing */

int ctx_cannot_block(RedisModuleCtx *ctx) {
    int flags = RedisModule_GetContextFlags(ctx);
    return (flags & (REDISMODULE_CTX_FLAGS_MULTI | REDISMODULE_CTX_FLAGS_LUA |
                     REDISMODULE_CTX_FLAGS_LOADING | REDISMODULE_CTX_FLAGS_REPLICATED |
                     REDISMODULE_CTX_FLAGS_DENY_BLOCKING)) != 0;
}

/* Check the key can hold obj's type. */
static int key_accepts(RedisModuleCtx *ctx, RedisModuleString *keyname, RedisModuleType *type) {
    RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ);
    int kt = RedisModule_KeyType(key);
    int ok = kt == REDISMODULE_KEYTYPE_EMPTY ||
             (kt == REDISMODULE_KEYTYPE_MODULE && RedisModule_ModuleTypeGetType(key) == type);
    RedisModule_CloseKey(key);
    return ok;
}

const char *obj_store_key(RedisModuleCtx *ctx, RedisModuleString *keyname, AIObj *obj) {
    RedisModuleType *type = obj->kind == OBJ_MODEL ? ModelType : ScriptType;
    RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ | REDISMODULE_WRITE);
    int kt = RedisModule_KeyType(key);
    if (kt != REDISMODULE_KEYTYPE_EMPTY &&
        (kt != REDISMODULE_KEYTYPE_MODULE || RedisModule_ModuleTypeGetType(key) != type)) {
        RedisModule_CloseKey(key);
        return REDISMODULE_ERRORMSG_WRONGTYPE;
    }
    RedisModule_ModuleTypeSetValue(key, type, obj);
    RedisModule_CloseKey(key);
    return NULL;
}

/* Store obj under key now, or validate it through an executor first. Takes ownership of obj. */
static int store_or_validate(RedisModuleCtx *ctx, RedisModuleString *keyname, AIObj *obj) {
    RedisModuleType *type = obj->kind == OBJ_MODEL ? ModelType : ScriptType;
    if (!key_accepts(ctx, keyname, type)) {
        obj_decref(obj);
        return RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
    }
    int backend = obj->kind == OBJ_MODEL ? obj->backend : BK_TORCH;
    if (!ctx_cannot_block(ctx) && exec_can_validate(obj->devnorm, backend)) {
        if (exec_submit_load(ctx, keyname, obj) == REDISMODULE_OK)
            return REDISMODULE_OK;
    }
    const char *err = obj_store_key(ctx, keyname, obj);
    if (err) {
        obj_decref(obj);
        return RedisModule_ReplyWithError(ctx, err);
    }
    RedisModule_ReplyWithSimpleString(ctx, "OK");
    RedisModule_ReplicateVerbatim(ctx);
    return REDISMODULE_OK;
}

/* ---------------------------------------------------------------- AI.MODELSTORE */

static int valid_store_device(const char *d) {
    if (!strcasecmp(d, "CPU") || !strcasecmp(d, "GPU"))
        return 1;
    if ((!strncasecmp(d, "GPU:", 4) || !strncasecmp(d, "CPU:", 4)) && strlen(d) < 10) {
        for (const char *p = d + 4; *p; p++)
            if (*p < '0' || *p > '9')
                return 0;
        return 1;
    }
    return 0;
}

static int cmd_modelstore(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 6)
        return RedisModule_WrongArity(ctx);
    Cursor c = {argv, argc, 2};
    const char *bck = cur_str(&c, NULL);
    int backend = backend_from_name(bck);
    if (backend < 0)
        return RedisModule_ReplyWithError(ctx, "ERR unsupported backend");
    const char *device = cur_str(&c, NULL);
    char devnorm[24];
    if (!valid_store_device(device) || !normalize_device(device, devnorm, sizeof(devnorm)))
        return RedisModule_ReplyWithError(ctx, "ERR Invalid DEVICE");
    const char *tag = NULL;
    size_t taglen = 0;
    if (cur_match(&c, "TAG"))
        tag = cur_str(&c, &taglen);
    unsigned long long batchsize = 0, minbatchsize = 0, minbatchtimeout = 0;
    if (cur_match(&c, "BATCHSIZE")) {
        if (!cur_batch_arg(&c, &batchsize))
            return RedisModule_ReplyWithError(ctx, "ERR Invalid argument for BATCHSIZE");
    }
    if (cur_match(&c, "MINBATCHSIZE")) {
        if (!cur_batch_arg(&c, &minbatchsize))
            return RedisModule_ReplyWithError(ctx, "ERR Invalid argument for MINBATCHSIZE");
        if (batchsize == 0 && minbatchsize > 0)
            return RedisModule_ReplyWithError(ctx, "ERR MINBATCHSIZE specified without BATCHSIZE");
        if (minbatchsize > batchsize)
            return RedisModule_ReplyWithError(ctx, ERR_MINBATCH_ABOVE_BATCH);
    }
    if (cur_match(&c, "MINBATCHTIMEOUT")) {
        if (!cur_batch_arg(&c, &minbatchtimeout))
            return RedisModule_ReplyWithError(ctx, "ERR Invalid argument for MINBATCHTIMEOUT");
        if (minbatchsize == 0 && minbatchtimeout > 0)
            return RedisModule_ReplyWithError(ctx,
                                              "ERR MINBATCHTIMEOUT specified without MINBATCHSIZE");
    }
    if (cur_at_end(&c))
        return RedisModule_ReplyWithError(ctx, "ERR Insufficient arguments, missing model BLOB");
    const char *arg = cur_str(&c, NULL);
    unsigned long long ninputs = 0, noutputs = 0;
    int inputs_pos = 0, outputs_pos = 0;
    if (backend == BK_TF) {
        if (strcasecmp(arg, "INPUTS") != 0)
            return RedisModule_ReplyWithError(ctx, "ERR INPUTS not specified for TF");
        if (!cur_ull(&c, &ninputs) || ninputs == 0)
            return RedisModule_ReplyWithError(ctx, "ERR Invalid argument for input_count");
        if ((unsigned long long)cur_remaining(&c) < ninputs)
            return RedisModule_ReplyWithError(
                ctx, "ERR number of model inputs does not match the number of given arguments");
        inputs_pos = c.pos;
        c.pos += (int)ninputs;
        const char *o = cur_str(&c, NULL);
        if (!o || strcasecmp(o, "OUTPUTS") != 0)
            return RedisModule_ReplyWithError(ctx, "ERR OUTPUTS not specified for TF");
        if (!cur_ull(&c, &noutputs) || noutputs == 0)
            return RedisModule_ReplyWithError(ctx, "ERR Invalid argument for output_count");
        if ((unsigned long long)cur_remaining(&c) < noutputs)
            return RedisModule_ReplyWithError(
                ctx, "ERR number of model outputs does not match the number of given arguments");
        outputs_pos = c.pos;
        c.pos += (int)noutputs;
        const char *b = cur_str(&c, NULL);
        arg = b ? b : o;
    } else if (strcasecmp(arg, "INPUTS") == 0) {
        return RedisModule_ReplyWithError(
            ctx, "ERR INPUTS argument should not be specified for this backend");
    }
    if (strcasecmp(arg, "BLOB") != 0)
        return RedisModule_ReplyWithError(ctx, "ERR Invalid argument, expected BLOB");
    if (cur_at_end(&c))
        return RedisModule_ReplyWithError(ctx, "ERR Insufficient arguments, missing model BLOB");

    AIObj *m = obj_new(OBJ_MODEL, backend, device, devnorm, tag, taglen);
    m->batchsize = batchsize;
    m->minbatchsize = minbatchsize;
    m->minbatchtimeout = minbatchtimeout;
    m->ninputs = ninputs;
    m->inputs = dup_argv_strs(argv + inputs_pos, ninputs);
    m->noutputs = noutputs;
    m->outputs = dup_argv_strs(argv + outputs_pos, noutputs);
    m->blob = concat_chunks(argv, c.pos, argc, &m->bloblen);
    return store_or_validate(ctx, argv[1], m);
}

/* ---------------------------------------------------------------- AI.MODELSET (deprecated) */

static int find_word(RedisModuleString **argv, int from, int to, const char *word) {
    for (int i = from; i < to; i++)
        if (!strcasecmp(RedisModule_StringPtrLen(argv[i], NULL), word))
            return i;
    return -1;
}

static int cmd_modelset(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 4)
        return RedisModule_WrongArity(ctx);
    Cursor c = {argv, argc, 2};
    int backend = backend_from_name(cur_str(&c, NULL));
    if (backend < 0)
        return RedisModule_ReplyWithError(ctx, "ERR unsupported backend");
    const char *device = cur_str(&c, NULL);
    static const char *kw[] = {"INPUTS", "OUTPUTS", "TAG", "BATCHSIZE", "MINBATCHSIZE",
                               "MINBATCHTIMEOUT", "BLOB"};
    char devnorm[24];
    int bad = strlen(device) > 10;
    for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
        if (!strcasecmp(device, kw[i]))
            bad = 1;
    if (bad || !normalize_device(device, devnorm, sizeof(devnorm)))
        return RedisModule_ReplyWithError(ctx, "ERR Invalid DEVICE");
    const char *tag = NULL;
    size_t taglen = 0;
    if (cur_match(&c, "TAG"))
        tag = cur_str(&c, &taglen);
    unsigned long long batchsize = 0, minbatchsize = 0, minbatchtimeout = 0;
    if (cur_match(&c, "BATCHSIZE")) {
        if (backend == BK_TFLITE)
            return RedisModule_ReplyWithError(ctx,
                                              "ERR Auto-batching not supported by the TFLITE backend");
        if (!cur_batch_arg(&c, &batchsize))
            return RedisModule_ReplyWithError(ctx, "ERR Invalid argument for BATCHSIZE");
    }
    if (cur_match(&c, "MINBATCHSIZE")) {
        if (batchsize == 0)
            return RedisModule_ReplyWithError(ctx, "ERR MINBATCHSIZE specified without BATCHSIZE");
        if (!cur_batch_arg(&c, &minbatchsize))
            return RedisModule_ReplyWithError(ctx, "ERR Invalid argument for MINBATCHSIZE");
        if (minbatchsize > batchsize)
            return RedisModule_ReplyWithError(ctx, ERR_MINBATCH_ABOVE_BATCH);
    }
    if (cur_match(&c, "MINBATCHTIMEOUT")) {
        if (batchsize == 0)
            return RedisModule_ReplyWithError(ctx, "ERR MINBATCHTIMEOUT specified without BATCHSIZE");
        if (minbatchsize == 0)
            return RedisModule_ReplyWithError(ctx,
                                              "ERR MINBATCHTIMEOUT specified without MINBATCHSIZE");
        if (!cur_batch_arg(&c, &minbatchtimeout))
            return RedisModule_ReplyWithError(ctx, "ERR Invalid argument for MINBATCHTIMEOUT");
    }
    if (cur_at_end(&c))
        return RedisModule_ReplyWithError(ctx, "ERR Insufficient arguments, missing model BLOB");
    int blobpos = find_word(argv, c.pos, argc, "BLOB");
    int optend = blobpos < 0 ? argc : blobpos;
    int nopts = optend - c.pos;
    int in_from = 0, in_to = 0, out_from = 0, out_to = 0;
    if (nopts == 0 && backend == BK_TF)
        return RedisModule_ReplyWithError(ctx,
                                          "ERR Insufficient arguments, INPUTS and OUTPUTS not specified");
    if (nopts > 0 && backend == BK_TF) {
        if (strcasecmp(RedisModule_StringPtrLen(argv[c.pos], NULL), "INPUTS") != 0)
            return RedisModule_ReplyWithError(ctx, "ERR INPUTS not specified");
        in_from = c.pos + 1;
        int outpos = find_word(argv, in_from, optend, "OUTPUTS");
        if (outpos < 0)
            return RedisModule_ReplyWithError(ctx, "ERR OUTPUTS not specified");
        in_to = outpos;
        out_from = outpos + 1;
        out_to = optend;
    }
    if (blobpos < 0 || blobpos + 1 >= argc)
        return RedisModule_ReplyWithError(ctx, "ERR Insufficient arguments, missing model BLOB");

    AIObj *m = obj_new(OBJ_MODEL, backend, device, devnorm, tag, taglen);
    m->batchsize = batchsize;
    m->minbatchsize = minbatchsize;
    m->minbatchtimeout = minbatchtimeout;
    m->ninputs = (size_t)(in_to - in_from);
    m->inputs = dup_argv_strs(argv + in_from, m->ninputs);
    m->noutputs = (size_t)(out_to - out_from);
    m->outputs = dup_argv_strs(argv + out_from, m->noutputs);
    m->blob = concat_chunks(argv, blobpos + 1, argc, &m->bloblen);
    return store_or_validate(ctx, argv[1], m);
}

/* ---------------------------------------------------------------- lookups */

static AIObj *obj_get(RedisModuleCtx *ctx, RedisModuleString *keyname, int kind, const char **err) {
    RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ);
    int kt = RedisModule_KeyType(key);
    RedisModuleType *type = kind == OBJ_MODEL ? ModelType : ScriptType;
    AIObj *o = NULL;
    if (kt == REDISMODULE_KEYTYPE_EMPTY)
        *err = kind == OBJ_MODEL ? "ERR model key is empty" : "ERR script key is empty";
    else if (kt != REDISMODULE_KEYTYPE_MODULE || RedisModule_ModuleTypeGetType(key) != type)
        *err = REDISMODULE_ERRORMSG_WRONGTYPE;
    else
        o = RedisModule_ModuleTypeGetValue(key);
    RedisModule_CloseKey(key);
    return o;
}

AIObj *model_get(RedisModuleCtx *ctx, RedisModuleString *keyname, const char **err) {
    return obj_get(ctx, keyname, OBJ_MODEL, err);
}

AIObj *script_get(RedisModuleCtx *ctx, RedisModuleString *keyname, const char **err) {
    return obj_get(ctx, keyname, OBJ_SCRIPT, err);
}

/* ---------------------------------------------------------------- AI.MODELGET */

static void reply_chunks(RedisModuleCtx *ctx, const char *buf, size_t len) {
    size_t cs = (size_t)cfg_model_chunk_size;
    size_t n = len / cs + 1;
    if (n > 1) {
        RedisModule_ReplyWithArray(ctx, (long)n);
        for (size_t i = 0; i < n; i++) {
            size_t cl = i < n - 1 ? cs : len % cs;
            RedisModule_ReplyWithStringBuffer(ctx, buf + i * cs, cl);
        }
    } else {
        RedisModule_ReplyWithStringBuffer(ctx, buf, len);
    }
}

static int cmd_modelget(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 2 || argc > 4)
        return RedisModule_WrongArity(ctx);
    const char *err = NULL;
    AIObj *m = model_get(ctx, argv[1], &err);
    if (!m)
        return RedisModule_ReplyWithError(ctx, err);
    int meta = 0, blob = 0;
    for (int i = 2; i < argc; i++) {
        const char *s = RedisModule_StringPtrLen(argv[i], NULL);
        if (!strcasecmp(s, "META"))
            meta = 1;
        else if (!strcasecmp(s, "BLOB"))
            blob = 1;
    }
    if (!meta && blob) {
        reply_chunks(ctx, m->blob, m->bloblen);
        return REDISMODULE_OK;
    }
    RedisModule_ReplyWithArray(ctx, (meta && !blob) ? 16 : 18);
    RedisModule_ReplyWithCString(ctx, "backend");
    RedisModule_ReplyWithCString(ctx, ai_backend_names[m->backend]);
    RedisModule_ReplyWithCString(ctx, "device");
    RedisModule_ReplyWithCString(ctx, m->device);
    RedisModule_ReplyWithCString(ctx, "tag");
    RedisModule_ReplyWithStringBuffer(ctx, m->tag, m->taglen);
    RedisModule_ReplyWithCString(ctx, "batchsize");
    RedisModule_ReplyWithLongLong(ctx, (long long)m->batchsize);
    RedisModule_ReplyWithCString(ctx, "minbatchsize");
    RedisModule_ReplyWithLongLong(ctx, (long long)m->minbatchsize);
    RedisModule_ReplyWithCString(ctx, "inputs");
    RedisModule_ReplyWithArray(ctx, (long)m->ninputs);
    for (size_t i = 0; i < m->ninputs; i++)
        RedisModule_ReplyWithCString(ctx, m->inputs[i]);
    RedisModule_ReplyWithCString(ctx, "outputs");
    RedisModule_ReplyWithArray(ctx, (long)m->noutputs);
    for (size_t i = 0; i < m->noutputs; i++)
        RedisModule_ReplyWithCString(ctx, m->outputs[i]);
    RedisModule_ReplyWithCString(ctx, "minbatchtimeout");
    RedisModule_ReplyWithLongLong(ctx, (long long)m->minbatchtimeout);
    if (!meta || blob) {
        RedisModule_ReplyWithCString(ctx, "blob");
        reply_chunks(ctx, m->blob, m->bloblen);
    }
    return REDISMODULE_OK;
}

/* ---------------------------------------------------------------- AI.MODELDEL / AI.SCRIPTDEL */

static int del_obj(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int kind) {
    if (argc != 2)
        return RedisModule_WrongArity(ctx);
    const char *err = NULL;
    if (!obj_get(ctx, argv[1], kind, &err))
        return RedisModule_ReplyWithError(ctx, err);
    RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[1], REDISMODULE_WRITE);
    RedisModule_DeleteKey(key);
    RedisModule_CloseKey(key);
    RedisModule_ReplicateVerbatim(ctx);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static int cmd_modeldel(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return del_obj(ctx, argv, argc, OBJ_MODEL);
}

static int cmd_scriptdel(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return del_obj(ctx, argv, argc, OBJ_SCRIPT);
}

/* ---------------------------------------------------------------- AI.SCRIPTSTORE / SCRIPTSET */

static AIObj *script_new(const char *device, const char *devnorm, const char *tag, size_t taglen,
                         const char *src, size_t srclen) {
    AIObj *s = obj_new(OBJ_SCRIPT, BK_TORCH, device, devnorm, tag, taglen);
    /* RedisAI keeps the source as a C string. */
    size_t l = strnlen(src, srclen);
    s->blob = dup_buf(src, l);
    s->bloblen = l;
    return s;
}

static int cmd_scriptstore(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 8)
        return RedisModule_WrongArity(ctx);
    Cursor c = {argv, argc, 2};
    const char *device = cur_str(&c, NULL);
    const char *tag = NULL;
    size_t taglen = 0;
    if (cur_match(&c, "TAG"))
        tag = cur_str(&c, &taglen);
    long long nentry = 0;
    if (cur_match(&c, "ENTRY_POINTS")) {
        if (cur_at_end(&c) || RedisModule_StringToLongLong(argv[c.pos], &nentry) != REDISMODULE_OK)
            return RedisModule_ReplyWithError(
                ctx, "ERR Non numeric entry points number provided to AI.SCRIPTSTORE command");
        c.pos++;
    } else {
        return RedisModule_ReplyWithError(ctx, "ERR Insufficient arguments, missing script entry points");
    }
    if (nentry < 0 || nentry > cur_remaining(&c))
        return RedisModule_ReplyWithError(ctx, "ERR Insufficient arguments, missing script entry points");
    int entry_pos = c.pos;
    c.pos += (int)nentry;
    const char *src = NULL;
    size_t srclen = 0;
    if (cur_match(&c, "SOURCE"))
        src = cur_str(&c, &srclen);
    if (!src)
        return RedisModule_ReplyWithError(ctx, "ERR Insufficient arguments, missing script SOURCE");
    char devnorm[24];
    if (!normalize_device(device, devnorm, sizeof(devnorm)))
        return RedisModule_ReplyWithError(ctx, "ERR Invalid DEVICE");
    AIObj *s = script_new(device, devnorm, tag, taglen, src, srclen);
    s->nentry = (size_t)nentry;
    s->entry = dup_argv_strs(argv + entry_pos, s->nentry);
    return store_or_validate(ctx, argv[1], s);
}

static int cmd_scriptset(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 5 && argc != 7)
        return RedisModule_WrongArity(ctx);
    Cursor c = {argv, argc, 2};
    const char *device = cur_str(&c, NULL);
    const char *tag = NULL;
    size_t taglen = 0;
    if (cur_match(&c, "TAG"))
        tag = cur_str(&c, &taglen);
    if (cur_at_end(&c))
        return RedisModule_ReplyWithError(ctx, "ERR Insufficient arguments, missing script SOURCE");
    const char *src = NULL;
    size_t srclen = 0;
    if (cur_match(&c, "SOURCE"))
        src = cur_str(&c, &srclen);
    if (!src)
        return RedisModule_ReplyWithError(ctx, "ERR Insufficient arguments, missing script SOURCE");
    char devnorm[24];
    if (!normalize_device(device, devnorm, sizeof(devnorm)))
        return RedisModule_ReplyWithError(ctx, "ERR Invalid DEVICE");
    AIObj *s = script_new(device, devnorm, tag, taglen, src, srclen);
    return store_or_validate(ctx, argv[1], s);
}

/* ---------------------------------------------------------------- AI.SCRIPTGET */

static int cmd_scriptget(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 2 || argc > 4)
        return RedisModule_WrongArity(ctx);
    const char *err = NULL;
    AIObj *s = script_get(ctx, argv[1], &err);
    if (!s)
        return RedisModule_ReplyWithError(ctx, err);
    int meta = 0, source = 0;
    for (int i = 2; i < argc; i++) {
        const char *o = RedisModule_StringPtrLen(argv[i], NULL);
        if (!strcasecmp(o, "META"))
            meta = 1;
        else if (!strcasecmp(o, "SOURCE"))
            source = 1;
    }
    if (!meta && source)
        return RedisModule_ReplyWithStringBuffer(ctx, s->blob, s->bloblen);
    RedisModule_ReplyWithArray(ctx, (source || !meta) ? 8 : 6);
    RedisModule_ReplyWithCString(ctx, "device");
    RedisModule_ReplyWithCString(ctx, s->device);
    RedisModule_ReplyWithCString(ctx, "tag");
    RedisModule_ReplyWithStringBuffer(ctx, s->tag, s->taglen);
    RedisModule_ReplyWithCString(ctx, "Entry Points");
    RedisModule_ReplyWithArray(ctx, (long)s->nentry);
    for (size_t i = 0; i < s->nentry; i++)
        RedisModule_ReplyWithCString(ctx, s->entry[i]);
    if (source || !meta) {
        RedisModule_ReplyWithCString(ctx, "source");
        RedisModule_ReplyWithStringBuffer(ctx, s->blob, s->bloblen);
    }
    return REDISMODULE_OK;
}

/* ---------------------------------------------------------------- AI.INFO */

static int cmd_info(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 2 || argc > 3)
        return RedisModule_WrongArity(ctx);
    RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[1], REDISMODULE_READ);
    AIObj *o = NULL;
    if (RedisModule_KeyType(key) == REDISMODULE_KEYTYPE_MODULE) {
        RedisModuleType *t = RedisModule_ModuleTypeGetType(key);
        if (t == ModelType || t == ScriptType)
            o = RedisModule_ModuleTypeGetValue(key);
    }
    RedisModule_CloseKey(key);
    if (!o)
        return RedisModule_ReplyWithError(ctx, "ERR cannot find run info for key");
    if (argc == 3 && !strcasecmp(RedisModule_StringPtrLen(argv[2], NULL), "RESETSTAT")) {
        o->duration_us = o->samples = o->calls = o->errors = 0;
        return RedisModule_ReplyWithSimpleString(ctx, "OK");
    }
    RedisModule_ReplyWithArray(ctx, 18);
    RedisModule_ReplyWithCString(ctx, "key");
    RedisModule_ReplyWithString(ctx, argv[1]);
    RedisModule_ReplyWithCString(ctx, "type");
    RedisModule_ReplyWithCString(ctx, o->kind == OBJ_MODEL ? "MODEL" : "SCRIPT");
    RedisModule_ReplyWithCString(ctx, "backend");
    RedisModule_ReplyWithCString(ctx, ai_backend_names[o->backend]);
    RedisModule_ReplyWithCString(ctx, "device");
    RedisModule_ReplyWithCString(ctx, o->device);
    RedisModule_ReplyWithCString(ctx, "tag");
    RedisModule_ReplyWithStringBuffer(ctx, o->tag, o->taglen);
    RedisModule_ReplyWithCString(ctx, "duration");
    RedisModule_ReplyWithLongLong(ctx, o->duration_us);
    RedisModule_ReplyWithCString(ctx, "samples");
    RedisModule_ReplyWithLongLong(ctx, o->kind == OBJ_MODEL ? o->samples : -1);
    RedisModule_ReplyWithCString(ctx, "calls");
    RedisModule_ReplyWithLongLong(ctx, o->calls);
    RedisModule_ReplyWithCString(ctx, "errors");
    RedisModule_ReplyWithLongLong(ctx, o->errors);
    return REDISMODULE_OK;
}

/* ---------------------------------------------------------------- type callbacks */

static char *load_cstr(RedisModuleIO *io) {
    size_t l = 0;
    char *s = RedisModule_LoadStringBuffer(io, &l);
    char *d = dup_buf(s, strnlen(s, l));
    RedisModule_Free(s);
    return d;
}

static void save_cstr(RedisModuleIO *io, const char *s) {
    RedisModule_SaveStringBuffer(io, s, strlen(s) + 1);
}

static void *model_rdb_load(RedisModuleIO *io, int encver) {
    if (encver != AI_ENCVER) {
        RedisModule_LogIOError(io, "warning", "AI__MODEL: unsupported encoding version %d", encver);
        return NULL;
    }
    uint64_t backend = RedisModule_LoadUnsigned(io);
    char *device = load_cstr(io);
    size_t taglen = 0;
    char *tag = RedisModule_LoadStringBuffer(io, &taglen);
    char devnorm[24];
    if (backend >= BK_COUNT || !normalize_device(device, devnorm, sizeof(devnorm))) {
        RedisModule_LogIOError(io, "warning", "AI__MODEL: corrupt header");
        RedisModule_Free(device);
        RedisModule_Free(tag);
        return NULL;
    }
    AIObj *m = obj_new(OBJ_MODEL, (int)backend, device, devnorm, tag, taglen);
    RedisModule_Free(device);
    RedisModule_Free(tag);
    m->batchsize = RedisModule_LoadUnsigned(io);
    m->minbatchsize = RedisModule_LoadUnsigned(io);
    m->minbatchtimeout = RedisModule_LoadUnsigned(io);
    m->ninputs = RedisModule_LoadUnsigned(io);
    if (m->ninputs > (1u << 20))
        goto corrupt;
    m->inputs = m->ninputs ? RedisModule_Calloc(m->ninputs, sizeof(char *)) : NULL;
    for (size_t i = 0; i < m->ninputs; i++)
        m->inputs[i] = load_cstr(io);
    m->noutputs = RedisModule_LoadUnsigned(io);
    if (m->noutputs > (1u << 20)) {
        m->noutputs = 0;
        goto corrupt;
    }
    m->outputs = m->noutputs ? RedisModule_Calloc(m->noutputs, sizeof(char *)) : NULL;
    for (size_t i = 0; i < m->noutputs; i++)
        m->outputs[i] = load_cstr(io);
    uint64_t len = RedisModule_LoadUnsigned(io);
    uint64_t nchunks = RedisModule_LoadUnsigned(io);
    if (nchunks > len + 1 || len > ((uint64_t)1 << 40))
        goto corrupt;
    m->blob = RedisModule_Alloc(len + 1);
    m->blob[len] = '\0';
    m->bloblen = 0;
    for (uint64_t i = 0; i < nchunks; i++) {
        size_t cl = 0;
        char *chunk = RedisModule_LoadStringBuffer(io, &cl);
        if (m->bloblen + cl > len) {
            RedisModule_Free(chunk);
            goto corrupt;
        }
        memcpy(m->blob + m->bloblen, chunk, cl);
        m->bloblen += cl;
        RedisModule_Free(chunk);
    }
    if (m->bloblen != len)
        goto corrupt;
    return m;
corrupt:
    RedisModule_LogIOError(io, "warning", "AI__MODEL: corrupt value");
    obj_decref(m);
    return NULL;
}

static void model_rdb_save(RedisModuleIO *io, void *value) {
    AIObj *m = value;
    RedisModule_SaveUnsigned(io, (uint64_t)m->backend);
    save_cstr(io, m->device);
    RedisModule_SaveStringBuffer(io, m->tag, m->taglen);
    RedisModule_SaveUnsigned(io, m->batchsize);
    RedisModule_SaveUnsigned(io, m->minbatchsize);
    RedisModule_SaveUnsigned(io, m->minbatchtimeout);
    RedisModule_SaveUnsigned(io, m->ninputs);
    for (size_t i = 0; i < m->ninputs; i++)
        save_cstr(io, m->inputs[i]);
    RedisModule_SaveUnsigned(io, m->noutputs);
    for (size_t i = 0; i < m->noutputs; i++)
        save_cstr(io, m->outputs[i]);
    size_t cs = (size_t)cfg_model_chunk_size;
    size_t n = m->bloblen / cs + 1;
    RedisModule_SaveUnsigned(io, m->bloblen);
    RedisModule_SaveUnsigned(io, n);
    for (size_t i = 0; i < n; i++) {
        size_t cl = i < n - 1 ? cs : m->bloblen % cs;
        RedisModule_SaveStringBuffer(io, m->blob + i * cs, cl);
    }
}

/* Build a RedisModuleString vector for EmitAOF's "v" format. */
typedef struct {
    RedisModuleString **v;
    size_t n, cap;
} StrVec;

static void sv_push(StrVec *sv, const char *s, size_t len) {
    if (sv->n == sv->cap) {
        sv->cap = sv->cap ? sv->cap * 2 : 16;
        sv->v = RedisModule_Realloc(sv->v, sizeof(*sv->v) * sv->cap);
    }
    sv->v[sv->n++] = RedisModule_CreateString(NULL, s, len);
}

static void sv_push_c(StrVec *sv, const char *s) { sv_push(sv, s, strlen(s)); }

static void sv_push_ll(StrVec *sv, long long v) {
    char buf[32];
    int l = snprintf(buf, sizeof(buf), "%lld", v);
    sv_push(sv, buf, (size_t)l);
}

static void sv_free(StrVec *sv) {
    for (size_t i = 0; i < sv->n; i++)
        RedisModule_FreeString(NULL, sv->v[i]);
    RedisModule_Free(sv->v);
}

static void model_aof_rewrite(RedisModuleIO *aof, RedisModuleString *key, void *value) {
    AIObj *m = value;
    StrVec sv = {0};
    sv_push_c(&sv, ai_backend_names[m->backend]);
    sv_push_c(&sv, m->device);
    sv_push_c(&sv, "TAG");
    sv_push(&sv, m->tag, m->taglen);
    sv_push_c(&sv, "BATCHSIZE");
    sv_push_ll(&sv, (long long)m->batchsize);
    sv_push_c(&sv, "MINBATCHSIZE");
    sv_push_ll(&sv, (long long)m->minbatchsize);
    sv_push_c(&sv, "MINBATCHTIMEOUT");
    sv_push_ll(&sv, (long long)m->minbatchtimeout);
    if (m->backend == BK_TF) {
        sv_push_c(&sv, "INPUTS");
        sv_push_ll(&sv, (long long)m->ninputs);
        for (size_t i = 0; i < m->ninputs; i++)
            sv_push_c(&sv, m->inputs[i]);
        sv_push_c(&sv, "OUTPUTS");
        sv_push_ll(&sv, (long long)m->noutputs);
        for (size_t i = 0; i < m->noutputs; i++)
            sv_push_c(&sv, m->outputs[i]);
    }
    sv_push_c(&sv, "BLOB");
    size_t cs = (size_t)cfg_model_chunk_size;
    if (m->bloblen == 0)
        sv_push(&sv, "", 0);
    for (size_t off = 0; off < m->bloblen; off += cs)
        sv_push(&sv, m->blob + off, m->bloblen - off < cs ? m->bloblen - off : cs);
    RedisModule_EmitAOF(aof, "AI.MODELSTORE", "sv", key, sv.v, sv.n);
    sv_free(&sv);
}

static void *script_rdb_load(RedisModuleIO *io, int encver) {
    if (encver != AI_ENCVER) {
        RedisModule_LogIOError(io, "warning", "AI_SCRIPT: unsupported encoding version %d", encver);
        return NULL;
    }
    char *device = load_cstr(io);
    size_t taglen = 0;
    char *tag = RedisModule_LoadStringBuffer(io, &taglen);
    size_t srclen = 0;
    char *src = RedisModule_LoadStringBuffer(io, &srclen);
    char devnorm[24];
    if (!normalize_device(device, devnorm, sizeof(devnorm)))
        snprintf(devnorm, sizeof(devnorm), "CPU");
    AIObj *s = script_new(device, devnorm, tag, taglen, src, srclen);
    RedisModule_Free(device);
    RedisModule_Free(tag);
    RedisModule_Free(src);
    uint64_t n = RedisModule_LoadUnsigned(io);
    if (n > (1u << 20)) {
        RedisModule_LogIOError(io, "warning", "AI_SCRIPT: corrupt value");
        obj_decref(s);
        return NULL;
    }
    s->nentry = n;
    s->entry = n ? RedisModule_Calloc(n, sizeof(char *)) : NULL;
    for (size_t i = 0; i < n; i++)
        s->entry[i] = load_cstr(io);
    return s;
}

static void script_rdb_save(RedisModuleIO *io, void *value) {
    AIObj *s = value;
    save_cstr(io, s->device);
    RedisModule_SaveStringBuffer(io, s->tag, s->taglen);
    RedisModule_SaveStringBuffer(io, s->blob, s->bloblen + 1);
    RedisModule_SaveUnsigned(io, s->nentry);
    for (size_t i = 0; i < s->nentry; i++)
        save_cstr(io, s->entry[i]);
}

static void script_aof_rewrite(RedisModuleIO *aof, RedisModuleString *key, void *value) {
    AIObj *s = value;
    StrVec sv = {0};
    sv_push_c(&sv, s->device);
    sv_push_c(&sv, "TAG");
    sv_push(&sv, s->tag, s->taglen);
    if (s->nentry > 0) {
        sv_push_c(&sv, "ENTRY_POINTS");
        sv_push_ll(&sv, (long long)s->nentry);
        for (size_t i = 0; i < s->nentry; i++)
            sv_push_c(&sv, s->entry[i]);
    }
    sv_push_c(&sv, "SOURCE");
    sv_push(&sv, s->blob, s->bloblen);
    RedisModule_EmitAOF(aof, s->nentry > 0 ? "AI.SCRIPTSTORE" : "AI.SCRIPTSET", "sv", key, sv.v,
                        sv.n);
    sv_free(&sv);
}

static size_t obj_mem_usage(const void *value) {
    const AIObj *o = value;
    size_t n = sizeof(AIObj) + o->bloblen + o->taglen + strlen(o->device) + 2;
    for (size_t i = 0; i < o->ninputs; i++)
        n += strlen(o->inputs[i]) + 1 + sizeof(char *);
    for (size_t i = 0; i < o->noutputs; i++)
        n += strlen(o->outputs[i]) + 1 + sizeof(char *);
    for (size_t i = 0; i < o->nentry; i++)
        n += strlen(o->entry[i]) + 1 + sizeof(char *);
    return n;
}

static void obj_free_cb(void *value) { obj_decref(value); }

int model_register_types(RedisModuleCtx *ctx) {
    RedisModuleTypeMethods mm = {
        .version = REDISMODULE_TYPE_METHOD_VERSION_USED,
        .rdb_load = model_rdb_load,
        .rdb_save = model_rdb_save,
        .aof_rewrite = model_aof_rewrite,
        .mem_usage = obj_mem_usage,
        .digest = NULL,
        .free = obj_free_cb,
    };
    ModelType = RedisModule_CreateDataType(ctx, "AI__MODEL", AI_ENCVER, &mm);
    RedisModuleTypeMethods sm = {
        .version = REDISMODULE_TYPE_METHOD_VERSION_USED,
        .rdb_load = script_rdb_load,
        .rdb_save = script_rdb_save,
        .aof_rewrite = script_aof_rewrite,
        .mem_usage = obj_mem_usage,
        .digest = NULL,
        .free = obj_free_cb,
    };
    ScriptType = RedisModule_CreateDataType(ctx, "AI_SCRIPT", AI_ENCVER, &sm);
    return ModelType && ScriptType ? REDISMODULE_OK : REDISMODULE_ERR;
}

int model_register_commands(RedisModuleCtx *ctx) {
    struct {
        const char *name;
        RedisModuleCmdFunc fn;
        const char *flags;
    } cmds[] = {
        {"ai.modelstore", cmd_modelstore, "write deny-oom"},
        {"ai.modelset", cmd_modelset, "write deny-oom"},
        {"ai.modelget", cmd_modelget, "readonly"},
        {"ai.modeldel", cmd_modeldel, "write"},
        {"ai.scriptstore", cmd_scriptstore, "write deny-oom"},
        {"ai.scriptset", cmd_scriptset, "write deny-oom"},
        {"ai.scriptget", cmd_scriptget, "readonly"},
        {"ai.scriptdel", cmd_scriptdel, "write"},
        {"ai.info", cmd_info, "readonly"},
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (RedisModule_CreateCommand(ctx, cmds[i].name, cmds[i].fn, cmds[i].flags, 1, 1, 1) ==
            REDISMODULE_ERR)
            return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
