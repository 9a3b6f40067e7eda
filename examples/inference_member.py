"""Application run by each member of examples/inference_ensemble.py: classifies its own
samples with the objects the driver attached to the ensemble (already in the database when
this starts). Its tensors are prefixed with its name (``SSKEYOUT``, set by SmartSim); it
reads them back under the same prefix."""
import argparse
import os

import numpy as np

from smartsim.client import Client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, required=True)
    seed = parser.parse_args().seed
    name = os.environ.get("SSKEYOUT", "")
    if name:
        os.environ.setdefault("SSKEYIN", name)  # read this member's own keys
    client = Client(cluster=False)  # address from SSDB, set by the experiment
    samples = np.random.default_rng(seed).normal(size=(5, 8)).astype(np.float32)
    client.put_tensor("samples", samples)
    client.run_script("preprocess", "normalize", ["samples"], ["normalized"])
    client.run_model("classifier", ["normalized"], ["logits"])
    client.run_script("postprocess", "postprocess", ["logits"], ["classes"])
    print(f"{name}: classes {client.get_tensor('classes').tolist()}", flush=True)


if __name__ == "__main__":
    main()
