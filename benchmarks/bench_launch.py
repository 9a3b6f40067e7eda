#!/usr/bin/env python3
"""Launch-and-reap workload: an ensemble of N members running ``true``, started blocking.

One script for both implementations, so both do exactly the same thing:

    python benchmarks/bench_launch.py --n 1000 --concurrency 2 [--dir DIR]
    SMARTSIM_FLAG_TELEMETRY=0 SMARTSIM_JM_INTERVAL=1 /opt/ssvenv/bin/python \\
        benchmarks/bench_launch.py --n 100                      # SmartSim 0.8.0 (no cap exists)

Times ``exp.start(ensemble, block=True)`` only (imports, entity creation excluded), checks
every member Completed, and prints one ``@@RESULT@@ {json}`` line. With this package the
cap is ``start(max_concurrent=...)``; SmartSim 0.8.0 has none and launches all members.
The work counted includes what the launcher must do per member beyond the floor
(``xargs``): its directory, its ``.out``/``.err`` files, the manifest journal.

Under pytest (``pytest benchmarks/bench_launch.py``, pytest-benchmark) it benchmarks this
package only; ``bench_launch_compare.py`` runs the side-by-side comparison.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

RESULT_MARK = "@@RESULT@@"


def run(n: int, concurrency: int, root: str) -> dict:
    import smartsim
    from smartsim import Experiment

    ours = hasattr(Experiment, "summary_data")
    exp_path = os.path.join(root, f"launch-{os.getpid()}")
    os.makedirs(exp_path, exist_ok=True)  # SmartSim 0.8.0 requires an existing path
    if ours:
        exp = Experiment("bench", exp_path=exp_path, launcher="local", max_concurrent=concurrency)
    else:
        exp = Experiment("bench", exp_path=exp_path, launcher="local")
    rs = exp.create_run_settings("true")
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=n)
    began = time.perf_counter()
    if ours:
        exp.start(ens, block=True, max_concurrent=concurrency, progress=False)
    else:
        exp.start(ens, block=True)
    took = time.perf_counter() - began
    statuses = [str(s) for s in exp.get_status(ens)]
    completed = sum(1 for s in statuses if s.endswith("COMPLETED") or s == "Completed")
    shutil.rmtree(exp_path, ignore_errors=True)
    return {"impl": "ours" if ours else f"smartsim-{getattr(smartsim, '__version__', '?')}",
            "n": n, "concurrency": concurrency if ours else None, "seconds": took,
            "completed": completed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--dir", default=None, help="where the experiment directory goes")
    args = parser.parse_args()
    root = args.dir or tempfile.gettempdir()
    os.environ.setdefault("SMARTSIM_LOG_LEVEL", "quiet")
    result = run(args.n, args.concurrency, root)
    print(RESULT_MARK, json.dumps(result), flush=True)
    if result["completed"] != args.n:
        sys.exit(f"only {result['completed']} of {args.n} members completed")


# -- pytest-benchmark (this package only) ------------------------------------------------
def test_launch_1000_true_concurrency_2(benchmark, tmp_path):
    result = benchmark.pedantic(run, args=(1000, 2, str(tmp_path)), rounds=3, iterations=1)
    assert result["completed"] == 1000


def test_launch_one_echo(benchmark, tmp_path):
    from smartsim import Experiment

    exp = Experiment("one", exp_path=str(tmp_path / "one"))
    model = exp.create_model("m", exp.create_run_settings("echo", exe_args=["hi"]))

    def once() -> None:
        exp.start(model, progress=False)

    benchmark.pedantic(once, rounds=20, iterations=1)
    assert exp.finished(model)


if __name__ == "__main__":
    main()
