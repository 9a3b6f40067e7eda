#!/usr/bin/env python3
"""Side by side: this package against SmartSim 0.8.0, same workloads, fresh processes.

    python benchmarks/compare_smartsim.py            # full sizes (10,648 / 1,000,000 / 10,000)
    python benchmarks/compare_smartsim.py --quick    # ~2,000-member ensembles, 1,000,000 for (b)
    SMARTSIM_REF_PYTHON=/opt/ssvenv/bin/python python benchmarks/compare_smartsim.py

The reference interpreter is ``$SMARTSIM_REF_PYTHON`` if set, else the venv made by
``setup_reference_venv.sh`` (``$SMARTSIM_REF_VENV`` or ``<repo>/.venv-smartsim080``), which
is created on first use unless ``--no-install``. Our interpreter is this one
(``sys.executable``) unless ``$SMARTSIM_OURS_PYTHON`` is set.

Every measurement is one fresh subprocess running ``workloads.py``; each workload times
only its own operation (imports and setup excluded). Runs are interleaved (ours, reference,
floor, ours, ...) and the best of ``--repeat`` is reported, the usual practice on a shared
machine. Results go to ``benchmarks/results.json``.

``generate`` and its floor run in every ``--workdir`` (default: ``/dev/shm``, then the system
temp dir). The goals are judged on the first one: tmpfs measures the software; a shared
virtual disk mostly measures the other tenants (see README.md). Each generated tree is
checked against the others (floor: byte-identical; SmartSim: identical rendered files and
identical ``smartsim_params.txt`` lines -- SmartSim orders the per-file tables by set order).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORKLOADS = os.path.join(HERE, "workloads.py")
RESULT_MARK = "@@RESULT@@"

FULL = {"ensemble_names": [22, 22, 22], "million": [100, 100, 100], "billion": [1000, 1000, 1000],
        "generate": [10, 10, 10, 10]}
QUICK = {"ensemble_names": [13, 13, 13], "million": [100, 100, 100], "billion": [1000, 1000, 1000],
         "generate": [5, 5, 8, 10]}

GOALS = {
    "ensemble_speedup_min": 50.0,      # (a) ours >= 50x faster than SmartSim 0.8.0
    "million_lookup_max_s": 0.5,       # (b) create + len + 1000 lookups
    "million_names_max_s": 3.0,        # (b) list 1M names by iteration
    "million_names_max_mb": 400.0,     # (b) peak memory of that process
    "billion_lookup_max_s": 0.5,       # (b) 10^9 members: create + len + 1000 lookups
    "billion_lookup_max_mb": 200.0,    # (b) peak RSS of that process
    "generate_speedup_min": 10.0,      # (c) ours >= 10x faster than SmartSim 0.8.0
    "generate_floor_max_ratio": 1.0,   # (c) ours no slower than the bare loop (d)
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# interpreters
# ---------------------------------------------------------------------------------------


def reference_python(install: bool) -> str:
    env_py = os.environ.get("SMARTSIM_REF_PYTHON")
    if env_py:
        return env_py
    venv = os.environ.get("SMARTSIM_REF_VENV") or os.path.join(REPO, ".venv-smartsim080")
    py = os.path.join(venv, "bin", "python")
    if os.path.exists(py) and not install:
        return py
    if not install:
        raise SystemExit(f"no reference interpreter: {py} is missing; run "
                         "benchmarks/setup_reference_venv.sh or set SMARTSIM_REF_PYTHON")
    log(f"setting up the reference venv ({venv}) with benchmarks/setup_reference_venv.sh ...")
    out = subprocess.run(["bash", os.path.join(HERE, "setup_reference_venv.sh")], check=True,
                         stdout=subprocess.PIPE, text=True, env=dict(os.environ, SMARTSIM_REF_VENV=venv))
    return out.stdout.strip().splitlines()[-1]


def clean_env() -> t.Dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # neither interpreter may see the other's package
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def describe(python: str) -> t.Dict[str, str]:
    code = ("import sys, smartsim; from importlib import metadata as m\n"
            "try: v = m.version('smartsim')\nexcept Exception: v = '?'\n"
            "print(getattr(smartsim, '__version__', '?'), v, smartsim.__file__, sys.version.split()[0], sep='|')")
    out = subprocess.run([python, "-c", code], check=True, stdout=subprocess.PIPE, text=True,
                         env=clean_env(), cwd=HERE)
    version, dist_version, path, pyver = out.stdout.strip().splitlines()[-1].split("|")
    return {"python": python, "smartsim_version": version, "dist_version": dist_version,
            "smartsim_file": path, "python_version": pyver}


# ---------------------------------------------------------------------------------------
# running workloads
# ---------------------------------------------------------------------------------------


def run_workload(python: str, workload: str, sizes: t.List[int], extra: t.Sequence[str] = (),
                 workdir: t.Optional[str] = None, timeout: float = 1800) -> t.Dict[str, t.Any]:
    cmd = [python, WORKLOADS, workload, "--sizes", ",".join(map(str, sizes)), *extra]
    if workdir:
        cmd += ["--workdir", workdir]
        if fs_type(workdir) not in ("tmpfs", "ramfs"):
            cmd.append("--keep")  # deleted at the end, see main()
    if workload in ("generate", "floor"):
        os.sync()  # start from clean page cache writeback, not the previous run's
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=clean_env(), cwd=HERE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "wall": time.perf_counter() - start}
    wall = time.perf_counter() - start
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result = json.loads(line[len(RESULT_MARK):])
            result["wall"] = wall
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
    return {"error": f"exit {proc.returncode}: " + "\n".join(tail), "wall": wall}


def best(runs: t.List[t.Dict[str, t.Any]], key: str = "seconds") -> t.Optional[t.Dict[str, t.Any]]:
    ok = [r for r in runs if "error" not in r]
    return min(ok, key=lambda r: r[key]) if ok else None


def fmt_s(x: t.Optional[float]) -> str:
    if x is None:
        return "-"
    if x < 0.01:
        return f"{x * 1000:.2f} ms"
    if x < 1:
        return f"{x * 1000:.0f} ms"
    return f"{x:.2f} s"


def resolve_workdirs(spec: t.Optional[str]) -> t.List[t.Tuple[str, str]]:
    """(label, directory) pairs where generate/floor write; label is the filesystem type."""
    if spec:
        dirs = [d.strip() for d in spec.split(",") if d.strip()]
    else:
        dirs = []
        if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
            dirs.append("/dev/shm")
        dirs.append(tempfile.gettempdir())
    out = []
    for d in dirs:
        os.makedirs(d, exist_ok=True)
        out.append((fs_type(d), os.path.abspath(d)))
    return out


def fs_type(path: str) -> str:
    """Filesystem type of ``path`` from /proc/mounts (longest matching mount point)."""
    path = os.path.realpath(path)
    found, best_len = "fs", -1
    try:
        with open("/proc/mounts") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 3:
                    mnt = parts[1]
                    if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > best_len:
                        found, best_len = parts[2], len(mnt)
    except OSError:
        pass
    return found


def source_digest() -> t.Optional[str]:
    """sha256 of this repository's sources (src/**/*.py, *.pyx, *.pxd), to tie figures to code."""
    import hashlib

    h = hashlib.sha256()
    src = os.path.join(REPO, "src")
    if not os.path.isdir(src):
        return None
    for dirpath, dirs, files in os.walk(src):
        dirs.sort()
        for fname in sorted(files):
            if fname.endswith((".py", ".pyx", ".pxd")):
                full = os.path.join(dirpath, fname)
                h.update(os.path.relpath(full, src).encode() + b"\0")
                with open(full, "rb") as handle:
                    h.update(handle.read())
    return h.hexdigest()[:16]


def machine_info() -> t.Dict[str, t.Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as handle:
            mem = int(handle.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "mem_mb": mem, "platform": platform.platform(),
            "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None}


# ---------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------


def main(argv: t.Optional[t.List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="~2,000-member ensembles for (a) and (c)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each of our workloads (best is kept)")
    ap.add_argument("--ref-repeat", type=int, default=None,
                    help="runs of each SmartSim workload (default: --repeat)")
    ap.add_argument("--ref-timeout", type=float, default=1800, help="seconds allowed per SmartSim run")
    ap.add_argument("--only", default="a,b,c", help="comma list among a,b,c (c includes the floor d)")
    ap.add_argument("--skip-ref", action="store_true", help="our package only (no SmartSim runs)")
    ap.add_argument("--no-install", action="store_true", help="do not create the reference venv")
    ap.add_argument("--workdir", default=None,
                    help="comma list of directories where generate/floor write; the goals are judged on "
                         "the first (default: /dev/shm when writable -- tmpfs measures the software, not "
                         "a shared disk -- then the system temp dir)")
    ap.add_argument("--json", default=os.path.join(HERE, "results.json"), help="results file")
    args = ap.parse_args(argv)
    ref_repeat = args.ref_repeat if args.ref_repeat is not None else args.repeat
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    sizes = QUICK if args.quick else FULL

    ours_py = os.environ.get("SMARTSIM_OURS_PYTHON") or sys.executable
    interpreters = {"ours": describe(ours_py)}
    interpreters["ours"]["source_sha256_16"] = source_digest()
    ref_py = None
    if not args.skip_ref and only & {"a", "c"}:
        ref_py = reference_python(install=not args.no_install)
        interpreters["smartsim080"] = describe(ref_py)
        if interpreters["smartsim080"]["dist_version"] != "0.8.0":
            log(f"warning: reference interpreter has smartsim {interpreters['smartsim080']['dist_version']}")
    if interpreters["ours"]["dist_version"] == "0.8.0" or "site-packages/smartsim" in interpreters["ours"]["smartsim_file"]:
        log(f"warning: 'ours' imports {interpreters['ours']['smartsim_file']} -- is that this package?")
    for label, info in interpreters.items():
        log(f"{label:12s} {info['python']} -> smartsim {info['smartsim_version']} ({info['smartsim_file']})")

    runs: t.Dict[str, t.Dict[str, t.List[t.Dict[str, t.Any]]]] = {}

    def record(key: str, who: str, result: t.Dict[str, t.Any]) -> None:
        runs.setdefault(key, {}).setdefault(who, []).append(result)
        shown = fmt_s(result.get("seconds")) if "error" not in result else "ERROR " + result["error"]
        log(f"  {key:16s} {who:12s} {shown}")

    t_start = time.time()
    mach = machine_info()
    workdirs = resolve_workdirs(args.workdir)
    # one session directory per location; trees written on disk stay until the end (deleting
    # 40k files on a filesystem mounted with 'discard' slows down whichever run comes next)
    session_dirs = [tempfile.mkdtemp(prefix="ssbench-session-", dir=wd) for _label, wd in workdirs]
    workdirs = [(label, sd) for (label, _wd), sd in zip(workdirs, session_dirs)]
    gen_keys = {wd: f"generate@{label}" for label, wd in workdirs}
    try:
        n_rounds = max(args.repeat, ref_repeat if ref_py else 0)
        for rnd in range(n_rounds):
            log(f"round {rnd + 1}/{n_rounds}")
            first = rnd == 0
            if "a" in only:
                if rnd < args.repeat:
                    record("ensemble_names", "ours", run_workload(ours_py, "ensemble_names", sizes["ensemble_names"]))
                if ref_py and rnd < ref_repeat:
                    record("ensemble_names", "smartsim080",
                           run_workload(ref_py, "ensemble_names", sizes["ensemble_names"], timeout=args.ref_timeout))
            if "b" in only and rnd < args.repeat:
                record("million_lookup", "ours", run_workload(ours_py, "million_lookup", sizes["million"]))
                record("million_names", "ours", run_workload(ours_py, "million_names", sizes["million"]))
                record("billion_lookup", "ours", run_workload(ours_py, "million_lookup", sizes["billion"]))
            if "c" in only:
                extra = ["--digest"] if first else []
                for _label, wd in workdirs:
                    key = gen_keys[wd]
                    if rnd < args.repeat:
                        record(key, "ours", run_workload(ours_py, "generate", sizes["generate"], extra, wd))
                        record(key, "floor", run_workload(ours_py, "floor", sizes["generate"], extra, wd))
                    if ref_py and rnd < ref_repeat:
                        record(key, "smartsim080", run_workload(ref_py, "generate", sizes["generate"], extra, wd,
                                                                timeout=args.ref_timeout))
        if "b" in only:
            # memory of the names listing as seen by tracemalloc (a separate, untimed run)
            record("million_names_tracemalloc", "ours",
                   run_workload(ours_py, "million_names", sizes["million"], ["--tracemalloc"]))
    finally:
        for sd in session_dirs:
            shutil.rmtree(sd, ignore_errors=True)

    # ---- summary -------------------------------------------------------------------
    bests = {key: {who: best(rs) for who, rs in per.items()} for key, per in runs.items()}

    def sec(key: str, who: str) -> t.Optional[float]:
        b = bests.get(key, {}).get(who)
        return b["seconds"] if b else None

    def ratio(num: t.Optional[float], den: t.Optional[float]) -> t.Optional[float]:
        return num / den if num is not None and den else None

    goals: t.Dict[str, t.Dict[str, t.Any]] = {}
    rows: t.List[t.Tuple[str, ...]] = []

    if "a" in only:
        a_o, a_r = sec("ensemble_names", "ours"), sec("ensemble_names", "smartsim080")
        a_ratio = ratio(a_r, a_o)
        n = bests["ensemble_names"]["ours"]["members"] if bests["ensemble_names"].get("ours") else "?"
        rows.append((f"(a) all_perm ensemble + names, {n} members", fmt_s(a_o), fmt_s(a_r),
                     f"{a_ratio:.0f}x faster" if a_ratio else "-"))
        if a_ratio is not None:
            goals["ensemble_speedup"] = {"value": a_ratio, "goal": f">= {GOALS['ensemble_speedup_min']:.0f}x",
                                             "met": a_ratio >= GOALS["ensemble_speedup_min"],
                                             "members": n}
    if "b" in only:
        lk = bests["million_lookup"].get("ours")
        nm = bests["million_names"].get("ours")
        tm = bests.get("million_names_tracemalloc", {}).get("ours")
        peak = max((r["maxrss_mb"] for r in runs["million_names"]["ours"] if "error" not in r), default=None)
        if lk:
            rows.append(("(b) 1M members: create + len + 1000 lookups", fmt_s(lk["seconds"]), "n/a",
                         f"goal < {GOALS['million_lookup_max_s']} s"))
            goals["million_create_len_lookups"] = {"value": lk["seconds"], "goal": "< 0.5 s",
                                                   "met": lk["seconds"] < GOALS["million_lookup_max_s"]}
        bl = bests.get("billion_lookup", {}).get("ours")
        if bl:
            rows.append(("(b) 10^9 members: create + len + 1000 lookups", fmt_s(bl["seconds"]), "n/a",
                         f"goal < {GOALS['billion_lookup_max_s']} s"))
            rows.append(("(b)   peak RSS of that process", f"{bl['maxrss_mb']:.0f} MB", "n/a",
                         f"goal < {GOALS['billion_lookup_max_mb']:.0f} MB"))
            goals["billion_create_len_lookups"] = {"value": bl["seconds"], "goal": "< 0.5 s",
                                                   "met": bl["seconds"] < GOALS["billion_lookup_max_s"]}
            goals["billion_peak_memory_mb"] = {"value": bl["maxrss_mb"], "goal": "< 200 MB",
                                               "met": bl["maxrss_mb"] < GOALS["billion_lookup_max_mb"]}
        if nm:
            rows.append(("(b) 1M members: list names by iterating", fmt_s(nm["seconds"]), "n/a",
                         f"goal < {GOALS['million_names_max_s']} s"))
            rows.append(("(b)   peak RSS of that process (max of runs)", f"{peak:.0f} MB", "n/a",
                         f"goal < {GOALS['million_names_max_mb']:.0f} MB"))
            if tm and "tracemalloc_peak_mb" in tm:
                rows.append(("(b)   tracemalloc peak of the listing", f"{tm['tracemalloc_peak_mb']:.0f} MB", "n/a", ""))
            goals["million_names_iteration"] = {"value": nm["seconds"], "goal": "< 3 s",
                                                "met": nm["seconds"] < GOALS["million_names_max_s"]}
            goals["million_names_peak_memory_mb"] = {"value": peak, "goal": "< 400 MB",
                                                     "met": peak is not None and peak < GOALS["million_names_max_mb"],
                                                     "tracemalloc_peak_mb": tm.get("tracemalloc_peak_mb") if tm else None}
    if "c" in only:
        for i, (label, wd) in enumerate(workdirs):
            key = gen_keys[wd]
            judged = i == 0  # goals are judged on the first workdir
            c_o, c_r, c_f = sec(key, "ours"), sec(key, "smartsim080"), sec(key, "floor")
            c_ratio, f_ratio = ratio(c_r, c_o), ratio(c_o, c_f)
            b_o = bests[key].get("ours")
            n = b_o["members"] if b_o else "?"
            rows.append((f"(c) exp.generate, {n} members x 3 templates [{label}]", fmt_s(c_o), fmt_s(c_r),
                         f"{c_ratio:.1f}x faster" if c_ratio else "-"))
            rows.append((f"(d)   bare-loop floor, same files [{label}]", fmt_s(c_f), "",
                         f"ours/floor = {f_ratio:.2f}" if f_ratio else "-"))
            suffix = "" if judged else f"[{label}, not judged]"
            if c_ratio is not None:
                goals["generate_speedup" + suffix] = {
                    "value": c_ratio, "goal": f">= {GOALS['generate_speedup_min']:.0f}x", "members": n,
                    "workdir": wd, "met": c_ratio >= GOALS["generate_speedup_min"]}
            if f_ratio is not None:
                goals["generate_vs_floor" + suffix] = {
                    "value": f_ratio, "goal": "ours/floor <= 1.0", "workdir": wd,
                    "met": f_ratio <= GOALS["generate_floor_max_ratio"]}
            if not judged:
                for g in ("generate_speedup" + suffix, "generate_vs_floor" + suffix):
                    if g in goals:
                        goals[g]["judged"] = False
            # same output? (the first round ran with --digest)
            digests = {who: next((r for r in rs if "digest" in r), None) for who, rs in runs[key].items()}
            check: t.Dict[str, t.Any] = {}
            if digests.get("ours") and digests.get("floor"):
                check["ours_vs_floor_identical"] = digests["ours"]["digest"] == digests["floor"]["digest"]
            if digests.get("ours") and digests.get("smartsim080"):
                o, r = digests["ours"], digests["smartsim080"]
                check["ours_vs_smartsim_rendered_identical"] = o["digest_rendered"] == r["digest_rendered"]
                check["ours_vs_smartsim_params_logs_same_lines"] = (
                    o["digest_params_sorted"] == r["digest_params_sorted"])
                check["ours_vs_smartsim_byte_identical"] = o["digest"] == r["digest"]
            if check and judged:
                goals["generate_output_check"] = check

    head = ("workload", "ours", "SmartSim 0.8.0", "ratio / goal")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(4)]
    line = "  ".join("-" * w for w in widths)
    print()
    print(f"mode: {'quick' if args.quick else 'full'}; best of {args.repeat} (ours) / {ref_repeat} "
          f"(SmartSim); {mach['cpus']} cpus, {mach['cpu_model']}; generate writes under "
          f"{', '.join(f'{label} ({wd})' for label, wd in workdirs)}")
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    print(line)
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    print()
    for key, g in goals.items():
        if "met" in g:
            v = g["value"]
            vs = f"{v:.3g}" if isinstance(v, float) else str(v)
            verdict = ("PASS" if g["met"] else "MISS") if g.get("judged", True) else ("pass" if g["met"] else "miss")
            print(f"  [{verdict}] {key}: {vs} (goal {g['goal']})")
        else:
            print(f"  [info] {key}: {g}")

    results = {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "repeat": args.repeat, "ref_repeat": ref_repeat if ref_py else 0,
        "workdirs": workdirs,
        "machine": mach, "interpreters": interpreters, "sizes": sizes,
        "goals": goals, "best": bests, "runs": runs,
        "elapsed_s": time.time() - t_start,
        "loadavg_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    with open(args.json, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1, default=str)
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
