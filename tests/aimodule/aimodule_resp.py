"""A minimal RESP2 socket client returning raw reply bytes (for byte-exact checks)."""
import socket


class RawConn:
    """A plain socket speaking RESP2, returning replies as raw bytes (for byte-exact checks)."""

    def __init__(self, port, host="127.0.0.1", timeout=30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    @staticmethod
    def encode(*args) -> bytes:
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, (int, float)):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def send(self, *args):
        self.sock.sendall(self.encode(*args))

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("connection closed")
        self.buf += chunk

    def _line_end(self, pos):
        while True:
            i = self.buf.find(b"\r\n", pos)
            if i >= 0:
                return i
            self._fill()

    def _parse(self, pos):
        while len(self.buf) <= pos:
            self._fill()
        t = self.buf[pos:pos + 1]
        e = self._line_end(pos)
        if t in (b"+", b"-", b":", b",", b"_", b"#", b"("):
            return e + 2
        n = int(self.buf[pos + 1:e])
        if t in (b"$", b"=", b"!"):
            if n < 0:
                return e + 2
            end = e + 2 + n + 2
            while len(self.buf) < end:
                self._fill()
            return end
        if t in (b"*", b"~", b">", b"%", b"|"):
            if n < 0:
                return e + 2
            if t in (b"%", b"|"):
                n *= 2
            p = e + 2
            for _ in range(n):
                p = self._parse(p)
            return p
        raise ValueError(f"bad RESP type {t!r}")

    def read(self) -> bytes:
        end = self._parse(0)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def call(self, *args) -> bytes:
        self.send(*args)
        return self.read()

    def close(self):
        self.sock.close()
