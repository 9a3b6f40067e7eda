"""Batching of compatible MODEL jobs, as RedisAI does it.

Jobs for the same model version whose inputs agree in number, type and every dim but
the first are *compatible*. They are concatenated along dim 0 into one backend call of
at most ``BATCHSIZE`` samples; with ``MINBATCHSIZE`` > 0 a group waits until it holds
that many samples, at most ``MINBATCHTIMEOUT`` ms after its oldest job arrived (0: no
limit, as in RedisAI). Outputs are split back along dim 0, one slice per job.

A group never waits for a batch that cannot form: one that holds ``BATCHSIZE`` samples
runs whatever ``MINBATCHSIZE`` says (a request that large runs alone, as in RedisAI; the
module refuses ``MINBATCHSIZE`` > ``BATCHSIZE``, this covers models stored before it
did), and one whose model was stored again runs with what it has once a job for the newer
version arrives (jobs come oldest first, so none for the old version can follow).

Pure logic on :class:`~smartsim._core.executor.protocol.Job` objects (no I/O), so it can
be tested on its own.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Hashable, List, Optional, Sequence, Tuple

import numpy as np

from .dtypes import decode
from .protocol import Job

__all__ = ["BatchSizeError", "Batcher", "check_rows", "concat_inputs", "plan", "signature",
           "split_outputs"]


class BatchSizeError(ValueError):
    """A batched model did not return one row per input sample."""


def signature(job: Job) -> Optional[Tuple[Hashable, ...]]:
    """The compatibility key of a MODEL job, or ``None`` if it is not batchable."""
    if job.kind != "MODEL" or job.batchsize <= 0 or not job.inputs:
        return None
    n = job.samples
    if n <= 0:
        return None
    parts = []
    for dtype, shape, _ in job.inputs:
        if dtype == "STRING" or not shape or shape[0] != n:
            return None
        parts.append((dtype, shape[1:]))
    return (job.key, job.version, job.n_outputs, tuple(parts))


def concat_inputs(jobs: Sequence[Job]) -> List[np.ndarray]:
    """Input arrays of one backend call: each input concatenated along dim 0."""
    if len(jobs) == 1:
        return [decode(dt, shape, blob) for dt, shape, blob in jobs[0].inputs]
    arrays = []
    total = sum(j.samples for j in jobs)
    for i, (dtype, shape, _) in enumerate(jobs[0].inputs):
        blob = b"".join(j.inputs[i][2] for j in jobs)
        arrays.append(decode(dtype, (total,) + tuple(shape[1:]), blob))
    return arrays


def check_rows(outputs: Sequence[np.ndarray], total: int) -> None:
    """Raise :class:`BatchSizeError` unless every output of a batched call has ``total``
    rows (one per input sample)."""
    for out in outputs:
        if out.ndim == 0 or out.shape[0] != total:
            raise BatchSizeError("Model did not generate the expected batch size")


def split_outputs(outputs: Sequence[np.ndarray], jobs: Sequence[Job]) -> List[List[np.ndarray]]:
    """Split the outputs of a batched call back into one list per job."""
    if len(jobs) == 1:
        return [list(outputs)]
    sizes = [j.samples for j in jobs]
    check_rows(outputs, sum(sizes))
    per_job: List[List[np.ndarray]] = [[] for _ in jobs]
    for out in outputs:
        start = 0
        for b, n in enumerate(sizes):
            per_job[b].append(out[start:start + n])
            start += n
    return per_job


class Batcher:
    """Holds batchable MODEL jobs until their group may run.

    ``max_wait_ms`` applies to models with ``BATCHSIZE`` > 0 and no ``MINBATCHSIZE``: how
    long a group that is not full yet may wait for more jobs (0: run what is there now,
    which is RedisAI's behaviour).
    """

    def __init__(self, max_wait_ms: float = 0.0):
        self.max_wait_ms = max_wait_ms
        self._groups: "OrderedDict[Hashable, List[Job]]" = OrderedDict()
        # model key -> newest version seen while groups wait (see saw())
        self._newest: Dict[bytes, int] = {}

    def __len__(self) -> int:
        return sum(len(g) for g in self._groups.values())

    def add(self, job: Job, sig: Optional[Hashable] = None) -> None:
        sig = sig if sig is not None else signature(job)
        if sig is None:
            raise ValueError("job is not batchable")
        self._groups.setdefault(sig, []).append(job)

    def saw(self, job: Job) -> None:
        """Note the version of a MODEL job, batchable or not: groups of older versions of
        its model can get no more jobs."""
        if self._groups and job.kind == "MODEL" and job.version > self._newest.get(job.key, -1):
            self._newest[job.key] = job.version

    def clear(self) -> List[Job]:
        jobs = [j for g in self._groups.values() for j in g]
        self._groups.clear()
        self._newest.clear()
        return jobs

    def _wait_s(self, job: Job) -> Optional[float]:
        """Seconds a group headed by ``job`` may wait; None: until MINBATCHSIZE."""
        if job.minbatchsize > 0:
            return job.minbatchtimeout / 1000.0 if job.minbatchtimeout > 0 else None
        return self.max_wait_ms / 1000.0

    def _is_ready(self, group: List[Job], now: float) -> bool:
        head = group[0]
        if head.version < self._newest.get(head.key, head.version):
            return True  # the model was replaced: this group cannot grow
        total = sum(j.samples for j in group)
        if total >= head.batchsize or 0 < head.minbatchsize <= total:
            return True
        wait = self._wait_s(head)
        return wait is not None and now >= head.pulled_at + wait

    def next_deadline(self) -> Optional[float]:
        """The earliest monotonic time at which a waiting group becomes ready."""
        best = None
        for group in self._groups.values():
            wait = self._wait_s(group[0])
            if wait is None:
                continue
            t = group[0].pulled_at + wait
            if best is None or t < best:
                best = t
        return best

    def ready(self, now: float) -> List[List[Job]]:
        """Batches (lists of jobs, one backend call each) that may run now."""
        batches: List[List[Job]] = []
        for sig in list(self._groups):
            group = self._groups[sig]
            while group and self._is_ready(group, now):
                batches.append(self._take(group))
            if not group:
                del self._groups[sig]
        if not self._groups:
            self._newest.clear()  # no group left to release
        return batches

    @staticmethod
    def _take(group: List[Job]) -> List[Job]:
        """Remove and return the oldest jobs of ``group`` that fit in one batch."""
        limit = group[0].batchsize
        batch = [group.pop(0)]
        total = batch[0].samples
        while group and total + group[0].samples <= limit:
            job = group.pop(0)
            total += job.samples
            batch.append(job)
        return batch


def plan(jobs: Sequence[Job], batcher: Batcher, now: float) -> List[List[Job]]:
    """Split pulled jobs into units of work, each run by one backend call.

    Batchable jobs go to ``batcher``; the units are the non-batchable jobs (one each, in
    arrival order) followed by the batches that are ready now.
    """
    units: List[List[Job]] = []
    for job in jobs:
        batcher.saw(job)
        sig = signature(job)
        if sig is None:
            units.append([job])
        else:
            batcher.add(job, sig)
    units.extend(batcher.ready(now))
    return units

