"""Slurm allocation helpers, as SmartSim 0.8's ``smartsim.wlm.slurm``.

``get_allocation`` / ``release_allocation`` obtain and free an allocation with
``salloc --no-shell`` / ``scancel`` (models then launch into it with
``SrunSettings(alloc=...)``); ``validate`` checks a partition's nodes with ``sinfo``;
``get_hosts``, ``get_queue``, ``get_tasks`` and ``get_tasks_per_node`` read the
``SLURM_*`` variables of the allocation the driver runs in.
"""
from __future__ import annotations

import os
import shutil
import typing as t

from ..error import AllocationError, LauncherError, SmartSimError, SSReservedKeywordError
from ..log import get_logger
from ..settings.slurmSettings import fmt_walltime
from ._commands import run_wlm_command

logger = get_logger(__name__)

__all__ = ["get_allocation", "release_allocation", "validate", "get_default_partition",
           "get_hosts", "get_queue", "get_tasks", "get_tasks_per_node"]

# salloc arguments that get_allocation's own parameters set
_RESERVED_ALLOC_ARGS = {"t", "time", "N", "nodes", "A", "account"}


def get_allocation(nodes: int = 1, time: t.Optional[str] = None, account: t.Optional[str] = None,
                   options: t.Optional[t.Dict[str, str]] = None) -> str:
    """Obtain an allocation with ``salloc --no-shell`` and return its job id.

    ``options`` are further salloc arguments without dashes (``{"partition": "debug",
    "exclusive": None}``: a falsy value gives the bare flag); ``time`` is ``HH:MM:SS``.

    :raises LauncherError: ``salloc`` is not available here
    :raises SSReservedKeywordError: ``options`` sets time, nodes or account
    :raises AllocationError: Slurm refused the allocation (with Slurm's reason)
    """
    if not shutil.which("salloc"):
        raise LauncherError("Attempted slurm function without access to slurm(salloc) at the call site")
    salloc_args = _get_alloc_cmd(nodes, time, account, options=options or {})
    logger.debug(f"Allocation settings: {' '.join(salloc_args[1:])}")
    _, _, err = run_wlm_command("salloc", salloc_args)
    alloc_id = _parse_salloc(err)
    if alloc_id:
        logger.info(f"Allocation successful with Job ID: {alloc_id}")
        return str(alloc_id)
    logger.debug(err)
    error = _parse_salloc_error(err)
    if not error:
        logger.error(err)
        raise AllocationError("Error retrieving Slurm allocation")
    raise AllocationError(error)


def release_allocation(alloc_id: str) -> None:
    """Cancel allocation ``alloc_id`` with ``scancel``.

    :raises LauncherError: ``scancel`` is not available here
    :raises AllocationError: ``scancel`` failed (the job may have ended already)
    """
    if not shutil.which("scancel"):
        # (0.8's wording, salloc included)
        raise LauncherError("Attempted slurm function without access to slurm(salloc) at the call site")
    logger.info(f"Releasing allocation: {alloc_id}")
    returncode, _, _ = run_wlm_command("scancel", [str(alloc_id)])
    if returncode != 0:
        logger.error(f"Unable to revoke your allocation for jobid {alloc_id}")
        logger.error("The job may have already timed out, or you may need to cancel the job manually")
        raise AllocationError(f"Unable to revoke your allocation for jobid  {alloc_id}")
    logger.info(f"Successfully freed allocation {alloc_id}")


def validate(nodes: int = 1, ppn: int = 1, partition: t.Optional[str] = None) -> bool:
    """Whether ``partition`` (``None`` or ``"default"``: the default partition) has at
    least ``nodes`` nodes with at least ``ppn`` CPUs each.

    :raises LauncherError: the partition does not exist, or no default partition is found
    """
    partitions = _get_system_partition_info()
    name = partition
    if name is None or name == "default":
        try:
            name = get_default_partition()
        except LauncherError as exc:
            raise LauncherError("No partition provided and default partition could not be found") from exc
    if name not in partitions:
        raise LauncherError(f"Partition {name} is not found on this system")
    n_avail = sum(1 for _, node_ppn in partitions[name] if node_ppn >= ppn)
    logger.debug(f"Found {n_avail} nodes that match the constraints provided")
    if n_avail < nodes:
        logger.warning(f"{nodes} nodes are not available on the specified partitions.  Only "
                       f"{n_avail} nodes available.")
        return False
    logger.info("Successfully validated Slurm with sufficient resources")
    return True


def get_default_partition() -> str:
    """The default partition (the one ``sinfo`` marks with ``*``).

    :raises LauncherError: there is none
    """
    _, out, _ = run_wlm_command("sinfo", ["--noheader", "--format", "%P"])
    default = None
    for line in out.split("\n"):
        if line.endswith("*"):
            default = line.strip("*")
    if not default:
        raise LauncherError("Could not find default partition!")
    return default


def _get_system_partition_info() -> t.Dict[str, t.List[t.Tuple[str, int]]]:
    """Partition name -> ``[(node, cpus), ...]`` from ``sinfo``."""
    _, out, _ = run_wlm_command("sinfo", ["--noheader", "--format", "%R %n %c"])
    partitions: t.Dict[str, t.List[t.Tuple[str, int]]] = {}
    for line in out.split("\n"):
        fields = line.strip().split(" ")
        if len(fields) < 3 or not fields[0]:
            continue
        partitions.setdefault(fields[0], []).append((fields[1], int(fields[2])))
    return partitions


def _get_alloc_cmd(nodes: int, time: t.Optional[str] = None, account: t.Optional[str] = None,
                   options: t.Optional[t.Dict[str, str]] = None) -> t.List[str]:
    """The salloc arguments of ``get_allocation``."""
    salloc_args = ["--no-shell", "-N", str(nodes), "-J", "SmartSim"]
    if time:
        salloc_args += ["-t", _validate_time_format(time)]
    if account:
        salloc_args += ["-A", str(account)]
    reserved = set(options or {}) & _RESERVED_ALLOC_ARGS
    if reserved:
        raise SSReservedKeywordError(
            f"Expecting time, nodes, account as an argument. Also received: {reserved}")
    for opt, val in (options or {}).items():
        short = len(str(opt)) == 1
        flag = ("-" if short else "--") + opt
        if not val:
            salloc_args.append(flag)
        elif short:
            salloc_args += [flag, str(val)]
        else:
            salloc_args.append(f"{flag}={val}")
    return salloc_args


def _validate_time_format(time: str) -> str:
    """``H:M:S`` as ``HH:MM:SS``; anything else raises ``ValueError``."""
    try:
        hours, minutes, seconds = map(int, time.split(":"))
    except ValueError as exc:
        raise ValueError("Input time must be formatted as `HH:MM:SS` with valid Integers.") from exc
    return fmt_walltime(hours, minutes, seconds)


def _parse_salloc(output: str) -> t.Optional[str]:
    for line in output.split("\n"):
        if line.startswith("salloc: Granted job allocation"):
            return line.split()[-1]
    return None


def _parse_salloc_error(output: str) -> t.Optional[str]:
    """Slurm's reason from salloc's stderr: the first ``error:`` line, else the first
    ``salloc:`` line."""
    salloc = shutil.which("salloc")
    prefixes = ([salloc + ": "] if salloc else []) + ["salloc: "]
    lines = output.split("\n")
    for line in lines:
        for prefix in prefixes:
            if line.startswith(prefix.rstrip() + " error:"):
                return line.split("error:")[1].strip()
    for line in lines:
        for prefix in prefixes:
            if line.startswith(prefix):
                return " ".join(line.split()[1:]).strip()
    return None


# -- the allocation this process runs in ----------------------------------------------

def get_hosts() -> t.List[str]:
    """Names of the allocation's hosts (``scontrol show hostnames $SLURM_JOB_NODELIST``),
    sorted.

    :raises SmartSimError: not inside an allocation (``SLURM_JOB_NODELIST`` unset)
    :raises LauncherError: ``scontrol`` is not available here
    """
    if "SLURM_JOB_NODELIST" in os.environ:
        if not shutil.which("scontrol"):
            raise LauncherError(
                "Attempted slurm function without access to slurm(scontrol) at the call site")
        _, nodelist, _ = run_wlm_command(
            "scontrol", ["show", "hostnames", os.environ.get("SLURM_JOB_NODELIST", "")])
        return sorted(nodelist.split())
    raise SmartSimError("Could not parse allocation nodes from SLURM_JOB_NODELIST")


def get_queue() -> str:
    """The allocation's partition (``SLURM_JOB_PARTITION``).

    :raises SmartSimError: not inside an allocation
    """
    partition = os.environ.get("SLURM_JOB_PARTITION")
    if partition:
        return partition
    raise SmartSimError("Could not parse queue from SLURM_JOB_PARTITION")


def get_tasks() -> int:
    """The allocation's number of tasks (``SLURM_NTASKS``).

    :raises SmartSimError: not inside an allocation
    """
    ntasks = os.environ.get("SLURM_NTASKS")
    if ntasks:
        return int(ntasks)
    raise SmartSimError("Could not parse number of requested tasks from SLURM_NTASKS")


def get_tasks_per_node() -> t.Dict[str, int]:
    """Host -> number of tasks, from ``SLURM_TASKS_PER_NODE`` (``2(x3),1``) and the
    sorted host list of ``get_hosts``.

    :raises SmartSimError: not inside an allocation
    """
    if "SLURM_TASKS_PER_NODE" in os.environ:
        counts: t.List[int] = []
        for item in os.environ.get("SLURM_TASKS_PER_NODE", "").split(","):
            if "(" in item:
                tasks, repeat = item.split("(")
                counts += [int(tasks)] * int(repeat.rstrip(")").lstrip("x"))
            else:
                counts.append(int(item))
        return dict(zip(get_hosts(), counts))
    raise SmartSimError("Could not parse tasks per node from SLURM_TASKS_PER_NODE")
