"""Small shared helpers (one place for each concept)."""
import os
import re
import shutil
import typing as t

from ...error import EntityNameError, EntityTypeError, ExecutableNotFoundError, NotExecutableError

# POSIX's portable filename characters, not starting with "." or "-": the name is one
# directory level under exp_path (so no separators, ".", ".." or hidden names) and also
# ends up in job names, command lines, env var suffixes and key prefixes.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def tail_text(path: str, max_bytes: int) -> str:
    """The end of the file at ``path`` (at most ``max_bytes``, read from its end: logs may be
    huge), starting at a line boundary when cut; ``""`` when it is missing or unreadable."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except OSError:
        return ""
    if size > max_bytes:
        data = data[data.find(b"\n") + 1:]  # the first line is cut
    return data.decode("utf-8", "replace")


def expand_exe_path(exe: str) -> str:
    """Absolute path of ``exe`` (looked up on PATH, or a path to an executable file)."""
    if not exe or not isinstance(exe, str):
        raise ExecutableNotFoundError(f"Could not locate executable {exe!r}: expected a non-empty str")
    in_path = shutil.which(exe)
    if in_path:
        return os.path.abspath(in_path)
    if os.path.isfile(exe):
        if os.access(exe, os.X_OK):
            return os.path.abspath(exe)
        raise NotExecutableError(f"File, {exe}, is not an executable")
    raise ExecutableNotFoundError(f"Could not locate executable {exe}")


def check_name(name: t.Any, kind: str) -> str:
    """``name`` if it is a valid name for ``kind`` (e.g. "Model name"), else raise."""
    if not isinstance(name, str):
        raise EntityTypeError(f"{kind} must be a str, got {type(name).__name__}: {name!r}")
    if not _NAME.fullmatch(name):
        raise EntityNameError(
            f"{kind} {name!r} is not a valid name: expected a non-empty name of letters, digits, "
            "'_', '.' and '-' that does not start with '.' or '-' (it becomes a directory "
            "inside the experiment path)")
    return name


def is_valid_cmd(command: t.Optional[str]) -> bool:
    """True when ``command`` resolves to an executable."""
    try:
        return bool(command and expand_exe_path(command))
    except (TypeError, FileNotFoundError):
        return False


def cat_arg_and_value(arg_name: str, value: str) -> str:
    """Format a parameter as an executable argument, as SmartSim does.

    ``--x`` -> ``--x=v``; ``-x`` -> ``-x v``; one letter ``x`` -> ``-x v``; else ``--name=v``.
    """
    if arg_name.startswith("--"):
        return f"{arg_name}={value}"
    if arg_name.startswith("-"):
        return f"{arg_name} {value}"
    if len(arg_name) == 1:
        return f"-{arg_name} {value}"
    return f"--{arg_name}={value}"


def fmt_dict(value: t.Mapping[str, t.Any]) -> str:
    return "\n".join(f"{k} = {v}" for k, v in value.items())


def init_default(default: t.Any, init_value: t.Any, expected_type: t.Any = None) -> t.Any:
    if init_value is None:
        return default
    if expected_type is not None and not isinstance(init_value, expected_type):
        raise TypeError(f"Argument was of type {type(init_value)}, not {expected_type}")
    return init_value
