"""Parameter expansion strategies.

The built-in strategies work in index space (``_fastpath.permute``): they return an index
matrix (members x params) into the parameters' value lists, never a dict per member.
The list-of-dicts functions at the bottom keep SmartSim's public strategy signatures.
"""
from __future__ import annotations

import numbers
import random
import typing as t

import numpy as np

from _fastpath import permute

from ..error import (ParameterError, ParameterTypeError, StrategyError, UnsupportedValueError,
                     UserStrategyError)

STRATEGIES = ("all_perm", "step", "random")
StrategyFunction = t.Callable[[t.List[str], t.List[t.List[str]], int], t.List[t.Dict[str, str]]]
# which value of each parameter every member takes (see Expansion)
MemberIndex = t.Union[np.ndarray, permute.ProductIndex]


class Expansion(t.NamedTuple):
    """Members in index space: ``member_index[i, j]`` picks ``values[j][...]`` for member ``i``.

    ``member_index`` is an int32 matrix, or for a Cartesian product a ``permute.ProductIndex``
    that reads like one and decodes rows on demand.

    An index of -1 means member ``i`` has no parameter ``j`` (user strategies may return
    dicts with different keys).
    """

    names: t.List[str]
    values: t.List[t.List[str]]
    member_index: MemberIndex


def read_parameters(params: t.Any) -> t.Tuple[t.List[str], t.List[t.List[str]]]:
    """Validate ensemble params; values become lists of str.

    A value is a non-empty list of str/int/float, or one str/int/float (a one-element list).
    """
    if not isinstance(params, dict):
        raise ParameterTypeError(f"Ensemble 'params' must be a dict, got {type(params).__name__}")
    names: t.List[str] = []
    values: t.List[t.List[str]] = []
    for name, val in params.items():
        if not isinstance(name, str):
            raise ParameterTypeError(f"parameter name {name!r} must be a str, got {type(name).__name__}")
        if isinstance(val, (str, numbers.Number)) and not isinstance(val, complex):
            val = [val]
        elif not isinstance(val, list):
            raise ParameterTypeError(
                f"parameter {name!r} has value {val!r} of type {type(val).__name__}; expected a "
                "list of str/int/float or a single str/int/float")
        if not val:
            raise ParameterError(f"parameter {name!r} has an empty value list; give at least one value")
        for item in val:
            if not isinstance(item, (str, numbers.Number)) or isinstance(item, complex):
                raise ParameterTypeError(
                    f"parameter {name!r} has element {item!r} of type {type(item).__name__}; "
                    "list elements must be str, int or float")
        names.append(name)
        values.append([str(v) for v in val])
    return names, values


def check_replicas(replicas: t.Any) -> int:
    """``replicas`` as an int >= 1 (``None`` is 1); ``ParameterError`` naming the value for
    a non-integer or a value below 1.
    """
    if replicas is None:
        return 1
    if isinstance(replicas, bool) or not isinstance(replicas, numbers.Integral):
        raise ParameterError(f"replicas must be an int >= 1, got {replicas!r}")
    if replicas < 1:
        raise ParameterError(f"replicas must be >= 1, got {replicas}")
    return int(replicas)


def strategy_name(strategy: t.Any) -> str:
    """A printable name of ``strategy``: a function's ``__name__``, else the str."""
    if callable(strategy):
        return getattr(strategy, "__name__", repr(strategy))
    return str(strategy)


def check_strategy(strategy: t.Any) -> None:
    """Accept a callable or one of ``all_perm``, ``step``, ``random``; anything else raises
    ``UnsupportedValueError`` naming the strategy and the choices.
    """
    if callable(strategy):
        return
    if strategy not in STRATEGIES:
        raise UnsupportedValueError(
            f"Permutation strategy given is not supported: {strategy!r}; expected one of "
            f"{', '.join(STRATEGIES)} or a callable")


def expand(names: t.List[str], values: t.List[t.List[str]], strategy: t.Any,
           n_models: int = 0, replicas: int = 1, seed: t.Any = None) -> Expansion:
    """Expand parameters into members with ``strategy``; ``replicas`` copies of each."""
    check_strategy(strategy)
    sizes = np.array([len(v) for v in values], dtype=np.int64)
    index: MemberIndex
    if callable(strategy):
        return _from_user_strategy(strategy, names, values, n_models, replicas)
    if strategy == "all_perm":
        # decoded per member on demand: no matrix, whatever the product size
        return Expansion(names, values, permute.ProductIndex(sizes, replicas))
    if strategy == "step":
        if len(set(sizes.tolist())) > 1:
            lengths = ", ".join(f"{n}={len(v)}" for n, v in zip(names, values))
            raise StrategyError(f"step strategy needs value lists of equal length; got {lengths}")
        index = permute.expand_step(int(sizes[0]) if len(sizes) else 0, len(names))
    else:  # random
        total = permute.product_size(sizes.tolist())
        n_samples = n_models
        if n_samples < 0:
            raise ParameterError(f"n_models must be >= 0, got {n_samples}")
        if not n_samples:
            index = permute.ProductIndex(sizes)
        else:
            if n_samples > total:
                raise StrategyError(
                    f"random strategy asked for {n_samples} distinct members but the parameters "
                    f"only have {total} combinations")
            index = permute.sample_without_replacement(sizes.tolist(), n_samples, random.Random(seed))
        # for random, callers pass replicas as n_models: no further replication
        return Expansion(names, values, index)
    return Expansion(names, values, permute.repeat_rows(index, replicas))


def _from_user_strategy(strategy: StrategyFunction, names: t.List[str], values: t.List[t.List[str]],
                        n_models: int, replicas: int) -> Expansion:
    result = strategy(list(names), [list(v) for v in values], n_models)
    if not isinstance(result, list):
        raise UserStrategyError(strategy, f"returned {type(result).__name__}, expected a list of dicts")
    columns: t.Dict[str, int] = {}
    col_values: t.List[t.List[str]] = []
    lookups: t.List[t.Dict[str, int]] = []
    for i, member in enumerate(result):
        if not isinstance(member, dict):
            raise UserStrategyError(strategy, f"element {i} is {type(member).__name__}, expected a dict")
        for key in member:
            if not isinstance(key, str):
                raise UserStrategyError(strategy, f"element {i} has non-str key {key!r}")
            if key not in columns:
                columns[key] = len(columns)
                col_values.append([])
                lookups.append({})
    index = np.full((len(result), len(columns)), -1, dtype=permute.INDEX_DTYPE)
    for i, member in enumerate(result):
        for key, val in member.items():
            j = columns[key]
            text = str(val)
            pos = lookups[j].get(text)
            if pos is None:
                pos = lookups[j][text] = len(col_values[j])
                col_values[j].append(text)
            index[i, j] = pos
    return Expansion(list(columns), col_values, permute.repeat_rows(index, replicas))


# -- SmartSim's list-of-dicts strategy functions (public compatibility API) --

def _as_dicts(expansion: Expansion) -> t.List[t.Dict[str, str]]:
    names, values = expansion.names, expansion.values
    return [{n: values[j][k] for j, (n, k) in enumerate(zip(names, row)) if k >= 0}
            for row in expansion.member_index.tolist()]


def create_all_permutations(param_names: t.List[str], param_values: t.List[t.List[str]],
                            _n_models: int = 0) -> t.List[t.Dict[str, str]]:
    """SmartSim's ``all_perm`` strategy as a function: one dict per member of the Cartesian
    product of ``param_values``, first parameter slowest.
    """
    return _as_dicts(expand(param_names, param_values, "all_perm"))


def step_values(param_names: t.List[str], param_values: t.List[t.List[str]],
                _n_models: int = 0) -> t.List[t.Dict[str, str]]:
    """SmartSim's ``step`` strategy as a function: member ``i`` takes the ``i``-th value of
    every parameter (value lists must be of equal length).
    """
    return _as_dicts(expand(param_names, param_values, "step"))


def random_permutations(param_names: t.List[str], param_values: t.List[t.List[str]],
                        n_models: int = 0) -> t.List[t.Dict[str, str]]:
    """SmartSim's ``random`` strategy as a function: ``n_models`` distinct members drawn
    from the product of ``param_values`` (all of them, in product order, when 0).
    """
    return _as_dicts(expand(param_names, param_values, "random", n_models=n_models))
