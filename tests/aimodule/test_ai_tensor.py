"""AI.TENSORSET / AI.TENSORGET against a real redis-server with the module loaded."""
import numpy as np
import pytest
import redis

DTYPES = {
    "FLOAT": np.float32,
    "DOUBLE": np.float64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "BOOL": np.bool_,
}


def test_module_list_shows_ai(r):
    mods = r.execute_command("MODULE", "LIST")
    names = [m[b"name"] if isinstance(m, dict) else dict(zip(m[::2], m[1::2]))[b"name"] for m in mods]
    assert b"ai" in names


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_blob_roundtrip_every_dtype(r, dtype):
    rng = np.random.default_rng(0)
    if dtype == "BOOL":
        a = rng.integers(0, 2, size=(3, 4)).astype(np.bool_)
    else:
        a = (rng.random((3, 4)) * 100).astype(DTYPES[dtype])
    assert r.execute_command("AI.TENSORSET", "t", dtype, 3, 4, "BLOB", a.tobytes()) == b"OK"
    reply = r.execute_command("AI.TENSORGET", "t", "META", "BLOB")
    assert reply == [b"dtype", dtype.encode(), b"shape", [3, 4], b"blob", a.tobytes()]
    assert r.execute_command("AI.TENSORGET", "t", "BLOB") == a.tobytes()
    assert r.execute_command("AI.TENSORGET", "t") == reply
    assert r.execute_command("AI.TENSORGET", "t", "META") == [b"dtype", dtype.encode(), b"shape", [3, 4]]


@pytest.mark.parametrize("dtype", ["INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "BOOL"])
def test_values_integer_types(r, dtype):
    vals = [0, 1, 1, 0] if dtype == "BOOL" else [1, 2, 3, 4]
    if dtype.startswith("INT"):
        vals[0] = -5
    assert r.execute_command("AI.TENSORSET", "t", dtype, 2, 2, "VALUES", *vals) == b"OK"
    assert r.execute_command("AI.TENSORGET", "t", "VALUES") == vals
    assert r.execute_command("AI.TENSORGET", "t", "META", "VALUES") == [
        b"dtype", dtype.encode(), b"shape", [2, 2], b"values", vals]
    blob = r.execute_command("AI.TENSORGET", "t", "BLOB")
    np.testing.assert_array_equal(np.frombuffer(blob, DTYPES[dtype]), np.array(vals, DTYPES[dtype]))


@pytest.mark.parametrize("dtype", ["FLOAT", "DOUBLE"])
def test_values_float_types(r, dtype):
    assert r.execute_command("AI.TENSORSET", "t", dtype, 3, "VALUES", 1, "2.5", "-0.25") == b"OK"
    vals = r.execute_command("AI.TENSORGET", "t", "VALUES")
    assert [float(v) for v in vals] == [1.0, 2.5, -0.25]
    blob = r.execute_command("AI.TENSORGET", "t", "BLOB")
    np.testing.assert_array_equal(np.frombuffer(blob, DTYPES[dtype]), [1.0, 2.5, -0.25])


def test_values_float_reply_is_double_text(raw):
    raw.call("AI.TENSORSET", "f", "FLOAT", 2, "VALUES", "1.5", "2")
    assert raw.call("AI.TENSORGET", "f", "VALUES") == b"*2\r\n$3\r\n1.5\r\n$1\r\n2\r\n"


def test_string_tensor(r):
    assert r.execute_command("AI.TENSORSET", "s", "STRING", 3, "VALUES", "ab", "", "xyz") == b"OK"
    assert r.execute_command("AI.TENSORGET", "s", "VALUES") == [b"ab", b"", b"xyz"]
    assert r.execute_command("AI.TENSORGET", "s", "BLOB") == b"ab\x00\x00xyz\x00"
    assert r.execute_command("AI.TENSORSET", "s2", "STRING", 2, "BLOB", b"a\x00bc\x00") == b"OK"
    assert r.execute_command("AI.TENSORGET", "s2", "VALUES") == [b"a", b"bc"]
    with pytest.raises(redis.ResponseError, match="Number of string elements"):
        r.execute_command("AI.TENSORSET", "s3", "STRING", 2, "BLOB", b"a\x00bc")
    with pytest.raises(redis.ResponseError, match="Number of string elements"):
        r.execute_command("AI.TENSORSET", "s3", "STRING", 3, "BLOB", b"a\x00bc\x00")
    with pytest.raises(redis.ResponseError, match="C-string value contains null character"):
        r.execute_command("AI.TENSORSET", "s3", "STRING", 1, "VALUES", b"a\x00b")


def test_zero_filled_without_data(r):
    assert r.execute_command("AI.TENSORSET", "z", "INT32", 2, 3) == b"OK"
    assert r.execute_command("AI.TENSORGET", "z", "BLOB") == bytes(24)
    assert r.execute_command("AI.TENSORSET", "zs", "STRING", 2) == b"OK"
    assert r.execute_command("AI.TENSORGET", "zs", "VALUES") == [b"", b""]


def test_dtype_is_case_insensitive_and_overwrite(r):
    assert r.execute_command("AI.TENSORSET", "t", "float", 1, "VALUES", 1) == b"OK"
    assert r.execute_command("AI.TENSORSET", "t", "int8", 2, "blob", b"\x01\x02") == b"OK"
    assert r.execute_command("AI.TENSORGET", "t", "meta") == [b"dtype", b"INT8", b"shape", [2]]


def test_byte_exact_replies(raw):
    assert raw.call("AI.TENSORSET", "b", "UINT8", 1, 3, "BLOB", b"\x00\x01\x02") == b"+OK\r\n"
    assert raw.call("AI.TENSORGET", "b", "META", "BLOB") == (
        b"*6\r\n$5\r\ndtype\r\n$5\r\nUINT8\r\n$5\r\nshape\r\n*2\r\n:1\r\n:3\r\n"
        b"$4\r\nblob\r\n$3\r\n\x00\x01\x02\r\n")
    assert raw.call("AI.TENSORGET", "b", "BLOB") == b"$3\r\n\x00\x01\x02\r\n"
    assert raw.call("AI.TENSORGET", "b", "VALUES") == b"*3\r\n:0\r\n:1\r\n:2\r\n"
    assert raw.call("AI.TENSORGET", "missing") == b"-ERR tensor key is empty or in a different shard\r\n"
    assert raw.call("AI.TENSORSET", "x", "FLOAT", 2, "BLOB", b"123") == (
        b"-ERR data length does not match tensor shape and type\r\n")


ERRORS = [
    (("AI.TENSORSET", "t", "FLOAT"), "wrong number of arguments"),
    (("AI.TENSORSET", "t", "FLOAT16", 1), "ERR invalid data type"),
    (("AI.TENSORSET", "t", "FLOAT", -1), "ERR invalid or negative value found in tensor shape"),
    (("AI.TENSORSET", "t", "FLOAT", 0), "ERR invalid or negative value found in tensor shape"),
    (("AI.TENSORSET", "t", "FLOAT", "abc"), "ERR invalid or negative value found in tensor shape"),
    (("AI.TENSORSET", "t", "FLOAT", 2, "BLOB", b"12345678", b"x"),
     "ERR a single binary string should come after the BLOB argument in 'AI.TENSORSET' command"),
    (("AI.TENSORSET", "t", "FLOAT", 2, "BLOB"),
     "ERR a single binary string should come after the BLOB argument in 'AI.TENSORSET' command"),
    (("AI.TENSORSET", "t", "FLOAT", 2, "BLOB", b"1234"), "ERR data length does not match tensor shape and type"),
    (("AI.TENSORSET", "t", "FLOAT", 3, "VALUES", 1, 2),
     "ERR wrong number of values was given in 'AI.TENSORSET' command"),
    (("AI.TENSORSET", "t", "FLOAT", 2, "VALUES", 1, "x"), "ERR invalid value"),
    (("AI.TENSORSET", "t", "INT8", 1, "VALUES", 300), "ERR invalid value"),
    (("AI.TENSORSET", "t", "UINT8", 1, "VALUES", -1), "ERR invalid value"),
    (("AI.TENSORSET", "t", "BOOL", 1, "VALUES", 2), "ERR invalid value"),
    (("AI.TENSORSET", "t", "INT32", 1, "VALUES", "1.5"), "ERR invalid value"),
    (("AI.TENSORSET", "t", "BOOL", 2, "BLOB", b"\x01\x05"), "ERR BOOL tensor elements must be 0 or 1"),
    (("AI.TENSORSET", "t", "FLOAT", 2**40, 2**40, "BLOB", b"1234"),
     "ERR data length does not match tensor shape and type"),
    (("AI.TENSORSET", "t", "DOUBLE", 2**62, 8, "BLOB", b""),
     "ERR data length does not match tensor shape and type"),
    (("AI.TENSORSET", "t", "FLOAT", 2**40, 2**40), "ERR tensor is too large"),
    (("AI.TENSORSET", "t", "FLOAT", 2**62, 2**62, "VALUES", 1),
     "ERR wrong number of values was given in 'AI.TENSORSET' command"),
    (("AI.TENSORGET",), "wrong number of arguments"),
    (("AI.TENSORGET", "t", "META", "BLOB", "X"), "wrong number of arguments"),
    (("AI.TENSORGET", "missing"), "ERR tensor key is empty or in a different shard"),
]


@pytest.mark.parametrize("args,msg", ERRORS)
def test_errors(raw, args, msg):
    reply = raw.call(*args)
    if msg.startswith("ERR "):
        assert reply == b"-" + msg.encode() + b"\r\n"
    else:
        assert reply.startswith(b"-ERR ") and msg.encode() in reply
    assert raw.call("PING") == b"+PONG\r\n"


def test_tensorget_format_errors(r):
    r.execute_command("AI.TENSORSET", "t", "FLOAT", 1, "VALUES", 1)
    with pytest.raises(redis.ResponseError, match="both BLOB and VALUES specified"):
        r.execute_command("AI.TENSORGET", "t", "BLOB", "VALUES")
    with pytest.raises(redis.ResponseError, match="unsupported data format"):
        r.execute_command("AI.TENSORGET", "t", "JSON")


def test_wrongtype(r):
    r.set("str", "x")
    with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
        r.execute_command("AI.TENSORSET", "str", "FLOAT", 1)
    with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
        r.execute_command("AI.TENSORGET", "str")
    r.execute_command("AI.TENSORSET", "t", "FLOAT", 1)
    with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
        r.get("t")
    assert r.type("t") == b"AI_TENSOR"


def test_scalar_and_many_dims(r):
    assert r.execute_command("AI.TENSORSET", "s", "FLOAT", "BLOB", b"\x00\x00\x80\x3f") == b"OK"
    assert r.execute_command("AI.TENSORGET", "s", "META") == [b"dtype", b"FLOAT", b"shape", []]
    dims = [1] * 40
    assert r.execute_command("AI.TENSORSET", "m", "INT8", *dims, "VALUES", 7) == b"OK"
    assert r.execute_command("AI.TENSORGET", "m", "META")[3] == dims


def test_large_tensor_and_memory_usage(r):
    a = np.arange(4 * 1024 * 1024, dtype=np.float32)
    r.execute_command("AI.TENSORSET", "big", "FLOAT", a.size, "BLOB", a.tobytes())
    assert r.execute_command("AI.TENSORGET", "big", "BLOB") == a.tobytes()
    assert r.memory_usage("big") >= a.nbytes
    r.delete("big")
    assert r.exists("big") == 0


def test_pipelined_many_small(r):
    p = r.pipeline(transaction=False)
    for i in range(2000):
        p.execute_command("AI.TENSORSET", f"k{i}", "INT32", 2, "VALUES", i, -i)
    assert all(x == b"OK" for x in p.execute())
    p = r.pipeline(transaction=False)
    for i in range(2000):
        p.execute_command("AI.TENSORGET", f"k{i}", "VALUES")
    assert p.execute() == [[i, -i] for i in range(2000)]


def test_tensorset_in_multi_and_copy_rename(r):
    p = r.pipeline(transaction=True)
    p.execute_command("AI.TENSORSET", "a", "INT8", 1, "VALUES", 1)
    p.execute_command("AI.TENSORGET", "a", "VALUES")
    assert p.execute() == [b"OK", [1]]
    r.rename("a", "b")
    assert r.execute_command("AI.TENSORGET", "b", "VALUES") == [1]


def test_overwrite_semantics(r):
    """Overwriting a tensor: new contents, WATCH is invalidated, a TTL is dropped (as SET does)."""
    r.execute_command("AI.TENSORSET", "w", "INT8", 1, 2, 3, "VALUES", *range(6))
    r.execute_command("AI.TENSORSET", "w", "DOUBLE", 2, "VALUES", 1, 2)  # fewer dims, in place
    assert r.execute_command("AI.TENSORGET", "w", "META") == [b"dtype", b"DOUBLE", b"shape", [2]]
    r.execute_command("AI.TENSORSET", "w", "INT16", 1, 1, 1, 1, 2, "VALUES", 5, 6)  # more dims
    assert r.execute_command("AI.TENSORGET", "w", "META", "VALUES") == [
        b"dtype", b"INT16", b"shape", [1, 1, 1, 1, 2], b"values", [5, 6]]
    with r.pipeline() as p:
        p.watch("w")
        other = r  # same server, different connection from the pool
        other.execute_command("AI.TENSORSET", "w", "INT16", 1, 1, 1, 1, 2, "VALUES", 7, 8)
        p.multi()
        p.execute_command("AI.TENSORGET", "w", "VALUES")
        with pytest.raises(redis.WatchError):
            p.execute()
    r.expire("w", 100)
    assert r.ttl("w") > 0
    r.execute_command("AI.TENSORSET", "w", "INT16", 2, "VALUES", 1, 2)
    assert r.ttl("w") == -1
    assert r.execute_command("AI.TENSORGET", "w", "VALUES") == [1, 2]
