"""PBS Pro batch settings: ``qsub`` (``QsubBatchSettings``).

Names, setters, validation and formatting follow SmartSim 0.8 (``smartsim.settings.
pbsSettings``). Resources are ``-l`` requests: the node request comes first, written
``-l select=N`` when the ``select`` resource is set, else ``-l nodes=N`` (what ``nodes=`` /
``set_nodes`` ask for), followed by ``:ncpus=<n>`` and ``:host=a+host=b`` when set; every
other resource follows as ``-l key=value`` in the order it was set. Batch arguments are
``-key value`` (one item, one dash whatever the key's length); PBS takes no valueless
options, so a falsy value is refused when formatting.
"""
from __future__ import annotations

import typing as t

from ..error import SSConfigError
from ..log import get_logger
from .base import BatchSettings, host_list_of

logger = get_logger(__name__)

_Resources = t.Dict[str, t.Union[str, int]]


def check_resources(resources: t.Mapping[t.Any, t.Any], select_or_nodes: bool = True) -> None:
    """Refuse resources PBS/SGE cannot take: keys must be str and values int or str; with
    ``select_or_nodes``, ``select`` and ``nodes`` must be ints and not both set."""
    if select_or_nodes:
        has_select = resources.get("select", None)
        has_nodes = resources.get("nodes", None)
        if has_select and has_nodes:
            raise SSConfigError(
                "'select' and 'nodes' cannot both be specified. This can happen if nodes were "
                "specified using the 'set_nodes' method and 'select' was set using "
                "'set_resource'. Please only specify one.")
        if has_select and not isinstance(has_select, int):
            raise TypeError("The value for 'select' must be an integer")
        if has_nodes and not isinstance(has_nodes, int):
            raise TypeError("The value for 'nodes' must be an integer")
    for key, value in resources.items():
        if not isinstance(key, str):
            raise TypeError(f"The type of key={key!r} is {type(key)}. Only int and str are allowed.")
        if not isinstance(value, (str, int)):
            raise TypeError(f"The value associated with key={key!r} is {type(value)}. Only int "
                            "and str are allowed.")


def resources_copy(resources: t.Any) -> _Resources:
    """A copy of a resources mapping (``None`` or empty: ``{}``)."""
    if not resources:
        return {}
    if not isinstance(resources, dict):
        # (0.8 fails here with an AttributeError on the half-made settings)
        raise TypeError(f"resources must be a dict of str to int or str, got {type(resources)}")
    return dict(resources)


def format_dash_key_value(batch_args: t.Mapping[str, t.Any], wlm: str) -> t.List[str]:
    """``-key value`` for every batch argument; a falsy value is refused
    (``ValueError: <wlm> options without values are not allowed``)."""
    opts: t.List[str] = []
    for opt, value in batch_args.items():
        if not value:
            raise ValueError(f"{wlm} options without values are not allowed")
        opts.append(f"-{opt} {value}")
    return opts


class QsubBatchSettings(BatchSettings):
    """Parameters of a PBS Pro batch job submitted with ``qsub``.

    ``nodes`` and ``ncpus`` make the node request (``-l nodes=N:ncpus=M``); a ``select``
    resource replaces ``nodes`` (giving both is an error). ``resources`` are further ``-l``
    requests (``{"place": "scatter"}``), ``batch_args`` further options without their dash.
    """

    def __init__(
        self,
        nodes: t.Optional[int] = None,
        ncpus: t.Optional[int] = None,
        time: t.Optional[str] = None,
        queue: t.Optional[str] = None,
        account: t.Optional[str] = None,
        resources: t.Optional[_Resources] = None,
        batch_args: t.Optional[t.Dict[str, t.Optional[str]]] = None,
        **kwargs: t.Any,
    ) -> None:
        self._ncpus = ncpus
        self.resources = resources  # type: ignore[assignment]
        if nodes and self._resources.get("nodes", None):
            raise ValueError("nodes was incorrectly specified as a constructor parameter and also "
                             "as a key in the resource mapping")
        super().__init__("qsub", batch_args=batch_args, nodes=nodes, account=account, queue=queue,
                         time=time, **kwargs)
        self._hosts: t.List[str] = []

    # -- resources -----------------------------------------------------------------------
    @property
    def resources(self) -> _Resources:
        """A copy of the ``-l`` requests: change them with ``set_resource``."""
        return self._resources.copy()

    @resources.setter
    def resources(self, resources: _Resources) -> None:
        resources = resources_copy(resources)
        check_resources(resources)
        self._resources = resources

    def set_resource(self, resource_name: str, value: t.Union[str, int]) -> None:
        """``-l <resource_name>=<value>`` (``select`` and ``nodes`` build the node request)"""
        updated = self.resources
        updated[resource_name] = value
        self.resources = updated

    def set_nodes(self, num_nodes: int) -> None:
        """The ``nodes`` resource: ``-l nodes=<n>`` (0 or None: unchanged)"""
        if num_nodes:
            self.set_resource("nodes", num_nodes)

    def set_ncpus(self, num_cpus: t.Union[int, str]) -> None:
        """``:ncpus=<n>`` on the node request"""
        self._ncpus = int(num_cpus)

    def set_hostlist(self, host_list: t.Union[str, t.List[str]]) -> None:
        """``:host=a+host=b`` on the node request, from a host name or a list of them"""
        self._hosts = host_list_of(host_list, "host_list argument must be a list of strings")

    def set_walltime(self, walltime: t.Optional[str]) -> None:
        """The ``walltime`` resource: ``-l walltime=<HH:MM:SS>`` (empty: unchanged)"""
        if walltime:
            self.set_resource("walltime", walltime)

    # -- batch arguments -----------------------------------------------------------------
    def set_queue(self, queue: str) -> None:
        """``-q <queue>`` (empty: unchanged)"""
        if queue:
            self.batch_args["q"] = str(queue)

    def set_account(self, account: t.Optional[str]) -> None:
        """``-A <account>`` (empty: unchanged)"""
        if account:
            self.batch_args["A"] = str(account)

    # -- formatting ----------------------------------------------------------------------
    def _create_resource_list(self) -> t.List[str]:
        check_resources(self._resources)
        resources = self.resources
        select = resources.pop("select", None)
        if select:
            request = f"-l select={select}"
        else:
            nodes = resources.pop("nodes", None)
            if not nodes:
                raise SSConfigError("Insufficient resource specification: no nodes or select "
                                    "statement")
            request = f"-l nodes={nodes}"
        if self._ncpus:
            request += f":ncpus={self._ncpus}"
        if self._hosts:
            request += ":" + "+".join(f"host={host}" for host in self._hosts)
        return [request] + [f"-l {name}={value}" for name, value in resources.items()]

    def format_batch_args(self) -> t.List[str]:
        """The ``#PBS`` lines' options: the ``-l`` requests, then ``-key value`` per batch
        argument (``SSConfigError`` without a node request, ``ValueError`` for an option
        without a value)."""
        return self._create_resource_list() + format_dash_key_value(self.batch_args, "PBS")
