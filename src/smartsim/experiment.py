"""``Experiment``: the factory and control facade of a driver script."""
from __future__ import annotations

import os
import typing as t

from ._core.generation.generator import Generator
from ._core.launcher.base import check_launcher_name, detect_launcher
from ._core.utils.helpers import check_name
from .entity import Ensemble, Model
from .log import get_logger
from .settings import settings as _settings
from .settings.base import BatchSettings, RunSettings

if t.TYPE_CHECKING:
    from .database import Orchestrator
    from .status import SmartSimStatus

logger = get_logger(__name__)

class Experiment:
    """A driver script's handle: creates entities, generates their directories, runs them."""

    def __init__(self, name: str, exp_path: t.Optional[t.Union[str, os.PathLike]] = None,
                 launcher: str = "local", max_concurrent: t.Optional[int] = None) -> None:
        self.name = check_name(name, "Experiment name")
        if exp_path is not None and not isinstance(exp_path, (str, os.PathLike)):
            raise TypeError(f"exp_path must be a str or PathLike, got {type(exp_path).__name__}: {exp_path!r}")
        path = os.path.abspath(os.fspath(exp_path) if exp_path is not None else os.path.join(os.getcwd(), name))
        launcher = check_launcher_name(launcher)
        if os.path.exists(path) and not os.path.isdir(path):
            raise NotADirectoryError(f"Experiment path {path} exists and is not a directory")
        os.makedirs(path, exist_ok=True)
        self.exp_path = path
        self._launcher = detect_launcher() if launcher == "auto" else launcher
        from ._core.control.controller import resolve_max_concurrent  # pylint: disable=import-outside-toplevel

        resolve_max_concurrent(max_concurrent)  # a bad value fails here
        self._max_concurrent: t.Optional[int] = max_concurrent  # None: the launcher's default
        self._control_: t.Any = None
        self._registered: t.Set[str] = set()
        self._db_identifiers: t.Set[str] = set()
        # what Experiment.attach rebuilt
        self._entities: t.Dict[str, t.Union[Model, Ensemble, "Orchestrator"]] = {}

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
                              batch_args: t.Optional[t.Mapping[str, t.Optional[str]]] = None,
                              **kwargs: t.Any) -> BatchSettings:
        """Batch settings for this experiment's launcher (the local launcher has none)."""
        return _settings.create_batch_settings(self._launcher, nodes=nodes, time=time, queue=queue,
                                               account=account, batch_args=batch_args, **kwargs)

    def create_model(self, name: str, run_settings: RunSettings, params: t.Optional[t.Dict[str, t.Any]] = None,
                     path: t.Optional[str] = None, enable_key_prefixing: bool = False,
                     batch_settings: t.Optional[BatchSettings] = None) -> Model:
        """A ``Model`` whose directory defaults to ``exp_path/name``."""
        check_name(name, "Model name")  # before it is joined into a path
        if path is None:
            path = os.path.join(self.exp_path, name)
        model = Model(name, params or {}, run_settings, path=path, batch_settings=batch_settings)
        if enable_key_prefixing:
            model.enable_key_prefixing()
        self._register(model)
        return model

    def create_ensemble(self, name: str, params: t.Optional[t.Dict[str, t.Any]] = None,
                        batch_settings: t.Optional[BatchSettings] = None,
                        run_settings: t.Optional[RunSettings] = None, replicas: t.Optional[int] = None,
                        perm_strategy: t.Union[str, t.Callable[..., t.Any]] = "all_perm",
                        path: t.Optional[str] = None, **kwargs: t.Any) -> Ensemble:
        """An ``Ensemble`` expanded from ``params`` with ``perm_strategy``, or ``replicas`` copies.

        kwargs: ``params_as_args`` (list of param names), ``n_models`` and ``seed`` for ``random``.
        """
        check_name(name, "Ensemble name")  # before it is joined into a path
        if path is None:
            path = os.path.join(self.exp_path, name)
        ensemble = Ensemble(name, params or {}, path=path, batch_settings=batch_settings,
                            run_settings=run_settings, perm_strat=perm_strategy, replicas=replicas, **kwargs)
        self._register(ensemble)
        return ensemble

    def create_database(self, port: int = 6379, path: t.Optional[str] = None, db_nodes: int = 1,
                        batch: bool = False, hosts: t.Optional[t.Union[t.List[str], str]] = None,
                        run_command: str = "auto", interface: t.Union[str, t.List[str]] = "lo",
                        account: t.Optional[str] = None, time: t.Optional[str] = None,
                        queue: t.Optional[str] = None, single_cmd: bool = True,
                        db_identifier: str = "orchestrator", **kwargs: t.Any) -> Orchestrator:
        """An ``Orchestrator`` (Redis with the RedisAI-compatible module) for this experiment:
        one shard (``db_nodes=1``) or a Redis Cluster of ``db_nodes >= 3`` shards on ports
        ``port, port+1, ...``; files and logs in ``path`` (default ``exp_path/db_identifier``).
        Start and stop it with ``start``/``stop``. kwargs: ``password``, ``redis_server``
        and batch options (see ``Orchestrator``)."""
        from .database import Orchestrator  # pylint: disable=import-outside-toplevel

        check_name(db_identifier, "db_identifier")  # before it is joined into a path
        if db_identifier in self._db_identifiers:
            logger.warning(f"A database with the identifier {db_identifier} has already been made "
                           "An error will be raised if multiple databases are started with the "
                           "same identifier")
        orc = Orchestrator(path=path or os.path.join(self.exp_path, db_identifier), port=port,
                           db_nodes=db_nodes, batch=batch, hosts=hosts, run_command=run_command,
                           interface=interface, account=account, time=time, queue=queue,
                           single_cmd=single_cmd, launcher=self._launcher, db_identifier=db_identifier,
                           **kwargs)
        self._db_identifiers.add(db_identifier)
        self._register(orc)
        return orc

    # -- generation ---------------------------------------------------------------------
    def generate(self, *args: t.Any, tag: t.Optional[str] = None, overwrite: bool = False,
                 verbose: bool = False, progress: t.Optional[bool] = None) -> None:
        """Create ``exp_path/<entity>/`` (and ``exp_path/<ensemble>/<member>/``) with the
        entities' copied, symlinked and configured files.

        ``progress``: show a progress bar (default: only on a terminal, for long runs).
        """
        generator = Generator(self.exp_path, overwrite=overwrite, verbose=verbose, progress=progress)
        if tag is not None:
            generator.set_tag(tag)
        generator.generate_experiment(*args)
        self._register(*args)

    # -- control --------------------------------------------------------------------------
    @property
    def _control(self) -> t.Any:
        """The controller (created on first use, so an experiment that only generates
        never starts the launcher)."""
        if self._control_ is None:
            from ._core.control.controller import Controller  # pylint: disable=import-outside-toplevel

            self._control_ = Controller(self.name, self.exp_path, self._launcher, self._max_concurrent)
            self._control_.register(*[_Named(n) for n in self._registered])
        return self._control_

    def _register(self, *entities: t.Any) -> None:
        for entity in entities:
            if isinstance(entity, (list, tuple)):
                self._register(*entity)
            elif hasattr(entity, "name"):
                self._registered.add(entity.name)
                if self._control_ is not None:
                    self._control_.register(entity)

    @property
    def launcher(self) -> str:
        """The name of the launcher this experiment runs entities with (``local``, ``slurm``,
        ``pbs``, ...; ``auto`` is resolved to the one found at creation).
        """
        return self._launcher

    @property
    def max_concurrent(self) -> int:
        """At most this many ensemble members of this experiment run at once (default: the
        number of cores; Slurm steps inside an allocation: its CPUs, the steps run on its
        nodes). Setting it takes effect as running members end."""
        if self._control_ is not None:
            return self._control_.max_concurrent
        from ._core.control.controller import resolve_max_concurrent  # pylint: disable=import-outside-toplevel

        return resolve_max_concurrent(self._max_concurrent, launcher=self._launcher)

    @max_concurrent.setter
    def max_concurrent(self, value: t.Optional[int]) -> None:
        from ._core.control.controller import resolve_max_concurrent  # pylint: disable=import-outside-toplevel

        resolve_max_concurrent(value)  # a bad value fails here
        self._max_concurrent = value
        if self._control_ is not None:
            self._control_.set_max_concurrent(value)

    def start(self, *args: t.Any, block: bool = True, summary: bool = False,
              kill_on_interrupt: bool = True, max_concurrent: t.Optional[int] = None,
              only_failed: bool = False, progress: t.Optional[bool] = None,
              detach: bool = False) -> None:
        """Launch models and ensembles (lists of them are accepted too).

        Each runs in its own directory (created if missing) with stdout/stderr in
        ``<path>/<name>.out``/``.err`` and ``RunSettings.env_vars`` over the driver's
        environment. Every executable is checked before anything is launched.

        :param block: wait until every job of this experiment has ended (returns the moment
            the last one does); a blocking start shows a progress bar on a terminal
        :param summary: log a launch summary first
        :param kill_on_interrupt: on Ctrl-C, end every job of this experiment (whole process
            groups) before ``KeyboardInterrupt`` propagates
        :param max_concurrent: run at most this many of this call's entities at once (models
            included); default: ensemble members share the experiment's ``max_concurrent``
            and standalone models start at once
        :param only_failed: relaunch only members whose last run failed, was cancelled or
            never started (also according to the manifest a previous driver left in
            ``exp_path``); completed members and their outputs are left alone, running ones
            are skipped
        :param progress: show the progress bar (default: only on a terminal, unless
            ``SMARTSIM_PROGRESS=0``)
        :param detach: the entities (databases included) keep running when this driver exits
            or is killed; another driver can ``attach`` to them later (needs ``block=False``;
            see docs/lifecycle.md)
        :raises EntityRunningError: an entity is still queued or running
        :raises ExecutableNotFoundError, NotExecutableError: naming the entity
        """
        if summary:
            self._launch_summary(args)
        self._control.start(*args, block=block, kill_on_interrupt=kill_on_interrupt,
                            max_concurrent=max_concurrent, only_failed=only_failed, progress=progress,
                            detach=detach)

    def reconnect_orchestrator(self, checkpoint: t.Union[str, os.PathLike]) -> "Orchestrator":
        """The running ``Orchestrator`` recorded in ``checkpoint`` (the ``smartsim_db.dat``
        every database start writes in its path): its ``get_address`` works for clients and
        ``stop`` ends it. ``FileNotFoundError`` / ``SmartSimError`` when it is missing,
        unreadable or no longer running."""
        return self._control._lifecycle.reconnect(checkpoint)  # pylint: disable=protected-access

    @classmethod
    def attach(cls, exp_path: t.Union[str, os.PathLike]) -> "Experiment":
        """The experiment in ``exp_path`` rebuilt from its manifest, by a new driver:
        ``entities`` maps names to its ``Model``/``Ensemble``/``Orchestrator`` objects;
        running detached processes are watched, stopped and relaunched (``only_failed``) as
        if this driver had started them (see docs/lifecycle.md)."""
        from ._core.control.manifest import load_manifest  # pylint: disable=import-outside-toplevel

        path = os.path.abspath(os.fspath(exp_path))
        doc = load_manifest(path)
        info = doc.get("experiment") or {}
        if not doc.get("sessions") or not info.get("name"):
            raise FileNotFoundError(f"no experiment to attach in {path}: it has no launch manifest "
                                    "(smartsim_manifest.jsonl); expected the exp_path of an experiment "
                                    "that started something")
        exp = cls(info["name"], exp_path=path, launcher=info.get("launcher") or "local")
        exp._entities = exp._control._lifecycle.attach()  # pylint: disable=protected-access
        return exp

    @property
    def entities(self) -> t.Dict[str, t.Union[Model, Ensemble, "Orchestrator"]]:
        """Name -> entity of an attached experiment (``Experiment.attach``); {} otherwise."""
        return dict(self._entities)

    def stop(self, *args: t.Any) -> None:
        """End the given entities: queued members are cancelled, running ones get ``SIGTERM``
        to their whole process group and ``SIGKILL`` after a grace period. Their status
        becomes ``Cancelled``. Raises ``EntityNotLaunchedError`` for an entity never started."""
        self._control.stop(*args)

    def poll(self, interval: int = 10, verbose: bool = True, kill_on_interrupt: bool = True) -> None:
        """Wait until every non-database job has ended (returns the moment the last does),
        logging the live jobs every ``interval`` seconds when ``verbose``."""
        self._control.poll(interval, verbose, kill_on_interrupt=kill_on_interrupt)

    def finished(self, entity: t.Any) -> bool:
        """True when the entity (every member of an ensemble) has ended; ``ValueError``
        (``EntityNotLaunchedError``) if it was never launched."""
        return self._control.finished(entity)

    def get_status(self, *args: t.Any) -> t.List[SmartSimStatus]:
        """``SmartSimStatus`` of each entity (an ensemble expands to its members);
        ``NeverStarted`` for entities of this experiment that never ran;
        ``UnknownEntityError`` for entities it never saw."""
        return self._control.get_status(*args)

    def summary(self, style: str = "github") -> str:
        """A table of every run: Name, Entity-Type, JobID, RunID, Time, Status, Returncode
        (``style`` is a tabulate table format)."""
        return self._control.summary(style=style)

    def summary_data(self) -> t.List[t.Dict[str, t.Any]]:
        """The rows of ``summary`` as dicts with raw values."""
        return self._control.summary_rows()

    def launch_manifest(self) -> t.Dict[str, t.Any]:
        """The launch manifest of ``exp_path`` (folded from its journal, so it includes
        earlier drivers' runs; see ``smartsim._core.control.manifest``)."""
        from ._core.control.manifest import load_manifest  # pylint: disable=import-outside-toplevel

        if self._control_ is not None:
            self._control_._manifest.sync()
        return load_manifest(self.exp_path)

    def preview(self, *args: t.Any, verbosity_level: str = "info", output_format: str = "plain_text",
                output_filename: t.Optional[str] = None) -> None:
        """Show what ``start`` would launch for these entities (models, ensembles,
        orchestrators, lists of them) without launching anything: as SmartSim 0.8's preview,
        with this package's command lines, shard commands and batch scripts.

        :param verbosity_level: ``info`` (user-set fields), ``debug`` (also paths, executables,
            launch commands, every ensemble member), ``developer`` (also batch scripts)
        :param output_format: ``plain_text`` (the only one)
        :param output_filename: write the preview there instead of logging it (an existing
            file is kept: ``<stem>_01.txt``, ... is used)
        """
        from ._core.control import preview as _preview  # pylint: disable=import-outside-toplevel

        _preview.render(self, *args, verbosity_level=verbosity_level, output_format=output_format,
                        output_filename=output_filename)

    def _launch_summary(self, args: t.Sequence[t.Any]) -> None:
        models = ensembles = members = 0
        for entity in self._control._flatten(args):
            if isinstance(entity, Ensemble):
                ensembles += 1
                members += len(entity)
            elif isinstance(entity, Model):
                models += 1
        text = "\n\n=== Launch Summary ===\n"
        text += f"Experiment: {self.name}\nExperiment Path: {self.exp_path}\nLauncher: {self._launcher}\n"
        if models:
            text += f"Models: {models}\n"
        if ensembles:
            text += f"Ensembles: {ensembles} ({members} members, at most {self.max_concurrent} at once)\n"
        active = self._control_.active_databases() if self._control_ is not None else []
        text += f"Database Status: {'active' if active else 'inactive'}\n"
        logger.info(text)

    def __str__(self) -> str:
        return self.name


class _Named:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name
