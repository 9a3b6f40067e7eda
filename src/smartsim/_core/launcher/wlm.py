"""What every batch scheduler's launcher shares: steps through the local engine, batch jobs
watched by one status query per poll, cancel on ``stop`` and from the watchdog.

A scheduler launcher (``pbs.py``, ``lsf.py``, ``cobalt.py``; Slurm's fits the same hooks) is a
``SchedulerLauncher`` that says how to talk to its scheduler and nothing else:

=========================  ===============================================================
hook                       what it gives
=========================  ===============================================================
``directives(job)``        the script's directive lines (``#PBS -N name`` ...) for a BatchJob
``submit_argv(script)``    the submit command and the file to feed it on stdin (or None)
``parse_job_id(stdout)``   the job id the submit command printed (None: not found)
``query_states(ids)``      ONE scheduler query for all those jobs: ``{id: JobState}``; a job
                           left out is no longer known to the scheduler; LauncherError when
                           the query itself failed (retried at the next poll)
``final_state(id, last)``  a job that ended (or vanished): its final state (accounting)
``cancel_argv(ids)``       the cancel command for those jobs (default ``cancel_command + ids``)
``job_hosts(environ)``     the hosts of the job a process runs in, from its environment
``step_on_host(argv, h)``  the command that runs argv on host ``h`` of the job it runs in
=========================  ===============================================================

and class attributes: ``cancel_command`` (also what the watchdog runs), ``job_id_var`` (set
inside a job: the driver runs in an allocation), ``exports_env`` (the job starts with the
submitter's environment), ``own_env_prefixes`` (the scheduler's own variables),
``default_poll_interval``.

Steps. A model or ensemble member runs as the command its run settings format (``aprun ...``,
``mpiexec ...``, ``jsrun ...``): that command is a process of the driver, started and reaped
by the local engine, so its status and exit status are known the moment it exits; ``stop``
is ``SIGTERM`` to it.

Batch jobs. An entity with batch settings becomes ONE job: the script (``batch_script``) runs
every task in the background, each recording its own exit status in
``<task cwd>/<task name>.exitcode``, then ``wait``\\ s. One poller thread asks the scheduler
about ALL our live jobs once per interval; a job that ended gives each task its status from
its exit-status file (files on a shared file system may show up late: they are waited for a
few seconds), else Cancelled (stopped) or Failed with the scheduler's word. ``stop`` is one
cancel command for the jobs involved; job ids go to the watchdog (``=id``/``~id``), which
cancels the ones still registered when the driver is killed.

Databases. Inside an allocation each shard is a step on one of the job's hosts
(``step_on_host``: ``pbs_tmrsh``, ``blaunch``, ``aprun -L`` ...). A batch database
(``hold_allocation``) is a job that runs a small agent (``_jobagent.py``): it reports the
job's hosts and runs each step the driver hands it (through ``step_on_host``, inside the job)
while a local relay process stands for the step on the driver's side (its exit status, its
``stop``) -- schedulers that cannot start a step in a job from outside it work this way.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
import typing as t
import uuid

from ...error import LauncherError, SSUnsupportedError
from ...log import get_logger
from ...status import SmartSimStatus
from .base import DEFAULT_STOP_GRACE, BatchJob, Capabilities, Task, stops_on_interrupt
from .local import LocalLauncher, exit_status_file, read_exit_record

logger = get_logger(__name__)

_QUEUED = SmartSimStatus.STATUS_QUEUED
_RUNNING = SmartSimStatus.STATUS_RUNNING
_COMPLETED = SmartSimStatus.STATUS_COMPLETED
_FAILED = SmartSimStatus.STATUS_FAILED
_CANCELLED = SmartSimStatus.STATUS_CANCELLED

# the phases a scheduler's job states are normalised to
WAITING = "waiting"   # not started yet (queued, held)
ACTIVE = "active"     # started and not over (running, suspended, exiting)
ENDED = "ended"       # over: finished, failed, cancelled

AGENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_jobagent.py")


class JobState(t.NamedTuple):
    """A job's state as a scheduler reported it, normalised."""

    phase: str                        # WAITING, ACTIVE or ENDED
    raw: str                          # the scheduler's own word ("Q", "RUN", "queued", ...)
    exit_code: t.Optional[int] = None  # the job's exit status when the scheduler gives one
    cancelled: bool = False           # ended by a cancel command


def run(argv: t.Sequence[str], timeout: float = 60.0, stdin: t.Optional[str] = None,
        cwd: t.Optional[str] = None) -> "subprocess.CompletedProcess[str]":
    """Run a scheduler command and capture its output (``stdin``: a file fed to it)."""
    try:
        if stdin is not None:
            with open(stdin, "rb") as handle:
                return subprocess.run(list(argv), capture_output=True, timeout=timeout, stdin=handle,
                                      cwd=cwd, check=False, text=True)
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, cwd=cwd, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise LauncherError(f"could not run {' '.join(list(argv)[:2])}: {exc}") from exc


def encoded_environ() -> t.List[bytes]:
    return [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in os.environ.items()]


# variables a shell sets (or refuses to have set) itself: never written to an env file
_SHELL_OWN = frozenset(("BASHOPTS", "SHELLOPTS", "BASHPID", "EUID", "PPID", "UID", "PWD",
                        "OLDPWD", "SHLVL", "_", "GROUPS", "RANDOM", "SECONDS", "LINENO"))


def env_file_text(environ: t.Mapping[str, str], skip_prefixes: t.Tuple[str, ...] = ()) -> str:
    """``export K='V'`` lines that give a job the driver's environment (for schedulers whose
    jobs do not start with it), leaving out the scheduler's own variables."""
    lines = []
    for key, value in environ.items():
        if not key.isidentifier() or not key.isascii() or key in _SHELL_OWN:
            continue
        if skip_prefixes and key.startswith(skip_prefixes):
            continue
        lines.append(f"export {key}={shlex.quote(value)}")
    return "\n".join(lines) + "\n"


def batch_script(job: BatchJob, directives: t.Sequence[str], driver_env: t.AbstractSet[bytes],
                 env_file: t.Optional[str] = None) -> str:
    """The job's script: the directives, the driver's environment (``env_file``, for a job
    that does not start with it), the preamble, then each task in the background recording
    its exit status, and a final ``wait``."""
    lines = ["#!/bin/bash", *directives]
    if env_file:
        lines.append(f". {shlex.quote(env_file)}")
    lines += list(job.batch_settings.preamble)
    lines += [
        "",
        "# <exit status file> <directory> <stdout> <stderr> <command...>",
        "smartsim_task() {",
        "    local rc_file=$1 dir=$2 out=$3 err=$4",
        "    shift 4",
        "    ( cd \"$dir\" && exec \"$@\" ) >\"$out\" 2>\"$err\"",
        "    echo $? >\"$rc_file\"",
        "}",
        "",
    ]
    for task in job.tasks:
        # the job starts with the driver's environment: set only what differs
        extra = [kv.decode(errors="surrogateescape") for kv in task.env if kv not in driver_env]
        command = (["env", *extra] if extra else []) + list(task.argv)
        lines.append("smartsim_task " + " ".join(shlex.quote(part) for part in (
            exit_status_file(task), task.cwd, task.out, task.err, *command)) + " &")
    lines += ["wait", ""]
    return "\n".join(lines)


def pair_args(args: t.Sequence[str]) -> t.List[str]:
    """``format_batch_args()`` items as one directive each when a settings class gives an
    option and its value as two items (``-p``, ``debug``)."""
    out: t.List[str] = []
    i = 0
    while i < len(args):
        item = args[i]
        if item.startswith("-") and not item.startswith("--") and " " not in item \
                and i + 1 < len(args) and not args[i + 1].startswith("-"):
            out.append(f"{item} {args[i + 1]}")
            i += 2
        else:
            out.append(item)
            i += 1
    return out


def unique(items: t.Iterable[str]) -> t.List[str]:
    return list(dict.fromkeys(item for item in items if item))


def adopted_jobs(tasks: t.Sequence[Task]) -> t.Tuple[t.List[BatchJob], t.List[Task]]:
    """Split tasks another driver launched detached into the batch jobs they ran in (their
    ``pid`` is the scheduler's job id, a string) and the rest (local processes). A job is
    rebuilt as its launcher wrote it: named after its ensemble (or model), in that entity's
    directory, so its exit-status files and ``.batch.err`` are found where they are."""
    jobs: t.Dict[str, BatchJob] = {}
    local: t.List[Task] = []
    for task in tasks:
        if not isinstance(task.pid, str):
            local.append(task)
            continue
        job = jobs.get(task.pid)
        if job is None:
            cwd = os.path.dirname(task.cwd) if task.ensemble else task.cwd
            job = jobs[task.pid] = BatchJob(task.ensemble or task.name, cwd, None, [])
            job.job_id = task.pid
        job.tasks.append(task)
    return list(jobs.values()), local


class AdoptsBatchJobs(LocalLauncher):
    """The ``adopt`` of a launcher that watches batch jobs (Slurm, and ``SchedulerLauncher``
    for the others): its ``_jobs``/``_job_of``/``_started`` tables and ``_poll_jobs`` thread
    take jobs it did not submit. They are taken as started (the first status query ends
    those that are over, from their exit-status files) and never go to the watchdog: a
    detached job outlives this driver too."""

    name = ""
    _jobs: t.Dict[str, BatchJob]
    _job_of: t.Dict[Task, str]
    _started: t.Set[str]
    _poller: t.Optional[threading.Thread]

    def _poll_jobs(self) -> None:
        raise NotImplementedError

    def adopt(self, tasks: t.Sequence[Task]) -> None:
        """Watch detached tasks another driver launched: batch jobs by their job id, steps
        (local processes) as the local launcher does."""
        jobs, local = adopted_jobs(tasks)
        if local:
            super().adopt(local)
        with self.cond:
            for job in jobs:
                job_id = t.cast(str, job.job_id)
                for task in job.tasks:
                    task.adopted = task.detached = True
                    self._job_of[task] = job_id
                self._jobs[job_id] = job
                self._started.add(job_id)
            if jobs and self._poller is None:
                self._poller = threading.Thread(target=self._poll_jobs, daemon=True,
                                                name=f"smartsim-{self.name}-poller")
                self._poller.start()


class _Held(t.NamedTuple):
    """A batch job made by ``hold_allocation``: its agent's directory."""

    spool: str
    task: Task


class SchedulerLauncher(AdoptsBatchJobs):
    """The shared part of the batch schedulers' launchers (see the module's docstring)."""

    capabilities = Capabilities(steps=True, batch=True, colocated_db=True)
    remote_steps = True
    #: the scheduler's name in messages
    scheduler: t.ClassVar[str] = "the scheduler"
    #: set in the environment of every job of this scheduler (the job's id)
    job_id_var: t.ClassVar[str] = ""
    #: the job starts with the environment of the submitting process (else an env file)
    exports_env: t.ClassVar[bool] = True
    #: the scheduler's own variables (a step in a job keeps the job's values of them)
    own_env_prefixes: t.ClassVar[t.Tuple[str, ...]] = ()
    #: seconds between two status queries (``SMARTSIM_<NAME>_POLL_INTERVAL`` overrides)
    default_poll_interval: t.ClassVar[float] = 1.0
    #: seconds to wait for exit-status files of a job that ended (shared file systems)
    exit_file_grace: t.ClassVar[float] = float(os.environ.get("SMARTSIM_WLM_EXIT_GRACE", "3.0"))

    def __init__(self) -> None:
        super().__init__()
        self.poll_interval = float(os.environ.get(f"SMARTSIM_{self.name.upper()}_POLL_INTERVAL",
                                                  self.default_poll_interval))
        self._jobs: t.Dict[str, BatchJob] = {}
        self._job_of: t.Dict[Task, str] = {}
        self._started: t.Set[str] = set()
        self._ended_at: t.Dict[str, float] = {}
        self._poller: t.Optional[threading.Thread] = None
        self._held_jobs: t.Dict[str, _Held] = {}
        self._spools: t.Dict[str, str] = {}
        self._cancelled: t.Set[str] = set()
        self._interrupted = False

    # -- the hooks a scheduler implements ---------------------------------------------------
    @classmethod
    def directives(cls, job: BatchJob) -> t.List[str]:
        """The directive lines of ``job``'s script (job name, output files, then the batch
        settings' options)."""
        raise NotImplementedError

    @classmethod
    def env_file(cls, job: BatchJob) -> t.Optional[str]:
        """Where the driver's environment is written for a job that does not start with it
        (``exports_env`` False); None otherwise."""
        return None if cls.exports_env else os.path.join(job.cwd, f"{job.name}.batch.env")

    @classmethod
    def batch_script_text(cls, job: BatchJob, driver_env: t.AbstractSet[bytes]) -> t.Optional[str]:
        return batch_script(job, cls.directives(job), driver_env, cls.env_file(job))

    def submit_argv(self, script: str) -> t.Tuple[t.List[str], t.Optional[str]]:
        """The command that submits ``script`` and the file to give it on stdin (or None)."""
        raise NotImplementedError

    def parse_job_id(self, stdout: str) -> t.Optional[str]:
        """The job id in the submit command's output."""
        raise NotImplementedError

    def query_states(self, job_ids: t.Sequence[str]) -> t.Dict[str, JobState]:
        """ONE query for all of ``job_ids``; jobs the scheduler no longer knows are left out;
        ``LauncherError`` if the query failed."""
        raise NotImplementedError

    def final_state(self, job_id: str, last: t.Optional[JobState]) -> t.Optional[JobState]:
        """The final state of a job that ended (``last``: what the query said; None: the
        scheduler no longer knows it). Schedulers with accounting ask it here."""
        return last

    def cancel_argv(self, job_ids: t.Sequence[str]) -> t.List[str]:
        return [*self.cancel_command, *job_ids]

    @classmethod
    def job_hosts(cls, environ: t.Mapping[str, str]) -> t.List[str]:
        """The hosts of the job a process with ``environ`` runs in ([]: not in a job)."""
        return []

    def step_on_host(self, argv: t.List[str], host: str, name: str) -> t.List[str]:
        """The command, run inside a job, that runs ``argv`` on its host ``host``."""
        raise SSUnsupportedError(f"the {self.name} launcher cannot place a step on a host")

    # -- allocations and hosts --------------------------------------------------------------
    def in_allocation(self) -> bool:
        return bool(self.job_id_var and os.environ.get(self.job_id_var))

    def allocation_hosts(self) -> t.List[str]:
        if not self.in_allocation():
            return []
        return self.job_hosts(os.environ)

    def on_host(self, argv: t.List[str], host: str, name: str,
                allocation: t.Optional[str] = None) -> t.List[str]:
        if allocation is None:
            return self.step_on_host(list(argv), host, name)
        held = self._held_jobs.get(allocation)
        if held is None:
            raise LauncherError(f"{allocation} is not a batch job this driver holds")
        # a relay here stands for the step the job's agent runs there
        step_id = f"{name}.{uuid.uuid4().hex[:12]}"
        return [sys.executable, "-I", "-S", AGENT, "step", held.spool, step_id, "--",
                *self.step_on_host(list(argv), host, name)]

    def hold_allocation(self, name: str, cwd: str, batch_settings: t.Any,
                        timeout: float) -> t.Tuple[str, t.List[str]]:
        """A job running only our agent: the driver then runs steps in it (``on_host``)."""
        os.makedirs(cwd, exist_ok=True)
        spool = os.path.join(cwd, f".{name}.steps.{uuid.uuid4().hex[:8]}")
        os.mkdir(spool, 0o700)
        pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(AGENT))))
        pythonpath = os.pathsep.join(unique([pkg_root, *os.environ.get("PYTHONPATH", "").split(os.pathsep)]))
        holder = Task(name, [sys.executable, AGENT, "agent", self.name, spool], cwd,
                      [b"PYTHONPATH=" + os.fsencode(pythonpath)],
                      os.path.join(cwd, f"{name}.holder.out"), os.path.join(cwd, f"{name}.holder.err"),
                      None, 0, "DBNode", None, is_db=True)
        job = BatchJob(name, cwd, batch_settings, [holder])
        try:
            self.submit_batch(job)
        except BaseException:
            shutil.rmtree(spool, ignore_errors=True)
            raise
        job_id = t.cast(str, job.job_id)
        self._held_jobs[job_id] = _Held(spool, holder)
        ready = os.path.join(spool, "hosts")
        deadline = time.monotonic() + timeout
        while not os.path.exists(ready):
            if not holder.live:
                self._held_jobs.pop(job_id, None)
                raise LauncherError(
                    f"the batch job {job_id} holding the nodes of {name!r} ended before its agent "
                    f"was ready{f' ({holder.error})' if holder.error else ''}; see {holder.err} "
                    f"and {os.path.join(cwd, name + '.batch.err')}")
            if time.monotonic() > deadline:
                self.release_allocation(job_id)
                raise LauncherError(f"the batch job {job_id} holding the nodes of {name!r} did not "
                                    f"start within {timeout:g} s ({holder.status.value})")
            time.sleep(0.05)
        with open(ready, encoding="utf-8") as handle:
            hosts = json.load(handle)["hosts"]
        if not hosts:
            self.release_allocation(job_id)
            raise LauncherError(f"the batch job {job_id} holding the nodes of {name!r} has no hosts")
        return job_id, list(hosts)

    def release_allocation(self, allocation: str) -> None:
        held = self._held_jobs.pop(allocation, None)
        if held is not None:
            try:
                with open(os.path.join(held.spool, "stop"), "w", encoding="utf-8"):
                    pass
            except OSError:
                pass
        with self.cond:
            tasks = list(self._jobs[allocation].tasks) if allocation in self._jobs else []
            if held is not None and tasks:
                self._spools[allocation] = held.spool  # removed once the job has ended
        if tasks:
            self.stop(tasks)
        else:
            run(self.cancel_argv([allocation]))
            if held is not None:
                shutil.rmtree(held.spool, ignore_errors=True)

    # -- batch jobs -------------------------------------------------------------------------
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
        env_file = self.env_file(job)
        if env_file is not None:
            fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
                handle.write(env_file_text(os.environ, self.own_env_prefixes))
        script = os.path.join(job.cwd, f"{job.name}.batch.sh")
        with open(script, "w", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write(t.cast(str, self.batch_script_text(job, set(encoded_environ()))))
        os.chmod(script, 0o700)
        argv, stdin = self.submit_argv(script)
        proc = run(argv, stdin=stdin, cwd=job.cwd)
        job_id = self.parse_job_id(proc.stdout) if proc.returncode == 0 else None
        if not job_id:
            why = (proc.stderr or proc.stdout).strip() or f"exit status {proc.returncode}"
            raise LauncherError(f"{argv[0]} refused the batch job {job.name!r} ({script}): {why}")
        job.job_id = job_id
        now = time.time()
        with self.cond:
            for task in job.tasks:
                task.status = _QUEUED
                task.pid = job_id
                task.t_launch = now
                self._job_of[task] = job_id
            self._jobs[job_id] = job
            if not all(task.detached for task in job.tasks):  # a detached job outlives the driver
                self._wd_buf += b"=%s\n" % job_id.encode()
            if self._poller is None:
                self._poller = threading.Thread(target=self._poll_jobs, daemon=True,
                                                name=f"smartsim-{self.name}-poller")
                self._poller.start()
        self._wakeup()  # the engine thread writes the job id to the watchdog
        for task in job.tasks:
            if task.owner is not None:
                task.owner._on_spawned(task)

    def _poll_jobs(self) -> None:
        while True:
            if self._interrupted:
                self._interrupted = False
                with self.cond:
                    wanted = [task for task in self._job_of if task.live and stops_on_interrupt(task)]
                    for task in wanted:
                        task.interrupted = True
                if wanted:
                    self.stop(wanted)
            with self.cond:
                jobs = dict(self._jobs)
                if not jobs:
                    self._poller = None
                    self._interrupted = False
                    return
            try:
                states = self.query_states(sorted(jobs))
                finals = {job_id: self.final_state(job_id, states.get(job_id)) for job_id in jobs
                          if job_id not in states or states[job_id].phase == ENDED}
            except LauncherError as exc:
                logger.warning(f"{self.scheduler} status query failed ({exc}); retrying")
                time.sleep(self.poll_interval)
                continue
            except Exception:  # pylint: disable=broad-except  # keep watching whatever happens
                logger.exception(f"could not read the {self.scheduler} status of our jobs; retrying")
                time.sleep(self.poll_interval)
                continue
            with self.cond:
                for job_id, job in jobs.items():
                    if job_id not in self._jobs:
                        continue
                    if job_id in finals:
                        self._job_ended(job, finals[job_id])
                    elif states[job_id].phase == ACTIVE:
                        self._job_started(job)
                for job in jobs.values():
                    if job.tasks and job.tasks[0].owner is not None:
                        job.tasks[0].owner._flush()
                self.cond.notify_all()
            self._wakeup()
            time.sleep(self.poll_interval)

    def _job_started(self, job: BatchJob) -> None:
        if job.job_id in self._started:
            return
        self._started.add(t.cast(str, job.job_id))
        for task in job.tasks:
            if task.status is _QUEUED:
                task.status = _RUNNING
                if task.owner is not None:
                    task.owner._on_launch(task)

    def _job_ended(self, job: BatchJob, state: t.Optional[JobState]) -> None:
        job_id = t.cast(str, job.job_id)
        self._job_started(job)  # a job that ran between two polls still counts as launched
        codes = {task: read_exit_record(task)[0] for task in job.tasks if task.live}
        cancelled = state is not None and state.cancelled
        missing = [task for task, code in codes.items() if code is None and not task.stopping]
        if missing and not cancelled:
            # exit-status files written on another host may show up here a little later
            first = self._ended_at.setdefault(job_id, time.monotonic())
            if time.monotonic() - first < self.exit_file_grace:
                return
        self._ended_at.pop(job_id, None)
        now = time.time()
        word = (f"{state.raw}{'' if state.exit_code is None else f', exit status {state.exit_code}'}"
                if state is not None and state.raw else f"no longer known to {self.scheduler}")
        for task, code in codes.items():
            if code is not None:
                task.returncode = code
                task.status = _COMPLETED if code == 0 else _FAILED
            elif task.stopping or cancelled:
                task.status = _CANCELLED
            else:
                task.status = _FAILED
                task.error = (f"batch job {job_id} ended ({word}) before {task.name} recorded an exit "
                              f"status; see {os.path.join(job.cwd, job.name + '.batch.err')} and {task.err}")
            task.t_end = now
            self._job_of.pop(task, None)
            if task.owner is not None:
                task.owner._on_end(task)
        for task in job.tasks:
            self._job_of.pop(task, None)
        del self._jobs[job_id]
        self._started.discard(job_id)
        self._cancelled.discard(job_id)
        spool = self._spools.pop(job_id, None)
        if spool is not None:
            shutil.rmtree(spool, ignore_errors=True)
        self._wd_buf += b"~%s\n" % job_id.encode()

    # -- stop / introspection ---------------------------------------------------------------
    def stop(self, tasks: t.Sequence[Task], grace: float = DEFAULT_STOP_GRACE) -> None:
        with self.cond:
            # (a job is cancelled once: a second stop, e.g. at exit, while the cancel is under
            # way would only have the scheduler complain)
            job_ids = {self._job_of[task] for task in tasks if task in self._job_of} - self._cancelled
            for task in tasks:
                if task in self._job_of:
                    task.stopping = True
            self._cancelled.update(job_ids)
        local = [task for task in tasks if task not in self._job_of]
        if local:
            super().stop(local, grace)
        if job_ids:
            argv = self.cancel_argv(sorted(job_ids))
            try:
                proc = run(argv)
            except LauncherError as exc:
                proc = subprocess.CompletedProcess(argv, -1, "", str(exc))
            if proc.returncode != 0:
                logger.warning(f"{' '.join(argv)}: {(proc.stderr or proc.stdout).strip()}")
                with self.cond:
                    self._cancelled.difference_update(job_ids)  # a later stop tries again

    def interrupt(self, grace: float = DEFAULT_STOP_GRACE) -> None:
        """Ctrl-C: local processes as the local launcher does; the batch jobs of owners that
        want it are cancelled by the poller thread (a signal handler must not wait on a
        scheduler command)."""
        super().interrupt(grace)
        if self._job_of:
            self._interrupted = True

    def live_tasks(self) -> t.List[Task]:
        tasks = super().live_tasks()
        with self.cond:
            tasks += [task for task in self._job_of if task.live]
        return tasks
