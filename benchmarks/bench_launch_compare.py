#!/usr/bin/env python3
"""Launch and reap N members running ``true`` at concurrency C: this package vs SmartSim
0.8.0 vs the floor ``yes | head -n N | xargs -P C -n 1 true``.

    python benchmarks/bench_launch_compare.py                      # N=1000, C=2, 5 rounds
    python benchmarks/bench_launch_compare.py --ss-n 1000          # SmartSim on all 1000 (~4 min)
    python benchmarks/bench_launch_compare.py --dir /dev/shm       # experiment dirs on tmpfs

Every measurement is a fresh process (``bench_launch.py``; the floor is one ``sh`` pipeline),
interleaved floor / ours / floor / ours ..., best of ``--repeat`` reported (the machine is
shared). SmartSim 0.8.0 runs from ``$SMARTSIM_REF_PYTHON`` (default ``/opt/ssvenv/bin/python``)
with ``SMARTSIM_FLAG_TELEMETRY=0 SMARTSIM_JM_INTERVAL=1`` (its best settings). One launch of
1,000 members takes SmartSim about 3.5 minutes, so by default it runs ``--ss-n 100`` members
once, and is compared with ours on the same 100 members; ``--ss-n 1000`` compares at full size.

Goals (issue 4): ours at least 10x faster than SmartSim 0.8.0, and within 2x of the floor.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOAD = os.path.join(HERE, "bench_launch.py")
RESULT_MARK = "@@RESULT@@"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def floor(n: int, concurrency: int) -> float:
    began = time.perf_counter()
    subprocess.run(f"yes | head -n {n} | xargs -P {concurrency} -n 1 true", shell=True, check=True)
    return time.perf_counter() - began


def workload(python: str, n: int, concurrency: int, root: str, env: dict, timeout: float) -> dict:
    proc = subprocess.run([python, WORKLOAD, "--n", str(n), "--concurrency", str(concurrency),
                           "--dir", root], capture_output=True, text=True, env=env, timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            result = json.loads(line[len(RESULT_MARK):])
            if proc.returncode != 0:
                raise RuntimeError(f"{python}: {proc.stderr[-2000:]}")
            return result
    raise RuntimeError(f"{python} printed no result (rc {proc.returncode}):\n{proc.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ss-n", type=int, default=100, help="members for the SmartSim run")
    parser.add_argument("--ss-repeat", type=int, default=1)
    parser.add_argument("--no-smartsim", action="store_true")
    parser.add_argument("--dir", default=None, help="parent of the experiment directories")
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args()

    root = tempfile.mkdtemp(prefix="bench-launch-", dir=args.dir)
    ours_py = os.environ.get("SMARTSIM_OURS_PYTHON", sys.executable)
    ref_py = os.environ.get("SMARTSIM_REF_PYTHON", "/opt/ssvenv/bin/python")
    base_env = dict(os.environ, SMARTSIM_LOG_LEVEL="quiet", SMARTSIM_PROGRESS="0")
    ref_env = dict(base_env, SMARTSIM_FLAG_TELEMETRY="0", SMARTSIM_JM_INTERVAL="1")

    floors, ours = [], []
    for i in range(args.repeat):
        floors.append(floor(args.n, args.concurrency))
        ours.append(workload(ours_py, args.n, args.concurrency, root, base_env, 600)["seconds"])
        log(f"round {i + 1}/{args.repeat}: floor {floors[-1]:.3f} s  ours {ours[-1]:.3f} s")
    best_floor, best_ours = min(floors), min(ours)

    report = {"n": args.n, "concurrency": args.concurrency, "dir": root, "floor_s": best_floor,
              "ours_s": best_ours, "floor_all": floors, "ours_all": ours,
              "ours_vs_floor": best_ours / best_floor}
    print(f"\nlaunch+reap {args.n} x `true`, concurrency {args.concurrency}, "
          f"experiment dirs under {args.dir or tempfile.gettempdir()}  (best of {args.repeat})")
    print(f"  floor  xargs -P {args.concurrency}       {best_floor:8.3f} s")
    print(f"  ours   start(block=True)    {best_ours:8.3f} s   {best_ours / best_floor:.2f}x the floor "
          f"(goal <= 2x)")

    if not args.no_smartsim and os.path.exists(ref_py):
        ss_n = args.ss_n
        ss_times, ours_same = [], []
        for i in range(args.ss_repeat):
            log(f"SmartSim 0.8.0, {ss_n} members (run {i + 1}/{args.ss_repeat}) ...")
            ss = workload(ref_py, ss_n, args.concurrency, root, ref_env, 3600)
            ss_times.append(ss["seconds"])
        if ss_n == args.n:
            ours_same = ours
        else:
            for _ in range(args.repeat):
                ours_same.append(workload(ours_py, ss_n, args.concurrency, root, base_env, 600)["seconds"])
        best_ss, best_ours_same = min(ss_times), min(ours_same)
        report.update(smartsim_n=ss_n, smartsim_s=best_ss, ours_same_n_s=best_ours_same,
                      smartsim_vs_ours=best_ss / best_ours_same, smartsim_all=ss_times)
        print(f"  SmartSim 0.8.0 on {ss_n} members   {best_ss:8.3f} s   (TELEMETRY=0, JM_INTERVAL=1; "
              "no concurrency cap: all launched)")
        print(f"  ours on the same {ss_n} members    {best_ours_same:8.3f} s   -> ours is "
              f"{best_ss / best_ours_same:.1f}x faster (goal >= 10x)")
    else:
        print("  SmartSim 0.8.0: skipped")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
    import shutil

    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
