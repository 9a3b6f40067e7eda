"""Example: an inference ensemble (no training). The driver attaches a small TorchScript
classifier (from memory, with batching), a preprocessing script (a TorchScript string) and
a postprocessing function (a Python function) to an ensemble; ``exp.start`` stores them
in the database once, before any member runs. Each member (inference_member.py) makes its
own samples, runs script -> model -> function on its own ``<member>.*`` tensors, and
stores its predicted classes, which the driver reads back.

Needs torch (CPU is enough; ``pip install torch``). Run:
    python examples/inference_ensemble.py [exp_dir]
"""
import io
import os
import sys
import tempfile

import torch

from smartsim import Experiment
from smartsim.client import Client

HERE = os.path.dirname(os.path.abspath(__file__))

PREPROCESS = """
def normalize(x):
    return (x - x.mean(dim=1, keepdim=True)) / (x.std(dim=1, keepdim=True) + 1e-6)
"""


def postprocess(logits):
    return torch.argmax(logits, dim=1)


class Classifier(torch.nn.Module):
    """8 features -> 3 classes (fixed random weights: the point is the plumbing)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))

    def forward(self, x):
        return self.net(x)


def torchscript_bytes(module: torch.nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    return buffer.getvalue()


def main() -> None:
    exp_dir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="smartsim-inference-")
    exp = Experiment("inference", exp_path=os.path.join(exp_dir, "inference"), launcher="local")
    db = exp.create_database(port=_free_port(), interface="lo")

    settings = exp.create_run_settings(sys.executable, exe_args=[os.path.join(HERE, "inference_member.py")])
    ensemble = exp.create_ensemble("infer", params={"seed": [0, 1, 2, 3]}, params_as_args=["seed"],
                                   run_settings=settings)
    # stored once for all members; batch_size: concurrent requests run as one batch
    ensemble.add_ml_model("classifier", "TORCH", model=torchscript_bytes(Classifier()), device="CPU",
                          batch_size=4)
    ensemble.add_script("preprocess", script=PREPROCESS, device="CPU")
    ensemble.add_function("postprocess", function=postprocess, device="CPU")

    exp.start(db)
    try:
        exp.start(ensemble, block=True)  # the objects are in the database before any member runs
        print(exp.summary())
        client = Client(address=db.get_address()[0], cluster=False)
        for member in ensemble:
            classes = client.get_tensor(f"{member.name}.classes")
            print(f"{member.name} (seed {member.params['seed']}): classes {classes.tolist()}")
    finally:
        exp.stop(db)
    print(f"experiment directory: {exp.exp_path}")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
