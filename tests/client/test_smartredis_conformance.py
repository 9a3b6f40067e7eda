"""Conformance of our server (module + executor) with the real SmartRedis 0.6.1 Python
client alone: every tensor dtype, datasets, aggregation lists, TorchScript models and
scripts, on a standalone server and on the 3-shard cluster (issue 3)."""
from .conftest import torch_model_bytes
from .test_crosscompat import run_sr, sr_python, xdb  # noqa: F401  (fixtures)

SR_ONLY = """
import numpy as np
from smartredis import Client, Dataset

c = Client(None, logger_name="conformance")
dtypes = [np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16]
for i, dt in enumerate(dtypes):
    data = (np.arange(24) % 100).astype(dt).reshape(2, 3, 4)
    c.put_tensor(f"t_{i}", data)
    back = c.get_tensor(f"t_{i}")
    assert back.dtype == np.dtype(dt), (dt, back.dtype)
    assert back.shape == (2, 3, 4) and (back == data).all(), dt
    assert c.tensor_exists(f"t_{i}")
print("DTYPES OK")

ds = Dataset("conf_ds")
ds.add_tensor("x", np.linspace(0, 1, 10, dtype=np.float64))
ds.add_tensor("y", np.arange(6, dtype=np.int32).reshape(2, 3))
ds.add_meta_scalar("step", 42)
ds.add_meta_scalar("dt", 0.5)
ds.add_meta_string("label", "run-a")
c.put_dataset(ds)
got = c.get_dataset("conf_ds")
assert (got.get_tensor("x") == np.linspace(0, 1, 10)).all()
assert (got.get_tensor("y") == np.arange(6).reshape(2, 3)).all()
assert list(got.get_meta_scalars("step")) == [42] and list(got.get_meta_scalars("dt")) == [0.5]
assert got.get_meta_strings("label") == ["run-a"]
print("DATASET OK")

for k in range(3):
    member = Dataset(f"agg_{k}")
    member.add_tensor("v", np.full(4, k, dtype=np.float32))
    c.put_dataset(member)
    c.append_to_list("agg_list", member)
assert c.get_list_length("agg_list") == 3
members = c.get_datasets_from_list("agg_list")
assert sorted(float(m.get_tensor("v")[0]) for m in members) == [0.0, 1.0, 2.0]
print("LIST OK")

import sys
model = open(sys.argv[0].replace("sr_side.py", "m.pt"), "rb").read()
c.set_model("conf_model", model, "TORCH", "CPU")
x = np.arange(8, dtype=np.float32)
c.put_tensor("mx", x)
c.run_model("conf_model", ["mx"], ["my"])
assert (c.get_tensor("my") == x * 2).all()
print("MODEL OK")

c.set_script("conf_script", "def plus_one(a):\\n    return a + 1\\n\\ndef times(a, b):\\n    return a * b\\n")
c.run_script("conf_script", "plus_one", ["mx"], ["s1"])
assert (c.get_tensor("s1") == x + 1).all()
c.run_script("conf_script", "times", ["mx", "my"], ["s2"])
assert (c.get_tensor("s2") == x * x * 2).all()
print("SCRIPT OK")
"""


def test_real_smartredis_client_against_our_server(sr_python, xdb, tmp_path):  # noqa: F811
    (tmp_path / "m.pt").write_bytes(torch_model_bytes())
    out = run_sr(sr_python, xdb, SR_ONLY, tmp_path)
    for stage in ("DTYPES OK", "DATASET OK", "LIST OK", "MODEL OK", "SCRIPT OK"):
        assert stage in out, out
