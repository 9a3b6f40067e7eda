"""``Client``: the SmartRedis 0.6.1 Python client API over the Cython fast path.

Wire layout, key prefixing and cluster placement follow SmartRedis 0.6.1 so data written by
either client is read by the other.  Additions (batched calls, correct handling of
Fortran-ordered arrays, FLOAT as float32, TIMEDOUT runs raised, chunked models read back
intact, no blind re-send of non-idempotent commands) are described in the method docs.
"""
from __future__ import annotations

import os
import os.path as osp
import sys
import time
import typing as t

import numpy as np

from _fastpath import resp as _resp
from _fastpath import tensor as _tensor

from .cluster import DBConnection, Frames, Node, Range, RespError, parse_target
from .config import ConfigCore, ConfigOptions
from .dataset import ACK_FIELD, Dataset, refuse_0d
from .errors import (
    RedisConnectionError,
    RedisInternalError,
    RedisKeyError,
    RedisReplyError,
    RedisRuntimeError,
    RedisTimeoutError,
)
from .logger import LLDebug, SRObject, SRObjectCore

__all__ = ["Client", "ClientCore"]

_OK = b"OK"
# put_tensors sends batches of more than twice _PIECE_BYTES in pieces of about that size
_PIECE_BYTES = 1 << 20
_PIECE_MIN_TENSORS = 64
_BACKENDS = ("TF", "TFLITE", "TORCH", "ONNX")
# rename_tensor after a lost RENAME reply: rename if the source is still there; else the lost
# RENAME did it when the destination exists (the only ambiguity: a source missing from the
# start with an existing destination also reads as done). Running it twice is harmless, so
# it may be re-sent like any idempotent command.
_RENAME_AFTER_LOSS = (
    b"if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('RENAME', KEYS[1], KEYS[2]) end "
    b"if redis.call('EXISTS', KEYS[2]) == 1 then return redis.status_reply('OK') end "
    b"return redis.error_reply('ERR no such key')")
_MISSING_MARKERS = (b"empty", b"no such key", b"does not exist", b"not found",
                    b"tensor key is empty", b"model key is empty", b"script key is empty")


def _typecheck(arg: t.Any, name: str, _type: t.Any) -> None:
    if not isinstance(arg, _type) or (_type is int and isinstance(arg, bool)):
        raise TypeError(f"Argument {name} is of type {type(arg)}, not {_type}")


def _name_check(arg: t.Any, name: str) -> None:
    if type(arg) is not str:
        if isinstance(arg, str):
            return
        if isinstance(arg, (list, tuple)):
            raise TypeError(f"Argument {name} is of type {type(arg)}, not {str}: a single "
                            "name is expected here (use the batched *_tensors calls for "
                            "several)")
        raise TypeError(f"Argument {name} is of type {type(arg)}, not {str}")


def _names_check(names: t.Any, argname: str) -> t.List[str]:
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)):
        raise TypeError(f"Argument {argname} is of type {type(names)}, not a list of str")
    for n in names:
        if type(n) is not str:
            _name_check(n, f"{argname}[...]")
    return list(names)


def _tensor_args(inputs: t.Any, outputs: t.Any) -> t.Tuple[t.List[str], t.List[str]]:
    out = []
    for value, argname in ((inputs, "inputs"), (outputs, "outputs")):
        if value is None:
            value = []
        elif isinstance(value, str):
            value = [value]
        elif not isinstance(value, list):
            raise TypeError(f"Argument was of type {type(value)}, not {(list, str)}")
        for v in value:
            _name_check(v, argname)
        out.append(value)
    return out[0], out[1]


def _check_backend(backend: str) -> str:
    backend = backend.upper()
    if backend in _BACKENDS:
        return backend
    raise TypeError(f"Backend type {backend} unsupported")


def _check_device(device: str) -> str:
    device = device.upper()
    if not device.startswith("CPU") and not device.startswith("GPU"):
        raise TypeError("Device argument must start with either CPU or GPU")
    return device


def _check_file(file: str) -> str:
    path = osp.abspath(file)
    if not osp.isfile(path):
        raise FileNotFoundError(path)
    return path


_BATCH_WARNING = ("WARNING: min_batch_timeout was not set when a non-zero min_batch_size was "
                  "selected. \nSetting a small value (~10ms) for min_batch_timeout may "
                  "improve performance\n")


def _check_batch(batch_size: int, min_batch_size: int, min_batch_timeout: int) -> None:
    """SmartRedis 0.6.1's batch checks (``__check_batch_settings``: its errors, then its
    warning on standard error), then the bounds this client adds."""
    if batch_size == 0 and (min_batch_size > 0 or min_batch_timeout > 0):
        raise RedisRuntimeError("batch_size must be non-zero if min_batch_size or "
                                "min_batch_timeout is used; otherwise batching will not be "
                                "performed.")
    if min_batch_timeout > 0 and min_batch_size == 0:
        raise RedisRuntimeError("min_batch_size must be non-zero if min_batch_timeout is used; "
                                "otherwise the min_batch_timeout parameter is ignored.")
    if batch_size < 0 or min_batch_size < 0 or min_batch_timeout < 0:
        raise RedisRuntimeError("batch_size, min_batch_size and min_batch_timeout must be "
                                "non-negative")
    # The database refuses this too (PROTOCOL.md, "Batching limits"); the value bounds are
    # left to it.
    if min_batch_size > batch_size:
        raise RedisRuntimeError("min_batch_size must not be larger than batch_size: a batch "
                                "holds at most batch_size samples")
    if min_batch_size > 0 and min_batch_timeout == 0:
        sys.stderr.write(_BATCH_WARNING)
        sys.stderr.flush()


def _batch_types(batch_size: t.Any, min_batch_size: t.Any, min_batch_timeout: t.Any,
                 tag: t.Any) -> None:
    _typecheck(batch_size, "batch_size", int)
    _typecheck(min_batch_size, "min_batch_size", int)
    _typecheck(min_batch_timeout, "min_batch_timeout", int)
    _typecheck(tag, "tag", str)


def _model_params(name: str, backend: str, inputs: t.List[str], outputs: t.List[str]) -> None:
    """The parameter checks of SmartRedis 0.6.1's ``Client::set_model``/``set_model_multigpu``
    that precede the GPU and batch checks (``ValueError``, as its ParameterException)."""
    if not name:
        raise ValueError("name is a required parameter of set_model.")
    if not backend:
        raise ValueError("backend is a required parameter of set_model.")
    if backend != "TF":
        if inputs:
            raise ValueError("INPUTS in the model set command is only valid for TF models")
        if outputs:
            raise ValueError("OUTPUTS in the model set command is only valid for TF models")


def _gpu_params(first_gpu: int, num_gpus: int, period: bool = False) -> None:
    """0.6.1's GPU range checks (``ValueError``; its messages differ by one period between
    calls, kept here)."""
    if first_gpu < 0:
        raise ValueError("first_gpu must be a non-negative integer" + ("." if period else ""))
    if num_gpus < 1:
        raise ValueError("num_gpus must be a positive integer.")


def _model_bytes(model: t.Any) -> t.Any:
    if not isinstance(model, (bytes, bytearray, memoryview)):
        raise TypeError(f"Argument model is of type {type(model)}, not {bytes}")
    return model


def _callable_check(function: t.Any) -> None:
    if not callable(function):
        raise TypeError(f"Argument provided for function, {type(function)}, is not callable")


def _read_file(path: str, binary: bool) -> t.Any:
    if binary:
        with open(path, "rb") as fh:
            return fh.read()
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _is_missing(err: RespError) -> bool:
    low = err.message.lower()
    return any(m in low for m in _MISSING_MARKERS)


def _kstr(key: bytes) -> str:
    return key.decode("utf-8", "backslashreplace")


class ClientCore(SRObjectCore):
    """What a ``Client`` works through (0.6.1's ``PyClient``): its logging context, options
    and database connection."""

    __slots__ = ("cfg", "cluster", "db")

    def __init__(self, cfg: ConfigCore, cluster: bool, logger_name: str) -> None:
        super().__init__(logger_name)
        self.cfg = cfg
        self.cluster = cluster
        self.db = DBConnection(cfg, cluster, logger_name)


def _connect(cfg: ConfigCore, cluster: bool, logger_name: str) -> ClientCore:
    """A connected ``ClientCore``. As in SmartRedis 0.6.1, a failure while connecting is a
    ``RedisConnectionError``; ``ValueError``/``TypeError`` for bad settings pass through."""
    try:
        return ClientCore(cfg, cluster, logger_name)
    except RedisConnectionError:
        raise
    except RedisReplyError as exc:
        raise RedisConnectionError(str(exc)) from None


class Client(SRObject):
    """A SmartRedis-compatible client.

    ``Client(config_options=None, logger_name="Default")`` reads ``SSDB``/``SR_DB_TYPE`` (and
    the other options) from the environment, suffixed when ``config_options`` was made with
    ``ConfigOptions.create_from_environment(suffix)``.  ``Client(cluster, address=None,
    logger_name="Default")`` is chosen when the first positional argument is a bool or
    ``cluster``/``address`` is given; ``address`` overrides ``SSDB``."""

    def __init__(self, *a: t.Any, **kw: t.Any) -> None:
        if a:
            if isinstance(a[0], bool):
                for arg in kw:
                    if arg not in ("cluster", "address", "logger_name"):
                        raise TypeError(f"__init__() got an unexpected keyword argument '{arg}'")
                core = self.__address_construction(*a, **kw)
            elif isinstance(a[0], ConfigOptions) or a[0] is None:
                core = self.__standard_construction(*a, **kw)
            else:
                raise TypeError(f"Invalid type for argument 0: {type(a[0])}")
        elif "address" in kw or "cluster" in kw:
            core = self.__address_construction(*a, **kw)
        else:
            core = self.__standard_construction(*a, **kw)
        super().__init__(core)
        self._setup(core)

    def __address_construction(self, cluster: bool, address: t.Optional[str] = None,
                               logger_name: str = "Default") -> "ClientCore":
        """``Client(cluster, address=None, logger_name="Default")``: ``address`` (if given)
        is written to ``SSDB`` first, as SmartRedis 0.6.1 does."""
        _typecheck(cluster, "cluster", bool)
        _typecheck(logger_name, "logger_name", str)
        if address:
            _typecheck(address, "address", str)
            os.environ["SSDB"] = address
        if "SSDB" not in os.environ:
            raise RedisConnectionError("Could not connect to database. $SSDB not set")
        return _connect(ConfigCore(""), cluster, logger_name)

    @staticmethod
    def __standard_construction(config_options: t.Optional[ConfigOptions] = None,
                                logger_name: str = "Default") -> "ClientCore":
        """``Client(config_options=None, logger_name="Default")``; ``SR_DB_TYPE`` (default
        ``Clustered``) picks the topology."""
        _typecheck(logger_name, "logger_name", str)
        if config_options is not None:
            _typecheck(config_options, "config_options", ConfigOptions)
        try:
            # a ConfigOptions not made by its factory refuses get_data (RedisRuntimeError),
            # reported as RedisConnectionError, as 0.6.1 reports it
            cfg = config_options.get_data() if config_options else ConfigCore("")
        except RedisReplyError as exc:
            raise RedisConnectionError(str(exc)) from None
        db_type = cfg._resolve_string("SR_DB_TYPE", "Clustered").strip().lower()
        return _connect(cfg, db_type == "clustered", logger_name)

    def _setup(self, core: "ClientCore") -> None:
        cfg = core.cfg
        self._cfg = cfg
        self._db = core.db
        self._cluster = core.cluster
        self._use_tensor_prefix = True
        self._use_dataset_prefix = True
        self._use_model_prefix = False
        self._use_list_prefix = True
        put = cfg._resolve_string("SSKEYOUT", "")
        self._put_key_prefix = put
        self._get_key_prefixes = [p for p in cfg._resolve_string("SSKEYIN", "").split(",") if p]
        self._get_key_prefix = self._get_key_prefixes[0] if self._get_key_prefixes else ""
        self._refresh_prefixes()
        self.log_data(LLDebug, "New client created")

    # ------------------------------------------------------------------ helpers
    def _refresh_prefixes(self) -> None:
        put = self._put_key_prefix + "." if self._put_key_prefix else ""
        get = self._get_key_prefix + "." if self._get_key_prefix else ""
        self._pp, self._gp = put, get
        self._tput = put if self._use_tensor_prefix else ""
        self._tget = get if self._use_tensor_prefix else ""

    @property
    def _where(self) -> str:
        return ", ".join(n.address for n in self._db.nodes)

    def _tensor_key(self, name: str, on_db: bool) -> bytes:
        return ((self._tget if on_db else self._tput) + name).encode()

    def _model_key(self, name: str, on_db: bool) -> bytes:
        prefix = (self._gp if on_db else self._pp) if self._use_model_prefix else ""
        return (prefix + name).encode()

    def _dataset_key(self, name: str, on_db: bool) -> bytes:
        prefix = (self._gp if on_db else self._pp) if self._use_dataset_prefix else ""
        return (prefix + "{" + name + "}").encode()

    def _list_key(self, name: str, on_db: bool) -> bytes:
        prefix = (self._gp if on_db else self._pp) if self._use_list_prefix else ""
        return (prefix + name).encode()

    def _fail(self, reply: t.Any, what: str, key: t.Optional[bytes] = None,
              node: t.Optional[Node] = None, missing: t.Optional[str] = None) -> t.NoReturn:
        where = node.address if node is not None else self._where
        keytxt = f" (key {_kstr(key)!r})" if key is not None else ""
        if isinstance(reply, RespError):
            if missing is not None and _is_missing(reply):
                raise RedisKeyError(f"{missing}{keytxt} does not exist in the database at "
                                    f"{where}", key=_kstr(key) if key else "")
            # SmartRedis 0.6.1 reports every error reply as RedisRuntimeError
            # (Client::_report_reply_errors)
            raise RedisRuntimeError(f"{what}{keytxt} failed on the database at {where}: "
                                    f"{reply}", key=_kstr(key) if key else "")
        raise RedisRuntimeError(f"{what}{keytxt}: unexpected reply {reply!r} from the database "
                                f"at {where}")

    def _ok(self, reply: t.Any, what: str, key: t.Optional[bytes] = None,
            node: t.Optional[Node] = None, missing: t.Optional[str] = None) -> t.Any:
        if isinstance(reply, RespError):
            self._fail(reply, what, key, node, missing)
        return reply

    def __str__(self) -> str:
        return f"Client ({self._context}):\n" + self._db.describe()

    def __repr__(self) -> str:
        return f"Client({self._context!r}, {self._db.spec!r})"

    def close(self) -> None:
        """Close the connections (they are re-opened on next use)."""
        self._db.close()

    # ------------------------------------------------------------------ tensors
    def put_tensor(self, name: str, data: np.ndarray) -> None:
        """Store ``data`` at ``name`` (put prefix applied). Fortran-ordered and strided arrays
        are sent in logical (C) order. A 0-d array is refused (``RedisRuntimeError``), as
        SmartRedis 0.6.1 refuses it."""
        if type(name) is not str:
            _name_check(name, "name")
        refuse_0d(name, data)
        key = (self._tput + name).encode()
        f = Frames()
        f.tensorset(key, data, name)
        db = self._db
        node = db.nodes[0] if not db.cluster else db.node_for(key)
        reply = db.exchange(((node, f),), True, "putting a tensor")[0][0]
        if reply != _OK:
            self._fail(reply, f"put_tensor of {name!r}", key, node)

    def get_tensor(self, name: str) -> np.ndarray:
        """The tensor at ``name`` as a numpy array that owns its memory."""
        if type(name) is not str:
            _name_check(name, "name")
        key = (self._tget + name).encode()
        f = Frames()
        f.tensorget(key)
        db = self._db
        node = db.nodes[0] if not db.cluster else db.node_for(key)
        reply = db.exchange(((node, f),), True, "getting a tensor")[0][0]
        if type(reply) is not np.ndarray:
            self._fail(reply, f"get_tensor of {name!r}", key, node,
                       missing=f"The tensor {name!r}")
        return reply

    def delete_tensor(self, name: str) -> None:
        """Delete the tensor ``name`` from the database; ``RedisKeyError`` when it does not
        exist."""
        _name_check(name, "name")
        key = self._tensor_key(name, True)
        verb = "UNLINK" if self._cluster else "DEL"
        self._ok(self._db.keyed(key, verb, key), f"delete_tensor of {name!r}", key)

    def copy_tensor(self, src_name: str, dest_name: str) -> None:
        """Copy the tensor ``src_name`` to ``dest_name`` (replacing it); ``RedisKeyError`` when
        the source does not exist. Works across shards of a cluster.
        """
        _name_check(src_name, "src_name")
        _name_check(dest_name, "dest_name")
        self._copy_tensors([self._tensor_key(src_name, True)],
                           [self._tensor_key(dest_name, False)], [src_name])

    def _copy_tensors(self, src: t.List[bytes], dest: t.List[bytes],
                      names: t.Optional[t.List[str]] = None) -> None:
        arrays = self._get_keys(src, names or [_kstr(k) for k in src])
        self._put_keys(dest, arrays, names)

    def rename_tensor(self, old_name: str, new_name: str) -> None:
        """Rename the tensor ``old_name`` to ``new_name`` (replacing it); ``RedisKeyError`` when
        ``old_name`` does not exist. Works across shards of a cluster.
        """
        _name_check(old_name, "old_name")
        _name_check(new_name, "new_name")
        old = self._tensor_key(old_name, True)
        new = self._tensor_key(new_name, False)
        if old == new:
            if not self._db.keyed(old, "EXISTS", old):
                raise RedisKeyError(f"The tensor {old_name!r} (key {_kstr(old)!r}) does not exist "
                                    f"in the database at {self._where}")
            return
        if not self._cluster or _same_slot(old, new):
            what = f"renaming tensor {old_name!r}"
            try:
                # RENAME is not idempotent: re-sent after a reply that was lost, it finds the
                # source gone and fails although the first one did the rename
                reply = self._db.keyed(old, b"RENAME", old, new, idempotent=False, what=what)
            except RedisConnectionError:
                # Whether that RENAME ran is unknown: settle it in one atomic server-side
                # step that is itself safe to repeat (see _RENAME_AFTER_LOSS)
                reply = self._db.keyed(old, b"EVAL", _RENAME_AFTER_LOSS, 2, old, new, what=what)
            self._ok(reply, f"rename_tensor of {old_name!r}", old,
                     missing=f"The tensor {old_name!r}")
        else:
            self._copy_tensors([old], [new], [old_name])
            self._db.keyed(old, "UNLINK", old)

    def tensor_exists(self, name: str) -> bool:
        """True when the tensor ``name`` exists (read with the incoming-key prefix, if any)."""
        _name_check(name, "name")
        key = self._tensor_key(name, True)
        return bool(self._ok(self._db.keyed(key, "EXISTS", key), "tensor_exists", key))

    def key_exists(self, key: str) -> bool:
        """Whether ``key`` exists as given (no prefixing)."""
        _name_check(key, "key")
        k = key.encode()
        return bool(self._ok(self._db.keyed(k, "EXISTS", k), "key_exists", k))

    def _poll(self, check: t.Callable[[], bool], poll_frequency_ms: int, num_tries: int) -> bool:
        _typecheck(poll_frequency_ms, "poll_frequency_ms", int)
        _typecheck(num_tries, "num_tries", int)
        for _ in range(num_tries):
            if check():
                return True
            time.sleep(poll_frequency_ms / 1000.0)
        return False

    def poll_key(self, key: str, poll_frequency_ms: int, num_tries: int) -> bool:
        """Check every ``poll_frequency_ms`` milliseconds, at most ``num_tries`` times, whether
        the key ``key`` (taken as written, no prefix) exists; return True as soon as it does,
        False when the tries run out."""
        _name_check(key, "key")
        return self._poll(lambda: self.key_exists(key), poll_frequency_ms, num_tries)

    def poll_tensor(self, name: str, poll_frequency_ms: int, num_tries: int) -> bool:
        """Check every ``poll_frequency_ms`` milliseconds, at most ``num_tries`` times, whether
        the tensor ``name`` exists; return True as soon as it does, False when the tries run
        out."""
        _name_check(name, "name")
        return self._poll(lambda: self.tensor_exists(name), poll_frequency_ms, num_tries)

    # ------------------------------------------------------------------ batched tensors
    def _put_keys(self, keys: t.List[bytes], arrays: t.List[np.ndarray],
                  names: t.Optional[t.List[str]] = None) -> None:
        groups = self._db.group(keys)
        nbytes = 0
        if len(arrays) >= _PIECE_MIN_TENSORS:
            # every array checked before the first piece goes out: bad input writes nothing
            _tensor.check_all(arrays, names if names else keys)
            nbytes = sum(a.nbytes for a in arrays)
        if nbytes > 2 * _PIECE_BYTES:
            # in pieces of about _PIECE_BYTES per shard: the first goes out while the rest is
            # encoded (AI.TENSORSET is idempotent, so a lost connection re-sends all of it)
            step = max(1, len(keys) * _PIECE_BYTES // nbytes)

            def pieces():
                longest = max(len(pos) for _, pos in groups)
                for lo in range(0, longest, step):
                    frames = []
                    for _, pos in groups:
                        f = Frames()
                        part = pos[lo:lo + step]
                        if part:
                            f.tensorsets(keys, arrays, names, part)
                        frames.append(f)
                    yield frames

            replies = self._db.exchange_pieces([n for n, _ in groups], pieces,
                                               "putting tensors")
        else:
            pairs = []
            for node, pos in groups:
                f = Frames()
                f.tensorsets(keys, arrays, names, None if len(pos) == len(keys) else pos)
                pairs.append((node, f))
            replies = self._db.exchange(pairs, True, "putting tensors")
        for (node, pos), rep in zip(groups, replies):
            for i, r in zip(pos, rep):
                if r != _OK:
                    self._fail(r, "put_tensors", keys[i], node)

    def _get_keys(self, keys: t.List[bytes], names: t.List[str]) -> t.List[np.ndarray]:
        groups = self._db.group(keys)
        pairs = []
        for node, pos in groups:
            f = Frames()
            f.tensorgets(keys, None if len(pos) == len(keys) else pos)
            pairs.append((node, f))
        replies = self._db.exchange(pairs, True, "getting tensors")
        out: t.List[t.Any] = [None] * len(keys)
        missing = []
        for (node, pos), rep in zip(groups, replies):
            for i, r in zip(pos, rep):
                if type(r) is np.ndarray:
                    out[i] = r
                elif isinstance(r, RespError) and _is_missing(r):
                    missing.append((i, node))
                else:
                    self._fail(r, f"getting tensor {names[i]!r}", keys[i], node)
        if missing:
            shown = ", ".join(f"{names[i]!r} (key {_kstr(keys[i])!r})" for i, _ in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            where = ", ".join(sorted({n.address for _, n in missing}))
            raise RedisKeyError(f"The tensor(s) {shown}{more} do not exist in the database at "
                                f"{where}", key=_kstr(keys[missing[0][0]]))
        return out

    def put_tensors(self, tensors: t.Mapping[str, np.ndarray]) -> None:
        """Store many tensors: one pipeline per shard, shards served in parallel.

        Beyond SmartRedis. ``tensors`` maps names to arrays (put prefix applied)."""
        if not isinstance(tensors, t.Mapping):
            raise TypeError(f"Argument tensors is of type {type(tensors)}, not a mapping of "
                            "names to numpy arrays")
        names = list(tensors)
        for n in names:
            if type(n) is not str:
                _name_check(n, "tensors key")
        if not names:
            return
        arrays = list(tensors.values())
        i = _tensor.first_0d(arrays)
        if i >= 0:
            refuse_0d(names[i], arrays[i])
        p = self._tput
        keys = [(p + n).encode() for n in names]
        self._put_keys(keys, arrays, names)

    def get_tensors(self, names: t.Sequence[str]) -> t.List[np.ndarray]:
        """Fetch many tensors (same order as ``names``); one pipeline per shard, in parallel.

        Beyond SmartRedis. Missing names raise ``RedisKeyError`` listing them."""
        names = _names_check(names, "names")
        if not names:
            return []
        p = self._tget
        return self._get_keys([(p + n).encode() for n in names], names)

    def delete_tensors(self, names: t.Sequence[str]) -> None:
        """Delete many tensors (missing ones are ignored, as ``delete_tensor`` does)."""
        names = _names_check(names, "names")
        if not names:
            return
        p = self._tget
        keys = [(p + n).encode() for n in names]
        self._keyed_batch(keys, b"UNLINK" if self._cluster else b"DEL", "deleting tensors")

    def tensors_exist(self, names: t.Sequence[str]) -> t.List[bool]:
        """Existence of many tensors, as a list of bools."""
        names = _names_check(names, "names")
        if not names:
            return []
        p = self._tget
        keys = [(p + n).encode() for n in names]
        return [bool(r) for r in self._keyed_batch(keys, b"EXISTS", "checking tensors")]

    def _keyed_batch(self, keys: t.List[bytes], verb: bytes, what: str) -> list:
        groups = self._db.group(keys)
        pairs = []
        for node, pos in groups:
            f = Frames()
            f.keyed(verb, keys, None if len(pos) == len(keys) else pos)
            pairs.append((node, f))
        replies = self._db.exchange(pairs, True, what)
        out: t.List[t.Any] = [None] * len(keys)
        for (node, pos), rep in zip(groups, replies):
            for i, r in zip(pos, rep):
                if isinstance(r, RespError):
                    self._fail(r, what, keys[i], node)
                out[i] = r
        return out

    # ------------------------------------------------------------------ datasets
    def _dataset_frames(self, f: "Frames", dataset: Dataset, dest_name: str,
                        arrays: t.Optional[t.Dict[str, np.ndarray]] = None) -> bytes:
        base = self._dataset_key(dest_name, False)
        meta = base + b".meta"
        fields = dataset._serialize_fields()
        if not fields:
            raise RedisRuntimeError(f"An attempt was made to put the DataSet {dest_name!r} into "
                                    "the database that does not contain any fields or tensors.")
        f.command(b"DEL", meta)
        args: t.List[t.Any] = [b"HMSET", meta]
        for k, v in fields:
            args.append(k)
            args.append(v)
        f.command_list(args)
        tensors = arrays if arrays is not None else dataset._tensors
        for tname, arr in tensors.items():
            f.tensorset(base + b"." + tname.encode(), arr, tname)
        f.command(b"HSET", meta, ACK_FIELD, b"1")
        return meta

    def put_dataset(self, dataset: Dataset) -> None:
        """Store a dataset: DEL meta, HMSET meta, AI.TENSORSET per tensor, HSET .COMPLETE in
        one pipeline on the dataset's shard."""
        _typecheck(dataset, "dataset", Dataset)
        f = Frames()
        meta = self._dataset_frames(f, dataset, dataset.get_name())
        node = self._db.node_for(meta)
        for r in self._db.run(node, f, True, "putting a dataset"):
            if isinstance(r, RespError):
                self._fail(r, f"put_dataset of {dataset.get_name()!r}", meta, node)

    def _fetch_datasets(self, entries: t.List[t.Tuple[str, bytes]]) -> t.List[Dataset]:
        """Datasets from (name, base key) pairs: HGETALL then AI.TENSORGET, each step one
        pipeline per shard in parallel."""
        if not entries:
            return []
        metas = [base + b".meta" for _, base in entries]
        groups = self._db.group(metas)
        pairs = []
        for node, pos in groups:
            f = Frames()
            for i in pos:
                f.command(b"HGETALL", metas[i])
            pairs.append((node, f))
        meta_replies: t.List[t.Any] = [None] * len(entries)
        for (node, pos), rep in zip(groups, self._db.exchange(pairs, True, "getting datasets")):
            for i, r in zip(pos, rep):
                if isinstance(r, RespError):
                    self._fail(r, "reading dataset metadata", metas[i], node)
                meta_replies[i] = r
        datasets = []
        tkeys: t.List[bytes] = []
        tnames: t.List[t.Tuple[int, str]] = []
        for i, ((name, base), reply) in enumerate(zip(entries, meta_replies)):
            if not reply:
                raise RedisKeyError(f"The requested DataSet \"{name}\" (key {_kstr(metas[i])!r}) "
                                    f"does not exist in the database at {self._where}",
                                    key=_kstr(metas[i]))
            ds, names = Dataset._from_hash(name, reply)
            datasets.append(ds)
            for tn in names:
                tkeys.append(base + b"." + tn.encode())
                tnames.append((i, tn))
        if tkeys:
            arrays = self._get_keys(tkeys, [f"{entries[i][0]}.{tn}" for i, tn in tnames])
            for (i, tn), arr in zip(tnames, arrays):
                datasets[i]._add_received(tn, arr)
        return datasets

    def get_dataset(self, name: str) -> Dataset:
        """The dataset ``name`` with its tensors and metadata, as a :class:`Dataset`;
        ``RedisKeyError`` when it does not exist.
        """
        _name_check(name, "name")
        return self._fetch_datasets([(name, self._dataset_key(name, True))])[0]

    def delete_dataset(self, name: str) -> None:
        """Delete the dataset ``name`` (its metadata and tensors); ``RedisKeyError`` when it does
        not exist.
        """
        _name_check(name, "name")
        base = self._dataset_key(name, True)
        meta = base + b".meta"
        node = self._db.node_for(meta)
        reply = self._ok(self._db.command(node, b"HGETALL", meta), "delete_dataset", meta, node)
        if not reply:
            raise RedisKeyError(f"The requested DataSet \"{name}\" (key {_kstr(meta)!r}) does not "
                                f"exist in the database at {node.address}", key=_kstr(meta))
        _, tnames = Dataset._from_hash(name, reply)
        args = [b"DEL", meta] + [base + b"." + tn.encode() for tn in tnames]
        self._ok(self._db.command(node, *args), "delete_dataset", meta, node)

    def copy_dataset(self, src_name: str, dest_name: str) -> None:
        """Copy the dataset ``src_name`` (metadata and tensors) to ``dest_name``;
        ``RedisKeyError`` when the source does not exist.
        """
        _name_check(src_name, "src_name")
        _name_check(dest_name, "dest_name")
        ds = self._fetch_datasets([(src_name, self._dataset_key(src_name, True))])[0]
        f = Frames()
        meta = self._dataset_frames(f, ds, dest_name)
        node = self._db.node_for(meta)
        for r in self._db.run(node, f, True, "copying a dataset"):
            if isinstance(r, RespError):
                self._fail(r, f"copy_dataset to {dest_name!r}", meta, node)

    def rename_dataset(self, old_name: str, new_name: str) -> None:
        """Rename the dataset ``old_name`` to ``new_name``; ``RedisKeyError`` when it does not
        exist.
        """
        _name_check(old_name, "old_name")
        _name_check(new_name, "new_name")
        if self._dataset_key(old_name, True) == self._dataset_key(new_name, False):
            if not self.dataset_exists(old_name):
                raise RedisKeyError(f"The requested DataSet \"{old_name}\" does not exist in the "
                                    f"database at {self._where}")
            return
        self.copy_dataset(old_name, new_name)
        self.delete_dataset(old_name)

    def dataset_exists(self, name: str) -> bool:
        """True when the dataset ``name`` exists."""
        _name_check(name, "name")
        meta = self._dataset_key(name, True) + b".meta"
        return bool(self._ok(self._db.keyed(meta, b"HEXISTS", meta, ACK_FIELD),
                             "dataset_exists", meta))

    def poll_dataset(self, name: str, poll_frequency_ms: int, num_tries: int) -> bool:
        """Check every ``poll_frequency_ms`` milliseconds, at most ``num_tries`` times, whether
        the dataset ``name`` exists; return True as soon as it does, False when the tries run
        out."""
        _name_check(name, "name")
        return self._poll(lambda: self.dataset_exists(name), poll_frequency_ms, num_tries)

    # ------------------------------------------------------------------ models
    def _chunk_size(self) -> int:
        if self._db.model_chunk_size is None:
            reply = self._db.command(self._db.nodes[0], b"AI.CONFIG", b"GET", b"MODEL_CHUNK_SIZE")
            self._db.model_chunk_size = reply if isinstance(reply, int) and reply > 0 \
                else 511 * 1024 * 1024
        return self._db.model_chunk_size

    def _everywhere(self, key: bytes) -> t.List[t.Tuple[Node, bytes]]:
        """Where a model/script lives: (node, key) for every shard, ``{tag}.key`` in a cluster."""
        if not self._cluster:
            return [(self._db.nodes[0], key)]
        return [(r.node, r.key(key)) for r in self._db.ranges]

    def _store_everywhere(self, key: bytes, build: t.Callable[[bytes], t.List[t.Any]],
                          what: str) -> None:
        placements = self._everywhere(key)
        by_node: t.Dict[Node, Frames] = {}
        for node, k in placements:
            f = by_node.setdefault(node, Frames())
            f.command_list(build(k))
        pairs = list(by_node.items())
        for (node, _), rep in zip(pairs, self._db.exchange(pairs, True, what)):
            for r in rep:
                if isinstance(r, RespError):
                    self._fail(r, what, key, node)

    def _set_model(self, key: bytes, model: t.Union[bytes, memoryview], backend: str, device: str,
                   batch_size: int, min_batch_size: int, min_batch_timeout: int, tag: str,
                   inputs: t.List[str], outputs: t.List[str]) -> None:
        mv = memoryview(model).cast("B") if not isinstance(model, bytes) else model
        size = self._chunk_size()
        chunks = [mv[i:i + size] for i in range(0, len(mv), size)] or [b""]

        def build(k: bytes) -> t.List[t.Any]:
            args: t.List[t.Any] = [b"AI.MODELSTORE", k, backend, device]
            if tag:
                args += [b"TAG", tag]
            if batch_size > 0:
                args += [b"BATCHSIZE", batch_size]
            if min_batch_size > 0:
                args += [b"MINBATCHSIZE", min_batch_size]
            if min_batch_timeout > 0:
                args += [b"MINBATCHTIMEOUT", min_batch_timeout]
            if inputs:
                args += [b"INPUTS", len(inputs), *inputs]
            if outputs:
                args += [b"OUTPUTS", len(outputs), *outputs]
            return args + [b"BLOB", *chunks]

        self._store_everywhere(key, build, f"set_model of {_kstr(key)!r}")

    # Argument checks follow SmartRedis 0.6.1's order: the Python layer's type checks, device,
    # backend, the model file, inputs/outputs; then the C++ layer's parameter checks
    # (ValueError), GPU range (ValueError), batch settings (RedisRuntimeError + warning).
    def set_model(self, name: str, model: bytes, backend: str, device: str = "CPU",
                  batch_size: int = 0, min_batch_size: int = 0, min_batch_timeout: int = 0,
                  tag: str = "", inputs: t.Optional[t.Union[str, t.List[str]]] = None,
                  outputs: t.Optional[t.Union[str, t.List[str]]] = None) -> None:
        """Store a model (split into MODEL_CHUNK_SIZE chunks; every shard in a cluster)."""
        _name_check(name, "name")
        _typecheck(backend, "backend", str)
        _typecheck(device, "device", str)
        _batch_types(batch_size, min_batch_size, min_batch_timeout, tag)
        device = _check_device(device)
        backend = _check_backend(backend)
        inputs, outputs = _tensor_args(inputs, outputs)
        model = _model_bytes(model)
        _model_params(name, backend, inputs, outputs)
        _check_batch(batch_size, min_batch_size, min_batch_timeout)
        self._set_model(self._model_key(name, False), model, backend, device, batch_size,
                        min_batch_size, min_batch_timeout, tag, inputs, outputs)

    def set_model_from_file(self, name: str, model_file: str, backend: str, device: str = "CPU",
                            batch_size: int = 0, min_batch_size: int = 0,
                            min_batch_timeout: int = 0, tag: str = "",
                            inputs: t.Optional[t.Union[str, t.List[str]]] = None,
                            outputs: t.Optional[t.Union[str, t.List[str]]] = None) -> None:
        """Store the model in ``model_file`` under ``name`` for ``backend`` (``TORCH``, ``ONNX``,
        ``TF``, ``TFLITE``) on ``device``; batching options, TF ``inputs``/``outputs`` node
        names and ``tag`` as in :meth:`set_model`. ``RedisReplyError`` if the backend rejects it.
        """
        _name_check(name, "name")
        _typecheck(model_file, "model_file", str)
        _typecheck(backend, "backend", str)
        _typecheck(device, "device", str)
        _batch_types(batch_size, min_batch_size, min_batch_timeout, tag)
        device = _check_device(device)
        backend = _check_backend(backend)
        path = _check_file(model_file)
        inputs, outputs = _tensor_args(inputs, outputs)
        model = _read_file(path, True)
        _model_params(name, backend, inputs, outputs)
        _check_batch(batch_size, min_batch_size, min_batch_timeout)
        self._set_model(self._model_key(name, False), model, backend, device, batch_size,
                        min_batch_size, min_batch_timeout, tag, inputs, outputs)

    def _gpu_types(self, first_gpu: int, num_gpus: int) -> None:
        _typecheck(first_gpu, "first_gpu", int)
        _typecheck(num_gpus, "num_gpus", int)

    def set_model_multigpu(self, name: str, model: bytes, backend: str, first_gpu: int,
                           num_gpus: int, batch_size: int = 0, min_batch_size: int = 0,
                           min_batch_timeout: int = 0, tag: str = "",
                           inputs: t.Optional[t.Union[str, t.List[str]]] = None,
                           outputs: t.Optional[t.Union[str, t.List[str]]] = None) -> None:
        """One copy per GPU (``name.GPU:n`` for n in first_gpu .. first_gpu+num_gpus-1) plus
        ``name`` on device GPU for get_model."""
        _name_check(name, "name")
        _typecheck(backend, "backend", str)
        self._gpu_types(first_gpu, num_gpus)
        _batch_types(batch_size, min_batch_size, min_batch_timeout, tag)
        backend = _check_backend(backend)
        inputs, outputs = _tensor_args(inputs, outputs)
        model = _model_bytes(model)
        self._set_model_multigpu(name, model, backend, first_gpu, num_gpus, batch_size,
                                 min_batch_size, min_batch_timeout, tag, inputs, outputs)

    def _set_model_multigpu(self, name: str, model: t.Any, backend: str, first_gpu: int,
                            num_gpus: int, batch_size: int, min_batch_size: int,
                            min_batch_timeout: int, tag: str, inputs: t.List[str],
                            outputs: t.List[str]) -> None:
        _model_params(name, backend, inputs, outputs)
        _gpu_params(first_gpu, num_gpus)
        _check_batch(batch_size, min_batch_size, min_batch_timeout)
        key = self._model_key(name, False)
        for gpu in range(first_gpu, first_gpu + num_gpus):
            self._set_model(key + f".GPU:{gpu}".encode(), model, backend, f"GPU:{gpu}",
                            batch_size, min_batch_size, min_batch_timeout, tag, inputs, outputs)
        self._set_model(key, model, backend, "GPU", batch_size, min_batch_size,
                        min_batch_timeout, tag, inputs, outputs)

    def set_model_from_file_multigpu(self, name: str, model_file: str, backend: str,
                                     first_gpu: int, num_gpus: int, batch_size: int = 0,
                                     min_batch_size: int = 0, min_batch_timeout: int = 0,
                                     tag: str = "",
                                     inputs: t.Optional[t.Union[str, t.List[str]]] = None,
                                     outputs: t.Optional[t.Union[str, t.List[str]]] = None) -> None:
        """Store the model in ``model_file`` under ``name`` once per GPU, on ``num_gpus`` GPUs
        starting at ``first_gpu`` (run it with :meth:`run_model_multigpu`).
        """
        _name_check(name, "name")
        _typecheck(model_file, "model_file", str)
        _typecheck(backend, "backend", str)
        self._gpu_types(first_gpu, num_gpus)
        _batch_types(batch_size, min_batch_size, min_batch_timeout, tag)
        backend = _check_backend(backend)
        path = _check_file(model_file)
        inputs, outputs = _tensor_args(inputs, outputs)
        model = _read_file(path, True)
        self._set_model_multigpu(name, model, backend, first_gpu, num_gpus, batch_size,
                                 min_batch_size, min_batch_timeout, tag, inputs, outputs)

    def get_model(self, name: str) -> bytes:
        """The model blob (chunked replies joined in order)."""
        _name_check(name, "name")
        key = self._model_key(name, True)
        node, k = self._everywhere(key)[0]
        reply = self._db.command(node, b"AI.MODELGET", k, b"BLOB")
        self._ok(reply, f"get_model of {name!r}", k, node, missing=f"The model {name!r}")
        if isinstance(reply, list):
            return b"".join(reply)
        return reply

    def delete_model(self, name: str) -> None:
        """Delete the model ``name``; ``RedisReplyError`` when it does not exist."""
        _name_check(name, "name")
        key = self._model_key(name, True)
        self._store_everywhere(key, lambda k: [b"AI.MODELDEL", k], f"delete_model of {name!r}")

    def delete_model_multigpu(self, name: str, first_gpu: int, num_gpus: int) -> None:
        """Delete the per-GPU copies of the model ``name`` stored by ``set_model_multigpu`` on
        ``num_gpus`` GPUs starting at ``first_gpu``.
        """
        self._delete_multigpu(name, first_gpu, num_gpus, b"AI.MODELDEL", "delete_model_multigpu")

    def _delete_multigpu(self, name: str, first_gpu: int, num_gpus: int, command: bytes,
                         what: str) -> None:
        """Delete the per-GPU copies ``<key>.GPU:<n>`` and the plain key, on every shard."""
        _name_check(name, "name")
        self._gpu_types(first_gpu, num_gpus)
        _gpu_params(first_gpu, num_gpus)
        key = self._model_key(name, True)
        for gpu in range(first_gpu, first_gpu + num_gpus):
            self._store_everywhere(key + f".GPU:{gpu}".encode(), lambda k: [command, k],
                                   f"{what} of {name!r}")
        self._store_everywhere(key, lambda k: [command, k], f"{what} of {name!r}")

    def model_exists(self, name: str) -> bool:
        """True when the model ``name`` is stored."""
        _name_check(name, "name")
        node, k = self._everywhere(self._model_key(name, True))[0]
        return bool(self._ok(self._db.command(node, b"EXISTS", k), "model_exists", k, node))

    def poll_model(self, name: str, poll_frequency_ms: int, num_tries: int) -> bool:
        """Check every ``poll_frequency_ms`` milliseconds, at most ``num_tries`` times, whether
        the model ``name`` is stored; return True as soon as it does, False when the tries
        run out."""
        _name_check(name, "name")
        return self._poll(lambda: self.model_exists(name), poll_frequency_ms, num_tries)

    def _execute(self, key: bytes, inputs: t.List[str], outputs: t.List[str],
                 build: t.Callable[[bytes, t.List[bytes], t.List[bytes]], t.List[t.Any]],
                 what: str, timeout: t.Optional[float] = None) -> None:
        """Run a model/script: on the standalone server directly; in a cluster on the shard of
        inputs[0] with inputs/outputs under that shard's tag, outputs moved back after."""
        in_keys = [self._tensor_key(n, True) for n in inputs]
        out_keys = [self._tensor_key(n, False) for n in outputs]
        if not self._cluster:
            node = self._db.nodes[0]
            self._run_exec(node, build(key, in_keys, out_keys), what, key, timeout)
            return
        rng = self._db.range_for(in_keys[0]) if in_keys else self._db.ranges[0]
        tmp_in = [rng.key(k) + b".TMP" for k in in_keys]
        tmp_out = [rng.key(k) + b".TMP" for k in out_keys]
        try:
            if in_keys:
                self._copy_tensors(in_keys, tmp_in, inputs)
            self._run_exec(rng.node, build(rng.key(key), tmp_in, tmp_out), what, key, timeout)
            if out_keys:
                self._copy_tensors(tmp_out, out_keys, outputs)
        finally:
            tmp = tmp_in + tmp_out
            if tmp:
                try:
                    self._db.command(rng.node, b"DEL", *tmp)
                except RedisConnectionError:
                    pass

    def _run_exec(self, node: Node, args: t.List[t.Any], what: str, key: bytes,
                  timeout: t.Optional[float]) -> None:
        reply = self._db.command(node, *args, idempotent=False, what=what, timeout=timeout)
        if reply == b"TIMEDOUT":
            raise RedisTimeoutError(f"{what} (key {_kstr(key)!r}) timed out on the database at "
                                    f"{node.address}; no outputs were stored", key=_kstr(key))
        if reply != _OK:
            self._fail(reply, what, key, node)

    def run_model(self, name: str, inputs: t.Optional[t.Union[str, t.List[str]]] = None,
                  outputs: t.Optional[t.Union[str, t.List[str]]] = None) -> None:
        """AI.MODELEXECUTE with SR_MODEL_TIMEOUT; a TIMEDOUT reply raises RedisTimeoutError."""
        _name_check(name, "name")
        inputs, outputs = _tensor_args(inputs, outputs)
        self._run_model_key(self._model_key(name, True), name, inputs, outputs)

    def _run_model_key(self, key: bytes, name: str, inputs: t.List[str],
                       outputs: t.List[str]) -> None:
        mt = self._db.model_timeout_ms

        def build(k: bytes, ins: t.List[bytes], outs: t.List[bytes]) -> t.List[t.Any]:
            return [b"AI.MODELEXECUTE", k, b"INPUTS", len(ins), *ins, b"OUTPUTS", len(outs),
                    *outs, b"TIMEOUT", mt]

        self._execute(key, inputs, outputs, build, f"run_model of {name!r}",
                      timeout=self._db.cmd_timeout + mt / 1000.0)

    def run_model_multigpu(self, name: str, offset: int, first_gpu: int, num_gpus: int,
                           inputs: t.Optional[t.Union[str, t.List[str]]] = None,
                           outputs: t.Optional[t.Union[str, t.List[str]]] = None) -> None:
        """Run the model ``name`` stored with ``set_model_multigpu`` on the GPU picked by
        ``offset`` (``first_gpu + offset % num_gpus``), reading tensors ``inputs`` and writing
        ``outputs``.
        """
        _name_check(name, "name")
        _typecheck(offset, "offset", int)
        self._gpu_types(first_gpu, num_gpus)
        inputs, outputs = _tensor_args(inputs, outputs)
        _gpu_params(first_gpu, num_gpus, period=True)
        gpu = first_gpu + offset % num_gpus
        key = self._model_key(name, True) + f".GPU:{gpu}".encode()
        self._run_model_key(key, name, inputs, outputs)

    # ------------------------------------------------------------------ scripts
    def _set_script(self, key: bytes, device: str, script: str) -> None:
        src = script.encode()
        self._store_everywhere(key, lambda k: [b"AI.SCRIPTSET", k, device, b"SOURCE", src],
                               f"set_script of {_kstr(key)!r}")

    def set_script(self, name: str, script: str, device: str = "CPU") -> None:
        """Store the TorchScript source ``script`` under ``name`` on ``device`` (``CPU`` or
        ``GPU``); ``RedisReplyError`` if it does not compile.
        """
        _name_check(name, "name")
        _typecheck(script, "script", str)
        _typecheck(device, "device", str)
        device = _check_device(device)
        self._set_script(self._model_key(name, False), device, script)

    def set_script_from_file(self, name: str, file: str, device: str = "CPU") -> None:
        """Store the TorchScript source read from ``file`` under ``name`` on ``device``."""
        _name_check(name, "name")
        _typecheck(file, "file", str)
        _typecheck(device, "device", str)
        device = _check_device(device)
        script = _read_file(_check_file(file), False)
        self._set_script(self._model_key(name, False), device, script)

    def set_function(self, name: str, function: t.Callable, device: str = "CPU") -> None:
        """Store a TorchScript function from its Python source (``inspect.getsource``)."""
        _name_check(name, "name")
        _typecheck(device, "device", str)
        _callable_check(function)
        device = _check_device(device)
        self._set_script(self._model_key(name, False), device, _getsource(function))

    def set_script_multigpu(self, name: str, script: str, first_gpu: int, num_gpus: int) -> None:
        """Store the TorchScript source ``script`` under ``name`` once per GPU, on ``num_gpus``
        GPUs starting at ``first_gpu``.
        """
        _name_check(name, "name")
        _typecheck(script, "script", str)
        self._gpu_types(first_gpu, num_gpus)
        self._set_script_multigpu(name, script, first_gpu, num_gpus)

    def _set_script_multigpu(self, name: str, script: str, first_gpu: int,
                             num_gpus: int) -> None:
        _gpu_params(first_gpu, num_gpus, period=True)
        key = self._model_key(name, False)
        for gpu in range(first_gpu, first_gpu + num_gpus):
            self._set_script(key + f".GPU:{gpu}".encode(), f"GPU:{gpu}", script)
        self._set_script(key, "GPU", script)

    def set_function_multigpu(self, name: str, function: t.Callable, first_gpu: int,
                              num_gpus: int) -> None:
        """Store the Python function ``function`` as TorchScript under ``name`` once per GPU, on
        ``num_gpus`` GPUs starting at ``first_gpu``.
        """
        _name_check(name, "name")
        self._gpu_types(first_gpu, num_gpus)
        _callable_check(function)
        self._set_script_multigpu(name, _getsource(function), first_gpu, num_gpus)

    def set_script_from_file_multigpu(self, name: str, file: str, first_gpu: int,
                                      num_gpus: int) -> None:
        """Store the TorchScript source read from ``file`` under ``name`` once per GPU, on
        ``num_gpus`` GPUs starting at ``first_gpu``.
        """
        _name_check(name, "name")
        _typecheck(file, "file", str)
        self._gpu_types(first_gpu, num_gpus)
        script = _read_file(_check_file(file), False)
        self._set_script_multigpu(name, script, first_gpu, num_gpus)

    def get_script(self, name: str) -> str:
        """The TorchScript source stored under ``name``."""
        _name_check(name, "name")
        node, k = self._everywhere(self._model_key(name, True))[0]
        reply = self._db.command(node, b"AI.SCRIPTGET", k, b"SOURCE")
        self._ok(reply, f"get_script of {name!r}", k, node, missing=f"The script {name!r}")
        return reply.decode("utf-8") if isinstance(reply, bytes) else str(reply)

    def run_script(self, name: str, fn_name: str, inputs: t.Union[str, t.List[str]],
                   outputs: t.Union[str, t.List[str]]) -> None:
        """AI.SCRIPTRUN key fn INPUTS ... OUTPUTS ... (SmartRedis 0.6.1's form)."""
        _name_check(name, "name")
        _typecheck(fn_name, "fn_name", str)
        inputs, outputs = _tensor_args(inputs, outputs)
        self._run_script_key(self._model_key(name, True), name, fn_name, inputs, outputs)

    def _run_script_key(self, key: bytes, name: str, fn_name: str, inputs: t.List[str],
                        outputs: t.List[str]) -> None:
        def build(k: bytes, ins: t.List[bytes], outs: t.List[bytes]) -> t.List[t.Any]:
            return [b"AI.SCRIPTRUN", k, fn_name, b"INPUTS", *ins, b"OUTPUTS", *outs]

        self._execute(key, inputs, outputs, build, f"run_script of {name!r}.{fn_name}",
                      timeout=self._db.cmd_timeout + self._db.model_timeout_ms / 1000.0)

    def run_script_multigpu(self, name: str, fn_name: str, inputs: t.Union[str, t.List[str]],
                            outputs: t.Union[str, t.List[str]], offset: int, first_gpu: int,
                            num_gpus: int) -> None:
        """Run the function ``fn_name`` of the script ``name`` stored with
        ``set_script_multigpu`` on the GPU picked by ``offset``, reading tensors ``inputs`` and
        writing ``outputs``.
        """
        _name_check(name, "name")
        _typecheck(fn_name, "fn_name", str)
        _typecheck(offset, "offset", int)
        self._gpu_types(first_gpu, num_gpus)
        inputs, outputs = _tensor_args(inputs, outputs)
        _gpu_params(first_gpu, num_gpus)
        gpu = first_gpu + offset % num_gpus
        key = self._model_key(name, True) + f".GPU:{gpu}".encode()
        self._run_script_key(key, name, fn_name, inputs, outputs)

    def delete_script(self, name: str) -> None:
        """Delete the script ``name``; ``RedisReplyError`` when it does not exist."""
        _name_check(name, "name")
        key = self._model_key(name, True)
        self._store_everywhere(key, lambda k: [b"AI.SCRIPTDEL", k], f"delete_script of {name!r}")

    def delete_script_multigpu(self, name: str, first_gpu: int, num_gpus: int) -> None:
        """Delete the per-GPU copies of the script ``name`` stored on ``num_gpus`` GPUs starting
        at ``first_gpu``.
        """
        self._delete_multigpu(name, first_gpu, num_gpus, b"AI.SCRIPTDEL", "delete_script_multigpu")

    def set_model_chunk_size(self, chunk_size: int) -> None:
        """AI.CONFIG MODEL_CHUNK_SIZE on every shard; later set_model calls split by it."""
        _typecheck(chunk_size, "chunk_size", int)
        if chunk_size <= 0:
            raise RedisRuntimeError(f"chunk_size must be positive, not {chunk_size}")
        for node in self._db.nodes:
            self._ok(self._db.command(node, b"AI.CONFIG", b"MODEL_CHUNK_SIZE", chunk_size),
                     "AI.CONFIG MODEL_CHUNK_SIZE", None, node)
        self._db.model_chunk_size = chunk_size

    # ------------------------------------------------------------------ prefixing
    def set_data_source(self, source_id: str) -> None:
        """Read from keys prefixed ``source_id.``; it must be listed in SSKEYIN."""
        _typecheck(source_id, "source_id", str)
        if source_id not in self._get_key_prefixes:
            raise RedisRuntimeError(
                f"Client error: data source {source_id} could not be found during client "
                f"initialization (SSKEYIN lists {self._get_key_prefixes or 'nothing'}).")
        self._get_key_prefix = source_id
        self._refresh_prefixes()

    def use_model_ensemble_prefix(self, use_prefix: bool) -> None:
        """Prefix model and script names with this entity's ``SSKEYOUT`` name (on put) and
        ``SSKEYIN`` names (on get) when ``use_prefix`` is true; ``TypeError`` unless a bool.
        """
        _typecheck(use_prefix, "use_prefix", bool)
        self._use_model_prefix = use_prefix

    def use_list_ensemble_prefix(self, use_prefix: bool) -> None:
        """Prefix aggregation-list names with this entity's ``SSKEYOUT``/``SSKEYIN`` names when
        ``use_prefix`` is true; ``TypeError`` unless a bool.
        """
        _typecheck(use_prefix, "use_prefix", bool)
        self._use_list_prefix = use_prefix

    def use_tensor_ensemble_prefix(self, use_prefix: bool) -> None:
        """Prefix tensor keys with this entity's ``SSKEYOUT``/``SSKEYIN`` names when
        ``use_prefix`` is true (on by default when ``SSKEYOUT``/``SSKEYIN`` are set);
        ``TypeError`` unless a bool.
        """
        _typecheck(use_prefix, "use_prefix", bool)
        self._use_tensor_prefix = use_prefix
        self._refresh_prefixes()

    def use_dataset_ensemble_prefix(self, use_prefix: bool) -> None:
        """Prefix dataset names with this entity's ``SSKEYOUT``/``SSKEYIN`` names when
        ``use_prefix`` is true; ``TypeError`` unless a bool.
        """
        _typecheck(use_prefix, "use_prefix", bool)
        self._use_dataset_prefix = use_prefix

    # ------------------------------------------------------------------ server commands
    def _node_at(self, address: str) -> Node:
        """The node at ``address``, which must be one this client is connected to.

        ``address`` is read as SmartRedis 0.6.1 reads it (``parse_target``: the first
        ``host:port`` of a comma-joined ``SSDB`` value, for one). SmartRedis 0.6.1 runs
        address-targeted commands (FLUSHDB, CONFIG, SAVE, INFO, AI.INFO) only on its own
        connections (``Redis::run(AddressAtCommand&)`` /
        ``RedisCluster::get_model_script_ai_info``: ``RedisRuntimeError``). Opening a
        connection to any address given would let a typo flush or reconfigure an unrelated
        server, so both topologies refuse it here."""
        _typecheck(address, "address", str)
        host, port, path = parse_target(address)
        node = self._db.node_at(host, port, path)
        if node is not None:
            return node
        if self._cluster:
            text = "The provided address does not match a cluster shard address."
        else:
            text = ("The provided address does not match the address used to initialize the "
                    "non-cluster client connection.")
        shown = f"unix://{path}" if path else f"{host}:{port}"
        raise RedisRuntimeError(f"{text} Received: {shown} (this client is connected to "
                                f"{self._where})")

    def _at(self, address: str, *args: t.Any, what: str) -> t.Any:
        node = self._node_at(address)
        return self._ok(self._db.command(node, *args), what, None, node)

    def get_db_node_info(self, addresses: t.List[str]) -> t.List[t.Dict]:
        """INFO EVERYTHING per address, parsed as {section: {key: value}}."""
        _typecheck(addresses, "addresses", list)
        out = []
        for address in addresses:
            text = self._at(address, b"INFO", b"EVERYTHING", what="INFO EVERYTHING")
            out.append(_parse_info(text))
        return out

    def get_db_cluster_info(self, addresses: t.List[str]) -> t.List[t.Dict]:
        """CLUSTER INFO per address, as {key: value}."""
        _typecheck(addresses, "addresses", list)
        out = []
        for address in addresses:
            if not self._cluster:
                raise RedisRuntimeError("Cannot run on non-cluster environment")
            text = self._at(address, b"CLUSTER", b"INFO", what="CLUSTER INFO")
            info = {}
            for line in text.decode().splitlines():
                if ":" in line:
                    k, v = line.split(":", 1)
                    info[k.strip()] = v.strip()
            out.append(info)
        return out

    def get_ai_info(self, address: t.List[str], key: str,
                    reset_stat: bool = False) -> t.List[t.Dict]:
        """AI.INFO for a model or script, one dict per address of ``address`` (a list, as in
        SmartRedis 0.6.1; each must be a server this client is connected to). An unknown key
        is ``RedisRuntimeError``, as in 0.6.1."""
        _typecheck(address, "address", list)
        _typecheck(key, "key", str)
        _typecheck(reset_stat, "reset_stat", bool)
        return [self._ai_info(a, key, reset_stat) for a in address]

    def _ai_info(self, address: str, key: str, reset_stat: bool) -> t.Dict[str, str]:
        node = self._node_at(address)
        k = key.encode()
        if self._cluster:
            rng = next(r for r in self._db.ranges if r.node is node)
            k = rng.key(k)
        args = [b"AI.INFO", k] + ([b"RESETSTAT"] if reset_stat else [])
        reply = self._ok(self._db.command(node, *args), f"get_ai_info of {key!r}", None, node)
        if not isinstance(reply, list) or len(reply) % 2:
            raise RedisInternalError("The AI.INFO reply structure has an unexpected format")
        info: t.Dict[str, str] = {}
        for i in range(0, len(reply), 2):
            field = reply[i].decode() if isinstance(reply[i], bytes) else str(reply[i])
            value = reply[i + 1]
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
                if self._cluster and value.startswith("{"):
                    end = value.find("}")
                    if end >= 0 and end + 2 < len(value) and value[end + 1] == ".":
                        value = value[end + 2:]
            else:
                value = str(value)
            info[field] = value
        return info

    def flush_db(self, addresses: t.List[str]) -> None:
        """Delete every key on the database servers at ``addresses`` (``host:port`` strings of
        servers this client is connected to).
        """
        _typecheck(addresses, "addresses", list)
        for address in addresses:
            self._at(address, b"FLUSHDB", what="FLUSHDB")

    def config_get(self, expression: str, address: str) -> t.Dict[str, str]:
        """``CONFIG GET expression`` on the server at ``address``: the matching parameters and
        their values.
        """
        _typecheck(expression, "expression", str)
        _typecheck(address, "address", str)
        reply = self._at(address, b"CONFIG", b"GET", expression, what="CONFIG GET")
        return {reply[i].decode(): reply[i + 1].decode() for i in range(0, len(reply) - 1, 2)}

    def config_set(self, config_param: str, value: str, address: str) -> None:
        """``CONFIG SET config_param value`` on the server at ``address``; ``RedisReplyError``
        when the server refuses it.
        """
        _typecheck(config_param, "config_param", str)
        _typecheck(value, "value", str)
        _typecheck(address, "address", str)
        self._at(address, b"CONFIG", b"SET", config_param, value, what="CONFIG SET")

    def save(self, addresses: t.List[str]) -> None:
        """Write a snapshot (``SAVE``) on each server at ``addresses``."""
        _typecheck(addresses, "addresses", list)
        for address in addresses:
            self._at(address, b"SAVE", what="SAVE")

    # ------------------------------------------------------------------ aggregation lists
    def append_to_list(self, list_name: str, dataset: Dataset) -> None:
        """RPUSH the dataset's key (not its .meta key) to the list. Never re-sent."""
        _name_check(list_name, "list_name")
        _typecheck(dataset, "dataset", Dataset)
        lkey = self._list_key(list_name, False)
        dkey = self._dataset_key(dataset.get_name(), False)
        self._ok(self._db.keyed(lkey, b"RPUSH", lkey, dkey, idempotent=False,
                                what=f"appending to list {list_name!r}"),
                 f"append_to_list of {list_name!r}", lkey)

    def delete_list(self, list_name: str) -> None:
        """Delete the aggregation list ``list_name`` (the datasets in it are kept)."""
        _name_check(list_name, "list_name")
        lkey = self._list_key(list_name, True)
        self._ok(self._db.keyed(lkey, b"DEL", lkey), f"delete_list of {list_name!r}", lkey)

    def _lrange(self, list_name: str, start: int, end: int) -> t.Tuple[bytes, list]:
        lkey = self._list_key(list_name, True)
        reply = self._ok(self._db.keyed(lkey, b"LRANGE", lkey, start, end),
                         f"reading list {list_name!r}", lkey)
        return lkey, reply

    def copy_list(self, src_name: str, dest_name: str) -> None:
        """Copy the aggregation list ``src_name`` to ``dest_name`` (replacing it);
        ``RedisKeyError`` when the source does not exist.
        """
        _name_check(src_name, "src_name")
        _name_check(dest_name, "dest_name")
        if not src_name:
            raise ValueError("The src_name parameter cannot be an empty string.")
        if not dest_name:
            raise ValueError("The dest_name parameter cannot be an empty string.")
        if src_name == dest_name:
            return
        lkey, entries = self._lrange(src_name, 0, -1)
        if not entries:
            raise RedisKeyError(f"The source aggregation list {src_name!r} (key {_kstr(lkey)!r}) "
                                f"does not exist in the database at {self._where}",
                                key=_kstr(lkey))
        dkey = self._list_key(dest_name, False)
        node = self._db.node_for(dkey)
        f = Frames()
        f.command(b"DEL", dkey)
        f.command_list([b"RPUSH", dkey, *entries])
        for r in self._db.run(node, f, True, f"copying list {src_name!r}"):
            self._ok(r, f"copy_list to {dest_name!r}", dkey, node)

    def rename_list(self, src_name: str, dest_name: str) -> None:
        """Rename the aggregation list ``src_name`` to ``dest_name``; ``RedisKeyError`` when it
        does not exist.
        """
        self.copy_list(src_name, dest_name)  # validates both names; no-op when they are equal
        if src_name != dest_name:
            self.delete_list(src_name)

    def get_list_length(self, list_name: str) -> int:
        """The number of datasets in the aggregation list ``list_name`` (0 when it does not
        exist).
        """
        _name_check(list_name, "list_name")
        lkey = self._list_key(list_name, True)
        reply = self._ok(self._db.keyed(lkey, b"LLEN", lkey), f"get_list_length of {list_name!r}",
                         lkey)
        return int(reply)

    def _poll_list(self, name: str, list_length: int, poll_frequency_ms: int, num_tries: int,
                   cmp: t.Callable[[int, int], bool]) -> bool:
        _name_check(name, "name")
        _typecheck(list_length, "list_length", int)
        _typecheck(poll_frequency_ms, "poll_frequency_ms", int)
        _typecheck(num_tries, "num_tries", int)
        if list_length < 0:
            raise ValueError("A positive value for list_length must be provided.")
        return self._poll(lambda: cmp(self.get_list_length(name), list_length),
                          poll_frequency_ms, num_tries)

    def poll_list_length(self, name: str, list_length: int, poll_frequency_ms: int,
                         num_tries: int) -> bool:
        """Check every ``poll_frequency_ms`` milliseconds, at most ``num_tries`` times, whether
        the aggregation list ``name`` holds exactly ``list_length`` datasets; return True as
        soon as it does, False when the tries run out."""
        return self._poll_list(name, list_length, poll_frequency_ms, num_tries,
                               lambda a, b: a == b)

    def poll_list_length_gte(self, name: str, list_length: int, poll_frequency_ms: int,
                             num_tries: int) -> bool:
        """Check every ``poll_frequency_ms`` milliseconds, at most ``num_tries`` times, whether
        the aggregation list ``name`` holds at least ``list_length`` datasets; return True as
        soon as it does, False when the tries run out."""
        return self._poll_list(name, list_length, poll_frequency_ms, num_tries,
                               lambda a, b: a >= b)

    def poll_list_length_lte(self, name: str, list_length: int, poll_frequency_ms: int,
                             num_tries: int) -> bool:
        """Check every ``poll_frequency_ms`` milliseconds, at most ``num_tries`` times, whether
        the aggregation list ``name`` holds at most ``list_length`` datasets; return True as
        soon as it does, False when the tries run out."""
        return self._poll_list(name, list_length, poll_frequency_ms, num_tries,
                               lambda a, b: a <= b)

    def get_datasets_from_list(self, list_name: str) -> t.List[Dataset]:
        """Every dataset in the aggregation list ``list_name``, in list order, as
        :class:`Dataset` objects.
        """
        _name_check(list_name, "list_name")
        if not list_name:
            raise ValueError("The list name must have length greater than zero")
        return self.get_dataset_list_range(list_name, 0, -1)

    def get_dataset_list_range(self, list_name: str, start_index: int,
                               end_index: int) -> t.List[Dataset]:
        """Datasets at list positions start..end inclusive (negative indices count from the
        end), as ``Dataset`` objects."""
        _name_check(list_name, "list_name")
        _typecheck(start_index, "start_index", int)
        _typecheck(end_index, "end_index", int)
        if not list_name:
            raise ValueError("The list name must have length greater than zero")
        _, entries = self._lrange(list_name, start_index, end_index)
        pairs = []
        for i, e in enumerate(entries):
            if not isinstance(e, bytes) or not e:
                raise RedisRuntimeError(f"Element {i} of the aggregation list {list_name!r} is "
                                        "empty or not a key")
            pairs.append((_dataset_name_from_entry(e), e))
        return self._fetch_datasets(pairs)


def _same_slot(a: bytes, b: bytes) -> bool:
    from _fastpath import crc16

    return crc16.slot(a) == crc16.slot(b)


def _dataset_name_from_entry(entry: bytes) -> str:
    text = entry.decode("utf-8", "replace")
    o, c = text.find("{"), text.rfind("}")
    if o < 0 or c < 0 or c <= o + 1:
        raise RedisRuntimeError(f"The aggregation list entry {text!r} is not a dataset key")
    return text[o + 1:c]


def _parse_info(text: t.Any) -> t.Dict[str, t.Dict[str, str]]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    out: t.Dict[str, t.Dict[str, str]] = {}
    section: t.Dict[str, str] = {}
    for line in str(text).splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            section = out.setdefault(line.lstrip("#").strip(), {})
            continue
        if ":" in line:
            k, v = line.split(":", 1)
            section[k] = v
    return out


def _getsource(function: t.Callable) -> str:
    import inspect  # costs ~10 ms; only set_function needs it

    return inspect.getsource(function)
