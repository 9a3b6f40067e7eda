"""A real 3-shard Redis Cluster on loopback with the module loaded on every node."""

import numpy as np
import pytest
import redis
from redis.cluster import RedisCluster

from .._testbase.cluster import Database
from .aimodule_resp import RawConn

SLOT_RANGES = [(0, 5460), (5461, 10922), (10923, 16383)]


@pytest.fixture
def cluster(aimodule_path, redis_server_binary, tmp_path):
    """Three primaries with the module (no executors), slots as in SLOT_RANGES."""
    db = Database.start_cluster(aimodule_path, tmp_path, binary=redis_server_binary,
                                executors=False)
    assert db.bounds == [lo for lo, _ in SLOT_RANGES] + [SLOT_RANGES[-1][1] + 1]
    try:
        yield db.servers
    finally:
        db.stop()


def node_for(nodes, key):
    slot = nodes[0].client().execute_command("CLUSTER", "KEYSLOT", key)
    for n, (lo, hi) in zip(nodes, SLOT_RANGES):
        if lo <= slot <= hi:
            return n
    raise AssertionError(slot)


def test_cluster_routing_and_moved(cluster):
    rc = RedisCluster(host="127.0.0.1", port=cluster[0].port)
    try:
        keys = [f"tensor:{i}" for i in range(60)]
        for i, k in enumerate(keys):
            a = np.full((2, 2), i, dtype=np.int32)
            assert rc.execute_command("AI.TENSORSET", k, "INT32", 2, 2, "BLOB", a.tobytes()) == b"OK"
        for i, k in enumerate(keys):
            blob = rc.execute_command("AI.TENSORGET", k, "BLOB")
            assert np.frombuffer(blob, np.int32).tolist() == [i] * 4
        # keys really are spread over the three shards
        per_node = [n.client().dbsize() for n in cluster]
        assert sum(per_node) == 60 and all(x > 0 for x in per_node)
        # a model stored per shard under a hash tag that maps to each shard
        assert rc.execute_command("AI.MODELSTORE", "{a}.m", "TORCH", "CPU", "BLOB", b"x") == b"OK"
        assert rc.execute_command("AI.MODELGET", "{a}.m", "BLOB") == b"x"
    finally:
        rc.close()
    # talking to the wrong node gives MOVED
    k = "tensor:0"
    owner = node_for(cluster, k)
    other = next(n for n in cluster if n is not owner)
    with pytest.raises(redis.exceptions.MovedError):
        other.client().execute_command("AI.TENSORGET", k, "META")


def test_cross_slot_execution_is_rejected(cluster):
    owner = node_for(cluster, "{m}model")
    c = owner.client()
    c.execute_command("AI.MODELSTORE", "{m}model", "TORCH", "CPU", "BLOB", b"x")
    c.execute_command("AI.TENSORSET", "{m}in", "FLOAT", 1, "VALUES", 1)
    c.execute_command("AI.SCRIPTSET", "{m}script", "CPU", "SOURCE", "def f(x): return x")
    cross = [
        ("AI.MODELEXECUTE", "{m}model", "INPUTS", 1, "{m}in", "OUTPUTS", 1, "{other}out"),
        ("AI.MODELEXECUTE", "{m}model", "INPUTS", 1, "x1", "OUTPUTS", 1, "{m}out"),
        ("AI.MODELRUN", "{m}model", "INPUTS", "{m}in", "OUTPUTS", "zzz"),
        ("AI.SCRIPTEXECUTE", "{m}script", "f", "INPUTS", 1, "{m}in", "OUTPUTS", 1, "abc"),
        ("AI.SCRIPTEXECUTE", "{m}script", "f", "KEYS", 1, "qq", "INPUTS", 1, "{m}in"),
        ("AI.SCRIPTRUN", "{m}script", "f", "INPUTS", "{m}in", "OUTPUTS", "abc"),
    ]
    for args in cross:
        with pytest.raises((redis.exceptions.ClusterCrossSlotError, redis.exceptions.MovedError)):
            c.execute_command(*args)
    # same slot: passes routing, reaches the module (no executor on this shard)
    with pytest.raises(redis.ResponseError, match="no executor is running for device CPU"):
        c.execute_command("AI.MODELEXECUTE", "{m}model", "INPUTS", 1, "{m}in", "OUTPUTS", 1, "{m}out")
    with pytest.raises(redis.ResponseError, match="no executor is running for device CPU"):
        c.execute_command("AI.SCRIPTEXECUTE", "{m}script", "f", "KEYS", 1, "{m}k", "INPUTS", 1, "{m}in",
                          "ARGS", 1, "not-a-key", "OUTPUTS", 1, "{m}out")


def test_cluster_crossslot_exact_reply(cluster):
    owner = node_for(cluster, "{m}model")
    c = owner.client()
    c.execute_command("AI.MODELSTORE", "{m}model", "TORCH", "CPU", "BLOB", b"x")
    raw = RawConn(owner.port)
    try:
        assert raw.call("AI.MODELEXECUTE", "{m}model", "INPUTS", 1, "{m}in", "OUTPUTS", 1, "{z}out") == (
            b"-CROSSSLOT Keys in request don't hash to the same slot\r\n")
        assert raw.call("PING") == b"+PONG\r\n"
    finally:
        raw.close()
