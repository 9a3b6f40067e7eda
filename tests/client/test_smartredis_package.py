"""The whole SmartRedis 0.6.1 Python package, not only its core calls (issue 15).

Each group of the issue, with the values SmartRedis 0.6.1 gives (read from its sources --
``src/python/module/smartredis/*.py``, ``src/cpp/client.cpp``, ``redisserver.cpp``,
``address.cpp``, ``src/python/bindings/bind.cpp`` -- and checked against the real 0.6.1 client
on these test servers), written out here:

* the module layout (``error``, ``util`` with ``Dtypes`` and its helpers, ``dataset_utils``
  with ``DatasetConverter``, ``configoptions``, ``srobject``, ``logcontext``, ``logger``),
  ``Dataset``'s logging methods, ``LogContext.set_context``;
* ``get_ai_info`` takes a list of addresses;
* C++ ``ParameterException`` s are ``ValueError`` (``bind.cpp``): the multi-GPU ranges, empty
  names, INPUTS/OUTPUTS on a non-TF model, list arguments; the from-file variants check every
  argument's type before the file;
* a directly built ``ConfigOptions`` raises ``RedisRuntimeError``; the batch settings' errors
  and the warning 0.6.1 prints on standard error;
* the address of an address-targeted command is read as ``SRAddress`` reads it, so the
  comma-joined ``SSDB`` value names its first server;
* an ``SSDB`` with a character outside ``[A-Za-z0-9.:,/_-]`` is refused at once;
* the opt-in ``smartredis`` alias (``alias/``) runs an unmodified SmartRedis script, and
  defers to a real SmartRedis.
"""
from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from smartsim.client import (
    Client,
    ConfigOptions,
    Dataset,
    LLDebug,
    LLInfo,
    LogContext,
    RedisConnectionError,
    RedisKeyError,
    RedisRuntimeError,
)

from .conftest import torch_model_bytes

REPO = Path(__file__).resolve().parents[2]
ALIAS_LIB = REPO / "alias" / "lib"

# the names of SmartRedis 0.6.1's modules (their __all__, or their public names)
SR_MODULE_NAMES = {
    "": {"Client", "ConfigOptions", "Dataset", "SRObject", "LogContext", "DatasetConverter",
         "log_data", "log_warning", "log_error", "LLQuiet", "LLInfo", "LLDebug",
         "LLDeveloper"},
    "error": {"RedisConnectionError", "RedisReplyError", "RedisRuntimeError",
              "RedisBadAllocError", "RedisDatabaseError", "RedisInternalError",
              "RedisTimeoutError", "RedisKeyError"},
    "util": {"Dtypes", "init_default", "exception_handler", "typecheck"},
    "dataset_utils": {"DatasetConverter", "get_data", "typecheck_stringlist"},
    "configoptions": {"ConfigOptions"},
    "srobject": {"SRObject"},
    "logcontext": {"LogContext"},
    "logger": {"log_data", "log_warning", "log_error"},
    "dataset": {"Dataset"},
    "client": {"Client"},
}
NOT_MANAGED = ("Attempting to call managed method on ConfigOptions object not created from a "
               "factory method")
BATCH_WARNING = ("WARNING: min_batch_timeout was not set when a non-zero min_batch_size was "
                 "selected. \nSetting a small value (~10ms) for min_batch_timeout may improve "
                 "performance\n")


def _client(clean_env, database) -> Client:
    database.flush()
    clean_env.setenv("SSDB", database.address)
    clean_env.setenv("SR_DB_TYPE", database.db_type)
    return Client(None, logger_name="sr-package")


@pytest.fixture
def sa(clean_env, standalone):
    c = _client(clean_env, standalone)
    yield c
    c.close()


@pytest.fixture(params=["standalone", "cluster"])
def both(request, clean_env, databases):
    c = _client(clean_env, databases.get(request.param))
    yield c
    c.close()


# ---------------------------------------------------------------------------- module layout
def test_module_layout_matches_smartredis():
    import importlib

    for sub, names in SR_MODULE_NAMES.items():
        module = importlib.import_module("smartsim.client" + (f".{sub}" if sub else ""))
        missing = {n for n in names if not hasattr(module, n)}
        assert not missing, (sub, missing)
    import smartsim.client as pkg

    assert set(SR_MODULE_NAMES[""]) <= set(pkg.__all__)
    for sub in SR_MODULE_NAMES:
        if sub:
            assert getattr(pkg, sub).__name__ == f"smartsim.client.{sub}"
    # one set of classes, whichever module they are reached through
    assert pkg.error.RedisKeyError is pkg.RedisKeyError
    assert pkg.configoptions.ConfigOptions is ConfigOptions
    assert issubclass(Dataset, pkg.srobject.SRObject) and issubclass(Client, pkg.SRObject)


def test_util_dtypes_and_helpers():
    from smartsim.client.util import Dtypes, exception_handler, init_default, typecheck

    for dt, name in [(np.float64, "DOUBLE"), (np.float32, "FLOAT"), (np.int8, "INT8"),
                     (np.int16, "INT16"), (np.int32, "INT32"), (np.int64, "INT64"),
                     (np.uint8, "UINT8"), (np.uint16, "UINT16")]:
        assert Dtypes.tensor_from_numpy(np.zeros(2, dt)) == name
    with pytest.raises(TypeError, match="^Incompatible tensor type provided uint64$"):
        Dtypes.tensor_from_numpy(np.zeros(2, np.uint64))
    for dt, name in [(np.float64, "DOUBLE"), (np.float32, "FLOAT"), (np.int32, "INT32"),
                     (np.int64, "INT64"), (np.uint32, "UINT32"), (np.uint64, "UINT64")]:
        assert Dtypes.metadata_from_numpy(np.asarray(dt(1))) == name
    with pytest.raises(TypeError, match="^Incompatible metadata type provided <U15$"):
        Dtypes.metadata_from_numpy(np.array(["Incorrect Input"]))
    for name, typ in [("DOUBLE", np.double), ("UINT8", np.uint8), ("UINT16", np.uint16),
                      ("UINT32", np.uint32), ("UINT64", np.uint64), ("INT8", np.int8),
                      ("INT16", np.int16), ("INT32", np.int32), ("INT64", np.int64),
                      ("STRING", str)]:
        assert Dtypes.from_string(name) is typ
    with pytest.raises(TypeError, match="^Unrecognized type name Incorrect input$"):
        Dtypes.from_string("Incorrect input")

    assert init_default([], None, list) == [] and init_default([], "a", (list, str)) == "a"
    with pytest.raises(TypeError, match=r"^Argument was of type <class 'int'>, not <class 'list'>$"):
        init_default([], 3, list)
    typecheck("x", "name", str)
    with pytest.raises(TypeError, match=r"^Argument name is of type <class 'int'>, not <class 'str'>$"):
        typecheck(42, "name", str)

    class Thing:
        @exception_handler
        def boom(self):
            raise RedisRuntimeError("it broke")

        @exception_handler
        def bad_value(self):
            raise ValueError("passes through")

    with pytest.raises(RedisRuntimeError) as ei:
        Thing().boom()
    assert str(ei.value) == "Thing.boom execution failed\nit broke"
    with pytest.raises(ValueError, match="^passes through$"):
        Thing().bad_value()


# ---------------------------------------------------------------------------- logging objects
def test_dataset_and_logcontext_logging(tmp_path, clean_env):
    log = tmp_path / "sr.log"
    clean_env.setenv("SR_LOG_FILE", str(log))
    clean_env.setenv("SR_LOG_LEVEL", "INFO")
    d = Dataset("my_ds")
    d.log_data(LLInfo, "data line")
    d.log_warning(LLInfo, "warn line")
    d.log_error(LLInfo, "error line")
    d.log_data(LLDebug, "too detailed")
    lines = log.read_text().splitlines()
    assert [ln.split(":", 1)[1] for ln in lines] == [
        "data line", "WARNING: warn line", "ERROR: error line"]
    assert all(ln.startswith("my_ds@") for ln in lines)
    for obj in (d, LogContext("ctx")):
        for fn in (obj.log_data, obj.log_warning, obj.log_error):
            with pytest.raises(TypeError):
                fn("Not a logging level", "x")
            with pytest.raises(TypeError):
                fn(LLInfo, 42)

    # LogContext: get_context is the object it logs through; set_context replaces it
    a, b = LogContext("ctx_a"), LogContext("ctx_b")
    core = a.get_context()
    assert not isinstance(core, str)
    b.set_context(core)
    b.log_data(LLInfo, "through a's context")
    assert log.read_text().splitlines()[-1].startswith("ctx_a@")
    assert LogContext.from_pybind(core).get_context() is core
    with pytest.raises(TypeError):
        b.set_context("ctx_c")
    with pytest.raises(TypeError):
        LogContext(42)

    # Dataset's binding-object calls: a Dataset itself is not one
    with pytest.raises(TypeError):
        Dataset.from_pybind(Dataset("wrong_input_param"))
    with pytest.raises(TypeError):
        d.set_data(Dataset("wrong_input_param"))
    d.add_tensor("t", np.arange(3, dtype=np.int16))
    d.add_meta_string("s", "v")
    copy = Dataset.from_pybind(d.get_data())
    assert copy.get_name() == "my_ds" and copy.get_tensor_names() == ["t"]
    assert copy.get_meta_strings("s") == ["v"]


# ---------------------------------------------------------------------------- dataset_utils
def _xarray_dataset() -> Dataset:
    ds = Dataset("ds-1d")
    ds.add_tensor("1ddata", np.linspace(0.0, 1.0, 10))
    ds.add_tensor("x", np.linspace(0.0, 360.0, 10))
    ds.add_meta_string("x_coord_units", "degrees E")
    ds.add_meta_string("units", "m/s")
    ds.add_meta_string("longname", "velocity")
    ds.add_meta_string("dim_data_x", "x")
    return ds


def _describe(ds: Dataset) -> None:
    from smartsim.client.dataset_utils import DatasetConverter

    DatasetConverter.add_metadata_for_xarray(ds, data_names="1ddata", dim_names="dim_data_x",
                                             coord_names=["x"],
                                             attr_names=["units", "longname"])
    DatasetConverter.add_metadata_for_xarray(ds, data_names=["x"], dim_names=["dim_data_x"],
                                             attr_names=["x_coord_units"])


def test_dataset_converter_metadata_fields():
    from smartsim.client.dataset_utils import DatasetConverter

    ds = _xarray_dataset()
    _describe(ds)
    expected = {
        "_xarray_data_names": ["1ddata", "x"],
        "_xarray_1ddata_dim_names": ["dim_data_x"],
        "_xarray_1ddata_coord_names": ["x"],
        "_xarray_1ddata_attr_names": ["units,longname"],
        "_xarray_x_dim_names": ["dim_data_x"],
        "_xarray_x_coord_names": ["null"],
        "_xarray_x_attr_names": ["x_coord_units"],
    }
    for field, values in expected.items():
        assert ds.get_meta_strings(field) == values, field
    for bad in (dict(data_names=1, dim_names=["d"]), dict(data_names=["a"], dim_names=2),
                dict(data_names=["a"], dim_names=["d"], coord_names=3),
                dict(data_names=["a"], dim_names=["d"], attr_names=[4, 5]),
                dict(data_names=["a"], dim_names=[1, 2])):
        with pytest.raises(TypeError):
            DatasetConverter.add_metadata_for_xarray(ds, **bad)
    with pytest.raises(TypeError):
        DatasetConverter.add_metadata_for_xarray("not a dataset", ["a"], ["d"])


def test_dataset_converter_to_xarray():
    xr = pytest.importorskip("xarray")
    from smartsim.client.dataset_utils import DatasetConverter

    ds = _xarray_dataset()
    _describe(ds)
    out = DatasetConverter.transform_to_xarray(ds)
    assert list(out) == ["1ddata"]  # x became a coordinate
    reference = xr.DataArray(
        name="1ddata", data=ds.get_tensor("1ddata"), dims="x",
        coords=(("x", ds.get_tensor("x"), {"x_coord_units": "degrees E"}),),
        attrs={"units": "m/s", "longname": "velocity"})
    assert reference.identical(out["1ddata"])
    # a described variable whose tensor is missing: RedisKeyError, as in 0.6.1
    DatasetConverter.add_metadata_for_xarray(ds, data_names=["nodata"], dim_names=["dim_data_x"])
    with pytest.raises(RedisKeyError):
        DatasetConverter.transform_to_xarray(ds)


def test_dataset_converter_without_xarray(monkeypatch):
    from smartsim.client.dataset_utils import DatasetConverter

    monkeypatch.setitem(sys.modules, "xarray", None)  # import xarray -> ImportError
    ds = _xarray_dataset()
    _describe(ds)
    with pytest.raises(RedisRuntimeError, match=r"Optional package xarray must be installed"):
        DatasetConverter.transform_to_xarray(ds)


# ---------------------------------------------------------------------------- get_ai_info
def test_get_ai_info_takes_a_list_of_addresses(both):
    c = both
    c.set_script("ai_script", "def f(a):\n    return a + 1\n")
    addresses = [n.address for n in c._db.nodes]
    infos = c.get_ai_info(addresses, "ai_script")
    assert len(infos) == len(addresses) and all(i["key"] == "ai_script" for i in infos)
    assert all(i["type"] == "SCRIPT" for i in infos)
    assert c.get_ai_info([], "ai_script") == []
    with pytest.raises(TypeError, match="Argument address is of type <class 'str'>, not "
                                        "<class 'list'>"):
        c.get_ai_info(addresses[0], "ai_script")
    with pytest.raises(TypeError):
        c.get_ai_info(addresses, 42)
    with pytest.raises(TypeError):
        c.get_ai_info(addresses, "ai_script", "not a boolean")
    with pytest.raises(RedisRuntimeError):
        c.get_ai_info(["no_host:6379"], "ai_script")
    # an unknown key is RedisRuntimeError in 0.6.1 (not RedisKeyError)
    with pytest.raises(RedisRuntimeError, match="cannot find run info"):
        c.get_ai_info(addresses, "bad_key")


# ---------------------------------------------------------------------------- ValueError group
def test_parameter_errors_are_value_errors(sa):
    c = sa
    model = b"not checked before the parameters"
    cases = [
        (lambda: c.set_model_multigpu("m", model, "TORCH", -1, 1),
         "first_gpu must be a non-negative integer"),
        (lambda: c.set_model_multigpu("m", model, "TORCH", 0, 0),
         "num_gpus must be a positive integer."),
        (lambda: c.set_model_multigpu("", model, "TORCH", 0, 1),
         "name is a required parameter of set_model."),
        (lambda: c.set_model("", model, "TORCH"), "name is a required parameter of set_model."),
        (lambda: c.set_model("m", model, "TORCH", inputs=["a"]),
         "INPUTS in the model set command is only valid for TF models"),
        (lambda: c.set_model("m", model, "ONNX", outputs="b"),
         "OUTPUTS in the model set command is only valid for TF models"),
        (lambda: c.set_script_multigpu("s", "def f(a):\n    return a\n", -1, 1),
         "first_gpu must be a non-negative integer."),
        (lambda: c.set_function_multigpu("s", _plus_one, 0, 0),
         "num_gpus must be a positive integer."),
        (lambda: c.run_model_multigpu("m", 0, -1, 1),
         "first_gpu must be a non-negative integer."),
        (lambda: c.run_script_multigpu("s", "f", "a", "b", 0, -1, 1),
         "first_gpu must be a non-negative integer"),
        (lambda: c.delete_model_multigpu("m", 0, 0), "num_gpus must be a positive integer."),
        (lambda: c.delete_script_multigpu("s", -1, 1),
         "first_gpu must be a non-negative integer"),
        (lambda: c.copy_list("", "dest"), "The src_name parameter cannot be an empty string."),
        (lambda: c.rename_list("src", ""), "The dest_name parameter cannot be an empty string."),
        (lambda: c.poll_list_length("l", -1, 1, 1),
         "A positive value for list_length must be provided."),
        (lambda: c.poll_list_length_gte("l", -1, 1, 1),
         "A positive value for list_length must be provided."),
        (lambda: c.get_datasets_from_list(""),
         "The list name must have length greater than zero"),
        (lambda: c.get_dataset_list_range("", 0, 1),
         "The list name must have length greater than zero"),
    ]
    for call, text in cases:
        with pytest.raises(ValueError) as ei:
            call()
        assert type(ei.value) is ValueError and str(ei.value) == text
    assert not c.model_exists("m") and not c.model_exists("s")
    # a type error still comes first
    with pytest.raises(TypeError):
        c.poll_list_length("l", -1, "not an integer", 1)


def _plus_one(a):
    return a + 1


def test_from_file_variants_check_argument_types_before_the_file(sa, tmp_path):
    c = sa
    missing = str(tmp_path / "no_such_model.pt")
    type_errors = [
        lambda: c.set_model_from_file("m", missing, "TORCH", "CPU", tag=42),
        lambda: c.set_model_from_file("m", missing, "UNSUPPORTED_ENGINE", "CPU"),
        lambda: c.set_model_from_file("m", missing, "TORCH", "BAD_DEVICE"),
        lambda: c.set_model_from_file_multigpu("m", missing, "TORCH", 0, 1,
                                               min_batch_timeout="not_an_integer"),
        lambda: c.set_model_from_file_multigpu("m", missing, "TORCH", "not an integer", 1),
        lambda: c.set_model_from_file_multigpu("m", missing, 42, 0, 1),
        lambda: c.set_model_from_file_multigpu("m", missing, "UNSUPPORTED_ENGINE", 0, 1),
        lambda: c.set_model_from_file_multigpu("m", missing, "TORCH", 0, 1, tag=42),
        lambda: c.set_script_from_file_multigpu("s", missing, 0, "not an integer"),
        lambda: c.set_script_from_file_multigpu(42, missing, 0, 1),
    ]
    for call in type_errors:
        with pytest.raises(TypeError):
            call()
    # ... and the file before the GPU range (C++) and the inputs (0.6.1's Python order)
    for call in (lambda: c.set_model_from_file_multigpu("m", missing, "TORCH", -1, 1),
                 lambda: c.set_model_from_file("m", missing, "TORCH", "CPU", inputs=3),
                 lambda: c.set_script_from_file_multigpu("s", missing, -1, 1)):
        with pytest.raises(FileNotFoundError):
            call()


# ---------------------------------------------------------------------------- ConfigOptions
def test_directly_built_config_options(clean_env, standalone):
    co = ConfigOptions()
    for call in (lambda: co.get_integer_option("key"), lambda: co.get_string_option("key"),
                 lambda: co.is_configured("key"), lambda: co.override_integer_option("key", 42),
                 lambda: co.override_string_option("key", "value"), co.get_data):
        with pytest.raises(RedisRuntimeError) as ei:
            call()
        assert str(ei.value) == NOT_MANAGED
    clean_env.setenv("SSDB", standalone.address)
    clean_env.setenv("SR_DB_TYPE", "Standalone")
    with pytest.raises(RedisConnectionError, match=NOT_MANAGED):
        Client(co)
    # the factory's object works, also called on an instance as 0.6.1's tests do
    clean_env.setenv("SR_INT_KEY", "42")
    clean_env.setenv("SR_BAD_INT", "12x")
    made = ConfigOptions().create_from_environment("")
    assert made.get_integer_option("SR_INT_KEY") == 42
    with pytest.raises(RedisKeyError, match="^No value found for key SR_NOT_THERE$"):
        made.get_integer_option("SR_NOT_THERE")
    with pytest.raises(ValueError, match="^The value of SR_BAD_INT must be a valid number.$"):
        made.get_integer_option("SR_BAD_INT")
    Client(made).close()


# ---------------------------------------------------------------------------- batch settings
def test_batch_settings_errors_and_warning(sa, capfd):
    c = sa
    model = b"never stored"
    with pytest.raises(RedisRuntimeError) as ei:
        c.set_model("m", model, "TORCH", batch_size=0, min_batch_size=1)
    assert str(ei.value) == ("batch_size must be non-zero if min_batch_size or "
                             "min_batch_timeout is used; otherwise batching will not be "
                             "performed.")
    with pytest.raises(RedisRuntimeError) as ei:
        c.set_model_multigpu("m", model, "TORCH", 0, 1, batch_size=1, min_batch_timeout=5)
    assert str(ei.value) == ("min_batch_size must be non-zero if min_batch_timeout is used; "
                             "otherwise the min_batch_timeout parameter is ignored.")
    capfd.readouterr()
    real = torch_model_bytes()
    c.set_model("batched", real, "TORCH", "CPU", batch_size=1, min_batch_size=1,
                min_batch_timeout=0)
    assert capfd.readouterr().err == BATCH_WARNING
    c.set_model("batched2", real, "TORCH", "CPU", batch_size=2, min_batch_size=1,
                min_batch_timeout=10)
    assert capfd.readouterr().err == ""
    assert c.model_exists("batched") and c.model_exists("batched2")


# ---------------------------------------------------------------------------- addresses
def test_address_commands_accept_the_ssdb_string(cluster, clean_env):
    c = _client(clean_env, cluster)
    try:
        shards = [n.address for n in c._db.nodes]
        ssdb = ",".join(shards)  # what SSDB holds for a sharded database
        before = [c.config_get("lua-time-limit", a)["lua-time-limit"] for a in shards]
        assert c.config_get("lua-time-limit", ssdb) == {"lua-time-limit": before[0]}
        c.config_set("lua-time-limit", "6001", ssdb)  # the first address only
        after = [c.config_get("lua-time-limit", a)["lua-time-limit"] for a in shards]
        assert after == ["6001"] + before[1:]
        c.config_set("lua-time-limit", before[0], shards[0])
        assert c.get_db_node_info([ssdb])[0]["Server"]["tcp_port"] == shards[0].split(":")[1]
        # SRAddress reads the port like std::stoul: trailing text ignored, 0x is hex
        host, port = shards[0].split(":")
        assert c.config_get("lua-time-limit", f"{host}:0x{int(port):x}")
        assert c.config_get("lua-time-limit", f"{shards[0]}abc")
        with pytest.raises(RedisRuntimeError, match="^junk is not a valid database node "
                                                    "address.$"):
            c.config_get("lua-time-limit", "junk")
        with pytest.raises(RedisRuntimeError, match="not a valid database node address"):
            c.flush_db([f"{host}:"])
    finally:
        c.close()


def test_ssdb_with_invalid_character_is_refused_at_once(clean_env, standalone):
    clean_env.setenv("SR_DB_TYPE", "Standalone")
    clean_env.setenv("SR_CONN_TIMEOUT", "5")
    for value, bad in [(f"{standalone.address};", ";"), ("not-an-address:6379;", ";"),
                       (f"{standalone.address}, {standalone.address}", " ")]:
        clean_env.setenv("SSDB", value)
        start = time.monotonic()
        with pytest.raises(RedisConnectionError) as ei:
            Client(None)
        assert time.monotonic() - start < 1.0
        assert str(ei.value) == (f"The provided SSDB value, {value} is invalid because of "
                                 f"character {bad}\nCould not connect to Orchestrator at "
                                 f"{value}")
    clean_env.setenv("SR_DB_TYPE", "Clustered")
    clean_env.setenv("SSDB", "127.0.0.1:1;")
    with pytest.raises(RedisConnectionError, match="invalid because of character ;"):
        Client(None)


# ---------------------------------------------------------------------------- construction
def test_constructors_have_smartredis_shape(clean_env, standalone):
    """0.6.1's own tests replace ``_Client__standard_construction`` with a staticmethod and
    ``_Client__address_construction`` with a method; both return what ``__init__`` uses."""
    clean_env.setenv("SSDB", standalone.address)
    clean_env.setenv("SR_DB_TYPE", "Standalone")
    raw = inspect.getattr_static(Client, "_Client__standard_construction")
    assert isinstance(raw, staticmethod)
    core = Client._Client__standard_construction(None, "direct")
    core.db.close()
    calls = []
    original = Client._Client__standard_construction

    @staticmethod
    def spy(*a, **kw):
        calls.append((a, kw))
        return original(*a, **kw)

    setattr(Client, "_Client__standard_construction", spy)
    try:
        Client(logger_name="spied").close()
    finally:
        setattr(Client, "_Client__standard_construction", raw)
    assert calls == [((), {"logger_name": "spied"})]


# ---------------------------------------------------------------------------- the alias
SR_SCRIPT = """
import sys
import numpy as np
from smartredis import Client, Dataset, ConfigOptions, LogContext, LLInfo, log_data
from smartredis.error import RedisKeyError, RedisReplyError
from smartredis.util import Dtypes
from smartredis.dataset_utils import DatasetConverter
import smartredis

assert getattr(smartredis, "__smartsim_alias__", False)
c = Client(None, logger_name="unmodified")
c.put_tensor("t", np.arange(6, dtype=np.float32).reshape(2, 3))
assert (c.get_tensor("t") == np.arange(6).reshape(2, 3)).all()
assert Dtypes.tensor_from_numpy(c.get_tensor("t")) == "FLOAT"
ds = Dataset("sr_ds")
ds.add_tensor("x", np.ones(4, dtype=np.int64))
ds.add_meta_scalar("step", 7)
ds.log_data(LLInfo, "dataset built")
c.put_dataset(ds)
got = c.get_dataset("sr_ds")
assert list(got.get_meta_scalars("step")) == [7] and got.get_tensor("x").sum() == 4
try:
    c.get_dataset("never_stored")
except RedisKeyError:
    print("KEYERROR OK")
c.set_script("s", "def f(a):\\n    return a + 1\\n")
addresses = [a for a in sys.argv[1].split(",")]
assert len(c.get_ai_info(addresses[:1], "s")) == 1
co = ConfigOptions.create_from_environment("")
assert co.get_string_option("SSDB") == sys.argv[1]
LogContext("ctx").log_data(LLInfo, "logged")
log_data("ctx", LLInfo, "logged too")
print("SCRIPT OK")
"""


def _run_with_alias(script: str, env_extra: dict, tmp_path: Path, args=(),
                    pythonpath=None) -> subprocess.CompletedProcess:
    path = tmp_path / "app.py"
    path.write_text(textwrap.dedent(script))
    env = dict(os.environ)
    env.update(env_extra)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (pythonpath or [ALIAS_LIB]))
    return subprocess.run([sys.executable, str(path), *args], env=env, capture_output=True,
                          text=True, timeout=120, cwd=str(tmp_path))


@pytest.mark.parametrize("kind", ["standalone", "cluster"])
def test_alias_runs_an_unmodified_smartredis_script(kind, databases, clean_env, tmp_path):
    database = databases.get(kind)
    database.flush()
    env = {"SSDB": database.address, "SR_DB_TYPE": database.db_type, "SR_LOG_LEVEL": "quiet"}
    proc = _run_with_alias(SR_SCRIPT, env, tmp_path, args=[database.address])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "KEYERROR OK" in proc.stdout and "SCRIPT OK" in proc.stdout


def test_alias_defers_to_a_real_smartredis(tmp_path):
    real = tmp_path / "site" / "smartredis"
    real.mkdir(parents=True)
    (real / "__init__.py").write_text("REAL = True\n")
    (real / "error.py").write_text("class RedisKeyError(Exception):\n    pass\n")
    probe = """
        import smartredis
        from smartredis.error import RedisKeyError
        print(getattr(smartredis, "REAL", False), smartredis.__file__)
    """
    # the alias first on sys.path, a real SmartRedis after it: the real one is imported
    proc = _run_with_alias(probe, {}, tmp_path, pythonpath=[ALIAS_LIB, tmp_path / "site"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", str(real / "__init__.py")]
    # a bare directory named smartredis (no __init__.py) is not a SmartRedis
    (real / "__init__.py").unlink()
    proc = _run_with_alias("import smartredis; print(smartredis.__smartsim_alias__)", {},
                           tmp_path, pythonpath=[ALIAS_LIB, tmp_path / "site"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"


def test_alias_wheel_never_writes_over_smartredis(tmp_path):
    """The distribution puts its package under smartredis_alias/ and appends that directory
    to sys.path with a .pth line: nothing at <site-packages>/smartredis/."""
    pytest.importorskip("wheel")
    src = tmp_path / "alias"
    shutil.copytree(REPO / "alias", src, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__"))
    out = tmp_path / "wheels"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {proc.stderr[-500:]}")
    import zipfile

    (wheel,) = out.glob("smartredis_alias-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"smartredis_alias.pth", "smartredis_alias/smartredis/__init__.py"} <= names
    assert not any(n.startswith("smartredis/") for n in names)
    pth = zipfile.ZipFile(wheel).read("smartredis_alias.pth").decode().strip()
    assert pth == "smartredis_alias"  # a path line, no code at start-up
