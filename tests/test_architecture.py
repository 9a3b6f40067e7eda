"""The layer rules of docs/architecture.md that a parser can check.

1. No import circle among the modules of ``src/smartsim``, counting imports inside
   functions (a circle hidden by a function-level import still ties the layers together and
   breaks as soon as someone moves the import up). Only imports under ``if TYPE_CHECKING:``
   are left out: they never run.
2. No module outside ``src/smartsim/entity/`` reads a private attribute of an ``Ensemble`` or
   ``EnsembleMember``: other layers read members through ``Ensemble.member_table``.
"""
from __future__ import annotations

import ast
import typing as t
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "smartsim"

# Private attributes of Ensemble / EnsembleMember (see entity/ensemble.py). Attribute
# reads are matched by name on any object: a parser cannot tell an Ensemble from anything
# else, and these names are only used there.
ENSEMBLE_PRIVATE = frozenset({
    "_states", "_owner", "_index", "_incoming", "_added", "_key_prefixing_enabled",
    "_member_rs", "_member_prefix", "_n_expanded", "_param_names", "_param_values",
})
ENSEMBLE_PRIVATE_PREFIXES = ("_member_", "_param_")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> t.Dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``<anything>.TYPE_CHECKING`` (``t.TYPE_CHECKING``, ``typing.``)."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _runtime_nodes(tree: ast.AST) -> t.Iterator[ast.AST]:
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` blocks (their
    ``else:`` branches do run)."""
    stack: t.List[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _resolve(importer: str, is_package: bool, level: int, module: t.Optional[str]) -> str:
    """The absolute name of a (possibly relative) ``from`` import's module."""
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not is_package:
        base.pop()
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _targets(importer: str, path: Path, known: t.Container[str]) -> t.Set[str]:
    """The ``smartsim`` modules ``importer`` imports at run time.

    A package import goes to the package's ``__init__``; ``from pkg import name`` goes to
    ``pkg.name`` when that is a module, else to ``pkg``. Importing ``a.b.c`` also runs the
    ``__init__`` of ``a`` and ``a.b``: those are edges too, except for the importer's own
    parent packages (Python has imported them before the importer started). Dynamic imports
    count when the module name is spelled out: ``importlib.import_module("smartsim.x")``
    anywhere, and in a package ``__init__`` with a module ``__getattr__`` (lazy re-exports),
    every string constant that names a ``smartsim`` module. A name looked up in a table at
    run time is not an edge: the launcher registry loads a built-in launcher's module by its
    name (``launcher/base.py: _BUILTIN``), and that module registers itself with the base.
    """
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    lazy_init = is_package and any(
        isinstance(node, ast.FunctionDef) and node.name == "__getattr__" for node in tree.body)
    out: t.Set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(importer, is_package, node.level, node.module)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in known else base)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and node.args and \
                    isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                out.add(node.args[0].value)
        elif lazy_init and isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in known:
                out.add(node.value)
    own_parents = {importer.rsplit(".", i)[0] for i in range(1, importer.count(".") + 1)}
    if is_package:
        own_parents.add(importer)
    edges = set()
    for name in out:
        parts = name.split(".")
        edges.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {name for name in edges if name in known and name not in own_parents and name != importer}


def import_graph() -> t.Dict[str, t.Set[str]]:
    modules = _modules()
    return {name: _targets(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: t.Mapping[str, t.Iterable[str]]) -> t.Optional[t.List[str]]:
    """One import circle as ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(graph, white)
    for root in sorted(graph):
        if color[root] != white:
            continue
        color[root] = grey
        path = [root]
        stack = [iter(sorted(graph[root]))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                color[path.pop()] = black
                stack.pop()
                continue
            if color.get(nxt, black) == grey:
                return path[path.index(nxt):] + [nxt]
            if color.get(nxt) == white:
                color[nxt] = grey
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_cycle_finder_reports_the_path():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_graph_sees_function_level_and_lazy_imports():
    graph = import_graph()
    # smartsim/__init__ loads Experiment in its __getattr__
    assert "smartsim.experiment" in graph["smartsim"]
    # the controller is imported inside Experiment's methods
    assert "smartsim._core.control.controller" in graph["smartsim.experiment"]


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def _private_ensemble_reads(path: Path) -> t.List[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("getattr", "hasattr", "setattr") \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
            name = node.args[1].value  # getattr(entity, "_owner", None) is a read too
        if isinstance(name, str) and (name in ENSEMBLE_PRIVATE or name.startswith(ENSEMBLE_PRIVATE_PREFIXES)):
            found.append(f"{path.relative_to(SRC)}:{node.lineno}: {name}")
    return found


def test_no_private_ensemble_reads_outside_entity():
    entity = PACKAGE / "entity"
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) if entity not in path.parents
             for hit in _private_ensemble_reads(path)]
    assert not found, "read these through Ensemble.member_table:\n" + "\n".join(found)
