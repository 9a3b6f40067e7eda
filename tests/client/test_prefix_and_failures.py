"""Key prefixing from SSKEYIN/SSKEYOUT (what is and is not prefixed), connection loss:
no blind re-send of non-idempotent commands, a shard killed mid-run."""
import shutil
import time

import numpy as np
import pytest

from smartsim.client import Client, Dataset, RedisConnectionError, RedisRuntimeError

from .._testbase import short_tempdir
from .._testbase.cluster import Database


def _raw_keys(db):
    kind, ssdb, _ = db
    import redis

    if kind == "cluster":
        host, port = ssdb.split(":")
        from redis.cluster import RedisCluster

        rc = RedisCluster(host=host, port=int(port))
        return {k for k in rc.keys(target_nodes=RedisCluster.ALL_NODES)}
    if kind == "unix":
        r = redis.Redis(unix_socket_path=ssdb[len("unix://"):])
    else:
        host, port = ssdb.split(":")
        r = redis.Redis(host=host, port=int(port))
    return set(r.keys())


def test_prefixing(db, clean_env):
    clean_env.setenv("SSKEYOUT", "prod")
    clean_env.setenv("SSKEYIN", "prod,other")
    c = Client(None)
    a = np.arange(3, dtype=np.float32)
    c.put_tensor("t", a)
    ds = Dataset("d")
    ds.add_tensor("x", a)
    c.put_dataset(ds)
    c.append_to_list("l", ds)
    c.set_script("s", "def f(x):\n    return x + 1\n")
    c.run_script("s", "f", ["t"], ["out"])
    c.copy_tensor("t", "t2")
    keys = _raw_keys(db)
    assert b"prod.t" in keys and b"prod.t2" in keys and b"prod.out" in keys
    assert b"prod.{d}.meta" in keys and b"prod.{d}.x" in keys and b"prod.l" in keys
    assert any(k.endswith(b"s") and b"prod" not in k for k in keys)  # model prefixing off
    # reads use the data source (first SSKEYIN entry by default)
    assert c.tensor_exists("t") and c.dataset_exists("d") and c.get_list_length("l") == 1
    assert c.key_exists("prod.t") and not c.key_exists("t")   # never prefixed
    np.testing.assert_array_equal(c.get_tensor("out"), a + 1)
    assert [d.get_name() for d in c.get_datasets_from_list("l")] == ["d"]
    # another source
    c.set_data_source("other")
    assert not c.tensor_exists("t")
    with pytest.raises(RedisRuntimeError):
        c.set_data_source("nope")
    c.set_data_source("prod")
    # switching prefixing off per kind
    c.use_tensor_ensemble_prefix(False)
    c.put_tensor("plain", a)
    assert c.key_exists("plain") and not c.tensor_exists("t")
    c.use_tensor_ensemble_prefix(True)
    c.use_dataset_ensemble_prefix(False)
    c.put_dataset(ds)
    assert c.key_exists("{d}.meta")
    c.use_list_ensemble_prefix(False)
    c.append_to_list("l2", ds)
    assert c.key_exists("l2")
    c.use_model_ensemble_prefix(True)
    c.set_script("s2", "def f(x):\n    return x\n")
    assert c.model_exists("s2")
    assert any(k.endswith(b"prod.s2") for k in _raw_keys(db))
    with pytest.raises(TypeError):
        c.use_model_ensemble_prefix("yes")


def test_no_prefix_without_env(client, db):
    client.put_tensor("t", np.ones(2))
    assert client.key_exists("t")


def test_idempotent_commands_survive_a_dropped_connection(clean_env, standalone):
    clean_env.setenv("SSDB", f"127.0.0.1:{standalone.port}")
    clean_env.setenv("SR_DB_TYPE", "Standalone")
    c = Client(None)
    c.put_tensor("a", np.ones(3))
    ds = Dataset("d")
    ds.add_meta_string("k", "v")
    c.put_dataset(ds)
    standalone.client().execute_command("CLIENT", "KILL", "TYPE", "normal")
    np.testing.assert_array_equal(c.get_tensor("a"), np.ones(3))  # reconnected, re-sent
    standalone.client().execute_command("CLIENT", "KILL", "TYPE", "normal")
    before = standalone.client().llen("l")
    with pytest.raises(RedisConnectionError, match="not re-sent"):
        c.append_to_list("l", ds)
    assert standalone.client().llen("l") == before
    c.append_to_list("l", ds)  # the next call reconnects
    assert c.get_list_length("l") == before + 1


@pytest.fixture
def doomed_cluster(aimodule_path, redis_server_binary):
    """A cluster of its own (a shard gets killed), without executors."""
    c = Database.start_cluster(aimodule_path, short_tempdir("dc"), binary=redis_server_binary,
                               executors=False)
    try:
        yield c
    finally:
        c.stop()
        shutil.rmtree(c.workdir, ignore_errors=True)


def test_shard_killed_mid_run(doomed_cluster, clean_env):
    clean_env.setenv("SSDB", doomed_cluster.address)
    clean_env.setenv("SR_DB_TYPE", "Clustered")
    c = Client(None)
    data = {f"k{i}": np.full(16, i, np.float32) for i in range(300)}
    c.put_tensors(data)
    victim = doomed_cluster.servers[2]
    victim.kill()
    on_victim = [n for n in data if c._db.node_for(n.encode()).port == victim.port]
    elsewhere = [n for n in data if c._db.node_for(n.encode()).port != victim.port]
    t0 = time.monotonic()
    with pytest.raises(RedisConnectionError, match=str(victim.port)):
        c.get_tensor(on_victim[0])
    with pytest.raises(RedisConnectionError, match=str(victim.port)):
        c.get_tensors(list(data))
    with pytest.raises(RedisConnectionError, match=str(victim.port)):
        c.put_tensors(data)
    big = {f"b{i}": np.full(256, i, np.float32) for i in range(3000)}  # sent in pieces
    with pytest.raises(RedisConnectionError, match=str(victim.port)):
        c.put_tensors(big)
    assert time.monotonic() - t0 < 10, "a dead shard must fail fast, not hang"
    np.testing.assert_array_equal(c.get_tensor(elsewhere[0]), data[elsewhere[0]])
