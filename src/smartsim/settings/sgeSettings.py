"""Sun/Univa Grid Engine batch settings: ``qsub`` (``SgeQsubBatchSettings``).

Names, setters, validation and formatting follow SmartSim 0.8 (``smartsim.settings.
sgeSettings``). Grid Engine asks for slots of a parallel environment, not for nodes or
hosts: ``set_ncpus`` and ``set_pe_type`` together give ``-pe <type> <n>``; context
variables (``-ac``/``-sc``/``-dc``) follow in the order they were given, then the other
resources as ``-l key=value``, then ``-v K=V`` variables, then the batch arguments as
``-key value``.
"""
from __future__ import annotations

import typing as t

from ..error import LauncherUnsupportedFeature, SSConfigError
from ..log import get_logger
from .base import BatchSettings
from .pbsSettings import check_resources, format_dash_key_value, resources_copy

logger = get_logger(__name__)

_Resources = t.Dict[str, t.Union[str, int]]


class SgeQsubBatchSettings(BatchSettings):
    """Parameters of a Grid Engine batch job submitted with ``qsub``.

    ``time`` is the ``h_rt`` resource, ``ncpus`` and ``pe_type`` the parallel environment,
    ``account`` ``-A``; ``shebang`` is the batch script's first line. ``nodes`` is accepted
    (as 0) and ignored, a ``queue`` is refused: Grid Engine chooses both.
    """

    def __init__(
        self,
        time: t.Optional[str] = None,
        ncpus: t.Optional[int] = None,
        pe_type: t.Optional[str] = None,
        account: t.Optional[str] = None,
        shebang: str = "#!/bin/bash -l",
        resources: t.Optional[_Resources] = None,
        batch_args: t.Optional[t.Dict[str, t.Optional[str]]] = None,
        **kwargs: t.Any,
    ) -> None:
        if "nodes" in kwargs:
            kwargs["nodes"] = 0
        self.resources = resources  # type: ignore[assignment]
        if ncpus:
            self.set_ncpus(ncpus)
        if pe_type:
            self.set_pe_type(pe_type)
        self.set_shebang(shebang)
        super().__init__("qsub", batch_args=batch_args, account=account, time=time, **kwargs)
        self._context_variables: t.List[str] = []
        self._env_vars: t.Dict[str, str] = {}

    # -- resources -----------------------------------------------------------------------
    @property
    def resources(self) -> _Resources:
        """A copy of the resource requests: change them with ``set_resource``."""
        return self._resources.copy()

    @resources.setter
    def resources(self, resources: _Resources) -> None:
        resources = resources_copy(resources)
        check_resources(resources, select_or_nodes=False)
        self._resources = resources

    def set_resource(self, resource_name: str, value: t.Union[str, int]) -> None:
        """``-l <resource_name>=<value>`` (``ncpus``/``pe_type`` make ``-pe``)"""
        updated = self.resources
        updated[resource_name] = value
        self.resources = updated

    def set_walltime(self, walltime: t.Optional[str]) -> None:
        """The ``h_rt`` resource: ``-l h_rt=<HH:MM:SS>`` (empty: unchanged)"""
        if walltime:
            self.set_resource("h_rt", walltime)

    def set_ncpus(self, num_cpus: t.Union[int, str]) -> None:
        """Slots of the parallel environment: ``-pe <pe_type> <n>``"""
        self.set_resource("ncpus", int(num_cpus))

    def set_pe_type(self, pe_type: str) -> None:
        """The parallel environment (``mpi``, ``smp``, ...): ``-pe <pe_type> <ncpus>``"""
        if pe_type:
            self.set_resource("pe_type", pe_type)

    def set_ngpus(self, num_gpus: t.Union[int, str]) -> None:
        """``-l gpu=<n>``"""
        self.set_resource("gpu", num_gpus)

    def set_hyperthreading(self, enable: bool = True) -> None:
        """``-l threads=1`` (``threads=0`` to disable)"""
        self.set_resource("threads", int(enable))

    def set_memory_per_pe(self, memory_spec: str) -> None:
        """``-l mem=<spec>`` (``2G``)"""
        self.set_resource("mem", memory_spec)

    def set_threads_per_pe(self, threads_per_core: int) -> None:
        """``-v OMP_NUM_THREADS=<n>``"""
        self._env_vars["OMP_NUM_THREADS"] = str(threads_per_core)

    def update_context_variables(self, action: t.Literal["ac", "sc", "dc"], var_name: str,
                                 value: t.Optional[t.Union[int, str]] = None) -> None:
        """Add (``ac``), set (``sc``) or delete (``dc``) a context variable:
        ``-<action> <var_name>[=<value>]``, kept in the order of the calls."""
        if action not in ["ac", "sc", "dc"]:
            raise ValueError("The action argument must be ac, sc, or dc")
        if action == "dc" and value:
            raise SSConfigError("When using the 'dc' action, value should not be set")
        command = f"-{action} {var_name}"
        if value:
            command += f"={value}"
        self._context_variables.append(command)

    # -- batch arguments -----------------------------------------------------------------
    def set_shebang(self, shebang: str) -> None:
        """The batch script's interpreter line (``#!/bin/bash -l``)"""
        self.shebang = shebang

    def set_account(self, account: t.Optional[str]) -> None:
        """``-A <account>`` (empty: unchanged)"""
        if account:
            self.batch_args["A"] = str(account)

    def set_project(self, project: t.Optional[str]) -> None:
        """``-P <project>`` (empty: unchanged)"""
        if project:
            self.batch_args["P"] = str(project)

    # -- what Grid Engine does not take --------------------------------------------------
    def set_nodes(self, num_nodes: t.Optional[int]) -> None:
        """Refused for any number but 0/None: Grid Engine allocates slots, not nodes."""
        if num_nodes:
            raise LauncherUnsupportedFeature("SGE does not support setting the number of nodes")

    def set_hostlist(self, host_list: t.Union[str, t.List[str]]) -> None:
        """Refused: Grid Engine batch jobs cannot ask for hosts."""
        raise LauncherUnsupportedFeature("SGE does not support requesting specific hosts in batch jobs")

    def set_queue(self, queue: str) -> None:
        """Refused: Grid Engine chooses the queue."""
        raise LauncherUnsupportedFeature("SGE does not support specifying queues")

    # -- formatting ----------------------------------------------------------------------
    def _create_resource_list(self) -> t.List[str]:
        check_resources(self._resources, select_or_nodes=False)
        resources = self.resources
        ncpus = resources.pop("ncpus", None)
        pe_type = resources.pop("pe_type", None)
        if (pe_type is None and ncpus) or (pe_type and ncpus is None):
            raise SSConfigError(f"ncpus={ncpus!r} and pe_type={pe_type!r} must both be set. "
                                "Call set_ncpus and/or set_pe_type.")
        request: t.List[str] = []
        if pe_type and ncpus:
            request.append(f"-pe {pe_type} {ncpus}")
        request += self._context_variables
        request += [f"-l {name}={value}" for name, value in resources.items()]
        request += [f"-v {key}={value}" for key, value in self._env_vars.items()]
        return request

    def format_batch_args(self) -> t.List[str]:
        """The ``#$`` lines' options: ``-pe``, context variables, ``-l`` requests, ``-v``
        variables, then ``-key value`` per batch argument (``ValueError`` for an option
        without a value)."""
        return self._create_resource_list() + format_dash_key_value(self.batch_args, "SGE")
