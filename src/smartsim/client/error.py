"""``smartsim.client.error``: SmartRedis 0.6.1's ``smartredis.error`` module (the exception
classes; they are defined in :mod:`smartsim.client.errors`)."""
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

__all__ = [
    "RedisConnectionError",
    "RedisReplyError",
    "RedisRuntimeError",
    "RedisBadAllocError",
    "RedisDatabaseError",
    "RedisInternalError",
    "RedisTimeoutError",
    "RedisKeyError",
]
