"""The executor's side of ``aimodule/PROTOCOL.md``: a Redis connection and job messages.

The connection is a plain socket (Unix or TCP) with a hiredis reader; commands are
RESP-encoded here so that a model output crosses as a memoryview without being copied
into an intermediate buffer. Replies to ``AI._EXEC.DONE``/``ERR`` are read lazily
(pipelined) so an answer and the next ``PULL`` go out in one write.
"""
from __future__ import annotations

import socket
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Deque, List, Optional, Sequence, Tuple

import hiredis

__all__ = [
    "Connection",
    "ConnectionLost",
    "Job",
    "ReplyError",
    "pack_command",
    "parse_job",
]

ReplyError = hiredis.ReplyError

# Pieces shorter than this are joined into one buffer before sending; longer ones are
# sent as they are (no copy).
_JOIN_BELOW = 16 * 1024
# Bytes read from the socket per system call (one preallocated buffer).
_RECV_SIZE = 1 << 20
# Buffers per sendmsg call (Linux IOV_MAX is 1024).
_IOV_MAX = 512


class ConnectionLost(ConnectionError):
    """The Redis server closed the connection or cannot be reached."""


def _as_bytes(arg) -> Any:
    if isinstance(arg, (bytes, bytearray, memoryview)):
        return arg
    if isinstance(arg, str):
        return arg.encode()
    if isinstance(arg, int):
        return b"%d" % arg
    if isinstance(arg, float):
        return repr(arg).encode()
    raise TypeError(f"cannot send {type(arg).__name__} to redis")


def pack_command(args: Sequence[Any], out: List[Any]) -> None:
    """Append the RESP encoding of ``args`` to ``out`` (a list of buffers).

    Arguments of ``_JOIN_BELOW`` bytes or more are appended as they are (no copy).
    """
    head = [b"*%d\r\n" % len(args)]
    append = head.append
    for arg in args:
        t = type(arg)
        if t is str:
            arg = arg.encode()
        elif t is int:
            arg = b"%d" % arg
        elif t is not bytes:
            arg = _as_bytes(arg)
            if type(arg) is memoryview:
                if arg.nbytes >= _JOIN_BELOW:
                    append(b"$%d\r\n" % arg.nbytes)
                    out.append(b"".join(head))
                    out.append(arg)
                    head = [b"\r\n"]
                    append = head.append
                    continue
                arg = arg.tobytes()
        n = len(arg)
        if n >= _JOIN_BELOW:
            append(b"$%d\r\n" % n)
            out.append(b"".join(head))
            out.append(arg)
            head = [b"\r\n"]
            append = head.append
        else:
            append(b"$%d\r\n%s\r\n" % (n, arg))
    out.append(b"".join(head))


class Connection:
    """One Redis connection: ``command()`` for request/reply, ``send()`` for pipelining."""

    def __init__(
        self,
        socket_path: Optional[str] = None,
        host: str = "127.0.0.1",
        port: int = 6379,
        password: Optional[str] = None,
        username: Optional[str] = None,
        connect_timeout: float = 5.0,
    ):
        self.socket_path = socket_path
        self.host = host
        self.port = port
        self.password = password
        self.username = username
        self.connect_timeout = connect_timeout
        self._sock: Optional[socket.socket] = None
        self._reader = hiredis.Reader()
        self._buf = bytearray(_RECV_SIZE)
        self._out: List[Any] = []
        # One entry per reply still to be read: a tag the caller chose (or None).
        self.pending: Deque[Any] = deque()
        # Replies of pipelined commands that were read while waiting for another
        # reply; the worker looks at them (a refused DONE becomes an ERR).
        self.deferred: List[Tuple[Any, Any]] = []

    # -- connection ---------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"unix:{self.socket_path}" if self.socket_path else f"{self.host}:{self.port}"

    def connect(self) -> None:
        self.close()
        try:
            if self.socket_path:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.connect_timeout)
                sock.connect(self.socket_path)
            else:
                sock = socket.create_connection((self.host, self.port), self.connect_timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(None)
        except OSError as exc:
            raise ConnectionLost(f"cannot connect to redis at {self.address}: {exc}") from exc
        self._sock = sock
        self._reader = hiredis.Reader()
        self._out = []
        self.pending.clear()
        if self.password:
            args = ["AUTH", self.username, self.password] if self.username else [
                "AUTH", self.password]
            reply = self.command(*args)
            if isinstance(reply, ReplyError):
                self.close()
                raise ConnectionLost(f"AUTH failed at {self.address}: {reply}")

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
        self._out = []
        self.pending.clear()
        self.deferred = []

    @property
    def connected(self) -> bool:
        return self._sock is not None

    # -- writing ------------------------------------------------------------------
    def queue(self, *args, tag: Any = None) -> None:
        """Encode a command into the output buffer; its reply is expected later."""
        pack_command(args, self._out)
        self.pending.append(tag)

    def queue_encoded(self, command: bytes, tag: Any = None) -> None:
        """Queue a command already RESP-encoded (by :func:`pack_command`)."""
        self._out.append(command)
        self.pending.append(tag)

    def flush(self) -> None:
        out, self._out = self._out, []
        if not out or self._sock is None:
            if self._sock is None and out:
                raise ConnectionLost(f"not connected to {self.address}")
            return
        try:
            if len(out) == 1:
                self._sock.sendall(out[0])
            elif len(out) == 2 and type(out[0]) is bytes and type(out[1]) is bytes:
                self._sock.sendall(out[0] + out[1])  # e.g. a DONE and the next PULL
            else:
                # sendmsg writes the pieces in one system call when they fit.
                for i in range(0, len(out), _IOV_MAX):
                    part = out[i:i + _IOV_MAX]
                    total = sum(b.nbytes if type(b) is memoryview else len(b) for b in part)
                    sent = self._sock.sendmsg(part)
                    if sent < total:
                        self._send_rest(part, sent)
        except OSError as exc:
            self.close()
            raise ConnectionLost(f"lost connection to redis at {self.address}: {exc}") from exc

    def _send_rest(self, out, sent: int) -> None:
        sock = self._sock
        if sock is None:
            raise ConnectionLost(f"not connected to {self.address}")
        for buf in out:
            n = buf.nbytes if isinstance(buf, memoryview) else len(buf)
            if sent >= n:
                sent -= n
                continue
            mv = memoryview(buf)
            if mv.ndim != 1 or mv.itemsize != 1:
                mv = mv.cast("B")
            sock.sendall(mv[sent:])
            sent = 0

    # -- reading ------------------------------------------------------------------
    def read_reply(self) -> Any:
        """Read one reply (errors are returned as :class:`ReplyError`, not raised)."""
        reader = self._reader
        reply = reader.gets()
        while reply is False:
            sock = self._sock
            if sock is None:
                raise ConnectionLost(f"not connected to {self.address}")
            try:
                n = sock.recv_into(self._buf)
            except OSError as exc:
                self.close()
                raise ConnectionLost(f"lost connection to redis at {self.address}: {exc}") from exc
            if not n:
                self.close()
                raise ConnectionLost(f"redis at {self.address} closed the connection")
            reader.feed(self._buf, 0, n)  # type: ignore[arg-type]  # hiredis takes any buffer; its stub says bytes
            reply = reader.gets()
        return reply

    def drain(self) -> List[Tuple[Any, Any]]:
        """Read the replies of every queued command: ``[(tag, reply), ...]``."""
        self.flush()
        done = []
        while self.pending:
            tag = self.pending[0]
            reply = self.read_reply()
            self.pending.popleft()
            done.append((tag, reply))
        return done

    def command(self, *args) -> Any:
        """Send one command and return its reply (after any pipelined replies)."""
        earlier = self.drain() if self.pending else []
        if earlier:
            self.deferred.extend(earlier)
        self.queue(*args)
        self.flush()
        reply = self.read_reply()
        self.pending.popleft()
        return reply


@dataclass
class Job:
    """One job as ``AI._EXEC.PULL`` hands it out."""

    job_id: int
    kind: str  # MODEL | SCRIPT | LOAD
    key: bytes
    version: int
    fn_name: str
    inputs: List[Tuple[str, Tuple[int, ...], bytes]]
    n_outputs: int
    args: List[bytes] = field(default_factory=list)
    keys: List[bytes] = field(default_factory=list)
    batchsize: int = 0
    minbatchsize: int = 0
    minbatchtimeout: int = 0
    # How long the module had the job queued before the PULL (us; 0 from modules that do
    # not send the 13th field).
    waited_us: int = 0
    # Set by the worker: monotonic time the module queued the job (the time of the pull
    # when the module does not say how long the job waited).
    pulled_at: float = 0.0

    @property
    def samples(self) -> int:
        """Dim 0 of the first input (0 when there is none)."""
        if not self.inputs or not self.inputs[0][1]:
            return 0
        return self.inputs[0][1][0]

    @property
    def key_str(self) -> str:
        return self.key.decode("utf-8", "replace")


def _text(value) -> str:
    if type(value) is bytes:
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


# Job kinds and tensor types as the module sends them -> their names here.
_NAMES = {n.encode(): n for n in (
    "MODEL", "SCRIPT", "LOAD", "FLOAT", "DOUBLE", "INT8", "INT16", "INT32", "INT64", "UINT8",
    "UINT16", "BOOL", "STRING")}


def parse_job(raw: Sequence[Any]) -> Job:
    """Turn one element of a PULL reply into a :class:`Job`."""
    n = len(raw)
    if n < 7:
        raise ValueError(f"malformed job from the module: {raw!r:.200}")
    inputs = [(_NAMES.get(t[0]) or _text(t[0]).upper(), tuple(t[1]), t[2])
              for t in raw[5] or ()]
    key = raw[2]
    return Job(
        int(raw[0]),
        _NAMES.get(raw[1]) or _text(raw[1]).upper(),
        key if type(key) is bytes else str(key).encode(),
        int(raw[3]),
        _text(raw[4]),
        inputs,
        int(raw[6]),
        list(raw[7]) if n > 7 and raw[7] else [],
        list(raw[8]) if n > 8 and raw[8] else [],
        int(raw[9] or 0) if n > 9 else 0,
        int(raw[10] or 0) if n > 10 else 0,
        int(raw[11] or 0) if n > 11 else 0,
        max(0, int(raw[12] or 0)) if n > 12 else 0,
    )
