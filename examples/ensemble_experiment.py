"""Example experiment: an orchestrator (Redis with the RedisAI-compatible module), an
ensemble whose members each get an input deck rendered from a template, run, and store a
tensor in the database; the driver then reads every member's tensor back.

Run: python examples/ensemble_experiment.py [exp_dir]
"""
import os
import sys
import tempfile

import numpy as np

from smartsim import Experiment
from smartsim.client import Client

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = "steps=;STEPS;\nthermo=;THERMO;\n"


def main() -> None:
    exp_dir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="smartsim-example-")
    exp = Experiment("example", exp_path=os.path.join(exp_dir, "example"), launcher="local")
    template = os.path.join(exp_dir, "in.deck")
    with open(template, "w", encoding="utf-8") as handle:
        handle.write(TEMPLATE)

    db = exp.create_database(port=_free_port(), interface="lo")
    settings = exp.create_run_settings(sys.executable, exe_args=[os.path.join(HERE, "member_app.py")])
    ensemble = exp.create_ensemble("sim", params={"STEPS": [4, 8], "THERMO": [1, 5]},
                                   run_settings=settings, perm_strategy="all_perm")
    ensemble.attach_generator_files(to_configure=[template])
    exp.generate(db, ensemble, overwrite=True)

    exp.start(db)
    try:
        exp.start(ensemble, block=True)
        print(exp.summary())
        client = Client(address=db.get_address()[0], cluster=False)
        for member in ensemble:
            key = f"{member.name}.field"
            field = client.get_tensor(key)
            print(f"{member.name}: params {member.params} -> {key} = {np.array2string(field, precision=2)}")
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
