"""Connections to the database: one standalone server or the primaries of a Redis Cluster.

``DBConnection`` owns one socket per server, routes keys to shards (CRC16 hash slots, as
Redis Cluster does), and runs batches of commands: one pipeline per shard, all shards
driven at once by :func:`_fastpath.resp.exchange` with the GIL released.

Failure policy:

* connecting at start-up retries for ``SR_CONN_TIMEOUT`` seconds every ``SR_CONN_INTERVAL``
  ms (a client may start before its database);
* a connection lost later is re-opened once; a refused re-connect is reported at once as
  ``RedisConnectionError`` (the server is gone; nothing to wait for);
* a batch is re-sent after a reconnect only when every command in it is idempotent;
  ``RPUSH``, ``MODELEXECUTE``, ``SCRIPTRUN``, ``RENAME`` ... are never re-sent blindly
  (``rename_tensor`` settles a lost reply with an atomic check instead);
* no reply within ``SR_CMD_TIMEOUT`` seconds is ``RedisTimeoutError``; the connection is
  dropped (a late reply must not be read as the answer to the next command), nothing is
  re-sent.
"""
from __future__ import annotations

import bisect
import os
import socket
import time
import typing as t

from _fastpath import crc16 as _crc16
from _fastpath import resp as _resp

from .config import ConfigCore
from .errors import RedisConnectionError, RedisReplyError, RedisRuntimeError, RedisTimeoutError
from .logger import LLInfo, log_warning

if t.TYPE_CHECKING:
    import numpy as np

__all__ = ["DBConnection", "Node", "parse_address", "parse_target", "check_ssdb"]

Frames = _resp.Frames
RespError = _resp.RespError


def parse_address(spec: str) -> t.Tuple[str, int, str]:
    """``host:port`` -> (host, port, ""); ``unix://path`` -> ("", 0, path)."""
    spec = spec.strip()
    if spec.startswith("unix://"):
        return "", 0, spec[len("unix://"):]
    if spec.startswith("tcp://"):
        spec = spec[len("tcp://"):]
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit():
        raise RedisConnectionError(f"Invalid database address {spec!r}: expected host:port "
                                   "or unix://path")
    host = host.strip("[]")
    return host, int(port), ""


_SSDB_SPECIALS = frozenset(".:,/_-")


def check_ssdb(spec: str) -> None:
    """SmartRedis 0.6.1's check of an ``SSDB`` value (``RedisServer::_check_ssdb_string``):
    ASCII letters, digits and ``.:,/_-`` only.  Anything else (``;``, spaces, ...) is refused
    at once instead of being retried for ``SR_CONN_TIMEOUT``."""
    for ch in spec:
        if not (ch in _SSDB_SPECIALS or ch.isascii() and ch.isalnum()):
            raise RedisConnectionError(
                f"The provided SSDB value, {spec} is invalid because of character {ch}")


def _stoul_prefix(text: str) -> int:
    """C++ ``std::stoul(text, nullptr, 0)``: leading blanks, optional sign, base from the
    prefix (0x hex, 0 octal, else decimal), the longest run of digits; ``ValueError`` when
    there are none."""
    s = text.lstrip(" \t\n\v\f\r")
    neg = s[:1] == "-"
    if s[:1] in "+-" and s:
        s = s[1:]
    base, digits = 10, "0123456789"
    if s[:2].lower() == "0x" and len(s) > 2 and s[2].lower() in "0123456789abcdef":
        base, digits, s = 16, "0123456789abcdef", s[2:]
    elif s[:1] == "0":
        base, digits = 8, "01234567"
    n = 0
    while n < len(s) and s[n].lower() in digits:
        n += 1
    if n == 0:
        raise ValueError(text)
    value = int(s[:n], base)
    if value >= 1 << 64:
        raise ValueError(text)
    return ((1 << 64) - value if neg and value else value) & 0xFFFF


def parse_target(address: str) -> t.Tuple[str, int, str]:
    """An address given to an address-targeted command, read as SmartRedis 0.6.1 reads it
    (``SRAddress``): ``unix://path``, or ``[tcp://]host:port`` split at the first ``:`` with
    the port read like ``std::stoul`` into 16 bits -- so ``"h1:p1,h2:p2"`` (an ``SSDB``
    value) is ``h1:p1``.  A malformed one is ``RedisRuntimeError``."""
    if address.startswith("unix://"):
        return "", 0, address[len("unix://"):]
    spec = address[len("tcp://"):] if address.startswith("tcp://") else address
    colon = spec.find(":")
    if colon <= 0 or colon >= len(spec) - 1:
        raise RedisRuntimeError(f"{spec} is not a valid database node address.")
    try:
        port = _stoul_prefix(spec[colon + 1:])
    except ValueError:
        raise RedisRuntimeError(f"{spec} is not a valid database node address: no port "
                                "number after the ':'") from None
    return spec[:colon], port, ""


class Node:
    """One database server (a standalone server or a cluster primary)."""

    __slots__ = ("address", "host", "port", "path", "conn", "ever_connected")

    def __init__(self, address: str) -> None:
        self.address = address
        self.host, self.port, self.path = parse_address(address)
        self.conn: t.Optional[_resp.Conn] = None
        self.ever_connected = False

    def __repr__(self) -> str:
        return f"Node({self.address})"


class Range:
    """A contiguous slot range of a cluster primary with its SmartRedis shard tag."""

    __slots__ = ("lo", "hi", "node", "tag")

    def __init__(self, lo: int, hi: int, node: Node) -> None:
        self.lo, self.hi, self.node = lo, hi, node
        self.tag = _crc16.shard_tag(lo)

    def key(self, key: bytes) -> bytes:
        """``{tag}.key``: a key stored on this shard."""
        return b"{" + self.tag + b"}." + key


class DBConnection:
    """Standalone or clustered database access with SmartRedis's connection settings."""

    def __init__(self, cfg: ConfigCore, cluster: bool, log_context: str = "Default") -> None:
        self.cluster = cluster
        self.log_context = log_context  # the client's logger_name: SmartRedis's log context
        self.conn_timeout = float(cfg._resolve_int("SR_CONN_TIMEOUT", 100))
        self.conn_interval = cfg._resolve_int("SR_CONN_INTERVAL", 1000) / 1000.0
        self.cmd_timeout = float(cfg._resolve_int("SR_CMD_TIMEOUT", 100))
        self.cmd_interval = cfg._resolve_int("SR_CMD_INTERVAL", 1000) / 1000.0
        self.socket_timeout = cfg._resolve_int("SR_SOCKET_TIMEOUT", 250) / 1000.0
        self.thread_count = cfg._resolve_int("SR_THREAD_COUNT", 4)
        self.model_timeout_ms = cfg._resolve_int("SR_MODEL_TIMEOUT", 60 * 1000 * 1000)
        for name, value in (("SR_CONN_TIMEOUT", self.conn_timeout),
                            ("SR_CMD_TIMEOUT", self.cmd_timeout)):
            if value < 0:
                raise RedisRuntimeError(f"{name} must be non-negative, not {value:g}")
        # SSDB_PASSWORD (suffixed like SSDB): set by the Orchestrator for a password-protected DB
        self.password = cfg._resolve_string("SSDB_PASSWORD", "")
        spec = cfg._resolve_string("SSDB", "")
        if not spec.strip():
            raise RedisConnectionError(
                "Could not connect to database: the environment variable "
                f"{cfg._name('SSDB')} is not set")
        check_ssdb(spec)
        self.spec = spec
        addresses = [a for a in spec.split(",") if a]
        if not addresses:
            raise RedisConnectionError(f"Could not connect to database: no address in "
                                       f"{cfg._name('SSDB')}={spec!r}")
        self.nodes: t.List[Node] = []
        self.ranges: t.List[Range] = []
        self._lows: t.List[int] = []
        self.model_chunk_size: t.Optional[int] = None
        if cluster:
            for a in addresses:
                if a.startswith("unix://"):
                    raise RedisConnectionError(
                        f"Unix socket addresses ({a}) are only supported for standalone "
                        "databases; set SR_DB_TYPE=Standalone")
            self._connect_cluster([Node(a) for a in addresses])
        else:
            node = Node(addresses[os.getpid() % len(addresses)])
            self.nodes = [node]
            self._connect(node, initial=True)

    # ------------------------------------------------------------------ connecting
    def _open(self, node: Node) -> _resp.Conn:
        timeout = max(self.socket_timeout, 1.0)
        if node.path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(node.path)
            except OSError:
                sock.close()
                raise
        else:
            sock = socket.create_connection((node.host, node.port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.password:
            _auth(sock, self.password, node.address)
        return _resp.Conn(sock, node.address)

    def _connect(self, node: Node, initial: bool = False) -> _resp.Conn:
        """Open ``node``'s connection. At start-up: retry until SR_CONN_TIMEOUT; later: one
        attempt (a server that refuses has gone away)."""
        deadline = time.monotonic() + (self.conn_timeout if initial else 0.0)
        last: t.Optional[BaseException] = None
        warned = False
        while True:
            try:
                node.conn = self._open(node)
                node.ever_connected = True
                return node.conn
            except OSError as exc:
                last = exc
            if time.monotonic() + self.conn_interval > deadline:
                break
            if not warned:
                # said once, when retrying starts: a client started before its database (or
                # pointed at the wrong port) must not wait SR_CONN_TIMEOUT in silence
                warned = True
                log_warning(self.log_context, LLInfo,
                            f"Could not connect to the database at {node.address} ({_os_text(last)}); "
                            f"retrying every {self.conn_interval:g} s for up to {self.conn_timeout:g} s "
                            "(SR_CONN_INTERVAL, SR_CONN_TIMEOUT)")
            time.sleep(self.conn_interval)
        what = "connect to" if initial else "reconnect to"
        raise RedisConnectionError(
            f"Could not {what} the database at {node.address}: {_os_text(last)}")

    def conn(self, node: Node) -> _resp.Conn:
        """The open connection to ``node``, (re)connecting first when it is closed."""
        c = node.conn
        if c is None or c.closed:
            c = self._connect(node, initial=not node.ever_connected)
        return c

    def _connect_cluster(self, seeds: t.List[Node]) -> None:
        errors = []
        for seed in seeds:
            try:
                self._connect(seed, initial=True)
                reply = self._raw(seed, ("CLUSTER", "SLOTS"))
            except RedisConnectionError as exc:
                errors.append(str(exc))
                continue
            if isinstance(reply, RespError):
                raise RedisConnectionError(
                    f"The database at {seed.address} is not a cluster ({reply}); "
                    "set SR_DB_TYPE=Standalone for a standalone database")
            self._map_slots(reply, seed)
            return
        raise RedisConnectionError("; ".join(errors) or "no cluster address")

    def _map_slots(self, reply: list, seed: Node) -> None:
        known = {n.address: n for n in self.nodes}
        known.setdefault(seed.address, seed)
        ranges = []
        for entry in reply:
            lo, hi, primary = int(entry[0]), int(entry[1]), entry[2]
            host = primary[0].decode() if primary[0] else seed.host
            addr = f"{host}:{int(primary[1])}"
            node = known.get(addr)
            if node is None:
                node = known[addr] = Node(addr)
            ranges.append(Range(lo, hi, node))
        if not ranges:
            raise RedisConnectionError(f"The cluster at {seed.address} has no slots assigned")
        ranges.sort(key=lambda r: r.lo)
        self.ranges = ranges
        self._lows = [r.lo for r in ranges]
        order = []
        for r in ranges:
            if r.node not in order:
                order.append(r.node)
        for n in known.values():
            if n not in order and n.conn is not None:
                n.conn.close()
        self.nodes = order
        self._slot_node: t.Optional[np.ndarray] = None  # built on the first batched call

    def refresh(self) -> None:
        """Re-read the cluster's slot map (after MOVED or a failover)."""
        if self.cluster:
            self._connect_cluster(list(self.nodes))

    def close(self) -> None:
        """Close the connection to every server."""
        for n in self.nodes:
            if n.conn is not None:
                n.conn.close()
                n.conn = None

    # ------------------------------------------------------------------ routing
    def range_for(self, key: bytes) -> Range:
        """The hash-slot range (and its shard) that holds ``key``."""
        slot = _crc16.slot(key)
        return self.ranges[bisect.bisect_right(self._lows, slot) - 1]

    def node_for(self, key: bytes) -> Node:
        """The server that holds ``key``: the only one when standalone, else by hash slot."""
        if not self.cluster:
            return self.nodes[0]
        slot = _crc16.slot(key)
        return self.ranges[bisect.bisect_right(self._lows, slot) - 1].node

    def group(self, keys: t.List[bytes]) -> t.List[t.Tuple[Node, t.List[int]]]:
        """Positions of ``keys`` grouped by the node that owns them (ascending within a
        group)."""
        if not self.cluster or len(self.nodes) == 1:
            return [(self.nodes[0], list(range(len(keys))))]
        import numpy as np

        table = self._slot_node
        if table is None:
            # node index of every hash slot, so grouping is one gather and one stable sort
            table = np.zeros(16384, dtype=np.intp)
            index = {n: i for i, n in enumerate(self.nodes)}
            for r in self.ranges:
                table[r.lo:r.hi + 1] = index[r.node]
            self._slot_node = table
        owner = table[_crc16.slots(keys)]
        order = np.argsort(owner, kind="stable")
        counts = np.bincount(owner, minlength=len(self.nodes)).tolist()
        out = []
        start = 0
        for k, cnt in enumerate(counts):
            if cnt:
                out.append((self.nodes[k], order[start:start + cnt].tolist()))
                start += cnt
        return out

    def node_by_address(self, address: str) -> t.Optional[Node]:
        """The server at ``address`` (``host:port`` or ``unix://path``), or ``None`` when this
        connection has none there.
        """
        return self.node_at(*parse_address(address))

    def node_at(self, host: str, port: int, path: str) -> t.Optional[Node]:
        """The server at ``host``:``port`` (or the Unix socket ``path``), or ``None``."""
        for n in self.nodes:
            if n.path and n.path == path:
                return n
            if not n.path and n.port == port and (
                    n.host == host or _same_host(n.host, host)):
                return n
        return None

    # ------------------------------------------------------------------ running commands
    def exchange(self, pairs: t.Sequence[t.Tuple[Node, "Frames"]], idempotent: bool = True,
                 what: str = "", timeout: t.Optional[float] = None) -> t.List[list]:
        """Run ``frames`` on each node (in parallel); one reply list per pair."""
        timeout = self.cmd_timeout if timeout is None else timeout
        attempt = 0
        while True:
            conns = [self.conn(node) for node, _ in pairs]
            try:
                return _resp.exchange(conns, [f for _, f in pairs], timeout)
            except _resp.ConnectionLost as exc:
                node = pairs[exc.index][0]
                if not idempotent:
                    raise RedisConnectionError(
                        f"Lost the connection to the database at {node.address} while "
                        f"{what or 'running a command'} ({exc}); the command was not re-sent "
                        "because it is not idempotent") from None
                if attempt >= 1:
                    raise RedisConnectionError(
                        f"Lost the connection to the database at {node.address} while "
                        f"{what or 'running a command'} ({exc})") from None
                attempt += 1
                self._reconnect_closed([n for n, _ in pairs], what)
            except (_resp.ReplyTimeout, _resp.ProtocolError) as exc:
                self._reply_failure(exc, pairs[exc.index][0], what, timeout)

    def exchange_pieces(self, nodes: t.Sequence[Node],
                        pieces: t.Callable[[], t.Iterator[t.List["Frames"]]],
                        what: str = "", timeout: t.Optional[float] = None) -> t.List[list]:
        """Like ``exchange`` for a large idempotent batch built piece by piece:
        ``pieces()`` yields, per piece, one Frames per node of ``nodes``; each piece goes on
        the wire as soon as it is encoded (``send_ahead``), so the servers work while the
        next one is encoded. Returns every reply per node, in the order sent."""
        timeout = self.cmd_timeout if timeout is None else timeout
        for attempt in (0, 1):
            conns = [self.conn(node) for node in nodes]
            try:
                for frames in pieces():
                    _resp.send_ahead(conns, frames)
                return _resp.exchange(conns, [_resp.Frames() for _ in nodes], timeout)
            except _resp.ConnectionLost as exc:
                if attempt:
                    raise RedisConnectionError(
                        f"Lost the connection to the database at {nodes[exc.index].address} "
                        f"while {what or 'running a command'} ({exc})") from None
                self._reconnect_closed(nodes, what)
            except (_resp.ReplyTimeout, _resp.ProtocolError) as exc:
                self._reply_failure(exc, nodes[exc.index], what, timeout)
            except BaseException:
                # e.g. Ctrl-C between pieces: replies are still due on these connections
                for c in conns:
                    c.abandon()
                raise
        raise AssertionError("unreachable")

    def _reconnect_closed(self, nodes: t.Iterable[Node], what: str) -> None:
        for n in nodes:
            if n.conn is not None and n.conn.closed:
                try:
                    self._connect(n)
                except RedisConnectionError as cexc:
                    raise RedisConnectionError(
                        f"Lost the connection to the database at {n.address} while "
                        f"{what or 'running a command'}: {cexc}") from None

    def _reply_failure(self, exc: Exception, node: Node, what: str, timeout: float) -> t.NoReturn:
        if isinstance(exc, _resp.ReplyTimeout):
            raise RedisTimeoutError(
                f"The database at {node.address} did not answer within {timeout:g} s while "
                f"{what or 'running a command'}; nothing was re-sent") from None
        raise RedisReplyError(
            f"Invalid reply from the database at {node.address} while "
            f"{what or 'running a command'}: {exc}") from None

    def run(self, node: Node, frames: "Frames", idempotent: bool = True, what: str = "",
            timeout: t.Optional[float] = None) -> list:
        """Send the commands ``frames`` to ``node`` and return its replies; re-sent after a
        reconnect only when ``idempotent``; ``what`` names the operation in errors.
        """
        return self.exchange([(node, frames)], idempotent, what, timeout)[0]

    def _raw(self, node: Node, args: t.Sequence[t.Any], idempotent: bool = True,
             what: str = "") -> t.Any:
        f = Frames()
        f.command_list(list(args))
        return self.run(node, f, idempotent, what)[0]

    def command(self, node: Node, *args: t.Any, idempotent: bool = True, what: str = "",
                kind: int = 0, timeout: t.Optional[float] = None) -> t.Any:
        """One command on ``node``; a MOVED reply refreshes the slot map and retries once."""
        f = Frames()
        f.command_list(list(args), kind=kind)
        reply = self.run(node, f, idempotent, what, timeout)[0]
        if self.cluster and isinstance(reply, RespError) and (
                reply.message.startswith(b"MOVED") or reply.message.startswith(b"ASK")):
            self.refresh()
            target = reply.message.split()[-1].decode()
            node2 = self.node_by_address(target) or node
            reply = self.run(node2, f, idempotent, what, timeout)[0]
        return reply

    def keyed(self, key: bytes, *args: t.Any, idempotent: bool = True, what: str = "",
              kind: int = 0) -> t.Any:
        """One command routed by ``key``."""
        return self.command(self.node_for(key), *args, idempotent=idempotent, what=what,
                            kind=kind)

    def describe(self) -> str:
        """A description of the connection: its kind and the address of every shard, as
        SmartRedis prints a client.
        """
        kind = "Clustered" if self.cluster else "Non-clustered"
        lines = [f"{kind} Redis connection:", "  Redis shards at:"]
        lines += [f"    {n.address}" for n in self.nodes]
        proto = "Unix Domain Socket" if self.nodes and self.nodes[0].path else "TCP"
        lines += [f"  Protocol: {proto}", "  Command parameters:",
                  f"    Timeout (s): {self.cmd_timeout:g}",
                  f"    Retry interval (ms): {self.cmd_interval * 1000:g}",
                  "  Connection parameters:",
                  f"    Timeout (s): {self.conn_timeout:g}",
                  f"    Retry interval (ms): {self.conn_interval * 1000:g}",
                  f"    Socket timeout (ms): {self.socket_timeout * 1000:g}"]
        return "\n".join(lines)


def _same_host(a: str, b: str) -> bool:
    local = {"localhost", "127.0.0.1", "::1"}
    return a in local and b in local


def _auth(sock: socket.socket, password: str, address: str) -> None:
    """``AUTH`` on a fresh socket (before it is wrapped); refused -> RedisConnectionError."""
    pw = password.encode()
    try:
        sock.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(pw), pw))
        reply = b""
        while not reply.endswith(b"\r\n"):
            part = sock.recv(512)
            if not part:
                break
            reply += part
    except OSError:
        sock.close()
        raise
    if not reply.startswith(b"+OK"):
        sock.close()
        raise RedisConnectionError(f"Could not authenticate to the database at {address}: "
                                   f"{reply.decode(errors='replace').strip() or 'connection closed'}")


def _os_text(exc: t.Optional[BaseException]) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, FileNotFoundError):
        return "no such socket file"
    return getattr(exc, "strerror", None) or str(exc)
