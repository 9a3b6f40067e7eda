"""A live progress bar (rich) for long blocking operations: counts and ETA.

Shown only when asked (``progress=True``) or, by default, when stdout is a terminal,
``SMARTSIM_PROGRESS`` is not ``0``, and the operation is still running after ``delay``
seconds (quick runs print nothing). Where rich cannot redraw a line (``rich_can_draw``) the
same counts are printed as plain lines every ``SMARTSIM_PROGRESS_INTERVAL`` seconds (default
10) and once at the end. Usable by any long loop (launching, generating):

    with ProgressBar("Generating", total=n) as bar:
        ...
        bar.update(done=k)
"""
from __future__ import annotations

import os
import sys
import time
import typing as t

from ...log import get_logger

logger = get_logger(__name__)


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


def rich_can_draw() -> bool:
    """Whether a live (redrawn) bar can be drawn here. Not under ``CI=true``, on a dumb or
    non-tty terminal, nor in Jupyter without ipywidgets (rich then draws an empty box):
    there the bar falls back to plain progress lines."""
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        return False
    if os.environ.get("TERM", "").strip().lower() == "dumb":
        return False
    if "ipykernel" in sys.modules:
        if "ipywidgets" in sys.modules:
            return sys.modules["ipywidgets"] is not None
        import importlib.util  # pylint: disable=import-outside-toplevel

        return importlib.util.find_spec("ipywidgets") is not None
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def plain_interval() -> float:
    """Seconds between two plain progress lines: ``SMARTSIM_PROGRESS_INTERVAL`` (default 10;
    a value that is not a positive number is a warning and means 10)."""
    text = os.environ.get("SMARTSIM_PROGRESS_INTERVAL", "")
    if not text.strip():
        return 10.0
    try:
        value = float(text)
        if value > 0:
            return value
    except ValueError:
        pass
    logger.warning(f"SMARTSIM_PROGRESS_INTERVAL={text!r} is not a positive number of seconds; using 10")
    return 10.0


class ProgressBar:
    """Counts, elapsed time and ETA. ``kind="launch"``: done/total with running, failed and
    queued; ``kind="generate"``: members (and files written, when given). Where rich cannot
    draw (``rich_can_draw``) it prints a plain line every ``plain_interval()`` s and at the end."""

    def __init__(self, description: str, total: int, enabled: bool = True, delay: float = 0.5,
                 kind: str = "launch") -> None:
        if kind not in ("launch", "generate"):
            raise ValueError(f"progress kind must be 'launch' or 'generate', got {kind!r}")
        self.description = description
        self.total = total
        self.enabled = enabled and total > 0
        self.delay = delay
        self.kind = kind
        self.plain = self.enabled and not rich_can_draw()
        self._interval = plain_interval() if self.plain else 0.0
        self._t0 = time.monotonic()
        self._progress: t.Any = None
        self._task: t.Any = None
        self._last: t.Dict[str, int] = {}
        self._next_line = 0.0
        self._lines = 0
        self._printed: t.Dict[str, int] = {}

    def _text(self) -> str:
        """The plain line for the counts of the last update."""
        last = self._last
        elapsed = time.monotonic() - self._t0
        done = last.get("done", 0)
        if self.kind == "generate":
            text = f"{self.description}: {done}/{self.total} members"
            if last.get("files"):
                text += f", {last['files']} files"
        else:
            text = (f"{self.description}: {done}/{self.total} done, running {last.get('running', 0)}, "
                    f"failed {last.get('failed', 0)}, queued {last.get('queued', 0)}")
        return text + f" ({elapsed:.0f} s)"

    def _print_line(self) -> None:
        self._lines += 1
        self._printed = dict(self._last)
        print(self._text(), file=sys.stdout, flush=True)

    def __enter__(self) -> "ProgressBar":
        return self

    def _start(self) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        counts = (TextColumn("members  {task.fields[files]} files") if self.kind == "generate" else
                  TextColumn("running {task.fields[running]}  failed {task.fields[failed]}  "
                             "queued {task.fields[queued]}"))
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            counts,
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            refresh_per_second=8,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=self.total, running=0, failed=0,
                                             queued=self.total, files=0)

    def update(self, done: int, running: int = 0, failed: int = 0, queued: int = 0, files: int = 0) -> None:
        if not self.enabled:
            return
        self._last = {"done": done, "running": running, "failed": failed, "queued": queued, "files": files}
        now = time.monotonic()
        if now - self._t0 < self.delay:
            return
        if self.plain:
            if now >= self._next_line:
                self._next_line = now + self._interval
                self._print_line()
            return
        if self._progress is None:
            self._start()
        self._progress.update(self._task, completed=done, running=running, failed=failed, queued=queued,
                              files=files)

    def close(self) -> None:
        if self.plain and self._lines and self._printed != self._last:
            self._lines = 0  # the final counts, once (a quick run that printed nothing stays quiet)
            self._print_line()
        if self._progress is not None:
            self._progress.refresh()
            self._progress.stop()
            self._progress = None

    def __exit__(self, *exc: t.Any) -> None:
        self.close()
