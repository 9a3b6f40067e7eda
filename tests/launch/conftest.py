"""Helpers for the launch tests: real processes, checked with psutil."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import typing as t
from pathlib import Path

import psutil
import pytest

from smartsim import Experiment

ROOT = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    """True if ``pid`` runs (zombies waiting for a reaper count as dead)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until(predicate: t.Callable[[], bool], timeout: float = 10.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def descendants(pid: int) -> t.List[int]:
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@pytest.fixture
def exp(tmp_path: Path) -> Experiment:
    return Experiment("exp", exp_path=str(tmp_path / "exp"))


@pytest.fixture
def script(tmp_path: Path) -> t.Callable[[str, str], str]:
    """Write an executable shell script and return its path."""

    def make(name: str, body: str) -> str:
        path = tmp_path / name
        path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
        path.chmod(0o755)
        return str(path)

    return make


@pytest.fixture
def driver(tmp_path: Path) -> t.Callable[..., subprocess.Popen]:
    """Start a Python driver script in a subprocess (stdout piped)."""
    procs: t.List[subprocess.Popen] = []

    def start(code: str, **kwargs: t.Any) -> subprocess.Popen:
        path = tmp_path / f"driver{len(procs)}.py"
        path.write_text(textwrap.dedent(code))
        env = dict(os.environ, SMARTSIM_LOG_LEVEL="quiet", PYTHONUNBUFFERED="1")
        proc = subprocess.Popen([sys.executable, str(path)], cwd=str(tmp_path), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
