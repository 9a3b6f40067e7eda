"""AI.MODEL* / AI.SCRIPT* storage commands, AI.INFO and AI.CONFIG (no executor connected:
blobs are stored without validation, as PROTOCOL.md specifies)."""
import pytest
import redis

BLOB = b"\x50\x4b\x03\x04not-really-a-torchscript-zip" * 10

MODEL_META = [
    b"backend", b"TORCH", b"device", b"CPU", b"tag", b"v1", b"batchsize", 4, b"minbatchsize", 2,
    b"inputs", [], b"outputs", [], b"minbatchtimeout", 100,
]


def test_modelstore_and_get(r):
    assert r.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "TAG", "v1", "BATCHSIZE", 4,
                             "MINBATCHSIZE", 2, "MINBATCHTIMEOUT", 100, "BLOB", BLOB) == b"OK"
    assert r.execute_command("AI.MODELGET", "m", "META") == MODEL_META
    assert r.execute_command("AI.MODELGET", "m", "BLOB") == BLOB
    assert r.execute_command("AI.MODELGET", "m") == MODEL_META + [b"blob", BLOB]
    assert r.execute_command("AI.MODELGET", "m", "META", "BLOB") == MODEL_META + [b"blob", BLOB]
    assert r.type("m") == b"AI__MODEL"


def test_modelstore_chunks_are_concatenated(r):
    assert r.execute_command("AI.MODELSTORE", "m", "ONNX", "GPU:1", "BLOB", b"ab", b"cd", b"e") == b"OK"
    assert r.execute_command("AI.MODELGET", "m", "BLOB") == b"abcde"
    meta = r.execute_command("AI.MODELGET", "m", "META")
    assert meta[:6] == [b"backend", b"ONNX", b"device", b"GPU:1", b"tag", b""]


def test_modelstore_tf_inputs_outputs(r):
    assert r.execute_command("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS", 1,
                             "c", "BLOB", BLOB) == b"OK"
    meta = r.execute_command("AI.MODELGET", "m", "META")
    assert meta[10:14] == [b"inputs", [b"a", b"b"], b"outputs", [b"c"]]


def test_modelget_chunked_reply(r, raw):
    r.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", b"0123456789")
    try:
        assert r.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", 4) == b"OK"
        assert r.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE") == 4
        assert r.execute_command("AI.MODELGET", "m", "BLOB") == [b"0123", b"4567", b"89"]
        full = r.execute_command("AI.MODELGET", "m")
        assert full[-2:] == [b"blob", [b"0123", b"4567", b"89"]]
        assert raw.call("AI.MODELGET", "m", "BLOB") == (
            b"*3\r\n$4\r\n0123\r\n$4\r\n4567\r\n$2\r\n89\r\n")
        # exact multiple: RedisAI sends a trailing empty chunk
        r.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", 5)
        assert r.execute_command("AI.MODELGET", "m", "BLOB") == [b"01234", b"56789", b""]
    finally:
        r.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", 511 * 1024 * 1024)
    assert r.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE") == 511 * 1024 * 1024


def test_modelset_deprecated_form(r):
    assert r.execute_command("AI.MODELSET", "m", "TF", "CPU", "TAG", "t", "BATCHSIZE", 2, "INPUTS",
                             "x", "y", "OUTPUTS", "z", "BLOB", BLOB) == b"OK"
    meta = r.execute_command("AI.MODELGET", "m", "META")
    assert meta[:8] == [b"backend", b"TF", b"device", b"CPU", b"tag", b"t", b"batchsize", 2]
    assert meta[10:14] == [b"inputs", [b"x", b"y"], b"outputs", [b"z"]]
    assert r.execute_command("AI.MODELSET", "m2", "TORCH", "cpu", "BLOB", BLOB) == b"OK"
    assert r.execute_command("AI.MODELGET", "m2", "META")[3] == b"cpu"


def test_modeldel(r):
    r.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", BLOB)
    assert r.execute_command("AI.MODELDEL", "m") == b"OK"
    assert r.exists("m") == 0
    with pytest.raises(redis.ResponseError, match="model key is empty"):
        r.execute_command("AI.MODELDEL", "m")
    with pytest.raises(redis.ResponseError, match="model key is empty"):
        r.execute_command("AI.MODELGET", "m")


MODEL_ERRORS = [
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB"), "wrong number of arguments"),
    (("AI.MODELSTORE", "m", "PYTORCH", "CPU", "BLOB", "x"), "ERR unsupported backend"),
    (("AI.MODELSTORE", "m", "TORCH", "TPU", "BLOB", "x"), "ERR Invalid DEVICE"),
    (("AI.MODELSTORE", "m", "TORCH", "GPU:x", "BLOB", "x"), "ERR Invalid DEVICE"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "BATCHSIZE", -1, "BLOB", "x"),
     "ERR Invalid argument for BATCHSIZE"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "MINBATCHSIZE", 2, "BLOB", "x"),
     "ERR MINBATCHSIZE specified without BATCHSIZE"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "BATCHSIZE", 2, "MINBATCHTIMEOUT", 5, "BLOB", "x"),
     "ERR MINBATCHTIMEOUT specified without MINBATCHSIZE"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "TAG", "t", "BATCHSIZE", 1),
     "ERR Insufficient arguments, missing model BLOB"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "INPUTS", 1, "a", "BLOB", "x"),
     "ERR INPUTS argument should not be specified for this backend"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "TAG", "t", "BLOBS", "x"), "ERR Invalid argument, expected BLOB"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "TAG", "t", "BLOB", "x"), "ERR INPUTS not specified for TF"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 0, "BLOB", "x"), "ERR Invalid argument for input_count"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 5, "a", "BLOB"),
     "ERR number of model inputs does not match the number of given arguments"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 1, "a", "BLOB", "x"), "ERR OUTPUTS not specified for TF"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 1, "a", "OUTPUTS", "z", "BLOB", "x"),
     "ERR Invalid argument for output_count"),
    (("AI.MODELSET", "m", "TORCH"), "wrong number of arguments"),
    (("AI.MODELSET", "m", "TORCH", "BLOB", "x"), "ERR Invalid DEVICE"),
    (("AI.MODELSET", "m", "TFLITE", "CPU", "BATCHSIZE", 2, "BLOB", "x"),
     "ERR Auto-batching not supported by the TFLITE backend"),
    (("AI.MODELSET", "m", "TF", "CPU", "BLOB", "x"),
     "ERR Insufficient arguments, INPUTS and OUTPUTS not specified"),
    (("AI.MODELSET", "m", "TF", "CPU", "INPUTS", "a", "BLOB", "x"), "ERR OUTPUTS not specified"),
    (("AI.MODELSET", "m", "TORCH", "CPU", "TAG", "x", "BLOB"),
     "ERR Insufficient arguments, missing model BLOB"),
    (("AI.MODELGET",), "wrong number of arguments"),
    (("AI.MODELGET", "nope"), "ERR model key is empty"),
    (("AI.MODELDEL", "a", "b"), "wrong number of arguments"),
]


@pytest.mark.parametrize("args,msg", MODEL_ERRORS)
def test_model_errors(raw, args, msg):
    reply = raw.call(*args)
    if msg.startswith("ERR "):
        assert reply == b"-" + msg.encode() + b"\r\n"
    else:
        assert reply.startswith(b"-ERR ") and msg.encode() in reply


def test_wrongtype_for_models_and_scripts(r):
    r.set("s", "x")
    r.execute_command("AI.TENSORSET", "t", "FLOAT", 1)
    for key in ("s", "t"):
        with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
            r.execute_command("AI.MODELSTORE", key, "TORCH", "CPU", "BLOB", BLOB)
        with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
            r.execute_command("AI.MODELGET", key)
        with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
            r.execute_command("AI.SCRIPTSET", key, "CPU", "SOURCE", "def f(x): return x")
        with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
            r.execute_command("AI.SCRIPTGET", key)
        with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
            r.execute_command("AI.MODELDEL", key)
    r.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", BLOB)
    with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
        r.execute_command("AI.TENSORSET", "m", "FLOAT", 1)
    with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
        r.execute_command("AI.SCRIPTGET", "m")


SRC = "def bar(a, b):\n    return a + b\n\ndef baz(a):\n    return a * 2\n"


def test_scriptstore_and_get(r):
    assert r.execute_command("AI.SCRIPTSTORE", "s", "CPU", "TAG", "t1", "ENTRY_POINTS", 2, "bar",
                             "baz", "SOURCE", SRC) == b"OK"
    meta = [b"device", b"CPU", b"tag", b"t1", b"Entry Points", [b"bar", b"baz"]]
    assert r.execute_command("AI.SCRIPTGET", "s", "META") == meta
    assert r.execute_command("AI.SCRIPTGET", "s") == meta + [b"source", SRC.encode()]
    assert r.execute_command("AI.SCRIPTGET", "s", "META", "SOURCE") == meta + [b"source", SRC.encode()]
    assert r.execute_command("AI.SCRIPTGET", "s", "SOURCE") == SRC.encode()
    assert r.type("s") == b"AI_SCRIPT"


def test_scriptset_smartredis_form(r, raw):
    assert r.execute_command("AI.SCRIPTSET", "s", "CPU", "SOURCE", SRC) == b"OK"
    assert r.execute_command("AI.SCRIPTSET", "s2", "GPU", "TAG", "x", "SOURCE", SRC) == b"OK"
    assert r.execute_command("AI.SCRIPTGET", "s", "META") == [
        b"device", b"CPU", b"tag", b"", b"Entry Points", []]
    assert raw.call("AI.SCRIPTGET", "s", "META") == (
        b"*6\r\n$6\r\ndevice\r\n$3\r\nCPU\r\n$3\r\ntag\r\n$0\r\n\r\n$12\r\nEntry Points\r\n*0\r\n")
    assert r.execute_command("AI.SCRIPTDEL", "s") == b"OK"
    assert r.exists("s") == 0


SCRIPT_ERRORS = [
    (("AI.SCRIPTSET", "s", "CPU", "SOURCE"), "wrong number of arguments"),
    (("AI.SCRIPTSET", "s", "CPU", "SRC", "x"), "ERR Insufficient arguments, missing script SOURCE"),
    (("AI.SCRIPTSET", "s", "FPGA", "SOURCE", "x"), "ERR Invalid DEVICE"),
    (("AI.SCRIPTSTORE", "s", "CPU", "SOURCE", "x", "a", "b", "c"),
     "ERR Insufficient arguments, missing script entry points"),
    (("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", "two", "a", "SOURCE", "x"),
     "ERR Non numeric entry points number provided to AI.SCRIPTSTORE command"),
    (("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 5, "a", "SOURCE", "x"),
     "ERR Insufficient arguments, missing script entry points"),
    (("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "a", "SRC", "x"),
     "ERR Insufficient arguments, missing script SOURCE"),
    (("AI.SCRIPTGET", "nope"), "ERR script key is empty"),
    (("AI.SCRIPTDEL", "nope"), "ERR script key is empty"),
]


@pytest.mark.parametrize("args,msg", SCRIPT_ERRORS)
def test_script_errors(raw, args, msg):
    reply = raw.call(*args)
    if msg.startswith("ERR "):
        assert reply == b"-" + msg.encode() + b"\r\n"
    else:
        assert reply.startswith(b"-ERR ") and msg.encode() in reply


def test_info_and_resetstat(r, raw):
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "TAG", "tg", "BLOB", BLOB)
    info = r.execute_command("AI.INFO", "m")
    assert info == [b"key", b"m", b"type", b"MODEL", b"backend", b"ONNX", b"device", b"CPU",
                    b"tag", b"tg", b"duration", 0, b"samples", 0, b"calls", 0, b"errors", 0]
    assert r.execute_command("AI.INFO", "m", "RESETSTAT") == b"OK"
    r.execute_command("AI.SCRIPTSET", "s", "CPU", "SOURCE", SRC)
    info = r.execute_command("AI.INFO", "s")
    assert info[:4] == [b"key", b"s", b"type", b"SCRIPT"]
    assert info[4:6] == [b"backend", b"TORCH"]
    assert info[12:14] == [b"samples", -1]
    assert raw.call("AI.INFO", "nokey") == b"-ERR cannot find run info for key\r\n"
    r.execute_command("AI.TENSORSET", "t", "FLOAT", 1)
    assert raw.call("AI.INFO", "t") == b"-ERR cannot find run info for key\r\n"
    assert raw.call("AI.INFO").startswith(b"-ERR wrong number of arguments")


def test_config(r, raw):
    path = r.execute_command("AI.CONFIG", "GET", "BACKENDSPATH")
    assert path.endswith(b"/backends")
    assert r.execute_command("AI.CONFIG", "BACKENDSPATH", "/opt/x") == b"OK"
    assert r.execute_command("AI.CONFIG", "GET", "BACKENDSPATH") == b"/opt/x"
    r.execute_command("AI.CONFIG", "BACKENDSPATH", path)
    assert r.execute_command("AI.CONFIG", "LOADBACKEND", "TORCH", "backends/redisai_torch/redisai_torch.so") == b"OK"
    assert r.execute_command("AI.CONFIG", "GET", "NOPE") is None
    assert raw.call("AI.CONFIG", "LOADBACKEND", "CAFFE", "x") == b"-ERR unsupported backend\r\n"
    assert raw.call("AI.CONFIG", "MODEL_CHUNK_SIZE", 0) == b"-ERR MODEL_CHUNK_SIZE: invalid chunk size\r\n"
    assert raw.call("AI.CONFIG", "MODEL_CHUNK_SIZE") == b"-ERR MODEL_CHUNK_SIZE: missing chunk size\r\n"
    assert raw.call("AI.CONFIG", "BACKENDSPATH") == b"-ERR BACKENDSPATH: missing path argument\r\n"
    assert raw.call("AI.CONFIG", "FOO") == b"-ERR unsupported subcommand\r\n"
    assert raw.call("AI.CONFIG", "GET").startswith(b"-ERR wrong number of arguments")


def test_load_time_arguments(server_factory):
    s = server_factory(module_args=["THREADS_PER_QUEUE", "4", "INTER_OP_PARALLELISM", "1",
                                    "INTRA_OP_PARALLELISM", "2", "MODEL_CHUNK_SIZE", "1024",
                                    "BACKENDSPATH", "/tmp/b"])
    c = s.client()
    assert c.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE") == 1024
    assert c.execute_command("AI.CONFIG", "GET", "BACKENDSPATH") == b"/tmp/b"
    assert c.info("modules").get("ai_threads_per_queue") == 4


def test_bad_load_time_argument_refuses_to_load(server_factory):
    s = server_factory(module_args=["THREADS_PER_QUEUE"], start=False)
    with pytest.raises(RuntimeError):
        s.start(timeout=5)
