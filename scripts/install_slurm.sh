#!/usr/bin/env bash
# Install what the Slurm tests need on Debian: slurmctld, slurmd, the client commands (srun,
# sbatch, squeue, ...) and munge (Debian's Slurm 22.05). Does nothing where they are installed.
# No service is started or configured here: scripts/slurm_local.sh runs a private Slurm under a
# temporary directory. Not part of the plain install (scripts/install.sh): only the Slurm tests
# need it.
set -euo pipefail

have_all() {
  local b
  for b in slurmctld slurmd srun sbatch squeue scancel sinfo scontrol munged mungekey; do
    command -v "$b" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$b" >/dev/null 2>&1 || return 1
  done
}

if have_all; then
  exit 0
fi
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
# no recommends: they would add ~20 optional plugin packages (hdf5, rrd, influxdb, ...)
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  slurmctld slurmd slurm-client munge >/dev/null
# Where the machine lets packages start services, Debian starts a system munged (and tries
# slurmd/slurmctld, which fail without /etc/slurm/slurm.conf); the tests use their own.
for s in slurmctld slurmd munge; do
  $SUDO service "$s" stop >/dev/null 2>&1 || true
done
have_all || { echo "install_slurm.sh: Slurm commands still missing after apt-get install" >&2; exit 1; }
