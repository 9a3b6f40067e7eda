"""Only our executor may speak the internal AI._EXEC.* protocol (PROTOCOL.md, "Executor
secret"): the module is loaded with EXECUTOR_SECRET_FILE, AI._EXEC.HELLO must carry that
secret, and every other internal command from a connection that did not register with it is
refused. Real redis-servers, real connections, a real executor process."""
import concurrent.futures as cf
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import redis

from .._testbase import write_secret

INTERNAL = [  # every internal command but HELLO, with well-formed arguments
    ("AI._EXEC.PULL", 1, 10),
    ("AI._EXEC.FETCH", "m", 1),
    ("AI._EXEC.DONE", 1, 1, "FLOAT", "1", np.float32(7).tobytes()),
    ("AI._EXEC.ERR", 1, "forged"),
]
NOT_EXECUTOR = "not an executor"
SRC = Path(__file__).resolve().parents[2] / "src"


def _error(client, *args) -> str:
    """The text of the NOPERM error ``args`` must get (redis-py strips the code)."""
    try:
        reply = client.execute_command(*args)
    except redis.exceptions.NoPermissionError as exc:
        return str(exc)
    except redis.ResponseError as exc:
        raise AssertionError(f"{args[0]} was refused without NOPERM: {exc}") from None
    raise AssertionError(f"{args[0]} was accepted: {reply!r}")


def _info(client) -> dict:
    return client.info("ai_executors")


def _assert_all_refused(client):
    for cmd in INTERNAL:
        msg = _error(client, *cmd)
        assert msg.startswith(NOT_EXECUTOR), (cmd[0], msg)
        assert cmd[0] in msg


def test_module_without_secret_accepts_no_executor(server_factory):
    s = server_factory(secret=False)
    c = s.client()
    assert _info(c) == {"ai_executors": 0, "ai_executor_secret": "no"}
    for args in ((), ("anything",)):
        msg = _error(c, "AI._EXEC.HELLO", "CPU", os.getpid(), "TORCH", *args)
        assert msg.startswith("executor registration is disabled"), msg
        assert "EXECUTOR_SECRET_FILE" in msg
    _assert_all_refused(c)
    assert _info(c)["ai_executors"] == 0
    # the database itself works; executions say no executor is running
    c.execute_command("AI.TENSORSET", "x", "FLOAT", 1, "VALUES", 1)
    c.execute_command("AI.SCRIPTSET", "s", "CPU", "SOURCE", "def f(x):\n    return x\n")
    with pytest.raises(redis.ResponseError, match="no executor is running"):
        c.execute_command("AI.SCRIPTEXECUTE", "s", "f", "INPUTS", 1, "x", "OUTPUTS", 1, "y")


def test_missing_or_wrong_secret_is_refused(server_factory):
    s = server_factory()
    c = s.client()
    assert _info(c) == {"ai_executors": 0, "ai_executor_secret": "yes"}
    for args in ((), ("wrong",), (s.secret[:-1],), (s.secret + "x",), (s.secret.upper(),), ("",)):
        msg = _error(c, "AI._EXEC.HELLO", "CPU", os.getpid(), "TORCH", *args)
        assert msg == "wrong or missing executor secret in AI._EXEC.HELLO", (args, msg)
        _assert_all_refused(c)  # a refused HELLO registers nothing
    assert _info(c)["ai_executors"] == 0


def test_right_secret_registers_and_nobody_else_can_answer(server_factory):
    """A client waits on MODELEXECUTE; the registered executor pulls the job; a second
    connection that tries to finish it with forged outputs is refused; the client gets the
    executor's outputs."""
    s = server_factory()
    c = s.client()
    c.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", b"blob")
    c.execute_command("AI.TENSORSET", "x", "FLOAT", 1, "VALUES", 3)
    ex = s.client(socket_timeout=20)
    assert ex.execute_command("AI._EXEC.HELLO", "CPU", os.getpid(), "", s.secret) == b"OK"
    assert _info(c)["ai_executors"] == 1
    pool = cf.ThreadPoolExecutor(1)
    try:
        waiting = pool.submit(s.client(socket_timeout=30).execute_command,
                              "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
        jobs = []
        deadline = time.monotonic() + 10
        while not jobs and time.monotonic() < deadline:
            jobs = ex.execute_command("AI._EXEC.PULL", 1, 500)
        (job,) = jobs
        job_id = job[0]
        attacker = s.client()
        assert _error(attacker, "AI._EXEC.DONE", job_id, 1, "FLOAT", "1",
                      np.float32(666).tobytes()).startswith(NOT_EXECUTOR)
        assert _error(attacker, "AI._EXEC.ERR", job_id, "forged").startswith(NOT_EXECUTOR)
        assert _error(attacker, "AI._EXEC.FETCH", job[2], job[3]).startswith(NOT_EXECUTOR)
        assert not waiting.done()
        assert ex.execute_command("AI._EXEC.FETCH", job[2], job[3])[2] == b"blob"
        assert ex.execute_command("AI._EXEC.DONE", job_id, 1, "FLOAT", "1",
                                  np.float32(6).tobytes()) == b"OK"
        assert waiting.result(20) == b"OK"
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    assert np.frombuffer(c.execute_command("AI.TENSORGET", "y", "BLOB"), np.float32).tolist() == [6.0]
    ex.close()
    deadline = time.monotonic() + 5
    while _info(c)["ai_executors"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _info(c)["ai_executors"] == 0  # gone with its connection


def test_secret_shows_in_no_monitor_slowlog_or_module_list(server_factory):
    s = server_factory()
    c = s.client()
    c.config_set("slowlog-log-slower-than", 0)
    seen = []
    mon = s.client(socket_timeout=5)
    ready = threading.Event()

    def watch():
        with mon.monitor() as m:
            ready.set()
            for event in m.listen():
                seen.append(event["command"])
                if "stop-watching" in event["command"]:
                    return

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    assert ready.wait(5)
    time.sleep(0.2)
    ex = s.client()
    assert ex.execute_command("AI._EXEC.HELLO", "CPU", os.getpid(), "", s.secret) == b"OK"
    c.get("stop-watching")
    t.join(5)
    assert any("stop-watching" in cmd for cmd in seen)
    assert not any(s.secret in cmd for cmd in seen), seen
    assert s.secret.encode() not in repr(c.slowlog_get(128)).encode()
    # Redis 7 lists module load arguments to any client: the secret file's path, not the secret
    modules = repr(c.execute_command("MODULE", "LIST"))
    assert s.secret not in modules
    ex.close()


def test_secret_file_must_be_private_and_not_empty(server_factory, tmp_path):
    good = write_secret(tmp_path / "good", "  s3cret-value \n")
    s = server_factory(secret=False, module_args=["EXECUTOR_SECRET_FILE", str(good)])
    assert s.client().execute_command("AI._EXEC.HELLO", "CPU", 1, "", "s3cret-value") == b"OK"
    shared = write_secret(tmp_path / "shared", "s3cret-value")
    os.chmod(shared, 0o640)
    empty = write_secret(tmp_path / "empty", " \n")
    for path, why in ((shared, "accessible by group or others"), (empty, "must hold 1 to"),
                      (tmp_path / "missing", "cannot open")):
        bad = server_factory(secret=False, module_args=["EXECUTOR_SECRET_FILE", str(path)],
                             start=False)
        with pytest.raises(RuntimeError, match="redis-server exited"):
            bad.start()
        assert why in bad.log_tail(), bad.log_tail()


def _executor(server, *args, env=None):
    full = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in [str(SRC), os.environ.get("PYTHONPATH")] if p))
    full.pop("SMARTSIM_EXECUTOR_SECRET", None)
    full.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "smartsim._core.executor", "--host", "127.0.0.1", "--port",
         str(server.port), "--no-prewarm", "--no-parent-watch", *args],
        env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_executor_cli_needs_the_secret(server_factory):
    """python -m smartsim._core.executor: without the secret it says why and exits 3 (no
    retry loop); with --secret-file or $SMARTSIM_EXECUTOR_SECRET it registers."""
    s = server_factory()
    c = s.client()
    for env in ({}, {"SMARTSIM_EXECUTOR_SECRET": "wrong"}):
        proc = _executor(s, env=env)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 3, out
        assert "refused to register this executor" in out and "--secret-file" in out, out
    for args, env in ((["--secret-file", s.secret_file], {}), ([], {"SMARTSIM_EXECUTOR_SECRET": s.secret})):
        proc = _executor(s, *args, env=env)
        try:
            deadline = time.monotonic() + 60
            while _info(c)["ai_executors"] != 1 and time.monotonic() < deadline:
                assert proc.poll() is None, proc.communicate()[0]
                time.sleep(0.05)
            assert _info(c)["ai_executors"] == 1
        finally:
            proc.terminate()
            proc.communicate(timeout=30)
        deadline = time.monotonic() + 5
        while _info(c)["ai_executors"] and time.monotonic() < deadline:
            time.sleep(0.02)
