"""BATCHSIZE / MINBATCHSIZE / MINBATCHTIMEOUT limits (issue 16, item 3).

No model the module accepts may leave a client waiting for a batch that cannot form:
the module refuses MINBATCHSIZE > BATCHSIZE and out-of-range values at store time, and the
executor runs a group as soon as it fills a batch, when MINBATCHTIMEOUT passes, or when
the model it was queued for has been replaced. Module checks run against a real
redis-server with the module; the end-to-end ones add a real executor process.
"""
from __future__ import annotations

import io
import shutil
import threading
import time

import numpy as np
import pytest

from smartsim._core.executor import batching
from smartsim._core.executor.protocol import Job

from .._testbase import short_tempdir
from .._testbase.cluster import Executor, RedisServer

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

BLOB = b"model-bytes" * 8  # no executor in the module tests: stored without validation
INT32_MAX = 2**31 - 1
ABOVE_BATCHSIZE = b"-ERR MINBATCHSIZE must be less than or equal to BATCHSIZE\r\n"


def _invalid(arg: str) -> bytes:
    return b"-ERR Invalid argument for %s\r\n" % arg.encode()


def store(batch_args, deprecated=False):
    """An AI.MODELSTORE (or AI.MODELSET) command for a TORCH model with these batch args."""
    if deprecated:
        return ("AI.MODELSET", "m", "TORCH", "CPU", *batch_args, "BLOB", BLOB)
    return ("AI.MODELSTORE", "m", "TORCH", "CPU", "TAG", "t", *batch_args, "BLOB", BLOB)


# ------------------------------------------------------------------ module: store-time checks


@pytest.mark.parametrize("deprecated", [False, True], ids=["MODELSTORE", "MODELSET"])
def test_minbatchsize_above_batchsize_is_refused(raw, r, deprecated):
    # The model: a batch holds at most 2 samples, so a minimum of 4 is never met.
    for args in (["BATCHSIZE", 2, "MINBATCHSIZE", 4],
                 ["BATCHSIZE", 2, "MINBATCHSIZE", 3, "MINBATCHTIMEOUT", 100],
                 ["BATCHSIZE", 1, "MINBATCHSIZE", INT32_MAX]):
        assert raw.call(*store(args, deprecated)) == ABOVE_BATCHSIZE, args
        assert r.exists("m") == 0
    # RedisAI's dependency errors keep their texts and come first.
    assert raw.call(*store(["MINBATCHSIZE", 4], deprecated)) == \
        b"-ERR MINBATCHSIZE specified without BATCHSIZE\r\n"
    # Equal is fine, and so is the largest value.
    assert raw.call(*store(["BATCHSIZE", 4, "MINBATCHSIZE", 4, "MINBATCHTIMEOUT", 10],
                           deprecated)) == b"+OK\r\n"
    meta = r.execute_command("AI.MODELGET", "m", "META")
    got = {meta[i]: meta[i + 1] for i in range(0, len(meta), 2)}
    assert (got[b"batchsize"], got[b"minbatchsize"], got[b"minbatchtimeout"]) == (4, 4, 10)
    assert raw.call(*store(["BATCHSIZE", INT32_MAX, "MINBATCHSIZE", INT32_MAX,
                            "MINBATCHTIMEOUT", INT32_MAX], deprecated)) == b"+OK\r\n"


@pytest.mark.parametrize("deprecated", [False, True], ids=["MODELSTORE", "MODELSET"])
def test_out_of_range_batch_values_are_refused(raw, r, deprecated):
    bad = [-1, "2.5", "four", "", INT32_MAX + 1, 2**40, 2**63, 2**64]
    for value in bad:
        assert raw.call(*store(["BATCHSIZE", value], deprecated)) == _invalid("BATCHSIZE"), value
        assert raw.call(*store(["BATCHSIZE", 8, "MINBATCHSIZE", value], deprecated)) == \
            _invalid("MINBATCHSIZE"), value
        assert raw.call(*store(["BATCHSIZE", 8, "MINBATCHSIZE", 2, "MINBATCHTIMEOUT", value],
                               deprecated)) == _invalid("MINBATCHTIMEOUT"), value
        assert r.exists("m") == 0


# ------------------------------------------------------------------ executor: the batcher alone


def _job(i, n, bs, mbs=0, mbt=0, version=1, t=0.0):
    a = np.full((n, 3), i, np.float32)
    return Job(i, "MODEL", b"m", version, "", [("FLOAT", a.shape, a.tobytes())], 1,
               batchsize=bs, minbatchsize=mbs, minbatchtimeout=mbt, pulled_at=t)


def test_batcher_runs_a_full_batch_below_minbatchsize():
    # A model stored before the module refused MINBATCHSIZE > BATCHSIZE (an old RDB file):
    # a request of BATCHSIZE samples runs alone, as RedisAI runs it, and smaller ones run
    # once they fill a batch; nothing waits for the minimum of 4 that no batch can hold.
    b = batching.Batcher()
    units = batching.plan([_job(1, 2, bs=2, mbs=4), _job(2, 3, bs=2, mbs=4),
                           _job(3, 1, bs=2, mbs=4), _job(4, 1, bs=2, mbs=4)], b, 0.0)
    assert [[j.job_id for j in u] for u in units] == [[1], [2], [3, 4]]
    assert len(b) == 0


def test_batcher_releases_a_group_whose_model_was_replaced():
    # Jobs carry the model version they were queued for; once a job for a newer version
    # arrives, no more jobs for the old one can (the module queue is FIFO), so the old
    # group runs with what it has instead of waiting for a minimum it cannot reach.
    b = batching.Batcher()
    assert batching.plan([_job(1, 1, bs=4, mbs=2, version=7)], b, 0.0) == []
    units = batching.plan([_job(2, 1, bs=4, mbs=2, version=9)], b, 0.0)
    assert [[j.job_id for j in u] for u in units] == [[1]]
    # ... also when the newer version is not batched at all
    units = batching.plan([_job(3, 1, bs=0, version=11)], b, 0.0)
    assert [[j.job_id for j in u] for u in units] == [[3], [2]]
    assert len(b) == 0


# ------------------------------------------------------------------ end to end with the executor


def _torch_model(torch, add: float) -> bytes:
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.add = add

        def forward(self, x):
            return x + self.add

    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(M()), buf)
    return buf.getvalue()


@pytest.fixture
def ex_server(aimodule_path, redis_server_binary):
    """A server on a short Unix socket path, with one executor for CPU."""
    d = short_tempdir("bl")
    s = RedisServer(redis_server_binary, aimodule_path, d, unixsocket=True,
                    client_timeout=None).start()
    e = Executor(s, name="ex").start()
    try:
        yield s
    finally:
        e.kill()
        s.cleanup()
        shutil.rmtree(d, ignore_errors=True)


def _put(c, key, arr):
    c.execute_command("AI.TENSORSET", key, "FLOAT", *arr.shape, "BLOB", arr.tobytes())


def _get(c, key):
    _, _, shape, _, blob = c.execute_command("AI.TENSORGET", key, "META", "BLOB")[1:]
    return np.frombuffer(blob, np.float32).reshape(shape)


def _execute_async(server, results, name, key, inp, out, timeout_ms):
    def run():
        c = server.client(socket_timeout=60)
        t0 = time.monotonic()
        try:
            reply = c.execute_command("AI.MODELEXECUTE", key, "INPUTS", 1, inp, "OUTPUTS", 1, out,
                                      "TIMEOUT", timeout_ms)
        except Exception as exc:  # reported by the assertions
            reply = exc
        results[name] = (reply, time.monotonic() - t0)
        c.close()

    t = threading.Thread(target=run)
    t.start()
    return t


def test_client_never_waits_for_a_batch_that_cannot_form(ex_server, monkeypatch):
    """The issue's calls through the client, then what MINBATCHTIMEOUT does when the minimum
    is not reached and what a request larger than BATCHSIZE does."""
    torch = pytest.importorskip("torch")
    from smartsim.client import Client
    from smartsim.client.errors import RedisReplyError, RedisRuntimeError

    monkeypatch.setenv("SSDB", f"unix://{ex_server.sock}")
    monkeypatch.setenv("SR_DB_TYPE", "Standalone")
    monkeypatch.setenv("SR_LOG_LEVEL", "quiet")
    monkeypatch.setenv("SR_MODEL_TIMEOUT", "20000")  # a hang fails the test, not the suite
    for var in ("SSKEYIN", "SSKEYOUT"):
        monkeypatch.delenv(var, raising=False)
    client = Client(None, logger_name="test")
    try:
        blob = _torch_model(torch, 1.0)
        with pytest.raises(RedisRuntimeError, match="min_batch_size"):
            client.set_model("mb", blob, "TORCH", batch_size=2, min_batch_size=4)
        assert not client.model_exists("mb")
        with pytest.raises(RedisReplyError, match="Invalid argument for BATCHSIZE"):
            client.set_model("mb", blob, "TORCH", batch_size=2**40)

        # A minimum one client never reaches: answered once MINBATCHTIMEOUT passes.
        client.set_model("mb", blob, "TORCH", batch_size=4, min_batch_size=4,
                         min_batch_timeout=1500)
        client.put_tensor("x", np.ones((1, 3), np.float32))
        t0 = time.monotonic()
        client.run_model("mb", ["x"], ["y"])
        waited = time.monotonic() - t0
        assert 1.4 <= waited < 10, waited
        np.testing.assert_array_equal(client.get_tensor("y"), np.full((1, 3), 2, np.float32))

        # More samples than BATCHSIZE in one request: it runs alone, at once.
        client.put_tensor("big", np.zeros((6, 3), np.float32))
        t0 = time.monotonic()
        client.run_model("mb", ["big"], ["ybig"])
        assert time.monotonic() - t0 < 1.4
        np.testing.assert_array_equal(client.get_tensor("ybig"), np.ones((6, 3), np.float32))
    finally:
        client.close()


def test_request_waiting_for_a_replaced_model_is_answered(ex_server):
    """MINBATCHSIZE without MINBATCHTIMEOUT: a lone request waits for company, as in RedisAI.
    When the model is stored again meanwhile (every member of an ensemble calling set_model is
    common), later requests batch on the new version and the waiting one could never reach
    its minimum; it runs on the version it was queued for once a request for the new one
    arrives."""
    torch = pytest.importorskip("torch")
    c = ex_server.client(socket_timeout=60)
    assert c.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BATCHSIZE", 4,
                             "MINBATCHSIZE", 2, "BLOB", _torch_model(torch, 1.0)) == b"OK"
    for name in ("a", "b", "c"):
        _put(c, name, np.zeros((1, 3), np.float32))
    results: dict = {}
    ta = _execute_async(ex_server, results, "a", "m", "a", "ya", 8000)
    time.sleep(0.5)
    assert "a" not in results  # waiting for a second sample
    assert c.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BATCHSIZE", 4,
                             "MINBATCHSIZE", 2, "BLOB", _torch_model(torch, 2.0)) == b"OK"
    tb = _execute_async(ex_server, results, "b", "m", "b", "yb", 8000)
    ta.join(30)
    reply, waited = results["a"]
    assert reply == b"OK", reply  # not TIMEDOUT after 8 s
    assert waited < 6, waited
    np.testing.assert_array_equal(_get(c, "ya"), np.ones((1, 3), np.float32))  # version 1
    assert "b" not in results  # the new version still waits for its minimum ...
    tc = _execute_async(ex_server, results, "c", "m", "c", "yc", 8000)
    tb.join(30)
    tc.join(30)
    assert results["b"][0] == results["c"][0] == b"OK"  # ... and batches as before
    np.testing.assert_array_equal(_get(c, "yb"), np.full((1, 3), 2, np.float32))
    c.close()
