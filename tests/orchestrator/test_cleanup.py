"""No orphans: stop, interpreter exit, Ctrl-C and a SIGKILLed driver leave no redis-server,
executor or colocated wrapper behind; executor sidecars are supervised."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from conftest import free_ports, listening, read_line_with, run_driver, wait_gone

DRIVER = r'''
import json, os, sys, time
import psutil
from smartsim import Experiment
exp = Experiment("cleanup", exp_path=os.path.join(os.getcwd(), "cleanup"))
db = exp.create_database(port={base}, db_nodes={shards})
exp.start(db)
rs = exp.create_run_settings(sys.executable, ["-c", "import time; time.sleep(120)"])
model = exp.create_model("colo", rs)
model.colocate_db_tcp(port={colo_port}, db_identifier="colo")
exp.start(model, block=False)
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    kids = psutil.Process().children(recursive=True)
    names = " ".join(" ".join(k.cmdline()) for k in kids if k.is_running())
    if names.count("redis-server") >= {shards} + 1 and ("executor" in names or not {executors}):
        break
    time.sleep(0.05)
pids = [k.pid for k in psutil.Process().children(recursive=True)]
print("PIDS " + json.dumps(pids), flush=True)
mode = "{mode}"
if mode == "exit":
    sys.exit(0)
if mode == "block":
    exp.start(exp.create_model("waiter", exp.create_run_settings(sys.executable, ["-c", "import time; time.sleep(120)"])), block=True)
time.sleep(120)
'''


def _driver(tmp_path, mode, shards=1, executors=False):
    base = free_ports(shards, cluster=shards > 1)
    colo_port = free_ports(1)
    env = {"SMARTSIM_EXECUTOR": "1" if executors else "0", "SMARTSIM_EXECUTOR_ARGS": "--no-prewarm"}
    code = DRIVER.format(base=base, shards=shards, colo_port=colo_port, mode=mode, executors=executors)
    proc = run_driver(code, tmp_path, env=env, start_new_session=True)
    pids = eval(read_line_with(proc, "PIDS "))  # noqa: S307 - our own driver's json list
    ports = [base + i for i in range(shards)] + [colo_port]
    return proc, pids, ports


def _cmdlines(pids):
    out = []
    for pid in pids:
        try:
            out.append(" ".join(psutil.Process(pid).cmdline()))
        except psutil.Error:
            pass
    return out


def test_sigkilled_driver_leaves_nothing(tmp_path):
    proc, pids, ports = _driver(tmp_path, "sleep", shards=1, executors=True)
    lines = _cmdlines(pids)
    assert any("redis-server" in line for line in lines)
    assert any("smartsim._core.executor" in line for line in lines)
    assert any("colocated.py" in line for line in lines)
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert wait_gone(pids, 5.0) == [], _cmdlines(pids)
    assert time.monotonic() - t0 < 5.0
    assert not any(listening(p) for p in ports)


def test_interpreter_exit_leaves_nothing(tmp_path):
    proc, pids, ports = _driver(tmp_path, "exit", shards=3)
    assert proc.wait(30) == 0
    assert wait_gone(pids, 5.0) == [], _cmdlines(pids)
    assert not any(listening(p) for p in ports)


def test_ctrl_c_leaves_nothing(tmp_path):
    proc, pids, ports = _driver(tmp_path, "block", shards=1)
    time.sleep(0.3)  # inside the blocking start
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the foreground group
    rc = proc.wait(30)
    assert rc != 0 and "KeyboardInterrupt" in proc.stderr.read()
    assert wait_gone(pids, 5.0) == [], _cmdlines(pids)
    assert not any(listening(p) for p in ports)


def test_executor_sidecar_is_supervised(exp, monkeypatch):
    monkeypatch.setenv("SMARTSIM_EXECUTOR", "1")
    monkeypatch.setenv("SMARTSIM_EXECUTOR_ARGS", "--no-prewarm")
    from smartsim.database.orchestrator import executor_wanted

    if not executor_wanted():
        pytest.skip("no ML runtime installed: no executor sidecars")
    port = free_ports(1)
    db = exp.create_database(port=port)
    exp.start(db)

    def executors():
        found = []
        for proc in psutil.Process().children(recursive=True):
            try:
                cmd = proc.cmdline()
            except psutil.Error:
                continue
            if "smartsim._core.executor" in cmd and str(port) in cmd and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        return found

    deadline = time.monotonic() + 20
    while not executors() and time.monotonic() < deadline:
        time.sleep(0.05)
    first = executors()
    assert len(first) == 1
    first[0].kill()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = [p for p in executors() if p.pid != first[0].pid]
        if now:
            break
        time.sleep(0.05)
    assert now, "the executor was not restarted"
    exp.stop(db)
    assert wait_gone([p.pid for p in now], 5.0) == []
