"""Application run by each ensemble member: reads its rendered input deck, computes a small
field, and stores it in the experiment's database (the key is prefixed with the member's
name because the ensemble enables key prefixing)."""
import sys

import numpy as np

from smartsim.client import Client


def main() -> None:
    deck = dict(line.split("=", 1) for line in open("in.deck", encoding="utf-8").read().split()
                if "=" in line)
    steps, thermo = int(deck["steps"]), float(deck["thermo"])
    field = np.linspace(0.0, thermo, steps, dtype=np.float32)
    client = Client(cluster=False)  # address from SSDB, set by the experiment
    client.put_tensor("field", field)
    print(f"stored field of {steps} values up to {thermo}", file=sys.stdout)


if __name__ == "__main__":
    main()
