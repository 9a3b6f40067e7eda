"""What a blocking ``start``/``poll`` says when it returns, what Ctrl-C says, and what
``SMARTSIM_LOG_LEVEL=debug`` shows of each launch: the text is built here, in one place;
the controller calls these at the points where it blocks and launches.

Everything goes through the ``smartsim`` logger: the outcome line at INFO when all went
well, at WARNING when something failed (so ``quiet`` still shows failures), as SmartSim 0.8
logs a failed job ("<name> failed. See below for details").
"""
from __future__ import annotations

import logging
import os
import signal
import typing as t

from ...status import SmartSimStatus
from ..launcher.base import TOKEN_VAR
from ..utils.helpers import tail_text

if t.TYPE_CHECKING:
    from ..launcher.base import Task

_COMPLETED = SmartSimStatus.STATUS_COMPLETED
_FAILED = SmartSimStatus.STATUS_FAILED
_CANCELLED = SmartSimStatus.STATUS_CANCELLED

#: failed members named in the outcome report (the rest are counted)
MAX_NAMED = 10
#: lines of the first failed member's ``.err`` shown
ERR_TAIL_LINES = 10
#: launches shown one by one at debug level per start (developer level: all)
MAX_DEBUG_LAUNCHES = 1000


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _how_it_failed(task: "Task") -> str:
    rc = task.returncode
    if rc is None:
        return task.error or "no exit status"
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit {rc}"


def tail_lines(path: str, n: int = ERR_TAIL_LINES, max_bytes: int = 64 * 1024) -> t.List[str]:
    """The last ``n`` lines of ``path``; ``[]`` when it is missing or empty."""
    return tail_text(path, max_bytes).splitlines()[-n:]


def outcome(tasks: t.Sequence["Task"], exp_name: str) -> t.Tuple[int, str]:
    """(log level, text) of how ``tasks`` ended: one line of counts and, when some failed,
    their names (at most ``MAX_NAMED``) with exit status and ``.err`` path, then the last
    lines of the first failed member's ``.err``."""
    completed = failed = cancelled = 0
    failures: t.List["Task"] = []
    for task in tasks:
        status = task.status
        if status is _COMPLETED:
            completed += 1
        elif status is _FAILED:
            failed += 1
            failures.append(task)
        elif status is _CANCELLED:
            cancelled += 1
    total = len(tasks)
    what = "members" if any(task.ensemble for task in tasks) else ("jobs" if total != 1 else "job")
    line = (f"Experiment {exp_name!r}: {total} {what} ended: {completed} completed, {failed} failed, "
            f"{cancelled} cancelled")
    if not failures:
        return logging.INFO, line
    named = ", ".join(f"{task.name} ({_how_it_failed(task)}, err: {task.err})"
                      for task in failures[:MAX_NAMED])
    if failed > MAX_NAMED:
        named += f" and {failed - MAX_NAMED} more"
    text = f"{line}\n{failed} of {total} {what} failed: {named}"
    first = failures[0]
    tail = tail_lines(first.err)
    if tail:
        text += (f"\n{first.name} failed. Last {len(tail)} lines of {first.err}:\n"
                 + "\n".join("    " + line for line in tail))
    elif first.error:
        text += f"\n{first.name} failed: {first.error}"
    else:
        text += f"\n{first.name} failed. Its error file {first.err} is empty; see {first.out}"
    return logging.WARNING, text


def interrupted(exp_name: str, stopped: t.Sequence["Task"]) -> str:
    """The one line of Ctrl-C: what it stopped (tasks ended, or cancelled while queued)."""
    ended = sum(1 for task in stopped if task.t_launch is not None and task.pid is not None)
    cancelled = len(stopped) - ended
    return (f"Interrupted (Ctrl-C): experiment {exp_name!r}: stopped {_plural(ended, 'running job')}"
            f" and cancelled {_plural(cancelled, 'queued job')}")


def interrupted_left_running(exp_name: str, left: t.Sequence["Task"]) -> str:
    """The one line of Ctrl-C under ``kill_on_interrupt=False``: what is still running."""
    names = ", ".join(f"{task.name} (job {task.pid})" for task in left[:MAX_NAMED])
    if len(left) > MAX_NAMED:
        names += f" and {len(left) - MAX_NAMED} more"
    return (f"Interrupted (Ctrl-C): experiment {exp_name!r}: kill_on_interrupt=False, "
            f"{_plural(len(left), 'job')} left running, you may need to stop them: {names}")


def _env_changes(task: "Task") -> t.List[str]:
    """``K=V`` of ``task``'s environment that differ from the driver's (values of names that
    look secret are hidden: the environment is how passwords reach an application)."""
    base = os.environb
    out = []
    for item in task.env:
        key, _, value = item.partition(b"=")
        if base.get(key) == value or key == TOKEN_VAR.encode():
            continue
        name = os.fsdecode(key)
        upper = name.upper()
        if any(word in upper for word in ("PASSWORD", "SECRET", "TOKEN")):
            out.append(f"{name}=***")
        else:
            out.append(f"{name}={os.fsdecode(value)}")
    return out


def log_launches(logger: logging.Logger, tasks: t.Sequence["Task"], all_of_them: bool = False,
                 manifest: str = "") -> None:
    """At debug level: each task's command, directory and environment changes
    (at most ``MAX_DEBUG_LAUNCHES`` per start unless ``all_of_them``)."""
    if not logger.isEnabledFor(logging.DEBUG):
        return
    import shlex  # pylint: disable=import-outside-toplevel

    shown = tasks if all_of_them else tasks[:MAX_DEBUG_LAUNCHES]
    for task in shown:
        env = _env_changes(task)
        logger.debug(f"Launching {task.etype} {task.name} in {task.cwd}: {shlex.join(task.argv)}"
                     f"; env: {' '.join(env) if env else '(the driver environment)'}")
    if len(shown) < len(tasks):
        logger.debug(f"... and {len(tasks) - len(shown)} more launches (SMARTSIM_LOG_LEVEL=developer "
                     f"shows all; every command is in the manifest {manifest})")
