"""Clean-up guarantees: stop ends process trees, Ctrl-C, interpreter exit, SIGKILL of the driver."""
from __future__ import annotations

import json
import os
import signal
import time

import psutil

from smartsim.status import SmartSimStatus

from .conftest import alive, descendants, wait_until

S = SmartSimStatus

# a member that leaves grandchildren: two sleepers in its process group and one that
# escapes the group with setsid; writes the pids it started, then waits
TREE = """
sleep 60 &
echo $! >> pids
sleep 60 &
echo $! >> pids
setsid sleep 60 &
echo $! >> pids
echo $$ >> pids
wait
"""


def _pids(path: str, want: int, timeout: float = 10.0) -> list:
    def ready() -> bool:
        try:
            with open(path) as handle:
                return len(handle.read().split()) >= want
        except FileNotFoundError:
            return False

    assert wait_until(ready, timeout), f"{path} never listed {want} pids"
    with open(path) as handle:
        return [int(p) for p in handle.read().split()]


def test_stop_kills_the_whole_process_tree(exp, script):
    exe = script("tree.sh", TREE)
    model = exp.create_model("tree", exp.create_run_settings(exe))
    exp.start(model, block=False)
    pids = _pids(os.path.join(model.path, "pids"), 4)
    assert all(alive(p) for p in pids)
    began = time.monotonic()
    exp.stop(model)
    assert time.monotonic() - began < 3.0
    assert exp.get_status(model) == [S.STATUS_CANCELLED]
    # group members die with the group; the setsid escapee is found by the driver watchdog
    # only when the driver dies, so stop covers the member's process group
    group = pids[:2] + pids[3:]
    assert wait_until(lambda: not any(alive(p) for p in group), 5.0), [p for p in group if alive(p)]
    os.kill(pids[2], signal.SIGKILL)


def test_stop_escalates_to_sigkill(exp, script):
    exe = script("stubborn.sh", """
        trap '' TERM
        sleep 60 &
        echo $! > pids
        echo $$ >> pids
        wait
        wait
    """)
    model = exp.create_model("stubborn", exp.create_run_settings(exe))
    exp._control.stop_grace = 0.5
    exp.start(model, block=False)
    pids = _pids(os.path.join(model.path, "pids"), 2)
    began = time.monotonic()
    exp.stop(model)
    took = time.monotonic() - began
    assert 0.4 < took < 3.0, took
    assert exp.get_status(model) == [S.STATUS_CANCELLED]
    assert exp.summary_data()[-1]["Returncode"] == -9
    assert wait_until(lambda: not any(alive(p) for p in pids), 3.0)


def test_stop_cancels_queued_members(exp):
    ens = exp.create_ensemble("queue", run_settings=exp.create_run_settings("sleep", exe_args=["30"]),
                              replicas=5)
    exp.start(ens, block=False, max_concurrent=2)
    assert sorted(s.value for s in exp.get_status(ens)) == ["Queued"] * 3 + ["Running"] * 2
    exp.stop(ens)
    assert exp.get_status(ens) == [S.STATUS_CANCELLED] * 5
    rows = exp.summary_data()
    assert sum(r["JobID"] is None for r in rows) == 3  # never launched


DRIVER_HEAD = """
import json, os, sys, time
from smartsim import Experiment
exp = Experiment("drv", exp_path=os.path.abspath("drv"))
rs = exp.create_run_settings(sys.argv[1] if len(sys.argv) > 1 else {exe!r})
ens = exp.create_ensemble("tree", run_settings=rs, replicas=3)
"""


def _member_pids(exp_dir: str, n: int = 3) -> list:
    pids = []
    for i in range(n):
        pids += _pids(os.path.join(exp_dir, "tree", f"tree_{i}", "pids"), 4, timeout=20)
    return pids


def test_ctrl_c_ends_members_and_raises_keyboard_interrupt(driver, script, tmp_path):
    exe = script("tree.sh", TREE)
    proc = driver(DRIVER_HEAD.format(exe=exe) + """
try:
    exp.start(ens, max_concurrent=3)
except KeyboardInterrupt:
    print(json.dumps([s.value for s in exp.get_status(ens)]))
    sys.exit(42)
""")
    pids = _member_pids(str(tmp_path / "drv"))
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 42, err
    lines = out.splitlines()
    assert json.loads(lines[-1]) == ["Cancelled"] * 3
    # one line (even at SMARTSIM_LOG_LEVEL=quiet) says what Ctrl-C stopped
    assert any("Interrupted (Ctrl-C): experiment" in line and "stopped 3 running jobs" in line
               for line in lines), out
    group_pids = [p for i, p in enumerate(pids) if i % 4 != 2]
    assert not any(alive(p) for p in group_pids)
    # the setsid escapees go when the driver exits (watchdog sweep)
    assert wait_until(lambda: not any(alive(p) for p in pids), 5.0), [p for p in pids if alive(p)]


def test_ctrl_c_without_kill_on_interrupt_leaves_members_until_exit(driver, script, tmp_path):
    exe = script("tree.sh", TREE)
    proc = driver(DRIVER_HEAD.format(exe=exe) + """
try:
    exp.start(ens, max_concurrent=3, kill_on_interrupt=False)
except KeyboardInterrupt:
    print(json.dumps([s.value for s in exp.get_status(ens)]), flush=True)
    sys.stdin.readline()
""", stdin=__import__("subprocess").PIPE)
    pids = _member_pids(str(tmp_path / "drv"))
    proc.send_signal(signal.SIGINT)
    said = proc.stdout.readline()  # the Ctrl-C line names what is left running
    assert "kill_on_interrupt=False, 3 jobs left running" in said and "tree_0 (job " in said, said
    line = proc.stdout.readline()
    assert json.loads(line) == ["Running"] * 3
    assert all(alive(p) for p in pids)
    proc.stdin.write("\n")
    proc.stdin.flush()
    proc.communicate(timeout=20)
    # interpreter exit ends every child the driver started
    assert wait_until(lambda: not any(alive(p) for p in pids), 5.0), [p for p in pids if alive(p)]


def test_normal_exit_ends_nonblocking_members(driver, script, tmp_path):
    exe = script("tree.sh", TREE)
    proc = driver(DRIVER_HEAD.format(exe=exe) + """
exp.start(ens, block=False, max_concurrent=3)
import glob
while len(glob.glob("drv/tree/tree_*/pids")) < 3 or any(
        len(open(p).read().split()) < 4 for p in glob.glob("drv/tree/tree_*/pids")):
    time.sleep(0.01)
print("exiting", flush=True)
""")
    assert proc.stdout.readline().strip() == "exiting"
    pids = _member_pids(str(tmp_path / "drv"))
    proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert wait_until(lambda: not any(alive(p) for p in pids), 5.0), [p for p in pids if alive(p)]
    manifest = json.load(open(tmp_path / "drv" / "smartsim_manifest.json"))
    assert [r["status"] for r in manifest["runs"]] == ["Cancelled"] * 3


def test_sigkill_of_the_driver_leaves_no_descendant(driver, script, tmp_path):
    exe = script("tree.sh", TREE)
    proc = driver(DRIVER_HEAD.format(exe=exe) + """
exp.start(ens, max_concurrent=3)
""")
    pids = _member_pids(str(tmp_path / "drv"))
    tree = set(descendants(proc.pid)) | set(pids)
    assert len(tree) >= 13  # 3 members x 4 processes + the watchdog
    began = time.monotonic()
    proc.kill()
    proc.wait()
    assert wait_until(lambda: not any(alive(p) for p in tree), 5.0), \
        [psutil.Process(p).cmdline() for p in tree if alive(p)]
    assert time.monotonic() - began < 5.0
    # the journal is a true record: launched, never recorded as ended
    from smartsim._core.control.manifest import load_manifest

    runs = load_manifest(str(tmp_path / "drv"))["runs"]
    assert sorted(r["name"] for r in runs) == ["tree_0", "tree_1", "tree_2"]
    assert all(r["status"] is None and r["job_id"] for r in runs)


def test_no_descriptor_leak_when_queued_members_are_cancelled(exp):
    """Queued members of a saturated pool have their output files opened ahead of time;
    cancelling them closes those files."""
    from .conftest import wait_until

    me = psutil.Process()
    warm = exp.create_model("warm", exp.create_run_settings("true"))
    exp.start(warm)  # engine, spawners and watchdog exist from here on
    before = me.num_fds()
    ens = exp.create_ensemble("held", run_settings=exp.create_run_settings("sleep", exe_args=["30"]),
                              replicas=20)
    exp.start(ens, block=False, max_concurrent=1)
    assert wait_until(lambda: me.num_fds() > before + 4, 5.0)  # prepared-ahead files are open
    exp.stop(ens)
    assert exp.get_status(ens) == [S.STATUS_CANCELLED] * 20
    assert wait_until(lambda: me.num_fds() <= before + 2, 5.0), (before, me.num_fds())
