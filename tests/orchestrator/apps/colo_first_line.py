"""The first thing this application does is talk to its colocated database, with no retry:
it must already be up. Then it reports the database process's CPU affinity."""
import os
import socket

addr = os.environ["SSDB"] if "SSDB" in os.environ else next(
    v for k, v in os.environ.items() if k.startswith("SSDB_") and not k.startswith("SSDB_PASSWORD"))
if addr.startswith("unix://"):
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(addr[len("unix://"):])
else:
    host, port = addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
sock.sendall(b"*1\r\n$4\r\nPING\r\n")
print("first reply", sock.recv(64).decode().strip(), flush=True)
sock.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
print("set/get", sock.recv(64).decode().split(), flush=True)

import psutil  # noqa: E402

wrapper = psutil.Process(os.getppid())
for child in wrapper.children():
    if "redis-server" in child.name() or "redis-server" in " ".join(child.cmdline()):
        print("db pid", child.pid, flush=True)
        print("db affinity", ",".join(map(str, sorted(child.cpu_affinity()))), flush=True)
print("addr", addr, flush=True)
