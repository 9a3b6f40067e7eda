"""Running a scheduler's command-line tool and reading what it printed."""
from __future__ import annotations

import shutil
import subprocess
import typing as t

from ..error import LauncherError, ShellError
from ..log import get_logger

logger = get_logger(__name__)


def run_wlm_command(command: str, args: t.List[str], wlm: str = "Slurm") -> t.Tuple[int, str, str]:
    """Run ``command args...`` (found on PATH); ``(returncode, stdout, stderr)``.

    A non-zero exit is logged (the caller decides what it means); a tool that is not
    installed raises ``LauncherError``, one that cannot be started ``ShellError``.
    """
    path = shutil.which(command)
    if not path:
        raise LauncherError(f"{wlm} Launcher could not find path of {command} command")
    try:
        proc = subprocess.run([path, *args], stdin=subprocess.DEVNULL, capture_output=True,
                              check=False)
    except OSError as exc:
        raise ShellError(f"Could not run {command} {' '.join(args)}: {exc}") from exc
    out = proc.stdout.decode("utf-8", errors="replace")
    err = proc.stderr.decode("utf-8", errors="replace")
    if proc.returncode != 0:
        logger.error(f"An error occurred while calling {command}: {err}")
    return proc.returncode, out, err
