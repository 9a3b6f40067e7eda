"""The Cobalt launcher (``cobalt``; SmartSim 0.5.1 had it, 0.6 dropped it).

Steps: the run command's process (``aprun``, ``mpirun``) through the local engine, inside the
allocation the driver runs in (``COBALT_JOBID``). Batch jobs: ``qsub --mode script <script>``
prints the job id (a number, possibly after lines such as ``Job routed to queue ...``). Cobalt
reads the ``#COBALT`` lines that directly follow the script's first line, so they come first:
``-o``, ``-e``, ``--cwd``, ``--jobname``, ``--debuglog`` and the settings' options
(``--nodecount``, ``--time``, ``--queue``, ``--project``, ``--attrs`` ...), as SmartSim 0.5.1's
``CobaltBatchStep`` writes them. A Cobalt job does not start with the submitter's environment:
the script sources the driver's (``<name>.batch.env``, mode 0600). Status: ONE
``qstat --header JobId:State -u <user> <ids...>`` per poll (columns ``JobId`` and ``State``
under a ``=`` rule); Cobalt forgets a job once it ended (and exits 1 when none of the ids
is known). ``stop``: ``qdel <ids...>``, which the watchdog also runs for a killed driver.
Database shards in a job: ``aprun -n 1 -N 1 -L <nid> <command>``.
"""
from __future__ import annotations

import getpass
import os
import re
import shutil
import typing as t

from ...error import LauncherError
from .base import BatchJob, register_launcher
from .wlm import ACTIVE, ENDED, WAITING, JobState, SchedulerLauncher, pair_args, run, unique

# Cobalt job states (qstat's State column)
_PHASE = {
    "queued": WAITING, "starting": WAITING, "user_hold": WAITING, "admin_hold": WAITING,
    "dep_hold": WAITING, "maxrun_hold": WAITING, "hold": WAITING,
    "running": ACTIVE, "exiting": ACTIVE, "killing": ACTIVE, "terminating": ACTIVE,
    "dep_fail": ENDED, "done": ENDED,
}
_NID = re.compile(r"^nid0*(\d+)$")


def expand_partname(partname: str) -> t.List[str]:
    """``COBALT_PARTNAME`` (node ids: ``3824-3827,3830``) as host names (``nid03824``)."""
    hosts = []
    for part in partname.split(","):
        part = part.strip()
        if not part:
            continue
        first, _, last = part.partition("-")
        if first.isdigit() and (not last or last.isdigit()):
            hosts += [f"nid{n:05d}" for n in range(int(first), int(last or first) + 1)]
        else:
            hosts.append(part)
    return hosts


@register_launcher
class CobaltLauncher(SchedulerLauncher):
    """Cobalt: ``qsub --mode script``, one ``qstat --header JobId:State`` per poll, ``qdel``."""

    name = "cobalt"
    scheduler = "Cobalt"
    cancel_command = ("qdel",)
    job_id_var = "COBALT_JOBID"
    exports_env = False
    own_env_prefixes = ("COBALT_",)

    @classmethod
    def detect(cls) -> bool:
        return bool(shutil.which("qsub"))

    def __init__(self) -> None:
        super().__init__()
        self.user = getpass.getuser()

    # -- hooks ------------------------------------------------------------------------------
    @classmethod
    def directives(cls, job: BatchJob) -> t.List[str]:
        lines = [f"#COBALT -o {os.path.join(job.cwd, job.name + '.batch.out')}",
                 f"#COBALT -e {os.path.join(job.cwd, job.name + '.batch.err')}",
                 f"#COBALT --cwd {job.cwd}",
                 f"#COBALT --jobname {job.name}",
                 f"#COBALT --debuglog {os.path.join(job.cwd, job.name + '.cobalt-debug')}"]
        return lines + [f"#COBALT {opt}" for opt in pair_args(job.batch_settings.format_batch_args())]

    def submit_argv(self, script: str) -> t.Tuple[t.List[str], t.Optional[str]]:
        return ["qsub", "--mode", "script", script], None

    def parse_job_id(self, stdout: str) -> t.Optional[str]:
        for line in stdout.splitlines():
            if line.strip().isdigit():
                return line.strip()
        return None

    def query_states(self, job_ids: t.Sequence[str]) -> t.Dict[str, JobState]:
        proc = run(["qstat", "--header", "JobId:State", "-u", self.user, *job_ids])
        if proc.returncode != 0 and (proc.stderr.strip() or proc.stdout.strip()):
            # (exit status 1 and nothing printed: none of the jobs is known any more)
            raise LauncherError(proc.stderr.strip() or proc.stdout.strip())
        states: t.Dict[str, JobState] = {}
        for line in proc.stdout.splitlines():
            fields = line.split()
            if len(fields) == 2 and fields[0] in job_ids:
                raw = fields[1]
                states[fields[0]] = JobState(_PHASE.get(raw, ACTIVE), raw)
        return states

    @classmethod
    def job_hosts(cls, environ: t.Mapping[str, str]) -> t.List[str]:
        path = environ.get("COBALT_NODEFILE")
        if path and os.path.exists(path):
            try:
                with open(path, encoding="utf-8") as handle:
                    return unique(line.strip() for line in handle)
            except OSError as exc:
                raise LauncherError(f"cannot read COBALT_NODEFILE {path}: {exc}") from exc
        return unique(expand_partname(environ.get("COBALT_PARTNAME", "")))

    def step_on_host(self, argv: t.List[str], host: str, name: str) -> t.List[str]:
        match = _NID.match(host)
        node = match.group(1) if match else host
        return [shutil.which("aprun") or "aprun", "-n", "1", "-N", "1", "-L", node, *argv]
