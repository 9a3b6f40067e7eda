#!/usr/bin/env python3
"""Database start-up: time from ``exp.start(db)`` to a database that answers, side by side
with SmartSim 0.8.0.

    python benchmarks/bench_orchestrator.py                 # 5 rounds each
    python benchmarks/bench_orchestrator.py --rounds 10 --no-reference
    SMARTSIM_REF_PYTHON=/opt/ssvenv/bin/python python benchmarks/bench_orchestrator.py

Cases (each round is a fresh driver process; only the ``exp.start`` call is timed, and a
``PING`` to every shard right after it returns must succeed):

* ``standalone-1``: ``create_database(db_nodes=1)``;
* ``cluster-3``: ``create_database(db_nodes=3)`` -- a Redis Cluster on one host (floor ~2 s:
  a new master waits ``CLUSTER_WRITABLE_DELAY`` = 2 s before it reports ``ok``);
* ``colocated``: ``exp.start(model)`` of a colocated model until the application's first
  line runs (the application prints a timestamp and exits).

SmartSim 0.8.0 (``$SMARTSIM_REF_PYTHON``, default ``/opt/ssvenv/bin/python``) is pointed at
the same ``redis-server`` and at our RedisAI-compatible module through its own settings:
``SMARTSIM_DEP_INSTALL_PATH`` (a temporary directory with ``bin/redis-server``,
``bin/redis-cli`` and ``lib/redisai.so``), ``REDIS_CONF`` stays its shipped ``redis.conf``
(which needs Redis 7: both sides run the same 7.x server when there is one), telemetry off
(``SMARTSIM_FLAG_TELEMETRY=0``: its monitor lingers 90 s after the driver and is not part of
the database start). It cannot start a sharded database with the local launcher ("Local
Orchestrator does not support multiple database shards"), which is reported as such.

Measured (2 shared cores, Redis 7.0.15, 5 rounds, fresh driver each; 2026-11-22)::

    case          ours (default)       ours, no sidecar     SmartSim 0.8.0
    standalone-1  0.370 s (best 0.322) 0.056 s (best 0.036) 10.219 s (best 10.215)  27.6x
    cluster-3     2.144 s (best 2.110) 2.103 s (best 2.085) not possible locally (ValueError)
    colocated     0.586 s (best 0.576) 0.242 s (best 0.220)  1.711 s (best 1.610)    2.9x

"ours (default)" includes waiting until each shard's executor sidecar has registered with
the module (~0.3 s: a Python process importing numpy), so that a model run right after
``start`` finds it; the database itself answers in ~40 ms. A 3-shard cluster is bounded by
Redis's 2 s writable delay. SmartSim's colocated figure is until its application starts,
which it does without waiting for the database to answer.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t

HERE = os.path.dirname(os.path.abspath(__file__))
MARK = "@@RESULT@@"
CASES = ("standalone-1", "cluster-3", "colocated")


def _free_base(n: int, cluster: bool) -> int:
    import random

    rng = random.Random()
    for _ in range(500):
        base = rng.randrange(20000, 54000)
        ports = list(range(base, base + n)) + ([p + 10000 for p in range(base, base + n)] if cluster else [])
        ok = True
        for p in ports:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free ports")


def _ping(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


# ------------------------------------------------------------------------------- workers
def worker(impl: str, case: str, workdir: str) -> t.Dict[str, t.Any]:
    if impl == "smartsim":
        # SmartSim 0.8.0 lists <site-packages>/smartsim/_core/bin for its launch manifest even
        # when SMARTSIM_DEP_INSTALL_PATH points elsewhere (after the database is up, inside
        # exp.start); without `smart build` that directory does not exist
        import smartsim._core._cli.utils as _cli_utils  # pylint: disable=import-error

        _cli_utils.get_db_path = lambda: None
    from smartsim import Experiment

    exp = Experiment("bench", exp_path=workdir, launcher="local")
    if case == "colocated":
        port = _free_base(1, False)
        app = os.path.join(workdir, "app.py")
        with open(app, "w") as handle:
            handle.write("import time\nprint('FIRST', repr(time.time()), flush=True)\n")
        rs = exp.create_run_settings(sys.executable, [app])
        model = exp.create_model("colo", rs)
        model.colocate_db_tcp(port=port, db_identifier="colo")
        t0 = time.time()
        exp.start(model, block=True)
        with open(os.path.join(model.path, "colo.out")) as handle:
            first = float(next(line.split()[1] for line in handle if line.startswith("FIRST")))
        return {"seconds": first - t0, "status": str(exp.get_status(model)[0])}
    shards = 1 if case == "standalone-1" else 3
    base = _free_base(shards, shards > 1)
    db = exp.create_database(port=base, db_nodes=shards, interface="lo")
    t0 = time.perf_counter()
    exp.start(db)
    elapsed = time.perf_counter() - t0
    try:
        ok = all(_ping("127.0.0.1", base + i) for i in range(shards))
    finally:
        exp.stop(db)
    return {"seconds": elapsed, "ping_after_start": ok}


def _pick_server() -> str:
    """A Redis 7.x server when there is one (SmartSim 0.8.0's shipped redis.conf has 7.0
    directives that 6.2 refuses), else the default one; both sides run the same binary.
    From the test base's one lookup (tests/_testbase), which starts with the package's own."""
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))
    sys.path.insert(0, os.path.dirname(HERE))
    from tests._testbase import redis_binaries, redis_server

    return redis_server() or next(iter(redis_binaries().values()))


def _reference_env(tmp: str, server_path: str) -> t.Dict[str, str]:
    """SmartSim 0.8.0's dependency directory, assembled from links: same redis-server,
    our module in place of RedisAI."""
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))
    sys.path.insert(0, os.path.dirname(HERE))
    from tests._testbase import aimodule_path

    deps = os.path.join(tmp, "ss-deps")
    os.makedirs(os.path.join(deps, "bin"), exist_ok=True)
    os.makedirs(os.path.join(deps, "lib"), exist_ok=True)
    server = server_path
    # a copy, not a link: SmartSim resolves links, and Debian's redis-server is a link to
    # redis-check-rdb that picks its personality from argv[0]
    shutil.copy(os.path.realpath(server), os.path.join(deps, "bin", "redis-server"))
    cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
    shutil.copy(os.path.realpath(cli), os.path.join(deps, "bin", "redis-cli"))
    os.symlink(aimodule_path(), os.path.join(deps, "lib", "redisai.so"))
    # telemetry off: its monitor process outlives the driver for 90 s (holding our pipes);
    # it is not part of the database start, and leaving it out only helps SmartSim's figure
    return {"SMARTSIM_DEP_INSTALL_PATH": deps, "SMARTSIM_LOG_LEVEL": "warning",
            "SMARTSIM_FLAG_TELEMETRY": "0"}


def run_one(python: str, impl: str, case: str, env_extra: t.Dict[str, str],
            timeout: float = 180.0) -> t.Dict[str, t.Any]:
    workdir = tempfile.mkdtemp(prefix=f"bench-orc-{impl}-")
    env = dict(os.environ)
    if impl == "smartsim":
        env.pop("PYTHONPATH", None)  # the reference interpreter imports its own smartsim
    env.update(env_extra)
    try:
        proc = subprocess.run([python, os.path.abspath(__file__), "--worker", impl, "--case", case,
                               "--workdir", workdir], capture_output=True, text=True, env=env,
                              timeout=timeout, cwd=workdir)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s"}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"error": " | ".join(tail) or f"exit code {proc.returncode}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=("ours", "smartsim"))
    parser.add_argument("--case", choices=CASES)
    parser.add_argument("--workdir")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if args.worker:
        try:
            result = worker(args.worker, args.case, args.workdir)
        except Exception as exc:  # pylint: disable=broad-except
            result = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
        print(MARK + json.dumps(result), flush=True)
        return 0

    ref_python = os.environ.get("SMARTSIM_REF_PYTHON", "/opt/ssvenv/bin/python")
    use_ref = not args.no_reference and os.path.exists(ref_python)
    tmp = tempfile.mkdtemp(prefix="bench-orc-")
    server = _pick_server()
    ref_env = _reference_env(tmp, server) if use_ref else {}
    ours_env = {"SMARTSIM_REDIS_SERVER": server}  # the installed package (or $PYTHONPATH)
    bare_env = dict(ours_env, SMARTSIM_EXECUTOR="0")
    cases = [c for c in args.cases.split(",") if c]
    results: t.Dict[str, t.Dict[str, t.Any]] = {}
    for case in cases:
        row: t.Dict[str, t.Any] = {"ours": [], "ours_bare": [], "smartsim": [], "ours_err": None,
                                   "smartsim_err": None}
        for _ in range(args.rounds):
            r = run_one(sys.executable, "ours", case, ours_env)
            if "error" in r:
                row["ours_err"] = r["error"]
            else:
                row["ours"].append(r["seconds"])
            r = run_one(sys.executable, "ours", case, bare_env)
            if "error" not in r:
                row["ours_bare"].append(r["seconds"])
            if use_ref and not (row["smartsim_err"] and not row["smartsim"]):
                r = run_one(ref_python, "smartsim", case, ref_env)
                if "error" in r:
                    row["smartsim_err"] = r["error"]
                else:
                    row["smartsim"].append(r["seconds"])
        results[case] = row
    shutil.rmtree(tmp, ignore_errors=True)

    def fmt(values: t.List[float]) -> str:
        if not values:
            return "n/a"
        return f"{min(values):.3f} s best, {statistics.median(values):.3f} s median"

    print(f"database start -> ready ({args.rounds} rounds, fresh driver per round; server {server})")
    print("  ours = default (waits until the executor sidecars have registered, when an ML runtime is")
    print("  installed); ours-bare = SMARTSIM_EXECUTOR=0 (database only, like SmartSim without RedisAI work)")
    for case, row in results.items():
        print(f"  {case:13s} ours     : {fmt(row['ours'])}" + (f"  [error: {row['ours_err']}]" if row["ours_err"] else ""))
        print(f"  {case:13s} ours-bare: {fmt(row['ours_bare'])}")
        if use_ref:
            line = f"  {case:13s} SmartSim : {fmt(row['smartsim'])}"
            if row["smartsim_err"]:
                line += f"  [not measurable: {row['smartsim_err']}]"
            print(line)
            if row["ours"] and row["smartsim"]:
                print(f"  {case:13s} ratio    : {statistics.median(row['smartsim']) / statistics.median(row['ours']):.1f}x (median)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
