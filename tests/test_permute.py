"""Parameter expansion: every strategy's exact member order, replicas, random sampling,
user strategies, and member naming, as a driver script sees them through ``create_ensemble``."""
from __future__ import annotations

import itertools
import random
import time
import tracemalloc

import numpy as np
import pytest

from _fastpath import permute

from smartsim.entity import Model
from smartsim.entity.strategies import create_all_permutations, random_permutations, step_values
from smartsim.error import SmartSimError, UserStrategyError


@pytest.fixture
def rs(exp):
    return exp.create_run_settings("echo", exe_args=["hello"])


def member_rows(ens, keys):
    return [tuple(m.params[k] for k in keys) for m in ens]


# -- all_perm ------------------------------------------------------------------------

def test_all_perm_odometer_order_from_issue(exp, rs):
    ens = exp.create_ensemble("ens", params={"name": ["Ellie", "John"], "parameter": [2, 11]},
                              run_settings=rs)
    assert member_rows(ens, ["name", "parameter"]) == [
        ("Ellie", "2"), ("Ellie", "11"), ("John", "2"), ("John", "11")]
    assert [m.name for m in ens] == ["ens_0", "ens_1", "ens_2", "ens_3"]


def test_all_perm_is_the_default_strategy(exp, rs):
    ens = exp.create_ensemble("ens", params={"a": [1, 2], "b": ["x", "y"]}, run_settings=rs)
    assert member_rows(ens, ["a", "b"]) == [("1", "x"), ("1", "y"), ("2", "x"), ("2", "y")]


def test_all_perm_three_params_matches_itertools_product(exp, rs):
    params = {"a": [1, 2, 3], "b": ["p", "q"], "c": [0.5, 1.5, 2.5, 3.5]}
    ens = exp.create_ensemble("ens", params=params, run_settings=rs, perm_strategy="all_perm")
    expected = [tuple(str(v) for v in row) for row in itertools.product(*params.values())]
    assert len(ens) == 24
    assert member_rows(ens, list(params)) == expected
    # every member has exactly the ensemble's params, stored as str
    for m in ens:
        assert set(m.params) == {"a", "b", "c"}
        assert all(isinstance(v, str) for v in m.params.values())


def test_all_perm_single_values_and_scalars(exp, rs):
    # a bare str/int/float is a one-element list (a float too, unlike 0.8.0)
    ens = exp.create_ensemble("ens", params={"a": 1.5, "b": "s", "c": 3, "d": [7]}, run_settings=rs)
    assert len(ens) == 1
    assert ens["ens_0"].params == {"a": "1.5", "b": "s", "c": "3", "d": "7"}


def test_values_are_stringified_like_smartsim(exp, rs):
    ens = exp.create_ensemble("ens", params={"f": [0.1, 2], "flag": [True]}, run_settings=rs)
    assert member_rows(ens, ["f", "flag"]) == [("0.1", "True"), ("2", "True")]


def test_models_property_gives_model_objects_in_order(exp, rs):
    ens = exp.create_ensemble("ens", params={"a": [1, 2, 3]}, run_settings=rs)
    models = ens.models
    assert isinstance(models, list)
    assert all(isinstance(m, Model) for m in models)
    assert [m.name for m in models] == ["ens_0", "ens_1", "ens_2"]
    assert [m.params["a"] for m in models] == ["1", "2", "3"]


# -- step ----------------------------------------------------------------------------

def test_step_zips_value_lists(exp, rs):
    ens = exp.create_ensemble("ens", params={"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [7.5, 8.5, 9.5]},
                              run_settings=rs, perm_strategy="step")
    assert member_rows(ens, ["a", "b", "c"]) == [("1", "x", "7.5"), ("2", "y", "8.5"), ("3", "z", "9.5")]
    assert [m.name for m in ens] == ["ens_0", "ens_1", "ens_2"]


def test_step_single_param(exp, rs):
    ens = exp.create_ensemble("ens", params={"a": [5, 6]}, run_settings=rs, perm_strategy="step")
    assert member_rows(ens, ["a"]) == [("5",), ("6",)]


# -- replicas ----------------------------------------------------------------------------

def test_replicas_without_params(exp, rs):
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=4)
    assert len(ens) == 4
    assert [m.name for m in ens] == ["ens_0", "ens_1", "ens_2", "ens_3"]
    assert all(m.params == {} for m in ens)


def test_replicas_with_scalar_param_doc_example(exp, rs):
    # the seed documentation: params={"THERMO": 1}, replicas=2 -> two members with THERMO=1
    ens = exp.create_ensemble("ens", params={"THERMO": 1}, run_settings=rs, replicas=2)
    assert len(ens) == 2
    assert [m.params for m in ens] == [{"THERMO": "1"}, {"THERMO": "1"}]


def test_replicas_all_perm_are_combination_major(exp, rs):
    ens = exp.create_ensemble("ens", params={"a": [1, 2], "b": ["x", "y"]}, run_settings=rs, replicas=3)
    expected = [row for row in [("1", "x"), ("1", "y"), ("2", "x"), ("2", "y")] for _ in range(3)]
    assert member_rows(ens, ["a", "b"]) == expected
    assert [m.name for m in ens] == [f"ens_{i}" for i in range(12)]


def test_replicas_step_are_combination_major(exp, rs):
    ens = exp.create_ensemble("ens", params={"a": [1, 2], "b": [3, 4]}, run_settings=rs,
                              perm_strategy="step", replicas=2)
    assert member_rows(ens, ["a", "b"]) == [("1", "3"), ("1", "3"), ("2", "4"), ("2", "4")]



def _product_row(position, sizes, replicas=1):
    """Mixed-radix decoding in plain Python: the oracle for member ``position``."""
    flat, row = position // replicas, []
    for size in reversed(sizes):
        flat, digit = divmod(flat, size)
        row.append(digit)
    return row[::-1]


def test_all_perm_billion_members_without_a_matrix(exp, rs):
    # 1000**3 members with 2 replicas (2e9 > 2**31): today's matrix would need 24 GB
    values = {k: list(range(1000)) for k in "abc"}
    tracemalloc.start()
    try:
        ens = exp.create_ensemble("ens", params=values, run_settings=rs, replicas=2)
        n = len(ens)
        picks = random.Random(3).sample(range(n), 1000) + [0, n - 1]
        got = [ens[f"ens_{i}"].params for i in picks]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n == 2 * 10**9
    for i, params in zip(picks, got):
        assert [int(params[k]) for k in "abc"] == _product_row(i, [1000] * 3, replicas=2)
    assert ens[n - 1].name == f"ens_{n - 1}" and ens[n - 1].params == {"a": "999", "b": "999", "c": "999"}
    assert ens[f"ens_{n}"] is None
    assert peak < 50 * 2**20, f"creating and reading members of a product took {peak} bytes"


def test_all_perm_members_beyond_int64_refused(exp, rs):
    params = {f"p{i}": list(range(100)) for i in range(10)}  # 10**20 members
    with pytest.raises(OverflowError, match="100000000000000000000 members"):
        exp.create_ensemble("ens", params=params, run_settings=rs)


def test_product_index_reads_like_the_matrix():
    sizes, replicas = [3, 1, 4, 5], 2
    matrix = np.repeat(np.array(list(itertools.product(*(range(s) for s in sizes))), dtype=np.int32),
                       replicas, axis=0)
    table = permute.ProductIndex(sizes, replicas)
    assert table.shape == matrix.shape and len(table) == len(matrix)
    assert (np.asarray(table) == matrix).all()
    assert (table[7] == matrix[7]).all() and (table[-1] == matrix[-1]).all()
    assert (table[5:100:7] == matrix[5:100:7]).all()
    assert (table[[0, 33, 119]] == matrix[[0, 33, 119]]).all()
    assert (table[np.array([4, 9]), [0, 3]] == matrix[np.array([4, 9])][:, [0, 3]]).all()
    with pytest.raises(IndexError, match="row 120 out of range"):
        table[120]


def test_generate_of_all_perm_writes_the_decoded_values(exp, rs, tmp_path):
    tpl = tmp_path / "in.txt"
    tpl.write_text("a=;a; b=;b;\n")
    ens = exp.create_ensemble("ens", params={"a": [1, 2, 3], "b": ["x", "y"]}, run_settings=rs, replicas=2)
    ens.attach_generator_files(to_configure=[str(tpl)])
    exp.generate(ens)
    texts = [(tmp_path / "exp" / "ens" / f"ens_{i}" / "in.txt").read_text() for i in range(12)]
    assert texts == [f"a={a} b={b}\n" for a in "123" for b in "xy" for _ in range(2)]


# -- random --------------------------------------------------------------------------

def test_random_n_models_distinct_from_product(exp, rs):
    params = {"a": [1, 2, 3], "b": ["x", "y"], "c": [4, 5]}
    ens = exp.create_ensemble("ens", params=params, run_settings=rs, perm_strategy="random", n_models=5)
    rows = member_rows(ens, ["a", "b", "c"])
    product = {tuple(str(v) for v in r) for r in itertools.product(*params.values())}
    assert len(rows) == 5
    assert len(set(rows)) == 5
    assert set(rows) <= product
    assert [m.name for m in ens] == [f"ens_{i}" for i in range(5)]


def test_random_replicas_is_the_number_of_samples(exp, rs):
    params = {"a": list(range(10)), "b": list(range(10))}
    ens = exp.create_ensemble("ens", params=params, run_settings=rs, perm_strategy="random", replicas=7)
    rows = member_rows(ens, ["a", "b"])
    assert len(rows) == 7
    assert len(set(rows)) == 7


def test_random_all_samples_is_the_whole_product(exp, rs):
    params = {"a": [1, 2, 3], "b": ["x", "y"]}
    ens = exp.create_ensemble("ens", params=params, run_settings=rs, perm_strategy="random", n_models=6)
    product = {tuple(str(v) for v in r) for r in itertools.product(*params.values())}
    assert set(member_rows(ens, ["a", "b"])) == product


def test_random_without_count_gives_every_combination(exp, rs):
    # 0.8.0: random with n_models=0 keeps every permutation
    params = {"a": [1, 2, 3], "b": ["x", "y"]}
    ens = exp.create_ensemble("ens", params=params, run_settings=rs, perm_strategy="random")
    product = {tuple(str(v) for v in r) for r in itertools.product(*params.values())}
    rows = member_rows(ens, ["a", "b"])
    assert len(rows) == 6
    assert set(rows) == product


def test_random_is_seedable(exp, rs):
    params = {f"p{i}": list(range(6)) for i in range(6)}
    kwargs = dict(params=params, run_settings=rs, perm_strategy="random", n_models=20)
    a = member_rows(exp.create_ensemble("a", seed=1234, **kwargs), list(params))
    b = member_rows(exp.create_ensemble("b", seed=1234, **kwargs), list(params))
    c = member_rows(exp.create_ensemble("c", seed=99, **kwargs), list(params))
    assert a == b
    assert a != c


def test_random_from_huge_product_without_building_it(exp, rs):
    # 5**40 ~ 9e27 combinations: sampling must not materialise the product
    params = {f"p{i}": [0, 1, 2, 3, 4] for i in range(40)}
    start = time.perf_counter()
    ens = exp.create_ensemble("ens", params=params, run_settings=rs, perm_strategy="random",
                              n_models=100, seed=7)
    rows = member_rows(ens, list(params))
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0
    assert len(rows) == 100
    assert len(set(rows)) == 100
    assert all(len(r) == 40 and set(r) <= {"0", "1", "2", "3", "4"} for r in rows)
    # samples are spread over the product, not all from its start
    assert len({r[0] for r in rows}) > 1


def test_random_huge_product_is_seedable(exp, rs):
    params = {f"p{i}": [0, 1, 2, 3, 4] for i in range(40)}
    kwargs = dict(params=params, run_settings=rs, perm_strategy="random", n_models=10)
    a = member_rows(exp.create_ensemble("a", seed=5, **kwargs), list(params))
    b = member_rows(exp.create_ensemble("b", seed=5, **kwargs), list(params))
    assert a == b


def test_random_more_samples_than_product_is_an_error(exp, rs):
    with pytest.raises(SmartSimError) as info:
        exp.create_ensemble("ens", params={"a": [1, 2, 3], "b": ["x", "y"]}, run_settings=rs,
                            perm_strategy="random", n_models=7)
    assert "7" in str(info.value) and "6" in str(info.value)


# -- user strategy ------------------------------------------------------------------------

def test_callable_strategy_receives_names_values_n_models(exp, rs):
    seen = {}

    def my_strategy(param_names, param_values, n_models):
        seen["args"] = (param_names, param_values, n_models)
        return [{"a": "x", "b": "1"}, {"a": "y", "b": "2"}, {"a": "x", "b": "3"}]

    ens = exp.create_ensemble("ens", params={"a": ["x", "y"], "b": [1, 2, 3]}, run_settings=rs,
                              perm_strategy=my_strategy, n_models=3)
    assert seen["args"] == (["a", "b"], [["x", "y"], ["1", "2", "3"]], 3)
    assert member_rows(ens, ["a", "b"]) == [("x", "1"), ("y", "2"), ("x", "3")]
    assert [m.name for m in ens] == ["ens_0", "ens_1", "ens_2"]


def test_callable_strategy_may_invent_values(exp, rs):
    def doubled(names, values, n_models):
        return [{"a": str(int(v) * 2)} for v in values[0]]

    ens = exp.create_ensemble("ens", params={"a": [1, 2, 3]}, run_settings=rs, perm_strategy=doubled)
    assert member_rows(ens, ["a"]) == [("2",), ("4",), ("6",)]


@pytest.mark.parametrize("bad_return", [None, {"a": "1"}, "a=1", [["a", "1"]], [{"a": "1"}, 5]])
def test_callable_strategy_wrong_return_type(exp, rs, bad_return):
    def bad(names, values, n_models):
        return bad_return

    with pytest.raises(UserStrategyError):
        exp.create_ensemble("ens", params={"a": [1, 2]}, run_settings=rs, perm_strategy=bad)


# -- SmartSim's public strategy functions --------------------------------------------------

def test_public_strategy_functions():
    names, values = ["name", "parameter"], [["Ellie", "John"], ["2", "11"]]
    assert create_all_permutations(names, values) == [
        {"name": "Ellie", "parameter": "2"}, {"name": "Ellie", "parameter": "11"},
        {"name": "John", "parameter": "2"}, {"name": "John", "parameter": "11"}]
    assert step_values(names, values) == [
        {"name": "Ellie", "parameter": "2"}, {"name": "John", "parameter": "11"}]
    sampled = random_permutations(names, values, 3)
    assert len(sampled) == 3
    assert len({tuple(d.items()) for d in sampled}) == 3
    assert all(d in create_all_permutations(names, values) for d in sampled)
