"""Server hardening (issue 16): only our executor can answer model runs, secrets stay off
command lines, and a port lost between our check and the server's bind is reported at once.
Real redis-servers, executors and colocated wrappers started by the library."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import typing as t

import numpy as np
import psutil
import pytest
import redis

from smartsim.client import Client
from smartsim.error import SmartSimError
from smartsim.status import SmartSimStatus

from conftest import free_ports, redis_binaries, wait_gone


def _with_executors(monkeypatch) -> None:
    monkeypatch.setenv("SMARTSIM_EXECUTOR", "1")
    monkeypatch.setenv("SMARTSIM_EXECUTOR_ARGS", "--no-prewarm")
    from smartsim.database.orchestrator import executor_wanted

    if not executor_wanted():
        pytest.skip("no ML runtime installed: no executor sidecars")


def _cmdlines_with(*needles: str) -> t.List[str]:
    """Command lines (of every process on the host) that contain one of ``needles``."""
    hits = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read()
        except OSError:
            continue
        if any(needle.encode() in cmdline for needle in needles if needle):
            shown = cmdline.replace(b"\0", b" ").decode(errors="replace")[:400]
            hits.append(f"{pid}: {shown}")
    return hits


def _nopermission(conn: redis.Redis, *args: t.Any) -> str:
    try:
        reply = conn.execute_command(*args)
    except redis.exceptions.NoPermissionError as exc:
        return str(exc)
    except redis.ResponseError as exc:
        raise AssertionError(f"{args[0]} was refused without NOPERM: {exc}") from None
    raise AssertionError(f"{args[0]} was accepted from a plain client: {reply!r}")


def _affine_model() -> bytes:
    torch = pytest.importorskip("torch")
    import io

    class Affine(torch.nn.Module):
        def forward(self, x):
            return x * 2.0 + 1.0

    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(Affine()), buf)
    return buf.getvalue()


# ------------------------------------------------------------------------ executor secret


def test_plain_client_cannot_act_as_the_executor(exp, port, monkeypatch):
    """On an Orchestrator started by the project, a client without the shard's secret can
    neither register as the executor nor pull, fetch or answer jobs; run_model still works
    through the real executor, and the secret is on no command line (nor in MODULE LIST)."""
    _with_executors(monkeypatch)
    sevens = [path for version, path in redis_binaries().items() if version.startswith("7")]
    if sevens:  # Redis 7 lists module arguments to any client: show they hold no secret
        monkeypatch.setenv("SMARTSIM_REDIS_SERVER", sevens[0])
    model = _affine_model()
    db = exp.create_database(port=port)
    exp.start(db)
    shard_dir = os.path.join(db.path, "orchestrator_0")
    secret_file = os.path.join(shard_dir, "executor.secret")
    assert oct(os.stat(secret_file).st_mode & 0o777) == "0o600"
    with open(secret_file) as handle:
        secret = handle.read().strip()
    with open(os.path.join(shard_dir, "redis.conf")) as handle:
        conf = handle.read()
    assert f"EXECUTOR_SECRET_FILE {secret_file}" in conf and secret not in conf

    attacker = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
    for extra in ((), ("guess",), (secret[:-1] + ("0" if secret[-1] != "0" else "1"),)):
        msg = _nopermission(attacker, "AI._EXEC.HELLO", "CPU", os.getpid(), "TORCH,ONNX", *extra)
        assert "wrong or missing executor secret" in msg
    assert "not an executor" in _nopermission(attacker, "AI._EXEC.PULL", 16, 100)
    forged = np.full(4, 666, np.float32).tobytes()
    for job_id in range(1, 20):
        assert "not an executor" in _nopermission(attacker, "AI._EXEC.DONE", job_id, 1, "FLOAT", "4", forged)
        assert "not an executor" in _nopermission(attacker, "AI._EXEC.ERR", job_id, "forged")
    assert "not an executor" in _nopermission(attacker, "AI._EXEC.FETCH", "affine", 1)
    assert attacker.info("ai_executors")["ai_executors"] == 1  # the sidecar, registered
    assert secret not in repr(attacker.execute_command("MODULE", "LIST"))
    attacker.close()

    client = Client(cluster=False, address=db.get_address()[0])
    client.set_model("affine", model, "TORCH", "CPU")
    client.put_tensor("x", np.arange(4, dtype=np.float32))
    client.run_model("affine", ["x"], ["y"])
    assert client.get_tensor("y").tolist() == [1.0, 3.0, 5.0, 7.0]
    assert _cmdlines_with(secret) == []
    exp.stop(db)


# ------------------------------------------------------------------------ colocated secrets


def test_colocated_password_and_secret_stay_off_command_lines(exp, monkeypatch):
    """A colocated database with a password: neither the password nor the executor secret
    is on any process's command line while the database, its executor and the application
    run; the application and the executor both get in."""
    _with_executors(monkeypatch)
    monkeypatch.setenv("SMARTSIM_DB_START_TIMEOUT", "15")
    password = "colo-pw-" + os.urandom(6).hex()
    port = free_ports(1)
    app = (
        "import os, socket, time\n"
        "s = socket.create_connection(('127.0.0.1', %d))\n"
        "pw = os.environ['SSDB_PASSWORD'].encode()\n"
        "s.sendall(b'*2\\r\\n$4\\r\\nAUTH\\r\\n$%%d\\r\\n%%s\\r\\n' %% (len(pw), pw))\n"
        "print('auth', s.recv(100).decode().strip(), flush=True)\n"
        "s.sendall(b'*2\\r\\n$4\\r\\nINFO\\r\\n$12\\r\\nai_executors\\r\\n')\n"
        "time.sleep(0.2)\n"
        "print('info', s.recv(1000).decode().split(), flush=True)\n"
        "time.sleep(1.5)\n" % port)
    model = exp.create_model("colo_pw", exp.create_run_settings(sys.executable, ["-c", app]))
    model.colocate_db_tcp(port=port, requirepass=password)
    secret_file = os.path.join(model.path, "colo_pw-db.secret")
    exp.start(model, block=False)
    leaks: t.List[str] = []
    secret = ""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if not secret and os.path.exists(secret_file):
            with open(secret_file) as handle:
                secret = handle.read().strip()
        leaks += _cmdlines_with(password, secret)
        if exp.get_status(model)[0] in (SmartSimStatus.STATUS_COMPLETED, SmartSimStatus.STATUS_FAILED,
                                        SmartSimStatus.STATUS_CANCELLED):
            break
        time.sleep(0.05)
    with open(os.path.join(model.path, "colo_pw.out")) as handle:
        out = handle.read()
    with open(os.path.join(model.path, "colo_pw.err")) as handle:
        err = handle.read()
    assert leaks == [], leaks
    assert exp.get_status(model) == [SmartSimStatus.STATUS_COMPLETED], out + err
    assert secret, "the wrapper wrote no executor secret"
    assert "auth +OK" in out, out + err
    assert "'ai_executors:1'" in out, out + err  # the executor registered with the secret
    conf = os.path.join(model.path, "colo_pw-db.conf")
    assert oct(os.stat(conf).st_mode & 0o777) == "0o600"
    assert oct(os.stat(secret_file).st_mode & 0o777) == "0o600"


# ------------------------------------------------------------------------ port race


def _plain_redis(port: int, workdir: str) -> subprocess.Popen:
    server = redis_binaries()
    binary = next(iter(server.values()))
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--dir", workdir, "--logfile", ""], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping():
                return proc
        except redis.ConnectionError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("the squatting redis-server did not start")


@pytest.mark.parametrize("squatter", ["redis-server", "listening socket"])
def test_port_taken_after_the_check_is_reported(exp, port, monkeypatch, tmp_path, squatter):
    """Another process takes the port right after our free-port check: start fails within
    seconds with an error naming the port, leaves nothing of ours running and leaves the
    other process alone."""
    from smartsim._core.server import net

    check = net.check_ports_free
    holders: t.List[t.Any] = []

    def check_then_lose_the_race(what, endpoints):
        check(what, endpoints)
        if squatter == "redis-server":
            holders.append(_plain_redis(port, str(tmp_path)))
        else:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(8)
            holders.append(sock)

    monkeypatch.setattr(net, "check_ports_free", check_then_lose_the_race)
    db = exp.create_database(port=port)
    conf = os.path.join(db.path, "orchestrator_0", "redis.conf")
    try:
        t0 = time.monotonic()
        with pytest.raises(SmartSimError, match=rf"port {port} on 127.0.0.1 was taken") as err:
            exp.start(db)
        assert time.monotonic() - t0 < 10, err.value
        assert "orchestrator_0" in str(err.value)
        ours = [p.pid for p in psutil.process_iter(["cmdline"]) if conf in " ".join(p.info["cmdline"] or ())]
        assert wait_gone(ours, 5.0) == []
        assert not db.is_active()
        if squatter == "redis-server":
            assert holders[0].poll() is None  # never shut down a server we did not start
            assert redis.Redis(host="127.0.0.1", port=port, socket_timeout=2).ping()
    finally:
        for holder in holders:
            if isinstance(holder, socket.socket):
                holder.close()
            else:
                holder.terminate()
                holder.wait(10)
