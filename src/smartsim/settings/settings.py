"""Factories behind ``Experiment.create_run_settings`` / ``create_batch_settings``."""
from __future__ import annotations

import typing as t

from .._core.utils.helpers import is_valid_cmd
from ..error import SmartSimError
from .alpsSettings import AprunSettings
from .base import BatchSettings, RunSettings
from .cobaltSettings import CobaltBatchSettings
from .lsfSettings import BsubBatchSettings, JsrunSettings
from .mpiSettings import LocalRunSettings, MpiexecSettings, MpirunSettings, OrterunSettings
from .palsSettings import PalsMpiexecSettings
from .pbsSettings import QsubBatchSettings
from .sgeSettings import SgeQsubBatchSettings
from .slurmSettings import SbatchSettings, SrunSettings

# as SmartSim 0.8 (``pals`` submits with PBS's qsub), plus Cobalt as SmartSim 0.5.1 had it
_BATCH_BY_LAUNCHER: t.Dict[str, t.Type[BatchSettings]] = {
    "pbs": QsubBatchSettings,
    "slurm": SbatchSettings,
    "lsf": BsubBatchSettings,
    "pals": QsubBatchSettings,
    "sge": SgeQsubBatchSettings,
    "cobalt": CobaltBatchSettings,
}

# run commands with their own settings class (a name, not a path, as SmartSim matches them)
_RUN_BY_COMMAND: t.Dict[str, t.Type[RunSettings]] = {
    "aprun": AprunSettings,
    "srun": SrunSettings,
    "mpirun": MpirunSettings,
    "mpiexec": MpiexecSettings,
    "orterun": OrterunSettings,
    "jsrun": JsrunSettings,
}

# run_command="auto": the first of these found on PATH, in SmartSim 0.8's order of preference
# (Cobalt's as SmartSim 0.5.1)
_AUTO_RUN_COMMANDS: t.Dict[str, t.List[str]] = {
    "slurm": ["srun", "mpirun", "mpiexec"],
    "pbs": ["aprun", "mpirun", "mpiexec"],
    "pals": ["mpiexec"],
    "lsf": ["jsrun", "mpirun", "mpiexec"],
    "sge": ["mpirun", "mpiexec"],
    "cobalt": ["aprun", "mpirun", "mpiexec"],
}


def _run_settings_class(command: str, launcher: str) -> t.Optional[t.Type[RunSettings]]:
    """The settings class of a run command (``mpiexec`` is PALS's under ``pals``)."""
    if command == "mpiexec" and launcher == "pals":
        return PalsMpiexecSettings
    return _RUN_BY_COMMAND.get(command)


def _detect_launcher() -> str:
    from .._core.launcher.base import detect_launcher  # pylint: disable=import-outside-toplevel

    return detect_launcher()


def _detect_run_command(launcher: str) -> str:
    candidates = _AUTO_RUN_COMMANDS[launcher]
    for command in candidates:
        if is_valid_cmd(command):
            return command
    raise SmartSimError(
        "Could not automatically detect a run command to use for launcher "
        f"{launcher}\nSearched for and could not find the following commands: {candidates}")


def create_run_settings(launcher: str, exe: str, exe_args: t.Optional[t.List[str]] = None,
                        run_command: str = "auto", run_args: t.Optional[t.Dict[str, t.Any]] = None,
                        env_vars: t.Optional[t.Dict[str, t.Optional[str]]] = None,
                        container: t.Any = None, **kwargs: t.Any) -> RunSettings:
    """Run settings for ``launcher`` (``"auto"``: the workload manager found here).

    ``run_command="auto"``:

    - ``local``: ``LocalRunSettings``: the executable runs directly, or through
      ``mpirun``/``mpiexec`` (whichever is on PATH) once ``set_tasks(n)`` asks for more
      than one process;
    - the schedulers: the first found on PATH of (``SmartSimError`` when none is)
      ``slurm``: ``srun``, ``mpirun``, ``mpiexec``; ``pbs``: ``aprun``, ``mpirun``,
      ``mpiexec``; ``pals``: ``mpiexec``; ``lsf``: ``jsrun``, ``mpirun``, ``mpiexec``;
      ``sge``: ``mpirun``, ``mpiexec``; ``cobalt``: ``aprun``, ``mpirun``, ``mpiexec``;
    - any other launcher (one registered by name): ``RunSettings`` without a run command.

    A run command named ``aprun``, ``srun``, ``mpirun``, ``mpiexec``, ``orterun`` or ``jsrun``
    (any case) gives its settings class whatever the launcher (``mpiexec`` under ``pals``:
    ``PalsMpiexecSettings``); any other (or a path) gives ``RunSettings`` with that launch
    binary, accepted even when it is not installed here, as SmartSim does.
    """
    launcher = launcher.lower()
    if launcher == "auto":
        launcher = _detect_launcher()
    command = run_command.lower() if isinstance(run_command, str) else run_command
    if command == "auto" or command is None and launcher == "local":
        if launcher == "local":
            return LocalRunSettings(exe, exe_args, run_args=run_args, env_vars=env_vars,
                                    container=container, **kwargs)
        if launcher in _AUTO_RUN_COMMANDS:
            run_command = command = _detect_run_command(launcher)
        else:
            # a launcher registered by name: it runs the executable as it is
            run_command = command = ""
    settings_cls = _run_settings_class(command, launcher) if command else None
    if settings_cls is not None:
        return settings_cls(exe, exe_args, run_args=run_args, env_vars=env_vars,
                            container=container, **kwargs)
    return RunSettings(exe, exe_args, run_command=run_command or "", run_args=run_args,
                       env_vars=env_vars, container=container, **kwargs)


def create_batch_settings(launcher: str, nodes: t.Optional[int] = None, time: str = "",
                          queue: t.Optional[str] = None, account: t.Optional[str] = None,
                          batch_args: t.Optional[t.Mapping[str, t.Optional[str]]] = None,
                          **kwargs: t.Any) -> BatchSettings:
    """Batch settings for ``launcher`` (``"auto"``: the workload manager found here):
    ``slurm``: ``SbatchSettings``; ``pbs`` and ``pals``: ``QsubBatchSettings``; ``lsf``:
    ``BsubBatchSettings``; ``sge``: ``SgeQsubBatchSettings``; ``cobalt``:
    ``CobaltBatchSettings``; ``local``: ``SmartSimError``."""
    launcher = launcher.lower()
    if launcher == "auto":
        launcher = _detect_launcher()
    if launcher == "local":
        raise SmartSimError("Local launcher does not support batch workloads")
    try:
        cls = _BATCH_BY_LAUNCHER[launcher]
    except KeyError:
        raise SmartSimError(
            f"User attempted to make batch settings for unsupported launcher {launcher}") from None
    return cls(nodes=nodes, time=time, queue=queue, account=account,
               batch_args=dict(batch_args) if batch_args else None, **kwargs)
