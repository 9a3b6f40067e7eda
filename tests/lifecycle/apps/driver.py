"""Driver 1: starts a database and a 4-member ensemble detached and one model not detached,
writes READY, then waits to be killed (``kill``) or exits at once (``exit``)."""
import os
import sys
import time

from smartsim import Experiment

exp_path, port, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
exp = Experiment("lifecycle", exp_path=exp_path, launcher="local")
db = exp.create_database(port=port, interface="lo")
rs = exp.create_run_settings(sys.executable, exe_args=[os.path.join(os.path.dirname(__file__), "member.py")])
ens = exp.create_ensemble("ens", run_settings=rs, replicas=4)
exp.start(db, block=False, detach=True)
exp.start(ens, block=False, detach=True)
# not detached: the watchdog (kill) or the exit hook (exit) must still end it
sleeper = exp.create_model("not_detached", exp.create_run_settings("sleep", exe_args=["600"]))
exp.start(sleeper, block=False)
deadline = time.time() + 60
stored = []
while time.time() < deadline:
    stored = [m for m in ens.member_names()
              if os.path.exists(os.path.join(exp_path, "ens", m, m + ".out"))
              and "stored" in open(os.path.join(exp_path, "ens", m, m + ".out")).read()]
    if len(stored) == 4:
        break
    time.sleep(0.1)
with open(os.path.join(exp_path, "READY"), "w") as handle:
    handle.write(",".join(stored))
if how == "kill":
    time.sleep(600)
