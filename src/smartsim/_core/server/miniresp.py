"""A tiny blocking RESP client for server management: readiness probes, cluster bootstrap,
``CONFIG SET``, ``INFO``.

Standard library only and no package-relative imports: the colocated wrapper
(``colocated.py``, run with ``python -I -S``) imports it by path, and the driver uses it
instead of redis-py so that starting a database imports nothing heavy.
"""
import socket
import time
import typing as t

__all__ = ["Conn", "ReplyError", "probe", "connect"]


class ReplyError(Exception):
    """An error reply (``-ERR ...``) from the server."""


class Conn:
    """One connection: ``call(*args)`` sends a command and returns its decoded reply
    (``str`` for simple strings, ``bytes`` for bulk strings, ``int``, ``list``, ``None``);
    an error reply is returned as a ``ReplyError`` instance (``raise_errors`` raises it)."""

    __slots__ = ("sock", "buf", "address")

    def __init__(self, sock: socket.socket, address: str) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.address = address

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "Conn":
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.close()

    @staticmethod
    def encode(args: t.Sequence[t.Any]) -> bytes:
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            if isinstance(arg, bytes):
                data = arg
            elif isinstance(arg, str):
                data = arg.encode()
            else:
                data = str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        return b"".join(out)

    def send(self, *commands: t.Sequence[t.Any]) -> None:
        self.sock.sendall(b"".join(self.encode(c) for c in commands))

    def call(self, *args: t.Any, raise_errors: bool = False) -> t.Any:
        self.send(args)
        reply = self.read()
        if raise_errors and isinstance(reply, ReplyError):
            raise reply
        return reply

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError(f"connection to {self.address} closed by the server")
        self.buf += data

    def _line(self) -> bytes:
        while True:
            idx = self.buf.find(b"\r\n")
            if idx >= 0:
                line = bytes(self.buf[:idx])
                del self.buf[:idx + 2]
                return line
            self._fill()

    def read(self) -> t.Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return ReplyError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data = bytes(self.buf[:n])
            del self.buf[:n + 2]
            return data
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read() for _ in range(n)]
        raise ConnectionError(f"unexpected reply from {self.address}: {line[:80]!r}")


def connect(host: t.Optional[str] = None, port: int = 0, unix_socket: t.Optional[str] = None,
            password: t.Optional[str] = None, timeout: float = 5.0) -> Conn:
    """Open a connection (and ``AUTH`` when a password is given). Raises ``OSError`` when
    nothing listens, ``ReplyError`` when AUTH is refused."""
    if unix_socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address = f"unix://{unix_socket}"
        target: t.Any = unix_socket
    else:
        family = socket.AF_INET6 if host and ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        address = f"{host}:{port}"
        target = (host or "127.0.0.1", port)
    sock.settimeout(timeout)
    try:
        sock.connect(target)
        if not unix_socket:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        sock.close()
        raise
    conn = Conn(sock, address)
    if password:
        try:
            conn.call("AUTH", password, raise_errors=True)
        except BaseException:
            conn.close()
            raise
    return conn


def probe(host: t.Optional[str] = None, port: int = 0, unix_socket: t.Optional[str] = None,
          password: t.Optional[str] = None, timeout: float = 1.0) -> t.Tuple[bool, str]:
    """``(ready, why_not)``: ready when the server answers ``PING`` with ``PONG``. A server
    still loading its dataset answers ``-LOADING``: not ready yet."""
    try:
        with connect(host, port, unix_socket, password, timeout) as conn:
            reply = conn.call("PING")
    except ReplyError as exc:
        return False, f"AUTH refused: {exc}"
    except OSError as exc:
        return False, str(exc) or type(exc).__name__
    if reply == "PONG":
        return True, ""
    return False, str(reply)


def server_pid(host: t.Optional[str] = None, port: int = 0, unix_socket: t.Optional[str] = None,
               password: t.Optional[str] = None, timeout: float = 1.0) -> t.Optional[int]:
    """``process_id`` (``INFO server``) of the server answering at that address: tells the
    server we started from another one that took its port first. None when unreadable."""
    try:
        with connect(host, port, unix_socket, password, timeout) as conn:
            reply = conn.call("INFO", "server")
    except (OSError, ReplyError):
        return None
    if not isinstance(reply, bytes):
        return None
    for line in reply.split(b"\r\n"):
        if line.startswith(b"process_id:"):
            try:
                return int(line[len(b"process_id:"):])
            except ValueError:
                return None
    return None


def executor_registered(host: t.Optional[str] = None, port: int = 0, unix_socket: t.Optional[str] = None,
                        password: t.Optional[str] = None) -> bool:
    """True when an executor has registered with the server's module (with the right
    secret: the module counts registered executors in ``INFO ai_executors``)."""
    try:
        with connect(host, port, unix_socket, password, timeout=1.0) as conn:
            reply = conn.call("INFO", "ai_executors")
    except (OSError, ReplyError):
        return False
    if not isinstance(reply, bytes):
        return False
    for line in reply.split(b"\r\n"):
        if line.startswith(b"ai_executors:"):
            return line[len(b"ai_executors:"):].strip() not in (b"", b"0")
    return False


def wait_until(check: t.Callable[[], bool], timeout: float, first: float = 0.002,
               most: float = 0.05) -> bool:
    """Call ``check`` until it returns True, sleeping ``first`` seconds, doubling up to
    ``most``; False once ``timeout`` has passed."""
    deadline = time.monotonic() + timeout
    delay = first
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, most)
