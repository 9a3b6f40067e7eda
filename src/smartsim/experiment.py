"""``Experiment``: the factory and control facade of a driver script."""
from __future__ import annotations

import os
import shutil
import typing as t

from ._core.generation.generator import Generator
from .entity import Ensemble, Model
from .error import SSUnsupportedError
from .log import get_logger
from .settings import settings as _settings
from .settings.base import BatchSettings, RunSettings

logger = get_logger(__name__)

LAUNCHERS = ("local", "slurm", "pbs", "lsf", "cobalt", "auto")


def detect_launcher() -> str:
    """The workload manager found on PATH, else ``local``."""
    if shutil.which("sbatch") and shutil.which("srun"):
        return "slurm"
    if shutil.which("bsub"):
        return "lsf"
    qsub = shutil.which("qsub")
    if qsub:
        if shutil.which("qstat") and not shutil.which("cqstat"):
            return "pbs"
        return "cobalt"
    return "local"


class Experiment:
    """A driver script's handle: creates entities, generates their directories, runs them."""

    def __init__(self, name: str, exp_path: t.Optional[t.Union[str, os.PathLike]] = None,
                 launcher: str = "local") -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"Experiment name must be a non-empty str, got {name!r}")
        self.name = name
        if exp_path is not None and not isinstance(exp_path, (str, os.PathLike)):
            raise TypeError(f"exp_path must be a str or PathLike, got {type(exp_path).__name__}: {exp_path!r}")
        path = os.path.abspath(os.fspath(exp_path) if exp_path is not None else os.path.join(os.getcwd(), name))
        if not isinstance(launcher, str) or launcher.lower() not in LAUNCHERS:
            raise SSUnsupportedError(f"Launcher type not supported: {launcher!r}; expected one of "
                                     f"{', '.join(LAUNCHERS)}")
        if os.path.exists(path) and not os.path.isdir(path):
            raise NotADirectoryError(f"Experiment path {path} exists and is not a directory")
        os.makedirs(path, exist_ok=True)
        self.exp_path = path
        launcher = launcher.lower()
        self._launcher = detect_launcher() if launcher == "auto" else launcher

    # -- factories ---------------------------------------------------------------------
    def create_run_settings(self, exe: str, exe_args: t.Optional[t.List[str]] = None,
                            run_command: str = "auto", run_args: t.Optional[t.Dict[str, t.Any]] = None,
                            env_vars: t.Optional[t.Dict[str, t.Optional[str]]] = None,
                            container: t.Any = None, **kwargs: t.Any) -> RunSettings:
        """Run settings for this experiment's launcher."""
        return _settings.create_run_settings(self._launcher, exe, exe_args=exe_args,
                                             run_command=run_command, run_args=run_args,
                                             env_vars=env_vars, container=container, **kwargs)

    def create_batch_settings(self, nodes: int = 1, time: str = "", queue: str = "", account: str = "",
                              batch_args: t.Optional[t.Dict[str, str]] = None,
                              **kwargs: t.Any) -> BatchSettings:
        """Batch settings for this experiment's launcher (the local launcher has none)."""
        return _settings.create_batch_settings(self._launcher, nodes=nodes, time=time, queue=queue,
                                               account=account, batch_args=batch_args, **kwargs)

    def create_model(self, name: str, run_settings: RunSettings, params: t.Optional[t.Dict[str, t.Any]] = None,
                     path: t.Optional[str] = None, enable_key_prefixing: bool = False,
                     batch_settings: t.Optional[BatchSettings] = None) -> Model:
        """A ``Model`` whose directory defaults to ``exp_path/name``."""
        if path is None:
            path = os.path.join(self.exp_path, name)
        model = Model(name, params or {}, run_settings, path=path, batch_settings=batch_settings)
        if enable_key_prefixing:
            model.enable_key_prefixing()
        return model

    def create_ensemble(self, name: str, params: t.Optional[t.Dict[str, t.Any]] = None,
                        batch_settings: t.Optional[BatchSettings] = None,
                        run_settings: t.Optional[RunSettings] = None, replicas: t.Optional[int] = None,
                        perm_strategy: t.Union[str, t.Callable[..., t.Any]] = "all_perm",
                        path: t.Optional[str] = None, **kwargs: t.Any) -> Ensemble:
        """An ``Ensemble`` expanded from ``params`` with ``perm_strategy``, or ``replicas`` copies.

        kwargs: ``params_as_args`` (list of param names), ``n_models`` and ``seed`` for ``random``.
        """
        if path is None:
            path = os.path.join(self.exp_path, name)
        return Ensemble(name, params or {}, path=path, batch_settings=batch_settings,
                        run_settings=run_settings, perm_strat=perm_strategy, replicas=replicas, **kwargs)

    # -- generation ---------------------------------------------------------------------
    def generate(self, *args: t.Any, tag: t.Optional[str] = None, overwrite: bool = False,
                 verbose: bool = False) -> None:
        """Create ``exp_path/<entity>/`` (and ``exp_path/<ensemble>/<member>/``) with the
        entities' copied, symlinked and configured files."""
        generator = Generator(self.exp_path, overwrite=overwrite, verbose=verbose)
        if tag is not None:
            generator.set_tag(tag)
        generator.generate_experiment(*args)

    def __str__(self) -> str:
        return self.name
