"""Workload-manager helpers for driver scripts, as SmartSim 0.8's ``smartsim.wlm``.

``get_hosts``, ``get_queue``, ``get_tasks`` and ``get_tasks_per_node`` describe the
allocation the driver runs in (from the scheduler's environment variables); the
``slurm`` module also obtains and releases allocations (``get_allocation`` /
``release_allocation``) and checks a partition's resources (``validate``).
"""
from __future__ import annotations

import typing as t

from ..error import SSUnsupportedError
from . import pbs as _pbs
from . import slurm as _slurm

__all__ = ["detect_launcher", "get_hosts", "get_queue", "get_tasks", "get_tasks_per_node"]


def detect_launcher() -> str:
    """The workload manager found on this machine (``slurm``, ``pbs``, ...), else ``local``:
    the same detection as ``Experiment(launcher="auto")``."""
    from .._core.launcher.base import detect_launcher as _detect  # pylint: disable=import-outside-toplevel

    return _detect()


def _helpers(launcher: t.Optional[str], what: str) -> t.Any:
    if launcher is None:
        launcher = detect_launcher()
    if launcher == "pbs":
        return _pbs
    if launcher == "slurm":
        return _slurm
    raise SSUnsupportedError(f"SmartSim cannot get {what} for launcher `{launcher}`")


def get_hosts(launcher: t.Optional[str] = None) -> t.List[str]:
    """Names of the hosts of the allocation this runs in (sorted, one per host).

    :param launcher: ``"slurm"`` or ``"pbs"``; ``None`` detects it
    :raises SSUnsupportedError: for another workload manager
    """
    return _helpers(launcher, "hosts").get_hosts()


def get_queue(launcher: t.Optional[str] = None) -> str:
    """Name of the queue (Slurm partition) of the allocation this runs in."""
    return _helpers(launcher, "queue").get_queue()


def get_tasks(launcher: t.Optional[str] = None) -> int:
    """Number of tasks of the allocation this runs in."""
    return _helpers(launcher, "tasks").get_tasks()


def get_tasks_per_node(launcher: t.Optional[str] = None) -> t.Dict[str, int]:
    """Map of each host of the allocation this runs in to its number of tasks."""
    return _helpers(launcher, "tasks per node").get_tasks_per_node()
