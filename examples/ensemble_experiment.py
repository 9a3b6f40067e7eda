"""Example experiment: an ensemble expanded from parameters, each member's input deck
rendered from a template, then the members' inputs listed.

Run: python examples/ensemble_experiment.py [exp_dir]
"""
import os
import sys
import tempfile

from smartsim import Experiment

TEMPLATE = """# input deck for ;NAME;
steps = ;STEPS;
thermo = ;THERMO;
"""


def main() -> None:
    exp_dir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="smartsim-example-")
    exp = Experiment("example", exp_path=os.path.join(exp_dir, "example"), launcher="local")
    template = os.path.join(exp_dir, "in.deck")
    with open(template, "w", encoding="utf-8") as handle:
        handle.write(TEMPLATE)

    settings = exp.create_run_settings("echo", exe_args=["hello"])
    ensemble = exp.create_ensemble(
        "sim", params={"STEPS": [10, 20], "THERMO": [1, 5, 10], "NAME": "demo"},
        run_settings=settings, perm_strategy="all_perm")
    ensemble.attach_generator_files(to_configure=[template])
    exp.generate(ensemble, overwrite=True)

    print(f"experiment directory: {exp.exp_path}")
    for member in ensemble:
        with open(os.path.join(member.path, "in.deck"), encoding="utf-8") as handle:
            deck = " | ".join(line for line in handle.read().splitlines() if not line.startswith("#"))
        print(f"{member.name:8s} {member.params}  ->  {deck}")


if __name__ == "__main__":
    main()
