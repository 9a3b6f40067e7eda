"""SmartRedis 0.6.1-compatible client: ``from smartsim.client import Client, Dataset``.

The package mirrors SmartRedis 0.6.1's module layout -- ``client``, ``configoptions``,
``dataset``, ``dataset_utils``, ``error``, ``logcontext``, ``logger``, ``srobject``, ``util``
-- with the same names in each, so ``smartredis`` can be an alias of it (the opt-in
``smartredis-alias`` distribution in ``alias/``).  Importing it loads numpy and the Cython fast
path only (no launcher, no ML code; xarray only when ``DatasetConverter`` needs it).
"""
from .client import Client
from .config import ConfigOptions
from .dataset import Dataset
from .dataset_utils import DatasetConverter
from .errors import (
    RedisBadAllocError,
    RedisConnectionError,
    RedisDatabaseError,
    RedisInternalError,
    RedisKeyError,
    RedisReplyError,
    RedisRuntimeError,
    RedisTimeoutError,
)
from .logger import (
    LLDebug,
    LLDeveloper,
    LLInfo,
    LLQuiet,
    LogContext,
    SRLoggingLevel,
    SRObject,
    log_data,
    log_error,
    log_warning,
)

__all__ = [
    "Client",
    "ConfigOptions",
    "Dataset",
    "SRObject",
    "LogContext",
    "DatasetConverter",
    "SRLoggingLevel",
    "log_data",
    "log_warning",
    "log_error",
    "LLQuiet",
    "LLInfo",
    "LLDebug",
    "LLDeveloper",
    "RedisConnectionError",
    "RedisReplyError",
    "RedisRuntimeError",
    "RedisBadAllocError",
    "RedisDatabaseError",
    "RedisInternalError",
    "RedisTimeoutError",
    "RedisKeyError",
]

# the submodules SmartRedis 0.6.1 has, bound as attributes like its own (smartredis.error ...)
from . import (  # noqa: E402,F401  (submodules bound as attributes, as SmartRedis has them)
    client,
    configoptions,
    dataset,
    dataset_utils,
    error,
    logcontext,
    logger,
    srobject,
    util,
)
