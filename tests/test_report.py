"""Failures are never silent: the outcome of a blocking start/poll, the Ctrl-C line, the
client's retry warning, SMARTSIM_LOG_LEVEL, and plain progress lines where rich cannot draw.
Each test runs a real driver script in a subprocess and reads what a user would see."""
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

FAIL_SOME = """
import sys
from smartsim import Experiment
exp = Experiment("rep", exp_path={exp!r})
code = ("import os, sys\\n"
        "name = os.path.basename(os.getcwd())\\n"
        "if int(name.split('_')[1]) % 3 == 0:\\n"
        "    for i in range(30): print(f'{{name}} err line {{i}}', file=sys.stderr)\\n"
        "    sys.exit(7)\\n")
rs = exp.create_run_settings(sys.executable, ["-c", code], env_vars={{"REPORT_MARK": "visible"}})
ens = exp.create_ensemble("ens", run_settings=rs, replicas=30)
exp.start(ens, block={block})
{after}
"""


def _run(script, env=None, timeout=120):
    full = dict(os.environ)
    full.pop("SMARTSIM_LOG_LEVEL", None)
    full.update(env or {})
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=timeout, env=full)


def test_blocking_start_reports_failed_members(tmp_path):
    exp = str(tmp_path / "exp")
    proc = _run(FAIL_SOME.format(exp=exp, block=True, after=""))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "30 members ended: 20 completed, 10 failed, 0 cancelled" in out
    assert "10 of 30 members failed: ens_0 (exit 7, err: " in out
    assert os.path.join(exp, "ens", "ens_0", "ens_0.err") in out
    assert "ens_27 (exit 7" in out
    # the last ten lines of the first failure's stderr, not the whole file
    assert "ens_0 err line 29" in out and "ens_0 err line 20" in out
    assert "ens_0 err line 19" not in out


def test_failure_names_are_capped(tmp_path):
    script = FAIL_SOME.format(exp=str(tmp_path / "exp"), block=True, after="").replace(
        "% 3 == 0", ">= 0")
    out = _run(script).stdout
    assert "30 of 30 members failed" in out
    assert "ens_9 (exit 7" in out and "ens_10 (exit 7" not in out
    assert "and 20 more" in out


def test_poll_reports_once_and_success_is_info(tmp_path):
    after = "exp.poll(interval=1, verbose=False)\nexp.poll(interval=1, verbose=False)"
    out = _run(FAIL_SOME.format(exp=str(tmp_path / "exp"), block=False, after=after)).stdout
    assert out.count("30 members ended: 20 completed, 10 failed") == 1
    ok = FAIL_SOME.format(exp=str(tmp_path / "exp2"), block=True, after="").replace("% 3 == 0", "< 0")
    out = _run(ok).stdout
    assert "INFO Experiment 'rep': 30 members ended: 30 completed, 0 failed, 0 cancelled" in out
    assert "failed:" not in out


def test_quiet_level_still_shows_failures(tmp_path):
    out = _run(FAIL_SOME.format(exp=str(tmp_path / "exp"), block=True, after=""),
               env={"SMARTSIM_LOG_LEVEL": "quiet"}).stdout
    assert "10 of 30 members failed" in out


def test_debug_level_shows_commands_and_environment(tmp_path):
    out = _run(FAIL_SOME.format(exp=str(tmp_path / "exp"), block=True, after=""),
               env={"SMARTSIM_LOG_LEVEL": "debug"}).stdout
    assert "DEBUG Launching Model ens_5 in " in out
    assert "REPORT_MARK=visible" in out
    assert sys.executable in out
    info = _run(FAIL_SOME.format(exp=str(tmp_path / "exp2"), block=True, after="")).stdout
    assert "Launching Model" not in info and "REPORT_MARK" not in info


def test_unknown_log_level_warns(tmp_path):
    out = _run("from smartsim.log import get_logger\nget_logger('x').info('hello info')",
               env={"SMARTSIM_LOG_LEVEL": "verbose"}).stdout
    assert "SMARTSIM_LOG_LEVEL='verbose' is not a log level" in out
    assert "quiet, info, debug, developer" in out
    assert "hello info" in out  # falls back to info


def _interrupt_after(script: str, mark: str, **extra_env: str):
    """Run ``script``; once it prints ``mark`` and 1.5 s more have passed, Ctrl-C it
    (SIGINT); its (stdout, stderr)."""
    env = dict(os.environ, **extra_env)
    env.pop("SMARTSIM_LOG_LEVEL", None)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == mark
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ctrl_c_says_what_was_stopped(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from smartsim import Experiment
        exp = Experiment("rep", exp_path={str(tmp_path / 'exp')!r}, max_concurrent=2)
        rs = exp.create_run_settings(sys.executable, ["-c", "import time; time.sleep(60)"])
        ens = exp.create_ensemble("ens", run_settings=rs, replicas=5)
        print("STARTING", flush=True)
        exp.start(ens, block=True)
    """)
    out, err = _interrupt_after(script, "STARTING")
    assert ("Interrupted (Ctrl-C): experiment 'rep': stopped 2 running jobs and cancelled "
            "3 queued jobs") in out, out + err
    assert "KeyboardInterrupt" in err


def test_ctrl_c_outside_a_blocking_call_says_what_was_stopped(tmp_path):
    # block=False, then the driver does its own work; Ctrl-C there stops the members (none
    # of the queued ones may start afterwards) and the line comes at exit
    script = textwrap.dedent(f"""
        import sys, time
        from smartsim import Experiment
        exp = Experiment("rep", exp_path={str(tmp_path / 'exp')!r}, max_concurrent=2)
        rs = exp.create_run_settings(sys.executable, ["-c", "import time; time.sleep(60)"])
        ens = exp.create_ensemble("ens", run_settings=rs, replicas=3)
        exp.start(ens, block=False)
        print("STARTED", flush=True)
        try:
            time.sleep(60)
        except KeyboardInterrupt:
            time.sleep(1.0)  # a queued member started now would show as Running
            print("STATUS", [s.value for s in exp.get_status(ens)], flush=True)
            raise
    """)
    out, err = _interrupt_after(script, "STARTED")
    assert "STATUS ['Cancelled', 'Cancelled', 'Cancelled']" in out, out + err
    assert ("Interrupted (Ctrl-C): experiment 'rep': stopped 2 running jobs and cancelled "
            "1 queued job") in out, out + err


def test_client_says_it_is_retrying_a_closed_port():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = textwrap.dedent(f"""
        import sys, time
        t0 = time.monotonic()
        real = sys.stdout
        class Stamp:  # the client logs to stdout (SR_LOG_FILE unset), as SmartRedis does
            def write(self, text):
                real.write(f"[{{time.monotonic() - t0:.2f}}] " + text if text.strip() else text)
            def flush(self): real.flush()
        sys.stdout = Stamp()
        from smartsim.client import Client
        try:
            Client(address="127.0.0.1:{port}", cluster=False)
        except Exception as exc:
            real.write(f"[{{time.monotonic() - t0:.2f}}] ERROR {{type(exc).__name__}} {{exc}}\\n")
    """)
    proc = _run(script, env={"SR_CONN_TIMEOUT": "3", "SR_CONN_INTERVAL": "500"})
    lines = proc.stdout.splitlines()
    warning = [line for line in lines if "retrying" in line]
    error = [line for line in lines if "ERROR" in line]
    assert warning and error, proc.stdout + proc.stderr
    assert f"127.0.0.1:{port}" in warning[0]
    assert "retrying every 0.5 s for up to 3 s" in warning[0]
    t_warn = float(warning[0][1:warning[0].index("]")])
    t_err = float(error[0][1:error[0].index("]")])
    assert t_warn < 1.5 and t_err >= 2.0  # said when retrying starts, not at the end


@pytest.mark.parametrize("env", [{"CI": "true"}, {"TERM": "dumb"}, {}])
def test_progress_falls_back_to_plain_lines(tmp_path, env):
    # a pipe is not a terminal; CI=true and TERM=dumb are also refused by rich_can_draw
    script = textwrap.dedent(f"""
        import sys
        from smartsim import Experiment
        exp = Experiment("rep", exp_path={str(tmp_path / 'exp')!r}, max_concurrent=4)
        rs = exp.create_run_settings(sys.executable, ["-c", "import time; time.sleep(0.3)"])
        ens = exp.create_ensemble("ens", run_settings=rs, replicas=12)
        exp.start(ens, block=True, progress=True)
        gen = exp.create_ensemble("gen", run_settings=rs, replicas=3000)
        gen.attach_generator_files(to_copy=[{str(tmp_path / 'input.txt')!r}])
        exp.generate(gen, progress=True)
    """)
    (tmp_path / "input.txt").write_text("one input file per member\n")
    proc = _run(script, env={"SMARTSIM_PROGRESS_INTERVAL": "0.2", **env})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "\x1b[" not in out and "\r" not in out  # no terminal control codes
    launch = [line for line in out.splitlines() if line.startswith("rep: ")]
    assert len(launch) >= 2 and "running" in launch[0] and "queued" in launch[0]
    assert launch[-1].startswith("rep: 12/12 done")
    gen = [line for line in out.splitlines() if line.startswith("Generating: ")]
    if gen:  # generation may finish inside the bar's start delay
        assert gen[-1].startswith("Generating: 3000/3000 members, 3000 files") and "queued" not in gen[-1]


def test_rich_can_draw_rules(monkeypatch):
    from smartsim._core.control import progress
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert progress.rich_can_draw()
    monkeypatch.setenv("CI", "true")
    assert not progress.rich_can_draw()
    monkeypatch.delenv("CI")
    monkeypatch.setenv("TERM", "dumb")
    assert not progress.rich_can_draw()
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setitem(sys.modules, "ipykernel", object())
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # Jupyter without widgets
    assert not progress.rich_can_draw()


def test_ctrl_c_in_poll_leaves_detached_work_running(tmp_path):
    exp_path = tmp_path / "exp"
    script = textwrap.dedent(f"""
        import sys
        from smartsim import Experiment
        exp = Experiment("rep", exp_path={str(exp_path)!r})
        rs = exp.create_run_settings(sys.executable, ["-c", "import time; time.sleep(60)"])
        kept = exp.create_model("kept", rs)
        plain = exp.create_model("plain", rs)
        exp.start(kept, block=False, detach=True)
        exp.start(plain, block=False)
        print("STARTED", flush=True)
        try:
            exp.poll(interval=1, verbose=False)
        except KeyboardInterrupt:
            print("STATUS", [s.value for s in exp.get_status(kept, plain)], flush=True)
            raise
    """)
    state = str(tmp_path / "state")
    try:
        out, err = _interrupt_after(script, "STARTED", XDG_STATE_HOME=state)
        assert "STATUS ['Running', 'Cancelled']" in out, out + err
        assert ("Interrupted (Ctrl-C): experiment 'rep': stopped 1 running job and cancelled "
                "0 queued jobs") in out, out + err
    finally:  # the detached model: ended by its records
        from smartsim._core.control.lifecycle import teardown
        assert teardown([str(exp_path)], grace=1.0, out=lambda line: None) == 1


def test_stop_reports_what_it_ended_once(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from smartsim import Experiment
        exp = Experiment("rep", exp_path={str(tmp_path / "exp")!r})
        rs = exp.create_run_settings(sys.executable, ["-c", "import time; time.sleep(60)"])
        ens = exp.create_ensemble("ens", run_settings=rs, replicas=3)
        exp.start(ens, block=False)
        exp.stop(ens)
        print("after stop", flush=True)
        exp.poll(interval=1, verbose=False)
        print("statuses", [s.name for s in exp.get_status(ens)])
    """)
    proc = _run(script)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    line = "INFO Experiment 'rep': 3 members ended: 0 completed, 0 failed, 3 cancelled"
    # said by stop itself, and not again by the poll after it
    assert out.count(line) == 1 and out.index(line) < out.index("after stop")
    assert "statuses ['STATUS_CANCELLED', 'STATUS_CANCELLED', 'STATUS_CANCELLED']" in out
