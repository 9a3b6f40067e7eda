"""ML executor sidecar for the RedisAI-compatible Redis module.

The Redis module (``smartsim/_core/aimodule``) never runs ML code: it queues
``MODELEXECUTE``/``SCRIPTEXECUTE`` work and this process takes the jobs over an
ordinary Redis connection (see ``aimodule/PROTOCOL.md``), runs them with torch,
onnxruntime or tensorflow, and hands the outputs back.

Run it with ``python -m smartsim._core.executor --socket /path/redis.sock --device CPU``.

Nothing here imports an ML runtime at import time; backends are imported on first use.

Modules:

* ``protocol``  -- the Redis connection (hiredis) and the ``AI._EXEC.*`` message formats
* ``dtypes``    -- RedisAI dtype names <-> numpy arrays
* ``backends``  -- TorchScript models and scripts, ONNX, TF/TFLite; the model cache
* ``batching``  -- grouping compatible model jobs, concatenation and splitting along dim 0
* ``worker``    -- the main loop: pull, batch, run, answer; reconnects and parent watch
"""

__all__ = ["main"]


def main(argv=None) -> int:
    """Entry point of ``python -m smartsim._core.executor``."""
    from .worker import main as _main

    return _main(argv)
