/* Function pointers of the Redis module API, resolved by name at load time. */
#include <string.h>

#include "rmapi.h"

#define RM_API_DEFINE(ret, name, args) ret(*RedisModule_##name) args = NULL;
RM_API_LIST(RM_API_DEFINE)
#undef RM_API_DEFINE

static int (*RedisModule_GetApi)(const char *, void *) = NULL;

int rm_api_init(RedisModuleCtx *ctx, const char *name, int ver) {
    /* The first pointer-sized field of the context is the GetApi function. */
    void *getapi = ((void **)ctx)[0];
    memcpy(&RedisModule_GetApi, &getapi, sizeof(getapi));
    if (RedisModule_GetApi == NULL)
        return REDISMODULE_ERR;

    int missing = 0;
#define RM_API_RESOLVE(ret, fname, args)                                                           \
    if (RedisModule_GetApi("RedisModule_" #fname, (void *)&RedisModule_##fname) != 0 ||           \
        RedisModule_##fname == NULL) {                                                             \
        RedisModule_##fname = NULL;                                                                \
        if (strcmp(#fname, "IsModuleNameBusy") != 0 && strcmp(#fname, "GetServerVersion") != 0)   \
            missing++;                                                                             \
    }
    RM_API_LIST(RM_API_RESOLVE)
#undef RM_API_RESOLVE
    if (missing)
        return REDISMODULE_ERR;

    if (RedisModule_IsModuleNameBusy && RedisModule_IsModuleNameBusy(name))
        return REDISMODULE_ERR;
    RedisModule_SetModuleAttribs(ctx, name, ver, REDISMODULE_APIVER_1);
    return REDISMODULE_OK;
}
