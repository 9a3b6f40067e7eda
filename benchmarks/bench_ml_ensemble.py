#!/usr/bin/env python
"""An inference ensemble against a 1-shard database vs the same model in-process.

Both sides in one run, for each model of ``--model`` in turn (batch 1 per call):

* ``mlp``: an MLP, ``--features`` inputs, ``--hidden`` units (512) in two hidden layers,
  ``--classes`` outputs (300k parameters); ``mlpN``: the same with N hidden units
  (``mlp2048``: 4.4M parameters);
* ``cnn``: the PyTorch MNIST CNN of SmartSim's "Online Inference" tutorial
  (``tutorials/ml_inference``; 1.2M parameters, 1x28x28 input), traced as there.

For each model:

* database path: ``exp.start`` starts an Orchestrator (1 shard, with its executor) and an
  ensemble of ``--members`` members (this file with ``--member``) that the driver gave the
  model with ``add_ml_model(..., batch_size=8, min_batch_size=8, min_batch_timeout=T)``, so
  ``exp.start`` stores it with ``BATCHSIZE 8 MINBATCHSIZE 8 MINBATCHTIMEOUT T`` before the
  members run. Each member puts its input once, makes ``--warmup`` calls, waits at a
  barrier (a key the driver sets once every member is ready) and then times ``--calls``
  ``run_model`` calls. Throughput = members x calls / (last member's end - first member's
  start), all on one clock.
* in-process: the same model (``torch.jit.load`` of the same bytes) called from one
  Python loop ``members x calls`` times on one 1-sample tensor under
  ``torch.inference_mode()``: no conversions, no transport -- the best case for it.

Torch intra-op threads get the same treatment on both sides. The executor runs each batch
size on the runtime's default count, or ``--threads`` (the Orchestrator's
``intra_op_threads``), or on 1 thread, whichever its first calls timed faster; the in-process
loop is timed on both counts (``torch.set_num_threads``) and the faster one is compared.
Both in-process figures are printed.

    python benchmarks/bench_ml_ensemble.py [--model mlp,cnn,mlp2048] [--members 8]
        [--calls 1000] [--hidden 512] [--threads 0] [--min-batch-timeout 10]
        [--batch-size 8] [--repeat 1] [--json out.json]

Prints, per model and round, both throughputs in inferences/s and their ratio (database /
in-process); then per model the best round of each side, the ratio of those two bests
(best database / best in-process, over all ``--repeat`` rounds), the CPU seconds of
members, server and executor, and how many inference-path commands the server ran (PULLs
per batch: how often the executor woke); last, a table of the ratio per model. Goal:
batching makes the database path at least as fast as the in-process loop (ratio >= 1).

Last figures (2026-12-05, 2 shared cores, default threads = 2, ``--repeat 5``; median of
the per-round ratios, range): mlp 0.47 (0.47-0.52), database 11,476/s against 24,518/s;
cnn 0.80 (0.68-0.98), 2,105/s against 2,252/s; mlp2048 1.15 (1.06-1.31), 2,741/s against
2,280/s. On 2 cores batching pays only where one call of 8 samples costs much less than
8 calls of 1: the 300k MLP's call (41 us) is shorter than what one inference costs to
cross processes here (a batch of 8 takes ~0.65 ms end to end, ~0.35 ms of it in the server
and the members, mostly system calls and wake-ups); the CNN's convolutions cost as much
batched as one by one on this CPU (batch 8: 2.8 ms, 8 x batch 1: 2.9 ms, both on 2
threads), so its ratio cannot pass ~1 here; the 4.4M MLP is bound by reading its weights,
which a batch reads once. Earlier figures for mlp (the only model before 2026-12-05): 0.50
(0.45-0.52) over 24 rounds; before one PULL and one ``AI._EXEC.DONEN`` per batch 0.475;
2026-12-04 0.27-0.48; before the executor stopped OpenMP spinning 0.07-0.10.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

MODEL = "mlp"
GO = "bench_go"


# ------------------------------------------------------------------------------ member
def member(args: argparse.Namespace) -> int:
    """One ensemble member: warm up, wait for the driver's go, time ``calls`` run_model."""
    from smartsim.client import Client

    name = os.environ["SSKEYOUT"]  # SmartSim prefixes this member's keys with its name
    os.environ.setdefault("SSKEYIN", name)  # and it reads its own keys back
    client = Client(cluster=False)
    shape = tuple(int(d) for d in args.shape.split(","))
    x = np.random.default_rng(int(name.rsplit("_", 1)[1])).random((1, *shape), dtype=np.float32)
    client.put_tensor("x", x)
    for _ in range(args.warmup):
        client.run_model(MODEL, ["x"], ["y"])
    client.put_tensor("ready", np.ones(1, dtype=np.int8))
    while not client.key_exists(GO):  # raw key: the driver's, not prefixed
        time.sleep(0.0005)
    run_model = client.run_model
    lat = np.empty(args.calls, dtype=np.float64)
    clock = time.perf_counter
    cpu0 = time.process_time()
    t0_wall, t0 = time.time(), clock()
    last = t0
    for i in range(args.calls):
        run_model(MODEL, ["x"], ["y"])
        now = clock()
        lat[i] = now - last
        last = now
    t1_wall = t0_wall + (last - t0)
    cpu = time.process_time() - cpu0
    client.put_tensor("timing", np.array([t0_wall, t1_wall, np.percentile(lat, 50),
                                          np.percentile(lat, 99), cpu], dtype=np.float64))
    return 0


# ------------------------------------------------------------------------------ driver
def parse_models(text: str, hidden: int) -> "list[tuple[str, int]]":
    """``--model`` -> [(kind, hidden units)]: ``cnn``, ``mlp`` (``--hidden`` units) or ``mlpN``
    (N units); raises ValueError naming a bad entry."""
    out = []
    for item in (part.strip() for part in text.split(",")):
        if item == "cnn":
            out.append(("cnn", 0))
        elif item == "mlp":
            out.append(("mlp", hidden))
        elif item.startswith("mlp") and item[3:].isdigit() and int(item[3:]) > 0:
            out.append((item, int(item[3:])))
        else:
            raise ValueError(f"unknown model {item!r}; expected cnn, mlp or mlpN (N hidden units)")
    return out


def model_bytes(torch, kind: str, hidden: int, args: argparse.Namespace) -> "tuple[bytes, tuple, str]":
    """TorchScript bytes of the model ``kind``, the shape of one sample, and a description.

    ``cnn``: the PyTorch MNIST CNN of SmartSim's "Online Inference" tutorial
    (``tutorials/ml_inference``: two 3x3 convolutions, 32 and 64 channels, max-pool, dense
    9216-128-10, log-softmax; 1x28x28 input), traced as the tutorial traces it.
    ``mlp*``: ``--features``-``hidden``-``hidden``-``--classes`` with ReLUs, scripted.
    """
    nn = torch.nn
    torch.manual_seed(0)
    if kind == "cnn":
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(1, 32, 3, 1)
                self.conv2 = nn.Conv2d(32, 64, 3, 1)
                self.dropout1 = nn.Dropout(0.25)
                self.dropout2 = nn.Dropout(0.5)
                self.fc1 = nn.Linear(9216, 128)
                self.fc2 = nn.Linear(128, 10)

            def forward(self, x):
                x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
                x = self.dropout1(torch.max_pool2d(x, 2))
                x = self.dropout2(torch.relu(self.fc1(torch.flatten(x, 1))))
                return torch.log_softmax(self.fc2(x), dim=1)

        shape: tuple = (1, 28, 28)
        module = torch.jit.trace(Net().eval(), torch.rand(1, *shape))
        what = "CNN of SmartSim's inference tutorial (conv 32, conv 64, dense 9216-128-10)"
    else:
        shape = (args.features,)
        module = torch.jit.script(nn.Sequential(
            nn.Linear(args.features, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
            nn.ReLU(), nn.Linear(hidden, args.classes)).eval())
        what = f"MLP {args.features}-{hidden}-{hidden}-{args.classes}"
    buf = io.BytesIO()
    torch.jit.save(module, buf)
    return buf.getvalue(), shape, what


def in_process(torch, blob: bytes, shape: tuple, n: int, warmup: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    model = torch.jit.load(io.BytesIO(blob))
    x = torch.from_numpy(np.random.default_rng(0).random((1, *shape), dtype=np.float32))
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        t0 = time.perf_counter()
        for _ in range(n):
            model(x)
        elapsed = time.perf_counter() - t0
    return {"inferences": n, "seconds": elapsed, "per_s": n / elapsed, "threads": threads}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_path(torch, blob: bytes, shape: tuple, args: argparse.Namespace, workdir: str) -> dict:
    from smartsim import Experiment
    from smartsim.client import Client

    exp = Experiment("bench_ml", exp_path=os.path.join(workdir, "bench_ml"), launcher="local")
    db = exp.create_database(port=_free_port(), interface="lo", intra_op_threads=args.threads or None)
    rs = exp.create_run_settings(sys.executable, exe_args=[
        os.path.abspath(__file__), "--member", "--calls", str(args.calls), "--warmup", str(args.warmup),
        "--shape", ",".join(map(str, shape))])
    ens = exp.create_ensemble("bench", run_settings=rs, replicas=args.members)
    ens.add_ml_model(MODEL, "TORCH", model=blob, device="CPU", batch_size=args.batch_size,
                     min_batch_size=args.batch_size, min_batch_timeout=args.min_batch_timeout if args.batch_size else 0)
    t_db = time.perf_counter()
    exp.start(db)
    t_db = time.perf_counter() - t_db
    try:
        client = Client(address=db.get_address()[0], cluster=False)
        t_start = time.perf_counter()
        # stores the model (BATCHSIZE 8 MINBATCHSIZE 8), then launches every member at once
        # (the default cap is one member per CPU)
        exp.start(ens, block=False, max_concurrent=args.members)
        names = [m.name for m in ens]
        deadline = time.monotonic() + 300
        while not all(client.tensor_exists(f"{n}.ready") for n in names):
            if exp.finished(ens) or time.monotonic() > deadline:
                raise RuntimeError("a member ended before the barrier: see "
                                   f"{ens.path}/*/bench_*.err\n{exp.summary()}")
            time.sleep(0.01)
        ready_s = time.perf_counter() - t_start
        servers = _server_processes()
        address = db.get_address()[0]
        calls_before = _command_calls(client, address)
        cpu_before = _cpu(servers)
        client.put_tensor(GO, np.ones(1, dtype=np.int8))
        exp.poll(interval=1, verbose=False)
        cpu_after = _cpu(servers)
        calls_after = _command_calls(client, address)
        statuses = exp.get_status(ens)
        if any(s.value != "Completed" for s in statuses):
            raise RuntimeError(f"members failed: {statuses}\n{exp.summary()}")
        timings = np.stack([client.get_tensor(f"{n}.timing") for n in names])
        meta = client.get_model(MODEL)
        assert meta == blob
        # the members' last outputs are the model's answers for their inputs
        model = torch.jit.load(io.BytesIO(blob))
        for n in names:
            x = torch.from_numpy(client.get_tensor(f"{n}.x"))
            with torch.inference_mode():
                expected = model(x).numpy()
            np.testing.assert_allclose(client.get_tensor(f"{n}.y"), expected, rtol=1e-5, atol=1e-6)
        client.close()
    finally:
        if not exp.finished(ens):
            exp.stop(ens)
        exp.stop(db)
    span = float(timings[:, 1].max() - timings[:, 0].min())
    n = args.members * args.calls
    return {"inferences": n, "seconds": span, "per_s": n / span,
            "member_p50_us": float(statistics.median(timings[:, 2]) * 1e6),
            "member_p99_us": float(statistics.median(timings[:, 3]) * 1e6),
            "db_start_s": t_db, "start_to_barrier_s": ready_s,
            # CPU seconds spent while the members were timed (the servers' from just before
            # the go to just after the last member ended: an upper bound)
            "cpu_s": {"members": float(timings[:, 4].sum()),
                      **{kind: cpu_after[kind] - cpu_before[kind] for kind in cpu_before}},
            # commands the server ran from the go to the end (members' and executor's; the
            # driver's few polls included): how often the executor woke per batch
            "commands": {name: calls_after.get(name, 0) - calls_before.get(name, 0)
                         for name in calls_after}}


def _command_calls(client, address: str) -> dict:
    """Calls so far of the commands of the inference path (INFO commandstats)."""
    stats = client.get_db_node_info([address])[0].get("Commandstats", {})
    out = {}
    for name in ("ai.modelexecute", "ai._exec.pull", "ai._exec.done", "ai._exec.donen"):
        text = stats.get(f"cmdstat_{name}", "")
        fields = dict(item.split("=", 1) for item in text.split(",") if "=" in item)
        out[name] = int(fields.get("calls", 0))
    return out


def _server_processes() -> dict:
    """This driver's redis-server and executor processes (descendants), by kind."""
    import psutil

    found: dict = {"redis-server": [], "executor": []}
    for proc in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if "smartsim._core.executor" in cmd:
            found["executor"].append(proc)
        elif "redis-server" in cmd or proc.name().startswith("redis-server"):
            found["redis-server"].append(proc)
    return found


def _cpu(procs: dict) -> dict:
    out = {}
    for kind, group in procs.items():
        total = 0.0
        for proc in group:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except Exception:  # pylint: disable=broad-except
                pass
        out[kind] = total
    return out


def run_model_kind(torch, kind: str, hidden: int, args: argparse.Namespace, thread_counts: list,
                   workdir: str) -> dict:
    """Every round of both sides for one model; prints the round lines and the summary."""
    blob, shape, what = model_bytes(torch, kind, hidden, args)
    n = args.members * args.calls
    rounds = []
    for r in range(args.repeat):
        locals_ = [in_process(torch, blob, shape, n, args.warmup * args.members, t)
                   for t in thread_counts]
        torch.set_num_threads(thread_counts[0])
        local = max(locals_, key=lambda d: d["per_s"])
        remote = database_path(torch, blob, shape, args, os.path.join(workdir, f"{kind}{r}"))
        rounds.append({"in_process": local, "in_process_by_threads": locals_, "database": remote})
        print(f"{kind} round {r + 1}: in-process " + ", ".join(
            f"{d['per_s']:,.0f}/s ({d['threads']} thread{'s' if d['threads'] > 1 else ''})"
            for d in locals_) + f", database {remote['per_s']:,.0f}/s, "
            f"ratio {remote['per_s'] / local['per_s']:.2f}", flush=True)
    best_local = max((r["in_process"] for r in rounds), key=lambda d: d["per_s"])
    best_by_threads = {t: max((d for r in rounds for d in r["in_process_by_threads"] if d["threads"] == t),
                              key=lambda d: d["per_s"]) for t in thread_counts}
    best_remote = max((r["database"] for r in rounds), key=lambda d: d["per_s"])
    ratio = best_remote["per_s"] / best_local["per_s"]
    params = sum(p.numel() for p in torch.jit.load(io.BytesIO(blob)).parameters())
    print(f"\nmodel {kind}: {what} ({params:,} parameters, {len(blob):,} bytes TorchScript), "
          f"input 1x{'x'.join(map(str, shape))} per call, torch threads "
          f"{' or '.join(map(str, thread_counts))}, {os.cpu_count()} CPUs")
    print(f"{'path':<44} {'inferences':>10} {'seconds':>8} {'inferences/s':>13}")
    for t, d in best_by_threads.items():
        label = f"in-process loop, {t} torch thread{'s' if t > 1 else ''}" + (
            " (compared)" if d is best_local else "")
        print(f"{label:<44} {d['inferences']:>10,} {d['seconds']:>8.3f} {d['per_s']:>13,.0f}")
    label = (f"database, {args.members} members, BATCHSIZE {args.batch_size} MINBATCHSIZE "
             f"{args.batch_size} MINBATCHTIMEOUT {args.min_batch_timeout if args.batch_size else 0}")
    print(f"{label:<44} {best_remote['inferences']:>10,} {best_remote['seconds']:>8.3f} "
          f"{best_remote['per_s']:>13,.0f}")
    print(f"member run_model latency: p50 {best_remote['member_p50_us']:.0f} us, "
          f"p99 {best_remote['member_p99_us']:.0f} us (median over members)")
    cpu = best_remote["cpu_s"]
    print(f"CPU seconds during the database run ({best_remote['seconds']:.3f} s x {os.cpu_count()} CPUs): "
          + ", ".join(f"{k} {value:.3f}" for k, value in cpu.items()))
    print("server commands during the database run: "
          + ", ".join(f"{name} {count}" for name, count in best_remote["commands"].items()))
    print(f"ratio best database / best in-process ({kind}): {ratio:.2f}  "
          f"(goal >= 1.00: {'met' if ratio >= 1 else 'NOT met'})\n", flush=True)
    return {"model": kind, "what": what, "params": params, "shape": shape, "rounds": rounds,
            "ratio": ratio, "per_call_us": 1e6 / best_local["per_s"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="mlp,cnn,mlp2048",
                    help="comma-separated models, run in turn: cnn (the CNN of SmartSim's "
                         "inference tutorial), mlp (--hidden units), mlpN (N units) "
                         "(default: mlp,cnn,mlp2048)")
    ap.add_argument("--members", type=int, default=8)
    ap.add_argument("--calls", type=int, default=1000, help="run_model calls per member")
    ap.add_argument("--warmup", type=int, default=50, help="untimed calls per member (and x members in-process)")
    ap.add_argument("--features", type=int, default=64, help="mlp: inputs")
    ap.add_argument("--hidden", type=int, default=512, help="mlp: units of each hidden layer")
    ap.add_argument("--classes", type=int, default=16, help="mlp: outputs")
    ap.add_argument("--shape", default="64", help=argparse.SUPPRESS)  # a member's sample shape
    ap.add_argument("--batch-size", type=int, default=8,
                    help="BATCHSIZE = MINBATCHSIZE of the stored model (0: no batching, for comparison)")
    ap.add_argument("--min-batch-timeout", type=int, default=10, help="ms")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch intra-op threads of the executor (intra_op_threads) and of the "
                         "in-process loop (0: the runtime's default on both)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of both sides; the best of each is kept")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--member", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.member:
        return member(args)
    try:
        kinds = parse_models(args.model, args.hidden)
    except ValueError as exc:
        ap.error(f"--model: {exc}")

    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    # the executor's choice per batch size: this count or 1 (see the docstring)
    thread_counts = sorted({torch.get_num_threads(), 1}, reverse=True)
    for key in list(os.environ):  # the driver's own database settings play no part
        if key.startswith(("SSDB", "SR_DB_TYPE", "SSKEY")):
            del os.environ[key]
    workdir = tempfile.mkdtemp(prefix="bench-ml-")
    try:
        results = [run_model_kind(torch, kind, hidden, args, thread_counts, workdir)
                   for kind, hidden in kinds]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{'model':<10} {'parameters':>11} {'in-process us/call':>19} {'ratio':>6}  goal >= 1")
    for r in results:
        print(f"{r['model']:<10} {r['params']:>11,} {r['per_call_us']:>19.0f} {r['ratio']:>6.2f}  "
              f"{'met' if r['ratio'] >= 1 else 'NOT met'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"args": {k: v for k, v in vars(args).items() if k not in ("json", "member", "shape")},
                       "models": results, "cpus": os.cpu_count(),
                       "torch_threads": torch.get_num_threads()}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
