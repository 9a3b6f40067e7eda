"""``Model``: one application run (executable, settings, parameters, attached files)."""
from __future__ import annotations

import itertools
import numbers
import os
import re
import sys
import typing as t
import warnings

from .._core.utils.helpers import cat_arg_and_value
from ..error import EntityExistsError, ParameterTypeError, SSUnsupportedError
from ..log import get_logger
from .dbobject import DBModel, DBScript
from .entity import SmartSimEntity
from .files import EntityFiles

if t.TYPE_CHECKING:
    from ..settings.base import BatchSettings, RunSettings

logger = get_logger(__name__)


def parse_model_parameters(params: t.Optional[t.Mapping[t.Any, t.Any]]) -> t.Dict[str, str]:
    """Model params as ``{str: str}``; values must be str or numbers (bool prints ``True``)."""
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ParameterTypeError(f"Model params must be a dict, got {type(params).__name__}: {params!r}")
    parsed = {}
    for name, val in params.items():
        if not isinstance(name, str):
            raise ParameterTypeError(f"parameter name {name!r} must be a str, got {type(name).__name__}")
        if not isinstance(val, (str, numbers.Number)):
            raise ParameterTypeError(
                f"Incorrect type for model parameter {name!r}: {val!r} ({type(val).__name__}); "
                "must be a numeric value or a string")
        parsed[name] = str(val)
    return parsed


def attach_files(to_copy: t.Any, to_symlink: t.Any, to_configure: t.Any) -> EntityFiles:
    """An :class:`EntityFiles` of the files to copy, symlink and configure (render with the
    entity's parameters) into an entity's directory at ``generate``.
    """
    return EntityFiles(to_configure, to_copy, to_symlink)


class Model(SmartSimEntity):
    """One application run: executable settings, parameters and attached files."""

    def __init__(
        self,
        name: str,
        params: t.Dict[str, t.Any],
        run_settings: "RunSettings",
        path: t.Optional[str] = None,
        params_as_args: t.Optional[t.List[str]] = None,
        batch_settings: t.Optional["BatchSettings"] = None,
    ) -> None:
        super().__init__(name, os.fspath(path) if path is not None else os.getcwd(), run_settings)
        self.params = parse_model_parameters(params)
        self.params_as_args = params_as_args
        self.incoming_entities: t.List[SmartSimEntity] = []
        self._key_prefixing_enabled = False
        self.batch_settings = batch_settings
        self.files: t.Optional[EntityFiles] = None
        self._db_models: t.List[DBModel] = []
        self._db_scripts: t.List[DBScript] = []

    @property
    def type(self) -> str:
        """``"Model"``: the entity type shown in summaries and the manifest."""
        return "Model"

    @property
    def db_models(self) -> t.Iterable[DBModel]:
        """The ML models attached to this model (an iterator, as in SmartSim)."""
        return iter(list(self._db_models))

    @property
    def db_scripts(self) -> t.Iterable[DBScript]:
        """The scripts and functions attached to this model (an iterator, as in SmartSim)."""
        return iter(list(self._db_scripts))

    @property
    def colocated(self) -> bool:
        """True if this Model runs with a colocated Orchestrator."""
        return bool(getattr(self.run_settings, "colocated_db_settings", None))

    def register_incoming_entity(self, incoming_entity: SmartSimEntity) -> None:
        """Allow this model to read keys prefixed by ``incoming_entity``."""
        if incoming_entity.name in (e.name for e in self.incoming_entities):
            raise EntityExistsError(
                f"'{incoming_entity.name}' has already been registered as an incoming entity "
                f"of {self.name}")
        self.incoming_entities.append(incoming_entity)

    def enable_key_prefixing(self) -> None:
        """Prefix the keys this model writes with its own name."""
        self._key_prefixing_enabled = True

    def disable_key_prefixing(self) -> None:
        """Stop prefixing the keys this model puts with its name (see ``enable_key_prefixing``)."""
        self._key_prefixing_enabled = False

    def query_key_prefixing(self) -> bool:
        """True when this model prefixes the keys it puts with its name (``SSKEYOUT``)."""
        return self._key_prefixing_enabled

    # -- colocated database ------------------------------------------------------------
    def colocate_db(self, *args: t.Any, **kwargs: t.Any) -> None:
        """An alias for ``Model.colocate_db_tcp`` (deprecated, as in SmartSim)."""
        warnings.warn(
            "`colocate_db` has been deprecated and will be removed in a \n"
            "future release. Please use `colocate_db_tcp` or `colocate_db_uds`.",
            FutureWarning)
        self.colocate_db_tcp(*args, **kwargs)

    def colocate_db_uds(self, unix_socket: str = "/tmp/redis.socket", socket_permissions: int = 755,
                        db_cpus: int = 1,
                        custom_pinning: t.Optional[t.Iterable[t.Union[int, t.Iterable[int]]]] = None,
                        debug: bool = False, db_identifier: str = "", **kwargs: t.Any) -> None:
        """Run a database next to this model, reached over a Unix domain socket.

        It starts when the model is launched, answers before the application's first line
        runs, and is shut down when the model ends. ``SSDB`` (``SSDB_<db_identifier>``) is
        ``unix://<unix_socket>``. ``custom_pinning``: CPUs for the database (default
        ``0..db_cpus-1``; ``[]``: no pinning). kwargs ``threads_per_queue``,
        ``inter_op_parallelism``, ``intra_op_parallelism`` configure ML execution; other
        kwargs become ``--key-with-dashes value`` redis-server arguments.
        """
        if not isinstance(unix_socket, str) or not re.match(r"^[a-zA-Z0-9.:\,_\-/]*$", unix_socket):
            raise ValueError(f"Invalid name for unix socket: {unix_socket}. Must only "
                             "contain alphanumeric characters or . : _ - /")
        uds_options: t.Dict[str, t.Any] = {
            "unix_socket": unix_socket,
            "socket_permissions": socket_permissions,
            "port": 0,  # no TCP listener, as Redis recommends for UDS
        }
        common = {"cpus": db_cpus, "custom_pinning": custom_pinning, "debug": debug,
                  "db_identifier": db_identifier}
        self._set_colocated_db_settings(uds_options, common, **kwargs)

    def colocate_db_tcp(self, port: int = 6379, ifname: t.Union[str, t.List[str]] = "lo", db_cpus: int = 1,
                        custom_pinning: t.Optional[t.Iterable[t.Union[int, t.Iterable[int]]]] = None,
                        debug: bool = False, db_identifier: str = "", **kwargs: t.Any) -> None:
        """Run a database next to this model, reached over TCP on the loopback interface
        (and ``ifname``). ``SSDB`` (``SSDB_<db_identifier>``) is ``127.0.0.1:<port>``.
        See ``colocate_db_uds`` for the other options."""
        tcp_options = {"port": port, "ifname": ifname}
        common = {"cpus": db_cpus, "custom_pinning": custom_pinning, "debug": debug,
                  "db_identifier": db_identifier}
        self._set_colocated_db_settings(tcp_options, common, **kwargs)

    def _set_colocated_db_settings(self, connection_options: t.Mapping[str, t.Any],
                                   common_options: t.Dict[str, t.Any], **kwargs: t.Any) -> None:
        if self.run_settings is None:
            raise SSUnsupportedError(f"Model {self.name!r} has no run settings to colocate a database with")
        if getattr(self.run_settings, "mpmd", None):
            raise SSUnsupportedError("Models colocated with databases cannot be run as a mpmd workload")
        if hasattr(self.run_settings, "_prep_colocated_db"):
            self.run_settings._prep_colocated_db(common_options["cpus"])  # pylint: disable=protected-access
        if "limit_app_cpus" in kwargs:
            raise SSUnsupportedError(
                "Pinning app CPUs via limit_app_cpus is not supported. Modify RunSettings using "
                "the correct binding option for your launcher.")
        common_options["custom_pinning"] = self._create_pinning_string(
            common_options.get("custom_pinning"), common_options["cpus"])
        config: t.Dict[str, t.Any] = {}
        config.update(connection_options)
        config.update(common_options)
        rai_args = {
            "threads_per_queue": kwargs.get("threads_per_queue", None),
            "inter_op_parallelism": kwargs.get("inter_op_parallelism", None),
            "intra_op_parallelism": kwargs.get("intra_op_parallelism", None),
        }
        config["rai_args"] = rai_args
        config["extra_db_args"] = {k: str(v) for k, v in kwargs.items() if k not in rai_args}
        self._check_db_objects_colo()
        config["db_models"] = self._db_models
        config["db_scripts"] = self._db_scripts
        self.run_settings.colocated_db_settings = config

    @staticmethod
    def _create_pinning_string(pin_ids: t.Optional[t.Iterable[t.Union[int, t.Iterable[int]]]],
                               cpus: int) -> t.Optional[str]:
        """Comma-separated CPU ids: ``None`` -> ``0,1,...,cpus-1``; an empty iterable -> no
        pinning (``None``); nested ints are flattened, de-duplicated and sorted."""

        def _stringify_id(_id: int) -> str:
            if isinstance(_id, int):
                if _id < 0:
                    raise ValueError("CPU id must be a nonnegative number")
                return str(_id)
            raise TypeError(f"Argument is of type '{type(_id)}' not 'int'")

        try:
            pin_ids = tuple(pin_ids) if pin_ids is not None else None
        except TypeError:
            raise TypeError("Expected a cpu pinning specification of type iterable of ints or "
                            f"iterables of ints. Instead got type `{type(pin_ids)}`") from None
        if sys.platform == "darwin":
            if pin_ids:
                warnings.warn("CPU pinning is not supported on MacOSX. Ignoring pinning "
                              "specification.", RuntimeWarning)
            return None
        if pin_ids is None:
            return ",".join(_stringify_id(i) for i in range(cpus))
        if not pin_ids:
            return None
        flat = itertools.chain.from_iterable((x,) if isinstance(x, int) else x for x in pin_ids)
        return ",".join(sorted({_stringify_id(x) for x in flat}, key=int))

    # -- ML objects loaded into the database(s) before the model starts ---------------
    def add_ml_model(self, name: str, backend: str, model: t.Optional[bytes] = None,
                     model_path: t.Optional[str] = None, device: str = "CPU",
                     devices_per_node: int = 1, first_device: int = 0, batch_size: int = 0,
                     min_batch_size: int = 0, min_batch_timeout: int = 0, tag: str = "",
                     inputs: t.Optional[t.List[str]] = None,
                     outputs: t.Optional[t.List[str]] = None) -> None:
        """Store an ML model (TF, TFLITE, TORCH or ONNX) in the database before this model
        starts: ``model`` (serialized, in memory; not for a colocated database) or
        ``model_path`` (a file). ``devices_per_node`` > 1 on ``device="GPU"`` stores one copy
        per GPU from ``first_device`` on (keys ``<name>.GPU:<n>``, as SmartRedis's
        ``set_model_multigpu``). ``batch_size``/``min_batch_size``/``min_batch_timeout``
        configure batching; ``inputs``/``outputs`` name a TF graph's nodes (TF only)."""
        self.add_ml_model_object(DBModel(
            name=name, backend=backend, model=model, model_file=model_path, device=device,
            devices_per_node=devices_per_node, first_device=first_device, batch_size=batch_size,
            min_batch_size=min_batch_size, min_batch_timeout=min_batch_timeout, tag=tag,
            inputs=inputs, outputs=outputs))

    def add_script(self, name: str, script: t.Optional[str] = None,
                   script_path: t.Optional[str] = None, device: str = "CPU",
                   devices_per_node: int = 1, first_device: int = 0) -> None:
        """Store TorchScript in the database before this model starts: ``script`` (source
        text) or ``script_path`` (a file); both work with a colocated database."""
        self.add_script_object(DBScript(name=name, script=script, script_path=script_path,
                                        device=device, devices_per_node=devices_per_node,
                                        first_device=first_device))

    def add_function(self, name: str, function: t.Optional[t.Callable[..., t.Any]] = None,
                     device: str = "CPU", devices_per_node: int = 1, first_device: int = 0) -> None:
        """Store a Python function as TorchScript (its source, taken with ``inspect``) in
        the database before this model starts (not for a colocated database: use
        ``add_script`` there)."""
        self.add_script_object(DBScript(name=name, script=function, device=device,
                                        devices_per_node=devices_per_node,
                                        first_device=first_device))

    def add_ml_model_object(self, db_model: DBModel) -> None:
        """Attach a ``DBModel`` (duplicate name or in-memory on colocated: refused)."""
        if not isinstance(db_model, DBModel):
            raise ParameterTypeError(f"expected a DBModel, got {type(db_model).__name__}")
        if any(m.name == db_model.name for m in self._db_models):
            raise SSUnsupportedError(f'An ML Model with name "{db_model.name}" already exists')
        if not db_model.is_file and self.colocated:
            raise SSUnsupportedError(_colo_model_msg(db_model.name, self.name))
        self._db_models.append(db_model)

    def add_script_object(self, db_script: DBScript) -> None:
        """Attach a ``DBScript`` (duplicate name or a function on colocated: refused)."""
        if not isinstance(db_script, DBScript):
            raise ParameterTypeError(f"expected a DBScript, got {type(db_script).__name__}")
        if any(s.name == db_script.name for s in self._db_scripts):
            raise SSUnsupportedError(f'A Script with name "{db_script.name}" already exists')
        if db_script.is_function and self.colocated:
            raise SSUnsupportedError(_colo_function_msg(db_script.name, self.name))
        self._db_scripts.append(db_script)

    def _check_db_objects_colo(self) -> None:
        """A colocated database loads objects from files or strings only."""
        for db_model in self._db_models:
            if not db_model.is_file:
                raise SSUnsupportedError(_colo_model_msg(db_model.name, self.name))
        for db_script in self._db_scripts:
            if db_script.is_function:
                raise SSUnsupportedError(_colo_function_msg(db_script.name, self.name))

    def attach_generator_files(self, to_copy: t.Optional[t.List[str]] = None,
                               to_symlink: t.Optional[t.List[str]] = None,
                               to_configure: t.Optional[t.List[str]] = None) -> None:
        """Attach files placed in the model directory by ``Experiment.generate``.

        Replaces earlier attachments. ``to_configure`` files are rendered with this model's
        params (tags ``;NAME;``); a directory's contents are merged into the model directory.
        """
        self.files = attach_files(to_copy, to_symlink, to_configure)

    @property
    def attached_files_table(self) -> str:
        """A table of the files attached with ``attach_generator_files`` (copy, symlink,
        configure), or a note that there are none.
        """
        if not self.files:
            return "No file attached to this model."
        return str(self.files)

    def print_attached_files(self) -> None:
        """Print :attr:`attached_files_table`."""
        print(self.attached_files_table)

    def params_to_args(self) -> None:
        """Append ``params_as_args`` params to the executable arguments (``--name=value``)."""
        for arg in param_args(self.name, self.params, self.params_as_args):
            if self.run_settings is None:
                raise ValueError(f"Tried to configure command line parameter for Model {self.name}, "
                                 "but no RunSettings are set.")
            self.run_settings.add_exe_args(arg)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and self.name == other.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __str__(self) -> str:
        entity_str = f"Name: {self.name}\nType: {self.type}\n{self.run_settings}\n"
        if self.params:
            entity_str += "Parameters: \n" + "\n".join(f"{k} = {v}" for k, v in self.params.items()) + "\n"
        if self._db_models:
            entity_str += f"DB Models: \n{len(self._db_models)}\n"
        if self._db_scripts:
            entity_str += f"DB Scripts: \n{len(self._db_scripts)}\n"
        return entity_str


def _colo_model_msg(name: str, owner: str) -> str:
    return ("ML model can not be set from memory for colocated databases.\n"
            f"Please store the ML model named {name} in binary format and add it to the "
            f"SmartSim Model as file (model {owner!r} runs with a colocated database, which "
            "loads its objects from files or strings when it starts, in the model's job, where "
            "the driver's memory is not available).")


def _colo_function_msg(name: str, owner: str) -> str:
    return ("Functions can not be set from memory for colocated databases.\n"
            f"Please convert the function named {name} to a string or store it as a text "
            f"file and add it to the SmartSim Model with add_script (model {owner!r} runs with "
            "a colocated database, which loads its objects from files or strings when it "
            "starts, in the model's job, where the driver's memory is not available).")


def param_args(model_name: str, params: t.Mapping[str, str],
               params_as_args: t.Optional[t.Sequence[str]]) -> t.List[str]:
    """The executable arguments made from ``params_as_args`` (SmartSim's formatting)."""
    args = []
    for param in params_as_args or ():
        if param not in params:
            raise ValueError(f"Tried to convert {param} to command line argument for Model "
                             f"{model_name}, but its value was not found in model params")
        args.append(cat_arg_and_value(param, params[param]))
    return args
