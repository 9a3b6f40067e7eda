"""How ``redisai.so`` in this folder is built from ``../aimodule/*.c``: one definition of the
sources, flags and link step, used by ``setup.py`` (wheels, ``pip install -e .``) and by the
test base (``tests/_testbase``, which rebuilds the module in place when a source is newer).

Standard library only (setup.py loads this file by path, before the package exists); the
compiler is a setuptools/distutils ``CCompiler`` (build_ext's own in setup.py).
"""
from __future__ import annotations

import os
import shutil
import typing as t
from pathlib import Path

LIB_DIR = Path(__file__).resolve().parent
SOURCE_DIR = LIB_DIR.parent / "aimodule"
MODULE_FILENAME = "redisai.so"
# The private folder a build in place compiles into before renaming the module over the old
# one; a build that was killed leaves it behind (``remove_built`` clears it).
BUILD_DIR_PREFIX = ".build-"


def sources() -> t.List[str]:
    """The C files compiled into the module."""
    return sorted(str(p) for p in SOURCE_DIR.glob("*.c"))


def inputs() -> t.List[Path]:
    """Everything a build depends on: sources, headers and this file (the flags)."""
    return sorted(SOURCE_DIR.glob("*.[ch]")) + [Path(__file__).resolve()]


def compile_flags(debug: bool = False, sanitize: str = "") -> t.List[str]:
    flags = ["-fPIC", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden"]
    flags += ["-O0", "-g3"] if debug else ["-O2", "-g"]
    if sanitize:
        flags += [f"-fsanitize={sanitize}", "-fno-omit-frame-pointer"]
    return flags


def link_flags(sanitize: str = "") -> t.List[str]:
    return ["-shared", "-lpthread"] + ([f"-fsanitize={sanitize}"] if sanitize else [])


def is_current(path: t.Union[str, Path]) -> bool:
    """``path`` exists and is at least as new as every input of a build."""
    try:
        built = os.stat(path).st_mtime
    except OSError:
        return False
    return all(p.stat().st_mtime <= built for p in inputs())


def _default_compiler() -> t.Any:
    """A new ``CCompiler`` for this platform, customized from sysconfig (and ``CC``/``LDSHARED``)
    as build_ext does."""
    import setuptools  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    from distutils.ccompiler import new_compiler  # pylint: disable=import-outside-toplevel
    from distutils.sysconfig import customize_compiler  # pylint: disable=import-outside-toplevel

    compiler = new_compiler()
    customize_compiler(compiler)
    return compiler


def missing_compiler() -> t.Optional[str]:
    """Why :func:`build` (with its default compiler) cannot run here, e.g. ``"the C compiler
    'gcc' is not on PATH"``; None when the compiler and linker it would run are found."""
    try:
        compiler = _default_compiler()
    except Exception as exc:  # pylint: disable=broad-except  # no setuptools, odd platform
        return f"no C compiler can be set up ({exc})"
    for what, argv in (("C compiler", getattr(compiler, "compiler_so", None)),
                       ("linker", getattr(compiler, "linker_so", None))):
        program = argv[0] if argv else None
        if not program:
            return f"no {what} is configured"
        if shutil.which(program) is None:
            return f"the {what} {program!r} is not on PATH (set CC to another one)"
    return None


def build(out_dir: t.Union[str, Path], build_temp: t.Union[str, Path], compiler: t.Any = None,
          debug: bool = False, sanitize: str = "") -> Path:
    """Compile and link the module into ``out_dir/redisai.so``; returns its path.

    ``compiler``: a customized ``CCompiler`` (setup.py passes build_ext's); by default a new
    one for this platform, customized from sysconfig as build_ext does."""
    if compiler is None:
        compiler = _default_compiler()
    os.makedirs(out_dir, exist_ok=True)
    objects = compiler.compile(sources(), output_dir=str(build_temp),
                               extra_preargs=compile_flags(debug, sanitize),
                               include_dirs=[str(SOURCE_DIR)])
    # Linked with the plain C driver: no libpython, no Python init symbol (Redis dlopens it).
    compiler.link_shared_object(objects, MODULE_FILENAME, output_dir=str(out_dir),
                                extra_postargs=link_flags(sanitize), target_lang="c")
    return Path(out_dir) / MODULE_FILENAME


class BuildLockError(OSError):
    """The lock file that serializes builds (in the temp directory, not in the module's
    folder) cannot be opened; its message names the lock's path."""


def _build_lock(lib_dir: Path) -> t.IO[str]:
    """An open lock file, held exclusively: one build (or removal) per module folder."""
    import fcntl  # pylint: disable=import-outside-toplevel
    import hashlib  # pylint: disable=import-outside-toplevel
    import tempfile  # pylint: disable=import-outside-toplevel

    # In the temp directory, not in lib_dir: a lock file there would be one more artefact.
    key = hashlib.sha1(str(lib_dir).encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"smartsim-aimodule-{key}.lock"
    try:
        handle = open(path, "w")  # pylint: disable=consider-using-with  # the caller closes it
    except OSError as exc:
        raise BuildLockError(f"cannot open the build lock {path}: {exc}") from exc
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def build_in_place(lib_dir: t.Union[str, Path] = LIB_DIR, force: bool = False,
                   compiler: t.Any = None) -> t.Tuple[Path, bool]:
    """Bring ``lib_dir/redisai.so`` up to date: unless it is current (or ``force``), compile
    into a private folder in ``lib_dir`` and rename the result over the old file, so a
    running server keeps the module it loaded and nobody sees half a file. One build at a
    time per folder. Returns the module's path and whether it was compiled.

    Raises :class:`BuildLockError` (an ``OSError``) when the build lock cannot be opened,
    ``OSError`` when ``lib_dir`` cannot be written, and the compiler's error when a source
    does not compile."""
    import tempfile  # pylint: disable=import-outside-toplevel

    lib_dir = Path(lib_dir).resolve()
    target = lib_dir / MODULE_FILENAME
    with _build_lock(lib_dir):
        if not force and is_current(target):  # another process built it meanwhile
            return target, False
        out = tempfile.mkdtemp(prefix=BUILD_DIR_PREFIX, dir=lib_dir)
        objects = tempfile.mkdtemp(prefix="aimodule-obj-")
        try:
            os.replace(build(out, objects, compiler=compiler), target)
        finally:
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(objects, ignore_errors=True)
    return target, True


def built_artefacts(lib_dir: t.Union[str, Path] = LIB_DIR) -> t.List[Path]:
    """What builds left in ``lib_dir``: the module and folders of builds that were killed."""
    lib_dir = Path(lib_dir)
    found = [lib_dir / MODULE_FILENAME] if (lib_dir / MODULE_FILENAME).is_file() else []
    return found + sorted(p for p in lib_dir.glob(BUILD_DIR_PREFIX + "*") if p.is_dir())


def remove_built(lib_dir: t.Union[str, Path] = LIB_DIR) -> t.List[Path]:
    """Remove :func:`built_artefacts` (nothing else); returns what was removed. Waits for a
    build in progress, whose folder would otherwise vanish under it."""
    lib_dir = Path(lib_dir).resolve()
    with _build_lock(lib_dir):
        removed = built_artefacts(lib_dir)
        for path in removed:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    return removed
