"""Benchmark workloads written against SmartSim's public API only.

The same file runs under this package and under the real SmartSim 0.8.0 (both import as
``smartsim``), so ``compare_smartsim.py`` can run identical work through both interpreters.
Nothing here imports anything below ``smartsim``'s public surface (``Experiment``,
``create_run_settings``, ``create_ensemble``, ``attach_generator_files``, ``generate``).

Run one workload in a fresh process; it prints one line ``@@RESULT@@ <json>`` at the end::

    python benchmarks/workloads.py ensemble_names --sizes 22,22,22
    python benchmarks/workloads.py million_lookup --sizes 100,100,100 --lookups 1000
    python benchmarks/workloads.py million_names --sizes 100,100,100 [--tracemalloc]
    python benchmarks/workloads.py generate --sizes 10,10,10,10 [--digest]
    python benchmarks/workloads.py floor --sizes 10,10,10,10

Workloads:

(a) ``ensemble_names``  build an ``all_perm`` ensemble and list every member's name.
(b) ``million_lookup``  create a 1,000,000-member ensemble, ``len()``, 1,000 lookups by name.
    ``million_names``   create it (untimed), then list all names by iterating the ensemble;
                        peak memory from ``ru_maxrss`` (and ``tracemalloc`` with the flag).
(c) ``generate``        ``exp.generate`` of an ensemble with 3 templates (200 lines, 20 tags).
(d) ``floor``           a bare Python loop writing the files that (c) produces (bytes taken
                        from this package's own generated output) into fresh directories.
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import typing as t

RESULT_MARK = "@@RESULT@@"

# ---------------------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------------------


def param_space(sizes: t.Sequence[int]) -> t.Dict[str, t.List[t.Any]]:
    """``len(sizes)`` parameters ``p0, p1, ...``; values mix ints, floats and strings."""
    params: t.Dict[str, t.List[t.Any]] = {}
    for j, n in enumerate(sizes):
        kind = j % 3
        if kind == 0:
            values: t.List[t.Any] = list(range(n))
        elif kind == 1:
            values = [round(0.5 + 0.25 * i, 4) for i in range(n)]
        else:
            values = [f"v{j}x{i}" for i in range(n)]
        params[f"p{j}"] = values
    return params


def n_members(sizes: t.Sequence[int]) -> int:
    out = 1
    for n in sizes:
        out *= n
    return out


def make_experiment(root: str, name: str = "bench") -> t.Any:
    from smartsim import Experiment

    exp_path = os.path.join(root, name)
    os.makedirs(exp_path, exist_ok=True)  # SmartSim 0.8 requires an existing exp_path
    return Experiment(name, exp_path=exp_path, launcher="local")


def run_settings(exp: t.Any) -> t.Any:
    return exp.create_run_settings(exe="echo", exe_args=["hello"])


def build_ensemble(exp: t.Any, rs: t.Any, sizes: t.Sequence[int], name: str = "ens") -> t.Any:
    return exp.create_ensemble(name, params=param_space(sizes), run_settings=rs,
                               perm_strategy="all_perm")


def names_via_models(ens: t.Any) -> t.List[str]:
    return [m.name for m in ens.models]


def names_via_iter(ens: t.Any) -> t.List[str]:
    return [m.name for m in ens]


def write_templates(directory: str, n_params: int, n_templates: int = 3, n_lines: int = 200,
                    n_tags: int = 20) -> t.List[str]:
    """``n_templates`` Fortran-namelist-like files of ``n_lines`` lines with ``n_tags`` tags.

    Tags cycle over the parameters ``p0 .. p{n_params-1}`` so every member renders
    differently; two of the tagged lines carry two tags each (several tags on one line).
    No other ``;`` appears, so SmartSim's default ``(;[^;]+;)`` regex sees only the tags.
    """
    os.makedirs(directory, exist_ok=True)
    paths = []
    for k in range(n_templates):
        tag_lines = sorted(random.Random(1000 + k).sample(range(1, n_lines - 1), n_tags - 2))
        doubles = set(tag_lines[:2])
        tag_no = 0
        lines = [f"! input deck {k} generated for the smartsim benchmark\n"]
        for i in range(1, n_lines):
            if i in tag_lines:
                p = f"p{tag_no % n_params}"
                tag_no += 1
                if i in doubles:
                    q = f"p{tag_no % n_params}"
                    tag_no += 1
                    lines.append(f"  pair_{k}_{i:03d} = ;{p}; , ;{q};  ! two tags\n")
                else:
                    lines.append(f"  param_{k}_{i:03d} = ;{p};   ! tagged value\n")
            else:
                lines.append(f"  fixed_{k}_{i:03d} = {i * 0.001 + k:.6f}   ! untouched line\n")
        assert tag_no == n_tags, (tag_no, n_tags)
        path = os.path.join(directory, f"input_{k}.nml")
        with open(path, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
        paths.append(path)
    return paths


def tree_files(root: str) -> t.List[t.Tuple[str, bytes]]:
    """Every regular file under ``root`` as (relative path, bytes), sorted by path."""
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for fname in files:
            full = os.path.join(dirpath, fname)
            if os.path.islink(full):
                continue
            with open(full, "rb") as handle:
                out.append((os.path.relpath(full, root), handle.read()))
    out.sort()
    return out


PARAMS_LOG = "smartsim_params.txt"


def tree_digest(root: str) -> t.Dict[str, t.Any]:
    """Digests of every file under ``root`` (sha256 over path and content).

    ``digest``: exact. ``digest_rendered``: all files but the per-member
    ``smartsim_params.txt``. ``digest_params_sorted``: those logs with their lines sorted --
    SmartSim 0.8 keeps tagged files in a ``set``, so the order of the per-file tables in
    its logs follows string hashing and changes from one process to the next.
    """
    exact, rendered, logs = hashlib.sha256(), hashlib.sha256(), hashlib.sha256()
    n = size = 0
    for rel, data in tree_files(root):
        entry = rel.encode() + b"\0" + data + b"\0"
        exact.update(entry)
        if os.path.basename(rel) == PARAMS_LOG:
            logs.update(rel.encode() + b"\0" + b"\n".join(sorted(data.split(b"\n"))) + b"\0")
        else:
            rendered.update(entry)
        n += 1
        size += len(data)
    return {"digest": exact.hexdigest(), "digest_rendered": rendered.hexdigest(),
            "digest_params_sorted": logs.hexdigest(), "digest_files": n, "digest_bytes": size}


def settle() -> None:
    """Before a timed write-heavy section: flush earlier writes (so their writeback does not
    throttle the timed one) and collect garbage."""
    os.sync()
    gc.collect()


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def package_info() -> t.Dict[str, t.Any]:
    import smartsim

    return {"package_file": smartsim.__file__, "package_version": getattr(smartsim, "__version__", "?"),
            "python": sys.version.split()[0], "executable": sys.executable}


# ---------------------------------------------------------------------------------------
# (a) build an all_perm ensemble and list its member names
# ---------------------------------------------------------------------------------------


def wl_ensemble_names(args: argparse.Namespace, root: str) -> t.Dict[str, t.Any]:
    exp = make_experiment(root)
    rs = run_settings(exp)
    gc.collect()
    t0 = time.perf_counter()
    ens = build_ensemble(exp, rs, args.sizes)
    t1 = time.perf_counter()
    names = names_via_models(ens)
    t2 = time.perf_counter()
    assert len(names) == n_members(args.sizes), len(names)
    assert names[0] == "ens_0" and names[-1] == f"ens_{len(names) - 1}", (names[0], names[-1])
    return {"members": len(names), "t_build": t1 - t0, "t_names": t2 - t1, "seconds": t2 - t0,
            "maxrss_mb": maxrss_mb()}


# ---------------------------------------------------------------------------------------
# (b) one million members
# ---------------------------------------------------------------------------------------


def lookup_names(n: int, count: int, seed: int = 7) -> t.List[str]:
    rng = random.Random(seed)
    return [f"ens_{rng.randrange(n)}" for _ in range(count)]


def million_lookup(exp: t.Any, rs: t.Any, sizes: t.Sequence[int], wanted: t.List[str]) -> int:
    ens = build_ensemble(exp, rs, sizes)
    n = len(ens)
    for name in wanted:
        member = ens[name]
        if member.name != name:
            raise AssertionError(f"looked up {name}, got {member.name}")
    return n


def wl_million_lookup(args: argparse.Namespace, root: str) -> t.Dict[str, t.Any]:
    exp = make_experiment(root)
    rs = run_settings(exp)
    total = n_members(args.sizes)
    wanted = lookup_names(total, args.lookups)
    base = maxrss_mb()
    gc.collect()
    t0 = time.perf_counter()
    n = million_lookup(exp, rs, args.sizes, wanted)
    t1 = time.perf_counter()
    assert n == total, (n, total)
    return {"members": n, "lookups": len(wanted), "seconds": t1 - t0, "maxrss_mb": maxrss_mb(),
            "maxrss_base_mb": base}


def wl_million_names(args: argparse.Namespace, root: str) -> t.Dict[str, t.Any]:
    exp = make_experiment(root)
    rs = run_settings(exp)
    total = n_members(args.sizes)
    base = maxrss_mb()
    gc.collect()
    t0 = time.perf_counter()
    ens = build_ensemble(exp, rs, args.sizes)
    t1 = time.perf_counter()
    after_build = maxrss_mb()
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start()
    t2 = time.perf_counter()
    names = names_via_iter(ens)
    t3 = time.perf_counter()
    out: t.Dict[str, t.Any] = {}
    if args.tracemalloc:
        import tracemalloc

        _cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out["tracemalloc_peak_mb"] = peak / 2**20
    assert len(names) == total and names[-1] == f"ens_{total - 1}"
    out.update({"members": len(names), "t_build": t1 - t0, "seconds": t3 - t2,
                "maxrss_mb": maxrss_mb(), "maxrss_base_mb": base, "maxrss_after_build_mb": after_build})
    return out


# ---------------------------------------------------------------------------------------
# (c) generate, (d) its floor
# ---------------------------------------------------------------------------------------


def prepare_generate(root: str, sizes: t.Sequence[int], n_templates: int, n_lines: int,
                     n_tags: int, exp_name: str = "bench") -> t.Tuple[t.Any, t.Any, float]:
    """Templates, experiment and ensemble with the templates attached (not generated)."""
    templates = write_templates(os.path.join(root, "templates"), len(sizes), n_templates, n_lines, n_tags)
    exp = make_experiment(root, exp_name)
    rs = run_settings(exp)
    t0 = time.perf_counter()
    ens = build_ensemble(exp, rs, sizes)
    ens.attach_generator_files(to_configure=templates)
    return exp, ens, time.perf_counter() - t0


def wl_generate(args: argparse.Namespace, root: str) -> t.Dict[str, t.Any]:
    exp, ens, t_build = prepare_generate(root, args.sizes, args.templates, args.lines, args.tags)
    settle()
    t0 = time.perf_counter()
    exp.generate(ens, overwrite=False)
    t1 = time.perf_counter()
    out: t.Dict[str, t.Any] = {"members": len(ens), "seconds": t1 - t0, "t_build": t_build,
                               "maxrss_mb": maxrss_mb()}
    ens_dir = os.path.join(exp.exp_path, "ens")
    out["files"] = sum(len(files) for _d, _s, files in os.walk(ens_dir))
    if args.digest:
        # member directories only: the experiment-level log carries a timestamp
        out.update(tree_digest(ens_dir))
    return out


def floor_write(plan: t.List[t.Tuple[str, t.List[t.Tuple[str, bytes]]]]) -> None:
    """The bare loop: one mkdir per directory, one open/write/close per file."""
    mkdir = os.mkdir
    join = os.path.join
    for directory, files in plan:
        mkdir(directory)
        for fname, data in files:
            with open(join(directory, fname), "wb") as handle:
                handle.write(data)


def floor_plan(src_root: str, dst_root: str) -> t.List[t.Tuple[str, t.List[t.Tuple[str, bytes]]]]:
    """Directories (parents first) under ``dst_root`` with the files found in ``src_root``."""
    plan = []
    for dirpath, dirs, files in os.walk(src_root):
        dirs.sort()
        rel = os.path.relpath(dirpath, src_root)
        target = dst_root if rel == "." else os.path.join(dst_root, rel)
        contents = []
        for fname in sorted(files):
            with open(os.path.join(dirpath, fname), "rb") as handle:
                contents.append((fname, handle.read()))
        plan.append((target, contents))
    return plan


def wl_floor(args: argparse.Namespace, root: str) -> t.Dict[str, t.Any]:
    # the bytes come from this package's own output of the same workload
    exp, ens, _ = prepare_generate(root, args.sizes, args.templates, args.lines, args.tags, "source")
    exp.generate(ens)
    src = exp.exp_path
    dst = os.path.join(root, "floor")
    keep_src = args.keep
    plan = floor_plan(src, dst)
    n_files = sum(len(files) for _d, files in plan)
    n_bytes = sum(len(data) for _d, files in plan for _f, data in files)
    settle()  # the source tree stays until after the timing: deleting 40k files first
    t0 = time.perf_counter()  # leaves a journal/writeback backlog that slows the next writes
    floor_write(plan)
    t1 = time.perf_counter()
    if not keep_src:
        shutil.rmtree(src)
    out: t.Dict[str, t.Any] = {"members": len(ens), "seconds": t1 - t0, "files_total": n_files,
                               "bytes_total": n_bytes, "maxrss_mb": maxrss_mb()}
    ens_dir = os.path.join(dst, "ens")
    out["files"] = sum(len(files) for _d, _s, files in os.walk(ens_dir))
    if args.digest:
        out.update(tree_digest(ens_dir))
    return out


WORKLOADS: t.Dict[str, t.Callable[[argparse.Namespace, str], t.Dict[str, t.Any]]] = {
    "ensemble_names": wl_ensemble_names,
    "million_lookup": wl_million_lookup,
    "million_names": wl_million_names,
    "generate": wl_generate,
    "floor": wl_floor,
}


def parse_sizes(text: str) -> t.List[int]:
    sizes = [int(x) for x in text.split(",") if x.strip()]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"bad --sizes {text!r}")
    return sizes


def main(argv: t.Optional[t.List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--sizes", type=parse_sizes, default=None,
                        help="values per parameter, e.g. 22,22,22 (all_perm: their product of members)")
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--templates", type=int, default=3)
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--tags", type=int, default=20)
    parser.add_argument("--tracemalloc", action="store_true", help="million_names: also trace Python allocations")
    parser.add_argument("--digest", action="store_true", help="generate/floor: sha256 of the member tree")
    parser.add_argument("--workdir", default=None, help="parent of the temporary directory")
    parser.add_argument("--keep", action="store_true",
                        help="leave the temporary directory in place (the caller deletes it later: on "
                             "a disk mounted with 'discard', deleting 40k files right before the next "
                             "run slows that run down)")
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = {"ensemble_names": [22, 22, 22], "million_lookup": [100, 100, 100],
                      "million_names": [100, 100, 100], "generate": [10, 10, 10, 10],
                      "floor": [10, 10, 10, 10]}[args.workload]
    t_imp = time.perf_counter()
    import smartsim  # noqa: F401  (import cost is not part of any workload)
    from smartsim import Experiment  # noqa: F401

    t_imp = time.perf_counter() - t_imp
    root = tempfile.mkdtemp(prefix=f"ssbench-{args.workload}-", dir=args.workdir)
    try:
        result = WORKLOADS[args.workload](args, root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    result.update({"workload": args.workload, "sizes": args.sizes, "import_seconds": t_imp})
    result.update(package_info())
    sys.stdout.flush()
    print(RESULT_MARK, json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
