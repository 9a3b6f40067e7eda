"""Cost of ``import smartsim.client`` beyond numpy's import (goal: at most 30 ms).

Run: python benchmarks/bench_import.py [--repeat 10]
Each measurement is a fresh interpreter; the first run writes the bytecode cache, as an
installed package has it, and the best of the rest is reported.
"""
import argparse
import subprocess
import sys

CODE = """
import time
t0 = time.perf_counter(); import numpy; t1 = time.perf_counter()
import smartsim.client; t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeat + 1):
        out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
        runs.append(tuple(map(float, out.stdout.split())))
    numpy_s, client_s = min(runs[1:], key=lambda r: r[1])
    print(f"numpy import {numpy_s * 1e3:.1f} ms; smartsim.client beyond numpy {client_s * 1e3:.1f} ms "
          f"(goal <= 30 ms: {'met' if client_s <= 0.030 else 'MISSED'})")


if __name__ == "__main__":
    main()
