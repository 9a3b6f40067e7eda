"""The test Slurm itself: three nodes that run a step together."""
import socket


def test_srun_on_three_nodes(local_slurm):
    proc = local_slurm.run(["srun", "-N3", "-n3", "hostname"])
    assert proc.returncode == 0, proc.stderr
    # three tasks, one per node; every node of the local Slurm is this host
    assert proc.stdout.split() == [socket.gethostname()] * 3
    assert len(local_slurm.nodes) >= 3

    proc = local_slurm.run(["srun", "-N3", "-n3", "-l", "printenv", "SLURMD_NODENAME"])
    assert proc.returncode == 0, proc.stderr
    assert len(set(proc.stdout.split()[1::2])) == 3, proc.stdout
