"""Cray ALPS run settings: ``aprun`` (``AprunSettings``), used on PBS and Cobalt systems.

Names, setters and formatting follow SmartSim 0.8 (``smartsim.settings.alpsSettings``):
run arguments are stored without dashes and formatted as Slurm's (``-k value``,
``--key=value``, bare flag for a falsy value); ``wdir`` is never passed (the launcher
sets the working directory); environment variables are ``-e K=V``.
"""
from __future__ import annotations

import typing as t

from ..error import SSUnsupportedError
from .base import RunSettings, format_dash_args, host_list_of

_RunArgs = t.Dict[str, t.Union[int, str, float, None]]


class AprunSettings(RunSettings):
    """Run parameters of a job launched with ``aprun``; ``make_mpmd`` joins further
    programs with ``:``."""

    def __init__(
        self,
        exe: str,
        exe_args: t.Optional[t.Union[str, t.List[str]]] = None,
        run_args: t.Optional[_RunArgs] = None,
        env_vars: t.Optional[t.Dict[str, t.Optional[str]]] = None,
        **kwargs: t.Any,
    ) -> None:
        super().__init__(exe, exe_args, run_command="aprun", run_args=run_args,
                         env_vars=env_vars, **kwargs)
        self.mpmd: t.List[RunSettings] = []

    def make_mpmd(self, settings: RunSettings) -> None:
        """Run ``settings`` as a further program of this ``aprun`` (``... : ...``)."""
        if self.colocated_db_settings:
            raise SSUnsupportedError("Colocated models cannot be run as a mpmd workload")
        if self.container:
            raise SSUnsupportedError("Containerized MPMD workloads are not yet supported.")
        self.mpmd.append(settings)

    def set_cpus_per_task(self, cpus_per_task: int) -> None:
        """``--cpus-per-pe=<n>``"""
        self.run_args["cpus-per-pe"] = int(cpus_per_task)

    def set_tasks(self, tasks: int) -> None:
        """``--pes=<n>``"""
        self.run_args["pes"] = int(tasks)

    def set_tasks_per_node(self, tasks_per_node: int) -> None:
        """``--pes-per-node=<n>``"""
        self.run_args["pes-per-node"] = int(tasks_per_node)

    def set_hostlist(self, host_list: t.Union[str, t.List[str]]) -> None:
        """``--node-list=<hosts>`` from a host name or a list of host names"""
        self.run_args["node-list"] = ",".join(host_list_of(host_list))

    def set_hostlist_from_file(self, file_path: str) -> None:
        """``--node-list-file=<file_path>``"""
        self.run_args["node-list-file"] = file_path

    def set_excluded_hosts(self, host_list: t.Union[str, t.List[str]]) -> None:
        """``--exclude-node-list=<hosts>`` from a host name or a list of host names"""
        self.run_args["exclude-node-list"] = ",".join(host_list_of(host_list))

    def set_cpu_bindings(self, bindings: t.Union[int, t.List[int]]) -> None:
        """``--cpu-binding=<list>``"""
        if isinstance(bindings, int):
            bindings = [bindings]
        self.run_args["cpu-binding"] = ",".join(str(int(core)) for core in bindings)

    def set_memory_per_node(self, memory_per_node: int) -> None:
        """``--memory-per-pe=<n>`` (megabytes)"""
        self.run_args["memory-per-pe"] = int(memory_per_node)

    def set_verbose_launch(self, verbose: bool) -> None:
        """``--debug=7`` on or off"""
        if verbose:
            self.run_args["debug"] = 7
        else:
            self.run_args.pop("debug", None)

    def set_quiet_launch(self, quiet: bool) -> None:
        """``--quiet`` on or off"""
        if quiet:
            self.run_args["quiet"] = None
        else:
            self.run_args.pop("quiet", None)

    def set_walltime(self, walltime: str) -> None:
        """``--cpu-time-limit=<seconds>`` (``set_time(h, m, s)`` gives the total seconds)"""
        self.run_args["cpu-time-limit"] = str(walltime)

    def format_run_args(self) -> t.List[str]:
        """aprun arguments: ``-k value`` for one-letter keys, ``--key=value`` otherwise."""
        return format_dash_args(self.run_args, restricted=("wdir",))

    def format_env_vars(self) -> t.List[str]:
        """``-e K=V`` per variable."""
        formatted: t.List[str] = []
        for name, value in self.env_vars.items():
            formatted += ["-e", f"{name}={value}"]
        return formatted
