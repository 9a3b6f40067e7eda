"""``python -m smartsim._core.executor`` -- see :mod:`smartsim._core.executor.worker`."""
import sys

from .worker import main

if __name__ == "__main__":
    sys.exit(main())
