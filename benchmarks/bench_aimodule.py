#!/usr/bin/env python
"""AI.TENSORSET / AI.TENSORGET throughput of our RedisAI-compatible module against SET / GET of
the same bytes on the same server (the floor), redis-benchmark style: one connection, commands
pre-encoded and pipelined, replies read back as raw bytes (no client-side parsing cost).

    python benchmarks/bench_aimodule.py [--module path/to/redisai.so] [--redis-server BIN]
                                        [--pipeline 100] [--seconds 2] [--sizes 1K,64K,16M]
                                        [--runs 5]

Prints ops/s, MB/s and the ratio time(AI.*) / time(SET|GET) per size (goal: <= 1.2), plus the
server's own CPU time per operation (from /proc, so less sensitive to other load on the host)
and its ratio.
"""
import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests package: the test base's server helpers

from tests._testbase import aimodule_path, redis_server  # noqa: E402
from tests._testbase.cluster import RedisServer  # noqa: E402


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n" % len(a))
        out.append(a)
        out.append(b"\r\n")
    return b"".join(out)


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray(64 << 20)

    def call(self, *args):
        self.s.sendall(encode(*args))
        return self.s.recv(1 << 16)

    def roundtrip(self, payload, reply_bytes):
        """Send a pre-encoded pipeline and read exactly reply_bytes back."""
        self.s.sendall(payload)
        view = memoryview(self.buf)
        got = 0
        while got < reply_bytes:
            n = self.s.recv_into(view[: min(len(self.buf), reply_bytes - got)])
            if n == 0:
                raise ConnectionError("server closed")
            got += n
        return got


def bulk_reply_len(n):
    return len(b"$%d\r\n" % n) + n + 2


def server_cpu_s(pid):
    """utime + stime of the server process, in seconds (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def parse_size(s):
    s = s.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20}.get(s[-1], 1)
    return int(s[:-1] if s[-1] in "KM" else s) * mult


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module")
    ap.add_argument("--redis-server", help="default: the test base's (a 7.x one when installed)")
    ap.add_argument("--pipeline", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    ap.add_argument("--sizes", default="1K,64K,16M")
    ap.add_argument("--max-pipeline-bytes", type=int, default=128 << 20,
                    help="cap pipeline depth so one pipeline carries at most this many bytes")
    ap.add_argument("--runs", type=int, default=1,
                    help="repeat on a fresh server each time (Redis seeds its hash tables "
                         "at random per start, which moves single runs by +-0.1) and report "
                         "the median ratio")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench-aimodule-")
    try:
        module = Path(args.module) if args.module else aimodule_path()
        runs = [run_once(args, module, tmp) for _ in range(max(1, args.runs))]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    worst_median = 0.0
    if len(runs) > 1:
        print(f"over {len(runs)} fresh servers: median ratio (min-max)")
        for key in runs[0]:
            vals = sorted(r[key] for r in runs)
            med = statistics.median(vals)
            worst_median = max(worst_median, med)
            print(f"{key[0]:>6} {key[1]:<14} {med:.2f} ({vals[0]:.2f}-{vals[-1]:.2f})")
    else:
        worst_median = max(runs[0].values())
    print(f"worst {'median ' if len(runs) > 1 else ''}ratio AI.* / floor: {worst_median:.2f} "
          "(goal <= 1.20)")
    return 0 if worst_median <= 1.2 else 1


def run_once(args, module, tmp):
    """Start a server, measure every size, stop it; returns {(size, op): ratio}."""
    server = RedisServer(args.redis_server or redis_server(), module, tmp, secret=False).start()
    proc = server.proc
    try:
        c = Conn(server.port)
        version = c.call("INFO", "server").split(b"redis_version:")[1].split(b"\r\n")[0].decode()
        print(f"redis-server {version}, module {module}")
        print(f"{'size':>6} {'depth':>5} {'op':<14} {'ops/s':>10} {'MB/s':>9} {'ratio':>6} "
              f"{'srv us/op':>9} {'srv ratio':>9}")
        results = {}
        for size in [parse_size(x) for x in args.sizes.split(",")]:
            depth = max(1, min(args.pipeline, args.max_pipeline_bytes // size))
            data = os.urandom(size)
            nfloat = size // 4
            keys = [f"k{i}" for i in range(depth)]
            set_p = b"".join(encode("SET", k, data) for k in keys)
            get_p = b"".join(encode("GET", k) for k in keys)
            ok_len = 5 * depth
            bulk_len = bulk_reply_len(size) * depth
            # Interleave the four measurements round by round and keep each one's best time,
            # so load from other processes on the machine hits all of them alike.
            c.call("FLUSHALL")
            ts_p = b"".join(encode("AI.TENSORSET", "t" + k, "FLOAT", str(nfloat), "BLOB", data) for k in keys)
            tg_p = b"".join(encode("AI.TENSORGET", "t" + k, "BLOB") for k in keys)
            best = {"SET": float("inf"), "GET": float("inf"), "TS": float("inf"), "TG": float("inf")}
            cpu = {k: 0.0 for k in best}
            nops = {k: 0 for k in best}
            plan = [("SET", set_p, ok_len), ("TS", ts_p, ok_len), ("GET", get_p, bulk_len),
                    ("TG", tg_p, bulk_len)]
            for _, p, n in plan:  # warm up, creates the keys
                c.roundtrip(p, n)
            t_end = time.perf_counter() + 4 * args.seconds
            rounds = 0
            while rounds < 3 or time.perf_counter() < t_end:
                for name, p, n in plan:
                    c0 = server_cpu_s(proc.pid)
                    t0 = time.perf_counter()
                    c.roundtrip(p, n)
                    best[name] = min(best[name], time.perf_counter() - t0)
                    cpu[name] += server_cpu_s(proc.pid) - c0
                    nops[name] += depth
                rounds += 1
            t_set, t_ts, t_get, t_tg = best["SET"], best["TS"], best["GET"], best["TG"]
            label = f"{size >> 20}M" if size >= 1 << 20 else f"{size >> 10}K"
            us = {k: 1e6 * cpu[k] / max(nops[k], 1) for k in cpu}
            for op, t, base, key, bkey in (("SET", t_set, None, "SET", None),
                                           ("AI.TENSORSET", t_ts, t_set, "TS", "SET"),
                                           ("GET", t_get, None, "GET", None),
                                           ("AI.TENSORGET", t_tg, t_get, "TG", "GET")):
                ops = depth / t
                ratio = f"{t / base:.2f}" if base else ""
                sratio = f"{us[key] / us[bkey]:.2f}" if bkey and us[bkey] > 0 else ""
                print(f"{label:>6} {depth:>5} {op:<14} {ops:>10.0f} {ops * size / 1e6:>9.0f} {ratio:>6} "
                      f"{us[key]:>9.2f} {sratio:>9}")
                if base:
                    results[(label, op)] = t / base
        return results
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
