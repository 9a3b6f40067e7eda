"""``same_process``: how attach and teardown tell a recorded process from a recycled pid."""
import os
import subprocess
import sys
import time

from smartsim._core.control.lifecycle import same_process
from smartsim._core.launcher.local import process_start_time


def test_a_recorded_process_is_recognised_by_pid_and_start_time():
    me, ticks = os.getpid(), process_start_time(os.getpid())
    assert ticks is not None
    assert same_process(me, ticks) and same_process(me, None)
    assert not same_process(me, ticks + 1)  # same pid, another start: a recycled pid
    assert not same_process(str(me), ticks)  # a scheduler's job id is never a local pid
    assert not same_process(True, None) and not same_process(0, None)


def test_an_ended_process_is_not_the_recorded_one_even_before_it_is_reaped():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    ticks = process_start_time(child.pid)
    deadline = time.monotonic() + 10
    # not reaped yet: a zombie until wait()
    while same_process(child.pid, ticks) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not same_process(child.pid, ticks)
    with open(f"/proc/{child.pid}/stat", "rb") as handle:  # still there, as a zombie
        assert handle.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    child.wait()
    assert not same_process(child.pid, ticks)
