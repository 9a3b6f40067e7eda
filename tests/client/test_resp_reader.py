"""The reply reader of ``_fastpath.resp`` (hiredis underneath) fed canned byte streams.

A real server never sends malformed or oddly fragmented replies on demand, so these tests
put a socketpair peer on the other side that answers with exact bytes, split the way a slow
network splits them.  Behaviour against real servers is covered by the other client tests.
"""
import socket
import threading
import time

import numpy as np
import pytest

from _fastpath import resp


def _serve(peer, chunks, delay, close):
    try:
        if close:
            peer.recv(65536)  # the request, so that closing cannot break the client's send
        for c in chunks:
            peer.sendall(c)
            if delay:
                time.sleep(delay)
        if close:
            peer.close()
    except OSError:
        pass


def _exchange(reply: bytes, frames: resp.Frames, split=None, delay=0.0, close=False,
              timeout=10.0):
    a, b = socket.socketpair()
    if split:
        chunks = [reply[i:i + split] for i in range(0, len(reply), split)]
    else:
        chunks = [reply]
    t = threading.Thread(target=_serve, args=(b, chunks, delay, close))
    t.start()
    try:
        return resp.Conn(a, "peer").request(frames, timeout)
    finally:
        t.join()
        b.close()
        a.close()


def _frames(n, kind=0):
    f = resp.Frames()
    for _ in range(n):
        f.command(b"PING", kind=kind)
    return f


GENERIC = (b"+OK\r\n-ERR bad thing\r\n:42\r\n:-7\r\n$-1\r\n*-1\r\n*0\r\n$0\r\n\r\n"
           b"$5\r\nhe\r\nl\r\n*3\r\n:1\r\n*2\r\n$1\r\na\r\n+b\r\n$3\r\nxyz\r\n")
EXPECTED = [b"OK", b"ERR bad thing", 42, -7, None, None, [], b"", b"he\r\nl",
            [1, [b"a", b"b"], b"xyz"]]


@pytest.mark.parametrize("split", [None, 1, 3, 7])
def test_generic_replies_decode_however_the_stream_is_split(split):
    out = _exchange(GENERIC, _frames(len(EXPECTED)), split=split)
    assert isinstance(out[1], resp.RespError) and out[1].message == b"ERR bad thing"
    out[1] = out[1].message
    assert out == EXPECTED


def test_large_bulk_string_arrives_whole():
    payload = bytes(range(256)) * 2048  # 512 KiB, above the inline limit
    reply = b"$%d\r\n" % len(payload) + payload + b"\r\n+OK\r\n"
    out = _exchange(reply, _frames(2), split=100_000)
    assert out[0] == payload and out[1] == b"OK"


def _tensor_reply(dtype_name: bytes, shape, blob: bytes) -> bytes:
    parts = [b"*6\r\n+dtype\r\n$%d\r\n%s\r\n+shape\r\n*%d\r\n" % (len(dtype_name), dtype_name,
                                                                   len(shape))]
    parts += [b":%d\r\n" % d for d in shape]
    parts.append(b"+blob\r\n$%d\r\n" % len(blob) + blob + b"\r\n")
    return b"".join(parts)


@pytest.mark.parametrize("n", [6, 300_000])
def test_tensor_reply_becomes_a_writable_array_that_owns_its_memory(n):
    a = np.arange(n, dtype=np.float32).reshape(2, n // 2)
    f = resp.Frames()
    f.tensorget(b"t")
    out = _exchange(_tensor_reply(b"FLOAT", a.shape, a.tobytes()), f, split=65_536)
    t = out[0]
    assert t.dtype == np.float32 and t.shape == a.shape and np.array_equal(t, a)
    assert t.flags.writeable and t.flags.c_contiguous
    # no bytes object underneath: the memory is the array's (or its private block's)
    assert not isinstance(t.base, (bytes, bytearray))
    t[0, 0] = -1.0
    assert t[0, 0] == -1.0


def test_tensor_reply_with_wrong_blob_length_is_a_protocol_error():
    f = resp.Frames()
    f.tensorget(b"t")
    with pytest.raises(resp.ProtocolError, match="does not match shape"):
        _exchange(_tensor_reply(b"INT32", (3,), b"\0" * 8), f)


def test_error_reply_to_a_tensor_get_is_returned_as_error():
    f = resp.Frames()
    f.tensorget(b"t")
    out = _exchange(b"-ERR tensor key is empty or in a different shard\r\n", f)
    assert isinstance(out[0], resp.RespError)
    assert out[0].message == b"ERR tensor key is empty or in a different shard"


def test_malformed_stream_raises_protocol_error_and_closes_the_connection():
    a, b = socket.socketpair()
    try:
        b.sendall(b"?what\r\n")
        conn = resp.Conn(a, "peer")
        with pytest.raises(resp.ProtocolError, match="invalid RESP reply: Protocol error"):
            conn.request(_frames(1), 5.0)
        assert conn.closed
    finally:
        a.close()
        b.close()


def test_peer_closing_mid_reply_is_connection_lost():
    with pytest.raises(resp.ConnectionLost, match="closed by the server"):
        _exchange(b"+OK\r\n$10\r\nabc", _frames(2), close=True)


def test_no_reply_is_a_timeout():
    with pytest.raises(resp.ReplyTimeout, match="no reply within 0.2 s"):
        _exchange(b"+OK\r\n", _frames(2), timeout=0.2)


def test_send_ahead_then_exchange_returns_every_reply_in_order():
    a, b = socket.socketpair()
    try:
        conn = resp.Conn(a, "peer")
        resp.send_ahead([conn], [_frames(2)])
        b.sendall(b"+first\r\n:2\r\n+third\r\n")
        out = resp.exchange([conn], [_frames(1)], 5.0)[0]
        assert out == [b"first", 2, b"third"]
        # the next request starts afresh
        b.sendall(b"+again\r\n")
        assert conn.request(_frames(1), 5.0) == [b"again"]
    finally:
        a.close()
        b.close()


def test_abandoned_send_ahead_closes_the_connection():
    a, b = socket.socketpair()
    try:
        conn = resp.Conn(a, "peer")
        resp.send_ahead([conn], [_frames(3)])
        conn.abandon()
        assert conn.closed
        with pytest.raises(resp.ConnectionLost):
            conn.request(_frames(1), 1.0)
    finally:
        a.close()
        b.close()


class _Alarm(Exception):
    pass


def test_a_signal_handler_interrupts_a_long_wait_and_closes_the_connection():
    # Ctrl-C during a long wait (a model run, a big batch) raises at once rather than after
    # the reply or the timeout; SIGALRM with a raising handler stands in for SIGINT here
    import signal

    def on_alarm(signum, frame):
        raise _Alarm()

    a, b = socket.socketpair()
    old = signal.signal(signal.SIGALRM, on_alarm)
    try:
        conn = resp.Conn(a, "peer")
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        t0 = time.monotonic()
        with pytest.raises(_Alarm):
            conn.request(_frames(1), 20.0)
        assert time.monotonic() - t0 < 5
        assert conn.closed
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        a.close()
        b.close()


def test_a_signal_whose_handler_returns_does_not_disturb_the_exchange():
    import signal

    hits = []
    a, b = socket.socketpair()
    old = signal.signal(signal.SIGALRM, lambda *_: hits.append(1))
    try:
        conn = resp.Conn(a, "peer")
        late = threading.Timer(0.6, b.sendall, args=(b"+late\r\n",))
        late.start()
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        assert conn.request(_frames(1), 10.0) == [b"late"]
        assert hits and not conn.closed
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        late.join()
        a.close()
        b.close()
