"""Logging helpers: ``get_logger(name)`` returns a logger under the ``smartsim`` root,
configured once from ``SMARTSIM_LOG_LEVEL`` (quiet, info, debug, developer)."""
import logging
import os
import sys
import typing as t

_LEVELS = {"quiet": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG,
           "developer": logging.DEBUG}
_FORMAT = "%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s"
_configured = False
_developer = False  # SMARTSIM_LOG_LEVEL=developer, as read by _configure_root


def _parse_level(text: str, default: int) -> t.Optional[int]:
    """A level name (any case, surrounding blanks ignored) -> logging level; ``default``
    for an empty name, None for an unknown one."""
    name = text.strip().lower()
    return default if not name else _LEVELS.get(name)


def _configure_root() -> None:
    global _configured, _developer  # pylint: disable=global-statement
    if _configured:
        return
    _configured = True
    root = logging.getLogger("smartsim")
    requested = os.environ.get("SMARTSIM_LOG_LEVEL", "")
    level = _parse_level(requested, logging.INFO)
    _developer = requested.strip().lower() == "developer"
    root.setLevel(logging.INFO if level is None else level)
    if not root.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter(_FORMAT, "%H:%M:%S"))
        root.addHandler(handler)
    root.propagate = False
    if level is None:
        root.warning(f"SMARTSIM_LOG_LEVEL={requested!r} is not a log level; expected one of "
                     f"{', '.join(_LEVELS)}. Using 'info'")


def developer_logging() -> bool:
    """Whether ``SMARTSIM_LOG_LEVEL=developer`` (debug output without abbreviation)."""
    _configure_root()
    return _developer


def get_logger(name: str, log_level: t.Optional[str] = None, fmt: t.Optional[str] = None) -> logging.Logger:
    """A logger named ``name`` (nested under ``smartsim`` when it is not already)."""
    _configure_root()
    if not name.startswith("smartsim"):
        name = f"smartsim.{name}"
    logger = logging.getLogger(name)
    if log_level:
        logger.setLevel(_parse_level(log_level, logging.INFO) or logging.INFO)
    return logger


def log_to_file(filename: str, log_level: str = "debug") -> None:
    """Also write SmartSim's log records to ``filename``."""
    _configure_root()
    handler = logging.FileHandler(filename)
    handler.setLevel(_parse_level(log_level, logging.DEBUG) or logging.DEBUG)
    handler.setFormatter(logging.Formatter(_FORMAT))
    logging.getLogger("smartsim").addHandler(handler)
