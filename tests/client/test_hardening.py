"""Client hardening (issue 16, items 2, 4 and the tensor part of 7), against real servers.

* Address-targeted commands (flush_db, config_get/set, save, get_db_node_info,
  get_db_cluster_info, get_ai_info) run only on a server the client is connected to, as
  SmartRedis 0.6.1 does (``RedisRuntimeError``, its wording).
* rename_tensor is not undone by a lost reply: the RENAME is not re-sent blindly.
* A 0-d array is refused before anything is sent (SmartRedis 0.6.1 refuses it too); a 0-d
  tensor already in the database and a 64-dimension tensor round-trip exactly.
"""
from __future__ import annotations

import select
import socket
import threading

import numpy as np
import pytest

from smartsim.client import Client, Dataset, RedisRuntimeError


_STANDALONE_TEXT = ("The provided address does not match the address used to initialize the "
                    "non-cluster client connection")
_CLUSTER_TEXT = "The provided address does not match a cluster shard address"


@pytest.fixture
def other_server(server_factory, tmp_path):
    """A plain redis-server (no module) the client is not connected to, holding a key."""
    s = server_factory(module=None, workdir=tmp_path / "other")
    s.client().set("precious", b"data")
    return s


def _standalone_client(clean_env, server, address=None) -> Client:
    clean_env.setenv("SSDB", address or f"127.0.0.1:{server.port}")
    clean_env.setenv("SR_DB_TYPE", "Standalone")
    return Client(None)


def _refused_everywhere(c: Client, addr: str, text: str) -> None:
    calls = [
        lambda: c.flush_db([addr]),
        lambda: c.config_set("maxmemory", "12345", addr),
        lambda: c.config_get("maxmemory", addr),
        lambda: c.save([addr]),
        lambda: c.get_db_node_info([addr]),
        lambda: c.get_ai_info([addr], "m"),
    ]
    if c._cluster:
        calls.append(lambda: c.get_db_cluster_info([addr]))
    for call in calls:
        with pytest.raises(RedisRuntimeError, match=text) as ei:
            call()
        assert f"Received: {addr}" in str(ei.value)


def test_standalone_address_commands_refuse_another_server(standalone, other_server,
                                                           clean_env):
    other = f"127.0.0.1:{other_server.port}"
    before = other_server.client().config_get("maxmemory")["maxmemory"]
    c = _standalone_client(clean_env, standalone)
    try:
        _refused_everywhere(c, other, _STANDALONE_TEXT)
        raw = other_server.client()
        assert raw.get("precious") == b"data"  # not flushed
        assert raw.config_get("maxmemory")["maxmemory"] == before  # not reconfigured
        # its own server, under either loopback name, is still served
        assert c.config_get("maxmemory-policy", f"localhost:{standalone.port}")
        c.flush_db([f"127.0.0.1:{standalone.port}"])
    finally:
        c.close()


def test_cluster_address_commands_refuse_a_non_shard_with_smartredis_text(cluster, other_server,
                                                                          clean_env):
    clean_env.setenv("SSDB", cluster.address)
    clean_env.setenv("SR_DB_TYPE", "Clustered")
    c = Client(None)
    try:
        _refused_everywhere(c, f"127.0.0.1:{other_server.port}", _CLUSTER_TEXT)
        assert other_server.client().get("precious") == b"data"
    finally:
        c.close()


class _ReplyDropper:
    """A TCP proxy in front of a server. Armed, it forwards the next command containing
    ``word``, swallows the server's reply to it and closes the client's connection: the
    command ran, the client never hears so. Connections after that are relayed plainly."""

    def __init__(self, port: int, word: bytes) -> None:
        self.upstream = ("127.0.0.1", port)
        self.word = word
        self.armed = False
        self.dropped = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        server = socket.create_connection(self.upstream)
        swallow = False
        try:
            while True:
                ready, _, _ = select.select([client, server], [], [], 30)
                if not ready:
                    return
                if client in ready:
                    data = client.recv(65536)
                    if not data:
                        return
                    if self.armed and self.word in data:
                        self.armed, swallow = False, True
                    server.sendall(data)
                if server in ready:
                    data = server.recv(65536)
                    if not data:
                        return
                    if swallow:  # the reply is lost with the connection
                        self.dropped += 1
                        return
                    client.sendall(data)
        finally:
            client.close()
            server.close()

    def close(self) -> None:
        self.stopping = True
        self.listener.close()


def test_rename_tensor_survives_a_lost_reply(standalone, clean_env):
    proxy = _ReplyDropper(standalone.port, b"RENAME")
    c = _standalone_client(clean_env, standalone, f"127.0.0.1:{proxy.port}")
    try:
        standalone.client().flushall()
        x = np.arange(6, dtype=np.float64).reshape(2, 3)
        c.put_tensor("old", x)
        proxy.armed = True
        c.rename_tensor("old", "new")  # ran on the server; its reply never came
        assert proxy.dropped == 1
        np.testing.assert_array_equal(c.get_tensor("new"), x)
        assert not c.tensor_exists("old")
        # a rename that really fails still says so after a lost reply
        from smartsim.client import RedisKeyError

        proxy.armed = True
        with pytest.raises(RedisKeyError, match="missing"):
            c.rename_tensor("missing", "elsewhere")
        assert proxy.dropped == 2
    finally:
        c.close()
        proxy.close()


def test_0d_array_is_refused_before_sending(standalone, clean_env):
    c = _standalone_client(clean_env, standalone)
    raw = standalone.client()
    raw.flushall()
    scalar = np.array(np.float32(3))
    text = r"at least one dimension.*'s' is a 0-d array \(shape \(\)\).*1 to 64 dimensions"
    try:
        with pytest.raises(RedisRuntimeError, match=text):
            c.put_tensor("s", scalar)
        with pytest.raises(RedisRuntimeError, match=text):
            c.put_tensors({"fine": np.ones(2), "s": scalar})
        ds = Dataset("d")
        with pytest.raises(RedisRuntimeError, match=text):
            ds.add_tensor("s", scalar)
        assert raw.keys() == []  # nothing was sent
    finally:
        c.close()


def test_0d_tensor_in_the_database_round_trips_exactly(standalone, clean_env):
    # RedisAI stores scalars (no dims); one written by another client keeps its shape ()
    # when read and when copied, instead of becoming shape (1,)
    c = _standalone_client(clean_env, standalone)
    raw = standalone.client()
    raw.flushall()
    raw.execute_command("AI.TENSORSET", "s", "FLOAT", "BLOB", np.float32(2.5).tobytes())
    try:
        got = c.get_tensor("s")
        assert got.shape == () and got.dtype == np.float32 and got == np.float32(2.5)
        c.copy_tensor("s", "s2")
        assert raw.execute_command("AI.TENSORGET", "s2", "META")[3] == []
        assert c.get_tensor("s2").shape == ()
    finally:
        c.close()


def test_64_dimension_tensor_round_trips(client):
    x = np.arange(4, dtype=np.int16).reshape((1,) * 62 + (2, 2))
    assert x.ndim == 64
    client.put_tensor("hi", x)
    got = client.get_tensor("hi")
    assert got.shape == x.shape
    np.testing.assert_array_equal(got, x)
    ds = Dataset("d")
    ds.add_tensor("hi", x)
    client.put_dataset(ds)
    assert client.get_dataset("d").get_tensor("hi").shape == x.shape
