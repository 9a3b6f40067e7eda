"""Factories behind ``Experiment.create_run_settings`` / ``create_batch_settings``."""
from __future__ import annotations

import shutil
import typing as t

from ..error import SmartSimError, SSUnsupportedError
from .base import BatchSettings, RunSettings
from .batch import BsubBatchSettings, QsubBatchSettings, SbatchSettings

_BATCH_BY_LAUNCHER: t.Dict[str, t.Type[BatchSettings]] = {
    "slurm": SbatchSettings,
    "pbs": QsubBatchSettings,
    "lsf": BsubBatchSettings,
}


def create_run_settings(launcher: str, exe: str, exe_args: t.Optional[t.List[str]] = None,
                        run_command: str = "auto", run_args: t.Optional[t.Dict[str, t.Any]] = None,
                        env_vars: t.Optional[t.Dict[str, t.Optional[str]]] = None,
                        container: t.Any = None, **kwargs: t.Any) -> RunSettings:
    """Run settings for ``launcher``; ``run_command="auto"`` launches locally for the local
    launcher (MPI and scheduler run commands arrive with the launch issues)."""
    command = "" if run_command in ("auto", None) else run_command
    if command and not shutil.which(command):
        # an explicit launch binary that is not installed is still accepted, as SmartSim does
        pass
    return RunSettings(exe, exe_args, run_command=command, run_args=run_args, env_vars=env_vars,
                       container=container, **kwargs)


def create_batch_settings(launcher: str, nodes: int = 1, time: str = "", queue: str = "",
                          account: str = "", batch_args: t.Optional[t.Dict[str, str]] = None,
                          **kwargs: t.Any) -> BatchSettings:
    """Batch settings for ``launcher`` (``sbatch``, ``qsub`` or ``bsub``)."""
    if launcher == "local":
        raise SmartSimError("Local launcher does not support batch workloads")
    try:
        cls = _BATCH_BY_LAUNCHER[launcher]
    except KeyError:
        raise SSUnsupportedError(
            f"User attempted to make batch settings for unsupported launcher {launcher!r}; "
            f"expected one of {sorted(_BATCH_BY_LAUNCHER)}") from None
    return cls(nodes=nodes, time=time, queue=queue, account=account, batch_args=batch_args, **kwargs)
