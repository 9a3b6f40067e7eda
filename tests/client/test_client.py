"""Every public method of smartsim.client.Client/Dataset against real servers: standalone
(TCP), standalone over a Unix socket, and a 3-shard Redis Cluster (the ``db`` fixture)."""
import inspect
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from .conftest import torch_model_bytes
from smartsim.client import (
    Client,
    ConfigOptions,
    Dataset,
    LLDebug,
    LLInfo,
    LLQuiet,
    RedisConnectionError,
    RedisKeyError,
    RedisReplyError,
    RedisRuntimeError,
    RedisTimeoutError,
    log_data,
    log_error,
    log_warning,
)

DTYPES = [np.float64, np.float32, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16]


def test_tensor_roundtrip_all_dtypes(client):
    for dt in DTYPES:
        a = (np.arange(24) % 100).astype(dt).reshape(2, 3, 4)
        client.put_tensor(f"t_{np.dtype(dt).name}", a)
        b = client.get_tensor(f"t_{np.dtype(dt).name}")
        assert b.dtype == np.dtype(dt) and b.shape == a.shape
        np.testing.assert_array_equal(a, b)
        assert b.flags.writeable
    big = np.random.rand(300_000).astype(np.float32)  # > inline threshold: gathered write
    client.put_tensor("big", big)
    np.testing.assert_array_equal(client.get_tensor("big"), big)


def test_logical_order_for_fortran_and_strided(client):
    a = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    client.put_tensor("f", a)
    np.testing.assert_array_equal(client.get_tensor("f"), a)
    s = np.arange(40, dtype=np.int32).reshape(4, 10)[:, ::3]
    client.put_tensor("s", s)
    np.testing.assert_array_equal(client.get_tensor("s"), s)
    be = np.arange(5, dtype=">f8")
    client.put_tensor("be", be)
    np.testing.assert_array_equal(client.get_tensor("be"), be)


def test_delete_copy_rename_exists_poll(client):
    a = np.ones((2, 2), dtype=np.float32)
    client.put_tensor("a", a)
    assert client.tensor_exists("a") and client.key_exists("a")
    assert client.poll_tensor("a", 10, 2) and client.poll_key("a", 10, 2)
    assert not client.poll_tensor("nope", 5, 2) and not client.poll_key("nope", 5, 2)
    client.copy_tensor("a", "b")
    np.testing.assert_array_equal(client.get_tensor("b"), a)
    for dest in ("c", "zz_other_slot_name"):
        client.rename_tensor("b", dest)
        assert not client.tensor_exists("b")
        np.testing.assert_array_equal(client.get_tensor(dest), a)
        client.copy_tensor(dest, "b")
    client.delete_tensor("a")
    assert not client.tensor_exists("a")
    client.delete_tensor("a")  # missing: no error, as SmartRedis
    with pytest.raises(RedisKeyError, match="'a'.*does not exist in the database at"):
        client.get_tensor("a")
    with pytest.raises(RedisKeyError):
        client.copy_tensor("a", "x")
    with pytest.raises(RedisKeyError):
        client.rename_tensor("a", "x")


def test_batched_tensors(client):
    data = {f"k{i}": np.full((4, 8), i, dtype=np.float32) for i in range(500)}
    client.put_tensors(data)
    out = client.get_tensors(list(data))
    for (k, v), o in zip(data.items(), out):
        np.testing.assert_array_equal(v, o)
    assert client.tensors_exist(["k1", "k499", "missing"]) == [True, True, False]
    with pytest.raises(RedisKeyError, match="missing"):
        client.get_tensors(["k1", "missing"])
    client.delete_tensors([f"k{i}" for i in range(250)])
    ex = client.tensors_exist(list(data))
    assert not any(ex[:250]) and all(ex[250:])
    assert client.get_tensors([]) == []
    with pytest.raises(TypeError):
        client.get_tensors("k1")
    with pytest.raises(TypeError):
        client.put_tensors([("a", np.ones(2))])


def test_large_batch_sent_in_pieces_reads_back_intact(client):
    # 3,000 x 1 KiB (and some odd layouts): more than twice the piece size, so put_tensors
    # streams it in pieces while encoding the rest
    data = {f"p{i}": np.full(256, i, dtype=np.float32) for i in range(3000)}
    data["fortran"] = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    data["strided"] = np.arange(40, dtype=np.int16)[::2]
    data["bigendian"] = np.arange(5, dtype=">i4")
    client.put_tensors(data)
    out = client.get_tensors(list(data))
    for (k, v), o in zip(data.items(), out):
        np.testing.assert_array_equal(v, o)
    assert out[-1].dtype == np.int32


def test_bad_array_at_the_end_of_a_large_batch_writes_nothing(client):
    data = {f"q{i}": np.zeros(256, dtype=np.float32) for i in range(3000)}
    data["bad"] = np.array([object()], dtype=object)
    with pytest.raises(TypeError, match="'bad'.*object arrays"):
        client.put_tensors(data)
    assert not any(client.tensors_exist(list(data)[:-1]))


def _dataset():
    ds = Dataset("ds")
    ds.add_tensor("x", np.arange(4, dtype=np.int64))
    ds.add_tensor("y", np.asfortranarray(np.arange(6.0).reshape(2, 3)))
    ds.add_meta_scalar("i", 3)
    ds.add_meta_scalar("i", 4)
    ds.add_meta_scalar("d", 1.5)
    ds.add_meta_scalar("f", np.float32(2.5))
    ds.add_meta_scalar("i32", np.int32(-7))
    ds.add_meta_scalar("u32", np.uint32(7))
    ds.add_meta_scalar("u64", np.uint64(2**63 + 1))
    ds.add_meta_string("s", "hello")
    ds.add_meta_string("s", "wörld")
    return ds


def _check_dataset(d):
    assert d.get_name() == "ds"
    assert d.get_tensor_names() == ["x", "y"]
    np.testing.assert_array_equal(d.get_tensor("x"), np.arange(4))
    np.testing.assert_array_equal(d.get_tensor("y"), np.arange(6.0).reshape(2, 3))
    assert list(d.get_meta_scalars("i")) == [3, 4]
    assert d.get_meta_scalars("f").dtype == np.float32
    assert list(d.get_meta_scalars("u64")) == [2**63 + 1]
    assert d.get_meta_strings("s") == ["hello", "wörld"]
    assert set(d.get_metadata_field_names()) == {"i", "d", "f", "i32", "u32", "u64", "s"}
    assert d.get_metadata_field_type("d") is np.double
    assert d.get_metadata_field_type("f") is np.float32
    assert d.get_metadata_field_type("u32") is np.uint32
    assert d.get_metadata_field_type("s") is str
    assert d.get_tensor_type("x") is np.int64 and d.get_tensor_dims("y") == [2, 3]


def test_dataset_local_api():
    d = _dataset()
    _check_dataset(d)
    assert "DataSet (ds)" in str(d)
    with pytest.raises(RedisKeyError):
        d.get_tensor("nope")
    with pytest.raises(RedisKeyError):
        d.get_meta_scalars("nope")
    with pytest.raises(RedisRuntimeError):
        d.add_meta_string("i", "x")
    with pytest.raises(TypeError):
        d.add_meta_scalar("z", "x")
    with pytest.raises(TypeError):
        d.add_meta_scalar("z", np.int8(1))
    with pytest.raises(TypeError):
        Dataset(3)
    with pytest.raises(TypeError):
        d.add_tensor("o", np.array([object()]))
    d2 = Dataset("empty")
    assert d2.get_tensor_names() == [] and d2.get_metadata_field_names() == []


def test_dataset_roundtrip(client):
    client.put_dataset(_dataset())
    assert client.dataset_exists("ds") and client.poll_dataset("ds", 10, 2)
    assert not client.poll_dataset("nope", 5, 2)
    _check_dataset(client.get_dataset("ds"))
    client.copy_dataset("ds", "ds2")
    d2 = client.get_dataset("ds2")
    assert d2.get_name() == "ds2" and d2.get_meta_strings("s") == ["hello", "wörld"]
    client.rename_dataset("ds2", "ds3")
    assert not client.dataset_exists("ds2") and client.dataset_exists("ds3")
    client.delete_dataset("ds3")
    assert not client.dataset_exists("ds3") and not client.tensor_exists("{ds3}.x")
    with pytest.raises(RedisKeyError, match="ds3"):
        client.get_dataset("ds3")
    with pytest.raises(RedisKeyError):
        client.delete_dataset("ds3")
    with pytest.raises(RedisRuntimeError):
        client.put_dataset(Dataset("nothing"))
    meta_only = Dataset("meta_only")
    meta_only.add_meta_string("a", "b")
    client.put_dataset(meta_only)
    assert client.get_dataset("meta_only").get_meta_strings("a") == ["b"]


def test_aggregation_lists(client):
    for i in range(5):
        d = Dataset(f"member_{i}")
        d.add_tensor("v", np.full(3, i, dtype=np.int32))
        d.add_meta_scalar("rank", i)
        client.put_dataset(d)
        client.append_to_list("agg", d)
    assert client.get_list_length("agg") == 5
    assert client.poll_list_length("agg", 5, 10, 2)
    assert client.poll_list_length_gte("agg", 4, 10, 2)
    assert client.poll_list_length_lte("agg", 6, 10, 2)
    assert not client.poll_list_length("agg", 6, 5, 2)
    got = client.get_datasets_from_list("agg")
    assert [d.get_name() for d in got] == [f"member_{i}" for i in range(5)]
    assert all(isinstance(d, Dataset) for d in got)
    np.testing.assert_array_equal(got[3].get_tensor("v"), [3, 3, 3])
    part = client.get_dataset_list_range("agg", -2, -1)
    assert [d.get_meta_scalars("rank")[0] for d in part] == [3, 4]
    client.copy_list("agg", "agg2")
    assert client.get_list_length("agg2") == 5
    client.rename_list("agg2", "agg3")
    assert client.get_list_length("agg2") == 0 and client.get_list_length("agg3") == 5
    client.delete_list("agg3")
    assert client.get_list_length("agg3") == 0
    with pytest.raises(RedisKeyError):
        client.copy_list("agg3", "x")
    with pytest.raises(ValueError):  # SmartRedis 0.6.1: a ParameterException
        client.poll_list_length("agg", -1, 1, 1)


def test_models(client, tmp_path):
    model = torch_model_bytes()
    client.set_model("m", model, "torch", "cpu")
    assert client.model_exists("m") and client.poll_model("m", 10, 2)
    assert client.get_model("m") == model
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    client.put_tensor("x", x)
    client.run_model("m", inputs="x", outputs=["y"])
    np.testing.assert_array_equal(client.get_tensor("y"), x * 2)
    assert not client.tensor_exists("x.TMP")
    p = tmp_path / "m.pt"
    p.write_bytes(model)
    client.set_model_from_file("m2", str(p), "TORCH", "CPU", batch_size=4, min_batch_size=1,
                               min_batch_timeout=5, tag="v1")
    client.run_model("m2", ["x"], ["y2"])
    np.testing.assert_array_equal(client.get_tensor("y2"), x * 2)
    # models larger than the chunk size come back intact
    client.set_model_chunk_size(1024)
    client.set_model("chunked", model, "TORCH")
    assert client.get_model("chunked") == model
    client.run_model("chunked", ["x"], ["y3"])
    np.testing.assert_array_equal(client.get_tensor("y3"), x * 2)
    client.set_model_chunk_size(511 * 1024 * 1024)
    infos = client.get_ai_info([n.address for n in client._db.nodes], "m")
    assert all(i["key"] == "m" for i in infos)
    assert sum(int(i["calls"]) for i in infos) >= 1
    client.delete_model("m")
    assert not client.model_exists("m")
    with pytest.raises(RedisKeyError):
        client.get_model("m")
    with pytest.raises(RedisReplyError, match="m"):
        client.run_model("m", ["x"], ["y"])
    with pytest.raises(TypeError):
        client.set_model("bad", model, "CAFFE")
    with pytest.raises(TypeError):
        client.set_model("bad", model, "TORCH", "TPU")
    with pytest.raises(ValueError):  # SmartRedis 0.6.1: a ParameterException
        client.set_model("bad", model, "TORCH", inputs=["a"])
    with pytest.raises(RedisRuntimeError):
        client.set_model("bad", model, "TORCH", min_batch_size=2)
    with pytest.raises(FileNotFoundError):
        client.set_model_from_file("bad", str(tmp_path / "none.pt"), "TORCH")


def test_model_timeout_is_an_error(db, clean_env):
    clean_env.setenv("SR_MODEL_TIMEOUT", "1")
    c = Client(None)
    c.set_model("slow", torch_model_bytes("slow"), "TORCH")
    c.put_tensor("x", np.ones((64, 64), dtype=np.float32))
    with pytest.raises(RedisTimeoutError, match="timed out"):
        c.run_model("slow", ["x"], ["y"])
    assert not c.tensor_exists("y")


def _double(x):
    return x * 2


def test_scripts(client, tmp_path):
    src = "def times3(a):\n    return a * 3\n\ndef add(a, b):\n    return a + b\n"
    client.set_script("s", src)
    assert client.get_script("s") == src and client.model_exists("s")
    x = np.arange(4, dtype=np.float32)
    client.put_tensor("x", x)
    client.put_tensor("x2", x + 1)
    client.run_script("s", "times3", ["x"], ["y"])
    np.testing.assert_array_equal(client.get_tensor("y"), x * 3)
    client.run_script("s", "add", ["x", "x2"], "z")
    np.testing.assert_array_equal(client.get_tensor("z"), 2 * x + 1)
    client.set_function("fn", _double)
    assert "def _double" in client.get_script("fn")
    client.run_script("fn", "_double", "x", "w")
    np.testing.assert_array_equal(client.get_tensor("w"), x * 2)
    f = tmp_path / "s.py"
    f.write_text(src)
    client.set_script_from_file("sf", str(f), "CPU")
    client.run_script("sf", "times3", ["x"], ["y2"])
    np.testing.assert_array_equal(client.get_tensor("y2"), x * 3)
    client.delete_script("s")
    with pytest.raises(RedisKeyError):
        client.get_script("s")
    with pytest.raises(TypeError):
        client.set_function("bad", 3)


def test_server_commands(client, db):
    kind = db[0]
    addr = client._db.nodes[0].address
    info = client.get_db_node_info([addr])
    assert "redis_version" in info[0]["Server"]
    if kind == "cluster":
        ci = client.get_db_cluster_info([addr])
        assert ci[0]["cluster_state"] == "ok"
    else:
        with pytest.raises(RedisRuntimeError):
            client.get_db_cluster_info([addr])
    assert client.config_get("maxmemory-policy", addr) == {"maxmemory-policy": "noeviction"}
    client.config_set("maxmemory-policy", "allkeys-lru", addr)
    assert client.config_get("maxmemory-policy", addr)["maxmemory-policy"] == "allkeys-lru"
    client.config_set("maxmemory-policy", "noeviction", addr)
    client.save([addr])
    client.put_tensor("a", np.ones(2))
    for node in client._db.nodes:
        client.flush_db([node.address])
    assert not client.tensor_exists("a")
    assert "Client (test)" in str(client)


def test_multigpu_argument_checks(client):
    model = b"whatever"
    # SmartRedis 0.6.1: ParameterExceptions, i.e. ValueError
    with pytest.raises(ValueError):
        client.set_model_multigpu("m", model, "TORCH", -1, 1)
    with pytest.raises(ValueError):
        client.set_model_multigpu("m", model, "TORCH", 0, 0)
    with pytest.raises(ValueError):
        client.run_model_multigpu("m", 0, 0, 0)
    with pytest.raises(ValueError):
        client.delete_script_multigpu("m", 0, 0)
    with pytest.raises(TypeError):
        client.set_script_multigpu("m", "x", "0", 1)


def test_bad_input(client, db):
    for bad in (np.zeros(3, np.uint32), np.zeros(3, np.float16), np.zeros(2, bool),
                np.array(["a"]), np.array([object()]), [1.0, 2.0]):
        with pytest.raises(TypeError):
            client.put_tensor("b", bad)
    with pytest.raises(ValueError, match="'b'.*zero-size"):
        client.put_tensor("b", np.zeros((0, 4), np.float32))
    for name in (3, None, b"bytes", ["a", "b"]):
        with pytest.raises(TypeError):
            client.put_tensor(name, np.ones(2))
        with pytest.raises(TypeError):
            client.get_tensor(name)
        with pytest.raises(TypeError):
            client.tensor_exists(name)
    with pytest.raises(TypeError, match="single name"):
        client.delete_tensor(["a"])
    with pytest.raises(TypeError):
        client.put_dataset("ds")
    with pytest.raises(RedisRuntimeError, match="not_listed"):
        client.set_data_source("not_listed")
    with pytest.raises(RedisKeyError) as ei:
        client.get_tensor("missing")
    assert "missing" in str(ei.value) and client._db.nodes[0].address.split(":")[0] in str(ei.value) \
        or "unix" in db[1]


def test_unreachable_and_unset_ssdb(clean_env):
    with pytest.raises(RedisConnectionError, match="SSDB"):
        Client(None)
    clean_env.setenv("SSDB", "127.0.0.1:1")
    clean_env.setenv("SR_DB_TYPE", "Standalone")
    clean_env.setenv("SR_CONN_TIMEOUT", "0")
    with pytest.raises(RedisConnectionError, match="127.0.0.1:1"):
        Client(None)
    clean_env.setenv("SR_DB_TYPE", "Clustered")
    with pytest.raises(RedisConnectionError, match="127.0.0.1:1"):
        Client(None)
    clean_env.setenv("SSDB", "unix:///nonexistent/redis.sock")
    with pytest.raises(RedisConnectionError):
        Client(None)
    clean_env.setenv("SR_DB_TYPE", "Standalone")
    with pytest.raises(RedisConnectionError, match="nonexistent"):
        Client(None)


def test_constructors(db, clean_env):
    kind, ssdb, dbtype = db
    cluster = kind == "cluster"
    c = Client(cluster, ssdb, logger_name="byaddr")
    c.put_tensor("a", np.ones(2))
    c2 = Client(cluster=cluster)
    assert c2.tensor_exists("a")
    with pytest.raises(TypeError):
        Client(cluster, ssdb, bogus=1)
    with pytest.raises(TypeError):
        Client("x")
    clean_env.setenv("SSDB_other", ssdb)
    clean_env.setenv("SR_DB_TYPE_other", dbtype)
    clean_env.setenv("SSDB", "127.0.0.1:1")
    c3 = Client(ConfigOptions.create_from_environment("other"))
    assert c3.tensor_exists("a")


def test_config_options(clean_env):
    clean_env.setenv("SR_X_sfx", "12")
    clean_env.setenv("SR_S_sfx", "str")
    co = ConfigOptions.create_from_environment("sfx")
    assert co.get_integer_option("SR_X") == 12 and co.get_string_option("SR_S") == "str"
    assert co.is_configured("SR_X") and not co.is_configured("SR_NOPE")
    with pytest.raises(RedisKeyError):
        co.get_string_option("SR_NOPE")
    with pytest.raises(RedisKeyError):
        co.get_integer_option("SR_NOPE")
    co.override_integer_option("SR_X", 5)
    co.override_string_option("SR_NEW", "v")
    assert co.get_integer_option("SR_X") == 5 and co.get_string_option("SR_NEW") == "v"
    with pytest.raises(TypeError):
        co.override_integer_option("SR_X", "5")
    with pytest.raises(TypeError):
        ConfigOptions.create_from_environment(3)


def test_logging(tmp_path, clean_env, capsys):
    log = tmp_path / "sr.log"
    clean_env.setenv("SR_LOG_FILE", str(log))
    clean_env.setenv("SR_LOG_LEVEL", "INFO")
    log_data("ctx", LLInfo, "hello")
    log_warning("ctx", LLQuiet, "warned")
    log_error("ctx", LLInfo, "failed")
    log_data("ctx", LLDebug, "hidden")
    text = log.read_text()
    assert "ctx@" in text and "hello" in text and "WARNING: warned" in text
    assert "ERROR: failed" in text and "hidden" not in text
    with pytest.raises(TypeError):
        log_data("ctx", "info", "x")


def test_import_is_light():
    """import smartsim.client loads no launcher, entity or ML code (its cost in ms is
    measured by benchmarks/bench_import.py, not asserted here)."""
    code = textwrap.dedent("""
        import sys
        import smartsim.client
        bad = [m for m in sys.modules if m.startswith(("smartsim._core.launcher",
               "smartsim.experiment", "smartsim.entity", "torch", "tensorflow", "onnx"))]
        print(bad)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_api_signatures_match_smartredis():
    c = Client.__dict__
    expected = {
        "put_tensor": ["self", "name", "data"],
        "poll_tensor": ["self", "name", "poll_frequency_ms", "num_tries"],
        "set_model": ["self", "name", "model", "backend", "device", "batch_size",
                      "min_batch_size", "min_batch_timeout", "tag", "inputs", "outputs"],
        "set_model_multigpu": ["self", "name", "model", "backend", "first_gpu", "num_gpus",
                               "batch_size", "min_batch_size", "min_batch_timeout", "tag",
                               "inputs", "outputs"],
        "run_model_multigpu": ["self", "name", "offset", "first_gpu", "num_gpus", "inputs",
                               "outputs"],
        "run_script": ["self", "name", "fn_name", "inputs", "outputs"],
        "get_dataset_list_range": ["self", "list_name", "start_index", "end_index"],
        "get_ai_info": ["self", "address", "key", "reset_stat"],
        "config_set": ["self", "config_param", "value", "address"],
    }
    for name, params in expected.items():
        assert list(inspect.signature(c[name]).parameters) == params, name
