"""Factories behind ``Experiment.create_run_settings`` / ``create_batch_settings``."""
from __future__ import annotations

import os
import typing as t

from ..error import SmartSimError, SSUnsupportedError
from .base import BatchSettings, RunSettings
from .batch import BsubBatchSettings, QsubBatchSettings, SbatchSettings
from .mpiSettings import LocalRunSettings, MpiexecSettings, MpirunSettings, OrterunSettings

_BATCH_BY_LAUNCHER: t.Dict[str, t.Type[BatchSettings]] = {
    "slurm": SbatchSettings,
    "pbs": QsubBatchSettings,
    "lsf": BsubBatchSettings,
}


_MPI_BY_COMMAND: t.Dict[str, t.Type[RunSettings]] = {
    "mpirun": MpirunSettings,
    "mpiexec": MpiexecSettings,
    "orterun": OrterunSettings,
}


def create_run_settings(launcher: str, exe: str, exe_args: t.Optional[t.List[str]] = None,
                        run_command: str = "auto", run_args: t.Optional[t.Dict[str, t.Any]] = None,
                        env_vars: t.Optional[t.Dict[str, t.Optional[str]]] = None,
                        container: t.Any = None, **kwargs: t.Any) -> RunSettings:
    """Run settings for ``launcher``.

    ``run_command="auto"`` on the local launcher gives ``LocalRunSettings``: the executable
    runs directly, or through ``mpirun``/``mpiexec`` (whichever is on PATH) once
    ``set_tasks(n)`` asks for more than one process. ``mpirun``/``mpiexec``/``orterun``
    give the matching MPI settings (``--key value`` run args, ``-x K=V`` env).
    (Scheduler run commands arrive with the launch issues of those launchers.)
    """
    command = run_command.lower() if isinstance(run_command, str) else run_command
    if command in ("auto", None):
        if launcher == "local":
            return LocalRunSettings(exe, exe_args, run_args=run_args, env_vars=env_vars,
                                    container=container, **kwargs)
        command = ""
    mpi_cls = _MPI_BY_COMMAND.get(os.path.basename(command)) if command else None
    if mpi_cls is not None and os.path.basename(command) == command:
        return mpi_cls(exe, exe_args, run_args=run_args, env_vars=env_vars, container=container,
                       **kwargs)
    # an explicit launch binary that is not installed is still accepted, as SmartSim does
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
