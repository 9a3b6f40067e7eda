"""PBS allocation helpers, as SmartSim 0.8's ``smartsim.wlm.pbs``: they read the ``PBS_*``
variables of the allocation the driver runs in (and ``qstat -f -F json`` for tasks)."""
from __future__ import annotations

import json
import os
import shutil
import typing as t

from ..error import LauncherError, SmartSimError
from ._commands import run_wlm_command

__all__ = ["get_hosts", "get_queue", "get_tasks", "get_tasks_per_node"]


def get_hosts() -> t.List[str]:
    """Short names of the allocation's hosts (from ``PBS_NODEFILE``), sorted, once each.

    :raises SmartSimError: not inside an allocation
    """
    if "PBS_NODEFILE" in os.environ:
        with open(os.environ["PBS_NODEFILE"], "r", encoding="utf-8") as node_file:
            hosts = {line.split(".")[0].strip() for line in node_file}
        return sorted(hosts)
    raise SmartSimError("Could not parse interactive allocation nodes from PBS_NODEFILE")


def get_queue() -> str:
    """The allocation's queue (``PBS_QUEUE``).

    :raises SmartSimError: not inside an allocation
    """
    if "PBS_QUEUE" in os.environ:
        return os.environ["PBS_QUEUE"]
    raise SmartSimError("Could not parse queue from PBS_QUEUE")


def _job_info() -> t.Optional[t.Tuple[str, t.Dict[str, t.Any]]]:
    if "PBS_JOBID" not in os.environ:
        return None
    if not shutil.which("qstat"):
        raise LauncherError("Attempted PBS function without access to PBS(qstat) at the call site")
    job_id = os.environ.get("PBS_JOBID")
    if not job_id:
        return None
    _, out, _ = run_wlm_command("qstat", ["-f", "-F", "json", job_id], wlm="PBS")
    return job_id, json.loads(out)["Jobs"][job_id]


def get_tasks() -> int:
    """The number of CPUs the allocation uses (``qstat``'s ``resources_used.ncpus``).

    :raises SmartSimError: not inside an allocation
    :raises LauncherError: ``qstat`` is not available here
    """
    info = _job_info()
    if info is not None:
        return int(info[1]["resources_used"]["ncpus"])
    raise SmartSimError("Could not parse number of requested tasks without an allocation")


def get_tasks_per_node() -> t.Dict[str, int]:
    """Chunk -> number of CPUs, from ``qstat``'s ``exec_vnode``.

    :raises SmartSimError: not inside an allocation
    :raises LauncherError: ``qstat`` is not available here
    """
    info = _job_info()
    if info is not None:
        chunk_cpus: t.Dict[str, int] = {}
        for chunk_and_ncpus in str(info[1]["exec_vnode"]).split("+"):
            chunk, ncpus = chunk_and_ncpus.strip("()").split(":")
            chunk_cpus[chunk] = int(ncpus.lstrip("ncpus="))
        return chunk_cpus
    raise SmartSimError("Could not parse tasks per node without an allocation")
