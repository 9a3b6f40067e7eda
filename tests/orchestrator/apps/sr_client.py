"""Runs under SmartRedis 0.6.1 (the reference venv): Client() with no arguments."""
import numpy as np
from smartredis import Client

client = Client(logger_name="model")
client.put_tensor("from_smartredis", np.array([1.5, 2.5]))
print("smartredis", client.get_tensor("from_smartredis").tolist(), client.get_tensor("from_driver").tolist(),
      flush=True)
