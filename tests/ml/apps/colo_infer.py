"""A colocated model's application: its database must already hold the model and the
scripts the driver attached (loaded by the colocated wrapper before this line runs)."""
import numpy as np

from smartsim.client import Client

client = Client(None, logger_name="colo_infer")
print("model exists", client.model_exists("m"), flush=True)
x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
client.put_tensor("x", x)
client.run_model("m", "x", "y")
client.run_script("s_str", "negate", ["y"], ["z"])
client.run_script("s_file", "add", ["z", "x"], ["w"])
print("result", client.get_tensor("w").tolist(), flush=True)
