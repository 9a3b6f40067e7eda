#!/usr/bin/env bash
# Install what the Slurm tests need on Debian: slurmctld, slurmd, the client commands (srun,
# sbatch, squeue, ...) and munge (Debian's Slurm 22.05). Does nothing where they are installed.
# No service is started or configured here: scripts/slurm_local.sh runs a private Slurm under a
# temporary directory. Not part of the plain install (scripts/install.sh): only the Slurm tests
# need it.
#
#   scripts/install_slurm.sh --accounting   also slurmdbd and mariadb-server, for
#                                           SLURM_LOCAL_ACCOUNTING=1 (benchmarks/bench_slurm.py:
#                                           SmartSim 0.8.0's Slurm launcher needs sacct)
set -euo pipefail

ACCOUNTING=0
[ "${1:-}" = --accounting ] && ACCOUNTING=1

have_all() {
  local b
  local extra=()
  [ $ACCOUNTING = 0 ] || extra=(slurmdbd mariadbd mariadb-install-db)
  for b in slurmctld slurmd srun sbatch squeue scancel sinfo scontrol munged mungekey "${extra[@]}"; do
    command -v "$b" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$b" >/dev/null 2>&1 || return 1
  done
}

if have_all; then
  exit 0
fi
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
# no recommends: they would add ~20 optional plugin packages (hdf5, rrd, influxdb, ...)
PACKAGES=(slurmctld slurmd slurm-client munge)
[ $ACCOUNTING = 0 ] || PACKAGES+=(slurmdbd mariadb-server)
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  "${PACKAGES[@]}" >/dev/null
# Where the machine lets packages start services, Debian starts a system munged (and tries
# slurmd/slurmctld, which fail without /etc/slurm/slurm.conf); the tests use their own.
for s in slurmctld slurmd munge slurmdbd mariadb; do
  $SUDO service "$s" stop >/dev/null 2>&1 || true
done
have_all || { echo "install_slurm.sh: Slurm commands still missing after apt-get install" >&2; exit 1; }
