"""Start the test base's databases and keep them running, for ``SMARTSIM_TEST_DB``.

    python -m tests._testbase [--kinds standalone,cluster] [--shards 3] [--no-executors]

Prints ``SMARTSIM_TEST_DB=...`` (the standalone server's TCP address and Unix socket, a
cluster node), then waits; Ctrl-C or SIGTERM stops everything it started. In another shell::

    SMARTSIM_TEST_DB=... python3 -m pytest -q tests/client
"""
from __future__ import annotations

import argparse
import shutil
import signal
import sys
import typing as t

from . import DB_ENV, aimodule_path, redis_server
from .cluster import Database


def main(argv: t.Optional[t.List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests._testbase", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", default="standalone,cluster",
                        help="which databases: standalone, cluster or both (default)")
    parser.add_argument("--shards", type=int, default=3, help="primaries of the cluster")
    parser.add_argument("--no-executors", action="store_true",
                        help="no executor processes (model and script runs then fail)")
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    if not kinds or set(kinds) - {"standalone", "cluster"}:
        parser.error("--kinds takes standalone and/or cluster")
    binary = redis_server()
    if binary is None:
        sys.exit("no redis-server 7.x installed (set SMARTSIM_TEST_REDIS_SERVER)")
    module = aimodule_path()
    started: t.List[Database] = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        addresses = []
        if "standalone" in kinds:
            db = Database.start_standalone(module, binary=binary, executor=not args.no_executors)
            started.append(db)
            addresses += [db.address, f"unix://{db.sock}"]
        if "cluster" in kinds:
            db = Database.start_cluster(module, shards=args.shards, binary=binary,
                                       executors=not args.no_executors)
            started.append(db)
            addresses.append(db.address)
        print(f"redis-server {binary}, module {module}; Ctrl-C stops", file=sys.stderr)
        print(f"{DB_ENV}={','.join(addresses)}", flush=True)
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        for db in started:
            db.stop()
            if db.workdir is not None:
                shutil.rmtree(db.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
