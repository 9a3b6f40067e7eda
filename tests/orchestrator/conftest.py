"""Fixtures for the Orchestrator tests: real redis-server processes started by the library
(ports and redis-server binaries from the test base, tests/_testbase).

Executor sidecars are off by default here (``SMARTSIM_EXECUTOR=0``: each one imports the
ML runtimes, seconds of CPU on a small machine); the tests that are about sidecars turn
them back on with ``--no-prewarm``.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import psutil
import pytest

from smartsim import Experiment
from smartsim.status import SmartSimStatus

# The test base's port picker and its one redis-server lookup (by "major.minor": the
# default one the package's discovery finds, and Debian's 7.x when present).
from tests._testbase import free_ports, redis_binaries  # noqa: F401  (used by the tests)

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
REFERENCE_PYTHON = "/opt/ssvenv/bin/python"


@pytest.fixture(autouse=True)
def _no_sidecars(monkeypatch):
    monkeypatch.setenv("SMARTSIM_EXECUTOR", "0")
    for key in list(os.environ):
        if key.startswith(("SSDB", "SR_DB_TYPE", "SSKEY")):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def port() -> int:
    return free_ports(1)


@pytest.fixture
def exp(tmp_path):
    """An experiment whose databases are stopped at the end of the test."""
    created: t.List[Experiment] = []

    def make(name: str = "exp") -> Experiment:
        e = Experiment(name, exp_path=str(tmp_path / name), launcher="local")
        created.append(e)
        return e

    experiment = make("exp")
    experiment.make = make  # type: ignore[attr-defined]
    yield experiment
    for e in created:
        ctrl = e._control_
        if ctrl is None:
            continue
        for orc in list(getattr(getattr(ctrl, "_db_registry", None), "dbs", [])):
            orc._stopped()
        live = ctrl.launcher.live_tasks()
        if live:
            ctrl.launcher.stop(live, 0.5)
            ctrl.launcher.wait(live, 5.0)


def wait_gone(pids: t.Iterable[int], timeout: float) -> t.List[int]:
    """Pids still alive (not zombies) after ``timeout`` seconds."""
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run_driver(code: str, tmp_path: Path, env: t.Optional[t.Dict[str, str]] = None,
               **kwargs: t.Any) -> subprocess.Popen:
    script = tmp_path / f"driver_{time.time_ns()}.py"
    script.write_text(code)
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=full_env, cwd=str(tmp_path), **kwargs)


def read_line_with(proc: subprocess.Popen, marker: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith(marker):
            return line[len(marker):].strip()
    proc.kill()
    raise AssertionError(f"driver never printed {marker!r}; stderr:\n{proc.stderr.read() if proc.stderr else ''}")


def statuses(exp: Experiment, *entities: t.Any) -> t.List[SmartSimStatus]:
    return exp.get_status(*entities)


have_reference = pytest.mark.skipif(not os.path.exists(REFERENCE_PYTHON),
                                    reason="SmartRedis 0.6.1 reference venv not installed")
have_taskset = shutil.which("taskset") is not None
