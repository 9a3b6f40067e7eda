"""FAKE batch schedulers for the launcher tests: PBS Professional, LSF and Cobalt command line
tools over local processes, speaking the real tools' output formats. Not a scheduler: no
nodes, no queue policy; jobs run here, as background processes, under a state directory.

Run as ``python _fakewlm.py <system> <command> [args...]`` (the small wrappers in
``pbs/``, ``lsf/``, ``cobalt/`` do that); the tools:

* pbs: ``qsub`` (prints ``<n>.fakepbs``; ``#PBS`` directives), ``qstat`` (``-f -F json [-x]``
  as PBS's JSON: ``Jobs -> id -> job_state/Exit_status``; unknown ids: ``qstat: Unknown Job
  Id <id>``, exit 153; a finished job without ``-x``: "Job has finished", exit 35),
  ``qdel``, and in a job ``pbs_tmrsh <host> <cmd>``, ``aprun``, ``mpiexec`` (PALS).
* lsf: ``bsub`` (script on stdin; ``Job <n> is submitted to queue <normal>.``), ``bjobs``
  (``-o "<fields>" -noheader -a``; ``Job <id> is not found``), ``bkill``, and in a job
  ``jsrun``, ``blaunch <host> <cmd>``.
* cobalt: ``qsub`` (``#COBALT`` lines right after the first line; prints the job id), ``qstat``
  (``--header A:B``: columns under a ``=`` rule; finished jobs are forgotten; exit 1 with
  nothing printed when none of the ids is known), ``qdel``, ``cqstat``, and in a job ``aprun``.

Environment: ``FAKE_WLM_STATE`` (required: the state directory), ``FAKE_WLM_QUEUE_DELAY``
(seconds a job stays queued, default 0.3), ``FAKE_WLM_HOSTS`` (comma-separated host names
of the fake nodes, default ``localhost``), ``FAKE_PBS_NO_HISTORY=1`` (qstat forgets finished
jobs, as a server without job history). Every invocation is appended to
``$FAKE_WLM_STATE/calls.log`` (one JSON list per line: system, command, args...).

A job runs its script with ``/bin/bash`` in a process group of its own, under a runner that
is a child subreaper: a cancel (``qdel``/``bkill``) sends ``SIGTERM`` to every process of the
job, ``SIGKILL`` half a second later; whatever a job script leaves behind is killed when it
exits, as a scheduler ends a job's processes.
"""
import contextlib
import ctypes
import fcntl
import getpass
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KILL_DELAY = 0.5
EXIT_DELAY = 0.1
PBS_SERVER = "fakepbs"

# ------------------------------------------------------------------------------------------
# the store


def _die(message, code=1):
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.exit(code)


def _root():
    root = os.environ.get("FAKE_WLM_STATE")
    if not root:
        _die("fake scheduler: FAKE_WLM_STATE is not set", 2)
    os.makedirs(os.path.join(root, "jobs"), exist_ok=True)
    return root


@contextlib.contextmanager
def _locked(root):
    with open(os.path.join(root, "lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _log_call(root, system, command, args):
    line = (json.dumps([system, command, *args]) + "\n").encode()
    fd = os.open(os.path.join(root, "calls.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _job_path(root, seq):
    return os.path.join(root, "jobs", str(seq), "job.json")


def load(root, seq):
    try:
        with open(_job_path(root, seq)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _save(root, job):
    path = _job_path(root, job["seq"])
    tmp = path + f".{os.getpid()}.tmp"
    with open(tmp, "w") as handle:
        json.dump(job, handle)
    os.replace(tmp, path)


def update(root, seq, **fields):
    with _locked(root):
        job = load(root, seq)
        if job is None:
            return None
        job.update(fields)
        _save(root, job)
        return job


def all_jobs(root):
    jobs = []
    for entry in os.listdir(os.path.join(root, "jobs")):
        if entry.isdigit():
            job = load(root, int(entry))
            if job is not None:
                jobs.append(job)
    return sorted(jobs, key=lambda job: job["seq"])


def _seq_of(system, job_id):
    """The sequence number of a job id as the system writes it (None: not one of ours)."""
    text = job_id.split(".", 1)[0] if system == "pbs" else job_id
    if system == "pbs" and "." in job_id and job_id.split(".", 1)[1].split(".")[0] != PBS_SERVER:
        return None
    return int(text) if text.isdigit() else None


def job_id_of(job):
    return f"{job['seq']}.{PBS_SERVER}" if job["system"] == "pbs" else str(job["seq"])


def _base_env(root, system):
    """What a job gets without the submitter's environment: a login environment, with the
    scheduler's tools on PATH."""
    env = {k: os.environ[k] for k in ("HOME", "USER", "LOGNAME", "LANG", "TZ") if k in os.environ}
    env.update({"SHELL": "/bin/bash", "PATH": os.pathsep.join([os.path.join(HERE, system),
                                                                "/usr/bin", "/bin"]),
                "FAKE_WLM_STATE": root, "FAKE_WLM_PYTHON": sys.executable})
    for key in ("FAKE_WLM_QUEUE_DELAY", "FAKE_WLM_HOSTS", "FAKE_PBS_NO_HISTORY"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def submit(root, system, name, script_text, out, err, cwd, env, nodes, queue, extra=None):
    """Queue a job and start its runner; returns the job."""
    with _locked(root):
        counter = os.path.join(root, "seq")
        try:
            with open(counter) as handle:
                seq = int(handle.read().strip() or 0) + 1
        except OSError:
            seq = 1
        with open(counter, "w") as handle:
            handle.write(str(seq))
        jobdir = os.path.dirname(_job_path(root, seq))
        os.makedirs(jobdir)
        script = os.path.join(jobdir, "script")
        with open(script, "w") as handle:  # a scheduler spools the script at submission
            handle.write(script_text)
        job = {"seq": seq, "system": system, "name": name, "script": script, "out": out, "err": err,
               "cwd": cwd, "env": env, "nodes": max(1, int(nodes or 1)), "queue": queue,
               "state": "queued", "exit": None, "cancel": False, "submitted": time.time(),
               "owner": getpass.getuser(), "runner": None, "pid": None}
        job.update(extra or {})
        _save(root, job)
    runner = subprocess.Popen([sys.executable, os.path.abspath(__file__), "_run", root, str(seq)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True)
    return update(root, seq, runner=runner.pid)


# ------------------------------------------------------------------------------------------
# the runner of one job


def _children_map():
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
            ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid):
    children = _children_map()
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal_job(sig):
    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def _reap_orphans(keep):
    for pid in descendants(os.getpid()):
        if pid == keep:
            continue
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def run_job(root, seq):
    try:  # orphans of the job become ours: a cancel reaches every process it started
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass
    job = load(root, seq)
    delay = float(os.environ.get("FAKE_WLM_QUEUE_DELAY", "0.3"))
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        if load(root, seq)["cancel"]:
            update(root, seq, state="finished", exit=None, cancelled=True, end=time.time())
            return 0
        time.sleep(0.02)
    hosts = [h for h in os.environ.get("FAKE_WLM_HOSTS", "localhost").split(",") if h]
    nodes = [hosts[i % len(hosts)] for i in range(job["nodes"])]
    jobdir = os.path.dirname(_job_path(root, seq))
    nodefile = os.path.join(jobdir, "nodefile")
    with open(nodefile, "w") as handle:
        handle.write("".join(node + "\n" for node in nodes))
    env = dict(job["env"])
    env.update(_job_vars(job, nodes, nodefile))
    mode = "ab" if job.get("append_out") else "wb"
    os.makedirs(os.path.dirname(job["out"]) or ".", exist_ok=True)
    with open(job["out"], mode) as out, open(job["err"], mode) as err:
        proc = subprocess.Popen(["/bin/bash", job["script"]], cwd=job["cwd"], env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True)
    update(root, seq, state="running", start=time.time(), pid=proc.pid, hosts=nodes)
    kill_at = None
    while proc.poll() is None:
        if kill_at is None and load(root, seq)["cancel"]:
            _signal_job(signal.SIGTERM)
            kill_at = time.monotonic() + KILL_DELAY
        elif kill_at is not None and time.monotonic() > kill_at:
            _signal_job(signal.SIGKILL)
        _reap_orphans(proc.pid)
        time.sleep(0.02)
    # the job is over: the scheduler ends what its script left behind
    for _ in range(50):
        _signal_job(signal.SIGKILL)
        _reap_orphans(-1)
        if not descendants(os.getpid()):
            break
        time.sleep(0.02)
    code = proc.returncode
    if code < 0:
        code = (256 if job["system"] == "pbs" else 128) - code
    cancelled = bool(load(root, seq)["cancel"])
    update(root, seq, state="exiting")
    time.sleep(EXIT_DELAY)
    update(root, seq, state="finished", exit=code, cancelled=cancelled, end=time.time())
    return 0


def _job_vars(job, nodes, nodefile):
    seq, name, jid = job["seq"], job["name"], job_id_of(job)
    if job["system"] == "pbs":
        return {"PBS_JOBID": jid, "PBS_JOBNAME": name, "PBS_NODEFILE": nodefile,
                "PBS_ENVIRONMENT": "PBS_BATCH", "PBS_QUEUE": job["queue"],
                "PBS_O_WORKDIR": job["submit_cwd"], "PBS_JOBDIR": job["cwd"]}
    if job["system"] == "lsf":
        counts = {}
        for node in nodes:
            counts[node] = counts.get(node, 0) + 1
        return {"LSB_JOBID": jid, "LSB_JOBNAME": name, "LSB_QUEUE": job["queue"],
                "LSB_HOSTS": " ".join(nodes), "LSB_DJOB_HOSTFILE": nodefile,
                "LSB_MCPU_HOSTS": " ".join(f"{host} {n}" for host, n in counts.items())}
    return {"COBALT_JOBID": jid, "COBALT_PARTNAME": f"0-{len(nodes) - 1}" if len(nodes) > 1 else "0",
            "COBALT_PARTSIZE": str(len(nodes)), "COBALT_JOBSIZE": str(len(nodes)),
            "COBALT_NODEFILE": nodefile}


def _finished(job):
    return job["state"] == "finished"


# ------------------------------------------------------------------------------------------
# directives


def _directives(text, tag, contiguous=False):
    """The options of a script's directive lines (``#PBS -N x`` -> ``-N x``)."""
    args = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if i == 0 and line.startswith("#!"):
            continue
        if line.startswith(tag + " "):
            args += line[len(tag) + 1:].split()
        elif contiguous:
            break
        elif line.strip() and not line.lstrip().startswith("#") and tag != "#BSUB":
            break  # PBS reads directives up to the first command
    return args


def _getopts(args, with_value, flags, prog, long_ok=False):
    """Parse ``-x value`` / flag options until the first operand: (options, operands)."""
    opts, i = [], 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-") or arg == "-":
            break
        key = arg
        if long_ok and arg.startswith("--") and "=" in arg:
            key, value = arg.split("=", 1)
            opts.append((key, value))
            i += 1
            continue
        if key in flags:
            opts.append((key, None))
            i += 1
        elif key in with_value:
            if i + 1 >= len(args):
                _die(f"{prog}: option requires an argument -- '{key.lstrip('-')}'", 2)
            opts.append((key, args[i + 1]))
            i += 2
        else:
            _die(f"{prog}: invalid option -- '{key.lstrip('-')}'\nusage: {prog} [options] script", 2)
    return opts, args[i:]


# ------------------------------------------------------------------------------------------
# PBS Professional

_PBS_VALUE = {"-N", "-o", "-e", "-l", "-q", "-A", "-j", "-k", "-m", "-M", "-W", "-v", "-S",
              "-r", "-p", "-a", "-P", "-u", "-c", "-C", "-J", "-R"}
_PBS_FLAGS = {"-V", "-h", "-z", "-I", "-X", "-f"}
_PBS_STATE = {"queued": "Q", "running": "R", "exiting": "E", "finished": "F"}
_WALLTIME = re.compile(r"^(\d+:)?(\d+:)?\d+$")


def pbs_qsub(root, args):
    opts, operands = _getopts(args, _PBS_VALUE, _PBS_FLAGS, "qsub")
    if len(operands) != 1:
        _die("usage: qsub [-a date_time] [-A account_string] ... [script | -- command [arg...]]", 2)
    script = operands[0]
    try:
        with open(script) as handle:
            text = handle.read()
    except OSError as exc:
        _die(f"qsub: script file:: {exc.strerror}", 1)
    directive_opts, rest = _getopts(_directives(text, "#PBS"), _PBS_VALUE, _PBS_FLAGS, "qsub")
    if rest:
        _die(f"qsub: directive error: {' '.join(rest)}", 1)
    options = {}
    resources = []
    for key, value in directive_opts + opts:  # the command line overrides the script
        if key == "-l":
            resources.append(value)
        else:
            options[key] = value
    nodes = 1
    walltime = None
    for request in resources:
        for item in request.split(","):
            if "=" not in item:
                _die(f"qsub: illegal -l value\nqsub: {item}", 2)
            key, value = item.split("=", 1)
            if key in ("select", "nodes"):
                count = value.split(":", 1)[0]
                if not count.isdigit():
                    _die(f"qsub: Illegal attribute or resource value Resource_List.{key}", 2)
                nodes = int(count)
            elif key == "walltime":
                if not _WALLTIME.match(value):
                    _die("qsub: Illegal attribute or resource value Resource_List.walltime", 2)
                walltime = value
    cwd = os.getcwd()
    name = options.get("-N") or os.path.basename(script)
    env = dict(os.environ) if "-V" in options else _base_env(root, "pbs")
    env.update({f"PBS_O_{k}": os.environ[k] for k in ("HOME", "PATH", "LANG", "SHELL", "LOGNAME")
                if k in os.environ})
    env["PBS_O_WORKDIR"] = cwd
    job = submit(root, "pbs", name, text, "", "", os.environ.get("HOME", "/"), env, nodes,
                 options.get("-q") or "workq",
                 {"submit_cwd": cwd, "walltime": walltime, "exported": "-V" in options,
                  "account": options.get("-A")})
    seq = job["seq"]
    update(root, seq, out=options.get("-o") or os.path.join(cwd, f"{name}.o{seq}"),
           err=options.get("-e") or os.path.join(cwd, f"{name}.e{seq}"))
    print(job_id_of(job))
    return 0


def _pbs_attrs(job):
    host = socket.gethostname()
    attrs = {
        "Job_Name": job["name"],
        "Job_Owner": f"{job['owner']}@{host}",
        "job_state": _PBS_STATE[job["state"]],
        "queue": job["queue"],
        "server": PBS_SERVER,
        "ctime": time.ctime(job["submitted"]),
        "Error_Path": f"{host}:{job['err']}",
        "Output_Path": f"{host}:{job['out']}",
        "Resource_List": {"nodect": job["nodes"], "select": f"{job['nodes']}:ncpus=1"},
        "Variable_List": {k: v for k, v in job["env"].items() if k.startswith("PBS_O_")},
        "substate": {"queued": 10, "running": 42, "exiting": 50, "finished": 92}[job["state"]],
    }
    if job.get("walltime"):
        attrs["Resource_List"]["walltime"] = job["walltime"]
    if job.get("hosts"):
        attrs["exec_host"] = "+".join(f"{h}/0" for h in job["hosts"])
        attrs["exec_vnode"] = "+".join(f"({h}:ncpus=1)" for h in job["hosts"])
    if job["state"] == "finished":
        attrs["Exit_status"] = job["exit"] if job["exit"] is not None else -3  # deleted before it ran
    return attrs


def pbs_qstat(root, args):
    opts, ids = _getopts(args, {"-F", "-D", "-u"}, {"-f", "-x", "-w", "-H", "-a", "-n", "-1", "-s", "-t"},
                         "qstat")
    options = dict(opts)
    history = "-x" in options or "-H" in options
    no_history = os.environ.get("FAKE_PBS_NO_HISTORY") == "1"
    rc = 0
    shown = []
    if ids:
        for job_id in ids:
            seq = _seq_of("pbs", job_id)
            job = load(root, seq) if seq is not None else None
            if job is None or job["system"] != "pbs" or (_finished(job) and no_history):
                sys.stderr.write(f"qstat: Unknown Job Id {job_id}\n")
                rc = 153
            elif _finished(job) and not history:
                sys.stderr.write(f"qstat: {job_id} Job has finished, use -x or -H to obtain "
                                 "historical job information\n")
                rc = 35
            else:
                shown.append(job)
    else:
        shown = [job for job in all_jobs(root) if job["system"] == "pbs"
                 and (not _finished(job) or (history and not no_history))]
    if "-f" in options and options.get("-F") == "json":
        data = {"timestamp": int(time.time()), "pbs_version": "2022.1.0 (fake)", "pbs_server": PBS_SERVER}
        if shown:
            data["Jobs"] = {job_id_of(job): _pbs_attrs(job) for job in shown}
        sys.stdout.write(json.dumps(data, indent=4) + "\n")
    elif "-f" in options:
        for job in shown:
            sys.stdout.write(f"Job Id: {job_id_of(job)}\n")
            for key, value in _pbs_attrs(job).items():
                sys.stdout.write(f"    {key} = {value}\n")
            sys.stdout.write("\n")
    elif shown:
        sys.stdout.write("Job id            Name             User              Time Use S Queue\n"
                         "----------------  ---------------- ----------------  -------- - -----\n")
        for job in shown:
            sys.stdout.write(f"{job_id_of(job):<17} {job['name'][:16]:<16} {job['owner'][:16]:<16}"
                             f"  00:00:00 {_PBS_STATE[job['state']]} {job['queue']}\n")
    return rc


def pbs_qdel(root, args):
    opts, ids = _getopts(args, {"-W"}, {"-x"}, "qdel")
    del opts
    if not ids:
        _die("usage: qdel [-W force|suppress_email=X] [-x] job_identifier...", 2)
    rc = 0
    for job_id in ids:
        seq = _seq_of("pbs", job_id)
        with _locked(root):
            job = load(root, seq) if seq is not None else None
            if job is None or job["system"] != "pbs":
                sys.stderr.write(f"qdel: Unknown Job Id {job_id}\n")
                rc = 153
                continue
            if _finished(job):
                sys.stderr.write(f"qdel: Job has finished {job_id}\n")
                rc = 35
                continue
            job["cancel"] = True
            _save(root, job)
    return rc


# ------------------------------------------------------------------------------------------
# LSF

_BSUB_VALUE = {"-J", "-o", "-oo", "-e", "-eo", "-W", "-P", "-q", "-n", "-nnodes", "-alloc_flags",
               "-m", "-R", "-csm", "-cwd", "-G", "-L", "-u", "-env", "-M", "-g", "-sp", "-app"}
_BSUB_FLAGS = {"-B", "-N", "-x", "-K", "-r", "-rn", "-H"}
_BJOBS_STATE = {"queued": "PEND", "running": "RUN", "exiting": "RUN"}
_LSF_WALLTIME = re.compile(r"^(\d+:)?\d+$")


def lsf_bsub(root, args):
    opts, command = _getopts(args, _BSUB_VALUE, _BSUB_FLAGS, "bsub")
    if command:
        text = "#!/bin/sh\n" + " ".join(command) + "\n"
    else:
        text = sys.stdin.read()
    directive_opts, rest = _getopts(_directives(text, "#BSUB"), _BSUB_VALUE, _BSUB_FLAGS, "bsub")
    if rest:
        _die(f"{' '.join(rest)}: Illegal option. Job not submitted.", 255)
    options = dict(directive_opts + opts)
    if "-W" in options and not _LSF_WALLTIME.match(options["-W"]):
        _die(f"{options['-W']}: Bad RUNLIMIT specification. Job not submitted.", 255)
    cwd = options.get("-cwd") or os.getcwd()
    nodes = options.get("-nnodes") or 1
    name = options.get("-J") or "NONAME"
    queue = options.get("-q") or "normal"
    out = options.get("-oo") or options.get("-o") or os.path.join(cwd, f"{name}.{{seq}}.out")
    err = options.get("-eo") or options.get("-e") or out
    env = dict(os.environ)  # bsub propagates the submission environment
    job = submit(root, "lsf", name, text, out, err, cwd, env, nodes, queue,
                 {"append_out": "-oo" not in options, "project": options.get("-P"),
                  "walltime": options.get("-W")})
    if "{seq}" in out:
        update(root, job["seq"], out=out.format(seq=job["seq"]), err=err.format(seq=job["seq"]))
    print(f"Job <{job['seq']}> is submitted to queue <{queue}>.")
    return 0


def _bjobs_field(job, field):
    if field == "jobid":
        return str(job["seq"])
    if field == "stat":
        if _finished(job):
            return "DONE" if job["exit"] == 0 and not job.get("cancelled") else "EXIT"
        return _BJOBS_STATE[job["state"]]
    if field == "exit_code":
        return str(job["exit"]) if _finished(job) and job["exit"] not in (None, 0) else "-"
    if field == "job_name":
        return job["name"]
    if field == "queue":
        return job["queue"]
    if field == "user":
        return job["owner"]
    if field == "exec_host":
        return ":".join(job.get("hosts") or []) or "-"
    _die(f"{field}: Illegal field.", 255)
    return ""


def lsf_bjobs(root, args):
    opts, ids = _getopts(args, {"-o", "-u", "-q", "-J"}, {"-noheader", "-a", "-w", "-l", "-d", "-r", "-p"},
                         "bjobs")
    options = dict(opts)
    fields = (options.get("-o") or "jobid user stat queue job_name exec_host").split()
    everything = "-a" in options or "-d" in options
    rc = 0
    shown = []
    if ids:
        for job_id in ids:
            job = load(root, int(job_id)) if job_id.isdigit() else None
            if job is None or job["system"] != "lsf":
                sys.stderr.write(f"Job <{job_id}> is not found\n")
                rc = 255
            elif _finished(job) and not everything:
                sys.stderr.write(f"Job <{job_id}> is not found\n")
                rc = 255
            else:
                shown.append(job)
    else:
        shown = [job for job in all_jobs(root) if job["system"] == "lsf"
                 and (everything or not _finished(job))]
        if not shown:
            sys.stderr.write("No unfinished job found\n")
    if shown and "-noheader" not in options:
        sys.stdout.write(" ".join(field.upper() for field in fields) + "\n")
    for job in shown:
        sys.stdout.write(" ".join(_bjobs_field(job, field) for field in fields) + "\n")
    return rc


def lsf_bkill(root, args):
    opts, ids = _getopts(args, {"-s"}, {"-r"}, "bkill")
    del opts
    rc = 0
    for job_id in ids:
        with _locked(root):
            job = load(root, int(job_id)) if job_id.isdigit() else None
            if job is None or job["system"] != "lsf":
                sys.stderr.write(f"Job <{job_id}>: No matching job found\n")
                rc = 255
                continue
            if _finished(job):
                sys.stderr.write(f"Job <{job_id}>: Job has already finished\n")
                rc = 255
                continue
            job["cancel"] = True
            _save(root, job)
        print(f"Job <{job_id}> is being terminated")
    return rc


# ------------------------------------------------------------------------------------------
# Cobalt

_COBALT_ALIASES = {"-A": "--project", "-q": "--queue", "-t": "--time", "-n": "--nodecount",
                   "-o": "--output", "-e": "--error", "-O": "--outputprefix", "-i": "--inputfile"}
_COBALT_VALUE = {"--project", "--queue", "--time", "--nodecount", "--output", "--error",
                 "--outputprefix", "--inputfile", "--cwd", "--jobname", "--debuglog", "--mode",
                 "--proccount", "--attrs", "--env", "--dependencies", "--geometry", "--user_list",
                 "--kernel", "--notify", *_COBALT_ALIASES}
_COBALT_FLAGS = {"-h", "--help", "-d", "--debug", "-v", "--verbose", "--disable_preboot", "-I",
                 "--interactive", "--preemptable", "--run_project"}


def cobalt_qsub(root, args):
    _, operands = _getopts(args, _COBALT_VALUE, _COBALT_FLAGS, "qsub")
    if not operands:
        _die("qsub: No executable or script specified", 1)
    script = operands[0] if operands[0].startswith("/") else os.path.join(os.getcwd(), operands[0])
    if not os.path.isfile(script):
        _die(f"qsub: command {script} not found, or is not a file", 1)
    if not os.access(script, os.X_OK | os.R_OK):
        _die(f"qsub: command {script} is not executable", 1)
    with open(script) as handle:
        text = handle.read()
    directives = _directives(text, "#COBALT", contiguous=True)
    # as Cobalt's qsub: the directives go first, the command line after them (and wins)
    opts, _ = _getopts(directives + args, _COBALT_VALUE, _COBALT_FLAGS, "qsub")
    options = {}
    for key, value in opts:
        options[_COBALT_ALIASES.get(key, key)] = value
    if not options.get("--time"):
        _die("qsub: 'time' not provided", 1)
    if not options.get("--nodecount"):
        _die("qsub: 'nodecount' not provided", 1)
    if not options["--nodecount"].isdigit():
        _die(f"qsub: nodecount {options['--nodecount']} is not an integer", 1)
    cwd = options.get("--cwd") or os.getcwd()
    name = options.get("--jobname") or "N/A"
    env = _base_env(root, "cobalt")  # a Cobalt job does not get the submitter's environment
    for pair in (options.get("--env") or "").split(":"):
        if "=" in pair:
            key, value = pair.split("=", 1)
            env[key] = value
    job = submit(root, "cobalt", name, text, "", "", cwd, env, options["--nodecount"],
                 options.get("--queue") or "default",
                 {"mode": options.get("--mode"), "walltime": options["--time"]})
    seq = job["seq"]
    prefix = options.get("--outputprefix") or os.path.join(cwd, str(seq))
    update(root, seq, out=options.get("--output") or prefix + ".output",
           err=options.get("--error") or prefix + ".error")
    print(seq)
    return 0


def _tabular(rows):
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    fmt = "  ".join(f"%-{w}s" for w in widths) + "  "
    lines = [fmt % tuple(rows[0]), "=" * (sum(widths) + 2 * len(widths))]
    lines += [fmt % tuple(row) for row in rows[1:]]
    return "\n".join(lines) + "\n"


def _cobalt_field(job, field):
    key = field.lower()
    if key == "jobid":
        return str(job["seq"])
    if key == "state":
        return job["state"]
    if key == "jobname":
        return job["name"]
    if key == "user":
        return job["owner"]
    if key == "nodes":
        return str(job["nodes"])
    if key == "queue":
        return job["queue"]
    if key == "location":
        return ",".join(job.get("hosts") or []) or "None"
    if key == "walltime":
        return job.get("walltime") or "-"
    return "-"


def cobalt_qstat(root, args):
    opts, ids = _getopts(args, {"--header", "-u", "--user", "--sort"}, {"-f", "--full", "-l", "--long",
                                                                       "--reverse", "-d", "--debug"}, "qstat")
    options = dict(opts)
    header = (options.get("--header") or "JobID:User:WallTime:Nodes:State:Location").split(":")
    user = options.get("-u") or options.get("--user")
    jobs = [job for job in all_jobs(root) if job["system"] == "cobalt" and not _finished(job)
            and (user in (None, "*") or job["owner"] == user)]
    if ids:
        wanted = set(ids)
        jobs = [job for job in jobs if str(job["seq"]) in wanted]
        if not jobs:
            return 1  # Cobalt's qstat: nothing printed, exit status 1
    rows = [header] + [[_cobalt_field(job, field) for field in header] for job in jobs]
    sys.stdout.write(_tabular(rows))
    return 0


def cobalt_qdel(root, args):
    _, ids = _getopts(args, set(), {"-d", "--debug"}, "qdel")
    if not ids:
        _die("qdel: No Jobid(s) given", 1)
    deleted = []
    for job_id in ids:
        with _locked(root):
            job = load(root, int(job_id)) if job_id.isdigit() else None
            if job is None or job["system"] != "cobalt" or _finished(job):
                continue
            job["cancel"] = True
            _save(root, job)
            deleted.append(job)
    if deleted:
        sys.stdout.write("      Deleted Jobs\n")
        sys.stdout.write(_tabular([["JobID", "User"]] + [[str(j["seq"]), j["owner"]] for j in deleted]))
    return 0


# ------------------------------------------------------------------------------------------
# launch commands inside a job: they run the program here


def _in_job(var, prog):
    if not os.environ.get(var):
        _die(f"{prog}: not inside a batch job ({var} is not set)", 1)


def _job_hosts():
    if os.environ.get("LSB_MCPU_HOSTS"):
        return set(os.environ["LSB_MCPU_HOSTS"].split()[::2])
    if os.environ.get("LSB_HOSTS"):
        return set(os.environ["LSB_HOSTS"].split())
    for var in ("PBS_NODEFILE", "LSB_DJOB_HOSTFILE", "COBALT_NODEFILE"):
        path = os.environ.get(var)
        if path and os.path.exists(path):
            with open(path) as handle:
                return {line.strip() for line in handle if line.strip()}
    return set()


def _exec(argv, env, prog):
    if not argv:
        _die(f"{prog}: no program to run", 1)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        _die(f"{prog}: cannot run {argv[0]}: {exc.strerror}", 127)


def _skip_options(args, flags, env_opts, env, prog, long_value=False):
    """Skip a launcher's options (applying its environment options); the program's argv."""
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            break
        if arg in env_opts:
            pair = args[i + 1]
            if env_opts[arg] == "list":
                for name in pair.split(","):
                    if name in os.environ:
                        env[name] = os.environ[name]
            elif "=" in pair:
                key, value = pair.split("=", 1)
                env[key] = value
            i += 2
        elif arg.startswith("--") and "=" in arg:
            i += 1
        elif arg in flags or (arg.startswith("--") and not long_value):
            i += 1
        else:
            i += 2
    if i > len(args):
        _die(f"{prog}: option requires an argument", 1)
    return args[i:]


def run_command(system, prog, args):
    env = dict(os.environ)
    if prog == "aprun":
        _in_job("PBS_JOBID" if system == "pbs" else "COBALT_JOBID", "aprun")
        argv = _skip_options(args, {"-b", "-q", "-T", "-B", "-F", "--quiet", "--bypass-app-transfer"},
                             {"-e": "pair"}, env, "aprun")
        argv = argv[:argv.index(":")] if ":" in argv else argv
    elif prog == "jsrun":
        _in_job("LSB_JOBID", "jsrun")
        argv = _skip_options(args, set(), {"-E": "pair"}, env, "jsrun")
    elif prog == "mpiexec":
        _in_job("PBS_JOBID", "mpiexec")
        argv = _skip_options(args, {"--transfer", "--no-transfer", "--label", "--line-buffer", "--verbose"},
                             {"--env": "pair", "--envlist": "list"}, env, "mpiexec", long_value=True)
    elif prog in ("pbs_tmrsh", "blaunch"):
        _in_job("PBS_JOBID" if prog == "pbs_tmrsh" else "LSB_JOBID", prog)
        rest = [a for a in args if a not in ("-n",)]
        if rest and rest[0] == "-z":
            rest = rest[1:]
        if len(rest) < 2:
            _die(f"usage: {prog} host command [args...]", 255)
        host, argv = rest[0], rest[1:]
        if host not in _job_hosts():
            _die(f"{prog}: host {host} is not a host of job {os.environ.get('PBS_JOBID') or os.environ.get('LSB_JOBID')}",
                 255)
        if prog == "pbs_tmrsh" and not argv[0].startswith("/"):
            _die("pbs_tmrsh: the command must be a full path", 255)
    else:
        _die(f"fake scheduler: unknown command {prog}", 2)
    _exec(argv, env, prog)
    return 1


_COMMANDS = {
    ("pbs", "qsub"): pbs_qsub, ("pbs", "qstat"): pbs_qstat, ("pbs", "qdel"): pbs_qdel,
    ("lsf", "bsub"): lsf_bsub, ("lsf", "bjobs"): lsf_bjobs, ("lsf", "bkill"): lsf_bkill,
    ("cobalt", "qsub"): cobalt_qsub, ("cobalt", "qstat"): cobalt_qstat,
    ("cobalt", "cqstat"): cobalt_qstat, ("cobalt", "qdel"): cobalt_qdel,
}


def main(argv):
    if argv[:1] == ["_run"]:
        return run_job(argv[1], int(argv[2]))
    system, command, args = argv[0], argv[1], argv[2:]
    root = _root()
    _log_call(root, system, command, args)
    handler = _COMMANDS.get((system, command))
    if handler is None:
        return run_command(system, command, args)
    return handler(root, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
