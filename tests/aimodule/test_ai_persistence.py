"""RDB save/load, AOF rewrite and loading on Redis 6.2 and 7.0."""
import numpy as np
import pytest


SRC = "def f(x):\n    return x + 1\n"
BLOB = bytes(range(256)) * 40


def populate(c):
    a = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    c.execute_command("AI.TENSORSET", "t:f64", "DOUBLE", 2, 3, 4, "BLOB", a.tobytes())
    c.execute_command("AI.TENSORSET", "t:str", "STRING", 3, "VALUES", "a", "", "ccc")
    c.execute_command("AI.TENSORSET", "t:bool", "BOOL", 4, "VALUES", 1, 0, 0, 1)
    c.execute_command("AI.TENSORSET", "t:big", "UINT8", 300000, "BLOB", bytes(300000))
    c.execute_command("AI.MODELSTORE", "m:tf", "TF", "GPU:1", "TAG", "v2", "BATCHSIZE", 16,
                      "MINBATCHSIZE", 4, "MINBATCHTIMEOUT", 50, "INPUTS", 2, "a", "b", "OUTPUTS", 1,
                      "c", "BLOB", BLOB[:5000], BLOB[5000:])
    c.execute_command("AI.MODELSTORE", "m:torch", "TORCH", "CPU", "BLOB", BLOB)
    c.execute_command("AI.SCRIPTSTORE", "s:1", "CPU", "TAG", "x", "ENTRY_POINTS", 1, "f", "SOURCE", SRC)
    c.execute_command("AI.SCRIPTSET", "s:2", "GPU", "SOURCE", SRC)


def snapshot(c):
    out = {}
    for k in ("t:f64", "t:str", "t:bool", "t:big"):
        out[k] = c.execute_command("AI.TENSORGET", k, "META", "BLOB")
    for k in ("m:tf", "m:torch"):
        out[k] = c.execute_command("AI.MODELGET", k, "META", "BLOB")
    for k in ("s:1", "s:2"):
        out[k] = c.execute_command("AI.SCRIPTGET", k, "META", "SOURCE")
    out["types"] = sorted((k, c.type(k)) for k in c.keys("*"))
    return out


def restart(s):
    s.stop()
    s.start()
    return s.client()


@pytest.mark.parametrize("version", ["7", "6.2"])
def test_save_and_restart(server_factory, redis_binaries, version):
    b = redis_binaries[version]
    if b is None:
        pytest.skip("binary not available")
    s = server_factory(binary=b, extra=["--enable-debug-command", "yes"] if version == "7" else [])
    c = s.client()
    populate(c)
    before = snapshot(c)
    assert c.save()
    c = restart(s)
    assert snapshot(c) == before
    assert c.execute_command("AI.TENSORGET", "t:str", "VALUES") == [b"a", b"", b"ccc"]
    assert c.execute_command("AI.INFO", "m:torch")[:4] == [b"key", b"m:torch", b"type", b"MODEL"]
    # DEBUG RELOAD (save + load in place) keeps everything too
    c.execute_command("DEBUG", "RELOAD")
    assert snapshot(c) == before


@pytest.mark.parametrize("version", ["7", "6.2"])
def test_aof_rewrite_and_restart(server_factory, redis_binaries, version):
    b = redis_binaries[version]
    if b is None:
        pytest.skip("binary not available")
    s = server_factory(binary=b, extra=["--appendonly", "yes", "--aof-use-rdb-preamble", "no"])
    c = s.client()
    populate(c)
    before = snapshot(c)
    c.execute_command("BGREWRITEAOF")
    for _ in range(200):
        info = c.info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            break
        import time
        time.sleep(0.05)
    assert c.info("persistence")["aof_last_bgrewrite_status"] == "ok"
    # a write after the rewrite goes through command propagation (ReplicateVerbatim)
    c.execute_command("AI.TENSORSET", "after", "INT16", 2, "VALUES", -3, 4)
    c = restart(s)
    assert snapshot(c) | {"types": None} == before | {"types": None}
    assert c.execute_command("AI.TENSORGET", "after", "VALUES") == [-3, 4]


def test_aof_without_rewrite_replays_commands(server_factory):
    s = server_factory(extra=["--appendonly", "yes"])
    c = s.client()
    populate(c)
    c.execute_command("AI.MODELDEL", "m:torch")
    c.execute_command("AI.SCRIPTDEL", "s:2")
    before = {k: v for k, v in snapshot_partial(c).items()}
    c = restart(s)
    assert snapshot_partial(c) == before
    assert c.exists("m:torch", "s:2") == 0


def snapshot_partial(c):
    return {
        "t": c.execute_command("AI.TENSORGET", "t:f64", "META", "BLOB"),
        "m": c.execute_command("AI.MODELGET", "m:tf", "META", "BLOB"),
        "s": c.execute_command("AI.SCRIPTGET", "s:1"),
    }


def test_rdb_written_by_62_loads_in_7(server_factory, tmp_path, redis_binaries):
    b62, b7 = redis_binaries["6.2"], redis_binaries["7"]
    if not (b62 and b7):
        pytest.skip("need both redis 6.2 and 7")
    wd = tmp_path / "shared-dir"
    s = server_factory(binary=b62, workdir=wd)
    c = s.client()
    populate(c)
    before = snapshot(c)
    c.save()
    s.stop()
    s7 = server_factory(binary=b7, workdir=wd)
    assert snapshot(s7.client()) == before


def test_module_loads_on_62_and_7(server_factory, redis_binaries):
    for b in redis_binaries.values():
        if b is None:
            continue
        s = server_factory(binary=b)
        c = s.client()
        mods = c.execute_command("MODULE", "LIST")
        assert any((m[b"name"] if isinstance(m, dict) else m[1]) == b"ai" for m in mods)
        assert c.execute_command("AI.TENSORSET", "x", "FLOAT", 1, "VALUES", 2) == b"OK"
        s.stop()


@pytest.mark.parametrize("version", ["7", "6.2"])
def test_execution_outputs_reach_the_aof(server_factory, redis_binaries, version):
    """Outputs stored by an execution are propagated (AI.TENSORSET) and survive a restart."""
    import os
    import threading

    b = redis_binaries[version]
    if b is None:
        pytest.skip("binary not available")
    s = server_factory(binary=b, extra=["--appendonly", "yes"])
    c = s.client()
    c.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", b"onnx")
    c.execute_command("AI.TENSORSET", "x", "FLOAT", 1, "VALUES", 1)
    ex = s.client()
    assert ex.execute_command("AI._EXEC.HELLO", "CPU", os.getpid(), "", s.secret) == b"OK"
    result = {}

    def run():
        result["r"] = s.client().execute_command(
            "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 2, "y", "z")

    th = threading.Thread(target=run)
    th.start()
    (job,) = ex.execute_command("AI._EXEC.PULL", 1, 5000)
    out = np.array([[1, 2], [3, 4]], dtype=np.int16)
    ex.execute_command("AI._EXEC.DONE", job[0], 2, "INT16", "2 2", out.tobytes(), "STRING", "2",
                       b"a\x00bc\x00")
    th.join(10)
    assert result["r"] == b"OK"
    ex.close()
    c = restart(s)
    assert c.execute_command("AI.TENSORGET", "y", "META", "BLOB") == [
        b"dtype", b"INT16", b"shape", [2, 2], b"blob", out.tobytes()]
    assert c.execute_command("AI.TENSORGET", "z", "VALUES") == [b"a", b"bc"]


def test_validated_modelstore_reaches_the_aof(server_factory):
    import os
    import threading

    s = server_factory(extra=["--appendonly", "yes"])
    ex = s.client()
    assert ex.execute_command("AI._EXEC.HELLO", "CPU", os.getpid(), "TORCH", s.secret) == b"OK"
    result = {}

    def run():
        result["r"] = s.client().execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "TAG", "v",
                                                 "BLOB", b"zip")

    th = threading.Thread(target=run)
    th.start()
    (job,) = ex.execute_command("AI._EXEC.PULL", 1, 5000)
    assert job[1] == b"LOAD"
    ex.execute_command("AI._EXEC.DONE", job[0], 0)
    th.join(10)
    assert result["r"] == b"OK"
    ex.close()
    c = restart(s)
    assert c.execute_command("AI.MODELGET", "m", "BLOB") == b"zip"
    assert c.execute_command("AI.MODELGET", "m", "META")[4:6] == [b"tag", b"v"]
