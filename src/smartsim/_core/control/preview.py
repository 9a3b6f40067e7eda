"""``Experiment.preview``: what ``Experiment.start`` would launch, as text, without launching.

The layout follows SmartSim 0.8's plain-text preview (``=== Experiment Overview ===``,
``=== Entity Preview ===``, ``== Orchestrators/Models/Ensembles ==``, the same field names),
built with plain string joins. Where our launch differs, the text shows ours: the command
lines come from the controller's own argv builder (``Controller._argv_parts``,
``param_args``), shard commands from ``server/config.config_command_line``, batch scripts
from the launchers' own script builders (``slurm.batch_script``, ``wlm.batch_script`` with
the scheduler's ``directives``). Nothing here writes a file (except ``output_filename``),
starts a process or a launcher, or probes a port.
"""
from __future__ import annotations

import os
import pathlib
import shlex
import typing as t
from enum import Enum

from ...database.orchestrator import Orchestrator
from ...entity.ensemble import Ensemble
from ...entity.model import Model
from ...error import EntityExistsError, PreviewFormatError, SmartSimError
from ...log import get_logger
from ..launcher.base import BatchJob, Task, launcher_class
from ..server import config as _config

if t.TYPE_CHECKING:
    from ...experiment import Experiment

logger = get_logger(__name__)


class Format(str, Enum):
    PLAINTEXT = "plain_text"


class Verbosity(str, Enum):
    INFO = "info"
    DEBUG = "debug"
    DEVELOPER = "developer"


def check_verbosity(value: t.Any) -> Verbosity:
    try:
        return Verbosity(value)
    except ValueError:
        raise ValueError(f"verbosity_level {value!r} is not a valid Verbosity: expected one of "
                         f"{', '.join(repr(v.value) for v in Verbosity)}") from None


def check_format(value: t.Any) -> Format:
    try:
        return Format(value)
    except ValueError:
        raise PreviewFormatError(f"output_format {value!r} is not supported: the only valid output "
                                 f"format currently available is {Format.PLAINTEXT.value}") from None


def check_filename(value: t.Any) -> t.Optional[str]:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise TypeError(f"output_filename must be a non-empty str or PathLike (or None), got {value!r}")
    path = os.path.abspath(os.fspath(value))
    if os.path.isdir(path):
        raise IsADirectoryError(f"output_filename {path} is a directory, expected a file name")
    if not os.path.isdir(os.path.dirname(path)):
        raise FileNotFoundError(f"output_filename {path}: its directory does not exist")
    return path


def find_available_filename(filename: str) -> str:
    """``filename``, or (as SmartSim 0.8) ``<stem>_01.txt``, ``<stem>_02.txt`` ... when it exists:
    an earlier preview is never overwritten."""
    path = candidate = pathlib.Path(filename)
    index = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}_{index:02}.txt")
        index += 1
    return str(candidate)


def flatten(args: t.Sequence[t.Any]) -> t.List[t.Any]:
    out: t.List[t.Any] = []
    for arg in args:
        if isinstance(arg, (list, tuple)):
            out.extend(flatten(arg))
        elif isinstance(arg, (Model, Ensemble, Orchestrator)):
            out.append(arg)
        else:
            raise TypeError(f"preview takes Model, Ensemble and Orchestrator instances (or lists of "
                            f"them); got {type(arg).__name__}: {arg!r}")
    seen: t.Set[str] = set()
    for entity in out:
        if entity.name in seen:
            raise EntityExistsError(f"{entity.type} {entity.name!r} was passed to preview twice")
        seen.add(entity.name)
    return out


def _cmd(argv: t.Sequence[str]) -> str:
    return " ".join(shlex.quote(str(a)) for a in argv)


def _on(value: bool) -> str:
    return "On" if value else "Off"


class _Renderer:
    def __init__(self, exp: "Experiment", entities: t.List[t.Any], verbosity: Verbosity,
                 active: t.List[Orchestrator]) -> None:
        self.exp = exp
        self.v = verbosity
        self.dbs = [e for e in entities if isinstance(e, Orchestrator)]
        self.models = [e for e in entities if isinstance(e, Model)]
        self.ensembles = [e for e in entities if isinstance(e, Ensemble)]
        self.active = [db for db in active if db not in self.dbs]
        self.lines: t.List[str] = []

    @property
    def detailed(self) -> bool:
        return self.v is not Verbosity.INFO

    def add(self, indent: int, text: str) -> None:
        self.lines.append(" " * indent + text)

    # -- the document ----------------------------------------------------------------------
    def render(self) -> str:
        exp = self.exp
        self.lines += ["=== Experiment Overview ===", "", f"  Experiment Name: {exp.name}",
                       f"    Experiment Path: {exp.exp_path}", f"    Launcher: {exp.launcher}"]
        if self.dbs or self.models or self.ensembles or self.active:
            self.lines += ["", "=== Entity Preview ==="]
        if self.active:
            self.lines += ["", "  == Active Infrastructure =="]
            for db in self.active:
                self.add(0, "")
                self.add(4, f"= Database Identifier: {db.name} =")
                self._db_common(db)
        if self.dbs:
            self.lines += ["", "  == Orchestrators =="]
            for db in self.dbs:
                self.add(0, "")
                if db._running():  # pylint: disable=protected-access
                    self.add(4, f"WARNING: Cannot preview {db.name}, because it is already started.")
                else:
                    self._orchestrator(db)
        if self.models:
            self.lines += ["", "  == Models =="]
            for model in self.models:
                self.add(0, "")
                self.add(4, f"= Model Name: {model.name} =")
                self._model(model, model.run_settings, model.params)
        if self.ensembles:
            self.lines += ["", "  == Ensembles =="]
            for ens in self.ensembles:
                self._ensemble(ens)
        return "\n".join(self.lines) + "\n"

    # -- databases ---------------------------------------------------------------------------
    def _db_common(self, db: Orchestrator) -> None:
        self.add(8, "TCP/IP Port(s):")
        for port in db.ports:
            self.add(10, str(port))
        self.add(8, f"Network Interface: {', '.join(db._interfaces)}")  # pylint: disable=protected-access
        self.add(8, "Type: redis")

    def _orchestrator(self, db: Orchestrator) -> None:
        self.add(4, f"= Database Identifier: {db.name} =")
        if self.detailed:
            self.add(8, f"Path: {db.path}")
            self.add(8, f"Shards: {db.num_shards}")
        self._db_common(db)
        if self.detailed:
            self.add(8, f"Executable: {db.redis_server.path}")
            if db.run_command and db.run_command != "auto":
                self.add(8, f"Run Command: {db.run_command}")
            self.add(8, "Shard Commands:")
            for node in db.entities:
                conf = os.path.join(db.path, node.name, _config.CONFIG_FILE)
                self.add(10, f"{node.name}: {_cmd(_config.config_command_line(db.redis_server.path, conf))}")
        if db.batch:
            self.add(8, "Batch Launch: True")
            if self.detailed:
                self._batch_settings(db.batch_settings)

    # -- models ------------------------------------------------------------------------------
    def _argv(self, rs: t.Any, name: str, params: t.Mapping[str, str],
              as_args: t.Sequence[str]) -> t.List[str]:
        from .controller import Controller, param_argv  # pylint: disable=import-outside-toplevel

        head, tail = Controller._argv_parts(rs, name, colocated_ok=True)  # pylint: disable=protected-access
        return head + param_argv(name, params, as_args) + tail

    def _model(self, model: Model, rs: t.Any, params: t.Mapping[str, str],
               as_args: t.Sequence[str] = (), indent: int = 8) -> None:
        add = self.add
        colo = getattr(rs, "colocated_db_settings", None) or {}
        if self.detailed:
            add(indent, f"Path: {model.path}")
            if rs is not None:
                add(indent, f"Executable: {rs.exe[0]}")
                add(indent, "Executable Arguments:")
                for arg in rs.exe_args:
                    add(indent + 2, arg)
                if rs.run_command:
                    add(indent, f"Run Command: {rs.run_command}")
                    if rs.run_args:
                        add(indent, "Run Arguments:")
                        for key, value in rs.run_args.items():
                            add(indent + 2, f"{key} {value}" if value is not None else key)
        batch = getattr(model, "batch_settings", None)
        if batch:
            add(indent, "Batch Launch: True")
            if self.detailed:
                self._batch_settings(batch, indent)
        if model.params:
            add(indent, "Model Parameters:")
            for key, value in model.params.items():
                add(indent + 2, f"{key}: {value}")
        files = getattr(model, "files", None)
        if files and self.detailed:
            for title, paths in (("Tagged Files for Model Configuration:", files.tagged),
                                 ("Copy Files:", files.copy), ("Symlink Files:", files.link)):
                if paths:
                    add(indent, title)
                    for path in paths:
                        add(indent + 2, path)
                        add(indent + 2, f"-> {model.path}")
        if colo:
            self._colocated(colo, indent)
        self._ml_objects(model, indent)
        if model.query_key_prefixing():
            add(indent, f"Key Prefix: {model.name}")
        argv = self._argv(rs, model.name, params, as_args) if self.detailed and rs is not None else None
        if argv is not None:
            add(indent, f"Launch Command: {_cmd(argv)}")
            if colo:
                add(indent + 2, "(run by the colocated-database wrapper, which starts the database first)")
            add(indent, f"Output: {os.path.join(model.path, model.name)}.out, .err")
            env = getattr(rs, "env_vars", None)
            if env:
                add(indent, "Environment Variables:")
                for key, value in env.items():
                    add(indent + 2, f"{key}={'' if value is None else value}")
        self._client_config(model, colo, indent)
        if batch and self.v is Verbosity.DEVELOPER and argv is not None:
            self._batch_script(model.name, os.fspath(model.path), batch,
                               [(model.name, argv, os.fspath(model.path), rs, model)], indent)

    def _connection(self, colo: t.Mapping[str, t.Any], indent: int) -> None:
        """How a colocated database is reached: TCP port and/or Unix socket."""
        if colo.get("port"):
            self.add(indent, "Connection Type: TCP")
            self.add(indent, "TCP/IP Port(s):")
            self.add(indent + 2, str(colo["port"]))
        if colo.get("unix_socket"):
            self.add(indent, "Connection Type: UDS")
            self.add(indent, f"Unix Socket: {colo['unix_socket']}")

    def _colocated(self, colo: t.Mapping[str, t.Any], indent: int) -> None:
        add = self.add
        add(indent, "Colocated:")
        if colo.get("db_identifier"):
            add(indent + 2, f"Database Identifier: {colo['db_identifier']}")
        self._connection(colo, indent + 2)
        if self.detailed:
            ifname = colo.get("ifname")
            if ifname:
                add(indent + 2, f"Network Interface Name: {ifname if isinstance(ifname, str) else ifname[0]}")
            add(indent + 2, f"CPUs: {colo.get('cpus')}")
            add(indent + 2, f"Custom Pinning: {colo.get('custom_pinning')}")

    def _ml_objects(self, model: Model, indent: int) -> None:
        add = self.add
        scripts = list(model.db_scripts)
        models = list(model.db_models)
        if scripts:
            add(indent, "Torch Scripts:")
            for script in scripts:
                add(indent + 2, f"Name: {script.name}")
                source = script.file or ("function" if script.is_function else "string")
                add(indent + 4, f"Path: {source}")
                if self.detailed:
                    add(indent + 4, f"Backend: {script.device}")
                    add(indent + 4, f"Devices Per Node: {script.devices_per_node}")
        if models:
            add(indent, "ML Models:")
            for mlmodel in models:
                add(indent + 2, f"Name: {mlmodel.name}")
                add(indent + 4, f"Path: {mlmodel.file or 'in memory'}")
                add(indent + 4, f"Backend: {mlmodel.backend}")
                if self.detailed:
                    add(indent + 4, f"Device: {mlmodel.device}")
                    add(indent + 4, f"Devices Per Node: {mlmodel.devices_per_node}")
                    if mlmodel.device == "GPU":
                        add(indent + 4, f"First Device: {mlmodel.first_device}")
                for name in mlmodel.inputs or ():
                    add(indent + 4, "Inputs:")
                    add(indent + 6, name)
                for name in mlmodel.outputs or ():
                    add(indent + 4, "Outputs:")
                    add(indent + 6, name)

    def _client_config(self, model: Model, colo: t.Mapping[str, t.Any], indent: int) -> None:
        dbs = self.dbs + self.active
        if not colo and not dbs:
            return
        add = self.add
        prefix = model.query_key_prefixing()
        add(indent, "Client Configuration:")

        def prefixing(at: int) -> None:
            if prefix or self.detailed:
                add(at, "Outgoing Key Collision Prevention (Key Prefixing):")
                for what in ("Tensors", "Datasets"):
                    add(at + 2, f"{what}: {_on(prefix)}")
                add(at + 2, "ML Models/Torch Scripts: Off")
                add(at + 2, f"Aggregation Lists: {_on(prefix)}")

        if colo:
            add(indent + 2, f"Database Identifier: {colo.get('db_identifier') or 'N/A'}")
            add(indent + 4, "Database Backend: redis")
            self._connection(colo, indent + 4)
            add(indent + 4, "Type: Colocated")
            prefixing(indent + 2)
        for db in dbs:
            add(indent + 2, f"Database Identifier: {db.name}")
            add(indent + 4, "Database Backend: redis")
            add(indent + 4, "TCP/IP Port(s):")
            for port in db.ports:
                add(indent + 6, str(port))
            add(indent + 4, f"Type: {'Clustered' if db.is_cluster else 'Standalone'}")
            prefixing(indent + 2)
        incoming = [e.name for e in (getattr(model, "incoming_entities", None) or [])]
        if incoming and self.detailed:
            add(indent + 2, "Incoming Entities (Available Data Sources):")
            for name in incoming:
                add(indent + 4, name)

    # -- ensembles ---------------------------------------------------------------------------
    def _ensemble(self, ens: Ensemble) -> None:
        add = self.add
        table = ens.member_table
        add(0, "")
        add(4, f"= Ensemble Name: {ens.name} =")
        if self.detailed:
            add(8, f"Path: {ens.path}")
        add(8, f"Members: {len(ens)}")
        if self.detailed:
            if table.param_names:
                add(8, "Ensemble Parameters:")
                for name, values in zip(table.param_names, table.param_values):
                    add(10, f"{name}: {', '.join(values)}")
            if ens.replicas:
                add(8, f"Replicas: {ens.replicas}")
            elif isinstance(ens.perm_strat, str):
                add(8, f"Permutation Strategy: {ens.perm_strat}")
        if ens.batch_settings:
            add(8, "Batch Launch: True")
            if self.detailed:
                self._batch_settings(ens.batch_settings)
        n = len(ens)
        shown = list(range(n)) if self.detailed or n <= 2 else [0, n - 1]
        members = [(i, t.cast(Model, ens[i])) for i in shown]
        for pos, (i, member) in enumerate(members):
            if pos == 1 and shown == [0, n - 1]:
                add(8, "...")
            add(0, "")
            add(4, f"- Model Name: {member.name} -")
            if i < table.n_expanded and i not in table.overrides:
                # read through the table: an untouched member stays unmaterialised
                self._member(ens, i, member)
            else:
                self._model(member, member.run_settings, member.params)
        if ens.batch_settings and self.v is Verbosity.DEVELOPER and n:
            steps = []
            for i, member in enumerate(ens):
                if i < table.n_expanded and i not in table.overrides:
                    rs, params, as_args = table.run_settings, table.params(i), table.params_as_args
                    path = table.path(i)
                else:  # its own settings already carry its param args
                    rs, params, as_args, path = member.run_settings, member.params, [], os.fspath(member.path)
                steps.append((member.name, self._argv(rs, member.name, params, as_args), path, rs, member))
            self._batch_script(ens.name, os.fspath(ens.path), ens.batch_settings, steps, 8)

    def _member(self, ens: Ensemble, i: int, member: Model) -> None:
        table = ens.member_table
        view = _MemberView(member.name, table.path(i), table.params(i), table.key_prefixing(i),
                           table.files, table.incoming_entities(i), table.db_models(i),
                           table.db_scripts(i))
        self._model(view, table.run_settings, table.params(i), table.params_as_args)  # type: ignore[arg-type]

    # -- batch ---------------------------------------------------------------------------
    def _batch_settings(self, bs: t.Any, indent: int = 8) -> None:
        self.add(indent, f"Batch Command: {bs.batch_cmd}")
        if bs.batch_args:
            self.add(indent, "Batch Arguments:")
            for key, value in bs.batch_args.items():
                self.add(indent + 2, f"{key}: {value}")

    def _batch_script(self, name: str, cwd: str, bs: t.Any,
                      steps: t.List[t.Tuple[str, t.List[str], str, t.Any, t.Any]], indent: int) -> None:
        """The script the experiment's launcher would submit, from the launcher's own
        ``batch_script_text``: the run settings' environment plus what the experiment's env
        hooks add (the wiring of the databases it runs now), over the driver's."""
        from ..launcher.wlm import encoded_environ  # pylint: disable=import-outside-toplevel

        ctrl = getattr(self.exp, "_control_", None)  # (never made here: preview starts nothing)
        hooks = list(ctrl.env_hooks) if ctrl is not None else []
        tasks = []
        for step_name, argv, path, rs, entity in steps:
            env_vars = {str(k): "" if v is None else str(v) for k, v in (rs.env_vars or {}).items()}
            for hook in hooks:
                env_vars.update(hook(entity))
            env = [f"{k}={v}".encode() for k, v in env_vars.items()]
            base = os.path.join(path, step_name)
            tasks.append(Task(step_name, argv, path, env, base + ".out", base + ".err", None, 0,
                              "Model", None))
        job = BatchJob(name, cwd, bs, tasks)
        launcher = self.exp.launcher
        try:
            text = launcher_class(launcher).batch_script_text(job, set(encoded_environ()))
        except SmartSimError as exc:
            text, why = None, str(exc)
        else:
            why = f"the {launcher} launcher does not submit batch jobs"
        if text is None:
            self.add(indent, f"Batch Script: none ({why})")
            return
        self.add(indent, f"Batch Script ({os.path.join(cwd, name + '.batch.sh')}):")
        for line in text.rstrip("\n").split("\n"):
            self.lines.append((" " * (indent + 2) + line) if line else "")


class _MemberView:
    """An untouched ensemble member as the renderer reads a model (no materialising)."""

    def __init__(self, name: str, path: str, params: t.Dict[str, str], prefix: bool, files: t.Any,
                 incoming: t.List[t.Any], db_models: t.List[t.Any], db_scripts: t.List[t.Any]) -> None:
        self.name, self.path, self.params, self._prefix, self.files = name, path, params, prefix, files
        self.incoming_entities, self.db_models, self.db_scripts = incoming, db_models, db_scripts
        self.batch_settings = None

    def query_key_prefixing(self) -> bool:
        return self._prefix


def render(exp: "Experiment", *args: t.Any, verbosity_level: t.Any = Verbosity.INFO,
           output_format: t.Any = Format.PLAINTEXT, output_filename: t.Any = None,
           active_dbs: t.Optional[t.Sequence[Orchestrator]] = None) -> str:
    """Check the arguments, build the preview; log it (or write it to ``output_filename``,
    under a fresh name if that file exists) and return it. ``active_dbs``: the running
    databases launched entities would connect to (default: those ``exp`` started)."""
    if active_dbs is None:
        control = getattr(exp, "_control_", None)
        active_dbs = control.active_databases() if control is not None else []
    verbosity = check_verbosity(verbosity_level)
    check_format(output_format)
    filename = check_filename(output_filename)
    entities = flatten(args)
    if verbosity is Verbosity.INFO:
        logger.warning("Only showing user set parameters. Some internal entity fields are truncated. "
                       "To view truncated fields: use verbosity_level 'developer' or 'debug.'")
    text = _Renderer(exp, entities, verbosity, list(active_dbs)).render()
    if filename is not None:
        filename = find_available_filename(filename)
        with open(filename, "w", encoding="utf-8") as handle:
            handle.write(text)
        logger.info(f"Preview written to {filename}")
    else:
        logger.info("\n" + text)
    return text
