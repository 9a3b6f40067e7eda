"""Run settings for MPI-standard launch binaries (``mpirun``, ``mpiexec``, ``orterun``),
and the local launcher's ``run_command="auto"`` settings.

Formatting follows SmartSim 0.8: every run argument becomes ``--key value`` (``--key``
alone when the value is falsy), ``set_tasks(4)`` is ``--n 4``, environment variables are
``-x K=V`` (``-x K`` exports the driver's value when the value is empty).
"""
from __future__ import annotations

import shutil
import subprocess
import typing as t

from .._core.utils.helpers import expand_exe_path
from ..error import LauncherError, SSUnsupportedError
from ..log import get_logger
from .base import RunSettings

logger = get_logger(__name__)

_RunArgs = t.Dict[str, t.Union[int, str, float, None]]


def format_mpi_run_args(run_args: _RunArgs) -> t.List[str]:
    """``--key value`` for every run argument (``--key`` when the value is falsy);
    ``wd``/``wdir`` are never passed (the launcher sets the working directory)."""
    args: t.List[str] = []
    for opt, value in run_args.items():
        if opt in ("wdir", "wd"):
            continue
        if not value:
            args.append("--" + opt)
        else:
            args += ["--" + opt, str(value)]
    return args


class _BaseMPISettings(RunSettings):
    """Arguments common to MPI-standard run commands."""

    reserved_run_args = {"wd", "wdir"}

    def __init__(
        self,
        exe: str,
        exe_args: t.Optional[t.Union[str, t.List[str]]] = None,
        run_command: str = "mpiexec",
        run_args: t.Optional[_RunArgs] = None,
        env_vars: t.Optional[t.Dict[str, t.Optional[str]]] = None,
        fail_if_missing_exec: bool = True,
        **kwargs: t.Any,
    ) -> None:
        super().__init__(exe, exe_args, run_command=run_command, run_args=run_args,
                         env_vars=env_vars, **kwargs)
        self.mpmd: t.List[RunSettings] = []
        self.affinity_script: t.List[str] = []
        if not shutil.which(self._run_command):
            msg = f"Cannot find {self._run_command}. Try passing the full path via run_command."
            if fail_if_missing_exec:
                raise LauncherError(msg)
            logger.warning(msg)

    def make_mpmd(self, settings: RunSettings) -> None:
        """Run ``settings`` as a further program of this MPMD launch (``... : ...``)."""
        if self.colocated_db_settings:
            raise SSUnsupportedError("Colocated models cannot be run as a mpmd workload")
        self.mpmd.append(settings)

    def set_task_map(self, task_mapping: str) -> None:
        """``--map-by <mapping>``"""
        self.run_args["map-by"] = task_mapping

    def set_cpus_per_task(self, cpus_per_task: int) -> None:
        """``--cpus-per-proc <n>``"""
        self.run_args["cpus-per-proc"] = int(cpus_per_task)

    def set_cpu_binding_type(self, bind_type: str) -> None:
        """``--bind-to <type>``"""
        self.run_args["bind-to"] = bind_type

    def set_tasks_per_node(self, tasks_per_node: int) -> None:
        """``--npernode <n>``"""
        self.run_args["npernode"] = int(tasks_per_node)

    def set_tasks(self, tasks: int) -> None:
        """``--n <tasks>``"""
        self.run_args["n"] = int(tasks)

    def set_hostlist(self, host_list: t.Union[str, t.List[str]]) -> None:
        """``--host a,b,c``"""
        if isinstance(host_list, str):
            host_list = [host_list.strip()]
        if not isinstance(host_list, list):
            raise TypeError("host_list argument must be a list of strings")
        if not all(isinstance(host, str) for host in host_list):
            raise TypeError("host_list argument must be list of strings")
        self.run_args["host"] = ",".join(host_list)

    def set_hostlist_from_file(self, file_path: str) -> None:
        """``--hostfile <path>``"""
        self.run_args["hostfile"] = file_path

    def set_verbose_launch(self, verbose: bool) -> None:
        """``--verbose``"""
        if verbose:
            self.run_args["verbose"] = None
        else:
            self.run_args.pop("verbose", None)

    def set_quiet_launch(self, quiet: bool) -> None:
        """``--quiet``"""
        if quiet:
            self.run_args["quiet"] = None
        else:
            self.run_args.pop("quiet", None)

    def set_broadcast(self, dest_path: t.Optional[str] = None) -> None:
        """``--preload-binary`` (a destination path cannot be chosen)"""
        if dest_path is not None and isinstance(dest_path, str):
            logger.warning(f"{type(self)} cannot set a destination path during broadcast. "
                           "Using session directory instead")
        self.run_args["preload-binary"] = None

    def set_walltime(self, walltime: str) -> None:
        """``--timeout <seconds>``"""
        self.run_args["timeout"] = walltime

    def format_run_args(self) -> t.List[str]:
        return format_mpi_run_args(self.run_args)

    def format_env_vars(self) -> t.List[str]:
        formatted: t.List[str] = []
        for name, value in (self.env_vars or {}).items():
            if value:
                formatted += ["-x", f"{name}={value}"]
            else:
                formatted += ["-x", name]
        return formatted


class MpirunSettings(_BaseMPISettings):
    """Run a job with ``mpirun``."""

    def __init__(self, exe: str, exe_args: t.Optional[t.Union[str, t.List[str]]] = None,
                 run_args: t.Optional[_RunArgs] = None,
                 env_vars: t.Optional[t.Dict[str, t.Optional[str]]] = None, **kwargs: t.Any) -> None:
        super().__init__(exe, exe_args, "mpirun", run_args, env_vars, **kwargs)


class MpiexecSettings(_BaseMPISettings):
    """Run a job with ``mpiexec`` (Slurm's ``mpiexec`` wrapper is refused, as in SmartSim)."""

    def __init__(self, exe: str, exe_args: t.Optional[t.Union[str, t.List[str]]] = None,
                 run_args: t.Optional[_RunArgs] = None,
                 env_vars: t.Optional[t.Dict[str, t.Optional[str]]] = None, **kwargs: t.Any) -> None:
        super().__init__(exe, exe_args, "mpiexec", run_args, env_vars, **kwargs)
        if shutil.which(self._run_command):
            try:
                completed = subprocess.run([self._run_command, "--help"], capture_output=True,
                                           check=False, timeout=30)
                help_statement = completed.stdout.decode(errors="replace")
            except (OSError, subprocess.SubprocessError):
                help_statement = ""
            if "mpiexec.slurm" in help_statement:
                raise SSUnsupportedError(
                    "Slurm's wrapper for mpiexec is unsupported. Use slurmSettings instead")


class OrterunSettings(_BaseMPISettings):
    """Run a job with ``orterun``."""

    def __init__(self, exe: str, exe_args: t.Optional[t.Union[str, t.List[str]]] = None,
                 run_args: t.Optional[_RunArgs] = None,
                 env_vars: t.Optional[t.Dict[str, t.Optional[str]]] = None, **kwargs: t.Any) -> None:
        super().__init__(exe, exe_args, "orterun", run_args, env_vars, **kwargs)


MPI_COMMANDS = ("mpirun", "mpiexec")


def find_mpi_command() -> t.Optional[str]:
    """The first of ``mpirun``, ``mpiexec`` on PATH (full path), else None."""
    for cmd in MPI_COMMANDS:
        path = shutil.which(cmd)
        if path:
            return path
    return None


class LocalRunSettings(RunSettings):
    """What ``create_run_settings(..., run_command="auto")`` returns for the local launcher.

    A single process (the default) runs the executable directly, exactly like
    ``RunSettings``. ``set_tasks(n)`` with ``n > 1`` switches to the first of ``mpirun`` /
    ``mpiexec`` found on PATH, formatted as ``MpirunSettings`` does (``--n 4``); with no
    MPI launcher installed it warns (as SmartSim's base ``RunSettings.set_tasks`` does) and
    the executable runs as one process.
    """

    def __init__(self, exe: str, exe_args: t.Optional[t.Union[str, t.List[str]]] = None,
                 run_args: t.Optional[_RunArgs] = None,
                 env_vars: t.Optional[t.Dict[str, t.Optional[str]]] = None, **kwargs: t.Any) -> None:
        super().__init__(exe, exe_args, run_command="", run_args=run_args, env_vars=env_vars, **kwargs)
        self._mpi_command: t.Optional[str] = None

    @property
    def run_command(self) -> t.Optional[str]:
        if self._mpi_command:
            return self._mpi_command
        return super().run_command

    def set_tasks(self, tasks: int) -> None:
        """Number of processes: more than one launches through ``mpirun``/``mpiexec``."""
        tasks = int(tasks)
        if tasks < 1:
            raise ValueError(f"set_tasks needs a positive number of tasks, got {tasks}")
        if tasks == 1:
            self._mpi_command = None
            self.run_args.pop("n", None)
            return
        command = find_mpi_command()
        if command is None:
            # as SmartSim's base RunSettings: accepted with a warning, one process runs
            logger.warning(
                f"set_tasks({tasks}) with run_command='auto' on the local launcher needs "
                f"{' or '.join(MPI_COMMANDS)} on PATH and neither was found: the executable will "
                "run as a single process (pass run_command explicitly to choose a launcher)")
            self._mpi_command = None
            return
        self._mpi_command = expand_exe_path(command)
        self.run_args["n"] = tasks

    def format_run_args(self) -> t.List[str]:
        if self._mpi_command:
            return format_mpi_run_args(self.run_args)
        return super().format_run_args()

    def format_env_vars(self) -> t.List[str]:
        """``KEY=value`` strings of :attr:`env_vars`; when the process runs through
        ``mpirun``/``mpiexec``, ``-x KEY=value`` options instead (``-x KEY`` for an empty value,
        which forwards the driver's value)."""
        if self._mpi_command:
            return [part for name, value in self.env_vars.items()
                    for part in ("-x", f"{name}={value}" if value else name)]
        return super().format_env_vars()
