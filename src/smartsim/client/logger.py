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
           "log_data", "log_warning", "log_error", "SRObject", "LogContext", "SRObjectCore",
           "LogContextCore"]


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
    """Log a warning: ``data`` with the prefix ``"WARNING: "``."""
    _check(context, level, data)
    _emit(context, level, "WARNING: " + data)


def log_error(context: str, level: SRLoggingLevel, data: str) -> None:
    """Log an error: ``data`` with the prefix ``"ERROR: "``."""
    _check(context, level, data)
    _emit(context, level, "ERROR: " + data)


class SRObjectCore:
    """What an ``SRObject`` logs through (SmartRedis 0.6.1's ``PySRObject`` binding object):
    a context name and the logging methods."""

    __slots__ = ("_name",)

    def __init__(self, context: str) -> None:
        if not isinstance(context, str):
            raise TypeError(f"Argument context is of type {type(context)}, not {str}")
        self._name = context

    def log_data(self, level: SRLoggingLevel, data: str) -> None:
        """Log ``data`` at ``level`` under this object's context."""
        _emit(self._name, level, data)

    def log_warning(self, level: SRLoggingLevel, data: str) -> None:
        """Log ``data`` with the prefix ``"WARNING: "`` at ``level`` under this object's context."""
        _emit(self._name, level, "WARNING: " + data)

    def log_error(self, level: SRLoggingLevel, data: str) -> None:
        """Log ``data`` with the prefix ``"ERROR: "`` at ``level`` under this object's context."""
        _emit(self._name, level, "ERROR: " + data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r})"


class LogContextCore(SRObjectCore):
    """The object behind a ``LogContext`` (0.6.1's ``PyLogContext``)."""

    __slots__ = ()


def _check_level_data(level: t.Any, data: t.Any) -> None:
    if not isinstance(level, (SRLoggingLevel, int)) or isinstance(level, bool):
        raise TypeError(f"Argument level is of type {type(level)}, not {SRLoggingLevel}")
    if not isinstance(data, str):
        raise TypeError(f"Argument data is of type {type(data)}, not {str}")


class SRObject:
    """Base of objects that log under their own context name (``Client``, ``Dataset``,
    ``LogContext``).  ``context`` is the name, or the core object to log through."""

    def __init__(self, context: t.Union[str, SRObjectCore]) -> None:
        if not isinstance(context, (str, SRObjectCore)):
            raise TypeError(f"Argument context is of type {type(context)}, not "
                            f"{(str, SRObjectCore)}")
        if isinstance(context, str):
            self._name = context
            self._srobject: SRObjectCore = SRObjectCore(context)
        else:
            self._srobject = context

    @property
    def _context(self) -> str:
        return self._srobject._name

    def log_data(self, level: SRLoggingLevel, data: str) -> None:
        """Log ``data`` if ``level`` is at or below ``SR_LOG_LEVEL``."""
        _check_level_data(level, data)
        self._srobject.log_data(level, data)

    def log_warning(self, level: SRLoggingLevel, data: str) -> None:
        """Log a warning: ``data`` with the prefix ``"WARNING: "``."""
        _check_level_data(level, data)
        self._srobject.log_warning(level, data)

    def log_error(self, level: SRLoggingLevel, data: str) -> None:
        """Log an error: ``data`` with the prefix ``"ERROR: "``."""
        _check_level_data(level, data)
        self._srobject.log_error(level, data)


class LogContext(SRObject):
    """A named logging context.  As in SmartRedis 0.6.1, ``get_context`` returns the object it
    logs through (a ``LogContextCore``) and ``set_context`` replaces it."""

    def __init__(self, context: str) -> None:
        super().__init__(LogContextCore(context))
        self._name = context

    @property
    def _logcontext(self) -> LogContextCore:
        return t.cast(LogContextCore, self._srobject)

    @staticmethod
    def from_pybind(logcontext: LogContextCore) -> "LogContext":
        """A ``LogContext`` logging through ``logcontext`` (the name is 0.6.1's)."""
        if not isinstance(logcontext, LogContextCore):
            raise TypeError(f"Argument logcontext is of type {type(logcontext)}, not "
                            f"{LogContextCore}")
        new = LogContext(logcontext._name)
        new.set_context(logcontext)
        return new

    def get_context(self) -> LogContextCore:
        """The object this context logs through."""
        return self._logcontext

    def set_context(self, logcontext: LogContextCore) -> None:
        """Log through ``logcontext`` from now on."""
        if not isinstance(logcontext, LogContextCore):
            raise TypeError(f"Argument logcontext is of type {type(logcontext)}, not "
                            f"{LogContextCore}")
        self._srobject = logcontext
