"""Side-by-side client benchmark: smartsim.client vs SmartRedis 0.6.1 against the same server.

    python benchmarks/bench_client.py [--sr-python /opt/ssvenv/bin/python] [--repeat 7]

Starts a redis-server with our RedisAI-compatible module (and a 3-shard cluster) through the
test base (tests/_testbase; ``SMARTSIM_TEST_DB=host:port[,host:port]`` measures running
ones instead: a standalone server and/or a cluster node, on this host), then measures, best
of ``--repeat`` runs each:
  * put_tensor + get_tensor round trip of 1 KiB, 1 MiB and 64 MiB float32 tensors;
  * 10,000 1 KiB tensors: our put_tensors/get_tensors vs a SmartRedis per-call loop, and
    redis-benchmark -c 1 -P 100 SET of the same payload on the same server;
  * batched throughput on the 3-shard cluster vs the single shard, with the CPU time of the
    client and the servers per round and the bound the machine's core count puts on it.
The SmartRedis side runs in its own interpreter (``--sr-python``), same server, same sizes.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))  # the tests package: server and cluster helpers

SIZES = {"1KiB": 256, "1MiB": 256 * 1024, "64MiB": 16 * 1024 * 1024}
N_BATCH = 10_000

WORKLOAD = r"""
import json, os, sys, time
import numpy as np
impl = sys.argv[1]; repeat = int(sys.argv[2]); sizes = json.loads(sys.argv[3]); n = int(sys.argv[4])
if impl == "smartredis":
    from smartredis import Client
else:
    sys.path.insert(0, sys.argv[5])
    from smartsim.client import Client
c = Client(None, logger_name="bench")
out = {}
for label, count in sizes.items():
    a = np.random.rand(count).astype(np.float32)
    iters = 2000 if count <= 256 else (200 if count <= 262144 else 3)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(iters):
            c.put_tensor("rt", a)
            b = c.get_tensor("rt")
        best = min(best, (time.perf_counter() - t) / iters)
    assert np.array_equal(a, b)
    out["rt_" + label] = best
small = np.random.rand(256).astype(np.float32)
names = [f"b{i}" for i in range(n)]
best_put = best_get = float("inf")
cpu0 = os.times()
for _ in range(repeat):
    if impl == "smartredis":
        t = time.perf_counter()
        for nm in names:
            c.put_tensor(nm, small)
        t1 = time.perf_counter()
        for nm in names:
            c.get_tensor(nm)
        t2 = time.perf_counter()
    else:
        d = dict.fromkeys(names, small)
        t = time.perf_counter()
        c.put_tensors(d)
        t1 = time.perf_counter()
        c.get_tensors(names)
        t2 = time.perf_counter()
    best_put = min(best_put, t1 - t)
    best_get = min(best_get, t2 - t1)
cpu1 = os.times()
out["batch_put"] = best_put
out["batch_get"] = best_get
out["batch_client_cpu"] = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / repeat
print("RESULT " + json.dumps(out))
"""


def run_workload(python, impl, env, repeat, sizes, n):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(WORKLOAD)
    full = dict(os.environ)
    full.update(env)
    full["SR_LOG_LEVEL"] = "quiet"
    res = subprocess.run([python, fh.name, impl, str(repeat), json.dumps(sizes), str(n),
                          str(ROOT / "src")], env=full, capture_output=True, text=True)
    os.unlink(fh.name)
    if res.returncode:
        raise RuntimeError(res.stdout + res.stderr)
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def server_cpu(pids):
    """CPU seconds (user + system) the processes have used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def batch_run(python, env, repeat, n, pids):
    """The batched workload alone, with the CPU time per put+get round of the client and of
    the servers (so the bound that the core count puts on sharding can be stated)."""
    before = server_cpu(pids)
    res = run_workload(python, "ours", env, repeat, {}, n)
    res["batch_server_cpu"] = (server_cpu(pids) - before) / repeat
    return res


def redis_benchmark(host, port, repeat, n):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = subprocess.run(["redis-benchmark", "-h", host, "-p", str(port), "-c", "1",
                              "-P", "100", "-n", str(n), "-d", "1024", "-t", "set", "-q"],
                             capture_output=True, text=True).stdout
        m = re.findall(r"SET: ([\d.]+) requests per second", out)
        if m:
            best = min(best, n / float(m[-1]))
        else:
            best = min(best, time.perf_counter() - t)
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sr-python", default="/opt/ssvenv/bin/python")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--skip-cluster", action="store_true")
    args = p.parse_args()

    from tests._testbase import aimodule_path, redis_server, short_tempdir, test_db_addresses
    from tests._testbase.cluster import Database

    wd = short_tempdir("bench")
    running = Database.from_addresses(test_db_addresses()) if test_db_addresses() else None
    if running is not None:
        if "standalone" not in running:
            sys.exit("SMARTSIM_TEST_DB: the benchmark needs a standalone server")
        server, described = running["standalone"], f"{running['standalone'].address} (running)"
    else:
        module = aimodule_path()
        server = Database.start_standalone(module, wd / "single", executor=False, unixsocket=False)
        described = f"{redis_server()} + our module"
    cluster = None
    try:
        env = server.env()
        ours = run_workload(sys.executable, "ours", env, args.repeat, SIZES, N_BATCH)
        server.flush()
        theirs = run_workload(args.sr_python, "smartredis", env, max(2, args.repeat // 2),
                              SIZES, N_BATCH)
        server.flush()
        rb = redis_benchmark(server.host, server.port, args.repeat, N_BATCH)
        print(f"server: {described}; SmartRedis from {args.sr_python}")
        print(f"{'measure':<28}{'ours':>12}{'SmartRedis':>14}{'speed-up':>10}")
        for label in SIZES:
            k = "rt_" + label
            print(f"{'put+get ' + label:<28}{ours[k] * 1e3:>10.3f}ms{theirs[k] * 1e3:>12.3f}ms"
                  f"{theirs[k] / ours[k]:>9.2f}x")
        for k, what in (("batch_put", "10k x 1KiB put"), ("batch_get", "10k x 1KiB get")):
            print(f"{what:<28}{ours[k] * 1e3:>10.2f}ms{theirs[k] * 1e3:>12.2f}ms"
                  f"{theirs[k] / ours[k]:>9.2f}x")
        print(f"redis-benchmark -c 1 -P 100 SET 10k x 1KiB: {rb * 1e3:.2f} ms; "
              f"put_tensors / that = {ours['batch_put'] / rb:.2f}x")
        if running is not None and "cluster" not in running:
            args.skip_cluster = True
        if not args.skip_cluster:
            cluster = (running["cluster"] if running is not None else
                       Database.start_cluster(module, wd / "cluster", executors=False))
            cenv = cluster.env()
            server.flush()
            cluster.flush()
            one = batch_run(sys.executable, env, args.repeat, N_BATCH, server.pids)
            three = batch_run(sys.executable, cenv, args.repeat, N_BATCH, cluster.pids)
            single = one["batch_put"] + one["batch_get"]
            multi = three["batch_put"] + three["batch_get"]
            print(f"{len(cluster.pids)}-shard cluster, 10k x 1KiB put+get: {multi * 1e3:.2f} ms "
                  f"vs single shard {single * 1e3:.2f} ms -> throughput {single / multi:.2f}x "
                  f"(put {one['batch_put'] / three['batch_put']:.2f}x, "
                  f"get {one['batch_get'] / three['batch_get']:.2f}x)")
            cores = os.cpu_count() or 1
            for label, r, wall in (("1 shard", one, single), ("3 shards", three, multi)):
                c, srv = r["batch_client_cpu"], r["batch_server_cpu"]
                print(f"  {label}: CPU per put+get round: client {c * 1e3:.1f} ms, servers "
                      f"{srv * 1e3:.1f} ms (averaged over all rounds; wall of the best round "
                      f"{wall * 1e3:.1f} ms)")
            c, srv = three["batch_client_cpu"], three["batch_server_cpu"]
            floor = max(c, (c + srv) / cores)
            print(f"  on {cores} cores the 3-shard round cannot take less than "
                  f"max(client, (client + servers) / cores) = {floor * 1e3:.1f} ms, so the "
                  f"speed-up over one shard is at most {single / floor:.2f}x here")
    finally:
        server.stop()  # only what was started here
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(wd, ignore_errors=True)


if __name__ == "__main__":
    main()
