"""A fast, compatible implementation of the SmartSim workflow model.

Kept light on purpose: ``import smartsim.client`` must not pull in the launcher. The
``Experiment`` and friends load on first use.
"""
import typing as t

if t.TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from . import status as status
    from .experiment import Experiment as Experiment

__version__ = "0.1.0"

_LAZY = {
    "Experiment": ("smartsim.experiment", "Experiment"),
    "status": ("smartsim.status", None),
}


def __getattr__(name: str) -> t.Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'smartsim' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(target[0])
    value = module if target[1] is None else getattr(module, target[1])
    globals()[name] = value
    return value


__all__ = ["Experiment", "__version__"]
