"""Executor pieces on their own: dtypes, RESP packing, batching, backends (no server)."""
from __future__ import annotations

import time

import numpy as np
import pytest

from smartsim._core.executor import backends, batching, dtypes, protocol
from smartsim._core.executor.protocol import Job
from smartsim._core.executor.worker import Executor, clean_message, done_batch, parse_args

from .executor_testlib import onnx_add_mul, torch_model_bytes

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# ------------------------------------------------------------------------ dtypes
@pytest.mark.parametrize("name,np_dtype", [
    ("FLOAT", np.float32), ("DOUBLE", np.float64), ("INT8", np.int8), ("INT16", np.int16),
    ("INT32", np.int32), ("INT64", np.int64), ("UINT8", np.uint8), ("UINT16", np.uint16),
    ("BOOL", np.bool_),
])
def test_dtype_roundtrip(name, np_dtype):
    arr = (np.arange(24) % 2 == 1) if np_dtype is np.bool_ else np.arange(24)
    arr = arr.astype(np_dtype).reshape(2, 3, 4)
    dt, shape, buf = dtypes.encode(arr)
    assert dt == name and shape == b"2 3 4"
    back = dtypes.decode(dt, [2, 3, 4], bytes(buf))
    assert back.dtype == np_dtype and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, arr)


def test_dtype_string_roundtrip():
    arr = np.array([b"ab", b"", b"cde"], dtype=object)
    dt, shape, blob = dtypes.encode(arr)
    assert dt == "STRING" and shape == b"3"
    assert list(dtypes.decode("STRING", [3], blob)) == [b"ab", b"", b"cde"]


def test_dtype_errors():
    with pytest.raises(dtypes.TensorTypeError, match="data length"):
        dtypes.decode("FLOAT", [2, 2], b"\0" * 15)
    with pytest.raises(dtypes.TensorTypeError, match="unsupported"):
        dtypes.decode("HALF", [1], b"\0\0")
    with pytest.raises(dtypes.TensorTypeError, match="float16"):
        dtypes.encode(np.zeros(2, np.float16))


def test_encode_noncontiguous_and_scalar():
    arr = np.arange(12, dtype=np.int32).reshape(3, 4)[:, ::2]
    dt, shape, buf = dtypes.encode(arr)
    assert shape == b"3 2" and bytes(buf) == np.ascontiguousarray(arr).tobytes()
    dt, shape, buf = dtypes.encode(np.float64(2.5))
    assert (dt, shape) == ("DOUBLE", b"1")
    be = np.arange(3, dtype=">i4")
    dt, shape, buf = dtypes.encode(be)
    assert dt == "INT32" and bytes(buf) == np.arange(3, dtype="<i4").tobytes()


def test_small_blobs_are_private_copies():
    blob = b"\x01"
    arr = dtypes.decode("UINT8", [1], blob)
    arr[0] = 7  # must not write into the shared bytes object
    assert blob == b"\x01"


# ------------------------------------------------------------------------ protocol
def test_pack_command_resp():
    out = []
    protocol.pack_command(["AI._EXEC.DONE", 7, b"x" * 20000, memoryview(b"ab")], out)
    data = b"".join(bytes(o) for o in out)
    assert data.startswith(b"*4\r\n$13\r\nAI._EXEC.DONE\r\n$1\r\n7\r\n$20000\r\n")
    assert data.endswith(b"x\r\n$2\r\nab\r\n")
    assert any(isinstance(o, bytes) and len(o) == 20000 for o in out)  # big blob not copied


def test_parse_job():
    raw = [5, b"MODEL", b"m", 3, b"", [[b"FLOAT", [2, 3], b"\0" * 24]], 1, [], [], 8, 2, 100]
    job = protocol.parse_job(raw)
    assert (job.job_id, job.kind, job.key, job.version, job.n_outputs) == (5, "MODEL", b"m", 3, 1)
    assert job.inputs == [("FLOAT", (2, 3), b"\0" * 24)] and job.samples == 2
    assert (job.batchsize, job.minbatchsize, job.minbatchtimeout) == (8, 2, 100)
    short = protocol.parse_job([1, b"SCRIPT", b"s", 1, b"fn", [], 0])
    assert short.fn_name == "fn" and short.args == [] and short.batchsize == 0


def test_clean_message():
    assert clean_message("ERR ERR bad\nthing  here") == "bad thing here"
    assert clean_message(ValueError("x")) == "x"


def test_parse_args_defaults():
    a = parse_args(["--socket", "/tmp/x.sock"])
    assert a.socket == "/tmp/x.sock" and a.device == "CPU" and a.max_batch_wait_ms == 0


# ------------------------------------------------------------------------ batching
def _job(i, n, bs=4, mbs=0, mbt=0, key=b"m", feat=3, dtype=np.float32, t=None):
    a = np.full((n, feat), i, dtype)
    return Job(i, "MODEL", key, 1, "", [(dtypes.REDISAI_OF[np.dtype(dtype)], a.shape,
                                         a.tobytes())], 1, batchsize=bs, minbatchsize=mbs,
               minbatchtimeout=mbt, pulled_at=time.monotonic() if t is None else t)


def test_signature_compatibility():
    s = batching.signature
    assert s(_job(1, 1)) == s(_job(2, 3))
    assert s(_job(1, 1)) != s(_job(2, 1, feat=4))
    assert s(_job(1, 1)) != s(_job(2, 1, dtype=np.float64))
    assert s(_job(1, 1)) != s(_job(2, 1, key=b"other"))
    assert s(_job(1, 1, bs=0)) is None


def test_batches_fill_up_to_batchsize():
    b = batching.Batcher()
    units = batching.plan([_job(1, 1), _job(2, 2), _job(3, 2), _job(4, 5), _job(5, 1, bs=0)],
                          b, time.monotonic())
    ids = [[j.job_id for j in u] for u in units]
    assert ids == [[5], [1, 2], [3], [4]]
    assert len(b) == 0


def test_concat_and_split():
    jobs = [_job(1, 1), _job(2, 2)]
    (x,) = batching.concat_inputs(jobs)
    assert x.shape == (3, 3) and x[:, 0].tolist() == [1, 2, 2]
    parts = batching.split_outputs([x * 10], jobs)
    assert [p[0].shape for p in parts] == [(1, 3), (2, 3)]
    assert parts[1][0][0, 0] == 20
    with pytest.raises(batching.BatchSizeError, match="expected batch size"):
        batching.split_outputs([x[:2]], jobs)


def test_minbatchsize_waits_then_times_out():
    b = batching.Batcher()
    t0 = time.monotonic()
    assert batching.plan([_job(1, 1, mbs=3, mbt=50, t=t0), _job(2, 1, mbs=3, mbt=50, t=t0)],
                         b, t0) == []
    assert len(b) == 2
    assert abs(b.next_deadline() - (t0 + 0.05)) < 1e-6
    assert b.ready(t0 + 0.01) == []
    assert [[j.job_id for j in u] for u in b.ready(t0 + 0.051)] == [[1, 2]]


def test_minbatchsize_reached():
    b = batching.Batcher()
    t0 = time.monotonic()
    jobs = [_job(i, 1, bs=2, mbs=2, t=t0) for i in range(5)]
    units = batching.plan(jobs, b, t0)
    assert [[j.job_id for j in u] for u in units] == [[0, 1], [2, 3]]
    assert len(b) == 1 and b.next_deadline() is None  # MINBATCHTIMEOUT 0: waits


def test_max_batch_wait():
    b = batching.Batcher(max_wait_ms=20)
    t0 = time.monotonic()
    assert batching.plan([_job(1, 1, bs=4, t=t0)], b, t0) == []
    assert [[j.job_id for j in u] for u in b.ready(t0 + 0.021)] == [[1]]
    units = batching.plan([_job(i, 1, bs=2, t=t0) for i in range(2)], b, t0)
    assert [[j.job_id for j in u] for u in units] == [[0, 1]]  # full: no wait


def test_parse_job_waited_field_and_short_jobs():
    raw = [5, b"MODEL", b"m", 3, b"", [[b"FLOAT", [1, 3], b"\0" * 12]], 1, [], [], 8, 8, 10, 2500]
    job = protocol.parse_job(raw)  # the 13th field: how long the module queued it (us)
    assert (job.batchsize, job.minbatchsize, job.minbatchtimeout, job.samples) == (8, 8, 10, 1)
    assert job.waited_us == 2500
    # other peers may send strings for numbers
    job = protocol.parse_job([b"5", b"model", "m", b"3", None, [], b"0", None, None, b"4"])
    assert (job.job_id, job.kind, job.key, job.version, job.fn_name) == (5, "MODEL", b"m", 3, "")
    assert (job.n_outputs, job.batchsize, job.minbatchsize, job.args) == (0, 4, 0, [])
    assert job.waited_us == 0  # a module that does not send it


# ------------------------------------------------------------------------ DONEN
def _resp_args(data):
    import hiredis

    reader = hiredis.Reader()
    reader.feed(data)
    return reader.gets()


def test_done_batch_encodes_one_donen():
    jobs = [_job(10 + i, i % 3 + 1, bs=8) for i in range(4)]
    total = sum(j.samples for j in jobs)
    first = np.arange(total * 3, dtype=np.float32).reshape(total, 3)
    second = np.arange(total, dtype=np.int64)[::-1]  # not contiguous: sent as a copy
    data, tag = done_batch(jobs, [first, second])
    assert tag == ("DONEN", (10, 11, 12, 13))
    args = _resp_args(data)
    assert args[:2] == [b"AI._EXEC.DONEN", b"4"] and len(args) == 2 + 4 * 8
    start = 0
    for k, job in enumerate(jobs):
        n = job.samples
        assert args[2 + 8 * k:10 + 8 * k] == [
            b"%d" % job.job_id, b"2", b"FLOAT", b"%d 3" % n, first[start:start + n].tobytes(),
            b"INT64", b"%d" % n, np.ascontiguousarray(second[start:start + n]).tobytes()]
        start += n


def test_done_batch_leaves_strings_and_big_blobs_to_done():
    jobs = [_job(1, 1, bs=8), _job(2, 1, bs=8)]
    assert done_batch(jobs, [np.array([b"a", b"bc"], dtype=object)]) is None
    assert done_batch(jobs, [np.zeros((2, 1 << 14), np.float32)]) is None
    with pytest.raises(batching.BatchSizeError):
        done_batch(jobs, [np.zeros((3, 2), np.float32)])


def test_done_batch_gives_up_before_encoding_anything(monkeypatch):
    from smartsim._core.executor import worker

    calls = []
    real = worker.encode
    monkeypatch.setattr(worker, "encode", lambda arr: calls.append(arr.shape) or real(arr))
    jobs = [_job(1, 1, bs=8), _job(2, 1, bs=8)]
    small = np.zeros((2, 3), np.float32)
    assert done_batch(jobs, [small, np.array([b"a", b"bc"], dtype=object)]) is None
    assert done_batch(jobs, [small, np.zeros((2, 1 << 14), np.float32)]) is None
    with pytest.raises(batching.BatchSizeError):  # rows checked first, as split_outputs does
        done_batch(jobs, [small, np.zeros((3, 2), np.float32)])
    with pytest.raises(batching.BatchSizeError):
        batching.split_outputs([small, np.zeros((3, 2), np.float32)], jobs)
    assert calls == []
    assert done_batch(jobs, [small]) is not None and calls == [(2, 3)]


def _unconnected_executor():
    return Executor(protocol.Connection(socket_path="/nonexistent"), backends=[], prewarm=False)


def test_donen_replies_become_errs_where_a_client_would_wait():
    ex = _unconnected_executor()
    unknown = protocol.ReplyError("ERR unknown job 2 (timed out or cancelled)")
    refused = protocol.ReplyError("ERR executor returned a tensor with an invalid shape")
    ex._answered(("DONEN", (1, 2, 3)), [b"OK", unknown, refused])
    assert list(ex.conn.pending) == [("ERR", 3)]  # the unknown job is left alone
    # a DONEN refused whole (e.g. by a module that has none): every job gets an ERR
    ex = _unconnected_executor()
    ex._answered(("DONEN", (4, 5)), protocol.ReplyError("ERR unknown command 'AI._EXEC.DONEN'"))
    assert list(ex.conn.pending) == [("ERR", 4), ("ERR", 5)]


def test_donen_replies_that_do_not_match_the_batch_fail_every_job():
    # an array of the wrong length, or something that is not an array: no job is known to
    # be answered, so each gets an ERR (its client would otherwise wait for its timeout)
    for reply in ([b"OK"], [b"OK", b"OK", b"OK"], b"OK", 7, None):
        ex = _unconnected_executor()
        ex._donen = True
        ex._answered(("DONEN", (4, 5)), reply)
        assert list(ex.conn.pending) == [("ERR", 4), ("ERR", 5)], reply
        assert ex._donen  # only "unknown command" turns DONEN off
    # one element that is neither OK nor an error: that job gets an ERR
    ex = _unconnected_executor()
    ex._answered(("DONEN", (4, 5)), [b"OK", 1])
    assert list(ex.conn.pending) == [("ERR", 5)]
    # a module without DONEN: every job gets an ERR and the next batches use DONE
    ex = _unconnected_executor()
    ex._donen = True
    ex._answered(("DONEN", (4, 5)), protocol.ReplyError("ERR unknown command 'AI._EXEC.DONEN', "
                                                         "with args beginning with: '2'"))
    assert list(ex.conn.pending) == [("ERR", 4), ("ERR", 5)]
    assert ex._donen is False


# ------------------------------------------------------------------------ backends
def test_parse_device():
    assert backends.parse_device("cpu") == ("CPU", 0)
    assert backends.parse_device("GPU") == ("GPU", 0)
    assert backends.parse_device("gpu:3") == ("GPU", 3)
    with pytest.raises(backends.BackendError):
        backends.parse_device("TPU")


def test_model_cache_keeps_one_version_per_key():
    c = backends.ModelCache(max_entries=3)
    c.put(b"a", 1, "a1")
    c.put(b"a", 2, "a2")
    assert c.get(b"a", 1) is None and c.get(b"a", 2) == "a2"
    for k in (b"b", b"c", b"d"):
        c.put(k, 1, k)
    assert len(c) == 3 and c.get(b"a", 2) is None


def test_missing_package_message(monkeypatch):
    monkeypatch.setitem(backends.PACKAGES, "ONNX", ("surely_not_a_package_xyz",))
    monkeypatch.delitem(backends._modules, "ONNX", raising=False)
    with pytest.raises(backends.BackendUnavailable) as err:
        backends.load_model("ONNX", "CPU", b"x")
    assert str(err.value) == ("backend ONNX unavailable: python package "
                              "'surely_not_a_package_xyz' is not installed")
    assert "ONNX" not in [b for b in backends.available_backends()]


def test_torch_model_and_errors():
    torch = pytest.importorskip("torch", reason="needs the python package 'torch'")
    m = backends.load_model("TORCH", "CPU", torch_model_bytes(torch, "two_out"))
    x = np.ones((2, 3), np.float32)
    s, p = m.run([x, x * 2], 2)
    assert s.tolist() == [[3.0] * 3] * 2 and p.tolist() == [[2.0] * 3] * 2
    with pytest.raises(backends.BackendError, match="unexpected number of outputs"):
        m.run([x, x], 1)
    with pytest.raises(backends.BackendError):
        m.run([x], 2)
    with pytest.raises(backends.BackendError):
        backends.load_model("TORCH", "CPU", b"not a model")
    if not torch.cuda.is_available():
        with pytest.raises(backends.BackendError, match="couldn't find CUDA"):
            backends.load_model("TORCH", "GPU:0", torch_model_bytes(torch, "two_out"))


SCRIPT = """
def add(a, b):
    return a + b

def two(x):
    return x + 1, x - 1

def cat(tensors: List[Tensor]):
    return torch.cat(tensors, 0)

def scaled(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] * float(args[0]) + float(len(keys))
"""


def test_torch_script_calling_conventions():
    pytest.importorskip("torch", reason="needs the python package 'torch'")
    s = backends.load_script("CPU", SCRIPT, ["scaled"])
    x = np.arange(4, dtype=np.float32).reshape(2, 2)
    assert s.run("add", [x, x], [], [], 1)[0].tolist() == (2 * x).tolist()
    hi, lo = s.run("two", [x], [], [], 2)
    assert hi[0, 0] == 1 and lo[0, 0] == -1
    assert s.run("cat", [x, x, x], [], [], 1)[0].shape == (6, 2)
    assert s.run("scaled", [x], [b"k1"], [b"3"], 1)[0].tolist() == (3 * x + 1).tolist()
    with pytest.raises(backends.BackendError, match="Function does not exist: nope"):
        s.run("nope", [x], [], [], 1)
    with pytest.raises(backends.BackendError, match="Wrong number of inputs"):
        s.run("add", [x], [], [], 1)
    with pytest.raises(backends.BackendError, match="Wrong number of inputs in function two"):
        backends.load_script("CPU", SCRIPT, ["two"])
    with pytest.raises(backends.BackendError, match="does not exist in the given script"):
        backends.load_script("CPU", SCRIPT, ["missing"])
    with pytest.raises(backends.BackendError):
        backends.load_script("CPU", "def broken(x):\n    return x +* 1\n")


def test_onnx_model():
    pytest.importorskip("onnxruntime", reason="needs the python package 'onnxruntime'")
    onnx = pytest.importorskip("onnx", reason="needs the python package 'onnx'")
    m = backends.load_model("ONNX", "CPU", onnx_add_mul(onnx))
    a = np.ones((2, 3), np.float32)
    s, p = m.run([a, a * 3], 2)
    assert s.tolist() == [[4.0] * 3] * 2 and p.tolist() == [[3.0] * 3] * 2
    with pytest.raises(backends.BackendError, match="Expected 2 inputs but got 1"):
        m.run([a], 2)
    with pytest.raises(backends.BackendError):
        backends.load_model("ONNX", "CPU", b"garbage")


def test_connection_pipelined_big_writes():
    """Many large buffers (more than one sendmsg's worth) arrive intact and in order."""
    import socket
    import threading

    a, b = socket.socketpair()
    conn = protocol.Connection(socket_path="unused")
    conn._sock = a
    blobs = [np.full(20000 + i, i % 251, np.uint8) for i in range(700)]
    expect = []
    for i, blob in enumerate(blobs):
        conn.queue("AI._EXEC.DONE", i, 1, "UINT8", b"%d" % blob.size, memoryview(blob), tag=i)
        chunks = []
        protocol.pack_command(["AI._EXEC.DONE", i, 1, "UINT8", b"%d" % blob.size,
                               blob.tobytes()], chunks)
        expect.append(b"".join(bytes(c) for c in chunks))
    want = b"".join(expect)
    got = bytearray()

    def reader():
        while len(got) < len(want):
            got.extend(b.recv(1 << 20))

    t = threading.Thread(target=reader)
    t.start()
    conn.flush()
    t.join(30)
    assert bytes(got) == want
    # replies are matched to the queued tags in order
    b.sendall(b"+OK\r\n" * 699 + b"-ERR unknown job 699\r\n")
    replies = conn.drain()
    assert [tag for tag, _ in replies] == list(range(700))
    assert isinstance(replies[-1][1], protocol.ReplyError)
    a.close()
    b.close()


def test_package_imports_without_ml_runtimes():
    import subprocess
    import sys

    code = ("import sys\n"
            "for m in ('torch', 'onnxruntime', 'onnx', 'tensorflow'): sys.modules[m] = None\n"
            "import smartsim._core.executor.worker as w\n"
            "from smartsim._core.executor import backends\n"
            "assert backends.available_backends() == [], backends.available_backends()\n"
            "try:\n"
            "    backends.load_model('TORCH', 'CPU', b'x')\n"
            "except backends.BackendUnavailable as e:\n"
            "    print(e)\n")
    src = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "src")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ, "PYTHONPATH": src})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == ("backend TORCH unavailable: python package 'torch' "
                                  "is not installed")
