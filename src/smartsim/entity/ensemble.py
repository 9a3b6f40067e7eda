"""``Ensemble``: many members from parameter expansion, replicas, or models added by hand.

Members made by expansion are rows of an index table (see ``strategies.expand``; for
``all_perm`` a ``ProductIndex`` that decodes a member's row from its position). A member
becomes a Python object only when someone asks for it, and keeps per-member state (its own
params dict, its own copy of the run settings, ...) only once that state is touched: the
first access of a stateful attribute stores it in ``Ensemble._states`` so later lookups of
the same member see the change. Listing a million names therefore allocates nothing that
outlives the loop.
"""
from __future__ import annotations

import copy
import os
import typing as t

import numpy as np

from _fastpath import permute

from .._core.utils.helpers import check_name
from ..error import EntityExistsError, EntityTypeError, SmartSimError, SSUnsupportedError
from ..log import get_logger
from .dbobject import DBModel, DBObject, DBScript
from .entity import SmartSimEntity
from .files import EntityFiles
from .model import Model, _colo_function_msg, _colo_model_msg, attach_files, param_args
from .strategies import MemberIndex, check_replicas, check_strategy, expand, read_parameters

if t.TYPE_CHECKING:
    from ..settings.base import BatchSettings, RunSettings

logger = get_logger(__name__)


class Ensemble(SmartSimEntity):
    """A group of ``Model`` members treated as one entity."""

    def __init__(
        self,
        name: str,
        params: t.Optional[t.Dict[str, t.Any]],
        path: t.Optional[str] = None,
        params_as_args: t.Optional[t.List[str]] = None,
        batch_settings: t.Optional["BatchSettings"] = None,
        run_settings: t.Optional["RunSettings"] = None,
        perm_strat: t.Union[str, t.Callable[..., t.Any]] = "all_perm",
        **kwargs: t.Any,
    ) -> None:
        check_name(name, "Ensemble name")
        check_strategy(perm_strat)
        replicas = kwargs.pop("replicas", None)
        n_models = kwargs.pop("n_models", 0) or 0
        seed = kwargs.pop("seed", None)
        n_replicas = check_replicas(replicas)
        self.name = name
        self.path = os.fspath(path) if path is not None else os.getcwd()
        self.params = params or {}
        self.params_as_args = list(params_as_args or [])
        self.batch_settings = batch_settings
        # None for a batch-only ensemble (members added later), as in SmartSim 0.8
        self.run_settings = run_settings  # type: ignore[assignment]
        self.replicas = replicas
        self.perm_strat = perm_strat
        self._key_prefixing_enabled = True
        self._files: t.Optional[EntityFiles] = None
        self._incoming: t.List[SmartSimEntity] = []
        self._db_models: t.List[DBModel] = []
        self._db_scripts: t.List[DBScript] = []
        self._states: t.Dict[int, MemberState] = {}
        self._added: t.Dict[str, Model] = {}
        self._value_bytes: t.Optional[t.List[t.List[bytes]]] = None

        names: t.List[str] = []
        values: t.List[t.List[str]] = []
        index: MemberIndex = np.zeros((0, 0), dtype=np.int32)
        if self.params:
            names, values = read_parameters(self.params)
            missing = [p for p in self.params_as_args if p not in names]
            if missing:
                raise ValueError(f"params_as_args names {missing} of ensemble {name} are not in its "
                                 f"params {names}")
            if not run_settings:
                raise SmartSimError(
                    f"Ensemble {name} was given 'params' but no run_settings to run its members")
            if perm_strat == "random":
                expansion = expand(names, values, "random", n_models=n_models or (replicas or 0), seed=seed)
            else:
                expansion = expand(names, values, perm_strat, n_models=n_models, replicas=n_replicas)
            names, values, index = expansion
        elif run_settings:
            if not replicas:
                raise SmartSimError(
                    f"Ensemble {name} has run_settings but neither 'params' nor 'replicas' to "
                    "expand into members")
            index = np.zeros((n_replicas, 0), dtype=np.int32)
        elif not batch_settings:
            raise SmartSimError(f"Ensemble {name} must be provided batch settings or run settings")
        else:
            logger.info(f"Empty ensemble {name} created for batch launch")
        self._param_names = names
        self._param_values = values
        # all_perm members stay a ProductIndex (rows decoded on demand), never a matrix
        self._index = index if isinstance(index, permute.ProductIndex) else np.ascontiguousarray(
            index, dtype=np.int32)
        # Members copy the settings as they were at creation, as SmartSim's deep copies did.
        self._member_rs = copy.deepcopy(run_settings) if run_settings is not None else None
        self._n_expanded = int(self._index.shape[0])
        self._member_prefix = f"{name}_"

    # -- the collection -------------------------------------------------------------
    @property
    def type(self) -> str:
        """``"Ensemble"``: the entity type shown in summaries and the manifest."""
        return "Ensemble"

    @property
    def batch(self) -> bool:
        """True when the ensemble has batch settings (it is submitted as one batch job)."""
        return bool(self.batch_settings)

    def __len__(self) -> int:
        return self._n_expanded + len(self._added)

    def __iter__(self) -> t.Iterator[Model]:
        # the hot loop of "list a million members": no __init__ call, no instance dict
        new, cls = object.__new__, EnsembleMember
        prefix = self._member_prefix
        for i in range(self._n_expanded):
            member = new(cls)
            member.name = prefix + str(i)
            member._owner = self
            member._index = i
            yield member
        yield from list(self._added.values())

    @property
    def models(self) -> t.List[Model]:
        """The members as a list of ``Model`` (a new list each time)."""
        return list(self)

    @property
    def entities(self) -> t.List[Model]:
        """Every member as a :class:`Model` (expanded members, then those added with
        ``add_model``). Builds one object per member: prefer iterating or ``len`` for large
        ensembles.
        """
        return list(self)

    def member_names(self) -> t.List[str]:
        """The names of every member, in launch order: ``<ensemble>_<i>`` for expanded members,
        then the names of models added with ``add_model``.
        """
        prefix = self._member_prefix
        return [prefix + str(i) for i in range(self._n_expanded)] + list(self._added)

    def _expanded_position(self, name: str) -> int:
        """Index of the expanded member called ``name``, or -1."""
        prefix = self._member_prefix
        if not name.startswith(prefix):
            return -1
        digits = name[len(prefix):]
        if not digits.isdigit() or not digits.isascii() or (digits[0] == "0" and digits != "0"):
            return -1
        i = int(digits)
        return i if i < self._n_expanded else -1

    def __contains__(self, item: object) -> bool:
        name = item.name if isinstance(item, SmartSimEntity) else item
        return isinstance(name, str) and (name in self._added or self._expanded_position(name) >= 0)

    def __getitem__(self, key: t.Union[str, int]) -> t.Optional[Model]:
        if isinstance(key, str):
            model = self._added.get(key)
            if model is not None:
                return model
            i = self._expanded_position(key)
            if i < 0:
                return None  # SmartSim's EntitySequence returns None for an unknown name
            return EnsembleMember(self, i, key)
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            n = len(self)
            i = int(key) + n if key < 0 else int(key)
            if not 0 <= i < n:
                raise IndexError(f"member index {key} out of range for ensemble {self.name} of {n} members")
            if i < self._n_expanded:
                return EnsembleMember(self, i, self._member_prefix + str(i))
            return list(self._added.values())[i - self._n_expanded]
        raise TypeError(f"Ensemble members are looked up by name (str) or position (int), got {key!r}")

    def add_model(self, model: Model) -> None:
        """Add a model as a member (O(1) duplicate check by name)."""
        if not isinstance(model, Model):
            raise EntityTypeError(f"Argument to add_model was of type {type(model)}, not Model")
        # a Model's name is a plain attribute and may have changed since it was created
        check_name(model.name, "Model name")
        if model.name in self:
            raise EntityExistsError(f"Model {model.name} already exists in ensemble {self.name}")
        # the ensemble's ML objects go to the new member: checked first, so a refusal adds nothing
        colocated = model.colocated
        for obj in (*self._db_models, *self._db_scripts):
            _check_member_object(obj, model.name, model._db_models if isinstance(obj, DBModel)
                                 else model._db_scripts, colocated)
        model._db_models.extend(self._db_models)
        model._db_scripts.extend(self._db_scripts)
        self._added[model.name] = model

    @classmethod
    def of_members(cls, name: str, models: t.Sequence[Model], path: t.Optional[str] = None) -> "Ensemble":
        """An ensemble of exactly ``models`` (no expansion): how a new driver rebuilds an
        ensemble from the runs its manifest recorded (``Experiment.attach``)."""
        # one replica to pass the constructor's checks (an ensemble of run settings must
        # expand into members), then none: the members are exactly ``models``
        ens = cls(name, None, path=path, run_settings=models[0].run_settings if models else None,
                  replicas=1)
        ens._n_expanded = 0
        ens._index = ens._index[:0]
        for model in models:
            ens.add_model(model)
        return ens

    # -- ML objects: on every current member and every member added later --------------
    @property
    def db_models(self) -> t.Iterable[DBModel]:
        """The ML models attached to the ensemble (an iterator, as in SmartSim)."""
        return iter(list(self._db_models))

    @property
    def db_scripts(self) -> t.Iterable[DBScript]:
        """The scripts and functions attached to the ensemble (an iterator, as in SmartSim)."""
        return iter(list(self._db_scripts))

    def add_ml_model(self, name: str, backend: str, model: t.Optional[bytes] = None,
                     model_path: t.Optional[str] = None, device: str = "CPU",
                     devices_per_node: int = 1, first_device: int = 0, batch_size: int = 0,
                     min_batch_size: int = 0, min_batch_timeout: int = 0, tag: str = "",
                     inputs: t.Optional[t.List[str]] = None,
                     outputs: t.Optional[t.List[str]] = None) -> None:
        """Store an ML model in the database before the members start (see
        ``Model.add_ml_model``): one object shared by every current and later member,
        stored once. A name already attached -> ``SSUnsupportedError``."""
        self._attach(DBModel(
            name=name, backend=backend, model=model, model_file=model_path, device=device,
            devices_per_node=devices_per_node, first_device=first_device, batch_size=batch_size,
            min_batch_size=min_batch_size, min_batch_timeout=min_batch_timeout, tag=tag,
            inputs=inputs, outputs=outputs))

    def add_script(self, name: str, script: t.Optional[str] = None,
                   script_path: t.Optional[str] = None, device: str = "CPU",
                   devices_per_node: int = 1, first_device: int = 0) -> None:
        """Store TorchScript (source text or a file) before the members start."""
        self._attach(DBScript(name=name, script=script, script_path=script_path, device=device,
                              devices_per_node=devices_per_node, first_device=first_device))

    def add_function(self, name: str, function: t.Optional[t.Callable[..., t.Any]] = None,
                     device: str = "CPU", devices_per_node: int = 1, first_device: int = 0) -> None:
        """Store a Python function as TorchScript before the members start (not for
        members with a colocated database: use ``add_script`` there)."""
        self._attach(DBScript(name=name, script=function, device=device,
                              devices_per_node=devices_per_node, first_device=first_device))

    def _attach(self, obj: DBObject) -> None:
        """Attach ``obj`` to the ensemble and every member; every member is checked before
        any is changed. Members nobody touched read the ensemble's list (nothing per member)."""
        is_model = isinstance(obj, DBModel)
        attr = "db_models" if is_model else "db_scripts"
        # the list that matches obj's kind (is_model), so appending obj keeps it homogeneous
        own = t.cast(t.List[DBObject], self._db_models if is_model else self._db_scripts)
        if any(o.name == obj.name for o in own):
            raise SSUnsupportedError(_duplicate_msg(obj))
        in_memory = not obj.is_file if is_model else t.cast(DBScript, obj).is_function
        if in_memory:
            rs = self._member_rs
            if self._n_expanded > len(self._states) and getattr(rs, "colocated_db_settings", None):
                first = next(i for i in range(self._n_expanded) if i not in self._states)
                raise SSUnsupportedError(_colo_msg(obj, self._member_prefix + str(first)))
        for i, state in self._states.items():
            _check_member_object(obj, self._member_prefix + str(i), getattr(state, attr),
                                 bool(getattr(state.run_settings, "colocated_db_settings", None)))
        for model in self._added.values():
            _check_member_object(obj, model.name, getattr(model, "_" + attr), model.colocated)
        own.append(obj)
        for state in self._states.values():
            getattr(state, attr).append(obj)
        for model in self._added.values():
            getattr(model, "_" + attr).append(obj)

    def _member_colocated(self, i: int) -> bool:
        state = self._states.get(i)
        rs = state.run_settings if state is not None else self._member_rs
        return bool(getattr(rs, "colocated_db_settings", None))

    @property
    def member_table(self) -> "MemberTable":
        """The members as the rest of the package reads them (see ``MemberTable``)."""
        return MemberTable(self)

    # -- ensemble-wide operations: update the defaults and every materialised member ----
    def _materialised(self) -> t.Iterator["MemberState"]:
        return iter(self._states.values())

    def register_incoming_entity(self, incoming_entity: SmartSimEntity) -> None:
        """Let every member read keys prefixed by ``incoming_entity``."""
        if incoming_entity.name in (e.name for e in self._incoming):
            raise EntityExistsError(
                f"'{incoming_entity.name}' has already been registered as an incoming entity of "
                f"ensemble {self.name}")
        for state in self._materialised():
            if incoming_entity.name in (e.name for e in state.incoming_entities):
                raise EntityExistsError(
                    f"'{incoming_entity.name}' has already been registered as an incoming entity")
        self._incoming.append(incoming_entity)
        for state in self._materialised():
            state.incoming_entities.append(incoming_entity)
        for model in self._added.values():
            model.register_incoming_entity(incoming_entity)

    def enable_key_prefixing(self) -> None:
        """Every member prefixes its keys with its own name (the default for members)."""
        self._key_prefixing_enabled = True
        for state in self._materialised():
            state.key_prefixing = True
        for model in self._added.values():
            model.enable_key_prefixing()

    def query_key_prefixing(self) -> bool:
        """True if every member prefixes its keys."""
        if self._n_expanded > len(self._states) and not self._key_prefixing_enabled:
            return False
        return all(s.key_prefixing for s in self._materialised()) and all(
            m.query_key_prefixing() for m in self._added.values())

    def attach_generator_files(self, to_copy: t.Optional[t.List[str]] = None,
                               to_symlink: t.Optional[t.List[str]] = None,
                               to_configure: t.Optional[t.List[str]] = None) -> None:
        """Attach files to every current member (replacing their earlier attachments)."""
        files = attach_files(to_copy, to_symlink, to_configure)
        self._files = files
        for state in self._materialised():
            state.files = files
        for model in self._added.values():
            model.files = files

    @property
    def attached_files_table(self) -> str:
        """One line per member with the table of files attached to it (or a note that the
        ensemble is empty).
        """
        if not len(self):
            return "The ensemble is empty, no files to show."
        return "\n".join(f"{m.name}: {m.attached_files_table}" for m in self)

    def print_attached_files(self) -> None:
        """Print :attr:`attached_files_table`."""
        print(self.attached_files_table)

    # -- per-member state -------------------------------------------------------------
    def _member_params(self, i: int) -> t.Dict[str, str]:
        state = self._states.get(i)
        if state is not None:
            return state.params
        values = self._param_values
        return {n: values[j][k] for j, (n, k) in enumerate(zip(self._param_names, self._index[i].tolist()))
                if k >= 0}

    def _materialise(self, i: int) -> "MemberState":
        state = self._states.get(i)
        if state is None:
            params = self._member_params(i)
            rs = copy.deepcopy(self._member_rs)
            name = self._member_prefix + str(i)
            if rs is not None:
                for arg in param_args(name, params, self.params_as_args):
                    rs.add_exe_args(arg)
            state = MemberState(params, rs, list(self.params_as_args), list(self._incoming),
                                self._key_prefixing_enabled, self._files, list(self._db_models),
                                list(self._db_scripts))
            self._states[i] = state
        return state

    def _member_files(self, i: int) -> t.Optional[EntityFiles]:
        state = self._states.get(i)
        return state.files if state is not None else self._files

    def _member_path(self, i: int, name: str) -> str:
        state = self._states.get(i)
        if state is not None and state.path is not None:
            return state.path
        return os.path.join(self.path, name)

    def encoded_values(self) -> t.List[t.List[bytes]]:
        """Parameter values as UTF-8 bytes (computed once, for rendering)."""
        if self._value_bytes is None:
            self._value_bytes = [[v.encode("utf-8") for v in vals] for vals in self._param_values]
        return self._value_bytes

    def __str__(self) -> str:
        return f"Ensemble {self.name}: {len(self)} members, params {list(self._param_names)}"

    def __repr__(self) -> str:
        return self.name


def _duplicate_msg(obj: DBObject) -> str:
    if isinstance(obj, DBModel):
        return f'An ML Model with name "{obj.name}" already exists'
    return f'A Script with name "{obj.name}" already exists'


def _colo_msg(obj: DBObject, member: str) -> str:
    if isinstance(obj, DBModel):
        return _colo_model_msg(obj.name, member)
    return _colo_function_msg(obj.name, member)


def _check_member_object(obj: DBObject, member: str, existing: t.List[t.Any], colocated: bool) -> None:
    """Refuse ``obj`` for a member that has an object of that name, or that is colocated
    when ``obj`` lives only in the driver's memory."""
    if any(o.name == obj.name for o in existing):
        raise SSUnsupportedError(_duplicate_msg(obj) + f" (on member {member})")
    if colocated:
        in_memory = not obj.is_file if isinstance(obj, DBModel) else t.cast(DBScript, obj).is_function
        if in_memory:
            raise SSUnsupportedError(_colo_msg(obj, member))


def _state_property(key: str, doc: str) -> property:
    def fget(self: "EnsembleMember") -> t.Any:
        return getattr(self._owner._materialise(self._index), key)

    def fset(self: "EnsembleMember", value: t.Any) -> None:
        setattr(self._owner._materialise(self._index), key, value)

    return property(fget, fset, doc=doc)


class EnsembleMember(Model):
    """A view of one expanded member; its state lives in the owning ensemble."""

    __slots__ = ("name", "_owner", "_index")

    def __init__(self, owner: Ensemble, index: int, name: str) -> None:  # pylint: disable=super-init-not-called
        self.name = name
        self._owner = owner
        self._index = index

    params = _state_property("params", "member params (str -> str)")
    run_settings = _state_property("run_settings", "this member's own copy of the run settings")
    params_as_args = _state_property("params_as_args", "params passed as executable arguments")
    incoming_entities = _state_property("incoming_entities", "entities whose keys this member reads")
    _key_prefixing_enabled = _state_property("key_prefixing", "prefix keys with the name")
    batch_settings = _state_property("batch_settings", "batch settings (members have none)")
    files = _state_property("files", "attached generator files")
    _db_models = _state_property("db_models", "ML models to load for this member")
    _db_scripts = _state_property("db_scripts", "scripts to load for this member")

    @property
    def ensemble(self) -> Ensemble:
        """The ensemble this member belongs to."""
        return self._owner

    @property
    def position(self) -> int:
        """This member's position among the ensemble's expanded members."""
        return self._index

    @property
    def path(self) -> str:
        """This member's directory: ``<ensemble path>/<member name>`` unless set for the member."""
        return self._owner._member_path(self._index, self.name)

    @path.setter
    def path(self, value: str) -> None:
        self._owner._materialise(self._index).path = value

    def query_key_prefixing(self) -> bool:
        """True when this member prefixes the keys it puts with its name."""
        return MemberTable(self._owner).key_prefixing(self._index)

    @property
    def colocated(self) -> bool:
        return self._owner._member_colocated(self._index)

    @property
    def db_models(self) -> t.Iterable[DBModel]:
        return iter(list(MemberTable(self._owner).db_models(self._index)))

    @property
    def db_scripts(self) -> t.Iterable[DBScript]:
        return iter(list(MemberTable(self._owner).db_scripts(self._index)))


class MemberState:
    """The state of one expanded member that someone touched (read a stateful attribute
    of, or changed): from then on it is this member's own, apart from the ensemble's."""

    __slots__ = ("params", "run_settings", "params_as_args", "incoming_entities", "key_prefixing",
                 "batch_settings", "files", "path", "db_models", "db_scripts")

    def __init__(self, params: t.Dict[str, str], run_settings: t.Optional["RunSettings"],
                 params_as_args: t.List[str], incoming_entities: t.List[SmartSimEntity],
                 key_prefixing: bool, files: t.Optional[EntityFiles], db_models: t.List[t.Any],
                 db_scripts: t.List[t.Any]) -> None:
        self.params = params
        self.run_settings = run_settings
        self.params_as_args = params_as_args
        self.incoming_entities = incoming_entities
        self.key_prefixing = key_prefixing
        self.batch_settings: t.Optional["BatchSettings"] = None
        self.files = files
        self.path: t.Optional[str] = None  # None: <ensemble path>/<member name>
        self.db_models = db_models
        self.db_scripts = db_scripts


class MemberTable:
    """An ensemble's members as generation, control and database launch read them.

    The one interface to an ``Ensemble``'s members outside ``entity/`` (nothing else reads
    its private attributes), built so that nothing per member exists until asked for:

    - Expanded members are positions ``0 .. n_expanded - 1``. Member ``i`` is named
      ``prefix + str(i)``; its value of parameter ``param_names[j]`` is
      ``param_values[j][index[i, j]]`` (``-1``: the member has no such parameter; only user
      strategies make those); it runs ``run_settings`` (the ensemble's, copied at creation)
      with its ``params_as_args`` appended; its directory is ``<ensemble path>/<name>``.
    - ``overrides[i]`` is a ``MemberState`` for each member someone touched: it then has its
      own params, run settings (already carrying its param args), files, path, ...
    - ``added`` maps the names of models added with ``add_model`` to the models; they follow
      the expanded members.

    A view: it reflects the ensemble at the time of each read. Treat what it returns as
    read-only; change members through the ``Ensemble`` API.
    """

    __slots__ = ("_ens",)

    def __init__(self, ensemble: Ensemble) -> None:
        self._ens = ensemble

    @property
    def n_expanded(self) -> int:
        """How many members the ensemble's parameters and replicas expand to (added models
        excluded).
        """
        return self._ens._n_expanded

    @property
    def prefix(self) -> str:
        """The prefix of expanded members' names (``<ensemble>_``)."""
        return self._ens._member_prefix

    @property
    def param_names(self) -> t.List[str]:
        """The ensemble's parameter names, in column order of the member index."""
        return self._ens._param_names

    @property
    def param_values(self) -> t.List[t.List[str]]:
        """Each parameter's values as str, in the order of :attr:`param_names`."""
        return self._ens._param_values

    @property
    def index(self) -> t.Union[np.ndarray, permute.ProductIndex]:
        """The (n_expanded x params) index table: a matrix, or a ``ProductIndex`` for all_perm."""
        return self._ens._index

    @property
    def run_settings(self) -> t.Optional["RunSettings"]:
        """The run settings members share until they are given their own."""
        return self._ens._member_rs

    @property
    def files(self) -> t.Optional[EntityFiles]:
        """The files attached to the ensemble (members without overrides use these)."""
        return self._ens._files

    @property
    def params_as_args(self) -> t.List[str]:
        """The parameter names passed to every member as command-line arguments."""
        return self._ens.params_as_args

    @property
    def overrides(self) -> t.Mapping[int, MemberState]:
        """Per-member state of the expanded members that were changed individually, by
        position; a member not in it uses the ensemble's shared state.
        """
        return self._ens._states

    @property
    def added(self) -> t.Mapping[str, Model]:
        """Models added with ``Ensemble.add_model``, by name."""
        return self._ens._added

    def name(self, i: int) -> str:
        """The name of expanded member ``i``."""
        return self._ens._member_prefix + str(i)

    def params(self, i: int) -> t.Dict[str, str]:
        """The parameters of expanded member ``i`` as ``{name: value}``."""
        return self._ens._member_params(i)

    def path(self, i: int) -> str:
        """The directory of expanded member ``i``."""
        return self._ens._member_path(i, self.name(i))

    def encoded_values(self) -> t.List[t.List[bytes]]:
        """``param_values`` as UTF-8 bytes (computed once, for rendering)."""
        return self._ens.encoded_values()

    def incoming_entities(self, i: int) -> t.List[SmartSimEntity]:
        """The entities expanded member ``i`` reads keys from (``register_incoming_entity``)."""
        state = self._ens._states.get(i)
        return state.incoming_entities if state is not None else self._ens._incoming

    def key_prefixing(self, i: int) -> bool:
        """True when expanded member ``i`` prefixes its keys with its name."""
        state = self._ens._states.get(i)
        return state.key_prefixing if state is not None else self._ens._key_prefixing_enabled

    @property
    def ensemble_db_models(self) -> t.List[DBModel]:
        """The ML models attached to the ensemble (members nobody touched have exactly these)."""
        return self._ens._db_models

    @property
    def ensemble_db_scripts(self) -> t.List[DBScript]:
        """The scripts attached to the ensemble as a whole (shared by untouched members)."""
        return self._ens._db_scripts

    def db_models(self, i: int) -> t.List[DBModel]:
        """Member ``i``'s ML models (its own list once touched, else the ensemble's)."""
        state = self._ens._states.get(i)
        return state.db_models if state is not None else self._ens._db_models

    def db_scripts(self, i: int) -> t.List[DBScript]:
        """The scripts stored for expanded member ``i``."""
        state = self._ens._states.get(i)
        return state.db_scripts if state is not None else self._ens._db_scripts

    def colocated(self, i: int) -> bool:
        """Whether member ``i`` runs with a colocated database."""
        return self._ens._member_colocated(i)

    def member(self, i: int) -> EnsembleMember:
        """Member ``i`` as a ``Model`` (touching its stateful attributes materialises it)."""
        return EnsembleMember(self._ens, i, self.name(i))
