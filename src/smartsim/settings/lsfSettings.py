"""LSF settings: ``jsrun`` run settings (``JsrunSettings``) and ``bsub`` batch settings
(``BsubBatchSettings``).

Names, setters, validation and formatting follow SmartSim 0.8 (``smartsim.settings.
lsfSettings``). ``jsrun`` arguments are formatted as Slurm's (``-k value``, ``--key=value``,
bare flag for a falsy value); an MPMD ``jsrun`` (``make_mpmd``, or an ``erf_input`` run
argument) runs from an explicit resource file (ERF), so the arguments that file decides are
then left off the command line. ``bsub`` arguments are ``-key value`` (one item, one dash);
the walltime (``-W``) and project (``-P``) are kept apart, in ``walltime`` and ``project``,
for the batch script's own ``#BSUB`` lines.
"""
from __future__ import annotations

import copy
import typing as t
from pprint import pformat

from ..error import SSUnsupportedError
from ..log import get_logger
from .base import BatchSettings, RunSettings, format_dash_args, host_list_of

logger = get_logger(__name__)

_RunArgs = t.Dict[str, t.Union[int, str, float, None]]

# jsrun arguments SmartSim sets itself (working directory, output files)
_JSRUN_LAUNCHER_ARGS = ("chdir", "h", "stdio_stdout", "o", "stdio_stderr", "k")
# jsrun arguments an explicit resource file decides (long and short spellings)
_JSRUN_ERF_ARGS = (
    "tasks_per_rs", "a", "np", "p", "cpu_per_rs", "c", "gpu_per_rs", "g", "latency_priority", "l",
    "memory_per_rs", "m", "nrs", "n", "rs_per_host", "r", "rs_per_socket", "K", "appfile", "f",
    "allocate_only", "A", "launch_node_task", "H", "use_reservation", "J", "use_resources", "bind",
    "b", "launch_distribution", "d",
)


class JsrunSettings(RunSettings):
    """Run parameters of an LSF job step launched with ``jsrun``.

    ``run_args`` are jsrun arguments without dashes. For MPMD, each program added with
    ``make_mpmd`` becomes a line of the ERF, placed by its ``erf_sets``.
    """

    reserved_run_args = {"chdir", "h"}

    def __init__(
        self,
        exe: str,
        exe_args: t.Optional[t.Union[str, t.List[str]]] = None,
        run_args: t.Optional[_RunArgs] = None,
        env_vars: t.Optional[t.Dict[str, t.Optional[str]]] = None,
        container: t.Any = None,
        **_kwargs: t.Any,
    ) -> None:
        # (0.8 silently drops ``container`` here, so a containerised jsrun step ran without
        # its container; it is kept, as every other run-settings class keeps it)
        super().__init__(exe, exe_args, run_command="jsrun", run_args=run_args,
                         env_vars=env_vars, container=container)
        self.erf_sets: t.Dict[str, str] = {"host": "*", "cpu": "*", "ranks": "1"}
        self.mpmd_preamble_lines: t.List[str] = []
        self.mpmd: t.List[RunSettings] = []
        self.individual_suffix = ""

    # -- resource sets -------------------------------------------------------------------
    def set_num_rs(self, num_rs: t.Union[str, int]) -> None:
        """``--nrs=<n>`` (or a keyword such as ``ALL_HOSTS``)"""
        self.run_args["nrs"] = num_rs if isinstance(num_rs, str) else int(num_rs)

    def set_cpus_per_rs(self, cpus_per_rs: int) -> None:
        """``--cpu_per_rs=<n>`` (or ``ALL_CPUS``); with a colocated database, no fewer than
        its ``db_cpus``"""
        if self.colocated_db_settings:
            db_cpus = int(t.cast(int, self.colocated_db_settings.get("db_cpus", 0)))
            if not db_cpus:
                raise ValueError("db_cpus must be configured on colocated_db_settings")
            if cpus_per_rs < db_cpus:
                raise ValueError(f"Cannot set cpus_per_rs ({cpus_per_rs}) to less than "
                                 f"db_cpus ({db_cpus})")
        self.run_args["cpu_per_rs"] = cpus_per_rs if isinstance(cpus_per_rs, str) else int(cpus_per_rs)

    def set_gpus_per_rs(self, gpus_per_rs: int) -> None:
        """``--gpu_per_rs=<n>`` (or ``ALL_GPUS``)"""
        self.run_args["gpu_per_rs"] = gpus_per_rs if isinstance(gpus_per_rs, str) else int(gpus_per_rs)

    def set_rs_per_host(self, rs_per_host: int) -> None:
        """``--rs_per_host=<n>``"""
        self.run_args["rs_per_host"] = int(rs_per_host)

    def set_tasks(self, tasks: int) -> None:
        """``--np=<n>``"""
        self.run_args["np"] = int(tasks)

    def set_tasks_per_rs(self, tasks_per_rs: int) -> None:
        """``--tasks_per_rs=<n>``"""
        self.run_args["tasks_per_rs"] = int(tasks_per_rs)

    def set_tasks_per_node(self, tasks_per_node: int) -> None:
        """Same as ``set_tasks_per_rs``."""
        self.set_tasks_per_rs(int(tasks_per_node))

    def set_cpus_per_task(self, cpus_per_task: int) -> None:
        """Same as ``set_cpus_per_rs``."""
        self.set_cpus_per_rs(int(cpus_per_task))

    def set_memory_per_rs(self, memory_per_rs: int) -> None:
        """``--memory_per_rs=<n>`` (megabytes)"""
        self.run_args["memory_per_rs"] = int(memory_per_rs)

    def set_memory_per_node(self, memory_per_node: int) -> None:
        """Same as ``set_memory_per_rs``."""
        self.set_memory_per_rs(int(memory_per_node))

    def set_binding(self, binding: str) -> None:
        """``--bind=<binding>`` (``packed:21``)"""
        self.run_args["bind"] = binding

    def set_individual_output(self, suffix: t.Optional[str] = None) -> None:
        """``--stdio_mode=individual``: one output file per task, named
        ``<name><suffix>.out`` (the suffix may hold jsrun's ``%j``, ``%h``, ``%p``, ``%t``)."""
        self.run_args["stdio_mode"] = "individual"
        if suffix:
            self.individual_suffix = suffix

    # -- MPMD / explicit resource file ---------------------------------------------------
    def make_mpmd(self, settings: RunSettings) -> None:
        """Launch through an ERF, with ``settings`` as one more of its programs."""
        if self.colocated_db_settings:
            raise SSUnsupportedError("Colocated models cannot be run as a mpmd workload")
        self.mpmd.append(settings)

    def set_mpmd_preamble(self, preamble_lines: t.List[str]) -> None:
        """Lines at the top of the ERF (``overlapping-rs : allow``; a ``launch_distribution``
        line replaces the one taken from the run arguments, default ``packed``)."""
        self.mpmd_preamble_lines = preamble_lines

    def set_erf_sets(self, erf_sets: t.Dict[str, str]) -> None:
        """This program's ERF resource line: ``rank`` (or ``rank_count``), ``host``,
        ``cpu``, ``gpu``, ``memory`` (``{"host": "1", "cpu": "{0:21}, {21:21}"}``)."""
        self.erf_sets = copy.deepcopy(erf_sets)

    # -- formatting ----------------------------------------------------------------------
    def format_run_args(self) -> t.List[str]:
        """jsrun arguments: ``-k value`` for one-letter keys, ``--key=value`` otherwise;
        the working directory and output options are SmartSim's, and under an ERF the
        resource options are the file's."""
        restricted: t.Tuple[str, ...] = _JSRUN_LAUNCHER_ARGS
        if self.mpmd or "erf_input" in self.run_args:
            restricted += _JSRUN_ERF_ARGS
        return format_dash_args(self.run_args, restricted)

    def format_env_vars(self) -> t.List[str]:
        """``-E K=V`` per variable (``-E K`` for an empty value: jsrun passes the current one)."""
        formatted: t.List[str] = []
        for key, value in self.env_vars.items():
            formatted += ["-E", f"{key}={value}" if value else f"{key}"]
        return formatted

    def _prep_colocated_db(self, db_cpus: int) -> None:
        """A colocated database needs ``db_cpus`` CPUs in one resource set per host: raise
        ``cpu_per_rs``/``c`` to it and set ``rs_per_host``/``r`` to 1."""
        cpus_per_flag_set = False
        for flag in ("cpu_per_rs", "c"):
            value = self.run_args.get(flag, 0)
            if value:
                cpus_per_flag_set = True
                cpu_per_rs = int(value)
                if cpu_per_rs < db_cpus:
                    logger.info(f"{flag} flag was set to {cpu_per_rs}, but colocated DB requires "
                                f"{db_cpus} CPUs per RS. Automatically setting {flag} flag to "
                                f"{db_cpus}")
                    self.run_args[flag] = db_cpus
        if not cpus_per_flag_set:
            logger.info(f"Colocated DB requires {db_cpus} CPUs per RS. Automatically setting "
                        f"--cpus_per_rs=={db_cpus}")
            self.set_cpus_per_rs(db_cpus)

        rs_per_host_set = False
        for flag in ("rs_per_host", "r"):
            if flag in self.run_args:
                rs_per_host_set = True
                rs_per_host = self.run_args[flag]
                if rs_per_host != 1:
                    logger.info(f"{flag} flag was set to {rs_per_host}, but colocated DB requires "
                                f"running ONE resource set per host. Automatically setting "
                                f"{flag} flag to 1")
                    self.run_args[flag] = "1"
        if not rs_per_host_set:
            logger.info("Colocated DB requires one resource set per host.  Automatically setting "
                        "--rs_per_host==1")
            self.set_rs_per_host(1)

    def __str__(self) -> str:
        string = super().__str__()
        if self.mpmd:
            string += "\nERF settings: " + pformat(self.erf_sets)
        return string


class BsubBatchSettings(BatchSettings):
    """Parameters of an LSF batch job submitted with ``bsub``.

    ``time`` is ``-W`` (``hh:mm``; seconds of ``hh:mm:ss`` are dropped), ``project`` (or
    ``account``) ``-P``, ``nodes`` ``-nnodes``, ``smts`` the ``smt<n>`` allocation flag.
    """

    def __init__(
        self,
        nodes: t.Optional[int] = None,
        time: t.Optional[str] = None,
        project: t.Optional[str] = None,
        batch_args: t.Optional[t.Dict[str, t.Optional[str]]] = None,
        smts: int = 0,
        **kwargs: t.Any,
    ) -> None:
        self.project: t.Optional[str] = None
        if project:
            kwargs.pop("account", None)
        else:
            project = kwargs.pop("account", None)
        super().__init__("bsub", batch_args=batch_args, nodes=nodes, account=project, time=time,
                         **kwargs)
        self.smts = 0
        if smts:
            self.set_smts(smts)
        self.expert_mode = False
        self.easy_settings = ["ln_slots", "ln_mem", "cn_cu", "nnodes"]

    def set_walltime(self, walltime: t.Optional[str]) -> None:
        """``-W <hh:mm>`` (from ``hh:mm:ss`` the seconds are dropped)"""
        if walltime:
            parts = walltime.split(":")
            if len(parts) > 2:
                walltime = ":".join(parts[:2])
        self.walltime = walltime

    def set_smts(self, smts: int) -> None:
        """``-alloc_flags smt<n>``, unless the ``alloc_flags`` batch argument already names
        an SMT level"""
        self.smts = smts

    def set_project(self, project: t.Optional[str]) -> None:
        """``-P <project>`` (empty: unchanged)"""
        if project:
            self.project = project

    def set_account(self, account: t.Optional[str]) -> None:
        """Same as ``set_project``."""
        self.set_project(account)

    def set_nodes(self, num_nodes: int) -> None:
        """``-nnodes <n>`` (0 or None: unchanged)"""
        if num_nodes:
            self.batch_args["nnodes"] = str(int(num_nodes))

    def set_expert_mode_req(self, res_req: str, slots: int) -> None:
        """Expert mode: ``-csm y -R <res_req> -n <slots>``; the easy-mode allocation options
        (``-nnodes``, ``-ln_slots``, ``-ln_mem``, ``-cn_cu``) are then left out."""
        self.expert_mode = True
        self.batch_args["csm"] = "y"
        self.batch_args["R"] = res_req
        self.batch_args["n"] = str(slots)

    def set_hostlist(self, host_list: t.Union[str, t.List[str]]) -> None:
        """``-m "a b c"`` from a host name or a list of host names"""
        self.batch_args["m"] = '"' + " ".join(host_list_of(host_list)) + '"'

    def set_tasks(self, tasks: int) -> None:
        """``-n <tasks>``"""
        self.batch_args["n"] = str(int(tasks))

    def set_queue(self, queue: str) -> None:
        """``-q <queue>`` (empty: unchanged)"""
        if queue:
            self.batch_args["q"] = queue

    def _format_alloc_flags(self) -> None:
        """Add ``smt<n>`` to ``alloc_flags`` when ``smts`` is set and no SMT flag is there,
        and quote ``alloc_flags`` when it holds several flags (stored back in batch_args)."""
        if self.smts:
            if "alloc_flags" not in self.batch_args:
                self.batch_args["alloc_flags"] = f"smt{self.smts}"
            else:
                flags = (self.batch_args["alloc_flags"] or "").strip('"').split()
                if not any(flag.startswith("smt") for flag in flags):
                    flags.append(f"smt{self.smts}")
                    self.batch_args["alloc_flags"] = " ".join(flags)
        if "alloc_flags" in self.batch_args:
            flags = (self.batch_args["alloc_flags"] or "").strip('"').split()
            if len(flags) > 1:
                self.batch_args["alloc_flags"] = '"' + " ".join(flags) + '"'

    def format_batch_args(self) -> t.List[str]:
        """The ``#BSUB`` lines' options: ``-key value`` per batch argument (``-key`` for an
        empty value), ``alloc_flags`` completed with ``smt<n>``; ``-W`` and ``-P`` are not
        among them (they are ``walltime`` and ``project``)."""
        self._format_alloc_flags()
        opts: t.List[str] = []
        for opt, value in self.batch_args.items():
            if self.expert_mode and opt in self.easy_settings:
                continue
            opts.append(f"-{opt} {value}" if value else f"-{opt}")
        return opts
