"""A live progress bar (rich) for long blocking operations: counts and ETA.

Shown only when asked (``progress=True``) or, by default, when stdout is a terminal,
``SMARTSIM_PROGRESS`` is not ``0``, and the operation is still running after ``delay``
seconds (quick runs print nothing). Usable by any long loop (launching, generating):

    with ProgressBar("Generating", total=n) as bar:
        ...
        bar.update(done=k)
"""
from __future__ import annotations

import os
import sys
import time
import typing as t


def progress_wanted(progress: t.Optional[bool]) -> bool:
    """Resolve a ``progress=None/True/False`` argument."""
    if progress is not None:
        return bool(progress)
    if os.environ.get("SMARTSIM_PROGRESS", "").strip().lower() in ("0", "false", "no", "off"):
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


class ProgressBar:
    """Counts (done/total, running, failed, queued), elapsed time and ETA."""

    def __init__(self, description: str, total: int, enabled: bool = True, delay: float = 0.5) -> None:
        self.description = description
        self.total = total
        self.enabled = enabled and total > 0
        self.delay = delay
        self._t0 = time.monotonic()
        self._progress: t.Any = None
        self._task: t.Any = None
        self._last: t.Dict[str, int] = {}

    def __enter__(self) -> "ProgressBar":
        return self

    def _start(self) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("running {task.fields[running]}  failed {task.fields[failed]}  "
                       "queued {task.fields[queued]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            refresh_per_second=8,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=self.total, running=0, failed=0,
                                             queued=self.total)

    def update(self, done: int, running: int = 0, failed: int = 0, queued: int = 0) -> None:
        if not self.enabled:
            return
        if self._progress is None:
            if time.monotonic() - self._t0 < self.delay:
                return
            self._start()
        self._progress.update(self._task, completed=done, running=running, failed=failed, queued=queued)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.refresh()
            self._progress.stop()
            self._progress = None

    def __exit__(self, *exc: t.Any) -> None:
        self.close()
