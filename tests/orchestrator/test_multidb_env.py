"""Several databases in one experiment and the environment every launched model gets."""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from smartsim.client import Client
from smartsim.error import SSDBIDConflictError
from smartsim.status import SmartSimStatus

from conftest import APPS, REFERENCE_PYTHON, free_ports, have_reference


def _out(model) -> str:
    with open(os.path.join(model.path, f"{model.name}.out")) as handle:
        return handle.read()


def _err(model) -> str:
    with open(os.path.join(model.path, f"{model.name}.err")) as handle:
        return handle.read()


def test_two_databases_and_model_env(exp):
    base = free_ports(2)
    db = exp.create_database(port=base)
    db2 = exp.create_database(port=base + 1, db_identifier="second")
    exp.start(db, db2)
    assert db.is_active() and db2.is_active()

    rs = exp.create_run_settings(sys.executable, [str(APPS / "print_env.py")])
    producer = exp.create_model("producer", rs)
    consumer = exp.create_model("consumer", exp.create_run_settings(sys.executable, [str(APPS / "print_env.py")]),
                                enable_key_prefixing=True)
    consumer.register_incoming_entity(producer)
    exp.start(producer, consumer, block=True)
    assert exp.get_status(producer, consumer) == [SmartSimStatus.STATUS_COMPLETED] * 2
    env = json.loads(_out(producer))
    assert env == {"SSDB": f"127.0.0.1:{base}", "SR_DB_TYPE": "Standalone",
                   "SSDB_second": f"127.0.0.1:{base + 1}", "SR_DB_TYPE_second": "Standalone"}
    env2 = json.loads(_out(consumer))
    assert env2["SSKEYIN"] == "producer" and env2["SSKEYOUT"] == "consumer"
    assert env2["SSDB"] == env["SSDB"]
    assert "SSDB" not in rs.env_vars  # nothing written into the (shared) run settings

    # a model that uses smartsim.client with no arguments, on each database
    Client(cluster=False, address=db.get_address()[0]).put_tensor("from_driver", np.array([7, 8]))
    user = exp.create_model("user", exp.create_run_settings(sys.executable, [str(APPS / "put_get.py")]))
    user2 = exp.create_model("user2", exp.create_run_settings(sys.executable, [str(APPS / "put_get.py"), "second"]))
    exp.start(user, user2, block=True)
    assert exp.get_status(user, user2) == [SmartSimStatus.STATUS_COMPLETED] * 2, _err(user) + _err(user2)
    assert "round trip [0, 1, 2, 3, 4]" in _out(user) and "driver tensor [7, 8]" in _out(user)
    assert "round trip [0, 1, 2, 3, 4]" in _out(user2) and "driver tensor" not in _out(user2)
    second = Client(cluster=False, address=db2.get_address()[0])
    assert second.get_tensor("from_model").tolist() == [0, 1, 2, 3, 4]

    # a second database with an identifier in use is refused at start, the first one stays
    dup = exp.create_database(port=free_ports(1), db_identifier="second")
    with pytest.raises(SSDBIDConflictError, match="has already been used. Pass in a unique name for db_identifier"):
        exp.start(dup)
    assert db2.is_active() and not dup.is_active()

    # once a database is stopped, models no longer get its address
    exp.stop(db2)
    late = exp.create_model("late", exp.create_run_settings(sys.executable, [str(APPS / "print_env.py")]))
    exp.start(late, block=True)
    assert json.loads(_out(late)) == {"SSDB": f"127.0.0.1:{base}", "SR_DB_TYPE": "Standalone"}
    exp.stop(db)


def test_sharded_env_and_ensemble_members(exp):
    base = free_ports(3, cluster=True)
    db = exp.create_database(port=base, db_nodes=3, db_identifier="big")
    exp.start(db)
    ens = exp.create_ensemble("ens", run_settings=exp.create_run_settings(
        sys.executable, [str(APPS / "print_env.py")]), replicas=2)
    exp.start(ens, block=True)
    for member in ens.models:
        env = json.loads(_out(member))
        assert env["SSDB_big"] == ",".join(f"127.0.0.1:{base + i}" for i in range(3))
        assert env["SR_DB_TYPE_big"] == "Clustered"
        assert env["SSKEYOUT"] == member.name  # ensemble members prefix their keys
    if os.path.exists(REFERENCE_PYTHON):  # SmartRedis 0.6.1 finds the cluster by its identifier
        Client(cluster=True, address=db.get_address()[0]).put_tensor("from_driver", np.array([5]))
        model = exp.create_model("sr", exp.create_run_settings(REFERENCE_PYTHON, [str(APPS / "sr_client.py"), "big"]))
        exp.start(model, block=True)
        assert exp.get_status(model) == [SmartSimStatus.STATUS_COMPLETED], _err(model)
        assert "smartredis [1.5, 2.5] [5]" in _out(model)
    exp.stop(db)


@have_reference
def test_real_smartredis_finds_its_database(exp, port):
    db = exp.create_database(port=port)
    exp.start(db)
    Client(cluster=False, address=db.get_address()[0]).put_tensor("from_driver", np.array([3, 4]))
    model = exp.create_model("sr", exp.create_run_settings(REFERENCE_PYTHON, [str(APPS / "sr_client.py")]))
    exp.start(model, block=True)
    assert exp.get_status(model) == [SmartSimStatus.STATUS_COMPLETED], _err(model)
    assert "smartredis [1.5, 2.5] [3, 4]" in _out(model)
    exp.stop(db)
