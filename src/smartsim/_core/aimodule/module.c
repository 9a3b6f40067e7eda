/* Module entry point, AI.CONFIG and load-time arguments. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aimodule.h"

#define DEFAULT_MODEL_CHUNK_SIZE (511LL * 1024 * 1024)

long long cfg_model_chunk_size = DEFAULT_MODEL_CHUNK_SIZE;
char *cfg_backends_path = NULL;
static long long cfg_threads_per_queue = 1;
static long long cfg_intra_op = 0;
static long long cfg_inter_op = 0;
static long long cfg_model_execution_timeout = 5000;
static long long cfg_backend_memory_limit = 0;
static char cfg_loaded_backends[BK_COUNT][512];

static void set_backends_path(const char *p) {
    if (cfg_backends_path)
        RedisModule_Free(cfg_backends_path);
    cfg_backends_path = RedisModule_Strdup(p);
}

static void default_backends_path(void) {
    Dl_info info;
    char buf[4096];
    if (dladdr((void *)default_backends_path, &info) && info.dli_fname) {
        snprintf(buf, sizeof(buf), "%s", info.dli_fname);
        char *dir = dirname(buf);
        char path[4200];
        snprintf(path, sizeof(path), "%s/backends", dir);
        set_backends_path(path);
    } else {
        set_backends_path("backends");
    }
}

static int parse_positive(RedisModuleString *s, long long *out, long long min) {
    long long v;
    if (RedisModule_StringToLongLong(s, &v) != REDISMODULE_OK || v < min)
        return 0;
    *out = v;
    return 1;
}

/* LOADBACKEND: execution happens in the executor process, which brings its own runtimes.
 * Accept the request and remember the path for AI.CONFIG GET/INFO. */
static int load_backend(RedisModuleCtx *ctx, const char *name, const char *path) {
    int b = backend_from_name(name);
    if (b < 0)
        return -1;
    snprintf(cfg_loaded_backends[b], sizeof(cfg_loaded_backends[b]), "%s", path);
    if (ctx)
        RedisModule_Log(ctx, "notice",
                        "ai: backend %s requested from %s; executions are served by the executor "
                        "process (python -m smartsim._core.executor)",
                        ai_backend_names[b], path);
    return b;
}

#define SECRET_MAX 4096

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* EXECUTOR_SECRET_FILE <path>: the executor secret (see exec.c), surrounding whitespace
 * stripped. A file rather than the secret itself, because MODULE LIST shows module arguments
 * to any client on Redis 7. Returns 1, or 0 (logged, the module does not load) when the file
 * cannot be used. */
static int load_secret_file(RedisModuleCtx *ctx, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        RedisModule_Log(ctx, "warning", "ai: cannot open the executor secret file %s: %s", path,
                        strerror(errno));
        return 0;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        RedisModule_Log(ctx, "warning", "ai: the executor secret file %s is not a regular file", path);
        close(fd);
        return 0;
    }
    /* a secret others can read protects nothing: refuse it, as ssh refuses such keys */
    if (st.st_mode & 077) {
        RedisModule_Log(ctx, "warning",
                        "ai: the executor secret file %s is accessible by group or others (mode %03o); "
                        "make it private (chmod 600)",
                        path, (unsigned)(st.st_mode & 0777));
        close(fd);
        return 0;
    }
    char buf[SECRET_MAX + 2];
    size_t len = 0;
    while (len < sizeof(buf)) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    size_t start = 0;
    while (start < len && is_space(buf[start]))
        start++;
    while (len > start && is_space(buf[len - 1]))
        len--;
    int ok = len > start && len - start <= SECRET_MAX;
    if (ok)
        exec_set_secret(buf + start, len - start);
    else
        RedisModule_Log(ctx, "warning", "ai: the executor secret file %s must hold 1 to %d bytes", path,
                        SECRET_MAX);
    memset(buf, 0, sizeof(buf));
    return ok;
}

int config_load_args(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    default_backends_path();
    if (argc > 0 && argc % 2 != 0) {
        RedisModule_Log(ctx, "warning",
                        "Even number of arguments provided to module. Please provide arguments as KEY VAL pairs");
        return REDISMODULE_ERR;
    }
    for (int i = 0; i + 1 < argc; i += 2) {
        const char *k = RedisModule_StringPtrLen(argv[i], NULL);
        if (!strcasecmp(k, "BACKENDSPATH"))
            set_backends_path(RedisModule_StringPtrLen(argv[i + 1], NULL));
    }
    for (int i = 0; i + 1 < argc; i += 2) {
        const char *k = RedisModule_StringPtrLen(argv[i], NULL);
        const char *v = RedisModule_StringPtrLen(argv[i + 1], NULL);
        int ok = 1;
        if (backend_from_name(k) >= 0)
            load_backend(ctx, k, v);
        else if (!strcasecmp(k, "THREADS_PER_QUEUE"))
            ok = parse_positive(argv[i + 1], &cfg_threads_per_queue, 1);
        else if (!strcasecmp(k, "INTRA_OP_PARALLELISM"))
            ok = parse_positive(argv[i + 1], &cfg_intra_op, 1);
        else if (!strcasecmp(k, "INTER_OP_PARALLELISM"))
            ok = parse_positive(argv[i + 1], &cfg_inter_op, 1);
        else if (!strcasecmp(k, "MODEL_CHUNK_SIZE"))
            ok = parse_positive(argv[i + 1], &cfg_model_chunk_size, 1);
        else if (!strcasecmp(k, "MODEL_EXECUTION_TIMEOUT"))
            ok = parse_positive(argv[i + 1], &cfg_model_execution_timeout, 1000);
        else if (!strcasecmp(k, "BACKEND_MEMORY_LIMIT"))
            ok = parse_positive(argv[i + 1], &cfg_backend_memory_limit, 1);
        else if (!strcasecmp(k, "BACKENDSPATH"))
            ok = 1;
        else if (!strcasecmp(k, "EXECUTOR_SECRET_FILE"))
            ok = load_secret_file(ctx, v);
        else
            ok = 0;
        if (!ok) {
            RedisModule_Log(ctx, "warning", "ERR error processing argument: %s %s", k, v);
            return REDISMODULE_ERR;
        }
    }
    return REDISMODULE_OK;
}

/* AI.CONFIG BACKENDSPATH <path> | LOADBACKEND <backend> <path> | MODEL_CHUNK_SIZE <n> | GET <name> */
static int cmd_config(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 2)
        return RedisModule_WrongArity(ctx);
    const char *sub = RedisModule_StringPtrLen(argv[1], NULL);
    if (!strcasecmp(sub, "LOADBACKEND")) {
        if (argc < 4)
            return RedisModule_WrongArity(ctx);
        if (load_backend(ctx, RedisModule_StringPtrLen(argv[2], NULL),
                         RedisModule_StringPtrLen(argv[3], NULL)) < 0)
            return RedisModule_ReplyWithError(ctx, "ERR unsupported backend");
        return RedisModule_ReplyWithSimpleString(ctx, "OK");
    }
    if (!strcasecmp(sub, "BACKENDSPATH")) {
        if (argc > 2) {
            set_backends_path(RedisModule_StringPtrLen(argv[2], NULL));
            return RedisModule_ReplyWithSimpleString(ctx, "OK");
        }
        return RedisModule_ReplyWithError(ctx, "ERR BACKENDSPATH: missing path argument");
    }
    if (!strcasecmp(sub, "MODEL_CHUNK_SIZE")) {
        if (argc > 2) {
            if (parse_positive(argv[2], &cfg_model_chunk_size, 1))
                return RedisModule_ReplyWithSimpleString(ctx, "OK");
            return RedisModule_ReplyWithError(ctx, "ERR MODEL_CHUNK_SIZE: invalid chunk size");
        }
        return RedisModule_ReplyWithError(ctx, "ERR MODEL_CHUNK_SIZE: missing chunk size");
    }
    if (!strcasecmp(sub, "GET")) {
        if (argc < 3)
            return RedisModule_WrongArity(ctx);
        const char *what = RedisModule_StringPtrLen(argv[2], NULL);
        if (!strcasecmp(what, "BACKENDSPATH"))
            return RedisModule_ReplyWithCString(ctx, cfg_backends_path);
        if (!strcasecmp(what, "MODEL_CHUNK_SIZE"))
            return RedisModule_ReplyWithLongLong(ctx, cfg_model_chunk_size);
        return RedisModule_ReplyWithNull(ctx);
    }
    return RedisModule_ReplyWithError(ctx, "ERR unsupported subcommand");
}

int config_register_commands(RedisModuleCtx *ctx) {
    return RedisModule_CreateCommand(ctx, "ai.config", cmd_config, "write", 0, 0, 0);
}

static void info_func(RedisModuleInfoCtx *ctx, int for_crash_report) {
    (void)for_crash_report;
    RedisModule_InfoAddSection(ctx, "versions");
    RedisModule_InfoAddFieldCString(ctx, "RedisAI_version", "1.2.7");
    RedisModule_InfoAddFieldCString(ctx, "implementation", "smartsim");
    RedisModule_InfoAddFieldLongLong(ctx, "rdb_version", AI_ENCVER);
    RedisModule_InfoAddSection(ctx, "load_time_configs");
    RedisModule_InfoAddFieldLongLong(ctx, "threads_per_queue", cfg_threads_per_queue);
    RedisModule_InfoAddFieldLongLong(ctx, "inter_op_parallelism", cfg_inter_op);
    RedisModule_InfoAddFieldLongLong(ctx, "intra_op_parallelism", cfg_intra_op);
    RedisModule_InfoAddFieldLongLong(ctx, "model_execution_timeout", cfg_model_execution_timeout);
    RedisModule_InfoAddFieldLongLong(ctx, "backend_memory_limit", cfg_backend_memory_limit);
    RedisModule_InfoAddFieldLongLong(ctx, "model_chunk_size", cfg_model_chunk_size);
    RedisModule_InfoAddFieldCString(ctx, "backends_path", cfg_backends_path ? cfg_backends_path : "");
    /* "ai_executors": registered executors, the readiness check of whoever starts them */
    RedisModule_InfoAddSection(ctx, "executors");
    RedisModule_InfoAddFieldLongLong(ctx, "executors", exec_registered_count());
    RedisModule_InfoAddFieldCString(ctx, "executor_secret", exec_secret_configured() ? "yes" : "no");
}

__attribute__((visibility("default"))) int RedisModule_OnLoad(RedisModuleCtx *ctx,
                                                             RedisModuleString **argv, int argc) {
    if (rm_api_init(ctx, AI_MODULE_NAME, AI_MODULE_VERSION) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    if (config_load_args(ctx, argv, argc) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    if (tensor_register_type(ctx) != REDISMODULE_OK || model_register_types(ctx) != REDISMODULE_OK) {
        RedisModule_Log(ctx, "warning", "ai: could not register data types");
        return REDISMODULE_ERR;
    }
    if (tensor_register_commands(ctx) != REDISMODULE_OK ||
        model_register_commands(ctx) != REDISMODULE_OK ||
        exec_register_commands(ctx) != REDISMODULE_OK ||
        config_register_commands(ctx) != REDISMODULE_OK) {
        RedisModule_Log(ctx, "warning", "ai: could not register commands");
        return REDISMODULE_ERR;
    }
    if (exec_init(ctx) != REDISMODULE_OK) {
        RedisModule_Log(ctx, "warning", "ai: could not subscribe to client events");
        return REDISMODULE_ERR;
    }
    reply_ok_init(ctx);
    RedisModule_RegisterInfoFunc(ctx, info_func);
    RedisModule_Log(ctx, "notice", "ai: RedisAI-compatible module loaded (RedisAI 1.2.7 command set)");
    return REDISMODULE_OK;
}
