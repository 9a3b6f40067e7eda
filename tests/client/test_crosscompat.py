"""Cross-compatibility with the real SmartRedis 0.6.1 Python client (installed from PyPI into
a throw-away virtual environment cached under the temp dir): data written by one client is
read by the other, both ways, on a standalone server and on the 3-shard cluster."""
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from .conftest import torch_model_bytes
from smartsim.client import Client, Dataset

SR_VERSION = "0.6.1"


@pytest.fixture(scope="session")
def sr_python():
    """python of a venv holding smartredis==0.6.1 (created once, cached by version)."""
    venv = Path(tempfile.gettempdir()) / f"smartsim-test-smartredis-{SR_VERSION}"
    py = venv / "bin" / "python"
    probe = [str(py), "-c", f"import smartredis, importlib.metadata as m; "
                            f"assert m.version('smartredis') == '{SR_VERSION}'"]
    if py.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return str(py)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True,
                       capture_output=True, timeout=120)
        res = subprocess.run([str(py), "-m", "pip", "install", "-q",
                              f"smartredis=={SR_VERSION}"], capture_output=True, text=True,
                             timeout=600)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"could not create a venv with smartredis=={SR_VERSION}: {exc}")
    if res.returncode != 0 or subprocess.run(probe, capture_output=True).returncode != 0:
        pytest.skip(f"smartredis=={SR_VERSION} could not be installed from PyPI "
                    f"(unreachable?): {res.stderr[-500:]}")
    return str(py)


@pytest.fixture(params=["standalone", "cluster"])
def xdb(request, clean_env):
    if request.param == "cluster":
        c = request.getfixturevalue("cluster")
        c.flush()
        env = {"SSDB": c.address, "SR_DB_TYPE": "Clustered"}
    else:
        s = request.getfixturevalue("standalone")
        s.client().flushall()
        env = {"SSDB": f"127.0.0.1:{s.port}", "SR_DB_TYPE": "Standalone"}
    env.update(SSKEYOUT="ens", SSKEYIN="ens", SR_LOG_LEVEL="quiet")
    for k, v in env.items():
        clean_env.setenv(k, v)
    return env


def run_sr(py, env, code, tmp_path):
    script = tmp_path / "sr_side.py"
    script.write_text(textwrap.dedent(code))
    full = dict(os.environ)
    full.update(env)
    res = subprocess.run([py, str(script)], env=full, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def _write_ours(c, model):
    c.put_tensor("ours_t", np.arange(12, dtype=np.float32).reshape(3, 4))
    c.put_tensor("ours_f", np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)))
    ds = Dataset("ours_ds")
    ds.add_tensor("a", np.arange(5, dtype=np.float64))
    ds.add_tensor("b", np.ones((2, 2), dtype=np.uint8))
    for v in (1, np.int32(2), np.uint32(3), np.uint64(4), 1.5, np.float32(2.5)):
        ds.add_meta_scalar(f"m_{type(v).__name__}", v)
    ds.add_meta_string("s", "x")
    ds.add_meta_string("s", "yz")
    c.put_dataset(ds)
    c.append_to_list("ours_list", ds)
    c.set_model("ours_model", model, "TORCH", "CPU")
    c.set_script("ours_script", "def f(x):\n    return x + 1\n")


SR_READ_AND_WRITE = """
    import io, numpy as np
    from smartredis import Client, Dataset
    c = Client(None, logger_name="sr")
    t = c.get_tensor("ours_t"); assert t.dtype == np.float32
    assert (t == np.arange(12, dtype=np.float32).reshape(3, 4)).all()
    assert (c.get_tensor("ours_f") == np.arange(6, dtype=np.int16).reshape(2, 3)).all()
    d = c.get_dataset("ours_ds")
    assert (d.get_tensor("a") == np.arange(5)).all() and d.get_tensor("b").dtype == np.uint8
    assert list(d.get_meta_scalars("m_int")) == [1]
    assert list(d.get_meta_scalars("m_int32")) == [2]
    assert list(d.get_meta_scalars("m_uint32")) == [3]
    assert list(d.get_meta_scalars("m_uint64")) == [4]
    assert list(d.get_meta_scalars("m_float")) == [1.5]
    assert list(d.get_meta_scalars("m_float32")) == [2.5]
    assert d.get_meta_strings("s") == ["x", "yz"]
    assert sorted(d.get_tensor_names()) == ["a", "b"]
    assert c.dataset_exists("ours_ds") and c.get_list_length("ours_list") == 1
    lst = c.get_datasets_from_list("ours_list")
    assert len(lst) == 1
    assert c.model_exists("ours_model")
    x = np.arange(4, dtype=np.float32)
    c.put_tensor("sr_x", x)
    c.run_model("ours_model", ["sr_x"], ["sr_y"])
    assert (c.get_tensor("sr_y") == x * 2).all()
    c.run_script("ours_script", "f", ["sr_x"], ["sr_z"])
    assert (c.get_tensor("sr_z") == x + 1).all()
    # now write for the other side
    c.put_tensor("sr_t", np.arange(8, dtype=np.int64).reshape(2, 4))
    ds = Dataset("sr_ds")
    ds.add_tensor("a", np.arange(3, dtype=np.float32))
    ds.add_meta_scalar("i", 7)
    ds.add_meta_scalar("u", np.uint32(8))
    ds.add_meta_scalar("f", 0.25)
    ds.add_meta_string("s", "hello")
    c.put_dataset(ds)
    c.append_to_list("sr_list", ds)
    c.set_model("sr_model", open(__import__("sys").argv[0].replace("sr_side.py", "m.pt"), "rb").read(), "TORCH", "CPU")
    c.set_script("sr_script", "def g(x):\\n    return x * 3\\n")
    print("SR OK")
"""


def test_both_ways(sr_python, xdb, tmp_path):
    model = torch_model_bytes()
    (tmp_path / "m.pt").write_bytes(model)
    c = Client(None, logger_name="ours")
    _write_ours(c, model)
    assert "SR OK" in run_sr(sr_python, xdb, SR_READ_AND_WRITE, tmp_path)
    np.testing.assert_array_equal(c.get_tensor("sr_t"), np.arange(8).reshape(2, 4))
    d = c.get_dataset("sr_ds")
    np.testing.assert_array_equal(d.get_tensor("a"), np.arange(3, dtype=np.float32))
    assert list(d.get_meta_scalars("i")) == [7] and d.get_meta_scalars("u").dtype == np.uint32
    assert list(d.get_meta_scalars("f")) == [0.25] and d.get_meta_strings("s") == ["hello"]
    assert [x.get_name() for x in c.get_datasets_from_list("sr_list")] == ["sr_ds"]
    assert c.model_exists("sr_model") and c.get_model("sr_model") == model
    x = np.arange(5, dtype=np.float32)
    c.put_tensor("x", x)
    c.run_model("sr_model", ["x"], ["y"])
    np.testing.assert_array_equal(c.get_tensor("y"), x * 2)
    c.run_script("sr_script", "g", ["x"], ["z"])
    np.testing.assert_array_equal(c.get_tensor("z"), x * 3)
