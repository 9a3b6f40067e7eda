"""Real drivers (subprocesses) that start detached work, are killed or exit, and new drivers
that attach. Every test gets its own HOME/XDG_STATE_HOME (the user index of detached work)
and a finalizer that ends whatever the experiment's manifest names that is still alive."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smartsim._core.control.lifecycle import same_process
from smartsim._core.control.manifest import load_manifest
from tests._testbase import free_ports

APPS = Path(__file__).resolve().parent / "apps"


@pytest.fixture(autouse=True)
def _private_state(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("SMARTSIM_EXECUTOR", "0")  # sidecars import ML runtimes: seconds of CPU
    for key in list(os.environ):
        if key.startswith(("SSDB", "SR_DB_TYPE", "SSKEY")):
            monkeypatch.delenv(key, raising=False)


def alive_runs(exp_path) -> list:
    """Runs of the manifest whose recorded process is still that process."""
    return [run for run in load_manifest(str(exp_path))["runs"]
            if run.get("job_id") and same_process(run["job_id"], run.get("start_ticks"))]


@pytest.fixture
def exp_path(tmp_path):
    path = tmp_path / "exp"
    yield path
    for run in alive_runs(path):  # whatever a failed test left: its process group
        try:
            os.killpg(int(run["job_id"]), signal.SIGKILL)
        except OSError:
            pass


@pytest.fixture
def port():
    return free_ports(1)


def run_driver(exp_path, port, how: str) -> subprocess.Popen:
    """Driver 1 (apps/driver.py); returns once it has started everything (READY)."""
    proc = subprocess.Popen([sys.executable, str(APPS / "driver.py"), str(exp_path), str(port), how],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ready = Path(exp_path) / "READY"
    deadline = time.monotonic() + 90
    while not ready.exists():
        if proc.poll() is not None and not ready.exists():
            raise AssertionError(f"driver 1 ended ({proc.returncode}) before READY:\n"
                                 f"{proc.stdout.read().decode(errors='replace')}")
        assert time.monotonic() < deadline, "driver 1 did not get ready"
        time.sleep(0.1)
    assert ready.read_text().split(",") == [f"ens_{i}" for i in range(4)], "not every member stored its tensor"
    return proc


def wait_gone(pids, timeout=10.0) -> list:
    deadline = time.monotonic() + timeout
    left = list(pids)
    while left and time.monotonic() < deadline:
        left = [(pid, ticks) for pid, ticks in left if same_process(pid, ticks)]
        time.sleep(0.05)
    return left
