"""How ``redisai.so`` in this folder is built from ``../aimodule/*.c``: one definition of the
sources, flags and link step, used by ``setup.py`` (wheels, ``pip install -e .``) and by the
test base (``tests/_testbase``, which rebuilds the module in place when a source is newer).

Standard library only (setup.py loads this file by path, before the package exists); the
compiler is a setuptools/distutils ``CCompiler`` (build_ext's own in setup.py).
"""
from __future__ import annotations

import os
import typing as t
from pathlib import Path

LIB_DIR = Path(__file__).resolve().parent
SOURCE_DIR = LIB_DIR.parent / "aimodule"
MODULE_FILENAME = "redisai.so"


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


def build(out_dir: t.Union[str, Path], build_temp: t.Union[str, Path], compiler: t.Any = None,
          debug: bool = False, sanitize: str = "") -> Path:
    """Compile and link the module into ``out_dir/redisai.so``; returns its path.

    ``compiler``: a customized ``CCompiler`` (setup.py passes build_ext's); by default a new
    one for this platform, customized from sysconfig as build_ext does."""
    if compiler is None:
        import setuptools  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
        from distutils.ccompiler import new_compiler  # pylint: disable=import-outside-toplevel
        from distutils.sysconfig import customize_compiler  # pylint: disable=import-outside-toplevel

        compiler = new_compiler()
        customize_compiler(compiler)
    os.makedirs(out_dir, exist_ok=True)
    objects = compiler.compile(sources(), output_dir=str(build_temp),
                               extra_preargs=compile_flags(debug, sanitize),
                               include_dirs=[str(SOURCE_DIR)])
    # Linked with the plain C driver: no libpython, no Python init symbol (Redis dlopens it).
    compiler.link_shared_object(objects, MODULE_FILENAME, output_dir=str(out_dir),
                                extra_postargs=link_flags(sanitize), target_lang="c")
    return Path(out_dir) / MODULE_FILENAME
