"""The executor's choice of intra-op threads per batch size (backends.TorchModel._pick)."""
from __future__ import annotations

import numpy as np
import pytest

from smartsim._core.executor import backends

from .executor_testlib import torch_model_bytes


@pytest.fixture
def torch_threads():
    """A setter of torch's intra-op threads (it returns torch); the count is restored after the test."""
    torch = pytest.importorskip("torch", reason="needs the python package 'torch'")
    before = torch.get_num_threads()

    def set_threads(n):
        torch.set_num_threads(n)
        return torch

    yield set_threads
    torch.set_num_threads(before)


def test_thread_choice_keeps_results_and_the_configured_count(torch_threads):
    torch = torch_threads(2)
    m = backends.load_model("TORCH", "CPU", torch_model_bytes(torch, "affine"))
    for rows in (1, 8):
        x = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3)
        for _ in range(2 * backends.THREAD_TRIALS + 3):
            (y,) = m.run([x], 1)
            assert y.tolist() == (x * 2 + 1).tolist()
            # whatever a call used, the process' setting is what was configured
            assert torch.get_num_threads() == 2
        # measured both counts, kept one of them: never more than configured
        assert m._threads_for[rows] in (1, 2)
        assert rows not in m._trials
    # a failing call (one input for a model of two) restores the count too
    bad = backends.load_model("TORCH", "CPU", torch_model_bytes(torch, "two_out"))
    for _ in range(2 * backends.THREAD_TRIALS + 1):
        with pytest.raises(backends.BackendError):
            bad.run([np.ones((8, 3), np.float32)], 2)
        assert torch.get_num_threads() == 2


def test_one_thread_configured_is_never_measured(torch_threads):
    torch = torch_threads(1)
    m = backends.load_model("TORCH", "CPU", torch_model_bytes(torch, "affine"))
    x = np.ones((8, 3), np.float32)
    for _ in range(3):
        assert m.run([x], 1)[0].tolist() == (x * 3).tolist()
    assert m._threads_for == {} and m._trials == {}


def test_row_counts_share_a_choice_by_power_of_two(torch_threads):
    torch = torch_threads(2)
    m = backends.load_model("TORCH", "CPU", torch_model_bytes(torch, "affine"))
    for rows in (5, 6, 7, 4):  # one key: 4
        x = np.ones((rows, 3), np.float32)
        for _ in range(2 * backends.THREAD_TRIALS + 3):
            assert m.run([x], 1)[0].tolist() == (x * 2 + 1).tolist()
    assert list(m._threads_for) == [4] and m._trials == {}
    for rows in range(1, 200):
        m.run([np.ones((rows, 3), np.float32)], 1)
    assert len(m._threads_for) + len(m._trials) <= 8  # 1, 2, 4, ..., 128
    assert torch.get_num_threads() == 2


def test_a_slow_call_on_all_threads_ends_the_trials(torch_threads, monkeypatch):
    torch = torch_threads(2)
    m = backends.load_model("TORCH", "CPU", torch_model_bytes(torch, "affine"))
    x = np.ones((8, 3), np.float32)
    m.run([x], 1)  # the model's first call: not measured
    monkeypatch.setattr(backends, "THREAD_TRIAL_MAX_S", 0.0)  # every call is "slow"
    used = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: used.append(n) or real(n))
    for _ in range(2 * backends.THREAD_TRIALS):
        m.run([x], 1)
    assert used == [] and m._threads_for == {8: 2}  # never ran on one thread


def test_torch_refusing_a_thread_count_stops_the_picking(torch_threads, monkeypatch):
    torch = torch_threads(2)
    monkeypatch.setattr(backends, "_pick_threads", True)
    m = backends.load_model("TORCH", "CPU", torch_model_bytes(torch, "affine"))
    x = np.ones((2, 3), np.float32)
    tries = []

    def refuse(n):
        tries.append(n)
        raise RuntimeError("cannot set number of threads")

    monkeypatch.setattr(torch, "set_num_threads", refuse)
    for _ in range(2 * backends.THREAD_TRIALS + 2):
        assert m.run([x], 1)[0].tolist() == (x * 2 + 1).tolist()
    assert tries == [1]  # tried once, then never again
    assert backends._pick_threads is False and m._trials == {}


def test_idle_openmp_threads_spin_briefly_unless_the_user_chose():
    from smartsim._core.executor.worker import OPENMP_SPIN_COUNT, set_openmp_wait

    env = {"PATH": "/bin"}
    set_openmp_wait(env)
    # libgomp (pip torch): a short spin, then sleep; Intel OpenMP: sleep at once
    assert env == {"PATH": "/bin", "GOMP_SPINCOUNT": OPENMP_SPIN_COUNT, "KMP_BLOCKTIME": "0"}
    assert "OMP_WAIT_POLICY" not in env  # a policy would override the spin count
    for mine in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "0"}):
        env = dict(mine)
        set_openmp_wait(env)
        assert env == mine  # what the user exported is left alone
    env = {"KMP_BLOCKTIME": "200"}
    set_openmp_wait(env)
    assert env == {"KMP_BLOCKTIME": "200", "GOMP_SPINCOUNT": OPENMP_SPIN_COUNT}
