"""Redis Cluster bootstrap without redis-cli: slots by ``CLUSTER ADDSLOTS``, handshake by
``CLUSTER MEET``, ready when every node reports ``cluster_state:ok`` and knows every other.

A cluster restarted from its nodes' ``nodes.conf`` files (checkpoints) already has its
slots and peers: it is only waited for. A half-formed state (some nodes with slots, some
without) is reported, never "repaired" by dropping data.

Note: a Redis master that starts in ``cluster_state:fail`` waits about 2 s after start
(``CLUSTER_WRITABLE_DELAY``) before it reports ``ok``, so a new cluster is never ready in
less than that.
"""
from __future__ import annotations

import time
import typing as t

from ...error import SmartSimError
from . import miniresp

N_SLOTS = 16384


def slot_ranges(n_shards: int) -> t.List[t.Tuple[int, int]]:
    """Contiguous, near-equal slot ranges (inclusive) for ``n_shards`` masters."""
    base, extra = divmod(N_SLOTS, n_shards)
    ranges, start = [], 0
    for i in range(n_shards):
        size = base + (1 if i < extra else 0)
        ranges.append((start, start + size - 1))
        start += size
    return ranges


def _info(conn: miniresp.Conn) -> t.Dict[str, str]:
    reply = conn.call("CLUSTER", "INFO", raise_errors=True)
    text = reply.decode() if isinstance(reply, bytes) else str(reply)
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


def create_cluster(nodes: t.Sequence[t.Tuple[str, int]], password: t.Optional[str] = None,
                   timeout: float = 60.0, server_version: t.Sequence[int] = (6, 2, 0),
                   alive: t.Optional[t.Callable[[], t.Optional[str]]] = None) -> None:
    """Assign slots, introduce the nodes to each other and wait for ``cluster_state:ok``.

    :param alive: called while waiting; returns a message when a shard died (stops the wait)
    """
    if len(nodes) < 3:
        raise SmartSimError(f"a Redis Cluster needs at least 3 masters, got {len(nodes)}")
    conns = []
    try:
        for host, port in nodes:
            conns.append(miniresp.connect(host, port, password=password, timeout=10.0))
        infos = [_info(c) for c in conns]
        assigned = [int(i.get("cluster_slots_assigned", "0")) for i in infos]
        known = [int(i.get("cluster_known_nodes", "1")) for i in infos]
        if all(a == 0 for a in assigned) and all(k == 1 for k in known):
            _bootstrap(conns, nodes, server_version)
        elif not (all(a == N_SLOTS for a in assigned) and all(k == len(nodes) for k in known)):
            where = ", ".join(f"{h}:{p} (slots {a}, knows {k} nodes)"
                              for (h, p), a, k in zip(nodes, assigned, known))
            raise SmartSimError(
                "the database shards start from an inconsistent cluster configuration "
                f"(left by an earlier run in their directories): {where}. Remove the shards' "
                "nodes.conf files (and dump.rdb if its data is not needed) and start again")
        wait_cluster_ok(conns, nodes, timeout, alive)
    except miniresp.ReplyError as exc:
        raise SmartSimError(f"cluster bootstrap failed: {exc}") from None
    except OSError as exc:
        raise SmartSimError(f"cluster bootstrap failed: {exc}") from None
    finally:
        for conn in conns:
            conn.close()


def _bootstrap(conns: t.Sequence[miniresp.Conn], nodes: t.Sequence[t.Tuple[str, int]],
               server_version: t.Sequence[int]) -> None:
    ranged = tuple(server_version[:2]) >= (7, 0)
    for conn, (first, last) in zip(conns, slot_ranges(len(nodes))):
        if ranged:
            conn.send(("CLUSTER", "ADDSLOTSRANGE", first, last))
        else:  # ADDSLOTSRANGE is 7.0+; ADDSLOTS with every slot works on 6.2 too
            conn.send(("CLUSTER", "ADDSLOTS", *range(first, last + 1)))
    for conn in conns:
        reply = conn.read()
        if isinstance(reply, miniresp.ReplyError):
            raise reply
    # every node meets every later one directly: the full mesh forms in one handshake round
    # instead of waiting for gossip (one random ping a second) to spread the peers
    sent = []
    for i, conn in enumerate(conns):
        for host, port in nodes[i + 1:]:
            conn.send(("CLUSTER", "MEET", host, port))
            sent.append(conn)
    for conn in sent:
        reply = conn.read()
        if isinstance(reply, miniresp.ReplyError):
            raise reply


def wait_cluster_ok(conns: t.Sequence[miniresp.Conn], nodes: t.Sequence[t.Tuple[str, int]],
                    timeout: float, alive: t.Optional[t.Callable[[], t.Optional[str]]] = None) -> None:
    deadline = time.monotonic() + timeout
    pending = list(range(len(conns)))
    delay = 0.005
    n = str(len(conns))
    while pending:
        still = []
        for i in pending:
            info = _info(conns[i])
            if info.get("cluster_state") != "ok" or info.get("cluster_known_nodes") != n:
                still.append(i)
        pending = still
        if not pending:
            return
        if alive is not None:
            dead = alive()
            if dead:
                raise SmartSimError(dead)
        if time.monotonic() > deadline:
            bad = ", ".join(f"{nodes[i][0]}:{nodes[i][1]}" for i in pending)
            raise SmartSimError(f"Redis Cluster did not reach cluster_state:ok within {timeout:.0f} s on {bad}")
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
