"""SmartRedis-style logging: ``log_data``/``log_warning``/``log_error`` and the ``LL*`` levels.

Records go to ``SR_LOG_FILE`` (default: standard output) when their level is at or below
``SR_LOG_LEVEL`` (``QUIET``, ``INFO`` (default), ``DEBUG``, ``DEVELOPER``), formatted as
SmartRedis does: ``<context>@<HH-MM-SS>:<message>``.
"""
import enum
import os
import sys
import threading
import time
import typing as t

__all__ = ["SRLoggingLevel", "LLQuiet", "LLInfo", "LLDebug", "LLDeveloper",
           "log_data", "log_warning", "log_error", "SRObject", "LogContext"]


class SRLoggingLevel(enum.IntEnum):
    """Logging levels (values as SmartRedis's ``SRLoggingLevel``)."""

    LLQuiet = 1
    LLInfo = 2
    LLDebug = 3
    LLDeveloper = 4


LLQuiet = SRLoggingLevel.LLQuiet
LLInfo = SRLoggingLevel.LLInfo
LLDebug = SRLoggingLevel.LLDebug
LLDeveloper = SRLoggingLevel.LLDeveloper

_NAMES = {"quiet": LLQuiet, "info": LLInfo, "debug": LLDebug, "developer": LLDeveloper}
_lock = threading.Lock()


def _settings() -> t.Tuple[int, t.Optional[str]]:
    level = _NAMES.get(os.environ.get("SR_LOG_LEVEL", "info").strip().lower(), LLInfo)
    return int(level), os.environ.get("SR_LOG_FILE") or None


def _check(context: t.Any, level: t.Any, data: t.Any) -> None:
    if not isinstance(context, str):
        raise TypeError(f"Argument context is of type {type(context)}, not {str}")
    if not isinstance(level, (SRLoggingLevel, int)) or isinstance(level, bool):
        raise TypeError(f"Argument level is of type {type(level)}, not {SRLoggingLevel}")
    if not isinstance(data, str):
        raise TypeError(f"Argument data is of type {type(data)}, not {str}")


def _emit(context: str, level: int, text: str) -> None:
    threshold, path = _settings()
    if int(level) > threshold or threshold == LLQuiet and int(level) > LLQuiet:
        return
    line = f"{context}@{time.strftime('%H-%M-%S')}:{text}\n"
    with _lock:
        if path:
            try:
                with open(path, "a", encoding="utf-8") as fh:
                    fh.write(line)
                return
            except OSError:
                pass
        sys.stdout.write(line)
        sys.stdout.flush()


def log_data(context: str, level: SRLoggingLevel, data: str) -> None:
    """Log ``data`` at ``level`` under ``context``."""
    _check(context, level, data)
    _emit(context, level, data)


def log_warning(context: str, level: SRLoggingLevel, data: str) -> None:
    """Log a warning (``WARNING: `` prefix)."""
    _check(context, level, data)
    _emit(context, level, "WARNING: " + data)


def log_error(context: str, level: SRLoggingLevel, data: str) -> None:
    """Log an error (``ERROR: `` prefix)."""
    _check(context, level, data)
    _emit(context, level, "ERROR: " + data)


class SRObject:
    """Base of objects that log under their own context name."""

    def __init__(self, context: str) -> None:
        if not isinstance(context, str):
            raise TypeError(f"Argument context is of type {type(context)}, not {str}")
        self._context = context

    def log_data(self, level: SRLoggingLevel, data: str) -> None:
        log_data(self._context, level, data)

    def log_warning(self, level: SRLoggingLevel, data: str) -> None:
        log_warning(self._context, level, data)

    def log_error(self, level: SRLoggingLevel, data: str) -> None:
        log_error(self._context, level, data)


class LogContext(SRObject):
    """A named logging context."""

    def get_context(self) -> str:
        return self._context
