"""Run and batch settings: what to execute and how a workload manager should run it."""
from __future__ import annotations

import copy
import typing as t

from .._core.utils.helpers import expand_exe_path, is_valid_cmd
from ..log import get_logger

logger = get_logger(__name__)


class SettingsBase:
    """Common base of :class:`RunSettings` and :class:`BatchSettings` (what every settings
    object is, for ``isinstance`` checks).
    """
    pass


def fmt_dict(value: t.Mapping[str, t.Any]) -> str:
    """Tab-indented ``key = value`` lines, as SmartSim's settings ``__str__`` shows arguments."""
    return "\n".join(f"\t{key} = {val}" for key, val in value.items())


def host_list_of(host_list: t.Union[str, t.List[str]],
                 item_error: str = "host_list argument must be list of strings") -> t.List[str]:
    """``host_list`` as a list of host names: a str is one (stripped) host, a list must hold
    only str. ``TypeError`` otherwise: ``host_list argument must be a list of strings`` for
    anything but a str or a list, ``item_error`` for a list holding something else."""
    if isinstance(host_list, str):
        host_list = [host_list.strip()]
    if not isinstance(host_list, list):
        raise TypeError("host_list argument must be a list of strings")
    if not all(isinstance(host, str) for host in host_list):
        raise TypeError(item_error)
    return host_list


def format_dash_args(args: t.Mapping[str, t.Any], restricted: t.Collection[str] = (),
                     long_sep: str = "=") -> t.List[str]:
    """Arguments stored without dashes, as most launch binaries take them: a one-letter key
    is ``-k value`` (two items), a longer one ``--key<long_sep>value`` (one item; with a
    ``long_sep`` of ``" "`` still one item), a falsy value (``None``, ``""``, ``0``) the bare
    flag; keys in ``restricted`` are left out."""
    formatted: t.List[str] = []
    for opt, value in args.items():
        if opt in restricted:
            continue
        short = len(str(opt)) == 1
        flag = ("-" if short else "--") + opt
        if not value:
            formatted.append(flag)
        elif short:
            formatted += [flag, str(value)]
        else:
            formatted.append(f"{flag}{long_sep}{value}")
    return formatted


def _warn_unsupported(settings: t.Any, what: str) -> None:
    logger.warning(f"{what} specification not implemented for this RunSettings type: {type(settings)}")


class RunSettings(SettingsBase):
    """Run parameters for a ``Model``: executable, arguments, launch binary, environment."""

    reserved_run_args: t.Set[str] = set()

    def __init__(
        self,
        exe: str,
        exe_args: t.Optional[t.Union[str, t.List[str]]] = None,
        run_command: str = "",
        run_args: t.Optional[t.Dict[str, t.Union[int, str, float, None]]] = None,
        env_vars: t.Optional[t.Dict[str, t.Optional[str]]] = None,
        container: t.Any = None,
        **_kwargs: t.Any,
    ) -> None:
        self.exe = [exe] if container else [expand_exe_path(exe)]
        self.exe_args = exe_args or []
        self.run_args = run_args or {}
        self.env_vars = env_vars or {}
        self.container = container
        self._run_command = run_command
        self.in_batch = False
        self.colocated_db_settings: t.Optional[t.Dict[str, t.Any]] = None

    # -- copying: ensemble members each get their own copy, so it must be cheap
    def __deepcopy__(self, memo: t.Dict[int, t.Any]) -> "RunSettings":
        new = self.__class__.__new__(self.__class__)
        for key, value in self.__dict__.items():
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                new.__dict__[key] = list(value)
            elif isinstance(value, dict) and all(
                v is None or isinstance(v, (str, int, float)) for v in value.values()
            ):
                new.__dict__[key] = dict(value)
            else:
                new.__dict__[key] = copy.deepcopy(value, memo)
        return new

    @property
    def exe_args(self) -> t.List[str]:
        """The executable's arguments, a list of str (set from a str, which is split on
        whitespace, or a list).
        """
        return self._exe_args

    @exe_args.setter
    def exe_args(self, value: t.Union[str, t.List[str], None]) -> None:
        self._exe_args = self._build_exe_args(value)

    @property
    def run_args(self) -> t.Dict[str, t.Union[int, str, float, None]]:
        """Arguments of the run command (``srun``, ``mpirun``, ...) by name without dashes; a
        ``None`` value is a flag without a value.
        """
        return self._run_args

    @run_args.setter
    def run_args(self, value: t.Dict[str, t.Union[int, str, float, None]]) -> None:
        self._run_args = copy.deepcopy(value)

    @property
    def env_vars(self) -> t.Dict[str, t.Optional[str]]:
        """Environment variables the process is started with, on top of the driver's environment;
        a ``None`` value exports the variable empty.
        """
        return self._env_vars

    @env_vars.setter
    def env_vars(self, value: t.Dict[str, t.Optional[str]]) -> None:
        self._env_vars = copy.deepcopy(value)

    @property
    def run_command(self) -> t.Optional[str]:
        """The launch binary (expanded to a full path when it can be found)."""
        cmd = self._run_command
        if cmd:
            if is_valid_cmd(cmd):
                return expand_exe_path(cmd)
            return cmd
        return None

    def set_nodes(self, nodes: int) -> None:
        """Run on ``nodes`` nodes.

        Subclasses with a run command that supports it override this; here it logs a warning
        that the setting is not supported and changes nothing.
        """
        _warn_unsupported(self, "Node")

    def set_tasks(self, tasks: int) -> None:
        """Start ``tasks`` processes (MPI ranks).

        Subclasses with a run command that supports it override this; here it logs a warning
        that the setting is not supported and changes nothing.
        """
        _warn_unsupported(self, "Task")

    def set_tasks_per_node(self, tasks_per_node: int) -> None:
        """Start ``tasks_per_node`` processes on each node.

        Subclasses with a run command that supports it override this; here it logs a warning
        that the setting is not supported and changes nothing.
        """
        _warn_unsupported(self, "Task per node")

    def set_task_map(self, task_mapping: str) -> None:
        """Place tasks on nodes with the run command's mapping syntax ``task_mapping``.

        Subclasses with a run command that supports it override this; here it logs a warning
        that the setting is not supported and changes nothing.
        """
        _warn_unsupported(self, "Task mapping")

    def set_cpus_per_task(self, cpus_per_task: int) -> None:
        """Give each task ``cpus_per_task`` CPUs.

        Subclasses with a run command that supports it override this; here it logs a warning
        that the setting is not supported and changes nothing.
        """
        _warn_unsupported(self, "CPU per node")

    def set_hostlist(self, host_list: t.Union[str, t.List[str]]) -> None:
        """Run only on the hosts in ``host_list`` (a host name or a list of them).

        Subclasses with a run command that supports it override this; here it logs a warning
        that the setting is not supported and changes nothing.
        """
        _warn_unsupported(self, "Hostlist")

    def set_hostlist_from_file(self, file_path: str) -> None:
        """Run only on the hosts listed in the file ``file_path``.

        Subclasses with a run command that supports it override this; here it logs a warning
        that the setting is not supported and changes nothing.
        """
        _warn_unsupported(self, "Hostlist from file")

    def set_excluded_hosts(self, host_list: t.Union[str, t.List[str]]) -> None:
        """Never run on the hosts in ``host_list``.

        Subclasses with a run command that supports it override this; here it logs a warning
        that the setting is not supported and changes nothing.
        """
        _warn_unsupported(self, "Excluded host list")

    def set_cpu_bindings(self, bindings: t.Union[int, t.List[int]]) -> None:
        """Bind each task to the CPU ids in ``bindings`` (one id or a list).

        Subclasses with a run command that supports it override this; here it logs a warning
        that the setting is not supported and changes nothing.
        """
        _warn_unsupported(self, "CPU binding")

    def set_memory_per_node(self, memory_per_node: int) -> None:
        """Ask for ``memory_per_node`` megabytes of memory on each node.

        Subclasses with a run command that supports it override this; here it logs a warning
        that the setting is not supported and changes nothing.
        """
        _warn_unsupported(self, "Memory per node")

    def set_verbose_launch(self, verbose: bool) -> None:
        """Make the run command verbose when ``verbose`` is true.

        Subclasses with a run command that supports it override this; here it logs a warning
        that the setting is not supported and changes nothing.
        """
        _warn_unsupported(self, "Verbose")

    def set_quiet_launch(self, quiet: bool) -> None:
        """Make the run command quiet when ``quiet`` is true.

        Subclasses with a run command that supports it override this; here it logs a warning
        that the setting is not supported and changes nothing.
        """
        _warn_unsupported(self, "Quiet")

    def set_broadcast(self, dest_path: t.Optional[str] = None) -> None:
        """Copy the executable to ``dest_path`` on every node before it starts.

        Subclasses with a run command that supports it override this; here it logs a warning
        that the setting is not supported and changes nothing.
        """
        _warn_unsupported(self, "Broadcast")

    def set_node_feature(self, feature_list: t.Union[str, t.List[str]]) -> None:
        """Run only on nodes with the features in ``feature_list``.

        Subclasses with a run command that supports it override this; here it logs a warning
        that the setting is not supported and changes nothing.
        """
        _warn_unsupported(self, "Feature")

    def set_walltime(self, walltime: str) -> None:
        """Limit the run to ``walltime`` (the run command's time format).

        Subclasses with a run command that supports it override this; here it logs a warning
        that the setting is not supported and changes nothing.
        """
        _warn_unsupported(self, "Walltime")

    def set_binding(self, binding: str) -> None:
        """Bind tasks to resources with the run command's ``binding`` option.

        Subclasses with a run command that supports it override this; here it logs a warning
        that the setting is not supported and changes nothing.
        """
        _warn_unsupported(self, "binding")

    def set_mpmd_preamble(self, preamble_lines: t.List[str]) -> None:
        """Lines written before the MPMD configuration of an MPMD launch.

        Subclasses with a run command that supports it override this; here it logs a warning
        that the setting is not supported and changes nothing.
        """
        _warn_unsupported(self, "MPMD preamble")

    def make_mpmd(self, settings: "RunSettings") -> None:
        """Launch ``settings`` as another program of the same MPMD job, after this one.

        Subclasses with a run command that supports it override this; here it logs a warning
        that the setting is not supported and changes nothing.
        """
        _warn_unsupported(self, "Make MPMD")

    def set_time(self, hours: int = 0, minutes: int = 0, seconds: int = 0) -> None:
        """Limit the run to ``hours:minutes:seconds``: calls :meth:`set_walltime` with the
        duration in the run command's format.
        """
        return self.set_walltime(self._fmt_walltime(int(hours), int(minutes), int(seconds)))

    @staticmethod
    def _fmt_walltime(hours: int, minutes: int, seconds: int) -> str:
        return str(hours * 3600 + minutes * 60 + seconds)

    def update_env(self, env_vars: t.Dict[str, t.Union[str, int, float, bool]]) -> None:
        """Add or replace environment variables (values are stored as str)."""
        val_types = (str, int, float, bool)
        for env, val in env_vars.items():
            if not isinstance(val, val_types):
                raise TypeError(f"env_vars[{env}] was of type {type(val)}, not {val_types}")
            self.env_vars[env] = str(val)

    def add_exe_args(self, args: t.Union[str, t.List[str]]) -> None:
        """Append executable arguments (a str is split on whitespace)."""
        self._exe_args.extend(self._build_exe_args(args))

    def set(self, arg: str, value: t.Optional[str] = None, condition: bool = True) -> None:
        """Set one run argument (leading dashes stripped); skipped when ``condition`` is false."""
        if not isinstance(arg, str):
            raise TypeError("Argument name should be of type str")
        if value is not None and not isinstance(value, str):
            raise TypeError("Argument value should be of type str or None")
        arg = arg.strip().lstrip("-")
        if not condition:
            logger.info(f"Could not set argument '{arg}': condition not met")
            return
        if arg in self.reserved_run_args:
            logger.warning(f"Could not set argument '{arg}': it is a reserved argument of "
                           f"'{type(self).__name__}'")
            return
        if arg in self.run_args and value != self.run_args[arg]:
            logger.warning(f"Overwriting argument '{arg}' with value '{value}'")
        self.run_args[arg] = value

    @staticmethod
    def _build_exe_args(exe_args: t.Optional[t.Union[str, t.List[str]]]) -> t.List[str]:
        if not exe_args:
            return []
        if isinstance(exe_args, str):
            return exe_args.split()
        if isinstance(exe_args, list) and all(isinstance(arg, str) for arg in exe_args):
            return list(exe_args)
        raise TypeError(f"Executable arguments were not a list of str or a str: {exe_args!r}")

    def format_run_args(self) -> t.List[str]:
        """Run arguments, passed literally (``[key, value, ...]``)."""
        formatted = []
        for arg, value in self.run_args.items():
            formatted.append(arg)
            formatted.append(str(value))
        return formatted

    def format_env_vars(self) -> t.List[str]:
        """``KEY=value`` strings of :attr:`env_vars` (``KEY=`` for a ``None`` value), the form
        the launcher exports them in.
        """
        return [f"{key}=" if val is None else f"{key}={val}" for key, val in self.env_vars.items()]

    def __str__(self) -> str:
        string = f"Executable: {self.exe[0]}\n"
        string += f"Executable Arguments: {' '.join(self.exe_args)}"
        if self.run_command:
            string += f"\nRun Command: {self.run_command}"
        if self.run_args:
            string += f"\nRun Arguments:\n{fmt_dict(self.run_args)}"
        if self.colocated_db_settings:
            string += "\nCo-located Database: True"
        return string


class BatchSettings(SettingsBase):
    """Parameters of a batch allocation (``sbatch``, ``qsub``, ``bsub``)."""

    def __init__(self, batch_cmd: str, batch_args: t.Optional[t.Dict[str, t.Optional[str]]] = None,
                 **kwargs: t.Any) -> None:
        self._batch_cmd = batch_cmd
        self.batch_args = batch_args or {}
        self._preamble: t.List[str] = []
        nodes = kwargs.get("nodes", None)
        if nodes:
            self.set_nodes(nodes)
        queue = kwargs.get("queue", None)
        if queue:
            self.set_queue(queue)
        self.set_walltime(kwargs.get("time", None))
        self.set_account(kwargs.get("account", None))

    @property
    def batch_cmd(self) -> str:
        """The batch submission command (``sbatch``, ``qsub``, ...), as a full path when it is
        found on PATH.
        """
        if is_valid_cmd(self._batch_cmd):
            return expand_exe_path(self._batch_cmd)
        return self._batch_cmd

    @property
    def batch_args(self) -> t.Dict[str, t.Optional[str]]:
        """Directives of the batch script by name without dashes; a ``None`` value is a flag
        without a value. Assigning stores a copy.
        """
        return self._batch_args

    @batch_args.setter
    def batch_args(self, value: t.Optional[t.Dict[str, t.Optional[str]]]) -> None:
        self._batch_args = copy.deepcopy(value) if value else {}

    def set_nodes(self, num_nodes: int) -> None:
        """Ask the scheduler for ``num_nodes`` nodes. Implemented by each scheduler's subclass;
        ``NotImplementedError`` here.
        """
        raise NotImplementedError

    def set_hostlist(self, host_list: t.Union[str, t.List[str]]) -> None:
        """Ask for the hosts in ``host_list`` (a host name or a list). Implemented by each
        scheduler's subclass; ``NotImplementedError`` here.
        """
        raise NotImplementedError

    def set_queue(self, queue: str) -> None:
        """Submit to ``queue`` (partition). Implemented by each scheduler's subclass;
        ``NotImplementedError`` here.
        """
        raise NotImplementedError

    def set_walltime(self, walltime: t.Optional[str]) -> None:
        """Limit the job to ``walltime`` (``HH:MM:SS``; ``None`` leaves it unset). Implemented by
        each scheduler's subclass; ``NotImplementedError`` here.
        """
        raise NotImplementedError

    def set_account(self, account: t.Optional[str]) -> None:
        """Charge the job to ``account`` (``None`` leaves it unset). Implemented by each
        scheduler's subclass; ``NotImplementedError`` here.
        """
        raise NotImplementedError

    def format_batch_args(self) -> t.List[str]:
        """The directives of :attr:`batch_args` as the scheduler's command-line options.
        Implemented by each scheduler's subclass; ``NotImplementedError`` here.
        """
        raise NotImplementedError

    def set_batch_command(self, command: str) -> None:
        """Submit with ``command`` instead of the scheduler's usual one."""
        self._batch_cmd = command

    def add_preamble(self, lines: t.Union[str, t.List[str]]) -> None:
        """Lines written unmodified after the directives of the batch file."""
        if isinstance(lines, str):
            self._preamble += [lines]
        elif isinstance(lines, list):
            self._preamble += lines
        else:
            raise TypeError("Expected str or List[str] for lines argument")

    @property
    def preamble(self) -> t.Iterable[str]:
        """The lines added with :meth:`add_preamble`, in order (written after the directives)."""
        return (clause for clause in self._preamble)

    def __str__(self) -> str:
        string = f"Batch Command: {self._batch_cmd}"
        if self.batch_args:
            string += f"\nBatch arguments:\n{fmt_dict(self.batch_args)}"
        return string
