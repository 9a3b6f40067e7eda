"""End to end: real redis-server + our module + real executor processes, driven by redis-py."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import redis

from .executor_testlib import onnx_add_mul, torch_model_bytes

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DTYPE_OF = {np.dtype(np.float32): "FLOAT", np.dtype(np.float64): "DOUBLE",
            np.dtype(np.int8): "INT8", np.dtype(np.int16): "INT16",
            np.dtype(np.int32): "INT32", np.dtype(np.int64): "INT64",
            np.dtype(np.uint8): "UINT8", np.dtype(np.uint16): "UINT16",
            np.dtype(np.bool_): "BOOL"}
NP_OF = {v: k for k, v in DTYPE_OF.items()}


def need(pkg: str):
    return pytest.importorskip(pkg, reason=f"needs the python package '{pkg}'")


def put(c, key, arr):
    arr = np.ascontiguousarray(arr)
    assert c.execute_command("AI.TENSORSET", key, DTYPE_OF[arr.dtype], *arr.shape,
                             "BLOB", arr.tobytes()) in (b"OK", "OK", True)


def get(c, key):
    reply = c.execute_command("AI.TENSORGET", key, "META", "BLOB")
    meta = {reply[i].decode() if isinstance(reply[i], bytes) else reply[i]: reply[i + 1]
            for i in range(0, len(reply), 2)}
    dtype = meta["dtype"].decode() if isinstance(meta["dtype"], bytes) else meta["dtype"]
    return np.frombuffer(meta["blob"], dtype=NP_OF[dtype]).reshape(meta["shape"])


def info(c, key):
    reply = c.execute_command("AI.INFO", key)
    return {(reply[i].decode() if isinstance(reply[i], bytes) else reply[i]): reply[i + 1]
            for i in range(0, len(reply), 2)}


def ok(reply) -> bool:
    return reply in (b"OK", "OK", True)


# ----------------------------------------------------------------------------- torch
def test_torchscript_model(client, shared_executor):
    torch = need("torch")
    assert ok(client.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB",
                                     torch_model_bytes(torch)))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    put(client, "x", x)
    assert ok(client.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x",
                                     "OUTPUTS", 1, "y"))
    np.testing.assert_array_equal(get(client, "y"), x * 2 + 1)
    # deprecated form, as SmartRedis 0.6.1 sends it
    assert ok(client.execute_command("AI.MODELRUN", "m", "INPUTS", "x", "OUTPUTS", "y2"))
    np.testing.assert_array_equal(get(client, "y2"), x * 2 + 1)
    st = info(client, "m")
    assert st["calls"] == 2 and st["errors"] == 0


def test_large_tensors(client, shared_executor):
    torch = need("torch")
    client.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", torch_model_bytes(torch))
    x = np.random.default_rng(1).standard_normal((1024, 4096)).astype(np.float32)  # 16 MiB
    put(client, "x", x)
    assert ok(client.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y"))
    np.testing.assert_array_equal(get(client, "y"), x * 2 + 1)


def test_torchscript_model_two_outputs_and_new_version(client, shared_executor):
    torch = need("torch")
    client.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB",
                           torch_model_bytes(torch, "two_out"))
    a = np.ones((2, 2), np.float32)
    put(client, "a", a)
    put(client, "b", a * 3)
    client.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "b", "OUTPUTS", 2, "s", "p")
    np.testing.assert_array_equal(get(client, "s"), a * 4)
    np.testing.assert_array_equal(get(client, "p"), a * 3)
    # a new version of the same key replaces the cached one
    client.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", torch_model_bytes(torch))
    client.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "a", "OUTPUTS", 1, "y")
    np.testing.assert_array_equal(get(client, "y"), a * 2 + 1)


SCRIPT = """
def add(a, b):
    return a + b

def addmul(a, b):
    return a + b, a * b

def double(x):
    return x * 2

def total(tensors: List[Tensor]):
    return torch.stack(tensors).sum(0)

def scaled(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] * float(args[0]) + float(args[1])
"""


def test_torchscript_script_several_functions(client, shared_executor):
    need("torch")
    assert ok(client.execute_command("AI.SCRIPTSET", "s", "CPU", "SOURCE", SCRIPT))
    a = np.arange(4, dtype=np.float32).reshape(2, 2)
    b = np.full((2, 2), 3, np.float32)
    put(client, "a", a)
    put(client, "b", b)
    assert ok(client.execute_command("AI.SCRIPTRUN", "s", "add", "INPUTS", "a", "b",
                                     "OUTPUTS", "c"))
    np.testing.assert_array_equal(get(client, "c"), a + b)
    assert ok(client.execute_command("AI.SCRIPTRUN", "s", "double", "INPUTS", "a",
                                     "OUTPUTS", "d"))
    np.testing.assert_array_equal(get(client, "d"), a * 2)
    assert ok(client.execute_command("AI.SCRIPTEXECUTE", "s", "addmul", "INPUTS", 2, "a", "b",
                                     "OUTPUTS", 2, "e", "f"))
    np.testing.assert_array_equal(get(client, "e"), a + b)
    np.testing.assert_array_equal(get(client, "f"), a * b)
    with pytest.raises(redis.ResponseError, match="Function does not exist: nope"):
        client.execute_command("AI.SCRIPTRUN", "s", "nope", "INPUTS", "a", "OUTPUTS", "g")


def test_script_list_input_and_entry_point_args(client, shared_executor):
    need("torch")
    client.execute_command("AI.SCRIPTSET", "s", "CPU", "SOURCE", SCRIPT)
    xs = [np.full((2, 3), i, np.float32) for i in range(1, 4)]
    for i, x in enumerate(xs):
        put(client, f"x{i}", x)
    # a function taking List[Tensor] gets every input (RedisAI's variadic form)
    assert ok(client.execute_command("AI.SCRIPTRUN", "s", "total", "INPUTS", "x0", "x1", "x2",
                                     "OUTPUTS", "t"))
    np.testing.assert_array_equal(get(client, "t"), sum(xs))
    # SCRIPTSTORE entry point: (tensors, keys, args) with ARGS as List[str]
    assert ok(client.execute_command("AI.SCRIPTSTORE", "ep", "CPU", "ENTRY_POINTS", 1, "scaled",
                                     "SOURCE", SCRIPT))
    assert ok(client.execute_command("AI.SCRIPTEXECUTE", "ep", "scaled", "INPUTS", 1, "x1",
                                     "ARGS", 2, "10", "0.5", "OUTPUTS", 1, "u"))
    np.testing.assert_array_equal(get(client, "u"), xs[1] * 10 + 0.5)


@pytest.mark.parametrize("dtype", sorted(DTYPE_OF.values()))
def test_script_dtypes_round_trip(client, shared_executor, dtype):
    need("torch")
    client.execute_command("AI.SCRIPTSET", "s", "CPU", "SOURCE",
                           "def ident(x):\n    return x\n\ndef first(x):\n    return x[0]\n")
    np_dtype = NP_OF[dtype]
    x = (np.arange(12) % 3 == 0) if dtype == "BOOL" else np.arange(12) % 100
    x = x.astype(np_dtype).reshape(3, 4)
    put(client, "x", x)
    assert ok(client.execute_command("AI.SCRIPTRUN", "s", "ident", "INPUTS", "x", "OUTPUTS", "y"))
    y = get(client, "y")
    assert y.dtype == np_dtype
    np.testing.assert_array_equal(y, x)
    assert ok(client.execute_command("AI.SCRIPTRUN", "s", "first", "INPUTS", "x", "OUTPUTS", "z"))
    np.testing.assert_array_equal(get(client, "z"), x[0])


def test_script_entry_point_gets_keys(client, shared_executor):
    need("torch")
    src = ("def f(tensors: List[Tensor], keys: List[str], args: List[str]):\n"
           "    return tensors[0] + float(len(keys)) + float(len(args))\n")
    assert ok(client.execute_command("AI.SCRIPTSTORE", "{t}s", "CPU", "ENTRY_POINTS", 1, "f",
                                     "SOURCE", src))
    put(client, "{t}x", np.zeros((2,), np.float32))
    assert ok(client.execute_command("AI.SCRIPTEXECUTE", "{t}s", "f", "KEYS", 2, "{t}a", "{t}b",
                                     "INPUTS", 1, "{t}x", "ARGS", 1, "z", "OUTPUTS", 1, "{t}y"))
    np.testing.assert_array_equal(get(client, "{t}y"), np.full((2,), 3, np.float32))


def test_script_store_rejects_bad_entry_point(client, shared_executor):
    need("torch")
    with pytest.raises(redis.ResponseError, match="Wrong number of inputs in function double"):
        client.execute_command("AI.SCRIPTSTORE", "bad", "CPU", "ENTRY_POINTS", 1, "double",
                               "SOURCE", SCRIPT)
    with pytest.raises(redis.ResponseError):
        client.execute_command("AI.SCRIPTSET", "bad2", "CPU", "SOURCE", "def f(x):\n  return x +* 1\n")


def test_backend_error_keeps_executor_alive(client, shared_executor):
    need("torch")
    client.execute_command("AI.SCRIPTSET", "s", "CPU", "SOURCE", SCRIPT)
    put(client, "a", np.ones((2, 2), np.float32))
    put(client, "b", np.ones((3, 5), np.float32))
    with pytest.raises(redis.ResponseError) as err:
        client.execute_command("AI.SCRIPTRUN", "s", "add", "INPUTS", "a", "b", "OUTPUTS", "c")
    assert "size of tensor" in str(err.value) or "must match" in str(err.value)
    assert shared_executor.proc.poll() is None
    client.execute_command("AI.SCRIPTRUN", "s", "double", "INPUTS", "a", "OUTPUTS", "d")
    np.testing.assert_array_equal(get(client, "d"), np.full((2, 2), 2, np.float32))


def test_garbage_model_blob_rejected_at_store(client, shared_executor):
    need("torch")
    with pytest.raises(redis.ResponseError):
        client.execute_command("AI.MODELSTORE", "junk", "TORCH", "CPU", "BLOB",
                               b"\x00\x01garbage" * 10)
    assert client.exists("junk") == 0
    assert shared_executor.proc.poll() is None


# ------------------------------------------------------------------------------ onnx
def test_onnx_model(client, shared_executor):
    need("onnxruntime")
    onnx = need("onnx")
    assert ok(client.execute_command("AI.MODELSTORE", "o", "ONNX", "CPU", "BLOB",
                                     onnx_add_mul(onnx)))
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    put(client, "a", a)
    put(client, "b", a + 1)
    assert ok(client.execute_command("AI.MODELEXECUTE", "o", "INPUTS", 2, "a", "b",
                                     "OUTPUTS", 2, "s", "p"))
    np.testing.assert_array_equal(get(client, "s"), a + a + 1)
    np.testing.assert_array_equal(get(client, "p"), a * (a + 1))
    with pytest.raises(redis.ResponseError):
        client.execute_command("AI.MODELSTORE", "o2", "ONNX", "CPU", "BLOB", b"garbage" * 5)


# -------------------------------------------------------------------------- batching
def test_batching_one_backend_call(server, executor):
    torch = need("torch")
    c = server.client()
    n = 4
    assert ok(c.execute_command("AI.MODELSTORE", "bm", "TORCH", "CPU", "BATCHSIZE", 8,
                                "MINBATCHSIZE", n, "MINBATCHTIMEOUT", 20000,
                                "BLOB", torch_model_bytes(torch)))
    # warm up on another model so the run below is only the batch
    before = executor.stats().get("backend_calls", 0)
    inputs = [np.full((1, 3), i, np.float32) for i in range(n)]
    for i, x in enumerate(inputs):
        put(c, f"in{i}", x)
    errors, results = [], {}

    def call(i):
        cl = server.client()
        try:
            cl.execute_command("AI.MODELEXECUTE", "bm", "INPUTS", 1, f"in{i}",
                               "OUTPUTS", 1, f"out{i}")
            results[i] = get(cl, f"out{i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            cl.close()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for i in range(n):
        np.testing.assert_array_equal(results[i], inputs[i] * 2 + 1)
    st = info(c, "bm")
    assert st["calls"] == n and st["samples"] == n
    deadline = time.monotonic() + 5
    while executor.stats().get("jobs", 0) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    stats = executor.stats()
    assert stats["backend_calls"] - before == 1, stats
    assert stats["max_batch_jobs"] == n and stats["max_batch_samples"] == n


def test_batching_respects_batchsize_and_splits(server, executor):
    torch = need("torch")
    c = server.client()
    c.execute_command("AI.MODELSTORE", "bm", "TORCH", "CPU", "BATCHSIZE", 4, "MINBATCHSIZE", 4,
                      "MINBATCHTIMEOUT", 300, "BLOB", torch_model_bytes(torch))
    sizes = [1, 3, 2]  # 1+3 = 4 fills a batch; 2 waits for the timeout
    for i, k in enumerate(sizes):
        put(c, f"in{i}", np.full((k, 2), i, np.float32))
    out = {}

    def call(i):
        cl = server.client()
        cl.execute_command("AI.MODELEXECUTE", "bm", "INPUTS", 1, f"in{i}", "OUTPUTS", 1, f"o{i}")
        out[i] = get(cl, f"o{i}")
        cl.close()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(sizes))]
    for t in threads:
        t.start()
        time.sleep(0.01)
    for t in threads:
        t.join(60)
    for i, k in enumerate(sizes):
        assert out[i].shape == (k, 2)
        np.testing.assert_array_equal(out[i], np.full((k, 2), i * 2 + 1, np.float32))


def test_max_batch_wait_batches_without_minbatchsize(server, make_executor):
    torch = need("torch")
    ex = make_executor(server, extra=["--max-batch-wait-ms", "5000"]).start()
    c = server.client()
    n = 3
    c.execute_command("AI.MODELSTORE", "bm", "TORCH", "CPU", "BATCHSIZE", n,
                      "BLOB", torch_model_bytes(torch))
    for i in range(n):
        put(c, f"in{i}", np.full((1, 2), i, np.float32))
    before = ex.stats().get("backend_calls", 0)
    threads = [threading.Thread(target=lambda i=i: server.client().execute_command(
        "AI.MODELEXECUTE", "bm", "INPUTS", 1, f"in{i}", "OUTPUTS", 1, f"o{i}")) for i in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert time.monotonic() - t0 < 4  # the batch filled up: no waiting for the 5 s limit
    for i in range(n):
        np.testing.assert_array_equal(get(c, f"o{i}"), np.full((1, 2), 2 * i + 1, np.float32))
    deadline = time.monotonic() + 5
    while ex.stats().get("jobs", 0) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ex.stats()["backend_calls"] - before == 1


# ------------------------------------------------------------------------ failures
def test_timeout_returns_timedout(server, executor):
    torch = need("torch")
    c = server.client()
    # MINBATCHSIZE 2 with no timeout: a lone request waits in the executor forever
    c.execute_command("AI.MODELSTORE", "slow", "TORCH", "CPU", "BATCHSIZE", 4, "MINBATCHSIZE", 2,
                      "BLOB", torch_model_bytes(torch))
    put(c, "x", np.ones((1, 3), np.float32))
    t0 = time.monotonic()
    reply = c.execute_command("AI.MODELEXECUTE", "slow", "INPUTS", 1, "x", "OUTPUTS", 1, "y",
                              "TIMEOUT", 200)
    assert reply in (b"TIMEDOUT", "TIMEDOUT")
    assert time.monotonic() - t0 < 5
    assert c.exists("y") == 0
    # a stalled (SIGSTOP) executor: the client still gets TIMEDOUT, the late answer is dropped
    c.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", torch_model_bytes(torch))
    os.kill(executor.proc.pid, signal.SIGSTOP)
    try:
        reply = c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "z",
                                  "TIMEOUT", 200)
        assert reply in (b"TIMEDOUT", "TIMEDOUT")
    finally:
        os.kill(executor.proc.pid, signal.SIGCONT)
    time.sleep(0.3)
    assert c.exists("z") == 0
    assert ok(c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "w"))
    np.testing.assert_array_equal(get(c, "w"), np.full((1, 3), 3, np.float32))


def test_executor_killed_mid_job_then_restarted(server, make_executor):
    torch = need("torch")
    # BATCHSIZE without MINBATCHSIZE: the module hands the job out at once (it holds back only
    # jobs that wait for a MINBATCHSIZE) and this executor waits up to a minute to fill a batch
    ex = make_executor(server, extra=["--max-batch-wait-ms", "60000"]).start()
    c = server.client()
    c.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BATCHSIZE", 4,
                      "BLOB", torch_model_bytes(torch))
    put(c, "x", np.ones((1, 3), np.float32))
    result = {}

    def call():
        cl = server.client()
        try:
            result["reply"] = cl.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x",
                                                 "OUTPUTS", 1, "y")
        except redis.ResponseError as exc:
            result["error"] = str(exc)
        cl.close()

    t = threading.Thread(target=call)
    t.start()
    # the job sits in the executor (waiting for a second sample) until we kill it
    deadline = time.monotonic() + 10
    while ex.stats().get("fetches", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    ex.kill(signal.SIGKILL)
    t.join(30)
    assert "error" in result, result
    assert "died" in result["error"] and "m" in result["error"], result["error"]
    # a restarted executor serves the next job
    make_executor(server).start()
    c.execute_command("AI.MODELSTORE", "m2", "TORCH", "CPU", "BLOB", torch_model_bytes(torch))
    assert ok(c.execute_command("AI.MODELEXECUTE", "m2", "INPUTS", 1, "x", "OUTPUTS", 1, "y"))
    np.testing.assert_array_equal(get(c, "y"), np.full((1, 3), 3, np.float32))


def test_missing_backend_package_error(server, make_executor):
    # An executor where torch cannot be imported (as on a machine without the ml extra).
    ex = make_executor(server, block_modules=["torch"]).start()
    c = server.client()
    # no executor declares TORCH, so the store is not validated
    assert ok(c.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", b"any bytes"))
    put(c, "x", np.ones((1, 3), np.float32))
    with pytest.raises(redis.ResponseError) as err:
        c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    assert str(err.value) == ("backend TORCH unavailable: python package 'torch' "
                              "is not installed")
    assert ok(c.execute_command("AI.SCRIPTSET", "s", "CPU", "SOURCE", SCRIPT))
    with pytest.raises(redis.ResponseError, match="python package 'torch' is not installed"):
        c.execute_command("AI.SCRIPTRUN", "s", "double", "INPUTS", "x", "OUTPUTS", "y")
    assert ex.proc.poll() is None


def test_tf_without_tensorflow_is_a_clear_error(client, shared_executor):
    from smartsim._core.executor.backends import package_available

    if package_available("tensorflow"):
        pytest.skip("tensorflow is installed here")
    assert ok(client.execute_command("AI.MODELSTORE", "tf", "TF", "CPU", "INPUTS", 1, "a",
                                     "OUTPUTS", 1, "b", "BLOB", b"graph"))
    put(client, "x", np.ones((1, 3), np.float32))
    with pytest.raises(redis.ResponseError) as err:
        client.execute_command("AI.MODELEXECUTE", "tf", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    assert str(err.value) == ("backend TF unavailable: python package 'tensorflow' "
                              "is not installed")


def test_gpu_device_without_cuda_is_a_clear_error(server, make_executor):
    torch = need("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present (covered by test_gpu_model)")
    make_executor(server, extra=["--device", "GPU:0"]).start()
    c = server.client()
    with pytest.raises(redis.ResponseError, match="GPU requested but Torch couldn't find CUDA"):
        c.execute_command("AI.MODELSTORE", "g", "TORCH", "GPU:0", "BLOB", torch_model_bytes(torch))


def test_gpu_model(server, make_executor):
    torch = need("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    make_executor(server, extra=["--device", "GPU:0"]).start()
    c = server.client()
    assert ok(c.execute_command("AI.MODELSTORE", "g", "TORCH", "GPU:0", "BLOB",
                                torch_model_bytes(torch)))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    put(c, "x", x)
    assert ok(c.execute_command("AI.MODELEXECUTE", "g", "INPUTS", 1, "x", "OUTPUTS", 1, "y"))
    np.testing.assert_array_equal(get(c, "y"), x * 2 + 1)


def _executors_registered(c) -> int:
    """How many executors the module has registered (``INFO ai_executors``)."""
    return int(c.info("ai_executors").get("ai_executors", 0))


def test_one_process_serves_the_cpu_and_a_gpu(server, make_executor):
    """``--device CPU,GPU:0``: one thread and connection per device. CPU models run; a GPU
    model is run on the GPU, or (no CUDA here) refused at store with RedisAI's message
    rather than left for an executor that never comes."""
    torch = need("torch")
    ex = make_executor(server, extra=["--device", "CPU,GPU:0"]).start()
    c = server.client()
    deadline = time.monotonic() + 30
    while _executors_registered(c) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _executors_registered(c) == 2, ex.log_tail()
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    put(c, "x", x)
    assert ok(c.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", torch_model_bytes(torch)))
    assert ok(c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y"))
    np.testing.assert_array_equal(get(c, "y"), x * 2 + 1)
    if torch.cuda.is_available():
        assert ok(c.execute_command("AI.MODELSTORE", "g", "TORCH", "GPU:0", "BLOB",
                                    torch_model_bytes(torch)))
        assert ok(c.execute_command("AI.MODELEXECUTE", "g", "INPUTS", 1, "x", "OUTPUTS", 1, "gy"))
        np.testing.assert_array_equal(get(c, "gy"), x * 2 + 1)
    else:
        with pytest.raises(redis.ResponseError, match="GPU requested but Torch couldn't find CUDA"):
            c.execute_command("AI.MODELSTORE", "g", "TORCH", "GPU:0", "BLOB", torch_model_bytes(torch))
    # both devices' threads end with the process
    ex.proc.send_signal(signal.SIGTERM)
    assert ex.proc.wait(10) == 0
    deadline = time.monotonic() + 10
    while _executors_registered(c) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _executors_registered(c) == 0


def test_auto_serves_the_cpu_and_every_visible_gpu(server, make_executor):
    from smartsim._core.executor.backends import visible_gpus

    ex = make_executor(server, extra=["--device", "auto"]).start()
    c = server.client()
    expected = 1 + visible_gpus()
    deadline = time.monotonic() + 30
    while _executors_registered(c) < expected and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # none more than that
    assert _executors_registered(c) == expected, ex.log_tail()


# ---------------------------------------------------------------------- lifecycle
def test_reconnects_after_server_restart(make_server, make_executor):
    torch = need("torch")
    srv = make_server()
    ex = make_executor(srv).start()
    srv.stop()
    time.sleep(0.3)
    srv.start()
    ex.wait_registered(connects=2)
    c = srv.client()
    c.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", torch_model_bytes(torch))
    put(c, "x", np.ones((1, 3), np.float32))
    assert ok(c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y"))
    np.testing.assert_array_equal(get(c, "y"), np.full((1, 3), 3, np.float32))


def test_executor_started_before_the_server(make_server, make_executor):
    torch = need("torch")
    srv = make_server(start=False)
    ex = make_executor(srv).start(wait=False)
    time.sleep(0.5)  # it retries with backoff meanwhile
    assert ex.proc.poll() is None
    srv.start()
    ex.wait_registered()
    c = srv.client()
    c.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", torch_model_bytes(torch))
    put(c, "x", np.ones((1, 3), np.float32))
    assert ok(c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y"))


def test_tcp_and_password(make_server, make_executor):
    torch = need("torch")
    srv = make_server(password="s3cret")
    make_executor(srv, tcp=True).start()
    c = srv.client()
    c.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", torch_model_bytes(torch))
    put(c, "x", np.ones((1, 3), np.float32))
    assert ok(c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y"))


def test_exits_on_sigterm(server, make_executor):
    ex = make_executor(server).start()
    assert ex.kill(signal.SIGTERM) == 0


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's reaper may be slow, or absent in containers)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_exits_when_parent_dies(server, make_executor, workdir):
    ex = make_executor(server)
    pidfile = workdir / "child.pid"
    # an intermediate parent that starts the executor, then we kill the parent
    code = ("import subprocess, sys, time\n"
            f"p = subprocess.Popen({ex.cmd!r}, env={ex.env!r})\n"
            f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
            "time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        ex.proc = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (pidfile.exists() and ex.stats()):
            time.sleep(0.05)
        child = int(pidfile.read_text())
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not _running(child):
                break
            time.sleep(0.05)
        else:
            os.kill(child, signal.SIGKILL)
            pytest.fail("executor outlived its parent")
    finally:
        if parent.poll() is None:
            parent.kill()
