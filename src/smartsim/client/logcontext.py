"""``smartsim.client.logcontext``: SmartRedis 0.6.1's ``smartredis.logcontext`` module."""
from .logger import LogContext, LogContextCore

__all__ = ["LogContext", "LogContextCore"]
