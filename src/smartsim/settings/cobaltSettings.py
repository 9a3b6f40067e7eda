"""Cobalt batch settings: ``qsub`` (``CobaltBatchSettings``).

SmartSim 0.8 dropped Cobalt (it went in 0.6.0); this class keeps SmartSim 0.5.1's
``smartsim.settings.cobaltSettings.CobaltBatchSettings``: the same names, setters and
formatting, batch arguments stored without dashes and written ``-k value`` (two items)
for one-letter keys, ``--key value`` (one item) for longer ones, the bare flag for a falsy
value. Nodes, walltime, queue and account are Cobalt's long options ``--nodecount``,
``--time``, ``--queue``, ``--project`` (``-n``, ``-t``, ``-q``, ``-A``); hosts are
``--attrs location=a,b``. The options the batch script sets itself (output and error
files, output prefix, working directory, job name) are never formatted.
"""
from __future__ import annotations

import typing as t

from .base import BatchSettings, format_dash_args, host_list_of

# options the batch script sets: output files, output prefix, working directory, job name
_SCRIPT_OPTIONS = ("o", "output", "O", "outputprefix", "e", "error", "cwd", "jobname")


class CobaltBatchSettings(BatchSettings):
    """Parameters of a Cobalt batch job submitted with ``qsub``.

    ``nodes``, ``time``, ``queue`` and ``account`` override the same options in
    ``batch_args`` (``{"attrs": "mcdram=cache"}``; ``None`` as the value of a flag).
    """

    def __init__(
        self,
        nodes: t.Optional[int] = None,
        time: str = "",
        queue: t.Optional[str] = None,
        account: t.Optional[str] = None,
        batch_args: t.Optional[t.Dict[str, t.Optional[str]]] = None,
        **kwargs: t.Any,
    ) -> None:
        super().__init__("qsub", batch_args=batch_args, **kwargs)
        # in SmartSim 0.5.1's order: nodes, walltime, queue, account
        self.set_nodes(nodes)  # type: ignore[arg-type]
        self.set_walltime(time)
        self.set_queue(queue)  # type: ignore[arg-type]
        self.set_account(account)

    def set_walltime(self, walltime: t.Optional[str]) -> None:
        """``--time <HH:MM:SS>`` (or a number of minutes; empty: unchanged)"""
        if walltime:
            self.batch_args["time"] = walltime

    def set_nodes(self, num_nodes: int) -> None:
        """``--nodecount <n>`` (0 or None: unchanged)"""
        if num_nodes:
            self.batch_args["nodecount"] = str(int(num_nodes))

    def set_hostlist(self, host_list: t.Union[str, t.List[str]]) -> None:
        """``--attrs location=a,b`` from a host name or a list of host names"""
        self.batch_args["attrs"] = "location=" + ",".join(host_list_of(host_list))

    def set_tasks(self, num_tasks: int) -> None:
        """``--proccount <n>``"""
        self.batch_args["proccount"] = str(int(num_tasks))

    def set_queue(self, queue: str) -> None:
        """``--queue <queue>`` (empty: unchanged)"""
        if queue:
            self.batch_args["queue"] = str(queue)

    def set_account(self, account: t.Optional[str]) -> None:
        """``--project <account>`` (empty: unchanged)"""
        if account:
            self.batch_args["project"] = account

    def format_batch_args(self) -> t.List[str]:
        """The ``#COBALT`` lines' options: ``-k value`` for one-letter keys, ``--key value``
        otherwise, without the options the batch script sets itself."""
        return format_dash_args(self.batch_args, restricted=_SCRIPT_OPTIONS, long_sep=" ")
