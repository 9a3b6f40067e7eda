"""``smartredis`` as an alias of ``smartsim.client`` (the ``smartredis-alias`` distribution).

Unmodified SmartRedis 0.6.1 applications (``from smartredis import Client, Dataset``,
``from smartredis.error import RedisKeyError``, ``smartredis.util``,
``smartredis.dataset_utils`` ...) run on smartsim-fast's client through this package: it
re-exports ``smartsim.client`` and binds each of its SmartRedis-named submodules as
``smartredis.<name>``.

It never shadows a real SmartRedis.  Installed (``pip install ./alias``), it lives in a
directory that a ``.pth`` line appends to the END of ``sys.path``, so a real ``smartredis``
in site-packages is found first.  Put on ``sys.path`` by hand (``PYTHONPATH=alias/lib``),
where it would come first, it looks for another ``smartredis`` on ``sys.path`` when
imported and, if there is one, loads that one in its place.
"""
import importlib
import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _real_smartredis():
    """The spec of a ``smartredis`` on ``sys.path`` other than this alias, or None."""
    others = []
    for entry in sys.path:
        try:
            if os.path.samefile(entry or os.getcwd(), _HERE):
                continue
        except OSError:
            pass
        others.append(entry)
    spec = importlib.machinery.PathFinder.find_spec(__name__, others)
    if spec is None or spec.origin in (None, "namespace"):
        return None  # none, or a bare directory named smartredis (a namespace package)
    return spec


_spec = _real_smartredis()
if _spec is not None:
    # A real SmartRedis is installed: it is the one imported (the import system returns
    # whatever sys.modules holds for this name once this module's code has run).
    _real = importlib.util.module_from_spec(_spec)
    sys.modules[__name__] = _real
    try:
        _spec.loader.exec_module(_real)
    except BaseException:
        del sys.modules[__name__]
        raise
else:
    import smartsim.client as _client
    from smartsim.client import *  # noqa: F401,F403  (the alias's whole point)

    __all__ = list(_client.__all__)
    __smartsim_alias__ = True
    for _name in ("client", "configoptions", "dataset", "dataset_utils", "error",
                  "logcontext", "logger", "srobject", "util"):
        _module = importlib.import_module(f"smartsim.client.{_name}")
        sys.modules[f"{__name__}.{_name}"] = _module
        globals()[_name] = _module
    del _name, _module
del _spec
