"""The local launcher: one engine thread that spawns members and reaps every one of them.

Design
------
* **One waiter reaps everything.** A single long-lived daemon thread (``smartsim-launcher``,
  the engine) owns an ``epoll`` set holding a *pidfd* per running member plus a wake-up
  pipe. It sleeps in ``epoll_wait`` until a member exits or another thread hands it work,
  reaps exactly the members whose pidfd fired (``waitpid(pid, WNOHANG)`` on that pid only,
  never ``waitpid(-1)``, so it cannot steal the exit status of the user's own subprocesses)
  and at once hands the next queued member of that concurrency pool to a spawner. There is
  no polling interval anywhere: a member that exits is seen within microseconds and a
  blocking ``start`` returns as soon as the last member ends. All bookkeeping (statuses,
  pools, timers) happens in this thread.
* **Spawner threads** do the blocking part of a launch: ``_posixsubprocess.fork_exec`` (the
  C core behind ``subprocess.Popen``) with pre-encoded argv/env lists, ``vfork`` allowed,
  stdin ``/dev/null``, stdout/stderr the member's ``.out``/``.err``, every other descriptor
  closed. ``vfork`` suspends the calling thread until the child has exec'd (about a
  millisecond on a loaded machine), so several spawners let launches overlap the way
  ``xargs -P`` does. A spawner appends the member's ``launch`` line to the manifest journal
  right after the fork, before the engine even hears of it. (Other Python versions, whose
  private ``fork_exec`` signature differs, fall back to ``subprocess.Popen`` with the same
  options.)
* **Concurrency pools and prepare-ahead.** Every task belongs to a ``Pool`` with a cap;
  queued tasks wait in the pool's FIFO. While a pool is saturated, preparer threads create
  the next few members' directories and open their ``.out``/``.err``, so file-system latency
  (milliseconds on a busy disk) is off the launch path.
* **Process groups.** Every member starts in a new session (``setsid``), so it leads its own
  process group: ``stop`` signals the whole group (``SIGTERM``, then ``SIGKILL`` after a
  grace period), terminal Ctrl-C reaches only the driver (which then ends the members
  itself), and a stopped member's leftovers are killed with ``SIGKILL`` *before* the
  leader is reaped, while its zombie still pins the pgid so it cannot be recycled.

Why a watchdog process and not ``PR_SET_PDEATHSIG``
---------------------------------------------------
The members must not outlive a driver killed with ``SIGKILL``. ``prctl(PR_SET_PDEATHSIG)``
in a ``preexec_fn`` was measured and rejected:

1. any ``preexec_fn`` forces CPython to ``fork()`` instead of ``vfork()`` and to run Python
   code in the child; in a driver holding a few hundred MB that is 10-20 ms per member
   instead of under 1 ms (measured 13x slower for 500 launches of ``true``), and running
   Python between fork and exec in a threaded process is documented as unsafe;
2. the death signal is tied to the *thread* that forked the child, not the process;
3. it only reaches the direct child, not the grandchildren a shell script or ``mpirun``
   starts.

Instead the first launch starts one tiny watchdog per driver process
(``_watchdog.py``: standard library only, ``python -I -S``, its own session so Ctrl-C
in the terminal does not reach it). The engine writes ``+pgid``/``-pgid`` to its stdin as
members start and are reaped (non-blocking, batched over at most 5 ms). The watchdog waits
on a pidfd of the driver; when the driver is gone, however it died, it sends ``SIGTERM`` to
every registered group and to every process whose environment carries this driver's
launch token ``_SMARTSIM_LAUNCH_TOKEN`` (inherited by members and their descendants, which
also covers a member forked just before its ``+`` line was sent, and grandchildren that left
the group with ``setsid``), waits up to one second, then ``SIGKILL``s what is left and
exits. Members cost nothing extra to launch; a driver killed with ``SIGKILL`` leaves nothing
running about a second later.
"""
from __future__ import annotations

import errno
import heapq
import itertools
import os
import select
import signal
import subprocess
import sys
import threading
import time
import typing as t
import uuid
import weakref

from ...log import get_logger
from ...status import SmartSimStatus
from .base import (DEFAULT_STOP_GRACE, JOB_LOG_SUFFIX, TERMINAL, TOKEN_VAR, Capabilities, Launcher, Pool, Task,
                   register_launcher, stops_on_interrupt)

logger = get_logger(__name__)

_SPAWNS_PER_TURN = 64
_WD_BATCH = 0.005
_MAX_HELD = 256  # prepared-ahead tasks holding open output files, all pools together
ADOPT_WAIT_S = 30.0  # how long adopt() waits for the engine to take processes over
SUBMIT_WAIT_S = 60.0  # how long submit(wait_launched=True) waits for the first wave to run

_QUEUED = SmartSimStatus.STATUS_QUEUED
_RUNNING = SmartSimStatus.STATUS_RUNNING
_COMPLETED = SmartSimStatus.STATUS_COMPLETED
_FAILED = SmartSimStatus.STATUS_FAILED
_CANCELLED = SmartSimStatus.STATUS_CANCELLED
_NEW = SmartSimStatus.STATUS_NEW
_TERMINAL = TERMINAL

_OUT_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC


# ------------------------------------------------------------------------------------------
# spawning


def _encode_argv(argv: t.Sequence[str]) -> t.List[bytes]:
    return [os.fsencode(a) for a in argv]


def _fork_exec_fast(argv: t.List[str], cwd: str, env: t.List[bytes], stdin: int, out: int,
                    err: int) -> int:
    import _posixsubprocess  # pylint: disable=import-outside-toplevel

    args = _encode_argv(argv)
    errpipe_read, errpipe_write = os.pipe()
    try:
        try:
            pid = _posixsubprocess.fork_exec(
                args, (args[0],), True, (errpipe_write,), cwd, env,
                stdin, -1, -1, out, -1, err,
                errpipe_read, errpipe_write,
                True, True, -1, None, None, None, -1, None, True)  # type: ignore[arg-type]
            # (the stub of this private CPython call lags its signature, which varies by version)
        finally:
            os.close(errpipe_write)
        data = bytearray()
        while True:
            part = os.read(errpipe_read, 50000)
            if not part:
                break
            data += part
            if len(data) > 50000:
                break
    finally:
        os.close(errpipe_read)
    if data:
        # exec failed: the child wrote "ExceptionName:hex_errno:description" and exited
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        try:
            _, hex_errno, detail = bytes(data).split(b":", 2)
            code = int(hex_errno, 16)
        except ValueError:
            code, detail = 0, bytes(data)
        text = detail.decode(errors="replace")
        if text == "noexec:chdir":
            raise OSError(code, os.strerror(code) if code else "chdir failed", cwd)
        raise OSError(code, os.strerror(code) if code else text, argv[0])
    return pid


def _open_outputs(task: "Task") -> t.Tuple[int, int]:
    """Open (create, truncate) the task's ``.out``/``.err``, creating its directory if needed."""
    try:
        out = os.open(task.out, _OUT_FLAGS, 0o666)
    except FileNotFoundError:
        os.makedirs(task.cwd, exist_ok=True)
        out = os.open(task.out, _OUT_FLAGS, 0o666)
    if task.err == task.out:
        return out, out
    try:
        err = os.open(task.err, _OUT_FLAGS, 0o666)
    except BaseException:
        os.close(out)
        raise
    return out, err


def _fast_spawn_usable() -> bool:
    if sys.platform != "linux" or sys.version_info[:2] not in ((3, 11), (3, 12)):
        return False
    try:
        import _posixsubprocess  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------------------------------
# the engine


@register_launcher
class LocalLauncher(Launcher):
    """This machine's processes; one engine per driver process (``LocalLauncher.instance()``)."""

    name = "local"
    capabilities = Capabilities(steps=True, batch=False, colocated_db=True)
    #: what the watchdog runs with the ids of the jobs still registered when the driver dies
    #: (schedulers that submit jobs set it; local processes need none)
    cancel_command: t.ClassVar[t.Tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.token = uuid.uuid4().hex
        self._pid = os.getpid()
        self._ep = select.epoll()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._ep.register(self._wake_r, select.EPOLLIN)
        self._commands: "queue_t" = _SimpleQueue()
        self._by_fd: t.Dict[int, Task] = {}
        self._pools: "weakref.WeakSet[Pool]" = weakref.WeakSet()
        self._active_pools: t.List[Pool] = []
        self._timers: t.List[t.Tuple[float, int, Task]] = []
        self._seq = itertools.count()
        self._devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        self._fast = _fast_spawn_usable()
        self._watchdog: t.Optional[subprocess.Popen] = None
        self._wd_fd = -1
        self._wd_buf = bytearray()
        self._wd_since = 0.0
        self._wake_pending = False
        self._touched: t.Set[t.Any] = set()
        self._inflight: t.Set[Task] = set()
        self._spawn_q: "queue_t" = _SimpleQueue()
        self._spawned: "queue_t" = _SimpleQueue()
        self._spawners: t.List[threading.Thread] = []
        self._n_spawners = max(4, min(8, 2 * (os.cpu_count() or 2)))
        self._prep_q: "queue_t" = _SimpleQueue()
        self._preparers: t.List[threading.Thread] = []
        self._held = 0  # tasks holding prepared output files (bounded: descriptors)
        # queued tasks a preparer thread is working on (in no pool's deque meanwhile)
        self._preparing: t.Set[Task] = set()
        self._closing = False
        self._submitted: t.List[t.Tuple[threading.Event, t.List[Task]]] = []
        self._ready_waiters: t.List[t.Tuple[threading.Event, t.List[Task]]] = []
        self._thread = threading.Thread(target=self._run, name="smartsim-launcher", daemon=True)
        self._thread.start()

    # -- API for other threads (all thread-safe) -------------------------------------
    def submit(self, tasks: t.Sequence[Task], wait_launched: bool = True) -> None:
        """Queue tasks (each with its ``pool`` set); they start as their pools allow.

        With ``wait_launched``, return once the first wave (the tasks the pools had room
        for) is running, so a non-blocking start reports ``Running`` straight away."""
        if self._watchdog is None:
            self._start_watchdog()
        for task in tasks:
            task.status = _QUEUED
        ready = threading.Event() if wait_launched else None
        self._command(("submit", list(tasks), ready))
        if ready is not None and not ready.wait(SUBMIT_WAIT_S):
            # they still start as the engine gets to them; only the report of it is late
            logger.warning(f"The local launcher has not started the first of {len(tasks)} "
                           f"tasks after {SUBMIT_WAIT_S:g} s; they show Queued until it does")

    def stop(self, tasks: t.Sequence[Task], grace: float = DEFAULT_STOP_GRACE) -> None:
        """Cancel queued tasks and end running ones (their whole process group):
        ``SIGTERM`` now, ``SIGKILL`` after ``grace`` seconds."""
        self._command(("stop", list(tasks), grace))

    def interrupt(self, grace: float = DEFAULT_STOP_GRACE) -> None:
        """Stop every live task whose owner wants it on Ctrl-C (safe in a signal handler)."""
        self._command(("interrupt", None, grace))

    def wait(self, tasks: t.Sequence[Task], timeout: t.Optional[float] = None) -> bool:
        """Block until every task is terminal; False on timeout. Amortised O(len(tasks)):
        tasks mostly end in launch order, so one cursor walks the list once."""
        deadline = None if timeout is None else time.monotonic() + timeout
        i, n = 0, len(tasks)
        with self.cond:
            while i < n:
                if tasks[i].status in _TERMINAL:
                    i += 1
                    continue
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.cond.wait(remaining)
        return True

    def live_tasks(self) -> t.List[Task]:
        with self.cond:
            running = list(self._by_fd.values()) + list(self._inflight)
            running.extend(task for task in list(self._preparing) if task.status is _QUEUED)
            for pool in list(self._pools):
                running.extend(task for task in pool.pending if task.status is _QUEUED)
                running.extend(task for task in pool.prepared if task.status is _QUEUED)
        return running

    def shutdown(self, grace: float = DEFAULT_STOP_GRACE) -> None:
        """End every live task and wait for them (interpreter exit)."""
        if self._pid != os.getpid():
            return
        tasks = [task for task in self.live_tasks() if not task.detached]
        if tasks:
            self.stop(tasks, grace)
            if not self.wait(tasks, grace + 2.0):
                logger.warning(f"{sum(t.live for t in tasks)} members did not end at exit")

    def close(self) -> None:
        """Close the watchdog's pipe (it then waits for the driver's exit as usual)."""
        fd, self._wd_fd = self._wd_fd, -1
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass

    # -- internals ---------------------------------------------------------------------
    def _command(self, cmd: t.Tuple[t.Any, ...]) -> None:
        self._commands.put(cmd)
        self._wakeup()

    def _wakeup(self) -> None:
        """Wake the engine (one byte in the pipe at most: the engine clears the flag before
        it drains its queues, so nothing put before the clear is missed)."""
        if not self._wake_pending:
            self._wake_pending = True
            try:
                os.write(self._wake_w, b"\0")
            except OSError:
                pass  # full (BlockingIOError): a wake-up is pending anyway

    def _start_watchdog(self) -> None:
        with self.cond:
            if self._watchdog is not None:
                return
            script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_watchdog.py")
            env = {k: v for k, v in os.environ.items() if k != TOKEN_VAR}
            try:
                # pylint: disable-next=consider-using-with
                proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", script, str(os.getpid()), self.token,
                     *self.cancel_command],
                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    close_fds=True, start_new_session=True, env=env)
            except OSError as exc:  # pragma: no cover - no interpreter to run it
                logger.warning(f"could not start the launch watchdog ({exc}); members will not "
                               "be cleaned up if the driver is killed")
                self._watchdog = False  # type: ignore[assignment]
                return
            assert proc.stdin is not None
            fd = os.dup(proc.stdin.fileno())
            proc.stdin.close()
            os.set_blocking(fd, False)
            try:
                import fcntl  # pylint: disable=import-outside-toplevel

                fcntl.fcntl(fd, 1031, 1 << 20)  # F_SETPIPE_SZ: room for bursts of launches
            except OSError:
                pass
            self._wd_fd = fd
            self._watchdog = proc

    def _flush_watchdog(self) -> None:
        """Registrations go to the watchdog in batches (at most ``_WD_BATCH`` s late: the
        token sweep covers a driver killed in between)."""
        if self._wd_fd < 0 or not self._wd_buf:
            if self._wd_fd < 0:
                self._wd_buf.clear()
            return
        now = time.monotonic()
        if not self._wd_since:
            self._wd_since = now
        if now - self._wd_since < _WD_BATCH and len(self._wd_buf) < 4096:
            return
        self._wd_since = 0.0
        try:
            written = os.write(self._wd_fd, self._wd_buf)
            del self._wd_buf[:written]
        except BlockingIOError:
            pass  # retried on the next turn
        except OSError:
            self._wd_buf.clear()

    def _run(self) -> None:
        poll = self._ep.poll
        timeout = -1.0
        while True:
            try:
                events = poll(timeout)
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
            with self.cond:
                try:
                    self._turn(events)
                except Exception:  # pragma: no cover - keep the engine alive whatever happens
                    logger.exception("internal error in the local launcher")
                changed = bool(self._touched)
                for owner in self._touched:
                    try:
                        owner._flush()
                    except Exception:  # pragma: no cover
                        logger.exception("could not record launch events")
                self._touched.clear()
                self._flush_watchdog()
                if changed:
                    self.cond.notify_all()
                timeout = self._next_timeout()

    def _next_timeout(self) -> float:
        if any((pool.pending or pool.prepared) and pool.alive < pool.cap for pool in self._active_pools):
            return 0.0
        timeout = -1.0
        if self._timers:
            timeout = max(0.0, self._timers[0][0] - time.monotonic())
        if self._wd_buf and self._wd_fd >= 0:
            due = max(0.0, self._wd_since + _WD_BATCH - time.monotonic()) if self._wd_since else _WD_BATCH
            timeout = due if timeout < 0 else min(timeout, due)
        return timeout

    def _turn(self, events: t.List[t.Tuple[int, int]]) -> None:
        for fd, _ in events:
            if fd == self._wake_r:
                try:
                    while os.read(self._wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
                self._wake_pending = False
                while True:
                    try:
                        cmd = self._commands.get_nowait()
                    except _Empty:
                        break
                    self._handle(cmd)
                while True:
                    try:
                        result = self._spawned.get_nowait()
                    except _Empty:
                        break
                    if result[0] == "L":
                        self._launched(*result[1:])
                    else:
                        self._prepared(*result[1:])
            else:
                task = self._by_fd.get(fd)
                if task is not None:
                    self._reap(task)
        if self._timers:
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, task = heapq.heappop(self._timers)
                if task.status is _RUNNING and task.pid is not None:
                    _killpg(task.pid, signal.SIGKILL)
        self._fill()
        if self._submitted:
            for ready, tasks in self._submitted:
                self._ready_waiters.append((ready, [task for task in tasks if task.inflight]))
            self._submitted.clear()
        if self._ready_waiters:
            keep = []
            for ready, tasks in self._ready_waiters:
                if any(task.inflight for task in tasks):
                    keep.append((ready, tasks))
                else:
                    ready.set()
            self._ready_waiters = keep

    def _handle(self, cmd: t.Tuple[t.Any, ...]) -> None:
        kind = cmd[0]
        if kind == "submit":
            for task in cmd[1]:
                pool = task.pool
                if pool is None:
                    pool = task.pool = Pool(None)
                if pool not in self._pools:
                    self._pools.add(pool)
                if pool not in self._active_pools:
                    self._active_pools.append(pool)
                pool.pending.append(task)
            if cmd[2] is not None:
                self._submitted.append((cmd[2], cmd[1]))
        elif kind == "adopt":
            self._adopt(cmd[1], cmd[2])
        elif kind == "stop":
            self._stop(cmd[1], cmd[2])
        elif kind == "interrupt":
            tasks = [task for task in (*self._by_fd.values(), *self._inflight, *self._queued())
                     if stops_on_interrupt(task)]
            for task in tasks:
                task.interrupted = True
            self._stop(tasks, cmd[2])

    def _stop(self, tasks: t.Sequence[Task], grace: float) -> None:
        now_wall = time.time()
        deadline = time.monotonic() + max(0.0, grace)
        for task in tasks:
            if task.inflight:
                # being spawned right now: ended as soon as its pid is known
                if not task.stopping or grace <= 0:
                    task.stopping = True
                    task.kill_at = deadline
            elif task.status is _QUEUED:
                task.status = _CANCELLED
                task.t_end = now_wall
                self._release(task)
                self._ended(task)
            elif task.status is _RUNNING and not task.stopping and task.pid is not None:
                task.stopping = True
                _killpg(task.pid, signal.SIGTERM)
                heapq.heappush(self._timers, (deadline, next(self._seq), task))
            elif task.status is _RUNNING and task.stopping and grace <= 0 and task.pid is not None:
                _killpg(task.pid, signal.SIGKILL)

    def _queued(self) -> t.List[Task]:
        """Every task still waiting for a slot: pending, being prepared, or prepared."""
        queued = [task for task in self._preparing if task.status is _QUEUED]
        for pool in self._active_pools:
            queued.extend(task for task in pool.pending if task.status is _QUEUED)
            queued.extend(task for task in pool.prepared if task.status is _QUEUED)
        return queued

    def _fill(self) -> None:
        """Start queued tasks while their pools have room. A saturated pool also prepares
        the next few (directory, ``.out``/``.err`` opened by a preparer thread) while its
        members run, so file-system latency is off the launch path."""
        budget = _SPAWNS_PER_TURN
        keep = []
        for pool in self._active_pools:
            pending, prepared = pool.pending, pool.prepared
            while pool.alive < pool.cap and budget > 0 and (prepared or pending):
                task = prepared.popleft() if prepared else pending.popleft()
                if task.status is not _QUEUED:
                    self._release(task)
                    continue  # cancelled while queued
                budget -= 1
                pool.alive += 1
                if task.fds is not None:
                    self._held -= 1  # the spawner owns (and closes) them now
                task.inflight = True
                self._inflight.add(task)
                if len(self._spawners) < self._n_spawners:
                    self._add_spawner()
                self._spawn_q.put(task)
            if pool.alive >= pool.cap:
                room = pool.lookahead - len(prepared) - pool.preparing
                while pending and room > 0 and self._held < _MAX_HELD:
                    task = pending.popleft()
                    if task.status is not _QUEUED:
                        continue
                    room -= 1
                    pool.preparing += 1
                    self._preparing.add(task)
                    self._held += 1
                    if len(self._preparers) < 2:
                        self._add_preparer()
                    self._prep_q.put(task)
            if pending or prepared:
                keep.append(pool)
        self._active_pools = keep

    def _release(self, task: Task) -> None:
        """Close the prepared output files of a task that will not be launched."""
        fds = task.fds
        if fds is not None:
            task.fds = None
            self._held -= 1
            for fd in set(fds):
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _prepared(self, task: Task, fds: t.Optional[t.Tuple[int, int]]) -> None:
        pool = task.pool
        assert pool is not None
        pool.preparing -= 1
        self._preparing.discard(task)
        if fds is None:
            self._held -= 1  # could not prepare: the spawner retries and reports the error
        else:
            task.fds = fds
        if task.status is not _QUEUED:
            self._release(task)
            return
        pool.prepared.append(task)
        if pool not in self._active_pools:
            self._active_pools.append(pool)

    def _add_preparer(self) -> None:
        thread = threading.Thread(target=self._preparer, name=f"smartsim-prepare-{len(self._preparers)}",
                                  daemon=True)
        self._preparers.append(thread)
        thread.start()

    def _preparer(self) -> None:
        get, put = self._prep_q.get, self._spawned.put
        while True:
            task = get()
            try:
                fds: t.Optional[t.Tuple[int, int]] = _open_outputs(task)
            except Exception:  # pylint: disable=broad-except
                fds = None
            put(("P", task, fds))
            self._wakeup()

    # -- spawner threads: the blocking part of a launch (files, fork/exec) happens here,
    # several at once, so one member's exec never holds up the next launch or a reap
    def _add_spawner(self) -> None:
        thread = threading.Thread(target=self._spawner, name=f"smartsim-spawner-{len(self._spawners)}",
                                  daemon=True)
        self._spawners.append(thread)
        thread.start()

    def _spawner(self) -> None:
        get, put = self._spawn_q.get, self._spawned.put
        while True:
            task = get()
            try:
                pid, fd = self._spawn(task)
                task.pid, task.t_launch = pid, time.time()
                owner = task.owner
                if owner is not None:
                    try:
                        owner._on_spawned(task)
                    except Exception:  # pylint: disable=broad-except  # pragma: no cover
                        logger.exception("could not record a launch")
                put(("L", task, pid, fd, None))
            except Exception as exc:  # pylint: disable=broad-except  # reported as a failed launch
                put(("L", task, None, -1, exc))
            self._wakeup()

    def _spawn(self, task: Task) -> t.Tuple[int, int]:
        out = err = -1
        try:
            if task.fds is not None:
                (out, err), task.fds = task.fds, None  # handed over by _fill
            else:
                out, err = _open_outputs(task)
            if self._fast:
                pid = _fork_exec_fast(task.argv, task.cwd, task.env, self._devnull, out, err)
            else:
                env = dict(item.decode(errors="surrogateescape").split("=", 1) for item in task.env)
                # pylint: disable-next=consider-using-with
                task.popen = subprocess.Popen(task.argv, executable=task.argv[0], cwd=task.cwd,
                                              env=env, stdin=subprocess.DEVNULL, stdout=out,
                                              stderr=err, close_fds=True, start_new_session=True)
                pid = task.popen.pid
        finally:
            if out >= 0:
                os.close(out)
            if err >= 0 and err != out:
                os.close(err)
        try:
            fd = os.pidfd_open(pid)
        except OSError:  # pragma: no cover - the pid is our unreaped child, so it exists
            fd = -1
        return pid, fd

    def _launched(self, task: Task, pid: t.Optional[int], fd: int, exc: t.Optional[BaseException]) -> None:
        """Engine side of a launch: bookkeeping, or a failed launch."""
        task.inflight = False
        self._inflight.discard(task)
        pool = task.pool
        if pid is None:
            if pool is not None:
                pool.alive -= 1
                if (pool.pending or pool.prepared) and pool not in self._active_pools:
                    self._active_pools.append(pool)
            task.status = _FAILED
            if isinstance(exc, OSError):
                what = exc.filename or task.argv[0]
                task.error = f"could not launch {task.name}: {exc.strerror or exc} ({what})"
                task.returncode = 127 if exc.errno in (errno.ENOENT, errno.ENOEXEC) else (
                    126 if exc.errno == errno.EACCES else None)
            else:
                task.error = f"could not launch {task.name}: {exc!r}"
            task.t_launch = task.t_end = time.time()
            logger.error(task.error)
            self._ended(task)
            return
        task.status = _RUNNING
        task.pidfd = fd
        if fd >= 0:
            self._by_fd[fd] = task
            self._ep.register(fd, select.EPOLLIN)
        if self._wd_fd >= 0 and not task.detached:
            self._wd_buf += b"+%d\n" % pid
        owner = task.owner
        if owner is not None:
            owner._on_launch(task)
            self._touched.add(owner)
        if task.stopping:
            _killpg(pid, signal.SIGTERM)
            heapq.heappush(self._timers, (task.kill_at, next(self._seq), task))

    def _reap(self, task: Task) -> None:
        pid = task.pid
        assert pid is not None
        if task.adopted:
            self._reap_adopted(task)
            return
        if task.stopping:
            # the leader is a zombie until waitpid, so the pgid cannot have been recycled:
            # end whatever else the member left in its group
            _killpg(pid, signal.SIGKILL)
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            got, status = pid, None
        if got == 0:
            return  # spurious wake-up; still running
        self._forget_pidfd(task)
        task.t_end = time.time()
        if status is None:
            # someone else (os.wait(), SIGCHLD=SIG_IGN) collected it first
            task.returncode = None
            task.error = f"the exit status of {task.name} (pid {pid}) was collected by another waiter"
            logger.warning(task.error)
            task.status = _CANCELLED if task.stopping else _FAILED
        else:
            rc = os.waitstatus_to_exitcode(status)
            task.returncode = rc
            recorded, _, stopped = read_exit_record(task) if task.detached and rc and rc < 0 else (0, None, False)
            if task.stopping or stopped or recorded is None:
                # a detached run stopped by another driver: its supervisor says so, or was
                # killed itself before it could
                task.status = _CANCELLED
            else:
                task.status = _COMPLETED if rc == 0 else _FAILED
        if task.popen is not None:
            task.popen.returncode = task.returncode if task.returncode is not None else -1
            task.popen = None
        if task.pool is not None:
            task.pool.alive -= 1
            if (task.pool.pending or task.pool.prepared) and task.pool not in self._active_pools:
                self._active_pools.append(task.pool)
        if self._wd_fd >= 0 and not task.detached:
            self._wd_buf += b"-%d\n" % pid
        self._ended(task)

    # -- processes another driver started (detached, then attached here) --------------------
    def adopt(self, tasks: t.Sequence[Task]) -> None:
        """Watch running processes this process did not start (their ``pid`` set, their
        supervisor recording the exit status in ``exit_status_file(task)``): each becomes
        Running and ends when its process does. Returns once they are watched."""
        done = threading.Event()
        self._command(("adopt", list(tasks), done))
        if not done.wait(ADOPT_WAIT_S):
            # the engine takes them over when it gets to it; until then their status lags
            logger.warning(f"The local launcher has not taken over {len(tasks)} running "
                           f"processes after {ADOPT_WAIT_S:g} s; their status may lag")

    def _adopt(self, tasks: t.Sequence[Task], done: threading.Event) -> None:
        for task in tasks:
            task.adopted = task.detached = True
            try:
                fd = os.pidfd_open(int(t.cast(int, task.pid)))
            except (OSError, TypeError, ValueError):
                fd = -1
            if fd < 0:
                self._finish_adopted(task)
                continue
            task.status = _RUNNING
            task.pidfd = fd
            self._by_fd[fd] = task
            self._ep.register(fd, select.EPOLLIN)
        done.set()

    def _forget_pidfd(self, task: Task) -> None:
        """Stop watching the pidfd of a task whose process has exited, and close it."""
        fd = task.pidfd
        try:
            self._ep.unregister(fd)
        except (OSError, ValueError):
            pass
        self._by_fd.pop(fd, None)
        os.close(fd)
        task.pidfd = -1

    def _reap_adopted(self, task: Task) -> None:
        # No group clean-up once it is gone: its parent (not us) reaped it at once, so its
        # pid (the group id) may already belong to another process.
        self._forget_pidfd(task)
        self._finish_adopted(task)

    def _finish_adopted(self, task: Task) -> None:
        """An adopted process is gone: its status from its supervisor's exit-status file."""
        code, t_end, stopped = read_exit_record(task)
        task.returncode = code
        task.t_end = t_end if t_end is not None else time.time()
        if task.stopping or stopped:
            task.status = _CANCELLED
        elif code is None:
            # its supervisor always records the end unless it was killed itself: stopped by
            # someone else (another driver, smart teardown, a kill)
            task.status = _CANCELLED
            task.error = (f"{task.name} (pid {task.pid}) was ended by a signal before it could record "
                          f"an exit status ({exit_status_file(task)})")
        else:
            task.status = _COMPLETED if code == 0 else _FAILED
        self._ended(task)

    def _ended(self, task: Task) -> None:
        owner = task.owner
        if owner is not None:
            owner._on_end(task)
            self._touched.add(owner)


EXIT_SUFFIX = ".exitcode"
SUPERVISOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_supervisor.py")


def exit_status_file(task: Task) -> str:
    """Where a task records its own exit status: a batch job's tasks, and a detached
    task's supervisor (``<cwd>/<name>.exitcode``)."""
    return os.path.join(task.cwd, task.name + EXIT_SUFFIX)


def read_exit_record(task: Task) -> t.Tuple[t.Optional[int], t.Optional[float], bool]:
    """(exit status, when, whether it was stopped) as recorded (None, None, False: nothing)."""
    try:
        with open(exit_status_file(task), encoding="utf-8") as handle:
            lines = handle.read().split()
            return int(lines[0]), os.fstat(handle.fileno()).st_mtime, "stopped" in lines[1:]
    except (OSError, ValueError, IndexError):
        return None, None, False


def supervised_argv(task: Task, journal: t.Optional[str], session: str) -> t.List[str]:
    """``task.argv`` under the supervisor that records its end (a detached task: no
    driver may be there to reap it)."""
    import json  # pylint: disable=import-outside-toplevel

    spec = {"exit_file": exit_status_file(task), "journal": journal, "session": session,
            "name": task.name, "run_id": task.run_id,
            "job_log": os.path.join(task.cwd, task.name + JOB_LOG_SUFFIX) if journal else None}
    return [sys.executable, "-I", "-S", SUPERVISOR, json.dumps(spec, separators=(",", ":")), "--",
            *task.argv]


def process_state(pid: int) -> t.Optional[t.Tuple[str, int]]:
    """``(state letter, start time)`` of ``pid`` from one read of ``/proc/<pid>/stat``
    (fields 3 and 22; the start time in clock ticks since boot); None when there is no such
    process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return fields[0].decode("ascii", "replace"), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def process_start_time(pid: int) -> t.Optional[int]:
    """The start time of ``pid`` in clock ticks since boot: with the pid, it names one
    process (a recycled pid has another start time)."""
    state = process_state(pid)
    return None if state is None else state[1]


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# a queue safe to use from a signal handler (SimpleQueue.put is reentrant)
import queue as _queue  # noqa: E402  pylint: disable=wrong-import-position

_SimpleQueue = _queue.SimpleQueue
_Empty = _queue.Empty
queue_t = _queue.SimpleQueue


# ------------------------------------------------------------------------------------------


def get_launcher() -> LocalLauncher:
    """This process's local launcher (started on first use; a forked child gets its own)."""
    return t.cast(LocalLauncher, LocalLauncher.instance())
