"""The Slurm launcher: steps through ``srun``, batch jobs through ``sbatch``.

Steps. A model or ensemble member with ``SrunSettings`` runs as the ``srun ...`` command its
settings format; ``srun`` itself is a process of the driver, so the local engine
(``local.py``) starts and reaps it exactly as it does any process: inside an allocation
(``SLURM_JOB_ID`` set) the step runs in that allocation, outside one ``srun`` makes its own.
``srun``'s exit status is the step's (the highest of its tasks), a step's status is known
the moment ``srun`` exits without asking the scheduler, ``stop`` is ``SIGTERM`` to ``srun``
(Slurm then cancels the step: "forcing job termination") and the watchdog's sweep of a killed
driver ends the steps the same way.

Batch jobs. An entity with batch settings becomes ONE job (``sbatch --parsable``): its script
runs every task (the model, or each ensemble member as a step, all in the background) and
records each task's exit status in ``<task cwd>/<task name>.exitcode`` -- the status
"recorded by the step itself", which works without ``slurmdbd`` accounting. One poller
thread asks ``squeue`` once per interval for ALL our jobs (``--me --states=all``, so jobs
that just ended still show their state); when a job has ended, each task's status comes from
its exit-status file, else from ``sacct`` (when accounting is there) or the last ``squeue``
state. ``stop`` is one ``scancel`` for the jobs involved: the tasks that already recorded an
exit status keep it (Completed/Failed), every other one is Cancelled -- also when it records a
status while being killed (a waiting ``srun`` exits 1, a signalled one 143); a job cancelled by
someone else makes its tasks without a zero exit status Cancelled too. Job ids go to the
watchdog, which ``scancel``s the ones still registered if the driver is killed.
"""
from __future__ import annotations

import os
import shutil
import threading
import time
import typing as t

from ...error import LauncherError
from ...log import get_logger
from ...status import SmartSimStatus
from .base import DEFAULT_STOP_GRACE, BatchJob, Capabilities, Task, register_launcher
from .wlm import batch_script as _wlm_batch_script
from .local import exit_status_file, read_exit_record
from .wlm import AdoptsBatchJobs, encoded_environ, pair_args, run

logger = get_logger(__name__)

_QUEUED = SmartSimStatus.STATUS_QUEUED
_RUNNING = SmartSimStatus.STATUS_RUNNING
_COMPLETED = SmartSimStatus.STATUS_COMPLETED
_FAILED = SmartSimStatus.STATUS_FAILED
_CANCELLED = SmartSimStatus.STATUS_CANCELLED

# squeue %T states (Slurm 22.05) that mean "not started yet" / "running"
_WAITING = frozenset(("PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
                      "RESV_DEL_HOLD", "SPECIAL_EXIT", "SUSPENDED", "STOPPED", "RESIZING"))
_ACTIVE = frozenset(("RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT"))
MAX_DEFAULT_STEPS = 4096  # default cap on members at once in an allocation (srun processes here)


def batch_script(job: BatchJob, driver_env: t.AbstractSet[bytes]) -> str:
    """The job's script (``wlm.batch_script``) with its ``#SBATCH`` directives; the job starts
    with the driver's environment (sbatch exports it)."""
    directives = [f"#SBATCH --job-name={job.name}",
                  f"#SBATCH --output={os.path.join(job.cwd, job.name + '.batch.out')}",
                  f"#SBATCH --error={os.path.join(job.cwd, job.name + '.batch.err')}"]
    directives += [f"#SBATCH {d}" for d in pair_args(list(job.batch_settings.format_batch_args()))]
    return _wlm_batch_script(job, directives, driver_env)


def allocation_cpus(environ: t.Mapping[str, str]) -> int:
    """The CPUs of the allocation in ``environ`` (0: unknown): ``SLURM_JOB_CPUS_PER_NODE``
    (``"32(x3),16"``: 112), else ``SLURM_CPUS_ON_NODE`` x ``SLURM_JOB_NUM_NODES``."""
    spec = environ.get("SLURM_JOB_CPUS_PER_NODE", "")
    total = 0
    try:
        for part in filter(None, spec.split(",")):
            count, _, times = part.partition("(x")
            total += int(count) * (int(times.rstrip(")")) if times else 1)
    except ValueError:
        total = 0
    if total:
        return total
    try:
        return int(environ.get("SLURM_CPUS_ON_NODE", "0")) * int(
            environ.get("SLURM_JOB_NUM_NODES") or environ.get("SLURM_NNODES") or "1")
    except ValueError:
        return 0


@register_launcher
class SlurmLauncher(AdoptsBatchJobs):
    """Slurm: ``srun`` steps run as local processes, batch jobs are watched with ``squeue``."""

    name = "slurm"
    capabilities = Capabilities(steps=True, batch=True, colocated_db=True)
    cancel_command = ("scancel",)
    remote_steps = True

    @classmethod
    def detect(cls) -> bool:
        return bool(shutil.which("sbatch") and shutil.which("srun"))

    @classmethod
    def default_max_concurrent(cls) -> t.Optional[int]:
        """How many members run at once unless the experiment says: inside an allocation,
        as many as it has CPUs (a step takes at least one; the steps run on its nodes, not
        here: this machine's cores would idle a large allocation), at least this machine's
        cores and at most ``MAX_DEFAULT_STEPS`` ``srun`` processes; outside one, None (this
        machine's cores: each ``srun`` asks for its own allocation)."""
        if not (os.environ.get("SLURM_JOB_ID") or os.environ.get("SLURM_JOBID")):
            return None
        cpus = allocation_cpus(os.environ)
        if not cpus:
            return None
        return min(MAX_DEFAULT_STEPS, max(cpus, os.cpu_count() or 1))

    def __init__(self) -> None:
        super().__init__()
        self.poll_interval = float(os.environ.get("SMARTSIM_SLURM_POLL_INTERVAL", "0.5"))
        self._jobs: t.Dict[str, BatchJob] = {}
        self._job_of: t.Dict[Task, str] = {}
        self._started: t.Set[str] = set()
        self._poller: t.Optional[threading.Thread] = None
        self._accounting: t.Optional[bool] = None

    # -- placing database steps on the allocation's nodes ------------------------------------
    def allocation_hosts(self) -> t.List[str]:
        nodelist = os.environ.get("SLURM_JOB_NODELIST") or os.environ.get("SLURM_NODELIST")
        if not nodelist:
            return []
        proc = run(["scontrol", "show", "hostnames", nodelist])
        if proc.returncode != 0:
            raise LauncherError(f"scontrol show hostnames {nodelist}: {proc.stderr.strip()}")
        return proc.stdout.split()

    def host_addresses(self, hosts: t.Sequence[str]) -> t.List[str]:
        """Each node's ``NodeAddr`` as Slurm knows it (one ``scontrol`` call): node names
        need not resolve through DNS, and several names may share one address."""
        proc = run(["scontrol", "show", "node", ",".join(hosts), "--oneliner"])
        addrs: t.Dict[str, str] = {}
        for line in proc.stdout.splitlines():
            fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
            if "NodeName" in fields and fields.get("NodeAddr"):
                addrs[fields["NodeName"]] = fields["NodeAddr"]
        missing = [host for host in hosts if host not in addrs]
        if missing:
            resolved = super().host_addresses(missing)
            addrs.update(zip(missing, resolved))
        return [addrs[host] for host in hosts]

    def on_host(self, argv: t.List[str], host: str, name: str,
                allocation: t.Optional[str] = None) -> t.List[str]:
        # --overlap: a shard and its executor share their node with the model steps (a plain
        # step holds every CPU the allocation has on its node)
        job = [f"--jobid={allocation}"] if allocation else []
        return [shutil.which("srun") or "srun", *job, "--nodes=1", "--ntasks=1", f"--nodelist={host}",
                "--overlap", f"--job-name={name}", *argv]

    def hold_allocation(self, name: str, cwd: str, batch_settings: t.Any,
                        timeout: float) -> t.Tuple[str, t.List[str]]:
        holder = Task(name, ["/bin/sh", "-c", "while :; do sleep 3600; done"], cwd, [],
                      os.path.join(cwd, f"{name}.holder.out"), os.path.join(cwd, f"{name}.holder.err"),
                      None, 0, "DBNode", None, is_db=True)
        job = BatchJob(name, cwd, batch_settings, [holder])
        self.submit_batch(job)
        job_id = t.cast(str, job.job_id)
        deadline = time.monotonic() + timeout
        while True:
            proc = run(["squeue", "--noheader", "--jobs", job_id, "--format=%T %N"])
            state, _, nodes = proc.stdout.strip().partition(" ")
            if state in _ACTIVE and nodes:
                break
            if proc.returncode == 0 and state and state not in _WAITING:
                raise LauncherError(f"the batch job {job_id} holding the nodes of {name!r} ended "
                                    f"({state}) before it ran; see {holder.err}")
            if time.monotonic() > deadline:
                self.release_allocation(job_id)
                raise LauncherError(f"the batch job {job_id} holding the nodes of {name!r} did not "
                                    f"start within {timeout:g} s (squeue: {state or proc.stderr.strip()})")
            time.sleep(0.1)
        hosts = run(["scontrol", "show", "hostnames", nodes]).stdout.split()
        return job_id, hosts

    def release_allocation(self, allocation: str) -> None:
        with self.cond:
            tasks = list(self._jobs[allocation].tasks) if allocation in self._jobs else []
        if tasks:
            self.stop(tasks)
        else:
            run(["scancel", allocation])

    # -- batch jobs ---------------------------------------------------------------------
    @classmethod
    def batch_script_text(cls, job: BatchJob, driver_env: t.AbstractSet[bytes]) -> t.Optional[str]:
        return batch_script(job, driver_env)

    def submit_batch(self, job: BatchJob) -> None:
        if self._watchdog is None:
            self._start_watchdog()
        os.makedirs(job.cwd, exist_ok=True)
        for task in job.tasks:
            os.makedirs(task.cwd, exist_ok=True)
            try:
                os.unlink(exit_status_file(task))  # a status left by an earlier run must not be read
            except FileNotFoundError:
                pass
        script = os.path.join(job.cwd, f"{job.name}.batch.sh")
        with open(script, "w", encoding="utf-8") as handle:
            handle.write(batch_script(job, set(encoded_environ())))
        os.chmod(script, 0o700)
        proc = run(["sbatch", "--parsable", script])
        if proc.returncode != 0 or not proc.stdout.strip():
            raise LauncherError(f"sbatch refused the batch job {job.name!r} ({script}): "
                                f"{(proc.stderr or proc.stdout).strip() or f'exit status {proc.returncode}'}")
        job.job_id = proc.stdout.strip().split(";")[0]
        now = time.time()
        with self.cond:
            for task in job.tasks:
                task.status = _QUEUED
                task.pid = job.job_id
                task.t_launch = now
                self._job_of[task] = job.job_id
            self._jobs[job.job_id] = job
            if not all(task.detached for task in job.tasks):  # a detached job outlives the driver
                self._wd_buf += b"=%s\n" % job.job_id.encode()
            if self._poller is None:
                self._poller = threading.Thread(target=self._poll_jobs, name="smartsim-slurm-poller",
                                                daemon=True)
                self._poller.start()
        self._wakeup()  # the engine thread writes the job id to the watchdog
        for task in job.tasks:
            if task.owner is not None:
                task.owner._on_spawned(task)

    def _poll_jobs(self) -> None:
        while True:
            with self.cond:
                jobs = dict(self._jobs)
                if not jobs:
                    self._poller = None
                    return
            try:
                states = self._queue_states()
            except LauncherError as exc:
                logger.warning(f"squeue failed ({exc}); retrying")
                time.sleep(self.poll_interval)
                continue
            with self.cond:
                for job_id, job in jobs.items():
                    state = states.get(job_id)
                    if state in _WAITING:
                        continue
                    if state in _ACTIVE:
                        self._job_started(job)
                    else:
                        self._job_ended(job, state)
                for job in jobs.values():
                    if job.tasks and job.tasks[0].owner is not None:
                        job.tasks[0].owner._flush()
                self.cond.notify_all()
            self._wakeup()
            time.sleep(self.poll_interval)

    def _queue_states(self) -> t.Dict[str, str]:
        """One ``squeue`` for every job of this user: job id -> state."""
        proc = run(["squeue", "--me", "--states=all", "--noheader", "--format=%i %T"])
        if proc.returncode != 0:
            raise LauncherError(proc.stderr.strip() or f"exit status {proc.returncode}")
        states = {}
        for line in proc.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2:
                states[parts[0]] = parts[1]
        return states

    def _job_started(self, job: BatchJob) -> None:
        if job.job_id in self._started:
            return
        self._started.add(t.cast(str, job.job_id))
        for task in job.tasks:
            if task.status is _QUEUED:
                task.status = _RUNNING
                if task.owner is not None:
                    task.owner._on_launch(task)

    def _job_ended(self, job: BatchJob, state: t.Optional[str]) -> None:
        job_id = t.cast(str, job.job_id)
        if state is None or state == "COMPLETED":
            state = self._accounted_state(job_id) or state
        self._job_started(job)  # a job that ran between two polls still counts as launched
        now = time.time()
        for task in job.tasks:
            self._job_of.pop(task, None)
            if task.status not in (_QUEUED, _RUNNING):
                continue  # ended before the job did (stop: its exit status was already there)
            code, t_end, _ = read_exit_record(task)
            if task.stopping or (state == "CANCELLED" and code != 0):
                # stopped by us, or the job was cancelled under it: whatever a task records
                # while it is being killed (srun: 1 or 143) is not its own outcome
                task.returncode = code
                task.status = _CANCELLED
            elif code is not None:
                task.returncode = code
                task.status = _COMPLETED if code == 0 else _FAILED
            else:
                task.status = _FAILED
                task.error = (f"batch job {job_id} ended ({state or 'no longer known to Slurm'}) before "
                              f"{task.name} recorded an exit status; see "
                              f"{os.path.join(job.cwd, job.name + '.batch.err')} and {task.err}")
            task.t_end = t_end if code is not None and t_end is not None else now
            if task.owner is not None:
                task.owner._on_end(task)
        del self._jobs[job_id]
        self._started.discard(job_id)
        self._wd_buf += b"~%s\n" % job_id.encode()

    def _ended_before_stop(self, tasks: t.Sequence[Task]) -> None:
        """Before a job is cancelled: its tasks that already recorded an exit status ended
        on their own (Completed/Failed, not Cancelled). Under ``cond``."""
        for task in tasks:
            if task.status is not _RUNNING or task.stopping:
                continue
            code, t_end, _ = read_exit_record(task)
            if code is None:
                continue
            task.returncode = code
            task.status = _COMPLETED if code == 0 else _FAILED
            task.t_end = t_end if t_end is not None else time.time()
            if task.owner is not None:
                task.owner._on_end(task)

    def _accounted_state(self, job_id: str) -> t.Optional[str]:
        """The job's final state from ``sacct`` when accounting runs here, else None."""
        if self._accounting is False:
            return None
        proc = run(["sacct", "--noheader", "--parsable2", "--jobs", job_id, "--format=JobID,State"])
        if proc.returncode != 0:
            self._accounting = False  # "Slurm accounting storage is disabled"
            return None
        self._accounting = True
        for line in proc.stdout.splitlines():
            jid, _, state = line.partition("|")
            if jid == job_id and state:
                return state.split()[0]
        return None

    # -- stop / introspection -------------------------------------------------------------
    def stop(self, tasks: t.Sequence[Task], grace: float = DEFAULT_STOP_GRACE) -> None:
        with self.cond:
            job_ids = {self._job_of[task] for task in tasks if task in self._job_of}
            ours = [task for task in tasks if task in self._job_of]
            self._ended_before_stop(ours)
            for task in ours:
                if task.live:
                    task.stopping = True
            if ours:
                for task in ours:
                    if task.owner is not None:
                        task.owner._flush()
                        break
                self.cond.notify_all()
        local = [task for task in tasks if task not in self._job_of]
        if local:
            super().stop(local, grace)
        if job_ids:
            proc = run(["scancel", *sorted(job_ids)])
            if proc.returncode != 0:
                logger.warning(f"scancel {' '.join(sorted(job_ids))}: {proc.stderr.strip()}")

    def live_tasks(self) -> t.List[Task]:
        tasks = super().live_tasks()
        with self.cond:
            tasks += [task for task in self._job_of if task.live]
        return tasks
