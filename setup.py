"""Build the Cython core (``src/_fastpath``) and the RedisAI-compatible Redis module.

Build switches (environment variables, read at build time):

* ``SMARTSIM_BUILD_DEBUG=1``     -O0 -g, Cython bounds/wraparound checks back on, line tracing.
* ``SMARTSIM_BUILD_ANNOTATE=1``  write Cython's annotated HTML next to each ``.pyx``.
* ``SMARTSIM_BUILD_SANITIZE=address|undefined``  compile with that sanitizer.
* ``HIREDIS_PREFIX=/path``      hiredis headers and library under ``/path`` (default: the
  system's; the client's reply parser links it).
"""
import importlib.util
import os
import sys
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent.resolve()
DEBUG = os.environ.get("SMARTSIM_BUILD_DEBUG", "") not in ("", "0")
ANNOTATE = os.environ.get("SMARTSIM_BUILD_ANNOTATE", "") not in ("", "0")
SANITIZE = os.environ.get("SMARTSIM_BUILD_SANITIZE", "")

cflags = ["-O0", "-g3"] if DEBUG else ["-O3"]
ldflags = []
if SANITIZE:
    cflags += [f"-fsanitize={SANITIZE}", "-fno-omit-frame-pointer"]
    ldflags += [f"-fsanitize={SANITIZE}"]

directives = {
    "language_level": 3,
    "embedsignature": True,
    # Checks are switched off per function with decorators; debug builds force them on.
    "boundscheck": True,
    "wraparound": True,
}
macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if DEBUG:
    directives["linetrace"] = True
    macros.append(("CYTHON_TRACE_NOGIL", "1"))

FASTPATH = ["permute", "render", "crc16", "tensor", "resp"]
# resp parses replies with the hiredis C library (Debian/Ubuntu: libhiredis-dev,
# RHEL/Fedora: hiredis-devel); HIREDIS_PREFIX points at another installation.
HIREDIS_PREFIX = os.environ.get("HIREDIS_PREFIX", "")
LINKED = {"resp": ["hiredis"]}


def _hiredis_dirs():
    roots = [Path(HIREDIS_PREFIX)] if HIREDIS_PREFIX else [Path(sys.prefix), Path("/usr/local"), Path("/usr")]
    for root in roots:
        if (root / "include" / "hiredis" / "read.h").exists():
            if root == Path("/usr"):
                return [], []  # the compiler's own search path
            return [str(root / "include")], [str(root / "lib"), str(root / "lib64")]
    sys.exit("smartsim: the hiredis C library and headers are needed to build the client "
             "(apt-get install libhiredis-dev, or dnf install hiredis-devel; "
             "set HIREDIS_PREFIX for another location)")


def _extension(name):
    include, libdirs = [numpy.get_include()], []
    if name in LINKED:
        inc, libdirs = _hiredis_dirs()
        include += inc
    return Extension(
        f"_fastpath.{name}",
        [f"src/_fastpath/{name}.pyx"],
        include_dirs=include,
        library_dirs=libdirs,
        libraries=LINKED.get(name, []),
        depends=["src/_fastpath/hiredis_compat.h"] if name in LINKED else [],
        define_macros=macros,
        extra_compile_args=cflags,
        extra_link_args=ldflags,
    )


extensions = [_extension(name) for name in FASTPATH
              if (ROOT / "src" / "_fastpath" / f"{name}.pyx").exists()]

AIMODULE_DIR = Path("src/smartsim/_core/aimodule")
AIMODULE_NAME = "redisai.so"
# Sources, flags and link step of the module: one definition shared with the test base.
_spec = importlib.util.spec_from_file_location(
    "aimodule_build", ROOT / "src" / "smartsim" / "_core" / "lib" / "aimodule_build.py")
aimodule_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(aimodule_build)


class BuildExt(build_ext):
    """build_ext that also links the Redis module as a plain shared library.

    The module is not a Python extension (Redis dlopens it), so it is compiled with the
    same compiler but linked without Python and written to ``smartsim/_core/lib/``.
    """

    def run(self):
        super().run()
        self.build_aimodule()

    def build_aimodule(self):
        if not aimodule_build.sources():
            return
        inplace = self.inplace or getattr(self, "editable_mode", False)
        out_root = ROOT / "src" if inplace else Path(self.build_lib)
        aimodule_build.build(out_root / "smartsim" / "_core" / "lib",
                             os.path.join(self.build_temp, "aimodule"), self.compiler,
                             debug=DEBUG, sanitize=SANITIZE)

    def get_outputs(self):
        outputs = super().get_outputs()
        if list((ROOT / AIMODULE_DIR).glob("*.c")) and not self.inplace:
            outputs.append(str(Path(self.build_lib) / "smartsim" / "_core" / "lib" / AIMODULE_NAME))
        return outputs


setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        annotate=ANNOTATE,
        force=DEBUG,
    ),
    cmdclass={"build_ext": BuildExt},
)
