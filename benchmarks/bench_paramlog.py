"""paramlog.format_table vs tabulate on a 20-row parameter table (the per-member cost of
smartsim_params.txt). Run: python benchmarks/bench_paramlog.py"""
import random
import time

from tabulate import tabulate

from smartsim._core.generation.paramlog import format_table


def _best_per_call(fn, number):
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def compare(kind):
    r = random.Random(1)
    values = {
        "int": lambda: str(r.randint(0, 10**6)),
        "float": lambda: repr(r.uniform(0, 10)),
        "str": lambda: f"run_{r.random()}",
    }[kind]
    rows = [(f"param_{i}", values()) for i in range(20)]
    headers = ("Name", "Value")
    assert format_table(rows, headers) == tabulate(rows, headers=list(headers))
    slow = _best_per_call(lambda: tabulate(rows, headers=list(headers)), 100)
    fast = _best_per_call(lambda: format_table(rows, headers), 1000)
    print(f"{kind:6s} tabulate {slow * 1e6:8.1f} us  format_table {fast * 1e6:6.1f} us  "
          f"ratio {slow / fast:5.1f}x")


if __name__ == "__main__":
    for kind in ("int", "float", "str"):
        compare(kind)
