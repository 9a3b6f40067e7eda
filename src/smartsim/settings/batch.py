"""Batch settings of the workload managers: PBS ``qsub``, LSF ``bsub`` (Slurm ``sbatch``
lives in ``slurmSettings`` and is re-exported here)."""
from __future__ import annotations

import typing as t

from .base import BatchSettings
from .slurmSettings import SbatchSettings  # kept importable from here

__all__ = ["SbatchSettings", "QsubBatchSettings", "BsubBatchSettings"]


def _hostlist(host_list: t.Union[str, t.List[str]]) -> str:
    if isinstance(host_list, str):
        host_list = [host_list.strip()]
    if not isinstance(host_list, list) or not all(isinstance(h, str) for h in host_list):
        raise TypeError(f"host_list must be a str or a list of str, got {host_list!r}")
    return ",".join(host_list)


class QsubBatchSettings(BatchSettings):
    """PBS ``qsub`` settings (``-l select=N[:ncpus=M]``, ``-l walltime=``, ``-q``, ``-A``)."""

    def __init__(self, nodes: t.Optional[int] = None, ncpus: t.Optional[int] = None,
                 time: t.Optional[str] = None, queue: t.Optional[str] = None,
                 account: t.Optional[str] = None, resources: t.Optional[t.Dict[str, t.Any]] = None,
                 batch_args: t.Optional[t.Dict[str, t.Optional[str]]] = None, **kwargs: t.Any) -> None:
        self._ncpus = ncpus
        self.resources = dict(resources or {})
        super().__init__("qsub", batch_args=batch_args, nodes=nodes, account=account, queue=queue,
                         time=time, **kwargs)

    def set_nodes(self, num_nodes: int) -> None:
        if num_nodes:
            self.resources["select"] = int(num_nodes)

    def set_walltime(self, walltime: t.Optional[str]) -> None:
        if walltime:
            self.resources["walltime"] = walltime

    def set_queue(self, queue: str) -> None:
        if queue:
            self.batch_args["q"] = str(queue)

    def set_ncpus(self, num_cpus: int) -> None:
        self._ncpus = int(num_cpus)

    def set_account(self, account: t.Optional[str]) -> None:
        if account:
            self.batch_args["A"] = str(account)

    def set_resource(self, resource_name: str, value: t.Any) -> None:
        self.resources[resource_name] = value

    def set_hostlist(self, host_list: t.Union[str, t.List[str]]) -> None:
        self.resources["host"] = _hostlist(host_list)

    def format_batch_args(self) -> t.List[str]:
        opts = []
        for key, value in self.resources.items():
            if key == "select" and self._ncpus:
                opts.append(f"-l select={value}:ncpus={self._ncpus}")
            else:
                opts.append(f"-l {key}={value}")
        for opt, value in self.batch_args.items():
            prefix = "-" if len(opt) == 1 else "--"
            opts.append(prefix + opt if not value else f"{prefix}{opt} {value}")
        return opts


class BsubBatchSettings(BatchSettings):
    """LSF ``bsub`` settings (``-W``, ``-P``, ``-nnodes``, ``-q``)."""

    def __init__(self, nodes: t.Optional[int] = None, time: t.Optional[str] = None,
                 project: t.Optional[str] = None, batch_args: t.Optional[t.Dict[str, t.Optional[str]]] = None,
                 smts: int = 0, **kwargs: t.Any) -> None:
        self.project = project
        self.walltime: t.Optional[str] = None
        self.smts = smts
        super().__init__("bsub", batch_args=batch_args, nodes=nodes, time=time,
                         account=kwargs.pop("account", project), **kwargs)

    def set_walltime(self, walltime: t.Optional[str]) -> None:
        if walltime:
            # LSF takes hh:mm
            parts = walltime.split(":")
            self.walltime = ":".join(parts[:2]) if len(parts) == 3 else walltime

    def set_nodes(self, num_nodes: int) -> None:
        if num_nodes:
            self.batch_args["nnodes"] = str(int(num_nodes))

    def set_project(self, project: str) -> None:
        if project:
            self.project = project

    def set_account(self, account: t.Optional[str]) -> None:
        self.set_project(account or "")

    def set_queue(self, queue: str) -> None:
        if queue:
            self.batch_args["q"] = queue

    def set_hostlist(self, host_list: t.Union[str, t.List[str]]) -> None:
        self.batch_args["m"] = '"' + " ".join(_hostlist(host_list).split(",")) + '"'

    def format_batch_args(self) -> t.List[str]:
        opts = []
        if self.walltime:
            opts += ["-W", self.walltime]
        if self.project:
            opts += ["-P", self.project]
        for opt, value in self.batch_args.items():
            opts.append("-" + opt if not value else f"-{opt} {value}")
        return opts
