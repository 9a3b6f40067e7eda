"""AI.TENSORSET refuses a tensor it could not hand back (issue 16, item 7).

RedisAI sets no limit on the number of dimensions, but every reader of a tensor (our client,
SmartRedis's Python client, the executor) builds a numpy array, and numpy 2 arrays have at
most 64 dimensions: a tensor with more would be stored and never read back. The module takes
1 to 64 dimensions, and 0 (a scalar, as RedisAI does; the clients refuse to send those)."""
import numpy as np
import pytest
import redis

MAX_DIMS = 64  # AI_TENSOR_MAX_DIMS in src/smartsim/_core/aimodule/aimodule.h


@pytest.mark.parametrize("fmt", ["BLOB", "VALUES", None])
def test_tensorset_refuses_more_dims_than_the_limit(r, fmt):
    dims = [1] * (MAX_DIMS + 1)
    data = {"BLOB": ["BLOB", np.float32(2).tobytes()], "VALUES": ["VALUES", 2], None: []}[fmt]
    with pytest.raises(redis.ResponseError,
                       match=r"^too many dimensions in tensor shape \(at most 64\)$"):
        r.execute_command("AI.TENSORSET", "t", "FLOAT", *dims, *data)
    assert not r.exists("t")
    # the limit itself is accepted and read back whole
    dims = [1] * (MAX_DIMS - 1) + [2]
    a = np.arange(2, dtype=np.float32)
    assert r.execute_command("AI.TENSORSET", "t", "FLOAT", *dims, "BLOB", a.tobytes()) == b"OK"
    assert r.execute_command("AI.TENSORGET", "t", "META", "BLOB") == [
        b"dtype", b"FLOAT", b"shape", dims, b"blob", a.tobytes()]
