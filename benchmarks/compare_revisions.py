#!/usr/bin/env python3
"""This tree against an earlier revision of it, in one run: did a change make launch or
generation slower?

    python benchmarks/compare_revisions.py --base 38aa07f            # 200-member launch, 10k generate
    python benchmarks/compare_revisions.py --base HEAD~3 --repeat 7 --dir /dev/shm

The base revision is exported (``git archive``) into a temporary directory and built there
(``setup.py build_ext --inplace``); the working tree must be built already. Each measurement
is a fresh process of the same workload script from THIS tree (``bench_launch.py``,
``workloads.py``: public API only, so both revisions run identical code), with ``PYTHONPATH``
pointing at one revision's ``src``; runs alternate base / this; the best and the median of
``--repeat`` runs are reported (the machine is shared: compare medians when the bests differ). Prints one table and ``@@RESULT@@ {json}``.

Workloads: (1) ``exp.start`` of an ensemble of ``--launch-n`` members running ``true`` at
concurrency 2, blocking; (2) ``exp.generate`` of a ``--generate-sizes`` all_perm ensemble
(default 10x10x10x10 = 10,000 members, 3 templates of 200 lines with 20 tags each);
(3) the 1,000,000-member figures of ``compare_smartsim.py`` (b): create + ``len`` + 1,000
lookups, and listing every name.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULT_MARK = "@@RESULT@@"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def export_and_build(ref: str, dest: str) -> str:
    """``ref``'s tree, built in place, under ``dest``; returns its ``src`` directory."""
    archive = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", ref],
                             capture_output=True, check=True).stdout
    os.makedirs(dest, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    log(f"building {ref} in {dest} ...")
    subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-q"], cwd=dest, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return os.path.join(dest, "src")


def run(cmd: list, src: str, timeout: float = 900) -> dict:
    env = dict(os.environ, PYTHONPATH=src, SMARTSIM_LOG_LEVEL="quiet", SMARTSIM_PROGRESS="0")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK) and proc.returncode == 0:
            return json.loads(line[len(RESULT_MARK):])
    raise RuntimeError(f"{' '.join(cmd)} (PYTHONPATH={src}) failed, rc {proc.returncode}:\n"
                       f"{proc.stderr[-3000:]}")


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="git revision to compare against")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--launch-n", type=int, default=200)
    ap.add_argument("--generate-sizes", default="10,10,10,10")
    ap.add_argument("--dir", default=None, help="where experiments are written (default: temp dir)")
    args = ap.parse_args(argv)

    work = tempfile.mkdtemp(prefix="ssbench-rev-", dir=args.dir)
    try:
        sides = {"base": export_and_build(args.base, os.path.join(work, "base")),
                 "this": os.path.join(ROOT, "src")}
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True).stdout.strip())
        workloads = {
            "launch": lambda d: [sys.executable, os.path.join(HERE, "bench_launch.py"),
                                 "--n", str(args.launch_n), "--concurrency", "2", "--dir", d],
            "generate": lambda d: [sys.executable, os.path.join(HERE, "workloads.py"), "generate",
                                   "--sizes", args.generate_sizes, "--workdir", d],
            "million_lookup": lambda d: [sys.executable, os.path.join(HERE, "workloads.py"), "million_lookup",
                                         "--sizes", "100,100,100", "--workdir", d],
            "million_names": lambda d: [sys.executable, os.path.join(HERE, "workloads.py"), "million_names",
                                        "--sizes", "100,100,100", "--workdir", d],
        }
        runs: dict = {name: {side: [] for side in sides} for name in workloads}
        for rnd in range(args.repeat):
            for name, cmd in workloads.items():
                for side, src in sides.items():
                    out = os.path.join(work, f"{name}-{side}-{rnd}")
                    os.makedirs(out)
                    result = run(cmd(out), src)
                    if name != "launch" and not result.get("package_file", "").startswith(src):
                        raise RuntimeError(f"{side} imported {result.get('package_file')}, not {src}")
                    runs[name][side].append(result["seconds"])
                    shutil.rmtree(out, ignore_errors=True)
                    log(f"round {rnd + 1}/{args.repeat} {name:8s} {side:4s} {result['seconds']:.3f} s")
        best = {name: {side: min(times) for side, times in per.items()} for name, per in runs.items()}
        label = f"{head}{' + uncommitted changes' if dirty else ''}"
        print(f"\nbase {args.base}  vs  this tree ({label}), best of {args.repeat}")
        n_gen = 1
        for size in args.generate_sizes.split(","):
            n_gen *= int(size)
        titles = {"launch": f"launch + reap {args.launch_n} members (`true`, concurrency 2)",
                  "generate": f"generate {n_gen} members x 3 templates",
                  "million_lookup": "1M members: create + len + 1000 lookups",
                  "million_names": "1M members: list names by iterating"}
        median = {name: {side: statistics.median(times) for side, times in per.items()}
                  for name, per in runs.items()}
        for name, per in best.items():
            med = median[name]
            print(f"  {titles[name]:50s} base {per['base']:7.3f} s   this {per['this']:7.3f} s   "
                  f"this/base {per['this'] / per['base']:.2f}   (medians: "
                  f"{med['this'] / med['base']:.2f})")
        print(RESULT_MARK, json.dumps({"base": args.base, "this": label, "repeat": args.repeat,
                                       "best": best, "median": median, "runs": runs}))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
