"""SmartRedis 0.6.1-compatible client: ``from smartsim.client import Client, Dataset``.

Importing this package loads numpy and the Cython fast path only (no launcher, no ML code).
"""
from .client import Client
from .config import ConfigOptions
from .dataset import Dataset
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
