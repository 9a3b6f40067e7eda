"""HPE Cray PALS run settings: ``mpiexec`` under the Parallel Application Launch Service
(``PalsMpiexecSettings``), what ``create_run_settings`` gives for the ``pals`` launcher.

Names, setters and formatting follow SmartSim 0.8 (``smartsim.settings.palsSettings``):
run arguments are ``--key value`` as for the other MPI launch binaries, followed by the GPU
affinity script if one is set; environment variables are ``--env K=V``, those without a
value collected in one ``--envlist A,B`` (exported from the launching environment).
Settings PALS's ``mpiexec`` cannot take (task map, CPUs per task, quiet, walltime) are
warned about and ignored.
"""
from __future__ import annotations

import typing as t

from ..log import get_logger
from .base import host_list_of
from .mpiSettings import _BaseMPISettings, format_mpi_run_args

logger = get_logger(__name__)

_RunArgs = t.Dict[str, t.Union[int, str, float, None]]


class PalsMpiexecSettings(_BaseMPISettings):
    """Run parameters of a job launched with PALS's ``mpiexec``."""

    def __init__(
        self,
        exe: str,
        exe_args: t.Optional[t.Union[str, t.List[str]]] = None,
        run_args: t.Optional[_RunArgs] = None,
        env_vars: t.Optional[t.Dict[str, t.Optional[str]]] = None,
        fail_if_missing_exec: bool = True,
        **kwargs: t.Any,
    ) -> None:
        super().__init__(exe, exe_args, run_command="mpiexec", run_args=run_args,
                         env_vars=env_vars, fail_if_missing_exec=fail_if_missing_exec, **kwargs)

    # -- what PALS does not take -----------------------------------------------------------
    def set_task_map(self, task_mapping: str) -> None:
        """Not supported under PALS (warns)."""
        logger.warning("set_task_map not supported under PALS")

    def set_cpus_per_task(self, cpus_per_task: int) -> None:
        """Not supported under PALS (warns)."""
        logger.warning("set_cpus_per_task not supported under PALS")

    def set_quiet_launch(self, quiet: bool) -> None:
        """Not supported under PALS (warns)."""
        logger.warning("set_quiet_launch not supported under PALS")

    def set_walltime(self, walltime: str) -> None:
        """Not supported under PALS (warns)."""
        logger.warning("set_walltime not supported under PALS")

    # -- PALS's own spellings ------------------------------------------------------------
    def set_cpu_binding_type(self, bind_type: str) -> None:
        """``--cpu-bind <type>``"""
        self.run_args["cpu-bind"] = bind_type

    def set_tasks(self, tasks: int) -> None:
        """``--np <n>``"""
        self.run_args["np"] = int(tasks)

    def set_tasks_per_node(self, tasks_per_node: int) -> None:
        """``--ppn <n>``"""
        self.run_args["ppn"] = int(tasks_per_node)

    def set_broadcast(self, dest_path: t.Optional[str] = None) -> None:
        """``--transfer`` (a destination path cannot be chosen)"""
        if dest_path is not None and isinstance(dest_path, str):
            logger.warning(f"{type(self)} cannot set a destination path during broadcast. "
                           "Using session directory instead")
        self.run_args["transfer"] = None

    def set_hostlist(self, host_list: t.Union[str, t.List[str]]) -> None:
        """``--hosts a,b,c``"""
        self.run_args["hosts"] = ",".join(host_list_of(host_list))

    def set_gpu_affinity_script(self, affinity: str, *args: t.Any) -> None:
        """Run the program through ``affinity`` (and its arguments), written after the
        run arguments."""
        self.affinity_script.append(str(affinity))
        self.affinity_script += [str(arg) for arg in args]

    # -- formatting ----------------------------------------------------------------------
    def format_run_args(self) -> t.List[str]:
        return format_mpi_run_args(self.run_args) + self.affinity_script

    def format_env_vars(self) -> t.List[str]:
        """``mpiexec`` options for :attr:`env_vars`: ``--env KEY=value`` for each set value, and
        one ``--envlist`` of the names without a value (forwarded from the driver's environment).
        """
        formatted: t.List[str] = []
        export: t.List[str] = []
        for name, value in self.env_vars.items():
            if value:
                formatted += ["--env", f"{name}={value}"]
            else:
                export.append(name)
        if export:
            formatted += ["--envlist", ",".join(export)]
        return formatted
