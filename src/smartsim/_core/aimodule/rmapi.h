/*
 * Our own declarations of the parts of the Redis module API that the module uses.
 *
 * No redismodule.h is packaged anywhere, so the opaque types, flag values, struct layouts
 * and function signatures used here were written from the Redis 6.2 and 7.0 module API
 * documentation and checked against both versions. Every function is a pointer that
 * rm_api_init() fills through RedisModule_GetApi, the first pointer-sized field of the
 * context handed to RedisModule_OnLoad.
 */
#ifndef AIMODULE_RMAPI_H
#define AIMODULE_RMAPI_H

#include <stddef.h>
#include <stdint.h>

#define REDISMODULE_OK 0
#define REDISMODULE_ERR 1
#define REDISMODULE_APIVER_1 1

#define REDISMODULE_READ (1 << 0)
#define REDISMODULE_WRITE (1 << 1)

#define REDISMODULE_KEYTYPE_EMPTY 0
#define REDISMODULE_KEYTYPE_MODULE 6

#define REDISMODULE_POSTPONED_ARRAY_LEN -1
#define REDISMODULE_NO_EXPIRE -1

#define REDISMODULE_CTX_FLAGS_LUA (1 << 0)
#define REDISMODULE_CTX_FLAGS_MULTI (1 << 1)
#define REDISMODULE_CTX_FLAGS_CLUSTER (1 << 5)
#define REDISMODULE_CTX_FLAGS_REPLICATED (1 << 12)
#define REDISMODULE_CTX_FLAGS_LOADING (1 << 13)
#define REDISMODULE_CTX_FLAGS_DENY_BLOCKING (1 << 21)

#define REDISMODULE_ERRORMSG_WRONGTYPE "WRONGTYPE Operation against a key holding the wrong kind of value"

#define REDISMODULE_EVENT_CLIENT_CHANGE 4
#define REDISMODULE_SUBEVENT_CLIENT_CHANGE_CONNECTED 0
#define REDISMODULE_SUBEVENT_CLIENT_CHANGE_DISCONNECTED 1

/* Layout of RedisModuleTypeMethods; version 1 covers the fields up to 'free'. */
#define REDISMODULE_TYPE_METHOD_VERSION_USED 1

typedef struct RedisModuleCtx RedisModuleCtx;
typedef struct RedisModuleKey RedisModuleKey;
typedef struct RedisModuleString RedisModuleString;
typedef struct RedisModuleIO RedisModuleIO;
typedef struct RedisModuleType RedisModuleType;
typedef struct RedisModuleDigest RedisModuleDigest;
typedef struct RedisModuleBlockedClient RedisModuleBlockedClient;
typedef struct RedisModuleInfoCtx RedisModuleInfoCtx;
typedef struct RedisModuleCallReply RedisModuleCallReply;
typedef uint64_t RedisModuleTimerID;
typedef long long mstime_t;

typedef struct RedisModuleEvent {
    uint64_t id;
    uint64_t dataver;
} RedisModuleEvent;

typedef struct RedisModuleClientInfoV1 {
    uint64_t version;
    uint64_t flags;
    uint64_t id;
    char addr[46];
    uint16_t port;
    uint16_t db;
} RedisModuleClientInfoV1;

typedef int (*RedisModuleCmdFunc)(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
typedef void (*RedisModuleDisconnectFunc)(RedisModuleCtx *ctx, RedisModuleBlockedClient *bc);
typedef void *(*RedisModuleTypeLoadFunc)(RedisModuleIO *rdb, int encver);
typedef void (*RedisModuleTypeSaveFunc)(RedisModuleIO *rdb, void *value);
typedef void (*RedisModuleTypeRewriteFunc)(RedisModuleIO *aof, RedisModuleString *key, void *value);
typedef size_t (*RedisModuleTypeMemUsageFunc)(const void *value);
typedef void (*RedisModuleTypeDigestFunc)(RedisModuleDigest *digest, void *value);
typedef void (*RedisModuleTypeFreeFunc)(void *value);
typedef void (*RedisModuleEventCallback)(RedisModuleCtx *ctx, RedisModuleEvent eid, uint64_t subevent,
                                         void *data);
typedef void (*RedisModuleTimerProc)(RedisModuleCtx *ctx, void *data);
typedef void (*RedisModuleInfoFunc)(RedisModuleInfoCtx *ctx, int for_crash_report);

/* Prefix of RedisModuleTypeMethods (identical in 6.2 and 7.0 for these fields). */
typedef struct RedisModuleTypeMethods {
    uint64_t version;
    RedisModuleTypeLoadFunc rdb_load;
    RedisModuleTypeSaveFunc rdb_save;
    RedisModuleTypeRewriteFunc aof_rewrite;
    RedisModuleTypeMemUsageFunc mem_usage;
    RedisModuleTypeDigestFunc digest;
    RedisModuleTypeFreeFunc free;
} RedisModuleTypeMethods;

#define RM_API_LIST(X)                                                                             \
    X(void, SetModuleAttribs, (RedisModuleCtx * ctx, const char *name, int ver, int apiver))       \
    X(int, IsModuleNameBusy, (const char *name))                                                   \
    X(int, GetServerVersion, (void))                                                               \
    X(int, CreateCommand,                                                                          \
      (RedisModuleCtx * ctx, const char *name, RedisModuleCmdFunc cmdfunc, const char *strflags,   \
       int firstkey, int lastkey, int keystep))                                                    \
    X(RedisModuleType *, CreateDataType,                                                           \
      (RedisModuleCtx * ctx, const char *name, int encver, RedisModuleTypeMethods *typemethods))   \
    X(int, ModuleTypeSetValue, (RedisModuleKey * key, RedisModuleType *mt, void *value))           \
    X(RedisModuleType *, ModuleTypeGetType, (RedisModuleKey * key))                                \
    X(void *, ModuleTypeGetValue, (RedisModuleKey * key))                                          \
    X(void *, OpenKey, (RedisModuleCtx * ctx, RedisModuleString *keyname, int mode))               \
    X(void, CloseKey, (RedisModuleKey * kp))                                                       \
    X(int, KeyType, (RedisModuleKey * kp))                                                         \
    X(int, DeleteKey, (RedisModuleKey * key))                                                      \
    X(mstime_t, GetExpire, (RedisModuleKey * key))                                                 \
    X(int, ReplyWithError, (RedisModuleCtx * ctx, const char *err))                                \
    X(int, ReplyWithSimpleString, (RedisModuleCtx * ctx, const char *msg))                         \
    X(int, ReplyWithLongLong, (RedisModuleCtx * ctx, long long ll))                                \
    X(int, ReplyWithStringBuffer, (RedisModuleCtx * ctx, const char *buf, size_t len))             \
    X(int, ReplyWithCString, (RedisModuleCtx * ctx, const char *buf))                              \
    X(int, ReplyWithString, (RedisModuleCtx * ctx, RedisModuleString *str))                        \
    X(int, ReplyWithArray, (RedisModuleCtx * ctx, long len))                                       \
    X(void, ReplySetArrayLength, (RedisModuleCtx * ctx, long len))                                 \
    X(int, ReplyWithDouble, (RedisModuleCtx * ctx, double d))                                      \
    X(int, ReplyWithNull, (RedisModuleCtx * ctx))                                                  \
    X(int, ReplyWithCallReply, (RedisModuleCtx * ctx, RedisModuleCallReply *reply))                \
    X(RedisModuleCallReply *, Call,                                                                \
      (RedisModuleCtx * ctx, const char *cmdname, const char *fmt, ...))                           \
    X(const char *, CallReplyProto, (RedisModuleCallReply * reply, size_t *len))                   \
    X(void, FreeCallReply, (RedisModuleCallReply * reply))                                         \
    X(int, WrongArity, (RedisModuleCtx * ctx))                                                     \
    X(const char *, StringPtrLen, (const RedisModuleString *str, size_t *len))                     \
    X(int, StringToLongLong, (const RedisModuleString *str, long long *ll))                        \
    X(int, StringToDouble, (const RedisModuleString *str, double *d))                              \
    X(RedisModuleString *, CreateString, (RedisModuleCtx * ctx, const char *ptr, size_t len))      \
    X(RedisModuleString *, CreateStringFromLongLong, (RedisModuleCtx * ctx, long long ll))         \
    X(void, FreeString, (RedisModuleCtx * ctx, RedisModuleString *str))                            \
    X(void, RetainString, (RedisModuleCtx * ctx, RedisModuleString *str))                          \
    X(void *, Alloc, (size_t bytes))                                                               \
    X(void *, Calloc, (size_t nmemb, size_t size))                                                 \
    X(void *, Realloc, (void *ptr, size_t bytes))                                                  \
    X(void, Free, (void *ptr))                                                                     \
    X(char *, Strdup, (const char *str))                                                           \
    X(void, SaveUnsigned, (RedisModuleIO * io, uint64_t value))                                    \
    X(uint64_t, LoadUnsigned, (RedisModuleIO * io))                                                \
    X(void, SaveSigned, (RedisModuleIO * io, int64_t value))                                       \
    X(int64_t, LoadSigned, (RedisModuleIO * io))                                                   \
    X(void, SaveStringBuffer, (RedisModuleIO * io, const char *str, size_t len))                   \
    X(char *, LoadStringBuffer, (RedisModuleIO * io, size_t *lenptr))                              \
    X(void, EmitAOF, (RedisModuleIO * io, const char *cmdname, const char *fmt, ...))              \
    X(RedisModuleBlockedClient *, BlockClient,                                                     \
      (RedisModuleCtx * ctx, RedisModuleCmdFunc reply_callback,                                    \
       RedisModuleCmdFunc timeout_callback, void (*free_privdata)(RedisModuleCtx *, void *),       \
       long long timeout_ms))                                                                      \
    X(int, UnblockClient, (RedisModuleBlockedClient * bc, void *privdata))                         \
    X(void *, GetBlockedClientPrivateData, (RedisModuleCtx * ctx))                                 \
    X(void, SetDisconnectCallback, (RedisModuleBlockedClient * bc, RedisModuleDisconnectFunc cb))  \
    X(unsigned long long, GetClientId, (RedisModuleCtx * ctx))                                     \
    X(int, GetContextFlags, (RedisModuleCtx * ctx))                                                \
    X(int, IsKeysPositionRequest, (RedisModuleCtx * ctx))                                          \
    X(void, KeyAtPos, (RedisModuleCtx * ctx, int pos))                                             \
    X(int, SubscribeToServerEvent,                                                                 \
      (RedisModuleCtx * ctx, RedisModuleEvent event, RedisModuleEventCallback callback))           \
    X(void, Log, (RedisModuleCtx * ctx, const char *level, const char *fmt, ...))                  \
    X(void, LogIOError, (RedisModuleIO * io, const char *levelstr, const char *fmt, ...))          \
    X(int, ReplicateVerbatim, (RedisModuleCtx * ctx))                                              \
    X(int, Replicate, (RedisModuleCtx * ctx, const char *cmdname, const char *fmt, ...))           \
    X(RedisModuleTimerID, CreateTimer,                                                             \
      (RedisModuleCtx * ctx, mstime_t period, RedisModuleTimerProc callback, void *data))          \
    X(int, StopTimer, (RedisModuleCtx * ctx, RedisModuleTimerID id, void **data))                  \
    X(int, RegisterInfoFunc, (RedisModuleCtx * ctx, RedisModuleInfoFunc cb))                       \
    X(int, InfoAddSection, (RedisModuleInfoCtx * ctx, const char *name))                           \
    X(int, InfoAddFieldLongLong, (RedisModuleInfoCtx * ctx, const char *field, long long value))   \
    X(int, InfoAddFieldCString, (RedisModuleInfoCtx * ctx, const char *field, const char *value))

#define RM_API_DECLARE(ret, name, args) extern ret(*RedisModule_##name) args;
RM_API_LIST(RM_API_DECLARE)
#undef RM_API_DECLARE

/* Resolve every function of RM_API_LIST; returns REDISMODULE_ERR if a required one is missing
 * (IsModuleNameBusy and GetServerVersion are optional: NULL when missing). */
int rm_api_init(RedisModuleCtx *ctx, const char *name, int ver);

#endif
