"""Uses smartsim.client with no arguments: put a tensor, read it back, read one the driver put."""
import sys

import numpy as np

from smartsim.client import Client, ConfigOptions

suffix = sys.argv[1] if len(sys.argv) > 1 else ""
client = Client(ConfigOptions.create_from_environment(suffix)) if suffix else Client()
client.put_tensor("from_model", np.arange(5, dtype=np.int64))
print("round trip", client.get_tensor("from_model").tolist(), flush=True)
if client.tensor_exists("from_driver"):
    print("driver tensor", client.get_tensor("from_driver").tolist(), flush=True)
