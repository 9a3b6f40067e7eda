"""Colocated databases: started with the model, up before its first line, gone when it ends."""
from __future__ import annotations

import os
import sys
import uuid
import warnings

import psutil
import pytest

from smartsim.entity.model import Model
from smartsim.error import SmartSimError, SSDBIDConflictError, SSUnsupportedError
from smartsim.status import SmartSimStatus

from conftest import APPS, free_ports, listening, wait_gone


def _out(model) -> str:
    with open(os.path.join(model.path, f"{model.name}.out")) as handle:
        return handle.read()


def _err(model) -> str:
    with open(os.path.join(model.path, f"{model.name}.err")) as handle:
        return handle.read()


def _field(text: str, key: str) -> str:
    for line in text.splitlines():
        if line.startswith(key + " "):
            return line[len(key) + 1:]
    raise AssertionError(f"{key!r} not in output:\n{text}")


def _colo_model(exp, name, app="colo_first_line.py", args=()):
    rs = exp.create_run_settings(sys.executable, [str(APPS / app), *args])
    return exp.create_model(name, rs)


def test_colocated_tcp(exp):
    port = free_ports(1)
    model = _colo_model(exp, "colo_tcp")
    model.colocate_db_tcp(port=port, db_cpus=1, custom_pinning=[0])
    assert model.colocated
    settings = model.run_settings.colocated_db_settings
    assert settings["port"] == port and settings["custom_pinning"] == "0" and settings["db_identifier"] == ""
    exp.start(model, block=True)
    out = _out(model)
    assert exp.get_status(model) == [SmartSimStatus.STATUS_COMPLETED], _err(model)
    assert _field(out, "first reply") == "+PONG"
    assert "+OK" in _field(out, "set/get")
    assert _field(out, "addr") == f"127.0.0.1:{port}"
    assert _field(out, "db affinity") == "0"
    # torn down when the model ended: nothing listens, the server process is gone
    assert not listening(port)
    assert wait_gone([int(_field(out, "db pid"))], 2.0) == []
    assert os.path.isfile(os.path.join(model.path, "colo_tcp-db.log"))
    exp.start(model, block=True)  # again, same port: the first database is gone
    assert exp.get_status(model) == [SmartSimStatus.STATUS_COMPLETED], _err(model)
    assert _field(_out(model), "first reply") == "+PONG"


def test_colocated_uds_with_identifier(exp, tmp_path):
    sock = f"/tmp/ss-colo-{uuid.uuid4().hex[:8]}.sock"
    model = _colo_model(exp, "colo_uds")
    model.colocate_db_uds(unix_socket=sock, db_identifier="local", custom_pinning=[])
    assert model.run_settings.colocated_db_settings["custom_pinning"] is None
    assert model.run_settings.colocated_db_settings["port"] == 0
    exp.start(model, block=True)
    out = _out(model)
    assert exp.get_status(model) == [SmartSimStatus.STATUS_COMPLETED], _err(model)
    assert _field(out, "first reply") == "+PONG"
    assert _field(out, "addr") == f"unix://{sock}"
    assert wait_gone([int(_field(out, "db pid"))], 2.0) == []
    assert not os.path.exists(sock)


def test_colocated_failing_app_still_tears_down(exp):
    port = free_ports(1)
    rs = exp.create_run_settings(sys.executable, ["-c", "import sys; print('app ran'); sys.exit(3)"])
    model = exp.create_model("failing", rs)
    model.colocate_db_tcp(port=port)
    exp.start(model, block=True)
    assert exp.get_status(model) == [SmartSimStatus.STATUS_FAILED]
    assert exp.summary_data()[-1]["Returncode"] == 3
    assert "app ran" in _out(model)
    assert not listening(port)


def test_colocated_stop_ends_app_and_db(exp):
    port = free_ports(1)
    rs = exp.create_run_settings(sys.executable, ["-c", "import time; time.sleep(60)"])
    model = exp.create_model("sleeper", rs)
    model.colocate_db_tcp(port=port)
    exp.start(model, block=False)
    import time
    deadline = time.monotonic() + 20
    while not listening(port) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert listening(port)
    exp.stop(model)
    assert exp.get_status(model) == [SmartSimStatus.STATUS_CANCELLED]
    assert not listening(port)


def test_colocated_port_in_use(exp):
    import socket

    port = free_ports(1)
    holder = socket.socket()
    holder.bind(("127.0.0.1", port))
    holder.listen(1)
    try:
        model = _colo_model(exp, "busy")
        model.colocate_db_tcp(port=port)
        with pytest.raises(SmartSimError, match=f"port {port} on 127.0.0.1 is already in use"):
            exp.start(model, block=True)
    finally:
        holder.close()


def test_colocated_identifier_conflicts_with_running_db(exp):
    base = free_ports(2)
    db = exp.create_database(port=base, db_identifier="shared")
    exp.start(db)
    model = _colo_model(exp, "clash")
    model.colocate_db_tcp(port=base + 1, db_identifier="shared")
    with pytest.raises(SSDBIDConflictError, match="has already been used"):
        exp.start(model)
    # the default identifiers clash too (both are SSDB), as in SmartSim
    db2 = exp.create_database(port=free_ports(1))
    exp.start(db2)
    model2 = _colo_model(exp, "clash2")
    model2.colocate_db_tcp(port=base + 1)
    with pytest.raises(SSDBIDConflictError):
        exp.start(model2)
    exp.stop(db, db2)


def test_colocated_and_standalone_together(exp):
    base = free_ports(2)
    db = exp.create_database(port=base, db_identifier="central")
    exp.start(db)
    model = _colo_model(exp, "both", app="print_env.py")
    model.colocate_db_tcp(port=base + 1, db_identifier="mine")
    exp.start(model, block=True)
    import json

    env = json.loads(_out(model))
    assert env == {"SSDB_central": f"127.0.0.1:{base}", "SR_DB_TYPE_central": "Standalone",
                   "SSDB_mine": f"127.0.0.1:{base + 1}", "SR_DB_TYPE_mine": "Standalone"}
    exp.stop(db)


def test_pinning_strings_and_errors():
    pin = Model._create_pinning_string
    assert pin(None, 2) == "0,1"
    assert pin([1, 2], 2) == "1,2"
    assert pin([range(2), 3], 3) == "0,1,3"
    assert pin(range(3), 3) == "0,1,2"
    assert pin([range(8, 10), range(6, 1, -2)], 4) == "2,4,6,8,9"
    assert pin([10, 2], 2) == "2,10"
    assert pin([], 2) is None
    with pytest.raises(ValueError):
        pin([-1], 1)
    with pytest.raises(TypeError):
        pin(["a"], 1)
    with pytest.raises(TypeError):
        pin(5, 1)  # type: ignore[arg-type]


def test_colocate_argument_checks(exp):
    model = _colo_model(exp, "args")
    with pytest.raises(ValueError, match="Invalid name for unix socket"):
        model.colocate_db_uds(unix_socket="/tmp/bad socket")
    with pytest.raises(SSUnsupportedError):
        model.colocate_db_tcp(limit_app_cpus=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.colocate_db(port=free_ports(1), maxclients=100, threads_per_queue=2)
    assert any(issubclass(w.category, FutureWarning) for w in caught)
    settings = model.run_settings.colocated_db_settings
    assert settings["extra_db_args"] == {"maxclients": "100"}
    assert settings["rai_args"]["threads_per_queue"] == 2


def test_colocated_extra_args_reach_the_server(exp):
    port = free_ports(1)
    code = ("import os, socket; s = socket.create_connection(('127.0.0.1', %d)); "
            "s.sendall(b'*3\\r\\n$6\\r\\nCONFIG\\r\\n$3\\r\\nGET\\r\\n$10\\r\\nmaxclients\\r\\n'); "
            "print(s.recv(100))" % port)
    model = exp.create_model("extra", exp.create_run_settings(sys.executable, ["-c", code]))
    model.colocate_db_tcp(port=port, maxclients=123)
    exp.start(model, block=True)
    assert b"123" in _out(model).encode(), _err(model)


def test_colocated_db_process_is_child_of_wrapper(exp):
    """Sanity check of the process layout: the wrapper leads the model's process group and
    the database runs in it, so stop/watchdog signals reach it."""
    port = free_ports(1)
    rs = exp.create_run_settings(sys.executable, ["-c", "import os; print(os.getpgrp(), os.getppid())"])
    model = exp.create_model("layout", rs)
    model.colocate_db_tcp(port=port)
    exp.start(model, block=True)
    pgrp, ppid = map(int, _out(model).split())
    wrapper_pid = int(exp.summary_data()[-1]["JobID"])
    assert pgrp == wrapper_pid and ppid == wrapper_pid
    assert not psutil.pid_exists(wrapper_pid) or psutil.Process(wrapper_pid).status() == psutil.STATUS_ZOMBIE
