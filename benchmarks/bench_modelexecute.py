#!/usr/bin/env python
"""MODELEXECUTE round trip of a tiny TorchScript model vs calling it in-process.

Starts a redis-server with our RedisAI-compatible module and one executor
(``python -m smartsim._core.executor``), stores a tiny TorchScript model, sets its input
once, then times ``AI.MODELEXECUTE`` calls from a redis-py client (hiredis parser) over
the server's Unix socket (or TCP with ``--tcp``). The in-process baseline does what the
executor does for one job minus the transport: blob -> numpy -> torch, run, -> numpy.
A ``PING`` from the same client gives the Redis round-trip floor.

    python benchmarks/bench_modelexecute.py [--n 2000] [--repeat 3] [--threads 1] [--tcp]
        [--batch 1] [--json out.json]

Prints p50/p99 of each and the overhead added by going through the database
(round trip p50 - in-process p50). Goal: under 300 µs added at p50.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))  # the tests package: the test base's server helpers

from tests._testbase import aimodule_path, redis_server, short_tempdir  # noqa: E402
from tests._testbase.cluster import Executor, RedisServer  # noqa: E402


def pct(samples, q):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(q / 100.0 * (len(s) - 1))))]


def summary(name, samples):
    us = [x * 1e6 for x in samples]
    return {"name": name, "n": len(us), "p50_us": pct(us, 50), "p99_us": pct(us, 99),
            "mean_us": statistics.fmean(us), "min_us": min(us)}


def tiny_model(torch):
    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(16, 16)

        def forward(self, x):
            return torch.relu(self.lin(x))

    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(Tiny()), buf)
    return buf.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3,
                    help="rounds of --n MODELEXECUTE calls (a busy machine varies a lot)")
    ap.add_argument("--batch", type=int, default=1, help="rows of the input tensor")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads, executor and baseline (0: torch default)")
    ap.add_argument("--tcp", action="store_true", help="client over TCP instead of Unix socket")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()

    import warnings

    import psutil
    import torch

    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    tmp = short_tempdir("bme")
    # our module with the executor secret it requires (aimodule/PROTOCOL.md), a Unix socket
    server = RedisServer(redis_server(), aimodule_path(), tmp, unixsocket=True,
                         client_timeout=None).start()
    executor = None
    try:
        c = server.client(unix=not args.tcp)
        executor = Executor(server, extra=["--threads", str(args.threads)], secret_via="file",
                            log_level=None).start()  # returns once it has registered

        blob = tiny_model(torch)
        c.execute_command("AI.MODELSTORE", "tiny", "TORCH", "CPU", "BLOB", blob)
        x = np.random.default_rng(0).standard_normal((args.batch, 16)).astype(np.float32)
        c.execute_command("AI.TENSORSET", "x", "FLOAT", *x.shape, "BLOB", x.tobytes())
        cmd = ("AI.MODELEXECUTE", "tiny", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
        for _ in range(args.warmup):
            c.execute_command(*cmd)
        got = np.frombuffer(c.execute_command("AI.TENSORGET", "y", "BLOB"), np.float32)

        perf = time.perf_counter
        c.execute_command("AI.INFO", "tiny", "RESETSTAT")
        ex_proc = psutil.Process(executor.proc.pid)
        srv_proc = psutil.Process(server.pid)
        ex_cpu0, srv_cpu0 = sum(ex_proc.cpu_times()[:2]), sum(srv_proc.cpu_times()[:2])
        rt, round_p50 = [], []
        for _ in range(args.repeat):
            this = []
            for _ in range(args.n):
                t0 = perf()
                c.execute_command(*cmd)
                this.append(perf() - t0)
            round_p50.append(pct(this, 50) * 1e6)
            rt.extend(this)
        calls = args.n * args.repeat
        ex_cpu_us = (sum(ex_proc.cpu_times()[:2]) - ex_cpu0) / calls * 1e6
        srv_cpu_us = (sum(srv_proc.cpu_times()[:2]) - srv_cpu0) / calls * 1e6
        info = c.execute_command("AI.INFO", "tiny")
        info = {(k.decode() if isinstance(k, bytes) else k): v
                for k, v in zip(info[::2], info[1::2])}
        exec_us = int(info["duration"]) / max(1, int(info["calls"]))
        ping = []
        for _ in range(args.n):
            t0 = perf()
            c.ping()
            ping.append(perf() - t0)
        full = []
        for _ in range(args.n // 2):
            t0 = perf()
            p = c.pipeline(transaction=False)
            p.execute_command("AI.TENSORSET", "x", "FLOAT", *x.shape, "BLOB", x.tobytes())
            p.execute_command(*cmd)
            p.execute_command("AI.TENSORGET", "y", "BLOB")
            p.execute()
            full.append(perf() - t0)

        # in-process: what the executor does per job, without the transport
        model = torch.jit.load(io.BytesIO(blob))
        model.eval()
        xb = x.tobytes()
        with torch.inference_mode():
            want = model(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-5, atol=1e-6)
        inproc, bare = [], []
        tx = torch.from_numpy(x)
        for _ in range(args.warmup):
            with torch.inference_mode():
                model(tx)
        for _ in range(args.n):
            t0 = perf()
            arr = np.frombuffer(xb, np.float32).reshape(x.shape)
            with torch.inference_mode():
                out = model(torch.from_numpy(arr))
            out.numpy().tobytes()
            inproc.append(perf() - t0)
        for _ in range(args.n):
            t0 = perf()
            with torch.inference_mode():
                model(tx)
            bare.append(perf() - t0)
        # The executor's process sleeps between jobs, so its caches are cold on every call;
        # the same in-process call after a short sleep shows how much that alone costs.
        cold = []
        for _ in range(min(args.n, 1000)):
            time.sleep(0.0003)
            t0 = perf()
            arr = np.frombuffer(xb, np.float32).reshape(x.shape)
            with torch.inference_mode():
                out = model(torch.from_numpy(arr))
            out.numpy().tobytes()
            cold.append(perf() - t0)

        results = [summary("MODELEXECUTE round trip", rt),
                   summary("TENSORSET+MODELEXECUTE+TENSORGET (pipelined)", full),
                   summary("PING round trip (floor)", ping),
                   summary("in-process (bytes->torch->run->bytes)", inproc),
                   summary("in-process model call only", bare),
                   summary("in-process after 300 µs asleep (cold caches)", cold)]
        added = results[0]["p50_us"] - results[3]["p50_us"]
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        print(f"tiny TorchScript model Linear(16,16)+relu, input {list(x.shape)} float32, "
              f"n={args.n} x {args.repeat} rounds, "
              f"torch threads={args.threads or torch.get_num_threads()}, "
              f"client over {'TCP' if args.tcp else 'Unix socket'}; "
              f"{os.cpu_count()} CPUs, load average {load}")
        print(f"{'':48s} {'p50 µs':>9s} {'p99 µs':>9s} {'mean µs':>9s}")
        for r in results:
            print(f"{r['name']:48s} {r['p50_us']:9.1f} {r['p99_us']:9.1f} {r['mean_us']:9.1f}")
        print(f"added by the database at p50: {added:.1f} µs "
              f"(p99: {results[0]['p99_us'] - results[3]['p99_us']:.1f} µs); goal < 300 µs")
        print(f"time the job spent pulled by the executor (AI.INFO duration/calls, mean): "
              f"{exec_us:.1f} µs")
        print(f"CPU time per call: executor {ex_cpu_us:.1f} µs, redis-server {srv_cpu_us:.1f} µs "
              f"(the rest of the round trip is the client, the kernel and waiting for a CPU)")
        if args.repeat > 1:
            print("MODELEXECUTE p50 per round (µs): "
                  + ", ".join(f"{v:.1f}" for v in round_p50)
                  + f"; best round adds {min(round_p50) - results[3]['p50_us']:.1f} µs")
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"results": results, "added_p50_us": added,
                           "round_p50_us": round_p50, "executor_mean_us": exec_us,
                           "executor_cpu_us": ex_cpu_us, "server_cpu_us": srv_cpu_us, "loadavg": os.getloadavg()}, fh, indent=2)
        return 0
    finally:
        if executor is not None:
            executor.stop()
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
