"""``Model``: one application run (executable, settings, parameters, attached files)."""
from __future__ import annotations

import numbers
import os
import typing as t

from .._core.utils.helpers import cat_arg_and_value
from ..error import EntityExistsError, ParameterTypeError
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
