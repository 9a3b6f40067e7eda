"""SmartRedis-compatible exceptions.

The names and the hierarchy are SmartRedis 0.6.1's (``RedisReplyError`` and its subclasses,
``RedisConnectionError``; all of them are ``RuntimeError``), rooted in
:class:`smartsim.error.SmartSimError` as every SmartSim error is.  Messages name the key and
the database involved."""
import os

from ..error.errors import SmartSimError

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


class RedisConnectionError(SmartSimError, RuntimeError):
    """The database could not be reached (or the connection to it was lost)."""

    def __init__(self, cpp_error: str = "") -> None:
        super().__init__(self._set_message(cpp_error))

    @staticmethod
    def _set_message(cpp_error: str) -> str:
        msg = cpp_error or ""
        if "SSDB" in os.environ:
            tail = f"Could not connect to Orchestrator at {os.environ['SSDB']}"
            if tail not in msg:
                msg = (msg + "\n" if msg else "") + tail
        return msg


class RedisReplyError(SmartSimError, RuntimeError):
    """The database answered with an error (base class of the specific reply errors)."""

    def __init__(self, cpp_error: str, method: str = "", key: str = "") -> None:
        super().__init__(self._check_error(cpp_error, method, key))
        self.key = key

    @staticmethod
    def _check_error(cpp_error: str, method: str = "", key: str = "") -> str:
        msg = f"{method} execution failed\n" if method else ""
        return msg + cpp_error


class RedisRuntimeError(RedisReplyError):
    """A request could not be carried out (bad state, bad arguments found by the server)."""

    @staticmethod
    def _check_error(cpp_error: str, method: str = "", key: str = "") -> str:
        msg = f"{method} execution failed\n" if method else ""
        if "REDIS_REPLY_NIL" in cpp_error:
            return msg + f"No Dataset stored at key: {key}"
        return msg + cpp_error


class RedisBadAllocError(RedisReplyError):
    """Memory for a request or reply could not be allocated."""


class RedisDatabaseError(RedisReplyError):
    """The database failed while executing a command (I/O error, closed connection)."""


class RedisInternalError(RedisReplyError):
    """An internal inconsistency (unexpected reply shape)."""


class RedisTimeoutError(RedisReplyError):
    """A command or a model run did not complete in time."""


class RedisKeyError(RedisReplyError):
    """A key (tensor, dataset, model, script, list, field) does not exist."""
