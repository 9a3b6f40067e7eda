#!/usr/bin/env python3
"""A 100-member ensemble of ``true`` as srun steps inside an allocation, time to all
completed: this package's Slurm launcher vs SmartSim 0.8.0's vs the floor (100 ``srun true &``
and ``wait``), side by side in one run on the same Slurm.

    python benchmarks/bench_slurm.py                 # private Slurm with accounting, 100 members
    python benchmarks/bench_slurm.py --skip-ref      # ours and the floor only (~1 minute)
    python benchmarks/bench_slurm.py --members 20 --ref-members 20 --repeat 2

Each side runs in a fresh allocation of ``--nodes`` nodes (``salloc -N3 <driver>``), the way a
user runs a driver; the timer runs inside it, from just before ``exp.start(ens, block=True)``
(the first ``srun`` for the floor) until every member has ended; every member must end with
exit status 0 (``Completed``). Rounds interleave floor, ours, SmartSim; best of ``--repeat``
(SmartSim: ``--ref-repeat``, default 1: one round takes it about 5 minutes).

- ours: ``Experiment(launcher="slurm")``, ``create_run_settings("true", run_args=...)``,
  ``create_ensemble(replicas=100)``, defaults otherwise.
- SmartSim 0.8.0: the same driver under ``.venv-smartsim080/bin/python``
  (``$SMARTSIM_REF_PYTHON`` overrides) with ``SMARTSIM_JM_INTERVAL=1`` and
  ``SMARTSIM_FLAG_TELEMETRY=0``. Its Slurm launcher finds every step's id with ``sacct`` (and
  sleeps 2 s before the first query, then 1 s after each launch) and polls with ``sacct``: it
  cannot run a step on a Slurm without accounting ("Job step ens_0 failed to launch"). So the
  private Slurm this script starts has accounting (``SLURM_LOCAL_ACCOUNTING=1``: MariaDB and
  slurmdbd under its directory); against an existing one (``SLURM_CONF`` set) SmartSim runs
  only where ``sacct`` answers.
- floor: ``for i in 1..100: srun <same options> true >out_i 2>&1 &``, then ``wait`` for each.

Same srun options on all three sides, ``--srun-args`` (default ``--nodes=1 --ntasks=1
--overlap``). Why ``--overlap``: the local Slurm allocates whole nodes (select/linear) and a
step without ``--exact``/``--overlap`` is given every CPU of its node, so only 3 steps of a
3-node allocation run at a time and the other 97 ``srun`` sit in Slurm's step-creation retry
("step creation temporarily disabled, retrying") -- a figure of srun's back-off, not of the
launchers. SmartSim 0.8 adds neither option itself (it adds ``--output/--error/--job-name``),
so each side gets ``--overlap`` the same way, as run arguments (the floor on its command line),
and every step starts as soon as it is asked for. ``--srun-args="--nodes=1 --ntasks=1"``
measures the plain-step case instead (note the ``=``: the value starts with ``--``).

Goals (issue 11): ours at least 10x faster than SmartSim 0.8.0, and within 1.5x of the floor.
The private Slurm (when ``SLURM_CONF`` is not set) is started with ``scripts/slurm_local.sh``
and removed at the end (``--keep-slurm`` keeps it).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SCRIPT = os.path.join(REPO, "scripts", "slurm_local.sh")
MARK = "@@RESULT@@"
DEFAULT_SRUN_ARGS = "--nodes=1 --ntasks=1 --overlap"

FLOOR = r"""
set -u
n=$1 dir=$2; shift 2
mkdir -p "$dir"
t0=$(date +%s.%N)
pids=()
for ((i = 0; i < n; i++)); do
  srun "$@" true >"$dir/floor_$i.out" 2>&1 &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
t1=$(date +%s.%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
echo "@@RESULT@@{\"seconds\": $secs, \"failed\": $failed, \"job\": \"$SLURM_JOB_ID\"}"
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------
# the driver: runs under either interpreter (ours or SmartSim 0.8.0), inside the allocation


def driver(exp_path: str, members: int, srun_args: t.List[str]) -> None:
    from smartsim import Experiment  # pylint: disable=import-outside-toplevel

    os.makedirs(exp_path, exist_ok=True)  # SmartSim 0.8 wants it to exist
    run_args: t.Dict[str, t.Optional[str]] = {}
    for arg in srun_args:
        key, eq, value = arg.lstrip("-").partition("=")
        run_args[key] = value if eq else None
    exp = Experiment("bench", exp_path=exp_path, launcher="slurm")
    rs = exp.create_run_settings("true", run_args=run_args)
    ens = exp.create_ensemble("ens", run_settings=rs, replicas=members)
    t0 = time.perf_counter()
    exp.start(ens, block=True)
    seconds = time.perf_counter() - t0
    statuses = [str(getattr(s, "value", s)) for s in exp.get_status(ens)]
    print(MARK + json.dumps({
        "seconds": seconds, "completed": statuses.count("Completed"),
        "failed": len(statuses) - statuses.count("Completed"), "job": os.environ.get("SLURM_JOB_ID"),
        "run_args": rs.format_run_args(),
    }), flush=True)


# ------------------------------------------------------------------------------------------
# the comparison


def reference_python() -> t.Optional[str]:
    python = os.environ.get("SMARTSIM_REF_PYTHON") or os.path.join(REPO, ".venv-smartsim080", "bin", "python")
    return python if os.path.exists(python) else None


def start_slurm(nodes: int, accounting: bool) -> str:
    env = dict(os.environ, SLURM_LOCAL_NODES=str(nodes))
    if accounting:
        env["SLURM_LOCAL_ACCOUNTING"] = "1"
    log(f"starting a private Slurm ({nodes} nodes{', accounting' if accounting else ''}) ...")
    proc = subprocess.run(["bash", SCRIPT, "start"], capture_output=True, text=True, env=env,
                          timeout=300, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise SystemExit(f"could not start the private Slurm:\n{proc.stderr}")
    return proc.stdout.strip().splitlines()[-1]


def accounting_works(env: t.Dict[str, str]) -> bool:
    proc = subprocess.run(["sacct", "--noheader", "-X", "--starttime=now-1minutes"], capture_output=True,
                          text=True, env=env, timeout=60)
    return proc.returncode == 0


def run_side(cmd: t.List[str], env: t.Dict[str, str], nodes: int, timeout: float) -> t.Dict[str, t.Any]:
    full = ["salloc", f"-N{nodes}", "--time=30", *cmd]
    proc = subprocess.run(full, capture_output=True, text=True, env=env, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            result = json.loads(line[len(MARK):])
            if proc.returncode != 0 or result.get("failed"):
                raise RuntimeError(f"{cmd[0]}: {result} rc {proc.returncode}\n{proc.stderr[-3000:]}")
            return result
    raise RuntimeError(f"{' '.join(cmd[:2])} printed no result (rc {proc.returncode}):\n"
                       f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")


def main(argv: t.Optional[t.List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--ref-members", type=int, default=None, help="SmartSim's (default: --members)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of ours and the floor")
    parser.add_argument("--ref-repeat", type=int, default=1, help="rounds of SmartSim 0.8.0")
    parser.add_argument("--nodes", type=int, default=3, help="nodes of each allocation")
    parser.add_argument("--srun-args", default=DEFAULT_SRUN_ARGS,
                        help=f"srun options of every step, all sides (default {DEFAULT_SRUN_ARGS!r})")
    parser.add_argument("--skip-ref", action="store_true")
    parser.add_argument("--keep-slurm", action="store_true")
    parser.add_argument("--json", help="write every run and the figures here")
    parser.add_argument("--driver", nargs=3, metavar=("EXP_PATH", "MEMBERS", "SRUN_ARGS_JSON"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.driver:
        driver(args.driver[0], int(args.driver[1]), json.loads(args.driver[2]))
        return 0

    ref_python = None if args.skip_ref else reference_python()
    if not args.skip_ref and ref_python is None:
        log("no SmartSim 0.8.0 interpreter (benchmarks/setup_reference_venv.sh, or SMARTSIM_REF_PYTHON): "
            "running ours and the floor only")
    ref_members = args.ref_members or args.members

    slurm_dir = None
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_") or k == "SLURM_CONF"}
    if not env.get("SLURM_CONF"):
        can_account = all(shutil.which(b) or shutil.which(b, path="/usr/sbin:/sbin")
                          for b in ("slurmdbd", "mariadbd"))
        if ref_python and not can_account:
            log("slurmdbd/mariadb-server not installed (scripts/install_slurm.sh --accounting): "
                "SmartSim 0.8.0's Slurm launcher cannot run without accounting; skipping it")
            ref_python = None
        slurm_dir = start_slurm(args.nodes, accounting=bool(ref_python))
        env["SLURM_CONF"] = os.path.join(slurm_dir, "slurm.conf")
    elif ref_python and not accounting_works(env):
        log(f"sacct does not answer on SLURM_CONF={env['SLURM_CONF']} (no accounting): SmartSim 0.8.0's "
            "Slurm launcher cannot run there; skipping it (unset SLURM_CONF to let this script start "
            "a private Slurm with accounting)")
        ref_python = None
    env_ours = dict(env, PYTHONPATH=os.path.join(REPO, "src"), SMARTSIM_LOG_LEVEL="quiet",
                    SMARTSIM_PROGRESS="0")
    env_ref = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    env_ref.update(SMARTSIM_JM_INTERVAL="1", SMARTSIM_FLAG_TELEMETRY="0", SMARTSIM_LOG_LEVEL="quiet")

    runs: t.Dict[str, t.List[t.Dict[str, t.Any]]] = {"floor": [], "ours": [], "smartsim": []}
    work = tempfile.mkdtemp(prefix="bench-slurm-")
    try:
        with open(os.path.join(work, "floor.sh"), "w", encoding="utf-8") as handle:
            handle.write(FLOOR)
        srun_args = shlex.split(args.srun_args)
        for rnd in range(max(args.repeat, args.ref_repeat if ref_python else 0)):
            if rnd < args.repeat:
                res = run_side(["bash", os.path.join(work, "floor.sh"), str(args.members),
                                os.path.join(work, f"floor{rnd}"), *srun_args], env, args.nodes, 600)
                runs["floor"].append(res)
                log(f"round {rnd + 1}: floor    {res['seconds']:8.3f} s")
                res = run_side([sys.executable, os.path.abspath(__file__), "--driver",
                                os.path.join(work, f"ours{rnd}"), str(args.members), json.dumps(srun_args)],
                               env_ours, args.nodes, 600)
                runs["ours"].append(res)
                log(f"round {rnd + 1}: ours     {res['seconds']:8.3f} s   (srun {' '.join(res['run_args'])})")
            if ref_python and rnd < args.ref_repeat:
                log(f"round {rnd + 1}: SmartSim 0.8.0 ({ref_members} members; about 3 s each) ...")
                res = run_side([ref_python, os.path.abspath(__file__), "--driver",
                                os.path.join(work, f"ref{rnd}"), str(ref_members), json.dumps(srun_args)],
                               env_ref, args.nodes, 3600)
                runs["smartsim"].append(res)
                log(f"round {rnd + 1}: SmartSim {res['seconds']:8.3f} s   (srun {' '.join(res['run_args'])})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if slurm_dir:
            subprocess.run(["bash", SCRIPT, "stop" if args.keep_slurm else "clean", slurm_dir],
                           capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
            if args.keep_slurm:
                log(f"Slurm kept under {slurm_dir}")

    best = {side: min((r["seconds"] for r in rs), default=None) for side, rs in runs.items()}
    ours, floor, ref = best["ours"], best["floor"], best["smartsim"]
    # SmartSim on fewer members: compared per member
    ref_scaled = ref * args.members / ref_members if ref is not None else None
    print()
    print(f"{args.members} members of `true` as srun steps in a {args.nodes}-node allocation "
          f"(srun {args.srun_args}); best of {args.repeat} (SmartSim: {len(runs['smartsim'])})")
    print(f"  floor (srun & + wait) {floor:9.3f} s")
    print(f"  ours                  {ours:9.3f} s   {ours / floor:5.2f}x the floor   (goal <= 1.5x: "
          f"{'met' if ours <= 1.5 * floor else 'NOT met'})")
    if ref is not None:
        scaled = "" if ref_members == args.members else f" ({ref_members} members; x{args.members / ref_members:g})"
        print(f"  SmartSim 0.8.0        {ref:9.3f} s{scaled}   ours is {ref_scaled / ours:6.1f}x faster   "
              f"(goal >= 10x: {'met' if ref_scaled >= 10 * ours else 'NOT met'})")
    else:
        print("  SmartSim 0.8.0        not run")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"members": args.members, "ref_members": ref_members, "nodes": args.nodes,
                       "srun_args": args.srun_args, "runs": runs, "best": best,
                       "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                   "time": time.strftime("%Y-%m-%d %H:%M:%S")}}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
