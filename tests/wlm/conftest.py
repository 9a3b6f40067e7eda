"""The PBS, LSF and Cobalt launchers against FAKE schedulers (``tests/fake_wlm``): small
stand-ins for ``qsub``/``qstat``/``qdel``, ``bsub``/``bjobs``/``bkill`` and Cobalt's
``qsub``/``qstat``/``qdel`` that run jobs as local processes and print what the real tools
print. None of these schedulers can be installed here.

``fake_wlm(system)`` puts one fake on PATH (ahead of everything), gives it a state directory,
makes the launchers poll fast, and afterwards ends every launcher instance and every fake
job still running. ``FakeWLM.calls(...)`` are the fake's invocations (to count status
queries), ``FakeWLM.jobs()`` its jobs as it keeps them.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import psutil
import pytest

from smartsim._core.launcher import base

FAKE = Path(__file__).resolve().parents[1] / "fake_wlm"
SYSTEMS = ("pbs", "lsf", "cobalt")
STATUS_COMMAND = {"pbs": "qstat", "pals": "qstat", "lsf": "bjobs", "cobalt": "qstat"}
CANCEL_COMMAND = {"pbs": "qdel", "pals": "qdel", "lsf": "bkill", "cobalt": "qdel"}
SUBMIT_COMMAND = {"pbs": "qsub", "pals": "qsub", "lsf": "bsub", "cobalt": "qsub"}
# the variables a scheduler sets in a job (an "allocation" the driver runs in)
_WLM_PREFIXES = ("PBS_", "LSB_", "LSF_", "COBALT_", "SLURM_")


@dataclasses.dataclass
class FakeWLM:
    system: str          # the fake's directory: pbs, lsf, cobalt
    launcher: str        # the launcher name tests use (pals uses the pbs fake)
    bin: Path
    state: Path
    env: t.Dict[str, str]  # the environment with the fake on PATH (for driver subprocesses)

    def calls(self, command: t.Optional[str] = None) -> t.List[t.List[str]]:
        """The fake's invocations, in order: ``[command, args...]``."""
        try:
            lines = (self.state / "calls.log").read_text().splitlines()
        except FileNotFoundError:
            return []
        calls = [json.loads(line)[1:] for line in lines if line.strip()]
        return [call for call in calls if command is None or call[0] == command]

    def jobs(self) -> t.List[t.Dict[str, t.Any]]:
        jobs = []
        for path in sorted((self.state / "jobs").glob("*/job.json"), key=lambda p: int(p.parent.name)):
            jobs.append(json.loads(path.read_text()))
        return jobs

    def job(self, job_id: str) -> t.Dict[str, t.Any]:
        seq = int(str(job_id).split(".")[0])
        return json.loads((self.state / "jobs" / str(seq) / "job.json").read_text())

    def job_processes_alive(self, job: t.Dict[str, t.Any]) -> t.List[int]:
        """Processes of a fake job still running (its script and what it started)."""
        alive = []
        for pid in (job.get("runner"), job.get("pid")):
            if not pid:
                continue
            try:
                proc = psutil.Process(pid)
                if proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
                alive += [p.pid for p in proc.children(recursive=True)
                          if p.status() != psutil.STATUS_ZOMBIE]
            except psutil.NoSuchProcess:
                pass
        return sorted(set(alive))

    def allocation(self, nodes: int = 3, job_id: str = "999") -> t.Dict[str, str]:
        """The variables of a job the driver runs in (an interactive allocation)."""
        nodefile = self.state / f"alloc-{job_id}.nodes"
        nodefile.write_text("localhost\n" * nodes)
        if self.system == "pbs":
            return {"PBS_JOBID": f"{job_id}.fakepbs", "PBS_NODEFILE": str(nodefile),
                    "PBS_ENVIRONMENT": "PBS_INTERACTIVE"}
        if self.system == "lsf":
            return {"LSB_JOBID": job_id, "LSB_MCPU_HOSTS": f"localhost {nodes}",
                    "LSB_HOSTS": " ".join(["localhost"] * nodes), "LSB_DJOB_HOSTFILE": str(nodefile)}
        return {"COBALT_JOBID": job_id, "COBALT_NODEFILE": str(nodefile),
                "COBALT_PARTNAME": f"0-{nodes - 1}", "COBALT_PARTSIZE": str(nodes)}


def wait_until(predicate: t.Callable[[], t.Any], timeout: float = 15.0, step: float = 0.05) -> t.Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def _end_launchers() -> None:
    for name in ("pbs", "pals", "lsf", "cobalt"):
        try:
            cls = base.launcher_class(name)
        except Exception:  # pylint: disable=broad-except
            continue
        launcher = base._INSTANCES.pop(cls, None)  # pylint: disable=protected-access
        if launcher is not None:
            launcher.shutdown(0.5)
            launcher.close()


def _kill_fake_jobs(fake: FakeWLM) -> None:
    """Whatever a test left: every fake job's runner and its processes."""
    for job in fake.jobs() if (fake.state / "jobs").exists() else []:
        runner = job.get("runner")
        if not runner:
            continue
        try:
            proc = psutil.Process(runner)
            procs = proc.children(recursive=True) + [proc]
        except psutil.NoSuchProcess:
            continue
        for p in procs:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass


@pytest.fixture
def fake_wlm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> t.Iterator[t.Callable[..., FakeWLM]]:
    made: t.List[FakeWLM] = []

    def make(system: str, launcher: t.Optional[str] = None) -> FakeWLM:
        for key in list(os.environ):
            if key.startswith(_WLM_PREFIXES) and key not in ("SLURM_CONF",):
                monkeypatch.delenv(key)
        state = tmp_path / f"fake-{system}"
        state.mkdir()
        bin_dir = FAKE / system
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        monkeypatch.setenv("FAKE_WLM_STATE", str(state))
        monkeypatch.setenv("FAKE_WLM_PYTHON", sys.executable)
        monkeypatch.setenv("FAKE_WLM_QUEUE_DELAY", "0.3")
        for name in ("PBS", "PALS", "LSF", "COBALT"):
            monkeypatch.setenv(f"SMARTSIM_{name}_POLL_INTERVAL", "0.1")
        fake = FakeWLM(system, launcher or system, bin_dir, state, dict(os.environ))
        made.append(fake)
        return fake

    _end_launchers()
    try:
        yield make
    finally:
        _end_launchers()
        for fake in made:
            _kill_fake_jobs(fake)


def run_driver(code: str, tmp_path: Path, env: t.Dict[str, str], timeout: float = 200,
               args: t.Sequence[str] = ()) -> "subprocess.CompletedProcess[str]":
    path = tmp_path / "driver.py"
    path.write_text(code)
    return subprocess.run([sys.executable, str(path), *args], env=dict(env, SMARTSIM_LOG_LEVEL="quiet"),
                          capture_output=True, text=True, timeout=timeout, cwd=str(tmp_path))
