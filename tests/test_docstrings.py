"""Every public name has a docstring: the API reference (docs/api, built from docstrings by
scripts/build_docs.sh) documents what a user can import, and this keeps the count at 0.

A public name is a module under ``smartsim`` with no ``_``-prefixed part, and the classes and
functions it defines (and their methods and properties) whose names do not start with ``_``.
A method that overrides a documented one inherits its docstring, as in the built docs.
"""
import importlib
import inspect
import pkgutil

import smartsim


def public_modules():
    names = ["smartsim"]
    for info in pkgutil.walk_packages(smartsim.__path__, "smartsim."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def _property_doc(cls, name):
    for klass in cls.__mro__:
        attr = klass.__dict__.get(name)
        if isinstance(attr, property) and attr.__doc__:
            return attr.__doc__
    return None


def undocumented(module_name):
    """The public names defined in ``module_name`` that have no docstring."""
    module = importlib.import_module(module_name)
    found = []
    if not (module.__doc__ or "").strip():
        found.append(module_name)
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
            continue
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if not (inspect.getdoc(obj) or "").strip():
            found.append(f"{module_name}.{name}")
        if not inspect.isclass(obj):
            continue
        for attr_name, attr in vars(obj).items():
            if attr_name.startswith("_"):
                continue
            if isinstance(attr, property):
                doc = _property_doc(obj, attr_name)
            elif isinstance(attr, (staticmethod, classmethod)) or inspect.isfunction(attr):
                doc = inspect.getdoc(getattr(obj, attr_name))
            else:
                continue
            if not (doc or "").strip():
                found.append(f"{module_name}.{name}.{attr_name}")
    return found


def test_public_modules_are_found():
    modules = public_modules()
    for expected in ("smartsim.experiment", "smartsim.settings", "smartsim.entity",
                     "smartsim.database", "smartsim.client", "smartsim.status", "smartsim.error"):
        assert expected in modules
    assert not any(m.startswith("smartsim._core") for m in modules)


def test_every_public_name_has_a_docstring():
    missing = [name for module in public_modules()
               if not module.startswith("smartsim.ml.tf")  # needs TensorFlow: checked below
               for name in undocumented(module)]
    assert not missing, f"{len(missing)} public names without a docstring:\n" + "\n".join(missing)


def test_tf_helpers_have_docstrings():
    import pytest

    pytest.importorskip("tensorflow")
    missing = undocumented("smartsim.ml.tf") + undocumented("smartsim.ml.tf.utils")
    assert not missing, "\n".join(missing)
