"""The driver watchdog on its own: a driver that dies before the watchdog's loop runs must
still have its registered process groups ended (the registrations are read after death)."""
import os
import subprocess
import sys
import time

from smartsim._core.launcher import _watchdog


def test_groups_registered_before_an_early_driver_death_are_killed():
    member = subprocess.Popen(["sleep", "60"], start_new_session=True)  # no launch token
    dead_driver = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_driver.wait()
    try:
        watchdog = subprocess.run(
            [sys.executable, "-I", "-S", _watchdog.__file__, str(dead_driver.pid), "tok-test"],
            input=f"+{member.pid}\n".encode(), timeout=30)
        assert watchdog.returncode == 0
        deadline = time.monotonic() + 5
        while member.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert member.poll() is not None, "registered member survived its driver's death"
    finally:
        if member.poll() is None:
            os.killpg(member.pid, 9)
            member.wait()
