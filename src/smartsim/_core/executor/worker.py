"""The executor process: pull jobs from the Redis module, run them, answer.

``python -m smartsim._core.executor --socket /path/redis.sock --device CPU``

One loop on one connection (see ``aimodule/PROTOCOL.md``)::

    HELLO -> [ PULL -> plan (batching) -> run each unit -> DONEN per batch, DONE/ERR per job ] ...

Answers are pipelined: the DONE of the last unit of a round goes out in the same write
as the next PULL, and their replies are read before the PULL's. A DONE the module
refuses (other than for a job it already gave up on) is followed by an ERR so the
waiting client is answered either way.

The process leaves when its parent dies (``PR_SET_PDEATHSIG`` plus a parent check on
every round; ``--parent-pid`` watches another process) and on SIGTERM. When the server
goes away it reconnects with backoff and registers again; loaded models are dropped
then, since a restarted server may reuse versions.
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from typing import Any, Dict, List, MutableMapping, Optional, Sequence, Tuple

from . import backends as _backends
from .backends import BackendError, BackendUnavailable, ModelCache, TorchScript
from .batching import Batcher, check_rows, concat_inputs, plan, split_outputs
from .dtypes import encode
from .protocol import (_JOIN_BELOW, Connection, ConnectionLost, Job, ReplyError, pack_command,
                       parse_job)

__all__ = ["Executor", "ParentWatch", "RegistrationRefused", "done_batch", "main", "parse_args",
           "read_secret", "set_openmp_wait"]

log = logging.getLogger("smartsim.executor")

_PULL = "PULL"
# Smallest reply (bytes) the module can send to a pipelined command, by tag: "*0\r\n"
# for a PULL; "+OK\r\n" for a DONE/ERR (tags are tuples); any RESP reply has 3 at least.
_DONE = b"AI._EXEC.DONE"
_IDLE_BLOCK_MS = 1000
# A PULL that brings nothing for this long counts as idle (time to import a runtime).
_PREWARM_IDLE_S = 0.05
# Input bytes one PULL should bring at most (estimated from the jobs seen last).
PULL_BYTES_LIMIT = 256 << 20
_ZIP_MAGIC = b"PK\x03\x04"
PR_SET_PDEATHSIG = 1


# Where the executor secret comes from when --secret-file is not given (never argv: it
# would show in the process list).
SECRET_ENV = "SMARTSIM_EXECUTOR_SECRET"


class RegistrationRefused(Exception):
    """The module refused AI._EXEC.HELLO for a reason retrying cannot fix (no or a wrong
    executor secret)."""


def read_secret(path: Optional[str]) -> Optional[str]:
    """The executor secret: from the file at ``path`` when given, else ``$SMARTSIM_EXECUTOR_SECRET``;
    surrounding whitespace stripped, as the module strips it; None when there is none."""
    if path:
        with open(path, "r", encoding="utf-8") as fh:
            text = fh.read()
    else:
        text = os.environ.get(SECRET_ENV, "")
    return text.strip(" \t\r\n") or None


def clean_message(exc: Any) -> str:
    """One line, no leading ``ERR `` (the module adds it for the client)."""
    text = " ".join(str(exc).split())
    while text.startswith("ERR "):
        text = text[4:]
    if not text:
        text = type(exc).__name__ if isinstance(exc, BaseException) else "unknown error"
    return text[:4000]


def _looks_like_source(blob) -> bool:
    """TorchScript source (text with a ``def``) rather than a ``torch.jit.save`` archive."""
    head = bytes(blob[:4])
    if head == _ZIP_MAGIC:
        return False
    try:
        text = bytes(blob).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "def " in text


class ParentWatch:
    """Tells whether the process we belong to (the database) is still alive."""

    def __init__(self, parent_pid: Optional[int] = None, enabled: bool = True):
        self.enabled = enabled
        self.direct = parent_pid is None or parent_pid == os.getppid()
        self.pid = os.getppid() if parent_pid is None else parent_pid
        if not enabled or self.pid <= 1:
            self.enabled = False
            return
        if self.direct and sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
                libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
            except (OSError, AttributeError):  # pragma: no cover - not Linux/glibc
                pass

    def alive(self) -> bool:
        if not self.enabled:
            return True
        if self.direct:
            return os.getppid() == self.pid
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class Stats:
    """Counters of one executor process; written as JSON when a path is given."""

    FIELDS = ("jobs", "backend_calls", "batched_calls", "max_batch_jobs", "max_batch_samples",
              "errors", "loads", "fetches", "connects")

    # A file write per job would cost more than the job: write at most this often.
    MIN_INTERVAL_S = 0.05
    # While jobs keep arriving (no idle PULL in between): the replacing rename alone
    # takes ~1.5 ms on ext4, so write less often then.
    BUSY_INTERVAL_S = 1.0

    def __init__(self, path: Optional[str] = None):
        self.path = path
        self.values: Dict[str, int] = {f: 0 for f in self.FIELDS}
        self.dirty = False
        self._written = 0.0

    @property
    def pending(self) -> bool:
        """Counters changed and not written yet."""
        return bool(self.path) and self.dirty

    def add(self, name: str, n: int = 1) -> None:
        self.values[name] += n
        self.dirty = True

    def peak(self, name: str, n: int) -> None:
        if n > self.values[name]:
            self.values[name] = n
            self.dirty = True

    def flush(self, force: bool = False, busy: bool = False) -> None:
        """Write the counters if they changed, at most every :attr:`MIN_INTERVAL_S`
        (every :attr:`BUSY_INTERVAL_S` while ``busy``: jobs are flowing)."""
        if not self.dirty or not self.path:
            return
        now = time.monotonic()
        if not force and now - self._written < (
                self.BUSY_INTERVAL_S if busy else self.MIN_INTERVAL_S):
            return
        self._written = now
        self.dirty = False
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w") as fh:
                json.dump(dict(self.values, pid=os.getpid()), fh)
            os.replace(tmp, self.path)
        except OSError as exc:  # pragma: no cover - diagnostics only
            log.debug("cannot write stats to %s: %s", self.path, exc)


# How long a PULL may block while counters wait to be written.
_STATS_BLOCK_MS = max(1, math.ceil(Stats.MIN_INTERVAL_S * 1000.0))


class Executor:
    """Serves one device for one redis-server."""

    def __init__(
        self,
        conn: Connection,
        device: str = "CPU",
        max_jobs: int = 64,
        max_batch_wait_ms: float = 0.0,
        parent: Optional[ParentWatch] = None,
        stats_path: Optional[str] = None,
        backends: Optional[Sequence[str]] = None,
        prewarm: bool = True,
        secret: Optional[str] = None,
    ):
        kind, index = _backends.parse_device(device)
        self.secret = secret
        self.device = "CPU" if kind == "CPU" else f"GPU:{index}"
        self.conn = conn
        self.max_jobs = max(1, int(max_jobs))
        self._pull_n = self.max_jobs
        self.batcher = Batcher(max_batch_wait_ms)
        self.cache = ModelCache()
        self.parent = parent or ParentWatch(enabled=False)
        self.stats = Stats(stats_path)
        self.backends = list(_backends.available_backends() if backends is None else backends)
        # Runtimes to import while idle (an import takes seconds and holds the GIL, so it
        # is done between jobs, never beside them); a job needing one imports it at once.
        self._to_prewarm = [b for b in self.backends if b in _backends.PREWARMED] if prewarm else []
        # Whether the module answers a whole batch in one AI._EXEC.DONEN (asked at HELLO).
        self._donen = False

    # ------------------------------------------------------------------ lifecycle
    def serve_forever(self) -> int:
        delay = 0.05
        while True:
            if not self.parent.alive():
                log.info("parent process is gone; exiting")
                return 0
            try:
                self.conn.connect()
                self.hello()
                delay = 0.05
                self.loop()
            except ConnectionLost as exc:
                log.warning("%s; reconnecting", exc)
            self.reset()
            if not self._sleep(delay):
                log.info("parent process is gone; exiting")
                return 0
            delay = min(delay * 2, 2.0)

    def _sleep(self, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while True:
            if not self.parent.alive():
                return False
            left = end - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(left, 0.1))

    def reset(self) -> None:
        """Forget connection state: the module fails jobs we held when we left."""
        self.conn.close()
        self.batcher.clear()
        self.cache.clear()

    def hello(self) -> None:
        args = ["AI._EXEC.HELLO", self.device, os.getpid(), ",".join(self.backends)]
        if self.secret is not None:
            args.append(self.secret)
        reply = self.conn.command(*args)
        if isinstance(reply, ReplyError):
            self.conn.close()
            if str(reply).startswith("NOPERM"):
                raise RegistrationRefused(
                    f"{self.conn.address} refused to register this executor: {reply} (the secret "
                    f"comes from --secret-file or ${SECRET_ENV}; see aimodule/PROTOCOL.md)")
            raise ConnectionLost(f"AI._EXEC.HELLO refused by {self.conn.address}: {reply}")
        # A module built before AI._EXEC.DONEN existed gets one DONE per job.
        info = self.conn.command("COMMAND", "INFO", "AI._EXEC.DONEN")
        self._donen = isinstance(info, list) and bool(info) and info[0] is not None
        self.stats.add("connects")
        self.stats.flush(force=True)
        log.info("registered at %s for %s (backends: %s)", self.conn.address, self.device,
                 ",".join(self.backends) or "none")

    # ----------------------------------------------------------------------- loop
    def _block_ms(self) -> int:
        if not self._to_prewarm and not self.batcher._groups:  # the usual case, quickly
            return _STATS_BLOCK_MS if self.stats.pending else _IDLE_BLOCK_MS
        deadline = self.batcher.next_deadline()
        if self.stats.pending:  # come back soon to write the counters
            t = time.monotonic() + Stats.MIN_INTERVAL_S
            deadline = t if deadline is None else min(deadline, t)
        if self._to_prewarm:  # idle soon: import a runtime
            t = time.monotonic() + _PREWARM_IDLE_S
            deadline = t if deadline is None else min(deadline, t)
        if deadline is None:
            return _IDLE_BLOCK_MS
        ms = math.ceil((deadline - time.monotonic()) * 1000.0)
        return max(1, min(_IDLE_BLOCK_MS, ms))

    def loop(self, rounds: Optional[int] = None) -> None:
        """Pull and serve until the connection drops (or ``rounds`` PULLs were made)."""
        conn = self.conn
        pending = conn.pending
        read_reply = conn.read_reply
        parent_alive = self.parent.alive
        batcher = self.batcher
        monotonic = time.monotonic
        pull_cmds: Dict[Any, bytes] = {}
        n = 0
        idle = True
        while rounds is None or n < rounds:
            n += 1
            # While jobs flow, look at the parent every 64 rounds (a system call; the
            # direct parent's death also arrives as SIGTERM via PR_SET_PDEATHSIG).
            if (idle or not n & 63) and not parent_alive():
                raise SystemExit(0)
            pull_args = (self._pull_n, self._block_ms())
            cmd = pull_cmds.get(pull_args)
            if cmd is None:
                if len(pull_cmds) > 64:
                    pull_cmds.clear()
                out: List[Any] = []
                pack_command(("AI._EXEC.PULL",) + pull_args, out)
                cmd = pull_cmds[pull_args] = b"".join(out)
            conn.queue_encoded(cmd, _PULL)
            conn.flush()
            while True:
                tag = pending[0]
                reply = read_reply()
                pending.popleft()
                if tag is _PULL:
                    break
                if type(reply) is not bytes:  # b"OK"; anything else may need an ERR
                    self._answered(tag, reply)
            if conn.deferred:
                deferred, conn.deferred = conn.deferred, []
                for tag, r in deferred:
                    self._answered(tag, r)
            if isinstance(reply, ReplyError):
                self._pull_refused(reply)
                continue
            now = monotonic()
            jobs = []
            for raw in reply or ():
                try:
                    job = parse_job(raw)
                except (ValueError, TypeError, IndexError) as exc:
                    log.error("cannot parse a job from the module: %s", exc)
                    continue
                # MINBATCHTIMEOUT counts from when the module queued the job (it may hold
                # a job that cannot complete a batch yet; PROTOCOL.md); older modules do
                # not say (waited_us 0), then it counts from now.
                job.pulled_at = now - job.waited_us * 1e-6
                jobs.append(job)
            idle = not jobs
            if jobs:
                self._adapt_pull_size(jobs)
            elif self._to_prewarm and not len(batcher):
                _backends.prewarm([self._to_prewarm.pop(0)])
                gc.freeze()  # a runtime's objects live on: keep them out of collections
                continue
            if len(jobs) == 1 and jobs[0].batchsize <= 0 and not batcher._groups:
                units = [jobs]  # what plan() gives for one job that is not batchable
            else:
                units = plan(jobs, batcher, now)
            last = len(units) - 1
            for i, unit in enumerate(units):
                self.run_unit(unit)
                if i < last:
                    conn.flush()
            # While jobs keep coming the counters are written less often (a write costs
            # more than a job); an idle round writes them within Stats.MIN_INTERVAL_S.
            self.stats.flush(busy=bool(units))

    def _adapt_pull_size(self, jobs: List[Job]) -> None:
        """Take fewer jobs per PULL while they carry big tensors (bounded memory)."""
        if len(jobs) == 1:
            nbytes = 0
            for t in jobs[0].inputs:
                nbytes += len(t[2])
        else:
            nbytes = sum(len(t[2]) for j in jobs for t in j.inputs)
        per_job = max(1, nbytes // len(jobs))
        self._pull_n = max(1, min(self.max_jobs, PULL_BYTES_LIMIT // per_job))

    def _pull_refused(self, reply: ReplyError) -> None:
        text = str(reply)
        log.warning("AI._EXEC.PULL refused: %s", text)
        if "HELLO" in text.upper() or "REGISTER" in text.upper():
            self.hello()
        else:
            time.sleep(0.1)

    def _answered(self, tag: Any, reply: Any) -> None:
        """Reply to a pipelined DONE/DONEN/ERR."""
        if not isinstance(tag, tuple):
            return
        what, job_id = tag
        if what == "DONEN":  # job_id: the batch's job ids; one reply each, or one error
            if isinstance(reply, list) and len(reply) == len(job_id):
                for one_id, one in zip(job_id, reply):
                    if type(one) is bytes:  # OK
                        continue
                    if not isinstance(one, ReplyError):
                        one = ReplyError(f"malformed reply to AI._EXEC.DONEN: {one!r:.100}")
                    self._answered(("DONE", one_id), one)
                return
            # Refused whole, or a reply that does not match the batch: no job's outputs are
            # known to be stored, so every client gets an error rather than its timeout.
            if isinstance(reply, ReplyError):
                if "unknown command" in str(reply).lower():
                    self._donen = False  # the module has no DONEN: per-job DONE from now on
                why = clean_message(reply)
            else:
                why = (f"malformed reply to AI._EXEC.DONEN for {len(job_id)} jobs: "
                       f"{reply!r:.100}")
            log.warning("AI._EXEC.DONEN for jobs %s failed: %s", list(job_id), why)
            for one_id in job_id:
                self.conn.queue("AI._EXEC.ERR", one_id, why, tag=("ERR", one_id))
            return
        if not isinstance(reply, ReplyError):
            return
        if what == "DONE":
            log.debug("DONE for job %s refused: %s", job_id, reply)
            # An unknown job timed out (or the module already failed it); for anything else
            # make sure the waiting client gets an answer.
            if "unknown job" not in str(reply).lower():
                self.conn.queue("AI._EXEC.ERR", job_id, clean_message(reply),
                                tag=("ERR", job_id))
        else:
            log.debug("ERR for job %s refused: %s", job_id, reply)

    # ----------------------------------------------------------------------- jobs
    def run_unit(self, jobs: List[Job]) -> None:
        """Run one unit of work (one backend call) and queue the answers."""
        job = jobs[0]
        try:
            if job.kind == "MODEL":
                self._run_model(jobs)
            elif job.kind == "SCRIPT":
                for j in jobs:
                    self._run_script(j)
            elif job.kind == "LOAD":
                for j in jobs:
                    self._load(j)
            else:
                for j in jobs:
                    self.fail(j, f"unknown job kind {j.kind}")
        except ConnectionLost:
            raise
        except Exception as exc:  # a bug here must not take the executor down
            log.exception("job %s (%s %s) failed unexpectedly", job.job_id, job.kind, job.key_str)
            for j in jobs:
                self.fail(j, f"executor error: {type(exc).__name__}: {exc}")

    def _run_model(self, jobs: List[Job]) -> None:
        first = jobs[0]
        try:
            model = self.get(first, "MODEL")
            arrays = concat_inputs(jobs)
            outs = model.run(arrays, first.n_outputs)
            batch = done_batch(jobs, outs) if self._donen and len(jobs) > 1 else None
            per_job = split_outputs(outs, jobs) if batch is None else []
        except (BackendError, ValueError) as exc:
            for j in jobs:
                self.fail(j, exc)
            return
        stats = self.stats
        values = stats.values
        values["backend_calls"] += 1
        values["jobs"] += len(jobs)
        stats.dirty = True
        if len(jobs) > 1:
            self.stats.add("batched_calls")
            self.stats.peak("max_batch_jobs", len(jobs))
            self.stats.peak("max_batch_samples", sum(j.samples for j in jobs))
        if batch is not None:
            self.conn.queue_encoded(*batch)
            return
        for j, outputs in zip(jobs, per_job):
            self.done(j, outputs)

    def _run_script(self, job: Job) -> None:
        try:
            script = self.get(job, "SCRIPT")
            arrays = concat_inputs([job])
            outs = script.run(job.fn_name, arrays, job.keys, job.args, job.n_outputs)
        except (BackendError, ValueError) as exc:
            self.fail(job, exc)
            return
        self.stats.add("backend_calls")
        self.stats.add("jobs")
        self.done(job, outs)

    def _load(self, job: Job) -> None:
        hint = job.fn_name.upper() if job.fn_name else ""
        try:
            self.get(job, hint if hint in ("MODEL", "SCRIPT") else "")
        except BackendUnavailable as exc:
            # Nothing here can validate it: let the store go through (as with no executor).
            log.info("LOAD %s: %s; storing without validation", job.key_str, exc)
            self.done(job, [])
            return
        except (BackendError, ValueError) as exc:
            self.fail(job, exc)
            return
        self.stats.add("loads")
        self.done(job, [])

    def get(self, job: Job, kind: str):
        """The loaded model/script for ``job`` (FETCH and load on a cache miss).

        ``kind``: ``MODEL``, ``SCRIPT`` or ``""`` (tell by the blob). Load failures are
        cached too, so a bad blob is not fetched again for every job.
        """
        obj = self.cache.get(job.key, job.version)
        if obj is None:
            obj = self._fetch_and_load(job.key, job.version, kind)
            self.cache.put(job.key, job.version, obj)
        if isinstance(obj, BaseException):
            raise obj
        if kind == "MODEL" and isinstance(obj, TorchScript):
            raise BackendError(f"{job.key_str} is a script, not a model")
        if kind == "SCRIPT" and not isinstance(obj, TorchScript):
            raise BackendError(f"{job.key_str} is a model, not a script")
        return obj

    def _fetch_and_load(self, key: bytes, version: int, kind: str):
        reply = self.conn.command("AI._EXEC.FETCH", key, version)
        self.stats.add("fetches")
        if isinstance(reply, ReplyError):
            # Not cached: the module's answer may change (e.g. version gone -> new job).
            raise BackendError(clean_message(reply))
        try:
            backend, device, blob = reply[0], reply[1], reply[2]
            extra_in = list(reply[3] or ()) if len(reply) > 3 else []
            extra_out = list(reply[4] or ()) if len(reply) > 4 else []
        except (TypeError, IndexError):
            raise BackendError(f"malformed AI._EXEC.FETCH reply for {key!r}") from None
        backend = backend.decode() if isinstance(backend, bytes) else str(backend)
        device = self._device_for(device.decode() if isinstance(device, bytes) else str(device))
        if not kind:
            kind = "SCRIPT" if backend.upper() == "TORCH" and _looks_like_source(blob) else "MODEL"
        t0 = time.perf_counter()
        try:
            if kind == "SCRIPT":
                obj = _backends.load_script(device, blob, extra_in)
            else:
                obj = _backends.load_model(backend, device, blob, extra_in, extra_out)
        except BackendUnavailable:
            raise
        except BackendError as exc:
            return exc
        gc.freeze()  # the runtime and the model live on: keep them out of collections
        log.info("loaded %s %s version %d (%s on %s) in %.1f ms", kind.lower(),
                 key.decode("utf-8", "replace"), version, backend, device,
                 (time.perf_counter() - t0) * 1e3)
        return obj

    def _device_for(self, device: str) -> str:
        """The model's device; a bare ``GPU`` runs on this executor's GPU."""
        text = (device or "").upper()
        if text == "GPU" and self.device.startswith("GPU:"):
            return self.device
        return text or self.device

    def done(self, job: Job, outputs: Sequence) -> None:
        job_id = job.job_id
        try:
            if len(outputs) == 1:  # the usual case: one small output, one bytes object
                dtype, shape, buf = encode(outputs[0])
                nbytes = buf.nbytes if isinstance(buf, memoryview) else len(buf)
                if nbytes < _JOIN_BELOW:
                    name = dtype.encode()
                    self.conn.queue_encoded(
                        b"*6\r\n$13\r\nAI._EXEC.DONE\r\n$%d\r\n%d\r\n$1\r\n1\r\n"
                        b"$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
                            len(b"%d" % job_id), job_id, len(name), name, len(shape), shape,
                            nbytes, buf), ("DONE", job_id))  # type: ignore[str-format]  # %b takes any buffer
                    return
                args: List[Any] = [_DONE, job_id, 1, dtype, shape, buf]
            else:
                args = [_DONE, job_id, len(outputs)]
                for arr in outputs:
                    args.extend(encode(arr))
        except ValueError as exc:
            self.fail(job, exc)
            return
        self.conn.queue(*args, tag=("DONE", job_id))

    def fail(self, job: Job, exc: Any) -> None:
        self.stats.add("errors")
        msg = clean_message(exc)
        log.debug("job %s (%s %s) failed: %s", job.job_id, job.kind, job.key_str, msg)
        self.conn.queue("AI._EXEC.ERR", job.job_id, msg, tag=("ERR", job.job_id))


def done_batch(jobs: Sequence[Job], outputs: Sequence) -> Optional[Tuple[bytes, Any]]:
    """One ``AI._EXEC.DONEN`` answering every job of a batched call, RESP-encoded, and its
    tag; None when the outputs need the general path (per-job DONE): STRING tensors (their
    rows differ in length) or blobs big enough to be sent without copying.

    Raises :class:`BatchSizeError` when an output does not have one row per input sample.
    """
    sizes = [j.samples for j in jobs]
    total = sum(sizes)
    check_rows(outputs, total)
    # Give up before encoding or copying anything. encode() keeps the item size of every
    # type but strings (object, bytes, str arrays: STRING tensors).
    for out in outputs:
        if out.dtype.kind in "OSU" or out.nbytes >= _JOIN_BELOW:
            return None
    encoded = []  # per output: RESP of its dtype name, shape after dim 0, bytes per row, bytes
    for out in outputs:
        name, _, buf = encode(out)
        nbytes = buf.nbytes if type(buf) is memoryview else len(buf)
        rest = out.shape[1:]
        encoded.append((b"$%d\r\n%s\r\n" % (len(name), name.encode()),
                        b" %s" % " ".join(map(str, rest)).encode() if rest else b"",
                        nbytes // total if total else 0, bytes(buf)))  # small: slices copy less
    n_text = b"%d" % len(encoded)
    pieces = [b"*%d\r\n$14\r\nAI._EXEC.DONEN\r\n$%d\r\n%d\r\n" % (
        2 + len(jobs) * (2 + 3 * len(encoded)), len(b"%d" % len(jobs)), len(jobs))]
    append = pieces.append
    job_tail = b"\r\n$%d\r\n%b\r\n" % (len(n_text), n_text)
    # RESP of "dtype, shape, blob length" for jobs of so many rows, per output
    heads: List[Dict[int, bytes]] = [{} for _ in encoded]
    start = 0
    for job, rows in zip(jobs, sizes):
        job_id = b"%d" % job.job_id
        append(b"$%d\r\n%b%b" % (len(job_id), job_id, job_tail))
        for (dtype_resp, rest, row_bytes, data), known in zip(encoded, heads):
            head = known.get(rows)
            if head is None:
                shape = b"%d%b" % (rows, rest)
                head = known[rows] = b"%b$%d\r\n%b\r\n$%d\r\n" % (
                    dtype_resp, len(shape), shape, rows * row_bytes)
            append(b"%b%b\r\n" % (head, data[start * row_bytes:(start + rows) * row_bytes]))
        start += rows
    return b"".join(pieces), ("DONEN", tuple(j.job_id for j in jobs))


# --------------------------------------------------------------------------- CLI
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m smartsim._core.executor",
        description="Run ML jobs for the RedisAI-compatible module of one redis-server.")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--socket", help="Unix socket of the redis-server")
    where.add_argument("--host", help="host of the redis-server (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=6379, help="TCP port (with --host)")
    p.add_argument("--password", default=None,
                   help="AUTH password (default: $SMARTSIM_EXECUTOR_PASSWORD)")
    p.add_argument("--username", default=None, help="ACL user name for AUTH")
    p.add_argument("--secret-file", default=None,
                   help="file holding the executor secret the module was loaded with "
                        f"(EXECUTOR_SECRET_FILE; default: ${SECRET_ENV})")
    p.add_argument("--device", default="CPU",
                   help="what to serve: CPU, GPU:n, several separated by commas (one thread "
                        "and connection each), or auto: CPU and every GPU the NVIDIA driver "
                        "shows (CUDA_VISIBLE_DEVICES applies) (default CPU)")
    p.add_argument("--max-batch-wait-ms", type=float, default=0.0,
                   help="for models with BATCHSIZE and no MINBATCHSIZE: how long a batch "
                        "that is not full may wait for more requests (default 0)")
    p.add_argument("--max-jobs", type=int, default=64, help="jobs taken per PULL")
    p.add_argument("--threads", type=int, default=0,
                   help="intra-op threads of the ML runtimes (default: runtime default)")
    p.add_argument("--parent-pid", type=int, default=None,
                   help="exit when this process exits (default: the parent process)")
    p.add_argument("--no-parent-watch", action="store_true",
                   help="keep running when the parent process exits")
    p.add_argument("--no-prewarm", action="store_true",
                   help="import ML runtimes on first use only, not while idle")
    p.add_argument("--stats-file", default=None,
                   help="write counters (jobs, backend calls, batches) as JSON here")
    p.add_argument("--log-level", default=os.environ.get("SMARTSIM_EXECUTOR_LOG", "WARNING"))
    return p.parse_args(argv)


# Spin iterations of an idle libgomp thread before it sleeps (~25 us on the machine measured).
OPENMP_SPIN_COUNT = "1000"


def set_openmp_wait(environ: MutableMapping[str, str]) -> None:
    """How idle OpenMP threads of the runtimes wait, set in ``environ`` before any runtime is
    imported (the OpenMP runtimes read it once); a wait setting the user exported wins.

    By default, idle worker threads of torch's intra-op pool (libgomp) spin for some
    milliseconds after every parallel region. The executor shares its cores with the
    database and with the clients whose requests it waits for, so threads spinning after a
    batch take CPU from exactly the processes that produce the next one (measured: a 2-core
    node, 8 clients, 2 intra-op threads, 10x slower). Sleeping at once (``PASSIVE``) has a
    cost too: every parallel region of a forward pass must wake the other threads again
    (the tutorial CNN, batch 8, 2 threads: 3.4 ms against 2.8). A short spin keeps the
    threads awake between the regions of one forward pass and lets them sleep soon after
    it (``benchmarks/bench_ml_ensemble.py``, 2 cores: the CNN's database path +20-25%
    against ``PASSIVE``; 100, 300 and 3000 iterations did worse than 1000).
    ``KMP_BLOCKTIME=0``: Intel's OpenMP (other torch builds) sleeps at once, as before.
    """
    if "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ:
        return
    environ["GOMP_SPINCOUNT"] = OPENMP_SPIN_COUNT
    environ.setdefault("KMP_BLOCKTIME", "0")


def _serve_in_thread(executor: Executor) -> None:
    """``serve_forever`` of a device other than the first (its thread ends with it)."""
    try:
        executor.serve_forever()
    except RegistrationRefused as exc:
        print(f"executor ({executor.device}): {exc}", file=sys.stderr)
    except SystemExit:
        pass
    finally:
        executor.conn.close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    set_openmp_wait(os.environ)
    logging.basicConfig(
        stream=sys.stderr, level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        format="%(asctime)s executor[%(process)d] %(levelname)s %(message)s")

    def _term(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _term)
    parent = ParentWatch(args.parent_pid, enabled=not args.no_parent_watch)
    if not parent.alive():
        return 0
    if args.threads > 0:
        _backends.NUM_THREADS = args.threads
    password = args.password
    if password is None:
        password = os.environ.get("SMARTSIM_EXECUTOR_PASSWORD") or None

    def connection() -> Connection:
        if args.socket:
            return Connection(socket_path=args.socket, password=password, username=args.username)
        return Connection(host=args.host or "127.0.0.1", port=args.port, password=password,
                          username=args.username)

    try:
        secret = read_secret(args.secret_file)
    except OSError as exc:
        print(f"executor: cannot read the executor secret: {exc}", file=sys.stderr)
        return 2
    os.environ.pop(SECRET_ENV, None)  # not inherited by anything the ML runtimes start
    try:
        devices = _backends.resolve_devices(args.device)
        # One Executor per device, each with its own connection; the first serves from
        # this thread, the others from threads of their own (a backend call releases the
        # GIL). Only the first writes the counters and imports runtimes while idle.
        executors = [Executor(connection(), device=device, max_jobs=args.max_jobs,
                              max_batch_wait_ms=args.max_batch_wait_ms, parent=parent,
                              stats_path=args.stats_file if i == 0 else None,
                              prewarm=not args.no_prewarm and i == 0, secret=secret)
                     for i, device in enumerate(devices)]
    except BackendError as exc:
        print(f"executor: {exc}", file=sys.stderr)
        return 2
    executor, conn = executors[0], executors[0].conn
    for other in executors[1:]:
        threading.Thread(target=_serve_in_thread, args=(other,), daemon=True,
                         name=f"executor-{other.device}").start()
    try:
        return executor.serve_forever()
    except RegistrationRefused as exc:
        print(f"executor: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 0
    finally:
        conn.close()
