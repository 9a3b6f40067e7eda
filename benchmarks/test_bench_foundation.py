"""pytest-benchmark suite for the foundation (this package only; SmartSim side by side is
``compare_smartsim.py``). Not part of the default test run (``testpaths = ["tests"]``)::

    pytest benchmarks/test_bench_foundation.py                  # < 1 minute
    pytest benchmarks/test_bench_foundation.py --benchmark-json=out.json

Sizes: (a) 10,648-member ensemble; (b) 1,000,000 members; (c)/(d) generate of 1,000
members x 3 templates (the full 10,000-member figure is in ``compare_smartsim.py``).
Assertions here check results, not speed: speed goals are read off the report.
"""
from __future__ import annotations

import os
import sys
import tracemalloc

import pytest

pytest.importorskip("pytest_benchmark")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads as wl  # noqa: E402

ENSEMBLE_SIZES = [22, 22, 22]        # 10,648 members
MILLION_SIZES = [100, 100, 100]      # 1,000,000 members
GENERATE_SIZES = [5, 5, 5, 8]        # 1,000 members


@pytest.fixture()
def exp_rs(tmp_path):
    exp = wl.make_experiment(str(tmp_path))
    return exp, wl.run_settings(exp)


# -- (a) ------------------------------------------------------------------------------
@pytest.mark.benchmark(group="a-ensemble-names")
def test_a_ensemble_10k_build_and_names(benchmark, exp_rs):
    exp, rs = exp_rs
    n = wl.n_members(ENSEMBLE_SIZES)

    def run():
        return wl.names_via_models(wl.build_ensemble(exp, rs, ENSEMBLE_SIZES))

    names = benchmark(run)
    assert len(names) == n and names[-1] == f"ens_{n - 1}"


# -- (b) ------------------------------------------------------------------------------
@pytest.mark.benchmark(group="b-million")
def test_b_million_create_len_1000_lookups(benchmark, exp_rs):
    exp, rs = exp_rs
    n = wl.n_members(MILLION_SIZES)
    wanted = wl.lookup_names(n, 1000)
    assert benchmark(wl.million_lookup, exp, rs, MILLION_SIZES, wanted) == n


@pytest.mark.benchmark(group="b-million")
def test_b_million_names_by_iteration(benchmark, exp_rs):
    exp, rs = exp_rs
    n = wl.n_members(MILLION_SIZES)
    ens = wl.build_ensemble(exp, rs, MILLION_SIZES)
    names = benchmark.pedantic(wl.names_via_iter, args=(ens,), rounds=3, iterations=1)
    assert len(names) == n and names[123456] == "ens_123456"
    del names
    # memory of one listing, traced separately from the timed rounds
    tracemalloc.start()
    wl.names_via_iter(ens)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    benchmark.extra_info["tracemalloc_peak_mb"] = round(peak, 1)
    benchmark.extra_info["maxrss_mb"] = round(wl.maxrss_mb(), 1)


# -- (c) and its floor (d) -----------------------------------------------------------------
@pytest.mark.benchmark(group="c-generate-1000x3")
def test_c_generate_1000_members_3_templates(benchmark, tmp_path):
    counter = iter(range(1_000_000))

    def setup():
        root = tmp_path / f"gen{next(counter)}"
        exp, ens, _ = wl.prepare_generate(str(root), GENERATE_SIZES, 3, 200, 20)
        wl.settle()
        return (exp, ens), {}

    def run(exp, ens):
        exp.generate(ens)
        return os.path.join(exp.exp_path, "ens")

    ens_dir = benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    assert len(os.listdir(ens_dir)) == wl.n_members(GENERATE_SIZES)


@pytest.mark.benchmark(group="c-generate-1000x3")
def test_d_floor_bare_loop_same_files(benchmark, tmp_path):
    exp, ens, _ = wl.prepare_generate(str(tmp_path / "source"), GENERATE_SIZES, 3, 200, 20)
    exp.generate(ens)
    counter = iter(range(1_000_000))

    def setup():
        plan = wl.floor_plan(exp.exp_path, str(tmp_path / f"floor{next(counter)}"))
        wl.settle()
        return (plan,), {}

    benchmark.pedantic(wl.floor_write, setup=setup, rounds=3, iterations=1)
    assert wl.tree_digest(os.path.join(exp.exp_path, "ens"))["digest"] == \
        wl.tree_digest(str(tmp_path / "floor0" / "ens"))["digest"]
