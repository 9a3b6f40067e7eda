"""An ensemble member: stores a tensor named after itself in the database (SSDB), then
runs until it is stopped (or for the seconds given)."""
import os
import sys
import time

import numpy as np

from smartsim.client import Client

name = os.path.basename(os.getcwd())  # the member directory is named after the member
client = Client(cluster=False)
client.put_tensor(f"{name}_tensor", np.full(4, float(len(name)), dtype=np.float32))
print("stored", flush=True)
time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 600)
