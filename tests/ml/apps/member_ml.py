"""An ensemble member of the end-to-end tests: SmartSim sets ``SSKEYOUT`` to its name, so
every tensor it puts is its own (``<member>.x``); it reads them back with ``SSKEYIN`` = its
name. It runs the ensemble's shared model ``double`` and scripts ``s`` and ``f`` (stored
once, under their plain names) and its own model ``scale`` (stored under ``<member>.scale``,
found with ``use_model_ensemble_prefix(True)``)."""
import os

import numpy as np

from smartsim.client import Client

name = os.environ["SSKEYOUT"]
os.environ["SSKEYIN"] = name
index = int(name.rsplit("_", 1)[1])
client = Client(None, logger_name=name)
client.put_tensor("x", np.full(3, float(index + 1), dtype=np.float32))
client.run_model("double", "x", "y")
client.run_script("s", "negate", ["y"], ["z"])
client.run_script("f", "timesthree", ["z"], ["w"])
client.use_model_ensemble_prefix(True)
client.run_model("scale", "x", "v")
print("w", client.get_tensor("w").tolist(), flush=True)
print("v", client.get_tensor("v").tolist(), flush=True)
