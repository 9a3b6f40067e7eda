"""An application of the end-to-end tests (tests/ml/test_ml_start.py): the driver attached
ML objects to it and started it with ``exp.start``; they must be in its database before
this runs. ``argv[1]``: a JSON file ``{"inputs": npz path, "calls": [...], "outputs":
[names]}``; each call is ``["model", key, [inputs], [outputs]]`` or ``["script", key,
function, [inputs], [outputs]]``. The outputs are saved to ``ml_outputs.npz`` in the
working directory.

As an ensemble member (SmartSim sets ``SSKEYOUT`` to its name) it reads its own keys back
(``SSKEYIN`` = its name too), so its tensors are its own."""
import json
import os
import sys

import numpy as np

from smartsim.client import Client

if os.environ.get("SSKEYOUT") and not os.environ.get("SSKEYIN"):
    os.environ["SSKEYIN"] = os.environ["SSKEYOUT"]
with open(sys.argv[1], encoding="utf-8") as handle:
    spec = json.load(handle)
client = Client(None, logger_name="run_ml")
for name, value in np.load(spec["inputs"]).items():
    client.put_tensor(name, value)
for call in spec["calls"]:
    if call[0] == "model":
        client.run_model(call[1], call[2], call[3])
    else:
        client.run_script(call[1], call[2], call[3], call[4])
np.savez("ml_outputs.npz", **{name: client.get_tensor(name) for name in spec["outputs"]})
print("ran", len(spec["calls"]), "calls", flush=True)
