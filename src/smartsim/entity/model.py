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
        self._db_models: t.List[t.Any] = []
        self._db_scripts: t.List[t.Any] = []

    @property
    def type(self) -> str:
        return "Model"

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
        self._key_prefixing_enabled = False

    def query_key_prefixing(self) -> bool:
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
        if not self.files:
            return "No file attached to this model."
        return str(self.files)

    def print_attached_files(self) -> None:
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
        return entity_str


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
