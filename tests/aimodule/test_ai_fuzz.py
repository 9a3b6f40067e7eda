"""Fuzz the module with >= 100,000 random and mutated AI.* commands on a live server.

The commands are pipelined over one loopback connection in bounded batches; afterwards the
server must still answer PING and the tensors/model stored before the fuzzing must be intact.
Sizes are bounded (small dims, short blobs) so the run stays well under a minute.
"""
import random
import socket
import time

import hiredis
import numpy as np
import pytest

N_COMMANDS = 100_000
BATCH = 1000

KEYS = [f"fz:{i}" for i in range(24)] + ["fz:str", "fz:list", "{fz}a", ""]
DTYPES = ["FLOAT", "DOUBLE", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "BOOL", "STRING"]
WORDS = ["BLOB", "VALUES", "META", "INPUTS", "OUTPUTS", "TIMEOUT", "TAG", "BATCHSIZE", "MINBATCHSIZE",
         "MINBATCHTIMEOUT", "KEYS", "ARGS", "SOURCE", "ENTRY_POINTS", "RESETSTAT", "GET", "$",
         "MODEL_CHUNK_SIZE", "BACKENDSPATH", "LOADBACKEND", "TORCH", "TF", "TFLITE", "ONNX", "CPU",
         "GPU", "GPU:1", "CPU:0", "gpu:x"]
NUMBERS = ["0", "-1", "1", "2", "3", "7", "16", "-9223372036854775808", "9223372036854775807",
           "18446744073709551616", "2147483648", "1e308", "-0", "nan", "inf", "0x10", "1.5", " 1", "+2"]
COMMANDS = ["AI.TENSORSET", "AI.TENSORGET", "AI.MODELSTORE", "AI.MODELSET", "AI.MODELGET", "AI.MODELDEL",
            "AI.MODELEXECUTE", "AI.MODELRUN", "AI.SCRIPTSTORE", "AI.SCRIPTSET", "AI.SCRIPTGET",
            "AI.SCRIPTDEL", "AI.SCRIPTEXECUTE", "AI.SCRIPTRUN", "AI.INFO", "AI.CONFIG",
            "AI._EXEC.DONE", "AI._EXEC.ERR", "AI._EXEC.FETCH"]


def rand_blob(rng, n=None):
    n = rng.randint(0, 64) if n is None else n
    return rng.randbytes(n)


def valid_tensorset(rng):
    dt = rng.choice(DTYPES)
    dims = [rng.randint(1, 6) for _ in range(rng.randint(0, 3))]
    n = int(np.prod(dims)) if dims else 1
    size = {"FLOAT": 4, "DOUBLE": 8, "INT8": 1, "INT16": 2, "INT32": 4, "INT64": 8, "UINT8": 1,
            "UINT16": 2, "BOOL": 1, "STRING": 1}[dt]
    mode = rng.random()
    args = ["AI.TENSORSET", rng.choice(KEYS), dt, *map(str, dims)]
    if mode < 0.45:
        if dt == "STRING":
            blob = b"".join(rng.randbytes(rng.randint(0, 3)).replace(b"\x00", b"a") + b"\x00" for _ in range(n))
        elif dt == "BOOL":
            blob = bytes(rng.randint(0, 1) for _ in range(n))
        else:
            blob = rng.randbytes(n * size)
        args += ["BLOB", blob]
    elif mode < 0.9:
        if dt in ("FLOAT", "DOUBLE"):
            vals = [repr(rng.uniform(-1e3, 1e3)) for _ in range(n)]
        elif dt == "STRING":
            vals = ["s%d" % rng.randint(0, 99) for _ in range(n)]
        elif dt == "BOOL":
            vals = [str(rng.randint(0, 1)) for _ in range(n)]
        else:
            vals = [str(rng.randint(0, 100)) for _ in range(n)]
        args += ["VALUES", *vals]
    return args


def valid_command(rng):
    c = rng.choice(COMMANDS)
    k = rng.choice(KEYS)
    if c == "AI.TENSORSET":
        return valid_tensorset(rng)
    if c == "AI.TENSORGET":
        return [c, k, *rng.sample(["META", "BLOB", "VALUES"], rng.randint(0, 2))]
    if c == "AI.MODELSTORE":
        args = [c, k, rng.choice(["TORCH", "ONNX", "TF", "TFLITE"]), rng.choice(["CPU", "GPU", "GPU:1"])]
        if rng.random() < 0.5:
            args += ["TAG", "t%d" % rng.randint(0, 9)]
        if rng.random() < 0.3:
            args += ["BATCHSIZE", str(rng.randint(0, 8)), "MINBATCHSIZE", str(rng.randint(0, 4))]
        if args[2] == "TF":
            args += ["INPUTS", "1", "a", "OUTPUTS", "1", "b"]
        return args + ["BLOB"] + [rand_blob(rng) for _ in range(rng.randint(1, 3))]
    if c == "AI.MODELSET":
        return [c, k, rng.choice(["TORCH", "TF"]), "CPU", "INPUTS", "a", "OUTPUTS", "b", "BLOB", rand_blob(rng)]
    if c in ("AI.MODELGET", "AI.SCRIPTGET"):
        return [c, k, *rng.sample(["META", "BLOB", "SOURCE"], rng.randint(0, 2))]
    if c in ("AI.MODELDEL", "AI.SCRIPTDEL"):
        return [c, k]
    if c == "AI.MODELEXECUTE":
        ni, no = rng.randint(1, 3), rng.randint(1, 3)
        args = [c, k, "INPUTS", str(ni), *rng.choices(KEYS, k=ni), "OUTPUTS", str(no), *rng.choices(KEYS, k=no)]
        if rng.random() < 0.3:
            args += ["TIMEOUT", str(rng.randint(1, 1000))]
        return args
    if c == "AI.MODELRUN":
        return [c, k, "INPUTS", *rng.choices(KEYS, k=2), "OUTPUTS", rng.choice(KEYS)]
    if c == "AI.SCRIPTSTORE":
        return [c, k, "CPU", "TAG", "x", "ENTRY_POINTS", "2", "f", "g", "SOURCE", "def f(x):\n  return x\n"]
    if c == "AI.SCRIPTSET":
        return [c, k, rng.choice(["CPU", "GPU"]), "SOURCE", rand_blob(rng)]
    if c == "AI.SCRIPTEXECUTE":
        return [c, k, "f", "KEYS", "1", k, "INPUTS", "2", *rng.choices(KEYS, k=2), "ARGS", "1", "3",
                "OUTPUTS", "1", rng.choice(KEYS), "TIMEOUT", "50"]
    if c == "AI.SCRIPTRUN":
        return [c, k, "f", "INPUTS", "$", *rng.choices(KEYS, k=2), "OUTPUTS", rng.choice(KEYS)]
    if c == "AI.INFO":
        return [c, k] + (["RESETSTAT"] if rng.random() < 0.3 else [])
    if c == "AI.CONFIG":
        return rng.choice([[c, "GET", "MODEL_CHUNK_SIZE"], [c, "GET", "BACKENDSPATH"],
                           [c, "MODEL_CHUNK_SIZE", str(rng.randint(1, 100))],
                           [c, "LOADBACKEND", "TORCH", "/nonexistent/x.so"]])
    if c == "AI._EXEC.DONE":
        return [c, str(rng.randint(0, 50)), "1", rng.choice(DTYPES), "2 2", rand_blob(rng, 16)]
    if c == "AI._EXEC.ERR":
        return [c, str(rng.randint(0, 50)), "boom"]
    return [c, k, str(rng.randint(0, 50))]


def mutate(rng, args):
    args = list(args)
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        i = rng.randrange(1, len(args)) if len(args) > 1 else 1
        if op < 0.2 and len(args) > 1:
            del args[i]
        elif op < 0.35:
            args.insert(i, rng.choice(WORDS + NUMBERS + KEYS))
        elif op < 0.55 and len(args) > 1:
            args[i] = rng.choice(NUMBERS)
        elif op < 0.7 and len(args) > 1:
            args[i] = rng.choice(WORDS)
        elif op < 0.8 and len(args) > 1:
            args[i] = rand_blob(rng, rng.randint(0, 40))
        elif op < 0.88 and len(args) > 2:
            j = rng.randrange(1, len(args))
            args[i], args[j] = args[j], args[i]
        elif op < 0.94:
            args = args[:rng.randint(1, len(args))]
        else:
            a = args[i] if len(args) > 1 else ""
            if isinstance(a, str):
                args[i if len(args) > 1 else 0] = "".join(
                    ch.lower() if rng.random() < 0.5 else ch for ch in a)
    return args


def random_command(rng):
    r = rng.random()
    if r < 0.45:
        return valid_command(rng)
    if r < 0.95:
        return mutate(rng, valid_command(rng))
    # pure noise with an AI.* name
    return [rng.choice(COMMANDS)] + [rng.choice(WORDS + NUMBERS + KEYS) if rng.random() < 0.7
                                     else rand_blob(rng) for _ in range(rng.randint(0, 8))]


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def read_replies(sock, reader, n):
    replies = []
    while len(replies) < n:
        r = reader.gets()
        if r is False:
            data = sock.recv(1 << 20)
            assert data, "server closed the connection"
            reader.feed(data)
            continue
        replies.append(r)
    return replies


@pytest.mark.parametrize("version", ["7", "6.2"])
def test_fuzz_100k_commands(server_factory, redis_binaries, version):
    if redis_binaries[version] is None:
        pytest.skip(f"redis {version} not available")
    s = server_factory(binary=redis_binaries[version],
                       extra=["--maxmemory", "512mb", "--maxmemory-policy", "noeviction"])
    c = s.client()
    # state that must survive
    keep = {}
    rng_np = np.random.default_rng(1)
    for i, (dt, np_dt) in enumerate([("FLOAT", np.float32), ("INT64", np.int64), ("UINT8", np.uint8),
                                     ("DOUBLE", np.float64)]):
        a = (rng_np.random((3, 5)) * 100).astype(np_dt)
        c.execute_command("AI.TENSORSET", f"keep:{i}", dt, 3, 5, "BLOB", a.tobytes())
        keep[f"keep:{i}"] = c.execute_command("AI.TENSORGET", f"keep:{i}", "META", "BLOB")
    c.execute_command("AI.TENSORSET", "keep:s", "STRING", 2, "VALUES", "hello", "world")
    keep["keep:s"] = c.execute_command("AI.TENSORGET", "keep:s", "META", "VALUES")
    c.execute_command("AI.MODELSTORE", "keep:m", "TORCH", "CPU", "TAG", "k", "BLOB", b"model" * 100)
    model_before = c.execute_command("AI.MODELGET", "keep:m")
    c.set("fz:str", "plain")
    c.rpush("fz:list", "a", "b")

    rng = random.Random(12345 if version == "7" else 54321)
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=60)
    reader = hiredis.Reader()
    sent = errors = 0
    t0 = time.time()
    try:
        while sent < N_COMMANDS:
            n = min(BATCH, N_COMMANDS - sent)
            payload = b"".join(encode(random_command(rng)) for _ in range(n))
            sock.sendall(payload)
            replies = read_replies(sock, reader, n)
            errors += sum(isinstance(x, hiredis.ReplyError) for x in replies)
            sent += n
    finally:
        sock.close()
    elapsed = time.time() - t0
    assert s.alive(), s.log_tail()
    assert c.ping()
    for k, v in keep.items():
        fmt = ("META", "VALUES") if k == "keep:s" else ("META", "BLOB")
        assert c.execute_command("AI.TENSORGET", k, *fmt) == v
    c.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", 511 * 1024 * 1024)
    assert c.execute_command("AI.MODELGET", "keep:m") == model_before
    # the server is still fully functional
    assert c.execute_command("AI.TENSORSET", "after", "INT8", 2, "VALUES", 1, 2) == b"OK"
    assert c.execute_command("AI.TENSORGET", "after", "VALUES") == [1, 2]
    assert c.save()
    assert 0 < errors < sent
    print(f"fuzz: {sent} commands in {elapsed:.1f}s, {errors} error replies")
