"""A real Slurm for the Slurm tests: the session fixture ``local_slurm``.

- ``SLURM_CONF`` set (CI: ``.ci/run`` starts ``scripts/slurm_local.sh`` before the tests): that
  Slurm is used as it is, if its controller answers.
- Else, where Slurm and munge are installed and we are root: a private single-host Slurm is
  started under a temporary directory for the session and stopped (and removed) at its end
  (``SMARTSIM_TEST_SLURM_KEEP=1`` keeps the directory and its logs).
- Else the Slurm tests skip with the reason; ``SMARTSIM_TEST_SLURM_REQUIRED=1`` (CI) turns
  that skip into a failure.

While the fixture is up, ``os.environ`` carries ``SLURM_CONF`` (so that code under test that
runs ``srun``/``sbatch``/``squeue`` finds the cluster) and none of an outer job's ``SLURM_*``
variables; ``local_slurm.env`` is that environment for ``subprocess``.
"""
import dataclasses
import os
import shutil
import subprocess
import tempfile
import typing as t
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "slurm_local.sh"
NOT_INSTALLED = "Slurm is not installed (slurmctld/slurmd/srun not on PATH)"
# what the fixture keeps of an outer environment's SLURM_* variables
_KEEP_SLURM_VARS = {"SLURM_CONF"}


def slurm_required() -> bool:
    return os.environ.get("SMARTSIM_TEST_SLURM_REQUIRED", "") == "1"


def _unavailable(reason: str) -> t.NoReturn:
    if slurm_required():
        pytest.fail(f"{reason} (SMARTSIM_TEST_SLURM_REQUIRED=1: the Slurm tests must run)",
                    pytrace=False)
    pytest.skip(reason)


@dataclasses.dataclass(frozen=True)
class LocalSlurm:
    conf: str                    # its slurm.conf
    dir: t.Optional[str]         # its directory (logs under dir/log) when it is a local one
    nodes: t.Tuple[str, ...]     # node names of the default partition ("node1", "node2", ...)
    env: t.Dict[str, str]        # environment pointing Slurm's commands at it
    started_here: bool           # started by this fixture (and stopped at the session's end)

    def run(self, args: t.Sequence[str], timeout: float = 60,
            **kwargs: t.Any) -> "subprocess.CompletedProcess[str]":
        """Run a command (``srun``, ``sbatch``, ``squeue`` ...) against this Slurm."""
        kwargs.setdefault("capture_output", True)
        return subprocess.run(list(args), env=self.env, text=True, timeout=timeout, **kwargs)


def _slurm_env(conf: str, slurm_dir: t.Optional[str]) -> t.Dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SLURM_") or k in _KEEP_SLURM_VARS}
    env["SLURM_CONF"] = conf
    if slurm_dir:
        env["SMARTSIM_LOCAL_SLURM_DIR"] = slurm_dir
    return env


def _nodes(env: t.Dict[str, str]) -> t.Tuple[str, ...]:
    """Node names of the default partition, once the controller answers; None if it doesn't."""
    try:
        ping = subprocess.run(["scontrol", "ping"], env=env, capture_output=True, text=True,
                              timeout=30)
        if ping.returncode != 0 or "is UP" not in ping.stdout:
            raise RuntimeError((ping.stdout + ping.stderr).strip())
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %P"], env=env,
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        raise RuntimeError(str(exc) or type(exc).__name__) from exc
    nodes = []
    for line in out.splitlines():
        name, part = line.split()
        if part.endswith("*") and name not in nodes:
            nodes.append(name)
    return tuple(nodes)


def _start_local() -> LocalSlurm:
    missing = [b for b in ("slurmctld", "slurmd", "srun") if shutil.which(b) is None]
    if missing:
        _unavailable(NOT_INSTALLED)
    if shutil.which("munged") is None:
        _unavailable("munge is not installed (munged not on PATH)")
    if os.geteuid() != 0:
        _unavailable("the private Slurm needs root (slurmd starts job steps as their user)")
    slurm_dir = tempfile.mkdtemp(prefix="smartsim-slurm-")
    proc = subprocess.run(["bash", str(SCRIPT), "start", slurm_dir], capture_output=True,
                          text=True, timeout=180, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        subprocess.run(["bash", str(SCRIPT), "stop", slurm_dir], capture_output=True,
                       timeout=120, stdin=subprocess.DEVNULL)
        pytest.fail(f"could not start the private Slurm under {slurm_dir}:\n{proc.stderr}",
                    pytrace=False)
    conf = os.path.join(slurm_dir, "slurm.conf")
    env = _slurm_env(conf, slurm_dir)
    return LocalSlurm(conf=conf, dir=slurm_dir, nodes=_nodes(env), env=env, started_here=True)


def _stop_local(cluster: LocalSlurm) -> None:
    keep = os.environ.get("SMARTSIM_TEST_SLURM_KEEP", "") == "1"
    proc = subprocess.run(["bash", str(SCRIPT), "stop" if keep else "clean", str(cluster.dir)],
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"could not stop the private Slurm under {cluster.dir}:\n"
                           f"{proc.stderr}")


@pytest.fixture(scope="session")
def local_slurm() -> t.Iterator[LocalSlurm]:
    """A running Slurm (see the module's docstring); skips or fails where there is none."""
    conf = os.environ.get("SLURM_CONF")
    if conf:
        if not os.path.isfile(conf):
            _unavailable(f"SLURM_CONF={conf} is set but there is no such file")
        slurm_dir = os.environ.get("SMARTSIM_LOCAL_SLURM_DIR") or None
        env = _slurm_env(conf, slurm_dir)
        try:
            nodes = _nodes(env)
        except RuntimeError as exc:
            _unavailable(f"SLURM_CONF={conf} is set but its slurmctld does not answer: {exc}")
        cluster = LocalSlurm(conf=conf, dir=slurm_dir, nodes=nodes, env=env,
                             started_here=False)
    else:
        cluster = _start_local()
    mp = pytest.MonkeyPatch()
    for key in list(os.environ):
        if key.startswith("SLURM_") and key not in cluster.env:
            mp.delenv(key)
    for key in ("SLURM_CONF", "SMARTSIM_LOCAL_SLURM_DIR"):
        if key in cluster.env:
            mp.setenv(key, cluster.env[key])
    try:
        yield cluster
    finally:
        mp.undo()
        if cluster.started_here:
            _stop_local(cluster)
