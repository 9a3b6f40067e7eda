"""What one executor process serves: ``--device auto`` (the CPU and every GPU the NVIDIA
driver shows, within ``CUDA_VISIBLE_DEVICES``) or a list of devices."""
from __future__ import annotations

import pytest

from smartsim._core.executor.backends import BackendError, resolve_devices, visible_gpus


@pytest.fixture
def driver_gpus(tmp_path):
    """A directory laid out as /proc/driver/nvidia/gpus on a host with ``n`` GPUs."""
    def make(n):
        root = tmp_path / "gpus"
        root.mkdir()
        for i in range(n):
            (root / f"0000:{i + 1:02x}:00.0").mkdir()
        return str(root)
    return make


def test_gpus_are_counted_as_cuda_numbers_them(driver_gpus):
    four = driver_gpus(4)
    assert visible_gpus({}, four) == 4
    assert visible_gpus({}, four + "-missing") == 0  # no NVIDIA driver: none
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}, four) == 2
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "GPU-8f3c0e1a,MIG-1"}, four) == 2
    # CUDA stops at the first entry that names no device; empty or -1 hides them all
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "1,-1,2"}, four) == 1
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "7,0"}, four) == 0
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}, four) == 0
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}, four) == 0


def test_device_lists_and_auto():
    assert resolve_devices("auto", gpus=0) == ["CPU"]
    assert resolve_devices("AUTO", gpus=2) == ["CPU", "GPU:0", "GPU:1"]
    assert resolve_devices("CPU") == ["CPU"]
    assert resolve_devices("cpu, gpu, GPU:3") == ["CPU", "GPU:0", "GPU:3"]
    for bad, named in (("CPU,TPU", "'TPU'"), ("GPU:x", "'GPU:x'"), ("CPU,,GPU", "empty device"),
                       ("GPU,GPU:0", "GPU:0 given twice")):
        with pytest.raises(BackendError, match=named):
            resolve_devices(bad)
