"""Runs under SmartRedis 0.6.1 (the reference venv): Client() with no arguments, or the
database of ``argv[1]`` through ConfigOptions.create_from_environment."""
import sys

import numpy as np
from smartredis import Client, ConfigOptions

if len(sys.argv) > 1:
    client = Client(ConfigOptions.create_from_environment(sys.argv[1]), logger_name="model")
else:
    client = Client(logger_name="model")
client.put_tensor("from_smartredis", np.array([1.5, 2.5]))
print("smartredis", client.get_tensor("from_smartredis").tolist(), client.get_tensor("from_driver").tolist(),
      flush=True)
