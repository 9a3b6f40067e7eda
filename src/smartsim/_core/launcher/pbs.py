"""The PBS Professional launcher (``pbs``) and its PALS flavour (``pals``).

Steps: the run command's process (``aprun``, ``mpiexec``, ``mpirun``; PALS's ``mpiexec``
under ``pals``) through the local engine, inside the allocation the driver runs in
(``PBS_JOBID``). Batch jobs: ``qsub <script>`` prints the job id (``1234.server``); the script
carries ``#PBS -o/-e/-N/-V`` and the settings' options (``-l select=...``, ``-l walltime=...``,
``-q``, ``-A``) as SmartSim 0.8's ``QsubBatchStep`` writes them. Status: ONE
``qstat -f -F json -x <ids...>`` per poll (``-x``: finished jobs too, where job history is
kept) read from ``"Jobs" -> id -> "job_state"`` (and ``"Exit_status"``); a job it no longer
knows has ended. ``stop``: ``qdel <ids...>``, which the watchdog also runs for a killed
driver. Database shards in a job: ``pbs_tmrsh <host> <command>`` (PBS's TM launcher), or
``mpiexec --hosts <host>`` under PALS.
"""
from __future__ import annotations

import json
import os
import shutil
import typing as t

from ...error import LauncherError
from .base import BatchJob, register_launcher
from .wlm import ACTIVE, ENDED, WAITING, JobState, SchedulerLauncher, run, unique

# qstat job states (PBS Professional Reference Guide, "Job States")
_PHASE = {
    "Q": WAITING, "H": WAITING, "W": WAITING, "T": WAITING, "M": WAITING,
    "R": ACTIVE, "B": ACTIVE, "E": ACTIVE, "S": ACTIVE, "U": ACTIVE,
    "F": ENDED, "X": ENDED,
}
# qstat's complaints about a job id that are not errors of the query itself: unknown (gone
# without history) or finished (history kept but not asked for)
_GONE = ("Unknown Job Id", "Job has finished", "job has finished")


def load_qstat_json(text: str) -> t.Dict[str, t.Any]:
    """``qstat -F json`` output as a dict. qstat writes attribute values unescaped (a
    ``Variable_List`` value with a quote or a backslash), so a line that breaks the JSON is
    dropped and the rest read again."""
    lines = text.splitlines()
    for _ in range(len(lines) + 1):
        if not "".join(lines).strip():
            return {}
        try:
            data = json.loads("\n".join(lines))
            return data if isinstance(data, dict) else {}
        except json.JSONDecodeError as exc:
            bad = exc.lineno - 1
            if not 0 <= bad < len(lines):
                break
            del lines[bad]
            if 0 < bad and lines[bad - 1].rstrip().endswith(",") and (
                    bad == len(lines) or lines[bad].lstrip().startswith(("}", "]"))):
                lines[bad - 1] = lines[bad - 1].rstrip()[:-1]  # it was the last of its object
    raise LauncherError("qstat printed JSON that cannot be read")


def _sequence(job_id: str) -> str:
    return job_id.split(".", 1)[0]


@register_launcher
class PBSLauncher(SchedulerLauncher):
    """PBS Professional: ``qsub``, one ``qstat -f -F json -x`` per poll, ``qdel``."""

    name = "pbs"
    scheduler = "PBS"
    cancel_command = ("qdel",)
    job_id_var = "PBS_JOBID"
    exports_env = True  # "#PBS -V"
    own_env_prefixes = ("PBS_",)

    @classmethod
    def detect(cls) -> bool:
        return bool(shutil.which("qsub") and shutil.which("qstat") and not shutil.which("cqstat"))

    # -- hooks ------------------------------------------------------------------------------
    @classmethod
    def directives(cls, job: BatchJob) -> t.List[str]:
        out = os.path.join(job.cwd, job.name + ".batch.out")
        err = os.path.join(job.cwd, job.name + ".batch.err")
        lines = [f"#PBS -o {out}", f"#PBS -e {err}", f"#PBS -N {job.name}", "#PBS -V"]
        return lines + [f"#PBS {opt}" for opt in job.batch_settings.format_batch_args()]

    def submit_argv(self, script: str) -> t.Tuple[t.List[str], t.Optional[str]]:
        return ["qsub", script], None

    def parse_job_id(self, stdout: str) -> t.Optional[str]:
        for line in stdout.splitlines():
            if line.strip():
                return line.strip().split()[0]
        return None

    def query_states(self, job_ids: t.Sequence[str]) -> t.Dict[str, JobState]:
        proc = run(["qstat", "-f", "-F", "json", "-x", *job_ids])
        data = load_qstat_json(proc.stdout)
        if proc.returncode != 0:
            errors = [line for line in proc.stderr.splitlines()
                      if line.strip() and not any(word in line for word in _GONE)]
            if errors or ("Jobs" not in data and not proc.stderr.strip()):
                raise LauncherError("; ".join(errors) or f"qstat: exit status {proc.returncode}")
        ours = {job_id: job_id for job_id in job_ids}
        by_seq = {_sequence(job_id): job_id for job_id in job_ids}
        states: t.Dict[str, JobState] = {}
        for key, attrs in (data.get("Jobs") or {}).items():
            job_id = ours.get(key) or by_seq.get(_sequence(key))
            if job_id is None or not isinstance(attrs, dict):
                continue
            raw = str(attrs.get("job_state", ""))
            code = attrs.get("Exit_status")
            try:
                exit_code = int(code) if code is not None else None
            except (TypeError, ValueError):
                exit_code = None
            states[job_id] = JobState(_PHASE.get(raw, ACTIVE), raw, exit_code if raw in ("F", "X") else None)
        return states

    @classmethod
    def job_hosts(cls, environ: t.Mapping[str, str]) -> t.List[str]:
        path = environ.get("PBS_NODEFILE")
        if not path:
            return []
        try:
            with open(path, encoding="utf-8") as handle:
                return unique(line.strip() for line in handle)
        except OSError as exc:
            raise LauncherError(f"cannot read PBS_NODEFILE {path}: {exc}") from exc

    def step_on_host(self, argv: t.List[str], host: str, name: str) -> t.List[str]:
        # PBS's TM launcher: the command becomes a task of the job on that host. pbs_tmrsh
        # wants a full path
        exe = shutil.which(argv[0]) or argv[0]
        return [shutil.which("pbs_tmrsh") or "pbs_tmrsh", host, exe, *argv[1:]]


@register_launcher
class PalsLauncher(PBSLauncher):
    """PBS with HPE Cray PALS: as ``pbs``; steps on a host through PALS's ``mpiexec``."""

    name = "pals"

    @classmethod
    def detect(cls) -> bool:
        return False  # "auto" says pbs, as SmartSim does

    def step_on_host(self, argv: t.List[str], host: str, name: str) -> t.List[str]:
        return [shutil.which("mpiexec") or "mpiexec", "--hosts", host, "-n", "1", "--ppn", "1", *argv]
