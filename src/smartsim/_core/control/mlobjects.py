"""Loading the ML objects attached to models and ensembles (``add_ml_model``,
``add_script``, ``add_function``) into the databases at start.

Two paths:

* A database the experiment started (standalone or clustered): the controller calls
  ``plan_loads(entities)`` for the entities of one ``start`` and, once the database
  answers and before any of those entities is launched, ``store(ops, client)`` with a
  ``smartsim.client.Client`` for each database (``load_into(ops, addresses, password)``
  makes and closes that client). The client puts models and scripts on every shard of a
  cluster and makes the multi-GPU keys (``*_multigpu``).
* A colocated database: ``write_colocated_spec(model, directory)`` (driver side, when the
  colocated command line is built) writes the model's objects as JSON to a 0600 file; the
  colocated wrapper (``_core/server/colocated.py``) calls ``load_colocated(path, conn)`` once
  its database answers (and its executor registered) and before it runs the application.
  Only objects from files or strings can go this way: the wrapper runs in the model's job,
  where the driver's memory is not available, so in-memory models and Python functions on
  a colocated model are refused (``SSUnsupportedError``, when attached, when the model is
  colocated, and again here).

Keys (SmartSim 0.8 stores every object under its plain name with a client whose model
prefixing is off, as SmartRedis's default ``use_model_ensemble_prefix(False)``):

* An object shared by several entities or members (attached to an ensemble, or the same
  object / the same content attached to several models) is stored once, under its name.
* Different objects under one name among the started entities (e.g. each member given its
  own model ``"m"``) would overwrite each other under that one key (0.8 silently keeps the
  last). Their names are member-specific: each is stored under ``<entity name>.<name>``,
  the key a SmartRedis client finds with ``use_model_ensemble_prefix(True)`` and that
  entity as its data source (``SSKEYIN``/``set_data_source``); this needs key prefixing
  on those entities (ensemble members have it by default), else the start is refused
  (``SSUnsupportedError`` naming the name and the entities).

This module is loaded by path in the colocated wrapper (``python -I -S``, standard library
only): it imports nothing from the package at module level; the driver-side functions
import what they need when called.
"""
from __future__ import annotations

import hashlib
import json
import os
import typing as t

if t.TYPE_CHECKING:  # pragma: no cover
    from ...client import Client
    from ...entity.dbobject import DBModel, DBObject, DBScript

__all__ = ["LoadOp", "plan_loads", "store", "load_into", "colocated_spec", "write_colocated_spec",
           "load_colocated", "ColocatedLoadError"]

SPEC_VERSION = 1
_CHUNK = 511 * 1024 * 1024  # RedisAI's default MODEL_CHUNK_SIZE


class LoadOp:
    """Store ``obj`` (a ``DBModel`` or ``DBScript``; ``kind`` "model"/"script") under
    ``key``; ``owners`` names the entities it is stored for (for messages)."""

    __slots__ = ("kind", "key", "obj", "owners")

    def __init__(self, kind: str, key: str, obj: "DBObject", owners: t.Sequence[str]) -> None:
        self.kind = kind
        self.key = key
        self.obj = obj
        self.owners = tuple(owners)

    def __repr__(self) -> str:
        return f"LoadOp({self.kind} {self.obj.name!r} -> key {self.key!r}, for {', '.join(self.owners)})"


# ------------------------------------------------------------------------------ planning
class _Owner:
    """Who an object is stored for: one entity, or the members of an ensemble that nobody
    touched (they share the ensemble's objects; expanded to names only if needed)."""

    __slots__ = ("name", "prefixing", "lazy")

    def __init__(self, name: str, prefixing: bool,
                 lazy: t.Optional[t.Tuple[t.Any, t.Sequence[int]]] = None) -> None:
        self.name = name
        self.prefixing = prefixing
        self.lazy = lazy  # (member table, untouched member positions)

    def describe(self) -> str:
        if self.lazy is not None:
            return f"{len(self.lazy[1])} members of ensemble {self.name!r}"
        return repr(self.name)

    def expand(self) -> t.Iterator[t.Tuple[str, bool]]:
        if self.lazy is None:
            yield self.name, self.prefixing
            return
        table, positions = self.lazy
        for i in positions:
            yield table.name(i), table.key_prefixing(i)


def _entity_objects(entity: t.Any) -> t.Iterator[t.Tuple["DBObject", _Owner]]:
    """(object, owner) for every object the non-colocated members of ``entity`` carry."""
    table = getattr(entity, "member_table", None)
    if table is not None:  # an Ensemble: read through its member table, materialising nothing
        overrides = table.overrides
        ens_objects = list(table.ensemble_db_models) + list(table.ensemble_db_scripts)
        if ens_objects and len(overrides) < table.n_expanded:
            untouched = [i for i in range(table.n_expanded) if i not in overrides] \
                if overrides else range(table.n_expanded)
            # untouched members share one run settings: all colocated, or none
            first = next(iter(untouched))
            if not table.colocated(first):
                owner = _Owner(entity.name, table.key_prefixing(first), (table, untouched))
                for obj in ens_objects:
                    yield obj, owner
        for i in sorted(overrides):
            if table.colocated(i):
                continue
            owner = _Owner(table.name(i), table.key_prefixing(i))
            for obj in (*table.db_models(i), *table.db_scripts(i)):
                yield obj, owner
        for model in table.added.values():
            yield from _entity_objects(model)
        return
    owner_ens = getattr(entity, "ensemble", None)  # an EnsembleMember (no import: see above)
    if owner_ens is not None:  # one member on its own
        table = owner_ens.member_table
        i = entity.position
        if table.colocated(i):
            return
        owner = _Owner(entity.name, table.key_prefixing(i))
        for obj in (*table.db_models(i), *table.db_scripts(i)):
            yield obj, owner
        return
    models = getattr(entity, "_db_models", None)
    scripts = getattr(entity, "_db_scripts", None)
    if models is None and scripts is None:
        return  # an Orchestrator, or anything else without ML objects
    if getattr(entity, "colocated", False):
        return  # its colocated database loads them (write_colocated_spec)
    query = getattr(entity, "query_key_prefixing", None)
    owner = _Owner(entity.name, bool(query()) if query is not None else False)
    for obj in (*(models or ()), *(scripts or ())):
        yield obj, owner


def _kind(obj: "DBObject") -> str:
    return "model" if hasattr(obj, "backend") else "script"


def _file_digest(path: t.Any) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _content_signature(obj: "DBObject") -> t.Tuple[t.Any, ...]:
    """The signature with a file's content instead of its path (two copies of one model
    file are one object)."""
    sig = list(obj._signature())  # pylint: disable=protected-access
    if obj.file is not None:
        try:
            sig.append(_file_digest(obj.file))
        except OSError:
            return tuple(sig)
        sig = [s if s != str(obj.file) else None for s in sig]
    return tuple(sig)


def plan_loads(entities: t.Iterable[t.Any]) -> t.List[LoadOp]:
    """The objects to store, and under which keys, for these started entities (Models,
    Ensembles, single ensemble members; anything else is skipped). Colocated models are
    left out: their own database loads their objects. Raises ``SSUnsupportedError`` when
    different objects share a name on entities without key prefixing."""
    # name -> object identity -> [object, owners]; objects by identity first (cheap)
    by_name: t.Dict[str, t.Dict[int, t.List[t.Any]]] = {}
    seen: t.Set[int] = set()
    for entity in entities:
        if id(entity) in seen:
            continue
        seen.add(id(entity))
        for obj, owner in _entity_objects(entity):
            slot = by_name.setdefault(obj.name, {}).setdefault(id(obj), [obj, []])
            if not any(o is owner for o in slot[1]):
                slot[1].append(owner)
    ops: t.List[LoadOp] = []
    for name, objects in by_name.items():
        # the same content attached several times is one object
        groups: t.Dict[t.Tuple[t.Any, ...], t.List[t.Any]] = {}
        for obj, owners in objects.values():
            groups.setdefault(obj._signature(), [obj, []])[1].extend(owners)  # pylint: disable=protected-access
        if len(groups) > 1:
            regrouped: t.Dict[t.Tuple[t.Any, ...], t.List[t.Any]] = {}
            for obj, owners in groups.values():
                regrouped.setdefault(_content_signature(obj), [obj, []])[1].extend(owners)
            groups = regrouped
        if len(groups) == 1:
            obj, owners = next(iter(groups.values()))
            ops.append(LoadOp(_kind(obj), name, obj, [o.describe() for o in owners]))
            continue
        # (untouched members of one ensemble share its prefixing setting)
        unprefixed = [o for _, owners in groups.values() for o in owners if not o.prefixing]
        if unprefixed:
            from ...error import SSUnsupportedError  # pylint: disable=import-outside-toplevel

            described = "; ".join(
                f"{_kind(obj)} from {_source(obj)} on {', '.join(o.describe() for o in owners)}"
                for obj, owners in groups.values())
            raise SSUnsupportedError(
                f"{len(groups)} different ML objects are named {name!r} ({described}). Stored "
                "under one key, the last would replace the others. Give them different names, "
                "or enable key prefixing on those entities "
                f"({', '.join(o.describe() for o in unprefixed)}) to store each under "
                f"'<entity name>.{name}' (read with use_model_ensemble_prefix(True)).")
        for obj, owners in groups.values():
            for owner in owners:
                for member, _ in owner.expand():
                    ops.append(LoadOp(_kind(obj), f"{member}.{name}", obj, [member]))
    return ops


def _source(obj: "DBObject") -> str:
    if obj.file is not None:
        return f"file {str(obj.file)!r}"
    return "a function" if getattr(obj, "is_function", False) else "memory"


# ------------------------------------------------------------------------------- storing
def store(ops: t.Iterable[LoadOp], client: "Client") -> None:
    """Store every planned object through ``client`` (all shards of a cluster; one key per
    GPU for ``devices_per_node`` > 1, as SmartRedis's ``*_multigpu`` calls). A failure
    raises ``SmartSimError`` naming the object, where it came from and its entities (the
    client's message, which names the key and the database, follows)."""
    from ...error import SmartSimError  # pylint: disable=import-outside-toplevel

    for op in ops:
        obj = op.obj
        try:
            if op.kind == "model":
                _store_model(client, op.key, t.cast("DBModel", obj))
            else:
                _store_script(client, op.key, t.cast("DBScript", obj))
        except Exception as exc:  # pylint: disable=broad-except
            what = "ML model" if op.kind == "model" else "script"
            raise SmartSimError(
                f"could not store the {what} {obj.name!r} (from {_source(obj)}, attached to "
                f"{', '.join(op.owners)}) under key {op.key!r}: {exc}") from exc


def load_into(ops: t.Sequence[LoadOp], addresses: t.Sequence[str], password: t.Optional[str] = None,
              cluster: t.Optional[bool] = None) -> None:
    """``store(ops, client)`` with a client of the database at ``addresses`` (``host:port``
    of its shards; ``cluster`` defaults to more than one address), made from these values
    alone (the driver's own ``SSDB``/``SSKEYOUT``/... play no part), closed afterwards."""
    if not ops:
        return
    from ...client import Client, ConfigOptions  # pylint: disable=import-outside-toplevel

    cfg = ConfigOptions.create_from_environment("")
    cfg.override_string_option("SSDB", ",".join(addresses))
    clustered = len(addresses) > 1 if cluster is None else cluster
    cfg.override_string_option("SR_DB_TYPE", "Clustered" if clustered else "Standalone")
    cfg.override_string_option("SSKEYOUT", "")
    cfg.override_string_option("SSKEYIN", "")
    cfg.override_string_option("SSDB_PASSWORD", password or "")
    client = Client(cfg, logger_name="SmartSim")
    try:
        store(ops, client)
    finally:
        client.close()


def _store_model(client: "Client", key: str, obj: "DBModel") -> None:
    extra: t.Dict[str, t.Any] = dict(
        batch_size=obj.batch_size, min_batch_size=obj.min_batch_size,
        min_batch_timeout=obj.min_batch_timeout, tag=obj.tag,
        inputs=list(obj.inputs) or None, outputs=list(obj.outputs) or None)
    model = t.cast(bytes, obj.model)  # (when there is no file: DBModel requires one of the two)
    if obj.multigpu:
        if obj.file is not None:
            client.set_model_from_file_multigpu(key, str(obj.file), obj.backend, obj.first_device,
                                                obj.devices_per_node, **extra)
        else:
            client.set_model_multigpu(key, model, obj.backend, obj.first_device,
                                      obj.devices_per_node, **extra)
    elif obj.file is not None:
        client.set_model_from_file(key, str(obj.file), obj.backend, obj.device, **extra)
    else:
        client.set_model(key, model, obj.backend, obj.device, **extra)


def _store_script(client: "Client", key: str, obj: "DBScript") -> None:
    if obj.multigpu:
        if obj.file is not None:
            client.set_script_from_file_multigpu(key, str(obj.file), obj.first_device, obj.devices_per_node)
        else:
            client.set_script_multigpu(key, t.cast(str, obj.source), obj.first_device, obj.devices_per_node)
    elif obj.file is not None:
        client.set_script_from_file(key, str(obj.file), obj.device)
    else:
        client.set_script(key, t.cast(str, obj.source), obj.device)


# ----------------------------------------------------------------------------- colocated
def _model_objects(model: t.Any) -> t.Tuple[t.List[t.Any], t.List[t.Any]]:
    owner = getattr(model, "ensemble", None)  # an EnsembleMember
    if owner is not None:
        table = owner.member_table
        return list(table.db_models(model.position)), list(table.db_scripts(model.position))
    return list(getattr(model, "_db_models", ())), list(getattr(model, "_db_scripts", ()))


def colocated_spec(model: t.Any) -> t.Optional[t.Dict[str, t.Any]]:
    """What the colocated database of ``model`` loads (JSON-ready), or None when the model
    has no ML objects. In-memory models and functions -> ``SSUnsupportedError``."""
    from ...entity.model import _colo_function_msg, _colo_model_msg  # pylint: disable=import-outside-toplevel
    from ...error import SSUnsupportedError  # pylint: disable=import-outside-toplevel

    db_models, db_scripts = _model_objects(model)
    if not db_models and not db_scripts:
        return None
    models, scripts = [], []
    for m in db_models:
        if m.file is None:
            raise SSUnsupportedError(_colo_model_msg(m.name, model.name))
        models.append({
            "key": m.name, "backend": m.backend, "file": str(m.file), "device": m.device,
            "devices_per_node": m.devices_per_node, "first_device": m.first_device,
            "batch_size": m.batch_size, "min_batch_size": m.min_batch_size,
            "min_batch_timeout": m.min_batch_timeout, "tag": m.tag, "inputs": list(m.inputs),
            "outputs": list(m.outputs)})
    for s in db_scripts:
        if s.is_function:
            raise SSUnsupportedError(_colo_function_msg(s.name, model.name))
        entry = {"key": s.name, "device": s.device, "devices_per_node": s.devices_per_node,
                 "first_device": s.first_device}
        if s.file is not None:
            entry["file"] = str(s.file)
        else:
            entry["source"] = s.source
        scripts.append(entry)
    return {"version": SPEC_VERSION, "entity": model.name, "models": models, "scripts": scripts}


def write_colocated_spec(model: t.Any, directory: str) -> t.Optional[str]:
    """Write ``colocated_spec(model)`` to ``<directory>/<model name>-db.mlobjects.json``
    (mode 0600) and return its path; None (and nothing written) when the model has no ML
    objects. ``directory`` must exist (the model's directory)."""
    spec = colocated_spec(model)
    if spec is None:
        return None
    path = os.path.join(os.fspath(directory), f"{model.name}-db.mlobjects.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older file of that name may have had another mode
        os.write(fd, json.dumps(spec).encode())
    finally:
        os.close(fd)
    return path


class ColocatedLoadError(RuntimeError):
    """An object of a colocated model could not be stored (the message says which and why)."""


def _multigpu(entry: t.Mapping[str, t.Any]) -> t.List[t.Tuple[str, str]]:
    """(key, device) pairs: one per GPU plus the plain key on GPU (SmartRedis's layout)."""
    key, device = entry["key"], entry["device"]
    n, first = int(entry.get("devices_per_node", 1)), int(entry.get("first_device", 0))
    if device == "GPU" and n > 1:
        return [(f"{key}.GPU:{g}", f"GPU:{g}") for g in range(first, first + n)] + [(key, "GPU")]
    return [(key, device)]


def load_colocated(path: str, conn: t.Any) -> int:
    """Store the objects listed in the JSON file ``path`` through ``conn`` (an object
    with ``call(*args)`` returning the reply, an error reply as an ``Exception``
    instance: the wrapper's ``miniresp.Conn``). Returns how many keys were stored; raises
    ``ColocatedLoadError`` naming the object on the first failure. Standard library only."""
    try:
        with open(path, encoding="utf-8") as handle:
            spec = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ColocatedLoadError(f"cannot read the ML objects to load from {path}: {exc}") from None
    if not isinstance(spec, dict) or spec.get("version") != SPEC_VERSION:
        raise ColocatedLoadError(f"{path} is not a version {SPEC_VERSION} ML object list")
    chunk = _CHUNK
    if spec.get("models"):
        reply = conn.call("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE")
        if isinstance(reply, int) and reply > 0:
            chunk = reply
    stored = 0
    for entry in spec.get("models") or ():
        try:
            with open(entry["file"], "rb") as handle:
                blob = handle.read()
        except OSError as exc:
            raise ColocatedLoadError(f"cannot read ML model {entry['key']!r} from {entry['file']}: "
                                     f"{exc.strerror or exc}") from None
        chunks = [blob[i:i + chunk] for i in range(0, len(blob), chunk)] or [b""]
        for key, device in _multigpu(entry):
            args: t.List[t.Any] = ["AI.MODELSTORE", key, entry["backend"], device]
            if entry.get("tag"):
                args += ["TAG", entry["tag"]]
            if entry.get("batch_size"):
                args += ["BATCHSIZE", entry["batch_size"]]
                if entry.get("min_batch_size"):
                    args += ["MINBATCHSIZE", entry["min_batch_size"]]
                    if entry.get("min_batch_timeout"):
                        args += ["MINBATCHTIMEOUT", entry["min_batch_timeout"]]
            if entry.get("inputs"):
                args += ["INPUTS", len(entry["inputs"]), *entry["inputs"]]
            if entry.get("outputs"):
                args += ["OUTPUTS", len(entry["outputs"]), *entry["outputs"]]
            reply = conn.call(*args, "BLOB", *chunks)
            if isinstance(reply, Exception):
                raise ColocatedLoadError(f"storing ML model {key!r} ({entry['backend']}, from "
                                         f"{entry['file']}) failed: {reply}")
            stored += 1
    for entry in spec.get("scripts") or ():
        if "file" in entry:
            try:
                with open(entry["file"], encoding="utf-8") as handle:
                    source = handle.read()
            except (OSError, ValueError) as exc:
                raise ColocatedLoadError(f"cannot read script {entry['key']!r} from {entry['file']}: "
                                         f"{exc}") from None
            where = f"from {entry['file']}"
        else:
            source, where = entry["source"], "from a string"
        for key, device in _multigpu(entry):
            reply = conn.call("AI.SCRIPTSET", key, device, "SOURCE", source)
            if isinstance(reply, Exception):
                raise ColocatedLoadError(f"storing script {key!r} ({where}) failed: {reply}")
            stored += 1
    return stored
