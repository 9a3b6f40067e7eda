"""Slurm settings: ``srun`` run settings and ``sbatch`` batch settings.

Names, setters, validation and formatting follow SmartSim 0.8 (``smartsim.settings.
slurmSettings``): run and batch arguments are stored without dashes and formatted by
key length, one letter ``-k value`` (two list items), longer ``--key=value``, a falsy
value giving the bare flag. Environment variables whose value contains a comma cannot
travel in ``srun --export`` (Slurm splits that list on commas): they are named there
by key only and returned separately, to be exported in the step's shell.
"""
from __future__ import annotations

import os
import typing as t

from ..error import SSUnsupportedError
from ..log import get_logger
from .base import BatchSettings, RunSettings

logger = get_logger(__name__)

_RunArgs = t.Dict[str, t.Union[int, str, float, None]]


def _format_slurm_args(args: t.Mapping[str, t.Any]) -> t.List[str]:
    """``-k value`` (two items) for one-letter keys, ``--key=value`` otherwise,
    ``-k`` / ``--key`` alone when the value is falsy (``None``, ``""``, ``0``)."""
    formatted: t.List[str] = []
    for opt, value in args.items():
        short = len(str(opt)) == 1
        flag = ("-" if short else "--") + opt
        if not value:
            formatted.append(flag)
        elif short:
            formatted += [flag, str(value)]
        else:
            formatted.append(f"{flag}={value}")
    return formatted


def _join_host_list(host_list: t.Union[str, t.List[str]]) -> str:
    """A host name or a list of host names as Slurm's comma-separated node list."""
    if isinstance(host_list, str):
        host_list = [host_list.strip()]
    if not isinstance(host_list, list):
        raise TypeError("host_list argument must be a list of strings")
    if not all(isinstance(host, str) for host in host_list):
        raise TypeError("host_list argument must be list of strings")
    return ",".join(host_list)


def fmt_walltime(hours: int, minutes: int, seconds: int) -> str:
    """``HH:MM:SS`` for a duration (minutes and seconds may overflow into hours).

    A duration of a day or more is written in Slurm's ``D-HH:MM:SS`` form.
    """
    total = int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    if total < 0:
        raise ValueError(f"A walltime cannot be negative: {hours}h {minutes}m {seconds}s")
    days, rest = divmod(total, 86400)
    hh, rest = divmod(rest, 3600)
    mm, ss = divmod(rest, 60)
    clock = f"{hh:02d}:{mm:02d}:{ss:02d}"
    return f"{days}-{clock}" if days else clock


class SrunSettings(RunSettings):
    """Run parameters of a Slurm job step launched with ``srun``.

    ``run_args`` are srun arguments without dashes; ``alloc`` is the id of an existing
    allocation to launch into (``None``: the launcher's own or the surrounding one).
    """

    reserved_run_args = {"chdir", "D"}

    def __init__(
        self,
        exe: str,
        exe_args: t.Optional[t.Union[str, t.List[str]]] = None,
        run_args: t.Optional[_RunArgs] = None,
        env_vars: t.Optional[t.Dict[str, t.Optional[str]]] = None,
        alloc: t.Optional[str] = None,
        **kwargs: t.Any,
    ) -> None:
        super().__init__(exe, exe_args, run_command="srun", run_args=run_args,
                         env_vars=env_vars, **kwargs)
        self.alloc = alloc
        self.mpmd: t.List[RunSettings] = []

    # -- resources ---------------------------------------------------------------------
    def set_nodes(self, nodes: int) -> None:
        """``--nodes=<nodes>``"""
        self.run_args["nodes"] = int(nodes)

    def set_tasks(self, tasks: int) -> None:
        """``--ntasks=<tasks>``"""
        self.run_args["ntasks"] = int(tasks)

    def set_tasks_per_node(self, tasks_per_node: int) -> None:
        """``--ntasks-per-node=<n>``"""
        self.run_args["ntasks-per-node"] = int(tasks_per_node)

    def set_cpus_per_task(self, cpus_per_task: int) -> None:
        """``--cpus-per-task=<n>``"""
        self.run_args["cpus-per-task"] = int(cpus_per_task)

    def set_memory_per_node(self, memory_per_node: int) -> None:
        """``--mem=<n>M`` (megabytes)"""
        self.run_args["mem"] = f"{int(memory_per_node)}M"

    def set_cpu_bindings(self, bindings: t.Union[int, t.List[int]]) -> None:
        """``--cpu_bind=map_cpu:<list>``"""
        if isinstance(bindings, int):
            bindings = [bindings]
        self.run_args["cpu_bind"] = "map_cpu:" + ",".join(str(int(core)) for core in bindings)

    # -- placement ---------------------------------------------------------------------
    def set_hostlist(self, host_list: t.Union[str, t.List[str]]) -> None:
        """``--nodelist=<hosts>`` from a host name or a list of host names"""
        self.run_args["nodelist"] = _join_host_list(host_list)

    def set_hostlist_from_file(self, file_path: str) -> None:
        """``--nodefile=<file_path>``"""
        self.run_args["nodefile"] = file_path

    def set_excluded_hosts(self, host_list: t.Union[str, t.List[str]]) -> None:
        """``--exclude=<hosts>`` from a host name or a list of host names"""
        self.run_args["exclude"] = _join_host_list(host_list)

    def set_node_feature(self, feature_list: t.Union[str, t.List[str]]) -> None:
        """``-C <features>`` from a feature or a list of features"""
        if isinstance(feature_list, str):
            feature_list = [feature_list.strip()]
        elif not all(isinstance(feature, str) for feature in feature_list):
            raise TypeError("node_feature argument must be string or list of strings")
        self.run_args["C"] = ",".join(feature_list)

    def set_het_group(self, het_group: t.Iterable[int]) -> None:
        """``--het-group=<groups>``: the components of a heterogeneous allocation to run on
        (only inside one, ``SLURM_HET_SIZE`` set; not with MPMD)."""
        het_size_env = os.getenv("SLURM_HET_SIZE")
        if het_size_env is None:
            raise ValueError("Requested to set het group, but the allocation is not a het job")
        het_size = int(het_size_env)
        if self.mpmd:
            raise ValueError("Slurm does not support MPMD workloads in heterogeneous jobs\n")
        groups = list(het_group)
        if any(group >= het_size for group in groups):
            raise ValueError(f"Het group {max(groups)} requested, "
                             f"but max het group in allocation is {het_size - 1}")
        logger.warning("Support for heterogeneous groups is an experimental feature, please "
                       "report any unexpected behavior to SmartSim developers by opening an "
                       "issue on https://github.com/CrayLabs/SmartSim/issues")
        self.run_args["het-group"] = ",".join(str(group) for group in groups)

    # -- launch behaviour --------------------------------------------------------------
    def set_verbose_launch(self, verbose: bool) -> None:
        """``--verbose`` on or off"""
        if verbose:
            self.run_args["verbose"] = None
        else:
            self.run_args.pop("verbose", None)

    def set_quiet_launch(self, quiet: bool) -> None:
        """``--quiet`` on or off"""
        if quiet:
            self.run_args["quiet"] = None
        else:
            self.run_args.pop("quiet", None)

    def set_broadcast(self, dest_path: t.Optional[str] = None) -> None:
        """``--bcast`` (``--bcast=<dest_path>`` with a destination)"""
        self.run_args["bcast"] = dest_path

    @staticmethod
    def _fmt_walltime(hours: int, minutes: int, seconds: int) -> str:
        return fmt_walltime(hours, minutes, seconds)

    def set_walltime(self, walltime: str) -> None:
        """``--time=<walltime>`` (``HH:MM:SS``; ``set_time(h, m, s)`` formats it)"""
        self.run_args["time"] = str(walltime)

    def make_mpmd(self, settings: RunSettings) -> None:
        """Run ``settings`` as a further program of this ``srun`` (``... : ...``)."""
        if self.colocated_db_settings:
            raise SSUnsupportedError("Colocated models cannot be run as a mpmd workload")
        if self.container:
            raise SSUnsupportedError("Containerized MPMD workloads are not yet supported.")
        if os.getenv("SLURM_HET_SIZE") is not None:
            raise ValueError("Slurm does not support MPMD workloads in heterogeneous jobs.")
        self.mpmd.append(settings)

    # -- formatting --------------------------------------------------------------------
    def format_run_args(self) -> t.List[str]:
        """srun arguments: ``-k value`` for one-letter keys, ``--key=value`` otherwise."""
        return _format_slurm_args(self.run_args)

    def check_env_vars(self) -> None:
        """Warn about variables the driver's environment already sets to another value:
        inside an interactive allocation the existing value wins over ``--export``."""
        for key, value in self.env_vars.items():
            if "," in str(value):
                continue
            existing = os.environ.get(key)
            if existing is not None and existing != str(value):
                logger.warning(
                    f"Variable {key} is set to {existing} in current environment. If the job is "
                    f"running in an interactive allocation, the value {value} will not be set. "
                    "Please consider removing the variable from the environment and re-running "
                    "the experiment.")

    def format_env_vars(self) -> t.List[str]:
        """``K=V`` for every variable whose value has no comma."""
        self.check_env_vars()
        return [f"{key}={value}" for key, value in self.env_vars.items() if "," not in str(value)]

    def format_comma_sep_env_vars(self) -> t.Tuple[str, t.List[str]]:
        """``(export_list, compound)``: ``export_list`` is the text after ``--export ALL,``
        (``K=V`` pairs, then the bare keys of comma-containing values); ``compound`` is
        ``K=V`` for each comma-containing value, of this program and of its MPMD programs,
        to be exported in the shell that runs ``srun``."""
        self.check_env_vars()
        exportable: t.List[str] = []
        compound: t.List[str] = []
        key_only: t.List[str] = []
        for key, value in self.env_vars.items():
            pair = f"{key}={value}"
            if "," in str(value):
                key_only.append(key)
                compound.append(pair)
            else:
                exportable.append(pair)
        for settings in self.mpmd:
            compound += [f"{key}={value}" for key, value in settings.env_vars.items()
                         if "," in str(value)]
        return ",".join(exportable + key_only), compound


class SbatchSettings(BatchSettings):
    """Parameters of a Slurm batch job submitted with ``sbatch``.

    ``batch_args`` are sbatch arguments without dashes (``{"exclusive": None}`` for a
    flag); ``nodes``, ``time`` and ``account`` override the same keys in ``batch_args``.
    """

    def __init__(
        self,
        nodes: t.Optional[int] = None,
        time: str = "",
        account: t.Optional[str] = None,
        batch_args: t.Optional[t.Dict[str, t.Optional[str]]] = None,
        **kwargs: t.Any,
    ) -> None:
        super().__init__("sbatch", batch_args=batch_args, nodes=nodes, account=account, time=time,
                         **kwargs)

    def set_walltime(self, walltime: t.Optional[str]) -> None:
        """``--time=<walltime>`` (any form sbatch accepts; empty: unchanged)"""
        if walltime:
            self.batch_args["time"] = walltime

    def set_nodes(self, num_nodes: int) -> None:
        """``--nodes=<n>`` (0 or None: unchanged)"""
        if num_nodes:
            self.batch_args["nodes"] = str(int(num_nodes))

    def set_account(self, account: t.Optional[str]) -> None:
        """``--account=<account>`` (empty: unchanged)"""
        if account:
            self.batch_args["account"] = account

    def set_partition(self, partition: str) -> None:
        """``--partition=<partition>``"""
        self.batch_args["partition"] = str(partition)

    def set_queue(self, queue: str) -> None:
        """Same as ``set_partition`` (empty: unchanged)."""
        if queue:
            self.set_partition(queue)

    def set_cpus_per_task(self, cpus_per_task: int) -> None:
        """``--cpus-per-task=<n>``"""
        self.batch_args["cpus-per-task"] = str(int(cpus_per_task))

    def set_hostlist(self, host_list: t.Union[str, t.List[str]]) -> None:
        """``--nodelist=<hosts>`` from a host name or a list of host names"""
        self.batch_args["nodelist"] = _join_host_list(host_list)

    def format_batch_args(self) -> t.List[str]:
        """sbatch arguments: ``-k value`` for one-letter keys, ``--key=value`` otherwise."""
        return _format_slurm_args(self.batch_args)
