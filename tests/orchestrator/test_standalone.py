"""A single-shard Orchestrator on a real redis-server: start, use, configure, stop, restart."""
from __future__ import annotations

import os
import socket

import numpy as np
import pytest

from smartsim._core.server import miniresp
from smartsim.client import Client
from smartsim.database import Orchestrator
from smartsim.error import EntityRunningError, SmartSimError, SSConfigError
from smartsim.status import SmartSimStatus

from conftest import free_ports, listening, redis_binaries


def test_single_shard_lifecycle(exp, port):
    db = exp.create_database(port=port)
    assert db.num_shards == 1 and db.db_identifier == "orchestrator"
    assert db.path == os.path.join(exp.exp_path, "orchestrator")
    assert not db.is_active()
    with pytest.raises(SmartSimError):
        db.get_address()
    exp.start(db)
    assert db.is_active()
    assert db.get_address() == [f"127.0.0.1:{port}"]
    assert db.hosts == ["127.0.0.1"]
    assert exp.get_status(db) == [SmartSimStatus.STATUS_RUNNING]

    client = Client(cluster=False, address=db.get_address()[0])
    client.put_tensor("x", np.arange(10, dtype=np.float32))
    assert client.get_tensor("x").tolist() == list(range(10))

    # shipped configuration: loopback only, protected mode on, nothing saved, module loaded
    with miniresp.connect("127.0.0.1", port) as conn:
        assert conn.call("CONFIG", "GET", "bind")[1] == b"127.0.0.1"
        assert conn.call("CONFIG", "GET", "protected-mode")[1] == b"yes"
        assert conn.call("CONFIG", "GET", "save")[1] == b""
        assert conn.call("CONFIG", "GET", "dir")[1].decode() == os.path.join(db.path, "orchestrator_0")
        modules = conn.call("MODULE", "LIST")
        assert any(b"ai" in entry for entry in modules)

    # logs and files under exp_path/<db_identifier>/
    assert os.path.isfile(os.path.join(db.path, "orchestrator_0.out"))
    assert "Ready to accept connections" in open(os.path.join(db.path, "orchestrator_0.out")).read()

    with pytest.raises(EntityRunningError):
        exp.start(db)

    exp.stop(db)
    assert exp.get_status(db) == [SmartSimStatus.STATUS_CANCELLED]
    assert not db.is_active()
    assert not listening(port)
    with pytest.raises(SmartSimError):
        db.get_address()
    rows = exp.summary_data()
    assert [(r["Name"], r["Entity-Type"]) for r in rows] == [("orchestrator_0", "DBNode")]


def test_config_setters(exp, port):
    db = exp.create_database(port=port)
    with pytest.raises(SmartSimError):  # not active yet (as SmartSim)
        db.set_max_memory("3gb")
    exp.start(db)
    db.enable_checkpoints(1)
    db.set_max_memory("3gb")
    db.set_eviction_strategy("allkeys-lru")
    db.set_max_clients(100)
    db.set_max_message_size(2_147_483_648)
    with miniresp.connect("127.0.0.1", port) as conn:
        assert conn.call("CONFIG", "GET", "save")[1] == b"1 1"
        assert conn.call("CONFIG", "GET", "maxmemory")[1] == str(3 * 1024 ** 3).encode()
        assert conn.call("CONFIG", "GET", "maxmemory-policy")[1] == b"allkeys-lru"
        assert conn.call("CONFIG", "GET", "maxclients")[1] == b"100"
        assert conn.call("CONFIG", "GET", "proto-max-bulk-len")[1] == b"2147483648"
    bad = {"save": ["-1", "2.4"], "maxmemory": ["29GG", "3.5gb"], "maxclients": ["-3", "2.9"],
           "proto-max-bulk-len": ["100", "9.9gb"], "maxmemory-policy": ["invalid-policy"],
           "invalid-parameter": ["99"]}
    for key, values in bad.items():
        for value in values:
            with pytest.raises(SmartSimError):
                db.set_db_conf(key, value)
    for key, value in (("maxmemory", 99), ("save", True), (10, "3")):
        with pytest.raises(TypeError):
            db.set_db_conf(key, value)  # type: ignore[arg-type]
    exp.stop(db)
    with pytest.raises(SmartSimError):
        db.set_max_clients(50)


def test_checkpoint_then_restart_keeps_keys(exp, port):
    db = exp.create_database(port=port)
    exp.start(db)
    db.enable_checkpoints(60)
    client = Client(cluster=False, address=db.get_address()[0])
    client.put_tensor("kept", np.array([1, 2, 3]))
    exp.stop(db)  # SIGTERM: a final save because save points are configured
    assert os.path.isfile(os.path.join(db.path, "orchestrator_0", "dump.rdb"))
    exp.start(db)
    client = Client(cluster=False, address=db.get_address()[0])
    assert client.get_tensor("kept").tolist() == [1, 2, 3]
    with miniresp.connect("127.0.0.1", port) as conn:  # the setting survives the restart
        assert conn.call("CONFIG", "GET", "save")[1] == b"60 1"
    exp.stop(db)
    assert exp.get_status(db) == [SmartSimStatus.STATUS_CANCELLED]
    assert [r["RunID"] for r in exp.summary_data()] == [0, 1]
    db.remove_stale_files()
    assert not os.path.exists(os.path.join(db.path, "orchestrator_0", "dump.rdb"))


def test_port_in_use_is_named(exp, port):
    holder = socket.socket()
    holder.bind(("127.0.0.1", port))
    holder.listen(1)
    try:
        db = exp.create_database(port=port)
        with pytest.raises(SmartSimError) as err:
            exp.start(db)
        text = str(err.value)
        assert f"port {port}" in text and "already in use" in text
        assert "python" in text.lower() or f"pid {os.getpid()}" in text
        assert exp.get_status(db) == [SmartSimStatus.STATUS_NEVER_STARTED]
    finally:
        holder.close()


def test_cluster_bus_port_in_use(exp):
    base = free_ports(3, cluster=True)
    holder = socket.socket()
    holder.bind(("127.0.0.1", base + 1 + 10000))
    holder.listen(1)
    try:
        db = exp.create_database(port=base, db_nodes=3)
        with pytest.raises(SmartSimError, match=f"port {base + 10001}"):
            exp.start(db)
    finally:
        holder.close()


def test_password(exp, port):
    db = exp.create_database(port=port, password="s3cret-pw")
    exp.start(db)
    assert db.is_active()
    ok, why = miniresp.probe("127.0.0.1", port)
    assert not ok and "NOAUTH" in why
    conf = os.path.join(db.path, "orchestrator_0", "redis.conf")
    assert oct(os.stat(conf).st_mode & 0o777) == "0o600"
    assert all("s3cret" not in arg for arg in db.entities[0].run_settings.exe_args)
    import psutil

    for proc in psutil.Process().children(recursive=True):
        assert "s3cret" not in " ".join(proc.cmdline())
    os.environ["SSDB_PASSWORD"] = "s3cret-pw"
    try:
        client = Client(cluster=False, address=db.get_address()[0])
        client.put_tensor("p", np.ones(2))
        assert client.get_tensor("p").tolist() == [1.0, 1.0]
    finally:
        del os.environ["SSDB_PASSWORD"]
    exp.stop(db)


def test_checkpoint_from_newer_redis_is_reported(exp, port):
    from smartsim._core.server.config import max_rdb_version

    db = exp.create_database(port=port)
    newest = max_rdb_version(db.redis_server.version)
    shard_dir = os.path.join(db.path, "orchestrator_0")
    os.makedirs(shard_dir)
    with open(os.path.join(shard_dir, "dump.rdb"), "wb") as handle:
        handle.write(b"REDIS%04d" % (newest + 1))
    with pytest.raises(SSConfigError, match="newer Redis"):
        exp.start(db)
    assert exp.get_status(db) == [SmartSimStatus.STATUS_NEVER_STARTED]


def test_shard_that_dies_at_start_is_reported(exp, port):
    db = exp.create_database(port=port)
    shard_dir = os.path.join(db.path, "orchestrator_0")
    os.makedirs(shard_dir)
    with open(os.path.join(shard_dir, "dump.rdb"), "wb") as handle:
        handle.write(b"REDIS0009garbage-not-an-rdb")
    with pytest.raises(SmartSimError, match="orchestrator_0 exited"):
        exp.start(db)
    assert exp.get_status(db) == [SmartSimStatus.STATUS_FAILED]
    assert not listening(port)


@pytest.mark.parametrize("version", sorted(redis_binaries()))
def test_supported_server_versions(exp, port, monkeypatch, version):
    monkeypatch.setenv("SMARTSIM_REDIS_SERVER", redis_binaries()[version])
    db = exp.create_database(port=port)
    assert db.redis_server.version_str.startswith(version)
    exp.start(db)
    client = Client(cluster=False, address=db.get_address()[0])
    client.put_tensor("v", np.zeros(3))
    assert client.get_tensor("v").shape == (3,)
    exp.stop(db)


def test_direct_orchestrator_and_generate(exp, port):
    db = Orchestrator(port=port, db_identifier="direct")
    exp.generate(db)
    assert db.path == os.path.join(exp.exp_path, "direct")
    exp.start(db)
    assert db.get_address() == [f"127.0.0.1:{port}"]
    exp.stop(db)
    assert [e.name for e in db] == ["direct_0"]
