"""Execution commands: argument checks, the no-executor error, and the module side of the
executor protocol (PROTOCOL.md) driven by a tiny protocol peer written with redis-py.

The peer is not a mock of Redis: it is a second client of the real server speaking the
AI._EXEC.* commands, like the real executor does. Model runs with real runtimes are tested
with the executor (tests/executor)."""
import concurrent.futures as cf
import os
import time

import numpy as np
import pytest
import redis

BLOB = b"model-bytes" * 8
NO_EXEC = (b"-ERR no executor is running for device CPU; start one with python -m "
           b"smartsim._core.executor\r\n")


class Peer:
    """An executor speaking PROTOCOL.md over its own connection."""

    def __init__(self, server, device="CPU", backends="TORCH,ONNX"):
        self.c = server.client(socket_timeout=20)
        assert self.c.execute_command("AI._EXEC.HELLO", device, os.getpid(), backends,
                                      server.secret) == b"OK"

    def pull(self, max_jobs=16, block_ms=5000):
        return self.c.execute_command("AI._EXEC.PULL", max_jobs, block_ms)

    def done(self, job_id, *outputs):
        args = []
        for dtype, shape, blob in outputs:
            args += [dtype, " ".join(str(d) for d in shape), blob]
        return self.c.execute_command("AI._EXEC.DONE", job_id, len(outputs), *args)

    def donen(self, *answers):
        """One AI._EXEC.DONEN: answers are (job_id, [(dtype, shape, blob), ...])."""
        args = [len(answers)]
        for job_id, outputs in answers:
            args += [job_id, len(outputs)]
            for dtype, shape, blob in outputs:
                args += [dtype, " ".join(str(d) for d in shape), blob]
        return self.c.execute_command("AI._EXEC.DONEN", *args)

    def err(self, job_id, msg):
        return self.c.execute_command("AI._EXEC.ERR", job_id, msg)

    def close(self):
        self.c.close()


@pytest.fixture
def pool():
    ex = cf.ThreadPoolExecutor(8)
    try:
        yield ex
    finally:
        ex.shutdown(wait=False, cancel_futures=True)


def call_async(pool, server, *args):
    def run():
        c = server.client(socket_timeout=30)
        try:
            return c.execute_command(*args)
        except redis.ResponseError as e:
            return e
        finally:
            c.close()
    return pool.submit(run)


def setup_model(r):
    r.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "TAG", "t", "BATCHSIZE", 8, "BLOB", BLOB)
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    r.execute_command("AI.TENSORSET", "x", "FLOAT", 2, 3, "BLOB", a.tobytes())
    return a


# ------------------------------------------------------------------ no executor / argument errors


def test_no_executor_error(r, raw):
    setup_model(r)
    assert raw.call("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == NO_EXEC
    assert raw.call("AI.MODELRUN", "m", "INPUTS", "x", "OUTPUTS", "y") == NO_EXEC
    r.execute_command("AI.SCRIPTSET", "s", "CPU", "SOURCE", "def f(x): return x")
    assert raw.call("AI.SCRIPTEXECUTE", "s", "f", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == NO_EXEC
    assert raw.call("AI.SCRIPTRUN", "s", "f", "INPUTS", "x", "OUTPUTS", "y") == NO_EXEC
    r.execute_command("AI.MODELSTORE", "g", "TORCH", "GPU", "BLOB", BLOB)
    assert b"no executor is running for device GPU:0" in raw.call(
        "AI.MODELEXECUTE", "g", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    assert r.exists("y") == 0


EXEC_ERRORS = [
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1),
     b"-ERR wrong number of arguments for 'AI.MODELEXECUTE' command\r\n"),
    (("AI.MODELEXECUTE", "nomodel", "INPUTS", 1, "x", "OUTPUTS", 1, "y"), b"-ERR model key is empty\r\n"),
    (("AI.MODELEXECUTE", "x", "INPUTS", 1, "x", "OUTPUTS", 1, "y"),
     b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (("AI.MODELEXECUTE", "m", "INPUT", 1, "x", "OUTPUTS", 1, "y"), b"-ERR INPUTS not specified\r\n"),
    (("AI.MODELEXECUTE", "m", "INPUTS", "a", "x", "OUTPUTS", 1, "y"),
     b"-ERR Invalid argument for input_count\r\n"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 0, "x", "OUTPUTS", 1, "y"),
     b"-ERR Input count must be a positive integer\r\n"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 9, "x", "OUTPUTS", 1, "y"),
     b"-ERR number of input keys to AI.MODELEXECUTE command does not match the number of given arguments\r\n"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 2**63 - 1, "x", "OUTPUTS", 1, "y"),
     b"-ERR number of input keys to AI.MODELEXECUTE command does not match the number of given arguments\r\n"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 2**63 - 1, "y"),
     b"-ERR number of output keys to AI.MODELEXECUTE command does not match the number of given arguments\r\n"),
    (("AI.SCRIPTEXECUTE", "s", "f", "INPUTS", 2**63 - 1, "x"),
     b"-ERR number of inputs to AI.SCRIPTEXECUTE command does not match the number of given arguments\r\n"),
    (("AI.SCRIPTEXECUTE", "s", "f", "KEYS", 2**63 - 1, "x", "y"),
     b"-ERR Number of pre declared KEYS to be used in the command does not match the number of given arguments\r\n"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUT", 1, "y"), b"-ERR OUTPUTS not specified\r\n"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", -1, "y"),
     b"-ERR Output count must be a positive integer\r\n"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 3, "y"),
     b"-ERR number of output keys to AI.MODELEXECUTE command does not match the number of given arguments\r\n"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y", "TIMEOUT"),
     b"-ERR No value provided for TIMEOUT\r\n"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y", "TIMEOUT", 0),
     b"-ERR Invalid value for TIMEOUT\r\n"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y", "FOO", 3), b"-Invalid argument: FOO\r\n"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "nox", "OUTPUTS", 1, "y"),
     b"-ERR tensor key is empty or in a different shard\r\n"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "str", "OUTPUTS", 1, "y"),
     b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "str"),
     b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (("AI.MODELRUN", "m", "INPUTS", "x"), b"-ERR wrong number of arguments for 'AI.MODELRUN' command\r\n"),
    (("AI.MODELRUN", "m", "TIMEOUT", -5, "INPUTS", "x", "OUTPUTS", "y"), b"-ERR Invalid value for TIMEOUT\r\n"),
    (("AI.MODELRUN", "m", "IN", "x", "OUTPUTS", "y"), b"-ERR INPUTS not specified\r\n"),
    (("AI.SCRIPTEXECUTE", "s"), b"-ERR wrong number of arguments for 'AI.SCRIPTEXECUTE' command\r\n"),
    (("AI.SCRIPTEXECUTE", "nos", "f", "INPUTS", 1, "x"), b"-ERR script key is empty\r\n"),
    (("AI.SCRIPTEXECUTE", "s", "f", "OUTPUTS", 1, "y"),
     b"-ERR KEYS or INPUTS scope must be provided first for AI.SCRIPTEXECUTE command\r\n"),
    (("AI.SCRIPTEXECUTE", "s", "f", "KEYS", 0, "x"),
     b"-ERR Invalid or negative value found in number of KEYS\r\n"),
    (("AI.SCRIPTEXECUTE", "s", "f", "KEYS", 3, "x"), b"-ERR Missing arguments after KEYS keyword\r\n"
     if False else
     b"-ERR Number of pre declared KEYS to be used in the command does not match the number of given arguments\r\n"),
    (("AI.SCRIPTEXECUTE", "s", "f", "INPUTS", 1, "x", "INPUTS", 1, "x"),
     b"-ERR Already Encountered INPUTS scope in AI.SCRIPTEXECUTE command\r\n"),
    (("AI.SCRIPTEXECUTE", "s", "f", "INPUTS", 2, "x"),
     b"-ERR number of inputs to AI.SCRIPTEXECUTE command does not match the number of given arguments\r\n"),
    (("AI.SCRIPTEXECUTE", "s", "f", "INPUTS", 1, "x", "BOGUS"),
     b"-ERR Invalid AI.SCRIPTEXECUTE command. Unexpected argument: BOGUS\r\n"),
    (("AI.SCRIPTEXECUTE", "s", "f", "INPUTS", 1, "x", "TIMEOUT", 5, "OUTPUTS", 1, "y"),
     b"-ERR Encountered problem parsing AI.SCRIPTEXECUTE\r\n"),
    (("AI.SCRIPTEXECUTE", "s", "f", "INPUTS", 1, "x", "ARGS", "z"),
     b"-ERR Invalid argument for keys count in AI.SCRIPTEXECUTE\r\n"),
    (("AI.SCRIPTRUN", "s", "f", "x"), b"-ERR Unrecongnized parameter to SCRIPTRUN\r\n"),
    (("AI.SCRIPTRUN", "s", "f", "OUTPUTS", "y", "$"),
     b"-ERR Encountered a variable size list of tensors outside of input section\r\n"),
    (("AI.SCRIPTRUN", "s", "f", "INPUTS", "x", "OUTPUTS", "y", "INPUTS", "z"),
     b"-ERR Already encountered an INPUTS section in SCRIPTRUN\r\n"),
    (("AI.SCRIPTRUN", "s"), b"-ERR wrong number of arguments for 'AI.SCRIPTRUN' command\r\n"),
]


@pytest.mark.parametrize("args,expected", EXEC_ERRORS)
def test_exec_argument_errors(r, raw, args, expected):
    setup_model(r)
    r.execute_command("AI.SCRIPTSET", "s", "CPU", "SOURCE", "def f(x): return x")
    r.set("str", "v")
    assert raw.call(*args) == expected
    assert raw.call("PING") == b"+PONG\r\n"


def test_exec_refused_in_multi_and_lua(r):
    setup_model(r)
    p = r.pipeline(transaction=True)
    p.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    res = p.execute(raise_on_error=False)
    assert "Cannot run RedisAI command within a transaction or a LUA script" in str(res[0])
    with pytest.raises(redis.ResponseError, match="Cannot run RedisAI command"):
        r.eval("return redis.call('AI.MODELEXECUTE', 'm', 'INPUTS', 1, 'x', 'OUTPUTS', 1, 'y')", 0)


def test_getkeys(r):
    gk = lambda *a: [k if isinstance(k, bytes) else k.encode() for k in r.command_getkeys(*a)]  # noqa: E731
    assert gk("AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c", "TIMEOUT", 5) == [
        b"m", b"a", b"b", b"c"]
    assert gk("AI.MODELRUN", "m", "TIMEOUT", 5, "INPUTS", "a", "b", "OUTPUTS", "c") == [b"m", b"a", b"b", b"c"]
    assert gk("AI.SCRIPTEXECUTE", "s", "fn", "KEYS", 1, "k", "INPUTS", 1, "a", "ARGS", 2, "x", "y",
              "OUTPUTS", 1, "c", "TIMEOUT", 9) == [b"s", b"k", b"a", b"c"]
    assert gk("AI.SCRIPTRUN", "s", "fn", "INPUTS", "a", "$", "b", "OUTPUTS", "c") == [b"s", b"a", b"b", b"c"]
    assert gk("AI.TENSORSET", "t", "FLOAT", 1) == [b"t"]
    assert gk("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", "x") == [b"m"]
    # malformed counts never crash key extraction
    for args in (("AI.MODELEXECUTE", "m", "INPUTS", 2**63 - 1, "a", "OUTPUTS", 1, "c"),
                 ("AI.MODELEXECUTE", "m", "INPUTS", 1, "a", "OUTPUTS", 2**63 - 1, "c"),
                 ("AI.MODELEXECUTE", "m", "INPUTS", -3, "a"),
                 ("AI.SCRIPTEXECUTE", "s", "f", "INPUTS", 2**63 - 1, "a"),
                 ("AI.SCRIPTRUN", "s"), ("AI.MODELRUN", "m")):
        try:
            r.command_getkeys(*args)
        except redis.ResponseError:
            pass
    assert r.ping()


# ------------------------------------------------------------------ protocol peer


def test_pull_requires_hello(shared_server, r):
    c = shared_server.client()
    with pytest.raises(redis.ResponseError, match="not an executor"):
        c.execute_command("AI._EXEC.PULL", 1, 10)
    c.close()


def test_pull_times_out_with_empty_array(shared_server, r):
    p = Peer(shared_server)
    t0 = time.time()
    assert p.pull(4, 150) == []
    assert 0.1 < time.time() - t0 < 3
    p.close()


def test_full_model_roundtrip(shared_server, r, pool):
    a = setup_model(r)
    p = Peer(shared_server)
    fut = call_async(pool, shared_server, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 2, "y", "z")
    jobs = p.pull(16, 5000)
    assert len(jobs) == 1
    job = jobs[0]
    job_id, kind, key, version, fn, inputs, nout, args, keys, bs, mbs, mbt, waited_us = job
    assert (kind, key, fn, nout, args, keys, bs, mbs, mbt) == (b"MODEL", b"m", b"", 2, [], [], 8, 0, 0)
    assert 0 <= waited_us < 10_000_000
    assert inputs == [[b"FLOAT", [2, 3], a.tobytes()]]
    fetched = p.c.execute_command("AI._EXEC.FETCH", "m", version)
    assert fetched == [b"TORCH", b"CPU", BLOB, [], []]
    out = (a * 2).astype(np.float32)
    assert p.done(job_id, ("FLOAT", [2, 3], out.tobytes()), ("INT64", [1], np.int64(7).tobytes())) == b"OK"
    assert fut.result(10) == b"OK"
    assert r.execute_command("AI.TENSORGET", "y", "BLOB") == out.tobytes()
    assert r.execute_command("AI.TENSORGET", "z", "VALUES") == [7]
    info = r.execute_command("AI.INFO", "m")
    assert info[12:] == [b"samples", 2, b"calls", 1, b"errors", 0]
    assert info[11] >= 0
    # a second DONE for the same job is an error and changes nothing
    with pytest.raises(redis.ResponseError, match="unknown job"):
        p.done(job_id, ("FLOAT", [1], b"\x00" * 4), ("FLOAT", [1], b"\x00" * 4))
    p.close()


def _execute_m(pool, server, indices):
    """AI.MODELEXECUTE of model ``m`` on ``x`` into ``y<i>`` for each i, in the background."""
    return [call_async(pool, server, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, f"y{i}")
            for i in indices]


def _pull_n(p, n, deadline_s=10):
    jobs = []
    deadline = time.monotonic() + deadline_s
    while len(jobs) < n and time.monotonic() < deadline:
        jobs += p.pull(16, 200)
    assert len(jobs) == n, jobs
    return jobs


def test_donen_answers_a_batch(shared_server, r, pool):
    setup_model(r)
    p = Peer(shared_server)
    futs = _execute_m(pool, shared_server, range(3))
    jobs = _pull_n(p, 3)
    outs = {job[0]: np.full((2, 2), job[0], np.float32) for job in jobs}
    assert p.donen(*[(i, [("FLOAT", [2, 2], o.tobytes())]) for i, o in outs.items()]) == [b"OK"] * 3
    assert [f.result(10) for f in futs] == [b"OK"] * 3
    stored = sorted(r.execute_command("AI.TENSORGET", f"y{i}", "BLOB") for i in range(3))
    assert stored == sorted(o.tobytes() for o in outs.values())
    info = r.execute_command("AI.INFO", "m")
    assert info[12:] == [b"samples", 6, b"calls", 3, b"errors", 0]
    assert p.donen() == []  # an empty batch is allowed
    p.close()


def test_donen_unknown_job_in_the_middle(shared_server, r, pool):
    setup_model(r)
    p = Peer(shared_server)
    futs = _execute_m(pool, shared_server, range(2))
    (a, b) = sorted(job[0] for job in _pull_n(p, 2))
    one = ("FLOAT", [1], np.float32(1).tobytes())
    reply = p.donen((a, [one]), (10**12, [one]), (b, [one]))
    assert reply[0] == b"OK" and reply[2] == b"OK"
    assert isinstance(reply[1], redis.ResponseError) and "unknown job 1000000000000" in str(reply[1])
    assert [f.result(10) for f in futs] == [b"OK", b"OK"]
    # answered already: both unknown now, each on its own
    reply = p.donen((a, [one]), (b, [one]))
    assert all(isinstance(x, redis.ResponseError) and "unknown job" in str(x) for x in reply)
    p.close()


def test_donen_malformed_tensor_fails_that_job_only(shared_server, r, pool):
    setup_model(r)
    p = Peer(shared_server)
    futs = _execute_m(pool, shared_server, range(3))
    ids = sorted(job[0] for job in _pull_n(p, 3))
    good = ("FLOAT", [1], np.float32(2).tobytes())
    reply = p.donen((ids[0], [good]), (ids[1], [("FLOAT", [2, 2], b"\x00" * 3)]),
                    (ids[2], [good, good]))  # two outputs for one OUTPUTS key
    assert reply[0] == b"OK" and reply[2] == b"OK"
    assert isinstance(reply[1], redis.ResponseError) and "does not match its shape" in str(reply[1])
    results = sorted(str(f.result(10)) for f in futs)  # which client sent which job is unknown
    assert results[0] == str(b"OK")
    assert "does not match its shape" in results[1] and "number of outputs produced (2)" in results[2]
    p.close()


def test_donen_malformed_layout_touches_no_job(shared_server, r, pool):
    setup_model(r)
    p = Peer(shared_server)
    fut = call_async(pool, shared_server, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    (job,) = _pull_n(p, 1)
    one = ["FLOAT", "1", np.float32(3).tobytes()]
    for args in ([2, job[0], 1, *one],             # says 2 jobs, holds 1
                 [1, job[0], 2, *one],             # says 2 outputs, holds 1
                 [1, job[0], 1, *one, "extra"],    # more than it says
                 [1, job[0], -1], ["x"], [-1], [2**63 - 1, job[0], 1, *one]):
        with pytest.raises(redis.ResponseError, match="malformed AI._EXEC.DONEN"):
            p.c.execute_command("AI._EXEC.DONEN", *args)
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        p.c.execute_command("AI._EXEC.DONEN")
    assert not fut.done()
    assert p.donen((job[0], [tuple(one[:1]) + ([1],) + tuple(one[2:])])) == [b"OK"]
    assert fut.result(10) == b"OK"
    p.close()


def test_donen_requires_hello(shared_server, r):
    c = shared_server.client()
    with pytest.raises(redis.ResponseError, match="not an executor"):
        c.execute_command("AI._EXEC.DONEN", 0)
    c.close()


def _store_min_batch(r, key, minbatch, timeout_ms=0):
    args = ["BATCHSIZE", 8, "MINBATCHSIZE", minbatch]
    if timeout_ms:
        args += ["MINBATCHTIMEOUT", timeout_ms]
    r.execute_command("AI.MODELSTORE", key, "TORCH", "CPU", *args, "BLOB", BLOB)
    r.execute_command("AI.TENSORSET", "x1", "FLOAT", 1, 3, "BLOB", np.ones(3, np.float32).tobytes())


def test_pull_waits_until_a_batch_can_form(shared_server, r, pool):
    _store_min_batch(r, "mb", 3)
    p = Peer(shared_server)
    run = lambda i: call_async(pool, shared_server, "AI.MODELEXECUTE", "mb", "INPUTS", 1,  # noqa: E731
                               "x1", "OUTPUTS", 1, f"y{i}")
    pulled = pool.submit(p.pull, 16, 20000)
    futs = [run(0), run(1)]
    time.sleep(0.3)
    assert not pulled.done()  # 2 samples of the 3 MINBATCHSIZE asks for: held
    t0 = time.monotonic()
    futs.append(run(2))
    jobs = pulled.result(10)  # the third completes the batch: all three go out together
    assert time.monotonic() - t0 < 5
    assert [j[2] for j in jobs] == [b"mb"] * 3
    assert jobs[0][12] >= 250_000  # waited in the module (us)
    one = ("FLOAT", [1, 1], np.float32(1).tobytes())
    assert p.donen(*[(j[0], [one]) for j in jobs]) == [b"OK"] * 3
    assert [f.result(10) for f in futs] == [b"OK"] * 3
    p.close()


def test_held_jobs_go_out_with_any_pull_that_is_answered(shared_server, r, pool):
    setup_model(r)
    _store_min_batch(r, "mb", 4)
    p = Peer(shared_server)
    held = call_async(pool, shared_server, "AI.MODELEXECUTE", "mb", "INPUTS", 1, "x1", "OUTPUTS", 1, "y")
    time.sleep(0.2)
    # a PULL's own timeout hands it out (the executor's batch deadline may need it) ...
    (job,) = p.pull(16, 50)
    assert job[2] == b"mb"
    assert p.err(job[0], "done with it") == b"OK"
    assert "done with it" in str(held.result(10))
    # ... and so does a request of another model (oldest first)
    pulled = pool.submit(p.pull, 16, 20000)
    held = call_async(pool, shared_server, "AI.MODELEXECUTE", "mb", "INPUTS", 1, "x1", "OUTPUTS", 1, "y")
    time.sleep(0.2)
    assert not pulled.done()
    other = call_async(pool, shared_server, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "z")
    jobs = pulled.result(10)
    assert [j[2] for j in jobs] == [b"mb", b"m"]
    assert p.err(jobs[0][0], "done with it") == b"OK"
    assert p.err(jobs[1][0], "done with it") == b"OK"
    assert "done with it" in str(held.result(10)) and "done with it" in str(other.result(10))
    p.close()


def test_held_job_released_by_minbatchtimeout(shared_server, r, pool):
    _store_min_batch(r, "mbt", 4, timeout_ms=300)
    p = Peer(shared_server)
    t0 = time.monotonic()
    fut = call_async(pool, shared_server, "AI.MODELEXECUTE", "mbt", "INPUTS", 1, "x1", "OUTPUTS", 1, "y")
    jobs = p.pull(16, 5000)  # blocks until the module lets it go
    assert len(jobs) == 1 and 0.25 < time.monotonic() - t0 < 3
    assert jobs[0][12] >= 290_000
    assert p.err(jobs[0][0], "late") == b"OK"
    assert "late" in str(fut.result(10))
    p.close()


def test_jobs_the_executor_would_run_at_once_are_not_held(shared_server, r, pool):
    _store_min_batch(r, "mb", 2)
    r.execute_command("AI.TENSORSET", "x8", "FLOAT", 8, 3, "BLOB", np.ones(24, np.float32).tobytes())
    r.execute_command("AI.TENSORSET", "s1", "STRING", 1, "VALUES", "a")
    p = Peer(shared_server)
    # the minimum on its own, inputs whose dim 0 differ, a STRING input: none can wait for more
    for names in (["x8"], ["x1", "x8"], ["s1"]):
        pulled = pool.submit(p.pull, 16, 20000)
        fut = call_async(pool, shared_server, "AI.MODELEXECUTE", "mb", "INPUTS", len(names), *names,
                         "OUTPUTS", 1, "y")
        t0 = time.monotonic()
        (job,) = pulled.result(10)
        assert time.monotonic() - t0 < 5
        assert job[2] == b"mb"
        assert p.err(job[0], "seen") == b"OK"
        assert "seen" in str(fut.result(10))
    p.close()


def test_a_held_job_outlives_its_executor(shared_server, r, pool):
    _store_min_batch(r, "mb", 2)
    p = Peer(shared_server)
    first = call_async(pool, shared_server, "AI.MODELEXECUTE", "mb", "INPUTS", 1, "x1", "OUTPUTS", 1, "y")
    time.sleep(0.2)
    p.close()  # never pulled it: it stays queued for the next executor (within the 2 s grace)
    p = Peer(shared_server)
    pulled = pool.submit(p.pull, 16, 20000)
    second = call_async(pool, shared_server, "AI.MODELEXECUTE", "mb", "INPUTS", 1, "x1", "OUTPUTS", 1, "z")
    jobs = pulled.result(10)
    assert len(jobs) == 2
    one = ("FLOAT", [1, 1], np.float32(1).tobytes())
    assert p.donen(*[(j[0], [one]) for j in jobs]) == [b"OK", b"OK"]
    assert first.result(10) == b"OK" and second.result(10) == b"OK"
    p.close()


def test_a_new_model_version_releases_the_old_group(shared_server, r, pool):
    _store_min_batch(r, "mb", 3)
    p = Peer(shared_server, backends="ONNX")  # no TORCH: stores are not sent for validation
    pulled = pool.submit(p.pull, 16, 20000)
    old = call_async(pool, shared_server, "AI.MODELEXECUTE", "mb", "INPUTS", 1, "x1", "OUTPUTS", 1, "y")
    time.sleep(0.3)
    assert not pulled.done()
    _store_min_batch(r, "mb", 3)  # stored again: the old version's group cannot grow
    new = call_async(pool, shared_server, "AI.MODELEXECUTE", "mb", "INPUTS", 1, "x1", "OUTPUTS", 1, "z")
    jobs = pulled.result(10)
    assert [j[2] for j in jobs] == [b"mb", b"mb"] and jobs[0][3] < jobs[1][3]
    for job in jobs:
        assert p.err(job[0], "seen") == b"OK"
    assert "seen" in str(old.result(10)) and "seen" in str(new.result(10))
    p.close()


def test_err_reply_and_stats(shared_server, r, pool):
    setup_model(r)
    p = Peer(shared_server)
    fut = call_async(pool, shared_server, "AI.MODELRUN", "m", "INPUTS", "x", "OUTPUTS", "y")
    (job,) = p.pull()
    assert p.err(job[0], "torch exploded: bad shape") == b"OK"
    res = fut.result(10)
    assert isinstance(res, redis.ResponseError) and str(res) == "torch exploded: bad shape"
    info = r.execute_command("AI.INFO", "m")
    assert info[14:] == [b"calls", 1, b"errors", 1]
    assert r.exists("y") == 0
    assert r.execute_command("AI.INFO", "m", "RESETSTAT") == b"OK"
    assert r.execute_command("AI.INFO", "m")[10:] == [b"duration", 0, b"samples", 0, b"calls", 0, b"errors", 0]
    p.close()


def test_done_with_bad_outputs_fails_job(shared_server, r, pool):
    setup_model(r)
    p = Peer(shared_server)
    for n in (2**63 - 1, -1, 2**62):
        with pytest.raises(redis.ResponseError):
            p.c.execute_command("AI._EXEC.DONE", 1, n, "FLOAT", "1", b"\x00" * 4)
    fut = call_async(pool, shared_server, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    (job,) = p.pull()
    with pytest.raises(redis.ResponseError, match="does not match its shape"):
        p.done(job[0], ("FLOAT", [2, 2], b"\x00" * 3))
    assert "does not match its shape" in str(fut.result(10))
    fut = call_async(pool, shared_server, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    (job,) = p.pull()
    assert p.done(job[0]) == b"OK"  # zero outputs for one OUTPUTS key
    assert "number of outputs produced (0)" in str(fut.result(10))
    assert r.exists("y") == 0
    p.close()


def test_timeout_replies_timedout(shared_server, r, pool, raw):
    setup_model(r)
    p = Peer(shared_server)
    t0 = time.time()
    fut = call_async(pool, shared_server, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y",
                     "TIMEOUT", 300)
    (job,) = p.pull()
    assert fut.result(10) == b"TIMEDOUT"
    assert 0.25 < time.time() - t0 < 5
    with pytest.raises(redis.ResponseError, match="unknown job"):
        p.done(job[0], ("FLOAT", [1], b"\x00" * 4))
    assert r.exists("y") == 0
    # a queued (never pulled) job times out too; simple-string reply
    raw.send("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y", "TIMEOUT", 100)
    assert raw.read() == b"+TIMEDOUT\r\n"
    assert p.pull(8, 10) == []
    p.close()


def test_executor_death_fails_inflight_jobs(shared_server, r, pool):
    setup_model(r)
    p = Peer(shared_server)
    fut = call_async(pool, shared_server, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    (job,) = p.pull()
    p.close()  # dies mid-job
    res = fut.result(10)
    assert str(res) == "executor for device CPU died while running m"
    assert r.execute_command("AI.INFO", "m")[16:] == [b"errors", 1]


def test_queued_jobs_survive_executor_restart(shared_server, r, pool):
    setup_model(r)
    p1 = Peer(shared_server)
    p1.close()
    time.sleep(0.1)  # p1 is gone; within the 2 s grace period jobs are refused immediately
    raw_res = call_async(pool, shared_server, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    assert "no executor is running" in str(raw_res.result(10))
    # executor alive, job queued, executor dies before pulling, a new one arrives and serves it
    p2 = Peer(shared_server)
    fut = call_async(pool, shared_server, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    time.sleep(0.3)
    p2.close()
    time.sleep(0.2)
    p3 = Peer(shared_server)
    (job,) = p3.pull()
    assert p3.done(job[0], ("FLOAT", [1], b"\x00\x00\x80\x3f")) == b"OK"
    assert fut.result(10) == b"OK"
    assert [float(v) for v in r.execute_command("AI.TENSORGET", "y", "VALUES")] == [1.0]
    p3.close()


def test_queued_jobs_fail_when_no_executor_returns(shared_server, r, pool):
    setup_model(r)
    p = Peer(shared_server)
    # occupy the executor so the next job stays queued
    f1 = call_async(pool, shared_server, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    p.pull(1)
    f2 = call_async(pool, shared_server, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "z")
    time.sleep(0.3)
    t0 = time.time()
    p.close()
    assert "died while running m" in str(f1.result(10))
    res = f2.result(10)
    assert "no executor is running for device CPU" in str(res)
    assert 1.5 < time.time() - t0 < 6


def test_client_disconnect_cancels_job(shared_server, r):
    setup_model(r)
    p = Peer(shared_server)
    c = shared_server.client()
    conn = c.connection_pool.get_connection()
    conn.send_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    (job,) = p.pull()
    conn.disconnect()
    time.sleep(0.2)
    with pytest.raises(redis.ResponseError, match="unknown job"):
        p.done(job[0], ("FLOAT", [1], b"\x00" * 4))
    assert r.exists("y") == 0
    assert r.ping()
    p.close()


def test_script_jobs_carry_fn_args_keys(shared_server, r, pool):
    setup_model(r)
    r.execute_command("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 2, "f", "g", "SOURCE", "def f(x): return x")
    p = Peer(shared_server)
    fut = call_async(pool, shared_server, "AI.SCRIPTEXECUTE", "s", "g", "KEYS", 1, "x", "INPUTS", 1, "x",
                     "ARGS", 2, "a1", "a2", "OUTPUTS", 1, "o")
    (job,) = p.pull()
    assert job[1:5] == [b"SCRIPT", b"s", job[3], b"g"]
    assert job[6:9] == [1, [b"a1", b"a2"], [b"x"]]
    fetched = p.c.execute_command("AI._EXEC.FETCH", "s", job[3])
    assert fetched == [b"TORCH", b"CPU", b"def f(x): return x", [b"f", b"g"], []]
    p.done(job[0], ("STRING", [2], b"hi\x00there\x00"))
    assert fut.result(10) == b"OK"
    assert r.execute_command("AI.TENSORGET", "o", "VALUES") == [b"hi", b"there"]
    assert r.execute_command("AI.INFO", "s")[12:] == [b"samples", -1, b"calls", 1, b"errors", 0]
    fut = call_async(pool, shared_server, "AI.SCRIPTRUN", "s", "f", "INPUTS", "$", "x", "x", "OUTPUTS", "o2")
    (job,) = p.pull()
    assert len(job[5]) == 2 and job[4] == b"f"
    p.done(job[0], ("INT8", [0, 3], b""))
    assert fut.result(10) == b"OK"
    assert r.execute_command("AI.TENSORGET", "o2", "META") == [b"dtype", b"INT8", b"shape", [0, 3]]
    p.close()


def test_load_job_validates_at_store_time(shared_server, r, pool):
    p = Peer(shared_server, backends="TORCH")
    fut = call_async(pool, shared_server, "AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", b"garbage")
    (job,) = p.pull()
    assert job[1] == b"LOAD" and job[2] == b"m" and job[4] == b"MODEL"
    assert p.c.execute_command("AI._EXEC.FETCH", "m", job[3])[2] == b"garbage"
    p.err(job[0], "PytorchStreamReader failed reading zip archive")
    assert str(fut.result(10)) == "PytorchStreamReader failed reading zip archive"
    assert r.exists("m") == 0
    fut = call_async(pool, shared_server, "AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", BLOB)
    (job,) = p.pull()
    p.done(job[0])
    assert fut.result(10) == b"OK"
    assert r.execute_command("AI.MODELGET", "m", "BLOB") == BLOB
    fut = call_async(pool, shared_server, "AI.SCRIPTSET", "s", "CPU", "SOURCE", "def f(x): return x")
    (job,) = p.pull()
    assert job[1] == b"LOAD" and job[4] == b"SCRIPT"
    p.done(job[0])
    assert fut.result(10) == b"OK"
    # an ONNX model is not validated by an executor that does not declare ONNX
    assert r.execute_command("AI.MODELSTORE", "o", "ONNX", "CPU", "BLOB", b"junk") == b"OK"
    p.close()


def test_deleted_model_still_fetchable_for_queued_job(shared_server, r, pool):
    setup_model(r)
    p = Peer(shared_server)
    fut = call_async(pool, shared_server, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    time.sleep(0.2)
    r.execute_command("AI.MODELDEL", "m")
    (job,) = p.pull()
    assert p.c.execute_command("AI._EXEC.FETCH", "m", job[3])[2] == BLOB
    p.done(job[0], ("FLOAT", [1], b"\x00" * 4))
    assert fut.result(10) == b"OK"
    with pytest.raises(redis.ResponseError, match="no longer exists"):
        p.c.execute_command("AI._EXEC.FETCH", "m", job[3])
    with pytest.raises(redis.ResponseError, match="model key is empty"):
        r.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    p.close()


def test_many_concurrent_jobs_batched_pull(shared_server, r, pool):
    setup_model(r)
    p = Peer(shared_server)
    futs = _execute_m(pool, shared_server, range(6))
    time.sleep(0.5)
    jobs = p.pull(64, 1000)
    assert len(jobs) == 6
    for j in jobs:
        p.done(j[0], ("FLOAT", [2, 3], b"\x00" * 24))
    assert [f.result(10) for f in futs] == [b"OK"] * 6
    assert r.execute_command("AI.INFO", "m")[12:16] == [b"samples", 12, b"calls", 6]
    p.close()


def test_held_counts_follow_jobs_in_and_out(shared_server, r, pool):
    """What holds a job is counted as jobs come and go: a job that timed out or was answered
    no longer adds its samples, one pulled and not answered still does, and an older
    version's job stops releasing the newer one's once it is answered."""
    _store_min_batch(r, "mbc", 3)
    p = Peer(shared_server, backends="ONNX")  # no TORCH: stores are not sent for validation
    run = lambda out, *more: call_async(pool, shared_server, "AI.MODELEXECUTE", "mbc",  # noqa: E731
                                        "INPUTS", 1, "x1", "OUTPUTS", 1, out, *more)
    assert run("y0", "TIMEOUT", 200).result(10) == b"TIMEDOUT"  # held, then gone
    pulled = pool.submit(p.pull, 16, 20000)
    futs = [run("y1"), run("y2")]
    time.sleep(0.3)
    assert not pulled.done()  # 2 samples: the timed-out job no longer counts
    futs.append(run("y3"))
    jobs = pulled.result(10)
    assert len(jobs) == 3
    # pulled and not answered: 3 samples already, so the next job wakes the PULL at once
    pulled = pool.submit(p.pull, 16, 20000)
    futs.append(run("y4"))
    jobs += pulled.result(10)
    assert len(jobs) == 4
    # an older version with a job out: a job of the newer one is not held ...
    _store_min_batch(r, "mbc", 3)
    pulled = pool.submit(p.pull, 16, 20000)
    futs.append(run("y5"))
    (newer,) = pulled.result(10)
    assert newer[3] > jobs[0][3]
    for job in jobs + [newer]:
        assert p.err(job[0], "seen") == b"OK"
    assert all("seen" in str(f.result(10)) for f in futs)
    # ... and once every job is answered, nothing counts: one sample is held again
    pulled = pool.submit(p.pull, 16, 20000)
    last = run("y6")
    time.sleep(0.3)
    assert not pulled.done()
    futs = [last, run("y7"), run("y8")]
    jobs = pulled.result(10)
    assert len(jobs) == 3
    for job in jobs:
        assert p.err(job[0], "seen") == b"OK"
    assert all("seen" in str(f.result(10)) for f in futs)
    p.close()
