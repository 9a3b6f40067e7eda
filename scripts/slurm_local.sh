#!/usr/bin/env bash
# A private, single-host Slurm for the Slurm tests and CI.
#
#   scripts/slurm_local.sh start [DIR]   start it under DIR (created with mktemp when omitted);
#                                        waits until every node is idle; prints DIR on stdout
#   scripts/slurm_local.sh env DIR       print the exports that point Slurm's commands at it
#   scripts/slurm_local.sh status DIR    exit 0 when all its daemons run (and say so), else 1
#   scripts/slurm_local.sh stop DIR      cancel its jobs, end every process it started (munged,
#                                        slurmctld, the slurmds, their slurmstepds and the jobs'
#                                        processes); DIR and its logs stay
#   scripts/slurm_local.sh clean DIR     stop, then remove DIR
#
# Typical use:
#   DIR=$(scripts/slurm_local.sh start) && eval "$(scripts/slurm_local.sh env "$DIR")"
#   srun -N3 -n3 hostname
#   scripts/slurm_local.sh clean "$DIR"
#
# Everything lives under DIR: slurm.conf, munge key/socket/pid/log, slurmctld state, slurmd
# spools, pid files and logs (DIR/log). No system path is read for configuration or written:
# munged runs with its own key and socket (slurm.conf's AuthInfo=socket=... points every Slurm
# command and daemon at it). The cluster: nodes node1..nodeN (N=3) that are all this host
# (NodeAddr=127.0.0.1, one slurmd per node on its own port), partition "debug" (default),
# whole-node allocations (select/linear) that jobs may share (OverSubscribe=FORCE), no
# accounting. Needs root (slurmd starts job steps as the submitting user) and Debian's
# slurmctld, slurmd, slurm-client and munge (scripts/install_slurm.sh installs them).
#
# Worth knowing (Slurm 22.05): a step started without --exact/-c/--overlap is given every CPU
# the job has on its nodes, so such steps run one per node at a time (more wait: "step creation
# temporarily disabled, retrying"); `srun --exact -n1` takes one CPU, `--overlap` shares. A new
# allocation right after another one ended may wait up to ~1 s ("queued and waiting for
# resources") while the previous job's nodes complete. Without accounting `sacct` prints
# "Slurm accounting storage is disabled" and exits 1; `scontrol show job` has state and exit
# code for MinJobAge seconds after the end.
#
# Knobs (environment): SLURM_LOCAL_NODES (3), SLURM_LOCAL_CPUS (CPUs per node, 32: a fiction
# for 2-core machines, room for `srun --exact` steps and many tasks per node), SLURM_LOCAL_TIMEOUT
# (seconds start waits for idle nodes, 60), SLURM_LOCAL_PORT (first of NODES+1 consecutive TCP
# ports, NODES+3 with accounting; picked free when unset), SLURM_LOCAL_MIN_JOB_AGE (seconds a
# finished job stays in slurmctld, 30), SLURM_LOCAL_EXTRA_CONF (lines appended to slurm.conf),
# SLURM_LOCAL_ACCOUNTING (1: job accounting, so that `sacct` answers: a private MariaDB server
# and slurmdbd run under DIR too, on 127.0.0.1; needs Debian's slurmdbd and mariadb-server,
# which `scripts/install_slurm.sh --accounting` installs. SmartSim 0.8.0's Slurm launcher needs
# it: it finds and polls its steps with sacct only).
set -euo pipefail

PROG=$(basename "$0")
MARK=_SMARTSIM_LOCAL_SLURM_OF  # in the daemons' environment only: how stop finds them

die() { echo "$PROG: $*" >&2; exit 1; }
say() { echo "$PROG: $*" >&2; }

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

CMD=${1:-}
DIR=${2:-}
NODES=${SLURM_LOCAL_NODES:-3}
CPUS=${SLURM_LOCAL_CPUS:-32}
TIMEOUT=${SLURM_LOCAL_TIMEOUT:-60}
MIN_JOB_AGE=${SLURM_LOCAL_MIN_JOB_AGE:-30}
ACCOUNTING=${SLURM_LOCAL_ACCOUNTING:-0}

need_dir() {
  [ -n "$DIR" ] || die "$CMD: give the directory (the one 'start' printed)"
  [ -d "$DIR" ] || die "$CMD: no such directory: $DIR"
  DIR=$(cd "$DIR" && pwd -P)
}

node_names() { local i; for ((i = 1; i <= NODES; i++)); do echo "node$i"; done; }

# pid of a daemon from its pid file, if that process is alive and is ours (its command line
# names a file under DIR, or -- slurmdbd, whose command line names nothing -- its environment
# carries our marker; so a recycled pid is not mistaken for it)
live_pid() {
  local f=$1 pid
  [ -s "$f" ] || return 1
  pid=$(tr -dc '0-9' <"$f")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/" ||
    grep -qzxF -- "$MARK=$DIR" "/proc/$pid/environ" 2>/dev/null || return 1
  echo "$pid"
}

munge_pidfile() { echo "$DIR/munge/munged.pid"; }
ctld_pidfile() { echo "$DIR/run/slurmctld.pid"; }
slurmd_pidfile() { echo "$DIR/run/slurmd-$1.pid"; }
dbd_pidfile() { echo "$DIR/run/slurmdbd.pid"; }
mariadb_pidfile() { echo "$DIR/run/mariadbd.pid"; }
# a cluster started with accounting has DIR/slurmdbd.conf
has_accounting() { [ -s "$DIR/slurmdbd.conf" ]; }

# names of the daemons that do not run (none: all run)
dead_daemons() {
  live_pid "$(munge_pidfile)" >/dev/null || echo munged
  live_pid "$(ctld_pidfile)" >/dev/null || echo slurmctld
  if has_accounting; then
    live_pid "$(mariadb_pidfile)" >/dev/null || echo mariadbd
    live_pid "$(dbd_pidfile)" >/dev/null || echo slurmdbd
  fi
  local n
  for n in $(node_names); do live_pid "$(slurmd_pidfile "$n")" >/dev/null || echo "slurmd-$n"; done
}

all_running() { [ -z "$(dead_daemons)" ]; }

# Every process of this cluster: the daemons (marked in their environment: slurmstepd and
# slurmscriptd inherit it) and all their descendants (the jobs' processes), never this script
# or its ancestors.
our_pids() {
  local roots f
  roots=$(
    grep -lzxF -- "$MARK=$DIR" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 || true
    for f in "$(munge_pidfile)" "$(ctld_pidfile)" "$DIR"/run/slurmd-*.pid "$(dbd_pidfile)" \
      "$(mariadb_pidfile)"; do
      live_pid "$f" 2>/dev/null || true
    done
  )
  [ -n "$roots" ] || return 0
  local self=" $$ " p=$$
  while [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != 1 ]; do
    p=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null || true)
    self+="$p "
  done
  ps -e -o pid=,ppid= | awk -v roots="$roots" -v self="$self" '
    BEGIN { n = split(roots, r, /[ \n]+/); for (i = 1; i <= n; i++) if (r[i] != "") mine[r[i]] = 1 }
    { parent[$1] = $2; pids[NR] = $1 }
    END {
      do { grew = 0
        for (i in pids) { p = pids[i]; if (!(p in mine) && (parent[p] in mine)) { mine[p] = 1; grew = 1 } }
      } while (grew)
      for (p in mine) if (index(self, " " p " ") == 0 && (p in parent)) print p
    }'
}

log_tails() {
  local f
  for f in "$DIR"/munge/munged.log "$DIR"/log/*.log "$DIR"/log/*.out; do
    [ -s "$f" ] || continue
    echo "----- tail of $f" >&2
    # (slurmd's complaints about the PMIx library, which is not installed, are noise)
    grep -v -e 'pmix' -e 'MPI: Cannot create context' "$f" | tail -n 20 >&2
  done
}

# First of $1 consecutive TCP ports that are all free, searched from a base derived from DIR
# (so that two clusters started at once rarely race for the same ports).
free_ports() {
  local n=$1 base
  base=$((20000 + $(printf '%s' "$DIR" | cksum | cut -d' ' -f1) % 2000 * 16))
  python3 - "$base" "$n" <<'EOF'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
for _ in range(4000):
    if port + n > 60000:
        port = 20000
    ok = True
    for p in range(port, port + n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("0.0.0.0", p))
        except OSError:
            ok = False
            break
        finally:
            s.close()
    if ok:
        print(port)
        sys.exit(0)
    port += n
sys.exit("no free ports")
EOF
}

# munged insists that every directory above its socket be searchable by all and that the path
# fit a unix socket address; where DIR is not such a place, the socket goes to its own
# directory under /tmp (recorded in DIR/munge/socket_dir, removed by stop).
pick_socket_dir() {
  local d=$DIR/munge ok=1 p
  if [ -s "$DIR/munge/socket_dir" ]; then cat "$DIR/munge/socket_dir"; return; fi
  p=$DIR
  while [ "$p" != / ]; do
    (( 8#$(stat -c %a "$p") & 1 )) || ok=0
    p=$(dirname "$p")
  done
  if [ $ok = 0 ] || [ ${#d} -gt 80 ]; then
    d=$(mktemp -d /tmp/smartsim-munge.XXXXXX)
    chmod 755 "$d"
    echo "$d" >"$DIR/munge/socket_dir"
  fi
  echo "$d"
}

write_conf() {
  local port=$1 sock=$2 dbd_port=${3:-} host n i=0
  host=$(hostname -s 2>/dev/null || hostname)
  {
    echo "# Private single-host Slurm written by $PROG; everything lives under $DIR"
    echo "ClusterName=smartsimlocal"
    echo "SlurmctldHost=$host(127.0.0.1)"
    echo "SlurmctldPort=$port"
    echo "SlurmUser=root"
    echo "SlurmdUser=root"
    echo "AuthType=auth/munge"
    echo "CredType=cred/munge"
    echo "AuthInfo=socket=$sock/munge.socket"
    echo "StateSaveLocation=$DIR/ctld"
    echo "SlurmdSpoolDir=$DIR/spool/%n"
    echo "SlurmctldPidFile=$(ctld_pidfile)"
    echo "SlurmdPidFile=$DIR/run/slurmd-%n.pid"
    echo "SlurmctldLogFile=$DIR/log/slurmctld.log"
    echo "SlurmdLogFile=$DIR/log/slurmd-%n.log"
    echo "SlurmctldDebug=info"
    echo "SlurmdDebug=info"
    echo "TmpFS=$DIR/tmp"
    echo "MailProg=/bin/true"
    echo "# cgroups are not usable in a sandbox: track processes by /proc, bind no tasks"
    echo "ProctrackType=proctrack/linuxproc"
    echo "TaskPlugin=task/none"
    echo "JobAcctGatherType=jobacct_gather/none"
    if [ -n "$dbd_port" ]; then
      echo "AccountingStorageType=accounting_storage/slurmdbd"
      echo "AccountingStorageHost=127.0.0.1"
      echo "AccountingStoragePort=$dbd_port"
      echo "# the munge socket of this cluster for slurmdbd's connections too"
      echo "AccountingStoragePass=$sock/munge.socket"
    else
      echo "AccountingStorageType=accounting_storage/none"
    fi
    echo "JobCompType=jobcomp/none"
    echo "MpiDefault=none"
    echo "SwitchType=switch/none"
    echo "# whole nodes per job, as most HPC sites; jobs may share a node (a leftover job of one"
    echo "# test does not block the next); nodes claim more CPUs than the host has"
    echo "SelectType=select/linear"
    echo "SlurmdParameters=config_overrides"
    echo "SchedulerType=sched/backfill"
    echo "SchedulerParameters=batch_sched_delay=0,sched_min_interval=0"
    echo "ReturnToService=2"
    echo "MinJobAge=$MIN_JOB_AGE"
    echo "KillWait=3"
    echo "InactiveLimit=0"
    echo "Waittime=0"
    for n in $(node_names); do
      i=$((i + 1))
      echo "NodeName=$n NodeHostname=$host NodeAddr=127.0.0.1 Port=$((port + i)) CPUs=$CPUS RealMemory=1024 State=UNKNOWN"
    done
    echo "PartitionName=debug Nodes=node[1-$NODES] Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4"
    if [ -n "${SLURM_LOCAL_EXTRA_CONF:-}" ]; then printf '%s\n' "$SLURM_LOCAL_EXTRA_CONF"; fi
  } >"$DIR/slurm.conf"
}

# Accounting: a private MariaDB (data, socket, pid and log under DIR; TCP on 127.0.0.1 only,
# a password-protected user for slurmdbd) and slurmdbd, its slurmdbd.conf next to slurm.conf
# (where slurmdbd looks for it). Then the cluster is registered, so that its jobs are recorded.
start_accounting() {
  local sock=$1 db_port=$2 dbd_port=$3 b missing=() pass
  for b in mariadbd mariadb-install-db mariadb slurmdbd sacctmgr; do
    command -v "$b" >/dev/null 2>&1 || missing+=("$b")
  done
  [ ${#missing[@]} = 0 ] || die "SLURM_LOCAL_ACCOUNTING=1: not installed: ${missing[*]} (scripts/install_slurm.sh --accounting installs them)"
  mkdir -p "$DIR/db"
  chmod 700 "$DIR/db"
  if [ ! -d "$DIR/db/data/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$DIR/db/data" --user=root \
      --auth-root-authentication-method=socket --skip-test-db >>"$DIR/log/mariadb-install.log" 2>&1 ||
      { tail -n 20 "$DIR/log/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
  fi
  daemon mariadbd --no-defaults --datadir="$DIR/db/data" --socket="$DIR/db/mysqld.sock" \
    --port="$db_port" --bind-address=127.0.0.1 --user=root --pid-file="$(mariadb_pidfile)" \
    --log-error="$DIR/log/mariadb.log" --skip-log-bin --innodb-buffer-pool-size=64M \
    </dev/null >>"$DIR/log/daemons.out" 2>&1 &  # (mariadbd stays in the foreground: the
  # subshell running it must not hold our stdout, or a caller reading it would wait forever)
  wait_for 60 "mariadbd" mariadb --no-defaults --socket="$DIR/db/mysqld.sock" -uroot -e 'select 1' ||
    die "mariadbd did not start"
  pass=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
  mariadb --no-defaults --socket="$DIR/db/mysqld.sock" -uroot -e "
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
    ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || die "could not create the database user"
  (
    umask 077
    {
      echo "# slurmdbd of the private Slurm under $DIR"
      echo "AuthType=auth/munge"
      echo "AuthInfo=socket=$sock/munge.socket"
      echo "DbdHost=localhost"
      echo "DbdAddr=127.0.0.1"
      echo "DbdPort=$dbd_port"
      echo "SlurmUser=root"
      echo "PidFile=$(dbd_pidfile)"
      echo "LogFile=$DIR/log/slurmdbd.log"
      echo "DebugLevel=info"
      echo "StorageType=accounting_storage/mysql"
      echo "StorageHost=127.0.0.1"
      echo "StoragePort=$db_port"
      echo "StorageUser=slurm"
      echo "StoragePass=$pass"
      echo "StorageLoc=slurm_acct_db"
    } >"$DIR/slurmdbd.conf"
  )
  daemon slurmdbd || { log_tails; die "slurmdbd did not start"; }
  wait_for 60 "slurmdbd to answer" env SLURM_CONF="$DIR/slurm.conf" sacctmgr -n list cluster || exit 1
  SLURM_CONF="$DIR/slurm.conf" sacctmgr -i add cluster smartsimlocal >/dev/null 2>&1 || true
  SLURM_CONF="$DIR/slurm.conf" sacctmgr -n -P list cluster format=cluster | grep -qx smartsimlocal ||
    die "could not register the cluster with slurmdbd"
}

# run a daemon with a clean environment carrying the marker, detached from our stdio
daemon() {
  env -i PATH="/usr/sbin:/usr/bin:/sbin:/bin" HOME="${HOME:-/root}" LANG=C.UTF-8 "$MARK=$DIR" \
    SLURM_CONF="$DIR/slurm.conf" "$@" </dev/null >>"$DIR/log/daemons.out" 2>&1
}

wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local t=$1 what=$2; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ]; then
      say "timed out after ${t}s waiting for $what"
      log_tails
      return 1
    fi
    sleep 0.2
  done
}

nodes_idle() {
  local out
  out=$(SLURM_CONF="$DIR/slurm.conf" sinfo -h -N -o '%N %T' 2>/dev/null) || return 1
  [ "$(echo "$out" | awk '$2 == "idle"' | sort -u | wc -l)" -eq "$NODES" ]
}

ctld_up() { SLURM_CONF="$DIR/slurm.conf" scontrol ping 2>/dev/null | grep -q 'is UP'; }

start() {
  local b missing=()
  for b in munged mungekey slurmctld slurmd srun sinfo scontrol squeue scancel; do
    command -v "$b" >/dev/null 2>&1 || missing+=("$b")
  done
  [ ${#missing[@]} = 0 ] || die "not installed: ${missing[*]} (scripts/install_slurm.sh installs Slurm and munge)"
  [ "$(id -u)" = 0 ] || die "needs root: slurmd runs as root to start job steps"
  if [ -z "$DIR" ]; then
    DIR=$(mktemp -d "${TMPDIR:-/tmp}/smartsim-slurm.XXXXXX")
  fi
  case "$DIR" in *[[:space:]]*) die "the directory's path must not contain spaces: $DIR" ;; esac
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd -P)

  if [ -s "$DIR/slurm.conf" ] && all_running; then
    wait_for "$TIMEOUT" "idle nodes" nodes_idle || die "already running but the nodes are not idle"
    say "already running under $DIR"
    echo "$DIR"
    return
  fi
  # a partly running or crashed cluster: end what is left, start afresh
  [ -z "$(our_pids)" ] || stop_cluster

  chmod 755 "$DIR"
  mkdir -p "$DIR/munge" "$DIR/ctld" "$DIR/log" "$DIR/run" "$DIR/tmp"
  local n
  for n in $(node_names); do mkdir -p "$DIR/spool/$n"; done
  mkdir -p "$DIR/munge/key"; chmod 700 "$DIR/munge/key"
  chmod 755 "$DIR/munge"
  local sock port dbd_port="" db_port=""
  sock=$(pick_socket_dir)
  if [ "$ACCOUNTING" = 1 ]; then
    # two more ports after the nodes': the database's, slurmdbd's
    port=${SLURM_LOCAL_PORT:-$(free_ports $((NODES + 3)))}
    db_port=$((port + NODES + 1))
    dbd_port=$((port + NODES + 2))
  else
    port=${SLURM_LOCAL_PORT:-$(free_ports $((NODES + 1)))}
    rm -f "$DIR/slurmdbd.conf"
  fi
  write_conf "$port" "$sock" "$dbd_port"
  [ -s "$DIR/munge/key/munge.key" ] || mungekey --create --keyfile="$DIR/munge/key/munge.key" >/dev/null
  chmod 600 "$DIR/munge/key/munge.key"
  rm -f "$sock/munge.socket" "$sock/munge.socket.lock"

  STARTING=1
  trap 'if [ "${STARTING:-0}" = 1 ]; then say "start failed; stopping what it started"; stop_cluster >/dev/null 2>&1 || true; fi' EXIT
  daemon munged --socket="$sock/munge.socket" --key-file="$DIR/munge/key/munge.key" \
    --pid-file="$(munge_pidfile)" --log-file="$DIR/munge/munged.log" \
    --seed-file="$DIR/munge/key/munged.seed" ||
    { log_tails; die "munged did not start"; }
  wait_for 10 "munged's socket" test -S "$sock/munge.socket" || exit 1
  [ -z "$dbd_port" ] || start_accounting "$sock" "$db_port" "$dbd_port"

  # -c: a fresh controller state (no jobs of an earlier run under the same DIR)
  daemon slurmctld -c -f "$DIR/slurm.conf" || { log_tails; die "slurmctld did not start"; }
  wait_for 20 "slurmctld to answer" ctld_up || exit 1
  for n in $(node_names); do
    daemon slurmd -f "$DIR/slurm.conf" -N "$n" || { log_tails; die "slurmd -N $n did not start"; }
  done
  local end=$((SECONDS + TIMEOUT))
  until nodes_idle; do
    local dead
    dead=$(dead_daemons | tr '\n' ' ')
    [ -z "$dead" ] || { log_tails; die "died while starting: ${dead}(logs above)"; }
    if [ $SECONDS -ge $end ]; then
      log_tails
      SLURM_CONF="$DIR/slurm.conf" sinfo -N >&2 || true
      die "timed out after ${TIMEOUT}s waiting for $NODES idle nodes (logs and sinfo above)"
    fi
    sleep 0.2
  done
  STARTING=0
  say "Slurm running under $DIR (nodes node[1-$NODES], slurmctld port $port)"
  echo "$DIR"
}

# SIGTERM our processes but $1, wait up to 10 s, SIGKILL what is left
end_pids() {
  local spare=${1:-none} pids i
  pids=$(our_pids | grep -vxF "$spare" || true)
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    pids=$(our_pids | grep -vxF "$spare" || true)
    [ -n "$pids" ] || return 0
    sleep 0.2
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  sleep 0.5
}

stop_cluster() {
  local pids i conf="$DIR/slurm.conf"
  # cancel every job while the controller runs, so that slurmstepd ends the jobs' processes
  if [ -s "$conf" ] && live_pid "$(ctld_pidfile)" >/dev/null && ctld_up; then
    local jobs
    jobs=$(SLURM_CONF=$conf timeout 10 squeue -h -o %A 2>/dev/null || true)
    if [ -n "$jobs" ]; then
      # shellcheck disable=SC2086
      SLURM_CONF=$conf timeout 10 scancel $jobs 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        [ -z "$(SLURM_CONF=$conf timeout 5 squeue -h -o %A 2>/dev/null)" ] && break
        sleep 0.2
      done
    fi
  fi
  # everything but munged first (a finishing slurmstepd may still need it), then munged
  local munge_pid
  munge_pid=$(live_pid "$(munge_pidfile)" || true)
  end_pids "$munge_pid"
  end_pids ""
  pids=$(our_pids)
  if [ -n "$pids" ]; then
    say "processes still alive after SIGKILL: $pids"
    return 1
  fi
  rm -f "$DIR"/run/*.pid "$(munge_pidfile)"
  if [ -s "$DIR/munge/socket_dir" ]; then
    rm -rf "$(cat "$DIR/munge/socket_dir")"
    rm -f "$DIR/munge/socket_dir"
  fi
  rm -f "$DIR/munge/munge.socket" "$DIR/munge/munge.socket.lock"
}

case "$CMD" in
  start) start ;;
  stop)
    if [ -n "$DIR" ] && [ ! -d "$DIR" ]; then
      # its directory is gone: end any process still marked as this cluster's
      DIR=$(realpath -m "$DIR"); stop_cluster; exit
    fi
    need_dir; stop_cluster; say "stopped (logs in $DIR/log)" ;;
  clean)
    if [ -n "$DIR" ] && [ ! -d "$DIR" ]; then DIR=$(realpath -m "$DIR"); stop_cluster; exit; fi
    need_dir
    [ -e "$DIR/slurm.conf" ] || [ -z "$(ls -A "$DIR")" ] || die "refusing to remove $DIR: no slurm.conf in it"
    stop_cluster; rm -rf "$DIR" ;;
  env)
    need_dir
    [ -s "$DIR/slurm.conf" ] || die "no slurm.conf under $DIR (run start first)"
    printf 'export SLURM_CONF=%q\n' "$DIR/slurm.conf"
    printf 'export SMARTSIM_LOCAL_SLURM_DIR=%q\n' "$DIR" ;;
  status)
    need_dir
    if [ -s "$DIR/slurm.conf" ] && all_running; then
      echo "running: $DIR"
      SLURM_CONF="$DIR/slurm.conf" sinfo -N -o '%N %T %c' 2>&1 || true
    else
      echo "not running: $DIR"; exit 1
    fi ;;
  *) usage ;;
esac
