"""A 3-shard Orchestrator on one host: a real Redis Cluster on ports port..port+2."""
from __future__ import annotations

import numpy as np
import pytest

from smartsim._core.server import miniresp
from smartsim.client import Client
from smartsim.error import SSUnsupportedError, UnsupportedValueError
from smartsim.status import SmartSimStatus

from conftest import free_ports, listening, redis_binaries


@pytest.mark.parametrize("version", sorted(redis_binaries()))
def test_three_shard_cluster_and_restart(exp, monkeypatch, version):
    monkeypatch.setenv("SMARTSIM_REDIS_SERVER", redis_binaries()[version])
    base = free_ports(3, cluster=True)
    db = exp.create_database(port=base, db_nodes=3)
    assert db.num_shards == 3 and [n.name for n in db.entities] == [
        "orchestrator_0", "orchestrator_1", "orchestrator_2"]
    exp.start(db)
    assert db.get_address() == [f"127.0.0.1:{base + i}" for i in range(3)]
    for i in range(3):
        with miniresp.connect("127.0.0.1", base + i) as conn:
            info = conn.call("CLUSTER", "INFO").decode()
            assert "cluster_state:ok" in info and "cluster_known_nodes:3" in info
            assert "cluster_slots_assigned:16384" in info
    client = Client(cluster=True, address=db.get_address()[0])
    for i in range(60):
        client.put_tensor(f"t{i}", np.full(4, i, dtype=np.int32))
    counts = []
    for i in range(3):
        with miniresp.connect("127.0.0.1", base + i) as conn:
            counts.append(conn.call("DBSIZE"))
    assert sum(counts) == 60 and all(c > 0 for c in counts)  # spread over every shard

    # checkpoint, stop, restart: the cluster re-forms from nodes.conf with its data
    db.enable_checkpoints(300)
    exp.stop(db)
    assert exp.get_status(db) == [SmartSimStatus.STATUS_CANCELLED] * 3
    assert not any(listening(base + i) for i in range(3))
    exp.start(db)
    client = Client(cluster=True, address=db.get_address()[1])
    assert client.get_tensor("t42").tolist() == [42] * 4
    exp.stop(db)


def test_wrong_db_nodes(exp, port):
    with pytest.raises(SSUnsupportedError, match="size 2"):
        exp.create_database(port=port, db_nodes=2)
    for bad in (0, -1):
        with pytest.raises(UnsupportedValueError):
            exp.create_database(port=port, db_nodes=bad)
    with pytest.raises(TypeError):
        exp.create_database(port=port, db_nodes="three")
    with pytest.raises(TypeError):
        exp.create_database(port=port, db_nodes=1.5)
    with pytest.raises(UnsupportedValueError, match="valid TCP ports"):
        exp.create_database(port=65000, db_nodes=3)  # bus ports past 65535
    assert exp.create_database(port=port, db_nodes=4.0).num_shards == 4
