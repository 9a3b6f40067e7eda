/*
 * Execution: AI.MODELEXECUTE / AI.MODELRUN / AI.SCRIPTEXECUTE / AI.SCRIPTRUN block the
 * caller and queue a job; executor processes take jobs with the internal AI._EXEC.*
 * commands described in PROTOCOL.md and hand the outputs back.
 *
 * Every blocked client is unblocked exactly once, by this file: completion (DONE / ERR /
 * executor death / no executor), our own timeout timer (BlockClient is called without a
 * Redis-side timeout so no race with Redis' timeout handling exists), or client
 * disconnection (disconnect callback).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "aimodule.h"

#define NO_EXECUTOR_GRACE_MS 2000
#define MAX_PULL_JOBS 4096
/* A store waits at most this long for the executor to validate (load) the blob. */
#define LOAD_TIMEOUT_MS 120000

enum { J_MODEL = 0, J_SCRIPT = 1, J_LOAD = 2 };
enum { JS_QUEUED = 0, JS_RUNNING = 1, JS_DONE = 2 };
enum { R_NONE = 0, R_OK, R_ERR, R_TIMEDOUT };

static const char *job_kind_names[] = {"MODEL", "SCRIPT", "LOAD"};

typedef struct Device Device;

typedef struct Job {
    uint64_t id;
    int kind;
    int state;
    Device *dev;
    RedisModuleBlockedClient *bc;
    unsigned long long exec_id;
    AIObj *obj;
    RedisModuleString *key;
    RedisModuleString *fn;
    Tensor **inputs;
    size_t ninputs;
    RedisModuleString **outkeys;
    size_t noutputs;
    RedisModuleString **args;
    size_t nargs;
    RedisModuleString **keys;
    size_t nkeys;
    long long t_start_us;
    long long queued_us;  /* when it was queued (PULL replies carry how long it waited) */
    long long release_us; /* held: when MINBATCHTIMEOUT lets it run anyway (0: never) */
    int held;             /* queued without waking an executor: see job_holdable */
    struct Job *hprev, *hnext; /* held with a release_us: its device's hold list */
    int in_hold_list;
    int pending;          /* counted in obj->pend_samples and pend_keys (MODEL jobs) */
    long long samples;    /* job_batch_samples, when pending */
    RedisModuleTimerID timer;
    int has_timer;
    int result;
    char *errmsg;
    Tensor **outs;
    size_t nouts;
    struct Job *prev, *next;
} Job;

struct Device {
    char name[24];
    Job *qhead, *qtail;
    int nexec;
    RedisModuleTimerID grace_timer;
    int has_grace_timer;
    RedisModuleTimerID hold_timer; /* releases held jobs whose MINBATCHTIMEOUT passed */
    int has_hold_timer;
    long long hold_timer_us; /* when it fires */
    Job *hold_head;          /* queued held jobs that MINBATCHTIMEOUT releases (unordered) */
    long long nservable;     /* queued jobs that are not held */
    Device *next;
};

typedef struct PullReq {
    unsigned long long client_id;
    int max;
} PullReq;

typedef struct Executor {
    unsigned long long client_id;
    Device *dev;
    unsigned backends;
    RedisModuleBlockedClient *pull_bc;
    PullReq *pull_req;
    RedisModuleTimerID pull_timer;
    int has_pull_timer;
    struct Executor *next;
} Executor;

static Device *devices = NULL;
static Executor *executors = NULL;
static Job *running_head = NULL;
static uint64_t next_job_id = 0;

long long ustime_now(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000000LL + tv.tv_usec;
}

/* Clock of queue waits and holds: immune to changes of the wall clock. */
static long long monotonic_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* ---------------------------------------------------------------- devices / executors */

static Device *device_find(const char *name, int create) {
    for (Device *d = devices; d; d = d->next)
        if (!strcmp(d->name, name))
            return d;
    if (!create)
        return NULL;
    Device *d = RedisModule_Calloc(1, sizeof(Device));
    snprintf(d->name, sizeof(d->name), "%s", name);
    d->next = devices;
    devices = d;
    return d;
}

static Executor *executor_find(unsigned long long id) {
    for (Executor *e = executors; e; e = e->next)
        if (e->client_id == id)
            return e;
    return NULL;
}

int exec_can_validate(const char *devnorm, int backend) {
    for (Executor *e = executors; e; e = e->next)
        if (!strcmp(e->dev->name, devnorm) && (e->backends & (1u << backend)))
            return 1;
    return 0;
}

static int no_executor_error(RedisModuleCtx *ctx, const char *dev) {
    return reply_error_fmt(ctx,
                           "ERR no executor is running for device %s; start one with python -m "
                           "smartsim._core.executor",
                           dev);
}

/* ---------------------------------------------------------------- jobs */

static void list_remove(Job **head, Job **tail, Job *j) {
    if (j->prev)
        j->prev->next = j->next;
    else
        *head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else if (tail)
        *tail = j->prev;
    j->prev = j->next = NULL;
}

static void job_dequeue(Job *j);
static void job_pending_drop(Job *j);

/* Every job leaves the queue or the running list here (job_complete) or in serve_jobs. */
static void job_unlink(Job *j) {
    if (j->state == JS_QUEUED)
        job_dequeue(j);
    else if (j->state == JS_RUNNING)
        list_remove(&running_head, NULL, j);
    job_pending_drop(j);
    j->state = JS_DONE;
}

static void free_strs(RedisModuleString **v, size_t n) {
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        if (v[i])
            RedisModule_FreeString(NULL, v[i]);
    RedisModule_Free(v);
}

static void job_free(Job *j) {
    if (!j)
        return;
    if (j->obj)
        obj_decref(j->obj);
    if (j->key)
        RedisModule_FreeString(NULL, j->key);
    if (j->fn)
        RedisModule_FreeString(NULL, j->fn);
    for (size_t i = 0; i < j->ninputs; i++)
        tensor_decref(j->inputs[i]);
    RedisModule_Free(j->inputs);
    free_strs(j->outkeys, j->noutputs);
    free_strs(j->args, j->nargs);
    free_strs(j->keys, j->nkeys);
    for (size_t i = 0; i < j->nouts; i++)
        tensor_decref(j->outs[i]);
    RedisModule_Free(j->outs);
    RedisModule_Free(j->errmsg);
    RedisModule_Free(j);
}

static RedisModuleString *retain(RedisModuleString *s) {
    RedisModule_RetainString(NULL, s);
    return s;
}

static RedisModuleString **retain_vec(RedisModuleString **argv, size_t n) {
    if (n == 0)
        return NULL;
    RedisModuleString **v = RedisModule_Alloc(sizeof(*v) * n);
    for (size_t i = 0; i < n; i++)
        v[i] = retain(argv[i]);
    return v;
}

static Job *job_find(uint64_t id) {
    for (Job *j = running_head; j; j = j->next)
        if (j->id == id)
            return j;
    for (Device *d = devices; d; d = d->next)
        for (Job *j = d->qhead; j; j = j->next)
            if (j->id == id)
                return j;
    return NULL;
}

static Job *job_find_bc(RedisModuleBlockedClient *bc) {
    for (Job *j = running_head; j; j = j->next)
        if (j->bc == bc)
            return j;
    for (Device *d = devices; d; d = d->next)
        for (Job *j = d->qhead; j; j = j->next)
            if (j->bc == bc)
                return j;
    return NULL;
}

/* Finish a job: take it out of every list and hand it to the blocked client's reply. */
static void job_complete(RedisModuleCtx *ctx, Job *j, int result, const char *errmsg) {
    job_unlink(j);
    if (j->has_timer) {
        RedisModule_StopTimer(ctx, j->timer, NULL);
        j->has_timer = 0;
    }
    j->result = result;
    if (errmsg) {
        RedisModule_Free(j->errmsg);
        j->errmsg = RedisModule_Strdup(errmsg);
    }
    RedisModuleBlockedClient *bc = j->bc;
    j->bc = NULL;
    RedisModule_UnblockClient(bc, j);
}

static void job_count_error(Job *j) {
    if (j->kind != J_LOAD && j->obj) {
        j->obj->calls++;
        j->obj->errors++;
    }
}

/* ---------------------------------------------------------------- waking executors */

static void executor_wake(RedisModuleCtx *ctx, Executor *e) {
    if (!e->pull_bc)
        return;
    if (e->has_pull_timer) {
        RedisModule_StopTimer(ctx, e->pull_timer, NULL);
        e->has_pull_timer = 0;
    }
    RedisModuleBlockedClient *bc = e->pull_bc;
    PullReq *req = e->pull_req;
    e->pull_bc = NULL;
    e->pull_req = NULL;
    RedisModule_UnblockClient(bc, req);
}

static void wake_one(RedisModuleCtx *ctx, Device *d) {
    for (Executor *e = executors; e; e = e->next) {
        if (e->dev == d && e->pull_bc) {
            executor_wake(ctx, e);
            return;
        }
    }
}

/* ---------------------------------------------------------------- holding partial batches
 * A MODEL job of a model with MINBATCHSIZE that cannot complete a batch yet -- its samples,
 * with those of its model version already queued or pulled and not answered, stay below the
 * minimum -- is queued without waking an executor: the executor would only hold it
 * (batching.py), and a wake per request costs it and the server a round trip each. The job
 * goes out with the next PULL that is answered (the request that completes the batch, the
 * executor's own PULL timeout, another job) or once its MINBATCHTIMEOUT has passed. Holding
 * never delays a batch: a job the executor would run at once (not batchable, a request of
 * BATCHSIZE samples, the minimum reached, an older version of its model waiting) wakes it. */

/* Samples job j adds to a batch: dim 0 of its inputs when every input has one, they agree
 * and none is a STRING tensor; else 0 (the executor runs such a job alone, at once). */
static long long job_batch_samples(const Job *j) {
    if (j->kind != J_MODEL || !j->obj || j->obj->batchsize == 0 || j->ninputs == 0)
        return 0;
    const Tensor *first = j->inputs[0];
    if (first->ndims < 1 || first->shape[0] <= 0)
        return 0;
    for (size_t i = 1; i < j->ninputs; i++) {
        const Tensor *t = j->inputs[i];
        if (t->dtype == DT_STRING || t->ndims < 1 || t->shape[0] != first->shape[0])
            return 0;
    }
    return first->dtype == DT_STRING ? 0 : first->shape[0];
}

/* MODEL jobs queued or pulled and not answered, counted per key name and per model version
 * (object: versions are unique across keys), so that job_holdable knows "a job of another
 * version of this key is waiting" without walking the queue. An entry lives while it counts
 * a job; its objects are alive, since each counted job holds a reference to its own. */
typedef struct KeyVer {
    const AIObj *obj;
    long long jobs;
    struct KeyVer *next;
} KeyVer;

typedef struct KeyPend {
    uint64_t hash;
    size_t len;
    KeyVer *vers;
    struct KeyPend *next;
    char key[];
} KeyPend;

static KeyPend **pend_keys = NULL; /* hash buckets, a power of two of them */
static size_t pend_nbuckets = 0, pend_nkeys = 0;

static uint64_t key_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* The link that points at key's entry, or at the NULL where it would go. */
static KeyPend **pend_slot(RedisModuleString *key) {
    size_t n;
    const char *s = RedisModule_StringPtrLen(key, &n);
    uint64_t h = key_hash(s, n);
    KeyPend **pp = &pend_keys[h & (pend_nbuckets - 1)];
    while (*pp && !((*pp)->hash == h && (*pp)->len == n && !memcmp((*pp)->key, s, n)))
        pp = &(*pp)->next;
    return pp;
}

static void pend_grow(void) {
    size_t nb = pend_nbuckets ? pend_nbuckets * 2 : 64;
    KeyPend **b = RedisModule_Calloc(nb, sizeof(*b));
    for (size_t i = 0; i < pend_nbuckets; i++) {
        KeyPend *e = pend_keys[i];
        while (e) {
            KeyPend *next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = next;
        }
    }
    RedisModule_Free(pend_keys);
    pend_keys = b;
    pend_nbuckets = nb;
}

/* Count j (a MODEL job being queued) in its object's and its key's pending jobs. */
static void job_pending_add(Job *j) {
    if (j->kind != J_MODEL || !j->obj || j->pending)
        return;
    if (pend_nkeys >= pend_nbuckets)
        pend_grow();
    KeyPend **pp = pend_slot(j->key);
    KeyPend *e = *pp;
    if (!e) {
        size_t n;
        const char *s = RedisModule_StringPtrLen(j->key, &n);
        e = RedisModule_Alloc(sizeof(*e) + n);
        e->hash = key_hash(s, n);
        e->len = n;
        e->vers = NULL;
        e->next = NULL;
        memcpy(e->key, s, n);
        *pp = e;
        pend_nkeys++;
    }
    KeyVer *v = e->vers;
    while (v && v->obj != j->obj)
        v = v->next;
    if (!v) {
        v = RedisModule_Alloc(sizeof(*v));
        v->obj = j->obj;
        v->jobs = 0;
        v->next = e->vers;
        e->vers = v;
    }
    v->jobs++;
    j->samples = job_batch_samples(j);
    j->obj->pend_samples += j->samples;
    j->pending = 1;
}

/* j is answered, failed or gone: it no longer counts (idempotent). */
static void job_pending_drop(Job *j) {
    if (!j->pending)
        return;
    j->pending = 0;
    j->obj->pend_samples -= j->samples;
    KeyPend **pp = pend_slot(j->key);
    KeyPend *e = *pp;
    if (!e)
        return;
    for (KeyVer **vp = &e->vers; *vp; vp = &(*vp)->next) {
        KeyVer *v = *vp;
        if (v->obj != j->obj)
            continue;
        if (--v->jobs == 0) {
            *vp = v->next;
            RedisModule_Free(v);
        }
        break;
    }
    if (!e->vers) {
        *pp = e->next;
        RedisModule_Free(e);
        pend_nkeys--;
    }
}

/* A MODEL job of another version (object) than o is pending under key. */
static int key_has_other_version(RedisModuleString *key, const AIObj *o) {
    if (!pend_nkeys)
        return 0;
    const KeyPend *e = *pend_slot(key);
    for (const KeyVer *v = e ? e->vers : NULL; v; v = v->next)
        if (v->obj != o)
            return 1;
    return 0;
}

/* Called before j is counted in the pending jobs. */
static int job_holdable(const Job *j) {
    const AIObj *o = j->obj;
    if (j->kind != J_MODEL || !o || o->minbatchsize == 0)
        return 0;
    /* batching.py: a model with MINBATCHSIZE > BATCHSIZE batches as if it were BATCHSIZE */
    long long need = (long long)(o->minbatchsize < o->batchsize ? o->minbatchsize : o->batchsize);
    long long have = job_batch_samples(j);
    if (have <= 0 || have >= need)
        return 0;
    if (have + o->pend_samples >= need)
        return 0;
    /* the executor releases the older version's group on seeing j */
    return !key_has_other_version(j->key, o);
}

static void hold_list_remove(Job *j) {
    if (!j->in_hold_list)
        return;
    Device *d = j->dev;
    if (j->hprev)
        j->hprev->hnext = j->hnext;
    else
        d->hold_head = j->hnext;
    if (j->hnext)
        j->hnext->hprev = j->hprev;
    j->hprev = j->hnext = NULL;
    j->in_hold_list = 0;
}

/* j leaves its device's queue (pulled, or finished while queued). */
static void job_dequeue(Job *j) {
    Device *d = j->dev;
    list_remove(&d->qhead, &d->qtail, j);
    if (j->held) {
        hold_list_remove(j);
        j->held = 0;
    } else {
        d->nservable--;
    }
}

static int device_has_servable(const Device *d) { return d->nservable > 0; }

/* Walks the held jobs with a MINBATCHTIMEOUT only: fewer than MINBATCHSIZE per model
 * version, since a job that completes a batch is never held. */
static void hold_timer_cb(RedisModuleCtx *ctx, void *data) {
    Device *d = data;
    d->has_hold_timer = 0;
    long long now = monotonic_us(), next = 0;
    int released = 0;
    Job *j = d->hold_head;
    while (j) {
        Job *after = j->hnext;
        if (j->release_us <= now) {
            hold_list_remove(j);
            j->held = 0;
            d->nservable++;
            released = 1;
        } else if (!next || j->release_us < next) {
            next = j->release_us;
        }
        j = after;
    }
    if (next) {
        d->hold_timer = RedisModule_CreateTimer(ctx, (next - now + 999) / 1000, hold_timer_cb, d);
        d->has_hold_timer = 1;
        d->hold_timer_us = next;
    }
    if (released)
        wake_one(ctx, d);
}

/* Hold j until release_us (0: until a PULL is answered for another reason). */
static void job_hold(RedisModuleCtx *ctx, Job *j, long long release_us) {
    Device *d = j->dev;
    j->held = 1;
    j->release_us = release_us;
    if (!release_us)
        return;
    j->hprev = NULL;
    j->hnext = d->hold_head;
    if (d->hold_head)
        d->hold_head->hprev = j;
    d->hold_head = j;
    j->in_hold_list = 1;
    if (d->has_hold_timer && d->hold_timer_us <= release_us)
        return;
    if (d->has_hold_timer)
        RedisModule_StopTimer(ctx, d->hold_timer, NULL);
    d->hold_timer = RedisModule_CreateTimer(ctx, (release_us - j->queued_us + 999) / 1000,
                                            hold_timer_cb, d);
    d->has_hold_timer = 1;
    d->hold_timer_us = release_us;
}

static void job_enqueue(RedisModuleCtx *ctx, Job *j) {
    Device *d = j->dev;
    j->state = JS_QUEUED;
    j->queued_us = monotonic_us();
    int hold = job_holdable(j);
    job_pending_add(j);
    j->prev = d->qtail;
    j->next = NULL;
    if (d->qtail)
        d->qtail->next = j;
    else
        d->qhead = j;
    d->qtail = j;
    if (hold)
        job_hold(ctx, j, j->obj->minbatchtimeout
                             ? j->queued_us + (long long)j->obj->minbatchtimeout * 1000
                             : 0);
    else {
        d->nservable++;
        wake_one(ctx, d);
    }
}

/* ---------------------------------------------------------------- blocked user clients */

static void store_outputs_and_reply(RedisModuleCtx *ctx, Job *j) {
    for (size_t i = 0; i < j->nouts && i < j->noutputs; i++) {
        RedisModuleKey *key =
            RedisModule_OpenKey(ctx, j->outkeys[i], REDISMODULE_READ | REDISMODULE_WRITE);
        int kt = RedisModule_KeyType(key);
        if (kt != REDISMODULE_KEYTYPE_EMPTY &&
            (kt != REDISMODULE_KEYTYPE_MODULE || RedisModule_ModuleTypeGetType(key) != TensorType)) {
            RedisModule_CloseKey(key);
            RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
            return;
        }
        Tensor *t = j->outs[i];
        RedisModule_ModuleTypeSetValue(key, TensorType, t);
        j->outs[i] = NULL;
        RedisModule_CloseKey(key);
        RedisModuleString **dims = RedisModule_Alloc(sizeof(*dims) * (size_t)(t->ndims + 1));
        for (int d = 0; d < t->ndims; d++)
            dims[d] = RedisModule_CreateStringFromLongLong(NULL, t->shape[d]);
        RedisModule_Replicate(ctx, "AI.TENSORSET", "scvcb", j->outkeys[i], ai_dtypes[t->dtype].name,
                              dims, (size_t)t->ndims, "BLOB", tensor_data(t), t->nbytes);
        for (int d = 0; d < t->ndims; d++)
            RedisModule_FreeString(NULL, dims[d]);
        RedisModule_Free(dims);
    }
    RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static int exec_reply_cb(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    Job *j = RedisModule_GetBlockedClientPrivateData(ctx);
    if (!j)
        return RedisModule_ReplyWithError(ctx, "ERR internal error");
    switch (j->result) {
    case R_TIMEDOUT:
        if (j->kind == J_LOAD)
            return RedisModule_ReplyWithError(
                ctx, "ERR timed out waiting for the executor to load the model or script");
        return RedisModule_ReplyWithSimpleString(ctx, "TIMEDOUT");
    case R_ERR:
        return RedisModule_ReplyWithError(ctx, j->errmsg ? j->errmsg : "ERR execution failed");
    case R_OK:
        if (j->kind == J_LOAD) {
            const char *err = obj_store_key(ctx, j->key, j->obj);
            if (err)
                return RedisModule_ReplyWithError(ctx, err);
            j->obj = NULL; /* owned by the keyspace now */
            RedisModule_ReplyWithSimpleString(ctx, "OK");
            RedisModule_ReplicateVerbatim(ctx);
            return REDISMODULE_OK;
        }
        store_outputs_and_reply(ctx, j);
        return REDISMODULE_OK;
    default:
        return RedisModule_ReplyWithError(ctx, "ERR internal error");
    }
}

static void exec_free_cb(RedisModuleCtx *ctx, void *privdata) {
    (void)ctx;
    job_free(privdata);
}

static void exec_disconnect_cb(RedisModuleCtx *ctx, RedisModuleBlockedClient *bc) {
    Job *j = job_find_bc(bc);
    if (!j)
        return; /* already completed: the pending unblock frees it */
    job_complete(ctx, j, R_ERR, "ERR client disconnected");
}

static void job_timeout_cb(RedisModuleCtx *ctx, void *data) {
    uint64_t id = (uint64_t)(uintptr_t)data;
    Job *j = job_find(id);
    if (!j)
        return;
    j->has_timer = 0; /* this timer is gone */
    job_complete(ctx, j, R_TIMEDOUT, NULL);
}

/* Create a job for the current client and block it. The job takes the refs it was given. */
static int job_submit(RedisModuleCtx *ctx, Job *j, long long timeout_ms) {
    j->id = ++next_job_id;
    j->bc = RedisModule_BlockClient(ctx, exec_reply_cb, NULL, exec_free_cb, 0);
    if (!j->bc) {
        job_free(j);
        return RedisModule_ReplyWithError(ctx, "ERR could not block client");
    }
    RedisModule_SetDisconnectCallback(j->bc, exec_disconnect_cb);
    if (timeout_ms > 0) {
        j->timer = RedisModule_CreateTimer(ctx, timeout_ms, job_timeout_cb, (void *)(uintptr_t)j->id);
        j->has_timer = 1;
    }
    job_enqueue(ctx, j);
    return REDISMODULE_OK;
}

int exec_submit_load(RedisModuleCtx *ctx, RedisModuleString *key, AIObj *obj) {
    Device *d = device_find(obj->devnorm, 0);
    if (!d || d->nexec == 0)
        return REDISMODULE_ERR;
    Job *j = RedisModule_Calloc(1, sizeof(Job));
    j->kind = J_LOAD;
    j->dev = d;
    j->obj = obj;
    {
        size_t l;
        const char *s = RedisModule_StringPtrLen(key, &l);
        j->key = RedisModule_CreateString(NULL, s, l);
    }
    job_submit(ctx, j, LOAD_TIMEOUT_MS);
    return REDISMODULE_OK;
}

/* ---------------------------------------------------------------- argument helpers */

static int arg_is(RedisModuleString *s, const char *word) {
    return !strcasecmp(RedisModule_StringPtrLen(s, NULL), word);
}

static int parse_timeout(RedisModuleString *s, long long *out) {
    return RedisModule_StringToLongLong(s, out) == REDISMODULE_OK && *out > 0;
}

/* Load input tensors; on failure replies and returns NULL. */
static Tensor **load_inputs(RedisModuleCtx *ctx, RedisModuleString **keys, size_t n) {
    Tensor **v = RedisModule_Calloc(n ? n : 1, sizeof(Tensor *));
    for (size_t i = 0; i < n; i++) {
        const char *err = NULL;
        Tensor *t = tensor_get(ctx, keys[i], &err);
        if (!t) {
            for (size_t k = 0; k < i; k++)
                tensor_decref(v[k]);
            RedisModule_Free(v);
            RedisModule_ReplyWithError(ctx, err);
            return NULL;
        }
        tensor_incref(t);
        v[i] = t;
    }
    return v;
}

static int check_outputs(RedisModuleCtx *ctx, RedisModuleString **keys, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!key_is_tensor_or_empty(ctx, keys[i])) {
            RedisModule_ReplyWithError(ctx, REDISMODULE_ERRORMSG_WRONGTYPE);
            return 0;
        }
    }
    return 1;
}

static int blocking_refused(RedisModuleCtx *ctx) {
    int flags = RedisModule_GetContextFlags(ctx);
    if (flags & (REDISMODULE_CTX_FLAGS_MULTI | REDISMODULE_CTX_FLAGS_LUA |
                 REDISMODULE_CTX_FLAGS_DENY_BLOCKING)) {
        RedisModule_ReplyWithError(ctx,
                                   "ERR Cannot run RedisAI command within a transaction or a LUA script");
        return 1;
    }
    return 0;
}

/* Common tail: inputs/outputs known, build and submit the job. */
static int submit_exec(RedisModuleCtx *ctx, int kind, AIObj *obj, RedisModuleString *key,
                       RedisModuleString *fn, RedisModuleString **inkeys, size_t nin,
                       RedisModuleString **outkeys, size_t nout, RedisModuleString **args,
                       size_t nargs, RedisModuleString **keys, size_t nkeys, long long timeout) {
    Tensor **inputs = load_inputs(ctx, inkeys, nin);
    if (!inputs)
        return REDISMODULE_OK;
    if (!check_outputs(ctx, outkeys, nout)) {
        for (size_t i = 0; i < nin; i++)
            tensor_decref(inputs[i]);
        RedisModule_Free(inputs);
        return REDISMODULE_OK;
    }
    Device *d = device_find(obj->devnorm, 0);
    if (!d || d->nexec == 0) {
        for (size_t i = 0; i < nin; i++)
            tensor_decref(inputs[i]);
        RedisModule_Free(inputs);
        return no_executor_error(ctx, obj->devnorm);
    }
    Job *j = RedisModule_Calloc(1, sizeof(Job));
    j->kind = kind;
    j->dev = d;
    obj_incref(obj);
    j->obj = obj;
    j->key = retain(key);
    j->fn = fn ? retain(fn) : NULL;
    j->inputs = inputs;
    j->ninputs = nin;
    j->outkeys = retain_vec(outkeys, nout);
    j->noutputs = nout;
    j->args = retain_vec(args, nargs);
    j->nargs = nargs;
    j->keys = retain_vec(keys, nkeys);
    j->nkeys = nkeys;
    return job_submit(ctx, j, timeout);
}

/* ---------------------------------------------------------------- AI.MODELEXECUTE */

static int modelexecute_keys(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 4)
        return REDISMODULE_ERR;
    RedisModule_KeyAtPos(ctx, 1);
    long long nin, nout;
    if (RedisModule_StringToLongLong(argv[3], &nin) != REDISMODULE_OK || nin < 0 || nin > argc)
        return REDISMODULE_ERR;
    long long pos = 3 + nin + 2;
    if (argc <= pos)
        return REDISMODULE_ERR;
    if (RedisModule_StringToLongLong(argv[pos], &nout) != REDISMODULE_OK || nout < 0 ||
        nout >= argc - pos)
        return REDISMODULE_ERR;
    for (long long i = 4; i < 4 + nin; i++)
        RedisModule_KeyAtPos(ctx, (int)i);
    for (long long i = pos + 1; i < pos + 1 + nout; i++)
        RedisModule_KeyAtPos(ctx, (int)i);
    return REDISMODULE_OK;
}

static int cmd_modelexecute(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (RedisModule_IsKeysPositionRequest(ctx))
        return modelexecute_keys(ctx, argv, argc);
    if (blocking_refused(ctx))
        return REDISMODULE_OK;
    if (argc < 8)
        return RedisModule_ReplyWithError(ctx,
                                          "ERR wrong number of arguments for 'AI.MODELEXECUTE' command");
    const char *err = NULL;
    AIObj *m = model_get(ctx, argv[1], &err);
    if (!m)
        return RedisModule_ReplyWithError(ctx, err);
    int pos = 2;
    if (!arg_is(argv[pos++], "INPUTS"))
        return RedisModule_ReplyWithError(ctx, "ERR INPUTS not specified");
    long long nin = 0, nout = 0;
    if (RedisModule_StringToLongLong(argv[pos++], &nin) != REDISMODULE_OK)
        return RedisModule_ReplyWithError(ctx, "ERR Invalid argument for input_count");
    if (nin <= 0)
        return RedisModule_ReplyWithError(ctx, "ERR Input count must be a positive integer");
    if (m->ninputs > 0 && (long long)m->ninputs != nin)
        return RedisModule_ReplyWithError(
            ctx, "Number of keys given as INPUTS here does not match model definition");
    if (nin > argc - pos)
        return RedisModule_ReplyWithError(ctx, "ERR number of input keys to AI.MODELEXECUTE command "
                                               "does not match the number of given arguments");
    int in_pos = pos;
    pos += (int)nin;
    if (pos >= argc || !arg_is(argv[pos++], "OUTPUTS"))
        return RedisModule_ReplyWithError(ctx, "ERR OUTPUTS not specified");
    if (pos >= argc || RedisModule_StringToLongLong(argv[pos++], &nout) != REDISMODULE_OK)
        return RedisModule_ReplyWithError(ctx, "ERR Invalid argument for output_count");
    if (nout <= 0)
        return RedisModule_ReplyWithError(ctx, "ERR Output count must be a positive integer");
    if (m->noutputs > 0 && (long long)m->noutputs != nout)
        return RedisModule_ReplyWithError(
            ctx, "Number of keys given as OUTPUTS here does not match model definition");
    if (nout > argc - pos)
        return RedisModule_ReplyWithError(ctx, "ERR number of output keys to AI.MODELEXECUTE command "
                                               "does not match the number of given arguments");
    int out_pos = pos;
    pos += (int)nout;
    long long timeout = 0;
    if (pos < argc) {
        const char *a = RedisModule_StringPtrLen(argv[pos++], NULL);
        if (strcasecmp(a, "TIMEOUT") != 0)
            return reply_error_fmt(ctx, "Invalid argument: %s", a);
        if (pos == argc)
            return RedisModule_ReplyWithError(ctx, "ERR No value provided for TIMEOUT");
        if (!parse_timeout(argv[pos++], &timeout))
            return RedisModule_ReplyWithError(ctx, "ERR Invalid value for TIMEOUT");
        if (pos != argc)
            return reply_error_fmt(ctx, "Invalid argument: %s", RedisModule_StringPtrLen(argv[pos], NULL));
    }
    return submit_exec(ctx, J_MODEL, m, argv[1], NULL, argv + in_pos, (size_t)nin, argv + out_pos,
                       (size_t)nout, NULL, 0, NULL, 0, timeout);
}

/* ---------------------------------------------------------------- AI.MODELRUN (deprecated) */

static int modelrun_keys(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    RedisModule_KeyAtPos(ctx, 1);
    int start = 2;
    if (start >= argc)
        return REDISMODULE_ERR;
    if (arg_is(argv[start], "TIMEOUT"))
        start += 2;
    start += 1;
    for (int i = start; i < argc; i++) {
        if (arg_is(argv[i], "OUTPUTS"))
            continue;
        RedisModule_KeyAtPos(ctx, i);
    }
    return REDISMODULE_OK;
}

static int cmd_modelrun(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (RedisModule_IsKeysPositionRequest(ctx))
        return modelrun_keys(ctx, argv, argc);
    if (blocking_refused(ctx))
        return REDISMODULE_OK;
    if (argc < 6)
        return RedisModule_ReplyWithError(ctx, "ERR wrong number of arguments for 'AI.MODELRUN' command");
    const char *err = NULL;
    AIObj *m = model_get(ctx, argv[1], &err);
    if (!m)
        return RedisModule_ReplyWithError(ctx, err);
    int pos = 2;
    long long timeout = 0;
    if (arg_is(argv[pos], "TIMEOUT")) {
        if (pos + 1 >= argc || !parse_timeout(argv[pos + 1], &timeout))
            return RedisModule_ReplyWithError(ctx, "ERR Invalid value for TIMEOUT");
        pos += 2;
    }
    if (pos >= argc || !arg_is(argv[pos], "INPUTS"))
        return RedisModule_ReplyWithError(ctx, "ERR INPUTS not specified");
    pos++;
    RedisModuleString **ins = RedisModule_Alloc(sizeof(*ins) * (size_t)argc);
    RedisModuleString **outs = RedisModule_Alloc(sizeof(*outs) * (size_t)argc);
    size_t nin = 0, nout = 0;
    int is_output = 0;
    for (; pos < argc; pos++) {
        if (!is_output && arg_is(argv[pos], "OUTPUTS")) {
            is_output = 1;
            continue;
        }
        if (is_output)
            outs[nout++] = argv[pos];
        else
            ins[nin++] = argv[pos];
    }
    int ret;
    if (m->ninputs > 0 && m->ninputs != nin)
        ret = RedisModule_ReplyWithError(
            ctx, "Number of keys given as INPUTS here does not match model definition");
    else if (m->noutputs > 0 && m->noutputs != nout)
        ret = RedisModule_ReplyWithError(
            ctx, "Number of keys given as OUTPUTS here does not match model definition");
    else
        ret = submit_exec(ctx, J_MODEL, m, argv[1], NULL, ins, nin, outs, nout, NULL, 0, NULL, 0,
                          timeout);
    RedisModule_Free(ins);
    RedisModule_Free(outs);
    return ret;
}

/* ---------------------------------------------------------------- AI.SCRIPTEXECUTE */

static int scriptexecute_keys(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 2)
        return REDISMODULE_ERR;
    RedisModule_KeyAtPos(ctx, 1);
    int pos = 3;
    while (pos < argc) {
        RedisModuleString *s = argv[pos++];
        int is_keys = arg_is(s, "INPUTS") || arg_is(s, "OUTPUTS") || arg_is(s, "KEYS");
        if (is_keys || arg_is(s, "ARGS")) {
            long long n;
            if (pos >= argc || RedisModule_StringToLongLong(argv[pos++], &n) != REDISMODULE_OK ||
                n < 0 || n > argc - pos)
                return REDISMODULE_ERR;
            for (long long i = 0; i < n; i++, pos++)
                if (is_keys)
                    RedisModule_KeyAtPos(ctx, pos);
            continue;
        }
        if (arg_is(s, "TIMEOUT")) {
            pos++;
            continue;
        }
        return REDISMODULE_ERR;
    }
    return REDISMODULE_OK;
}

typedef struct {
    const char *what; /* "keys", "args", "inputs", "outputs" */
    int pos;
    long long n;
} Section;

static int parse_section(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int *pos,
                         Section *sec) {
    if (*pos >= argc) {
        RedisModule_ReplyWithError(ctx, "ERR Invalid arguments provided to AI.SCRIPTEXECUTE");
        return 0;
    }
    long long n;
    if (RedisModule_StringToLongLong(argv[*pos], &n) != REDISMODULE_OK) {
        reply_error_fmt(ctx, "ERR Invalid argument for %s count in AI.SCRIPTEXECUTE",
                        !strcmp(sec->what, "inputs") || !strcmp(sec->what, "outputs") ? sec->what
                                                                                        : "keys");
        return 0;
    }
    (*pos)++;
    if (n < 0 || n > argc - *pos) {
        reply_error_fmt(ctx,
                        "ERR number of %s to AI.SCRIPTEXECUTE command does not match the number of "
                        "given arguments",
                        sec->what);
        return 0;
    }
    sec->pos = *pos;
    sec->n = n;
    *pos += (int)n;
    return 1;
}

static int parse_keys_section(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int *pos,
                              Section *sec) {
    /* ValidateKeysArgs semantics, relative to the KEYS keyword at *pos - 1. */
    if (argc - (*pos - 1) < 3) {
        RedisModule_ReplyWithError(ctx, "ERR Missing arguments after KEYS keyword");
        return 0;
    }
    long long n;
    if (RedisModule_StringToLongLong(argv[*pos], &n) != REDISMODULE_OK || n <= 0) {
        RedisModule_ReplyWithError(ctx, "ERR Invalid or negative value found in number of KEYS");
        return 0;
    }
    if (n > argc - (*pos + 1)) {
        RedisModule_ReplyWithError(ctx, "ERR Number of pre declared KEYS to be used in the command "
                                        "does not match the number of given arguments");
        return 0;
    }
    return parse_section(ctx, argv, argc, pos, sec);
}

static int cmd_scriptexecute(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (RedisModule_IsKeysPositionRequest(ctx))
        return scriptexecute_keys(ctx, argv, argc);
    if (blocking_refused(ctx))
        return REDISMODULE_OK;
    if (argc < 3)
        return RedisModule_ReplyWithError(
            ctx, "ERR wrong number of arguments for 'AI.SCRIPTEXECUTE' command");
    const char *err = NULL;
    AIObj *s = script_get(ctx, argv[1], &err);
    if (!s)
        return RedisModule_ReplyWithError(ctx, err);
    Section keys = {"keys", 0, 0}, args = {"args", 0, 0}, ins = {"inputs", 0, 0},
            outs = {"outputs", 0, 0};
    int have_keys = 0, have_args = 0, have_ins = 0, have_outs = 0;
    long long timeout = 0;
    int pos = 3;
    if (argc <= 3 || (!arg_is(argv[3], "KEYS") && !arg_is(argv[3], "INPUTS")))
        return RedisModule_ReplyWithError(
            ctx, "ERR KEYS or INPUTS scope must be provided first for AI.SCRIPTEXECUTE command");
    while (pos < argc) {
        RedisModuleString *a = argv[pos++];
        if (arg_is(a, "TIMEOUT")) {
            if (pos >= argc)
                return RedisModule_ReplyWithError(ctx,
                                                  "ERR No value provided for TIMEOUT in AI.SCRIPTEXECUTE");
            if (!parse_timeout(argv[pos++], &timeout))
                return RedisModule_ReplyWithError(ctx, "ERR Invalid value for TIMEOUT");
            break;
        }
        /* one scope each, in any order after the first; KEYS are checked as keys */
        struct { const char *word; Section *dst; int *seen; int is_keys; } scopes[] = {
            {"KEYS", &keys, &have_keys, 1}, {"ARGS", &args, &have_args, 0},
            {"INPUTS", &ins, &have_ins, 0}, {"OUTPUTS", &outs, &have_outs, 0}};
        int matched = 0;
        for (size_t k = 0; k < sizeof(scopes) / sizeof(scopes[0]); k++) {
            if (!arg_is(a, scopes[k].word))
                continue;
            if (*scopes[k].seen)
                return reply_error_fmt(ctx, "ERR Already Encountered %s scope in AI.SCRIPTEXECUTE command",
                                       scopes[k].word);
            *scopes[k].seen = 1;
            int ok = scopes[k].is_keys ? parse_keys_section(ctx, argv, argc, &pos, scopes[k].dst)
                                       : parse_section(ctx, argv, argc, &pos, scopes[k].dst);
            if (!ok)
                return REDISMODULE_OK;
            matched = 1;
            break;
        }
        if (matched)
            continue;
        return reply_error_fmt(ctx, "ERR Invalid AI.SCRIPTEXECUTE command. Unexpected argument: %s",
                               RedisModule_StringPtrLen(a, NULL));
    }
    if (pos != argc)
        return RedisModule_ReplyWithError(ctx, "ERR Encountered problem parsing AI.SCRIPTEXECUTE");
    return submit_exec(ctx, J_SCRIPT, s, argv[1], argv[2], argv + ins.pos, (size_t)ins.n,
                       argv + outs.pos, (size_t)outs.n, argv + args.pos, (size_t)args.n,
                       argv + keys.pos, (size_t)keys.n, timeout);
}

/* ---------------------------------------------------------------- AI.SCRIPTRUN (deprecated) */

static int scriptrun_keys(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    RedisModule_KeyAtPos(ctx, 1);
    int start = 3;
    if (start >= argc)
        return REDISMODULE_ERR;
    if (arg_is(argv[start], "TIMEOUT"))
        start += 2;
    start += 1;
    for (int i = start; i < argc; i++) {
        if (arg_is(argv[i], "OUTPUTS") || arg_is(argv[i], "$") || arg_is(argv[i], "INPUTS") ||
            arg_is(argv[i], "TIMEOUT"))
            continue;
        if (i > 0 && arg_is(argv[i - 1], "TIMEOUT"))
            continue;
        RedisModule_KeyAtPos(ctx, i);
    }
    return REDISMODULE_OK;
}

static int cmd_scriptrun(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (RedisModule_IsKeysPositionRequest(ctx))
        return scriptrun_keys(ctx, argv, argc);
    if (blocking_refused(ctx))
        return REDISMODULE_OK;
    if (argc < 3)
        return RedisModule_ReplyWithError(ctx, "ERR wrong number of arguments for 'AI.SCRIPTRUN' command");
    const char *err = NULL;
    AIObj *s = script_get(ctx, argv[1], &err);
    if (!s)
        return RedisModule_ReplyWithError(ctx, err);
    RedisModuleString **ins = RedisModule_Alloc(sizeof(*ins) * (size_t)argc);
    RedisModuleString **outs = RedisModule_Alloc(sizeof(*outs) * (size_t)argc);
    size_t nin = 0, nout = 0;
    int is_input = 0, is_output = 0, timeout_set = 0, inputs_done = 0, variadic = 0;
    long long timeout = 0;
    const char *e = NULL;
    for (int pos = 3; pos < argc && !e; pos++) {
        RedisModuleString *a = argv[pos];
        if (arg_is(a, "TIMEOUT")) {
            if (timeout_set)
                e = "ERR Already encountered an TIMEOUT section in SCRIPTRUN";
            else if (pos + 1 >= argc || !parse_timeout(argv[++pos], &timeout))
                e = "ERR Invalid value for TIMEOUT";
            timeout_set = 1;
        } else if (arg_is(a, "INPUTS")) {
            if (inputs_done)
                e = "ERR Already encountered an INPUTS section in SCRIPTRUN";
            else if (is_input)
                e = "ERR Already encountered an INPUTS keyword in SCRIPTRUN";
            is_input = 1;
            is_output = 0;
        } else if (arg_is(a, "OUTPUTS")) {
            if (is_output)
                e = "ERR Already encountered an OUTPUTS keyword in SCRIPTRUN";
            is_input = 0;
            is_output = 1;
            inputs_done = 1;
        } else if (arg_is(a, "$")) {
            if (!is_input)
                e = "ERR Encountered a variable size list of tensors outside of input section";
            else if (variadic)
                e = "ERR Already encountered a variable size list of tensors";
            variadic = 1;
        } else if (is_input) {
            ins[nin++] = a;
        } else if (is_output) {
            outs[nout++] = a;
        } else {
            e = "ERR Unrecongnized parameter to SCRIPTRUN";
        }
    }
    int ret;
    if (e)
        ret = RedisModule_ReplyWithError(ctx, e);
    else
        ret = submit_exec(ctx, J_SCRIPT, s, argv[1], argv[2], ins, nin, outs, nout, NULL, 0, NULL, 0,
                          timeout);
    RedisModule_Free(ins);
    RedisModule_Free(outs);
    return ret;
}

/* ---------------------------------------------------------------- executor secret
 *
 * The internal commands hand out every job's inputs and store whatever outputs they are
 * given, so only our executor may use them: AI._EXEC.HELLO must carry the secret the module
 * was loaded with (EXECUTOR_SECRET_FILE, read by config_load_args), and only a connection
 * registered that way may send the other AI._EXEC.* commands. Without a configured secret no
 * connection can register.
 */

static char *exec_secret = NULL;
static size_t exec_secret_len = 0;

void exec_set_secret(const char *secret, size_t len) {
    if (exec_secret) {
        memset(exec_secret, 0, exec_secret_len);
        RedisModule_Free(exec_secret);
    }
    exec_secret = RedisModule_Alloc(len ? len : 1);
    memcpy(exec_secret, secret, len);
    exec_secret_len = len;
}

int exec_secret_configured(void) {
    return exec_secret != NULL;
}

long long exec_registered_count(void) {
    long long n = 0;
    for (Executor *e = executors; e; e = e->next)
        n++;
    return n;
}

/* Compare in time independent of where the first difference is. */
static int secret_matches(RedisModuleString *s) {
    size_t len;
    const char *p = RedisModule_StringPtrLen(s, &len);
    if (!exec_secret || len != exec_secret_len)
        return 0;
    unsigned char diff = 0;
    for (size_t i = 0; i < len; i++)
        diff |= (unsigned char)(p[i] ^ exec_secret[i]);
    return diff == 0;
}

/* The registered executor of this connection, or NULL after replying with the refusal. */
static Executor *executor_or_refuse(RedisModuleCtx *ctx, const char *cmd) {
    Executor *e = executor_find(RedisModule_GetClientId(ctx));
    if (!e)
        reply_error_fmt(ctx,
                        "NOPERM not an executor: %s is internal to smartsim's executor, which must "
                        "first register with AI._EXEC.HELLO and the server's executor secret",
                        cmd);
    return e;
}

/* ---------------------------------------------------------------- AI._EXEC.HELLO */

static int cmd_exec_hello(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 4 && argc != 5)
        return RedisModule_WrongArity(ctx);
    if (!exec_secret)
        return RedisModule_ReplyWithError(
            ctx, "NOPERM executor registration is disabled: the module was loaded without "
                 "EXECUTOR_SECRET_FILE");
    if (argc != 5 || !secret_matches(argv[4]))
        return RedisModule_ReplyWithError(
            ctx, "NOPERM wrong or missing executor secret in AI._EXEC.HELLO");
    char devnorm[24];
    const char *dev = RedisModule_StringPtrLen(argv[1], NULL);
    if (!normalize_device(dev, devnorm, sizeof(devnorm)))
        return reply_error_fmt(ctx, "ERR invalid executor device %s", dev);
    long long pid;
    if (RedisModule_StringToLongLong(argv[2], &pid) != REDISMODULE_OK)
        return RedisModule_ReplyWithError(ctx, "ERR invalid executor pid");
    unsigned backends = 0;
    size_t blen;
    const char *b = RedisModule_StringPtrLen(argv[3], &blen);
    const char *end = b + blen;
    while (b < end) {
        const char *comma = memchr(b, ',', (size_t)(end - b));
        size_t l = comma ? (size_t)(comma - b) : (size_t)(end - b);
        for (int i = 0; i < BK_COUNT; i++)
            if (strlen(ai_backend_names[i]) == l && !strncasecmp(ai_backend_names[i], b, l))
                backends |= 1u << i;
        b += l + (comma ? 1 : 0);
    }
    unsigned long long id = RedisModule_GetClientId(ctx);
    Executor *e = executor_find(id);
    Device *d = device_find(devnorm, 1);
    if (!e) {
        e = RedisModule_Calloc(1, sizeof(Executor));
        e->client_id = id;
        e->next = executors;
        executors = e;
    } else if (e->dev != d) {
        executor_wake(ctx, e);
        e->dev->nexec--;
    } else {
        d->nexec--;
    }
    e->dev = d;
    e->backends = backends;
    d->nexec++;
    if (d->has_grace_timer) {
        RedisModule_StopTimer(ctx, d->grace_timer, NULL);
        d->has_grace_timer = 0;
    }
    RedisModule_Log(ctx, "notice", "ai: executor pid %lld registered for device %s (client %llu)",
                    pid, devnorm, id);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

/* ---------------------------------------------------------------- AI._EXEC.PULL */

static void reply_job(RedisModuleCtx *ctx, Job *j, long long now) {
    RedisModule_ReplyWithArray(ctx, 13);
    RedisModule_ReplyWithLongLong(ctx, (long long)j->id);
    RedisModule_ReplyWithCString(ctx, job_kind_names[j->kind]);
    RedisModule_ReplyWithString(ctx, j->key);
    RedisModule_ReplyWithLongLong(ctx, (long long)j->obj->version);
    if (j->kind == J_LOAD)
        RedisModule_ReplyWithCString(ctx, j->obj->kind == OBJ_MODEL ? "MODEL" : "SCRIPT");
    else if (j->fn)
        RedisModule_ReplyWithString(ctx, j->fn);
    else
        RedisModule_ReplyWithCString(ctx, "");
    RedisModule_ReplyWithArray(ctx, (long)j->ninputs);
    for (size_t i = 0; i < j->ninputs; i++) {
        Tensor *t = j->inputs[i];
        RedisModule_ReplyWithArray(ctx, 3);
        RedisModule_ReplyWithCString(ctx, ai_dtypes[t->dtype].name);
        RedisModule_ReplyWithArray(ctx, t->ndims);
        for (int d = 0; d < t->ndims; d++)
            RedisModule_ReplyWithLongLong(ctx, t->shape[d]);
        if (t->blobstr)
            RedisModule_ReplyWithString(ctx, t->blobstr);
        else
            RedisModule_ReplyWithStringBuffer(ctx, t->data, t->nbytes);
    }
    RedisModule_ReplyWithLongLong(ctx, (long long)j->noutputs);
    RedisModule_ReplyWithArray(ctx, (long)j->nargs);
    for (size_t i = 0; i < j->nargs; i++)
        RedisModule_ReplyWithString(ctx, j->args[i]);
    RedisModule_ReplyWithArray(ctx, (long)j->nkeys);
    for (size_t i = 0; i < j->nkeys; i++)
        RedisModule_ReplyWithString(ctx, j->keys[i]);
    RedisModule_ReplyWithLongLong(ctx, (long long)j->obj->batchsize);
    RedisModule_ReplyWithLongLong(ctx, (long long)j->obj->minbatchsize);
    RedisModule_ReplyWithLongLong(ctx, (long long)j->obj->minbatchtimeout);
    RedisModule_ReplyWithLongLong(ctx, now > j->queued_us ? now - j->queued_us : 0);
}

/* Hand queued jobs of e's device to e (at most max), replying with the job array. */
static void serve_jobs(RedisModuleCtx *ctx, Executor *e, int max) {
    Device *d = e->dev;
    long n = 0;
    for (Job *j = d->qhead; j && n < max; j = j->next)
        n++;
    RedisModule_ReplyWithArray(ctx, n);
    long long now = ustime_now(), queue_now = monotonic_us();
    for (long i = 0; i < n; i++) {
        Job *j = d->qhead;
        job_dequeue(j);
        j->state = JS_RUNNING;
        j->exec_id = e->client_id;
        j->t_start_us = now;
        j->next = running_head;
        j->prev = NULL;
        if (running_head)
            running_head->prev = j;
        running_head = j;
        reply_job(ctx, j, queue_now);
    }
}

static int pull_reply_cb(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    PullReq *req = RedisModule_GetBlockedClientPrivateData(ctx);
    Executor *e = req ? executor_find(req->client_id) : NULL;
    if (!e)
        return RedisModule_ReplyWithArray(ctx, 0);
    serve_jobs(ctx, e, req->max);
    return REDISMODULE_OK;
}

static void pull_free_cb(RedisModuleCtx *ctx, void *privdata) {
    (void)ctx;
    RedisModule_Free(privdata);
}

static void pull_disconnect_cb(RedisModuleCtx *ctx, RedisModuleBlockedClient *bc) {
    for (Executor *e = executors; e; e = e->next) {
        if (e->pull_bc == bc) {
            executor_wake(ctx, e);
            return;
        }
    }
}

static void pull_timer_cb(RedisModuleCtx *ctx, void *data) {
    unsigned long long id = (unsigned long long)(uintptr_t)data;
    Executor *e = executor_find(id);
    if (!e || !e->pull_bc)
        return;
    e->has_pull_timer = 0;
    executor_wake(ctx, e);
}

static int cmd_exec_pull(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 3)
        return RedisModule_WrongArity(ctx);
    long long max, block_ms;
    if (RedisModule_StringToLongLong(argv[1], &max) != REDISMODULE_OK || max <= 0)
        return RedisModule_ReplyWithError(ctx, "ERR invalid max_jobs");
    if (RedisModule_StringToLongLong(argv[2], &block_ms) != REDISMODULE_OK || block_ms < 0)
        return RedisModule_ReplyWithError(ctx, "ERR invalid block_ms");
    if (max > MAX_PULL_JOBS)
        max = MAX_PULL_JOBS;
    Executor *e = executor_or_refuse(ctx, "AI._EXEC.PULL");
    if (!e)
        return REDISMODULE_OK;
    if (device_has_servable(e->dev) || ctx_cannot_block(ctx) || e->pull_bc) {
        serve_jobs(ctx, e, (int)max);
        return REDISMODULE_OK;
    }
    RedisModuleBlockedClient *bc = RedisModule_BlockClient(ctx, pull_reply_cb, NULL, pull_free_cb, 0);
    if (!bc)
        return RedisModule_ReplyWithArray(ctx, 0);
    RedisModule_SetDisconnectCallback(bc, pull_disconnect_cb);
    PullReq *req = RedisModule_Alloc(sizeof(PullReq));
    req->client_id = e->client_id;
    req->max = (int)max;
    e->pull_bc = bc;
    e->pull_req = req;
    if (block_ms > 0) {
        e->pull_timer = RedisModule_CreateTimer(ctx, block_ms, pull_timer_cb,
                                                (void *)(uintptr_t)e->client_id);
        e->has_pull_timer = 1;
    }
    return REDISMODULE_OK;
}

/* ---------------------------------------------------------------- AI._EXEC.FETCH */

static int cmd_exec_fetch(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 3)
        return RedisModule_WrongArity(ctx);
    if (!executor_or_refuse(ctx, "AI._EXEC.FETCH"))
        return REDISMODULE_OK;
    long long version;
    if (RedisModule_StringToLongLong(argv[2], &version) != REDISMODULE_OK || version <= 0)
        return RedisModule_ReplyWithError(ctx, "ERR invalid version");
    AIObj *o = obj_find_version((uint64_t)version);
    if (!o)
        return reply_error_fmt(ctx, "ERR version %lld of %s no longer exists", version,
                               RedisModule_StringPtrLen(argv[1], NULL));
    RedisModule_ReplyWithArray(ctx, 5);
    RedisModule_ReplyWithCString(ctx, ai_backend_names[o->kind == OBJ_MODEL ? o->backend : BK_TORCH]);
    RedisModule_ReplyWithCString(ctx, o->devnorm);
    RedisModule_ReplyWithStringBuffer(ctx, o->blob, o->bloblen);
    if (o->kind == OBJ_MODEL) {
        RedisModule_ReplyWithArray(ctx, (long)o->ninputs);
        for (size_t i = 0; i < o->ninputs; i++)
            RedisModule_ReplyWithCString(ctx, o->inputs[i]);
        RedisModule_ReplyWithArray(ctx, (long)o->noutputs);
        for (size_t i = 0; i < o->noutputs; i++)
            RedisModule_ReplyWithCString(ctx, o->outputs[i]);
    } else {
        RedisModule_ReplyWithArray(ctx, (long)o->nentry);
        for (size_t i = 0; i < o->nentry; i++)
            RedisModule_ReplyWithCString(ctx, o->entry[i]);
        RedisModule_ReplyWithArray(ctx, 0);
    }
    obj_decref(o);
    return REDISMODULE_OK;
}

/* ---------------------------------------------------------------- AI._EXEC.DONE / ERR */

static Job *running_job(RedisModuleCtx *ctx, RedisModuleString *idstr) {
    long long id;
    if (RedisModule_StringToLongLong(idstr, &id) != REDISMODULE_OK || id <= 0)
        return NULL;
    (void)ctx;
    for (Job *j = running_head; j; j = j->next)
        if (j->id == (uint64_t)id)
            return j;
    return NULL;
}

/* Parse "d0 d1 ..." into shape; returns ndims or -1. */
static int parse_shape(const char *s, size_t len, int64_t *shape, int maxd) {
    int n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && s[i] == ' ')
            i++;
        if (i >= len)
            break;
        if (n >= maxd)
            return -1;
        int64_t v = 0;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (s[i] - '0');
            i++;
        }
        if (i == start || (i < len && s[i] != ' '))
            return -1;
        shape[n++] = v;
    }
    return n;
}

/* Finish running job j with the n outputs at outv (3 arguments each: dtype, shape, blob),
 * sending exactly one reply: +OK, or the error a malformed tensor earned (the job is failed
 * for its client either way when something is wrong). */
static int done_one(RedisModuleCtx *ctx, Job *j, long long n, RedisModuleString **outv) {
    if (j->kind != J_LOAD && (size_t)n != j->noutputs) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "ERR number of outputs produced (%lld) does not match the number of OUTPUTS keys (%zu)",
                 n, j->noutputs);
        job_count_error(j);
        job_complete(ctx, j, R_ERR, msg);
        return RedisModule_ReplyWithSimpleString(ctx, "OK");
    }
    Tensor **outs = n ? RedisModule_Calloc((size_t)n, sizeof(Tensor *)) : NULL;
    const char *bad = NULL;
    for (long long i = 0; i < n && !bad; i++) {
        size_t dl, sl, bl;
        const char *dn = RedisModule_StringPtrLen(outv[3 * i], &dl);
        const char *ss = RedisModule_StringPtrLen(outv[1 + 3 * i], &sl);
        const char *blob = RedisModule_StringPtrLen(outv[2 + 3 * i], &bl);
        int dtype = dtype_from_name(dn, dl);
        int64_t shape[64];
        int nd = parse_shape(ss, sl, shape, 64);
        size_t len, nbytes;
        if (dtype == DT_INVALID) {
            bad = "ERR executor returned a tensor with an unknown dtype";
        } else if (nd < 0 || !shape_nbytes(shape, nd, dtype, &len, &nbytes)) {
            bad = "ERR executor returned a tensor with an invalid shape";
        } else if (tensor_check_blob(dtype, len, blob, bl)) {
            bad = "ERR executor returned a tensor whose data does not match its shape and type";
        } else {
            outs[i] = tensor_new_from_string(dtype, shape, nd, len, outv[2 + 3 * i]);
        }
    }
    if (bad) {
        for (long long i = 0; i < n; i++)
            tensor_decref(outs[i]);
        RedisModule_Free(outs);
        job_count_error(j);
        job_complete(ctx, j, R_ERR, bad);
        return RedisModule_ReplyWithError(ctx, bad);
    }
    j->outs = outs;
    j->nouts = (size_t)n;
    if (j->kind != J_LOAD && j->obj) {
        j->obj->duration_us += ustime_now() - j->t_start_us;
        j->obj->calls++;
        if (j->kind == J_MODEL && j->ninputs > 0 && j->inputs[0]->ndims > 0)
            j->obj->samples += j->inputs[0]->shape[0];
    }
    job_complete(ctx, j, R_OK, NULL);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static int reply_unknown_job(RedisModuleCtx *ctx, RedisModuleString *idstr) {
    return reply_error_fmt(ctx, "ERR unknown job %s (timed out or cancelled)",
                           RedisModule_StringPtrLen(idstr, NULL));
}

static int cmd_exec_done(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 3)
        return RedisModule_WrongArity(ctx);
    if (!executor_or_refuse(ctx, "AI._EXEC.DONE"))
        return REDISMODULE_OK;
    Job *j = running_job(ctx, argv[1]);
    if (!j)
        return reply_unknown_job(ctx, argv[1]);
    long long n;
    if (RedisModule_StringToLongLong(argv[2], &n) != REDISMODULE_OK || n < 0 || n > argc ||
        3 + 3 * n != argc) {
        job_count_error(j);
        job_complete(ctx, j, R_ERR, "ERR executor sent a malformed result");
        return RedisModule_ReplyWithError(ctx, "ERR malformed AI._EXEC.DONE");
    }
    return done_one(ctx, j, n, argv + 3);
}

/* AI._EXEC.DONEN <n_jobs> [<job_id> <n> [dtype shape blob]*n]*n_jobs: the DONEs of a batch
 * in one command, answered with one reply per job (what its DONE would have got). The
 * layout is checked before any job is touched: one that does not add up is refused whole. */
static int cmd_exec_donen(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 2)
        return RedisModule_WrongArity(ctx);
    if (!executor_or_refuse(ctx, "AI._EXEC.DONEN"))
        return REDISMODULE_OK;
    long long njobs;
    if (RedisModule_StringToLongLong(argv[1], &njobs) != REDISMODULE_OK || njobs < 0 ||
        njobs > argc)
        return RedisModule_ReplyWithError(ctx, "ERR malformed AI._EXEC.DONEN");
    int pos = 2;
    for (long long k = 0; k < njobs; k++) {
        long long n;
        if (pos + 2 > argc || RedisModule_StringToLongLong(argv[pos + 1], &n) != REDISMODULE_OK ||
            n < 0 || n > (argc - pos - 2) / 3)
            return RedisModule_ReplyWithError(ctx, "ERR malformed AI._EXEC.DONEN");
        pos += 2 + 3 * (int)n;
    }
    if (pos != argc)
        return RedisModule_ReplyWithError(ctx, "ERR malformed AI._EXEC.DONEN");
    RedisModule_ReplyWithArray(ctx, (long)njobs);
    pos = 2;
    for (long long k = 0; k < njobs; k++) {
        long long n;
        RedisModule_StringToLongLong(argv[pos + 1], &n);
        Job *j = running_job(ctx, argv[pos]);
        if (j)
            done_one(ctx, j, n, argv + pos + 2);
        else
            reply_unknown_job(ctx, argv[pos]);
        pos += 2 + 3 * (int)n;
    }
    return REDISMODULE_OK;
}

static int cmd_exec_err(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 3)
        return RedisModule_WrongArity(ctx);
    if (!executor_or_refuse(ctx, "AI._EXEC.ERR"))
        return REDISMODULE_OK;
    Job *j = running_job(ctx, argv[1]);
    if (!j)
        return reply_error_fmt(ctx, "ERR unknown job %s (timed out or cancelled)",
                               RedisModule_StringPtrLen(argv[1], NULL));
    size_t ml;
    const char *m = RedisModule_StringPtrLen(argv[2], &ml);
    char *msg = RedisModule_Alloc(ml + 5);
    if (ml >= 4 && !strncmp(m, "ERR ", 4)) {
        memcpy(msg, m, ml);
        msg[ml] = '\0';
    } else {
        memcpy(msg, "ERR ", 4);
        memcpy(msg + 4, m, ml);
        msg[ml + 4] = '\0';
    }
    for (char *p = msg; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    job_count_error(j);
    job_complete(ctx, j, R_ERR, msg);
    RedisModule_Free(msg);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

/* ---------------------------------------------------------------- executor departure */

static void grace_timer_cb(RedisModuleCtx *ctx, void *data) {
    Device *d = data;
    d->has_grace_timer = 0;
    if (d->nexec > 0)
        return;
    char msg[200];
    snprintf(msg, sizeof(msg),
             "ERR no executor is running for device %s; start one with python -m "
             "smartsim._core.executor",
             d->name);
    while (d->qhead)
        job_complete(ctx, d->qhead, R_ERR, msg);
}

static void executor_gone(RedisModuleCtx *ctx, Executor *e) {
    Device *d = e->dev;
    executor_wake(ctx, e);
    /* Fail what it pulled and did not answer. */
    Job *j = running_head;
    while (j) {
        Job *next = j->next;
        if (j->exec_id == e->client_id) {
            char msg[300];
            snprintf(msg, sizeof(msg), "ERR executor for device %s died while running %s", d->name,
                     RedisModule_StringPtrLen(j->key, NULL));
            job_count_error(j);
            job_complete(ctx, j, R_ERR, msg);
        }
        j = next;
    }
    d->nexec--;
    if (d->nexec == 0 && !d->has_grace_timer) {
        d->grace_timer = RedisModule_CreateTimer(ctx, NO_EXECUTOR_GRACE_MS, grace_timer_cb, d);
        d->has_grace_timer = 1;
    }
}

static void client_change_cb(RedisModuleCtx *ctx, RedisModuleEvent eid, uint64_t subevent, void *data) {
    (void)eid;
    if (subevent != REDISMODULE_SUBEVENT_CLIENT_CHANGE_DISCONNECTED || !data)
        return;
    RedisModuleClientInfoV1 *ci = data;
    Executor **pp = &executors;
    while (*pp) {
        Executor *e = *pp;
        if (e->client_id == ci->id) {
            *pp = e->next;
            executor_gone(ctx, e);
            RedisModule_Log(ctx, "notice", "ai: executor for device %s disconnected (client %llu)",
                            e->dev->name, e->client_id);
            RedisModule_Free(e);
            return;
        }
        pp = &e->next;
    }
}

/* ---------------------------------------------------------------- registration */

int exec_init(RedisModuleCtx *ctx) {
    RedisModuleEvent ev = {REDISMODULE_EVENT_CLIENT_CHANGE, 1};
    if (RedisModule_SubscribeToServerEvent(ctx, ev, client_change_cb) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}

int exec_register_commands(RedisModuleCtx *ctx) {
    struct {
        const char *name;
        RedisModuleCmdFunc fn;
        const char *flags;
        int first, last, step;
    } cmds[] = {
        {"ai.modelexecute", cmd_modelexecute, "write deny-oom getkeys-api", 1, 1, 1},
        {"ai.modelrun", cmd_modelrun, "write deny-oom getkeys-api", 1, 1, 1},
        {"ai.scriptexecute", cmd_scriptexecute, "write deny-oom getkeys-api", 1, 1, 1},
        {"ai.scriptrun", cmd_scriptrun, "write deny-oom getkeys-api", 1, 1, 1},
        /* the secret must not show in MONITOR or SLOWLOG GET */
        {"ai._exec.hello", cmd_exec_hello, "no-monitor no-slowlog", 0, 0, 0},
        {"ai._exec.pull", cmd_exec_pull, "", 0, 0, 0},
        {"ai._exec.fetch", cmd_exec_fetch, "", 0, 0, 0},
        {"ai._exec.done", cmd_exec_done, "", 0, 0, 0},
        {"ai._exec.donen", cmd_exec_donen, "", 0, 0, 0},
        {"ai._exec.err", cmd_exec_err, "", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (RedisModule_CreateCommand(ctx, cmds[i].name, cmds[i].fn, cmds[i].flags, cmds[i].first,
                                      cmds[i].last, cmds[i].step) == REDISMODULE_ERR)
            return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
