"""The IBM Spectrum LSF launcher (``lsf``).

Steps: the run command's process (``jsrun``, ``mpirun``, ``mpiexec``) through the local
engine, inside the allocation the driver runs in (``LSB_JOBID``). Batch jobs: ``bsub < script``
(LSF reads ``#BSUB`` lines from a script given on stdin; ``bsub script`` only parses them
where ``LSB_BSUB_PARSE_SCRIPT=Y``), which prints ``Job <1234> is submitted to queue
<normal>.``; the script carries ``#BSUB -W``/``-P`` (the settings' ``walltime`` and
``project``), ``-J``, ``-o``, ``-e`` and the settings' options as SmartSim 0.8's
``BsubBatchStep`` writes them; the job starts in the submission directory with the
submitter's environment. Status: ONE ``bjobs -o "jobid stat exit_code" -noheader -a
<ids...>`` per poll (``-a``: finished jobs too; ``Job <id> is not found`` once LSF has
cleaned it). ``stop``: ``bkill <ids...>``, which the watchdog also runs for a killed driver.
Database shards in a job: ``blaunch <host> <command>``.
"""
from __future__ import annotations

import os
import re
import shutil
import typing as t

from ...error import LauncherError
from .base import BatchJob, register_launcher
from .wlm import ACTIVE, ENDED, WAITING, JobState, SchedulerLauncher, run, unique

# bjobs STAT values (LSF "About job states")
_PHASE = {
    "PEND": WAITING, "PROV": WAITING, "WAIT": WAITING, "PSUSP": WAITING,
    "RUN": ACTIVE, "USUSP": ACTIVE, "SSUSP": ACTIVE, "UNKWN": ACTIVE,
    "DONE": ENDED, "EXIT": ENDED, "ZOMBI": ENDED,
}
_SUBMITTED = re.compile(r"Job <([^>]+)> is submitted")
_NOT_FOUND = re.compile(r"Job <([^>]+)> is not found")
BJOBS_FORMAT = "jobid stat exit_code"


@register_launcher
class LSFLauncher(SchedulerLauncher):
    """LSF: ``bsub < script``, one ``bjobs -o ... -a`` per poll, ``bkill``."""

    name = "lsf"
    scheduler = "LSF"
    cancel_command = ("bkill",)
    job_id_var = "LSB_JOBID"
    exports_env = True  # bsub propagates the submission environment
    own_env_prefixes = ("LSB_", "LSF_")

    @classmethod
    def detect(cls) -> bool:
        return bool(shutil.which("bsub"))

    # -- hooks ------------------------------------------------------------------------------
    @classmethod
    def directives(cls, job: BatchJob) -> t.List[str]:
        bs = job.batch_settings
        opts = bs.format_batch_args()
        lines = []
        if getattr(bs, "walltime", None):
            lines.append(f"#BSUB -W {bs.walltime}")
        if getattr(bs, "project", None):
            lines.append(f"#BSUB -P {bs.project}")
        lines += [f"#BSUB -J {job.name}",
                  f"#BSUB -o {os.path.join(job.cwd, job.name + '.batch.out')}",
                  f"#BSUB -e {os.path.join(job.cwd, job.name + '.batch.err')}"]
        return lines + [f"#BSUB {opt}" for opt in opts]

    def submit_argv(self, script: str) -> t.Tuple[t.List[str], t.Optional[str]]:
        return ["bsub"], script

    def parse_job_id(self, stdout: str) -> t.Optional[str]:
        match = _SUBMITTED.search(stdout)
        return match.group(1) if match else None

    def query_states(self, job_ids: t.Sequence[str]) -> t.Dict[str, JobState]:
        proc = run(["bjobs", "-o", BJOBS_FORMAT, "-noheader", "-a", *job_ids])
        states: t.Dict[str, JobState] = {}
        for line in proc.stdout.splitlines():
            fields = line.split()
            if len(fields) != 3 or fields[0] not in job_ids:
                continue
            job_id, raw, code = fields
            exit_code = int(code) if code.lstrip("-").isdigit() else None
            phase = _PHASE.get(raw, ACTIVE)
            states[job_id] = JobState(phase, raw, exit_code if phase == ENDED else None)
        if proc.returncode != 0:
            messages = [line for line in (proc.stdout + "\n" + proc.stderr).splitlines() if line.strip()]
            errors = [line for line in messages
                      if not _NOT_FOUND.search(line) and line.split()[0] not in job_ids]
            if errors or not messages:
                raise LauncherError("; ".join(errors) or f"bjobs: exit status {proc.returncode}")
        return states

    @classmethod
    def job_hosts(cls, environ: t.Mapping[str, str]) -> t.List[str]:
        pairs = environ.get("LSB_MCPU_HOSTS", "").split()
        if pairs:
            return unique(pairs[::2])
        if environ.get("LSB_HOSTS"):
            return unique(environ["LSB_HOSTS"].split())
        path = environ.get("LSB_DJOB_HOSTFILE")
        if path:
            try:
                with open(path, encoding="utf-8") as handle:
                    return unique(line.strip() for line in handle)
            except OSError as exc:
                raise LauncherError(f"cannot read LSB_DJOB_HOSTFILE {path}: {exc}") from exc
        return []

    def step_on_host(self, argv: t.List[str], host: str, name: str) -> t.List[str]:
        return [shutil.which("blaunch") or "blaunch", host, *argv]
