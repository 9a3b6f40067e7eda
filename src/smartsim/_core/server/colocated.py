"""The colocated-database wrapper: starts a model's database, runs the model, tears down.

Run as ``python -I -S colocated.py '<json config>' -- <application argv...>`` (the
controller builds this command line; standard library only, so it starts in a few
milliseconds). It is the launched process, so it leads the model's process group: stop
signals, the launcher's watchdog and Ctrl-C handling reach the database, the executor and
the application together.

1. refuse a TCP port or Unix socket that is already in use (named in the error);
2. write the database's config file (mode 0600) with a fresh executor secret and the
   password (``requirepass``, read from the environment variable the JSON names), so that
   neither ever appears on a command line;
3. start ``redis-server`` from that file (pinned to the database CPUs where the OS allows
   it) and wait until it answers ``PING`` (no fixed sleeps), checking that the server that
   answers is the one started here (a port taken after step 1 is reported as such);
4. start the executor sidecar (restarted if it dies while the application runs), which
   reads the secret from its file and the password from ``SMARTSIM_EXECUTOR_PASSWORD``;
   then store the model's ML objects (``ml_objects``: a 0600 JSON file of files and
   strings, see ``_core/control/mlobjects.py``); a failure there ends the job before the
   application starts;
5. run the application, which therefore never runs a line before its database answers;
6. when the application ends, whatever its exit code, stop the executor and the database
   (``SIGTERM``: a final save when checkpoints are configured; ``SIGKILL`` after a grace
   period) and exit with the application's exit code.
"""
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# run as a script by its path (no smartsim on sys.path), so the siblings import top-level
import config as _config  # type: ignore[import-not-found]  # noqa: E402  pylint: disable=wrong-import-position,import-error
import miniresp  # type: ignore[import-not-found]  # noqa: E402  pylint: disable=wrong-import-position,import-error

PREFIX = "smartsim colocated database"
STOP_GRACE = 5.0
_pending_signal: list[int] = []  # signal numbers received, handled by the main loop


def _say(msg):
    sys.stderr.write(f"{PREFIX}: {msg}\n")
    sys.stderr.flush()


def _log_tail(path, n=2000):
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - n))
            return handle.read().decode(errors="replace").strip()
    except OSError:
        return ""


def _check_free(cfg):
    sock_path = cfg.get("unix_socket")
    if sock_path:
        if os.path.exists(sock_path):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.settimeout(0.5)
                probe.connect(sock_path)
            except OSError:
                pass  # stale socket file: redis-server replaces it
            else:
                return f"the Unix socket {sock_path} is already in use by another server"
            finally:
                probe.close()
    for host, port in cfg.get("tcp") or ():
        if not port:
            continue
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError as exc:
            return f"port {port} on {host} is already in use ({exc.strerror or exc})"
        finally:
            sock.close()
    return None


def _server_argv(cfg, password):
    """Write the database's 0600 config file (with the password and, for our module, a
    fresh executor secret) and return the redis-server command line that reads it."""
    shard = _config.ShardConfig(**cfg["config"])
    module_args = list(shard.module_args)
    if cfg.get("secret_file"):
        module_args += _config.new_executor_secret(cfg["secret_file"])
    shard = shard._replace(password=password, module_args=module_args)
    return _config.config_command_line(cfg["server"], _config.write_config(shard, cfg["config_file"]))


def _foreign_server(cfg, db):
    """An error text when the server answering on our TCP port is not ``db`` (the port was
    taken after ``_check_free``; ours then fails to bind), else None."""
    tcp = cfg.get("tcp") or []
    if not tcp:
        return None  # a Unix socket: redis-server replaces the file, so it cannot be taken
    host, port = tcp[0]
    pid = miniresp.server_pid(host, port, None, cfg.get("password"))
    if pid is None or pid == db.pid:
        return None
    return (f"port {port} on {host} was taken by another server (pid {pid}) after it was "
            "checked free")


def _spawn(argv, pin=None, stdout=None, env=None):
    """Start argv; with ``pin``, it starts on those CPUs (our own affinity is set around
    the spawn, so no code runs in the child before exec)."""
    saved = None
    if pin:
        try:
            saved = os.sched_getaffinity(0)
            os.sched_setaffinity(0, pin)
        except (OSError, AttributeError):
            saved = None
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, close_fds=True,
                                env=env)
    finally:
        if saved is not None:
            os.sched_setaffinity(0, saved)


def _pidfd(proc):
    try:
        return os.pidfd_open(proc.pid)
    except (OSError, AttributeError):
        return -1


def _stop(proc, grace):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
    except OSError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            proc.kill()
        except OSError:
            pass
        proc.wait()


def _on_signal(signum, _frame):
    _pending_signal.append(signum)


def _allowed_pin(cpus):
    if not cpus:
        return None
    try:
        allowed = os.sched_getaffinity(0)
    except (OSError, AttributeError):
        return None
    pin = set(cpus) & allowed
    if not pin:
        _say(f"CPUs {sorted(cpus)} are not available to this process (allowed: {sorted(allowed)}); "
             "the database is not pinned")
        return None
    if pin != set(cpus):
        _say(f"pinning the database to CPUs {sorted(pin)} (of {sorted(cpus)} asked; the others "
             "are not available to this process)")
    return pin


def _wait_ready(cfg, db):
    timeout = float(cfg.get("timeout", 60))
    deadline = time.monotonic() + timeout
    delay = 0.001
    tcp = cfg.get("tcp") or []
    host, port = (tcp[0] if tcp else (None, 0))
    why = ""
    while True:
        if db.poll() is not None:
            return f"redis-server exited with code {db.returncode} before it was ready"
        ready, why = miniresp.probe(host, port, cfg.get("unix_socket"), cfg.get("password"), timeout=1.0)
        if ready:
            return _foreign_server(cfg, db)
        if time.monotonic() > deadline:
            return f"redis-server did not answer PING within {timeout:g} s ({why})"
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def _wait_executor(cfg, executor):
    """Wait until the executor has registered with the module (so the application's first
    model run finds it); a missing executor is reported, the application runs anyway."""
    timeout = float(cfg.get("executor_timeout", 60))
    deadline = time.monotonic() + timeout
    tcp = cfg.get("tcp") or []
    host, port = (tcp[0] if tcp else (None, 0))
    delay = 0.002
    while time.monotonic() < deadline:
        if executor is None or executor.poll() is not None:
            _say("the executor exited before it registered; ML models cannot run until it is back")
            return
        if miniresp.executor_registered(host, port, cfg.get("unix_socket"), cfg.get("password")):
            return
        if _pending_signal:
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    _say(f"the executor did not register within {timeout:g} s; ML models cannot run until it does")


def _load_ml_objects(cfg):
    """Store the model's ML objects (files and strings, listed in the 0600 JSON file
    ``cfg["ml_objects"]`` that the driver wrote) in the database; an error text or None."""
    import importlib.util  # pylint: disable=import-outside-toplevel

    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location(
        "_smartsim_mlobjects", os.path.join(os.path.dirname(here), "control", "mlobjects.py"))
    tcp = cfg.get("tcp") or []
    host, port = (tcp[0] if tcp else (None, 0))
    try:
        mlobjects = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mlobjects)
        with miniresp.connect(host, port, cfg.get("unix_socket"), cfg.get("password"),
                              timeout=float(cfg.get("ml_timeout", 180))) as conn:
            stored = mlobjects.load_colocated(cfg["ml_objects"], conn)
    except Exception as exc:  # pylint: disable=broad-except
        return str(exc) or type(exc).__name__
    if cfg.get("debug"):
        _say(f"stored {stored} ML object key(s) from {cfg['ml_objects']}")
    return None


def _exit_code(rc):
    return 128 - rc if rc < 0 else rc


def main(argv):
    if len(argv) < 4 or argv[2] != "--":
        _say("usage: colocated.py '<json>' -- <application argv...>")
        return 2
    cfg = json.loads(argv[1])
    app_argv = argv[3:]
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, _on_signal)
    password = None
    if cfg.get("password_env"):
        password = os.environ.get(cfg["password_env"])
        if not password:
            _say(f"cannot start the database of {cfg.get('name')}: its password is missing from "
                 f"${cfg['password_env']}")
            return 1
    cfg["password"] = password
    ex_env = dict(os.environ, SMARTSIM_EXECUTOR_PASSWORD=password) if password else None
    busy = _check_free(cfg)
    if busy:
        _say(f"cannot start the database of {cfg.get('name')}: {busy}")
        return 1
    pin = _allowed_pin(cfg.get("pin"))
    log = cfg.get("log") or os.devnull
    try:
        server_argv = _server_argv(cfg, password)
    except OSError as exc:
        _say(f"cannot write the configuration of the database of {cfg.get('name')}: {exc}")
        return 1
    try:
        db = _spawn(server_argv, pin, stdout=subprocess.DEVNULL)
    except OSError as exc:
        _say(f"cannot start {server_argv[0]}: {exc}")
        return 1
    executor = None
    ex_argv = cfg.get("executor")
    ex_started = 0.0
    ex_failures = 0

    def start_executor():
        nonlocal executor, ex_started
        args = [a.replace("{redis_pid}", str(db.pid)) for a in ex_argv]
        try:
            executor = _spawn(args, pin, env=ex_env)
        except OSError as exc:
            _say(f"cannot start the executor: {exc}")
            executor = None
        ex_started = time.monotonic()

    if ex_argv:  # at once: its start-up overlaps the server's (it retries until it answers)
        start_executor()
    failed = _wait_ready(cfg, db)
    if failed:
        tail = _log_tail(log)
        _say(f"the database of {cfg.get('name')} failed to start: {failed}" +
             (f"\n--- {log} ---\n{tail}" if tail else ""))
        _stop(executor, 1.0)
        _stop(db, 1.0)
        return 1
    if ex_argv:
        _wait_executor(cfg, executor)
    failed = _load_ml_objects(cfg) if cfg.get("ml_objects") and not _pending_signal else None
    if failed:
        _say(f"cannot load the ML objects of {cfg.get('name')} into its database: {failed}")
        _stop(executor, 1.0)
        _stop(db, STOP_GRACE)
        return 1
    if cfg.get("debug"):
        _say(f"ready (pid {db.pid}) at {cfg.get('address')}")
    if _pending_signal:  # stopped while the database was starting
        _stop(executor, 1.0)
        _stop(db, STOP_GRACE)
        return 128 + _pending_signal[0]
    try:
        app = subprocess.Popen(app_argv)
    except OSError as exc:
        _say(f"cannot run {app_argv[0]}: {exc}")
        _stop(executor, 1.0)
        _stop(db, STOP_GRACE)
        return 127 if isinstance(exc, FileNotFoundError) else 126
    app_fd, db_fd = _pidfd(app), _pidfd(db)
    restart_at = None
    forwarded = 0
    db_gone = False
    while True:
        while forwarded < len(_pending_signal):
            try:
                app.send_signal(_pending_signal[forwarded])
            except OSError:
                pass
            forwarded += 1
        if app.poll() is not None:
            break
        fds = [fd for fd in (app_fd, db_fd, wake_r) if fd >= 0]
        ex_fd = -1
        if executor is not None and executor.poll() is None:
            ex_fd = _pidfd(executor)
            if ex_fd >= 0:
                fds.append(ex_fd)
        timeout = 1.0
        if restart_at is not None:
            timeout = max(0.0, min(timeout, restart_at - time.monotonic()))
        try:
            select.select(fds, [], [], timeout) if fds else time.sleep(timeout)
        except InterruptedError:
            pass
        finally:
            if ex_fd >= 0:
                os.close(ex_fd)
        try:
            os.read(wake_r, 512)
        except OSError:
            pass
        if not db_gone and db.poll() is not None:
            db_gone = True
            if db_fd >= 0:
                os.close(db_fd)
                db_fd = -1
            if not _pending_signal:  # not an expected end (a stop signals the whole group)
                _say(f"redis-server (pid {db.pid}) exited with code {db.returncode} while "
                     f"{cfg.get('name')} was running")
        if ex_argv and not db_gone and not _pending_signal and executor is not None \
                and executor.poll() is not None and restart_at is None:
            quick = time.monotonic() - ex_started < 2.0
            ex_failures = ex_failures + 1 if quick else 0
            delay = 0.0 if not quick else min(10.0, 0.25 * 2 ** min(ex_failures, 6))
            _say(f"executor exited with code {executor.returncode}; restarting it"
                 + (f" in {delay:.2g} s" if delay else ""))
            restart_at = time.monotonic() + delay
        if restart_at is not None and time.monotonic() >= restart_at:
            restart_at = None
            if not db_gone:
                start_executor()
    rc = app.wait()
    for fd in (app_fd, db_fd):
        if fd >= 0:
            os.close(fd)
    _stop(executor, 1.0)
    _stop(db, STOP_GRACE)
    return _exit_code(rc)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
