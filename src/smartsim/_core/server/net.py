"""Interfaces, addresses and port checks for database launches."""
from __future__ import annotations

import errno
import os
import socket
import typing as t

from ...error import SmartSimError, SSConfigError

LOOPBACK = "127.0.0.1"
# a Redis Cluster node also listens on its port + this (the cluster bus)
CLUSTER_BUS_OFFSET = 10000


class PortUnavailable(SmartSimError):
    """A port a database would listen on cannot be bound (found before anything is launched)."""


def interface_addresses(interfaces: t.Sequence[str]) -> t.List[str]:
    """IPv4 addresses of the named interfaces (``lo`` -> ``127.0.0.1``), in order, unique."""
    out: t.List[str] = []
    table: t.Optional[t.Dict[str, t.Any]] = None
    for name in interfaces:
        if name in ("lo", "localhost", LOOPBACK):
            addr = LOOPBACK
        else:
            if table is None:
                import psutil  # pylint: disable=import-outside-toplevel

                table = psutil.net_if_addrs()
            entries = table.get(name)
            if entries is None:
                raise SSConfigError(
                    f"network interface {name!r} does not exist on this host "
                    f"(available: {', '.join(sorted(table))})")
            found = [e.address for e in entries if e.family == socket.AF_INET]
            if not found:
                raise SSConfigError(f"network interface {name!r} has no IPv4 address")
            addr = found[0]
        if addr not in out:
            out.append(addr)
    return out


def local_addresses() -> t.List[str]:
    """Every IPv4 address of this machine's interfaces (loopback included)."""
    out = [LOOPBACK]
    try:
        import psutil  # pylint: disable=import-outside-toplevel

        for entries in psutil.net_if_addrs().values():
            out.extend(e.address for e in entries if e.family == socket.AF_INET and e.address not in out)
    except Exception:  # pylint: disable=broad-except  # psutil gaps: loopback is always ours
        pass
    return out


def port_holder(port: int) -> str:
    """A description of the process listening on ``port`` (``"redis-server (pid 12)"``),
    or ``""`` when it cannot be seen."""
    try:
        import psutil  # pylint: disable=import-outside-toplevel

        for conn in psutil.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid:
                    try:
                        proc = psutil.Process(conn.pid)
                        return f"{proc.name()} (pid {conn.pid})"
                    except psutil.Error:
                        return f"pid {conn.pid}"
                return "another process"
    except Exception:  # pylint: disable=broad-except  # AccessDenied, platform gaps
        return ""
    return ""


def port_in_use(host: str, port: int) -> t.Optional[str]:
    """Why ``host:port`` cannot be bound (an error text), or None when it is free. Bound
    with ``SO_REUSEADDR`` as redis-server does, so a port in ``TIME_WAIT`` counts as free."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return "in use"
        return exc.strerror or str(exc)
    finally:
        sock.close()
    return None


def database_ports(port: int, n: int, cluster: bool) -> t.List[int]:
    """The ports ``n`` shards on ``port, port + 1, ...`` listen on: theirs, then (in a
    cluster) their bus ports."""
    ports = list(range(port, port + n))
    return ports + [p + CLUSTER_BUS_OFFSET for p in ports] if cluster else ports


def free_base_port(n: int = 1, cluster: bool = False, host: str = LOOPBACK) -> int:
    """A base port such that every port of ``n`` shards on it (:func:`database_ports`) can
    be bound on ``host`` now. Tried at random in 20000..55000, below the usual ephemeral
    range, so that concurrent callers rarely pick the same one."""
    import random  # pylint: disable=import-outside-toplevel

    rng = random.Random()  # seeded from os.urandom: differs between processes
    for _ in range(500):
        base = rng.randrange(20000, 55000 - n)
        if all(port_in_use(host, p) is None for p in database_ports(base, n, cluster)):
            return base
    raise SmartSimError(f"found no {n} free consecutive ports on {host}"
                        f"{' (with their cluster bus ports)' if cluster else ''}")


def check_ports_free(what: str, endpoints: t.Sequence[t.Tuple[str, int]]) -> None:
    """Raise :class:`PortUnavailable` naming the first endpoint that cannot be bound (and,
    where visible, the process holding it)."""
    for host, port in endpoints:
        why = port_in_use(host, port)
        if why is None:
            continue
        if why == "in use":
            holder = port_holder(port)
            by = f" by {holder}" if holder else ""
            raise PortUnavailable(f"{what}: port {port} on {host} is already in use{by}")
        raise PortUnavailable(f"{what}: cannot bind port {port} on {host}: {why}")


def check_unix_socket_free(what: str, path: str) -> None:
    if len(os.fsencode(path)) > 107:
        raise SmartSimError(f"{what}: the Unix socket path {path} is longer than the 107 bytes "
                            "the system allows")
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise SmartSimError(f"{what}: the directory of the Unix socket {path} does not exist")
    if os.path.exists(path):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(0.5)
            sock.connect(path)
        except OSError:
            return  # stale file: redis-server replaces it
        finally:
            sock.close()
        raise SmartSimError(f"{what}: the Unix socket {path} is already in use by another server")
