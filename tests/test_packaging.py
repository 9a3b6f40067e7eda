"""What a user of the distribution sees: its license, version, dependencies, README and wheel.

The fast tests read the installed metadata (``importlib.metadata``), ``pyproject.toml``, the
sources and the README. The wheel itself (scripts/build_wheel.sh, then scripts/check_wheel.sh:
a fresh venv, the example run with the system libhiredis hidden) is built by ``.ci/run``
before the test suite; ``test_portable_wheel`` builds and checks it again only when
``SMARTSIM_TEST_WHEEL=1`` (a few minutes, network for the build and the venv).
"""
from __future__ import annotations

import ast
import importlib.metadata as metadata
import os
import re
import subprocess
import tarfile
import typing as t
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import smartsim

ROOT = Path(__file__).resolve().parent.parent
DIST = "smartsim-fast"
SPDX = "BSD-2-Clause"


def _pyproject() -> t.Dict[str, t.Any]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def _runtime_requirements() -> t.List[Requirement]:
    """Requires-Dist lines of the installed distribution that are not an extra's."""
    found = [Requirement(line) for line in metadata.requires(DIST) or []]
    return [req for req in found if not (req.marker and "extra" in str(req.marker))]


def _imported_modules(root: Path) -> t.Set[str]:
    """Top-level names of every module imported anywhere under ``root`` (function-level
    imports included; Cython sources by their ``import``/``cimport`` lines)."""
    names: t.Set[str] = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    for path in list(root.rglob("*.pyx")) + list(root.rglob("*.pxi")):
        for match in re.finditer(r"^\s*(?:from\s+(\w+)|c?import\s+(\w+))", path.read_text(encoding="utf-8"), re.M):
            names.add(match.group(1) or match.group(2))
    return names


def test_license_file_is_bsd_2_clause():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("BSD 2-Clause License\n")
    assert "Copyright (c) 2026 smartsim-fast contributors" in text
    # the two conditions of BSD-2-Clause, and no third (that would be BSD-3-Clause)
    assert "1. Redistributions of source code must retain" in text
    assert "2. Redistributions in binary form must reproduce" in text
    assert "3." not in text


def test_metadata_names_the_license_by_spdx_expression_and_file():
    meta = metadata.metadata(DIST)
    assert meta["License-Expression"] == SPDX
    assert "LICENSE" in (meta.get_all("License-File") or [])
    # the table form (`license = {text = ...}`) setuptools stops accepting in 2027
    assert _pyproject()["project"]["license"] == SPDX
    assert "LICENSE" in _pyproject()["project"]["license-files"]


def test_version_from_metadata_is_the_package_version():
    assert metadata.version(DIST) == smartsim.__version__
    # one place: pyproject reads it from smartsim.__version__, so the two cannot drift apart
    project = _pyproject()["project"]
    assert "version" not in project and "version" in project["dynamic"]


def test_runtime_requirements_leave_out_test_only_packages():
    runtime = {req.name.lower() for req in _runtime_requirements()}
    assert not runtime & {"redis", "msgpack"}, runtime
    test_extra = [Requirement(line) for line in metadata.requires(DIST) or []
                  if 'extra == "test"' in line]
    assert "redis" in {req.name for req in test_extra}
    # ...because the package never imports them (the tests and benchmarks do)
    used = _imported_modules(ROOT / "src")
    assert not used & {"redis", "msgpack"}, used & {"redis", "msgpack"}


def test_every_runtime_requirement_is_imported_by_the_package():
    """Dependencies are chosen, not accumulated: each one is imported somewhere in src/."""
    providers = metadata.packages_distributions()
    used_dists = {dist.lower() for module in _imported_modules(ROOT / "src")
                  for dist in providers.get(module, [module])}
    unused = [str(req) for req in _runtime_requirements()
              if req.name.lower() not in used_dists and (req.marker is None or req.marker.evaluate())]
    assert not unused, f"runtime requirements nothing in src/ imports: {unused}"


def test_readme_links_stay_inside_the_repository():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../" not in text, "README points outside the repository"
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        path = (ROOT / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT) and path.exists(), f"README link to {target}"


@pytest.mark.skipif(os.environ.get("SMARTSIM_TEST_WHEEL") != "1",
                    reason="builds the wheel (minutes); SMARTSIM_TEST_WHEEL=1 runs it, .ci/run "
                           "builds and checks it with scripts/build_wheel.sh + check_wheel.sh")
@pytest.mark.timeout(1200)
def test_portable_wheel(tmp_path):
    out = tmp_path / "dist"
    built = subprocess.run([str(ROOT / "scripts" / "build_wheel.sh"), str(out)],
                           capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    tag = re.fullmatch(rf"smartsim_fast-{re.escape(smartsim.__version__)}-(cp\d+)-\1-"
                       r"manylinux_2_(\d+)_x86_64\.whl", wheel.name)
    assert tag, wheel.name
    assert wheel.stat().st_size <= 3 * 1024 * 1024
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert not [n for n in names if n.startswith("_fastpath/") and n.endswith((".c", ".pyx", ".pxi"))]
    assert any(n.startswith("smartsim_fast.libs/libhiredis") for n in names)
    assert "smartsim/_core/lib/redisai.so" in names
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    assert any(m.endswith("src/_fastpath/resp.pyx") for m in members)
    assert not [m for m in members if m.endswith(".so") or re.search(r"_fastpath/\w+\.c$", m)]

    checked = subprocess.run([str(ROOT / "scripts" / "check_wheel.sh"), str(wheel)],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "wheel check passed" in checked.stdout
    # every member's tensor was read back through the wheel's client
    assert len(re.findall(r"^sim_\d: params .* -> sim_\d\.field = ", checked.stdout, re.M)) == 4
