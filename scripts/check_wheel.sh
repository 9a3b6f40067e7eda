#!/usr/bin/env bash
# Install a wheel from scripts/build_wheel.sh in a fresh venv and run the example experiment
# with it, as a user on another machine would:
#   scripts/check_wheel.sh dist/smartsim_fast-*.whl
#
# - The venv is new, outside the checkout, without an editable install; the example runs
#   from a copy in a temporary directory with PYTHONPATH unset, so nothing under this
#   repository can be imported.
# - "A machine without libhiredis": LD_LIBRARY_PATH is empty, and where a private mount
#   namespace is allowed (root, or unprivileged user namespaces) every libhiredis.so* of the
#   system is hidden behind /dev/null for the run. Either way, `ldd` must resolve
#   _fastpath/resp's libhiredis into the wheel's smartsim_fast.libs/, and after the example
#   (an Orchestrator with our Redis module, an ensemble, the client reading every member's
#   tensor) the process's /proc/self/maps must show that copy and no other.
# Needs redis-server on PATH (scripts/install.sh) and pip access to the runtime dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
[ $# = 1 ] && [ -f "$1" ] || { echo "usage: $0 path/to/smartsim_fast-*.whl" >&2; exit 2; }
WHEEL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/smartsim-wheelcheck.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
echo "== fresh venv in $WORK/venv, pip install $(basename "$WHEEL")"
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q "$WHEEL"
cp "$ROOT/examples/ensemble_experiment.py" "$ROOT/examples/member_app.py" "$WORK/"
# Runs in the venv: where each part was imported from, then the example, then what was mapped.
cat >"$WORK/probe.py" <<'EOF'
import importlib.metadata
import os
import runpy
import subprocess
import sys
import sysconfig

work = sys.argv[1]
site = sysconfig.get_paths()["platlib"]
bundled_dir = os.path.join(site, "smartsim_fast.libs")

import smartsim  # noqa: E402
import _fastpath.resp as resp  # noqa: E402  (the extension that links hiredis)
from smartsim._core.server.discovery import find_ai_module  # noqa: E402

for name, path in (("smartsim", smartsim.__file__), ("_fastpath.resp", resp.__file__),
                   ("redisai.so", find_ai_module())):
    print(f"{name}: {path}")
    assert path and path.startswith(site + os.sep), f"{name} is not the venv's copy: {path}"
version = importlib.metadata.version("smartsim-fast")
assert version == smartsim.__version__, (version, smartsim.__version__)
print(f"importlib.metadata.version('smartsim-fast') = {version} = smartsim.__version__")

ldd = subprocess.run(["ldd", resp.__file__], capture_output=True, text=True, check=True).stdout
linked = [line.strip() for line in ldd.splitlines() if "libhiredis" in line]
print("ldd _fastpath/resp:", *linked)
resolved = [os.path.realpath(line.split("=>")[1].split("(")[0].strip()) if "=>" in line else line
            for line in linked]
assert linked and all(os.path.dirname(p) == bundled_dir for p in resolved), \
    f"libhiredis does not resolve into {bundled_dir}:\n{ldd}"

print("== examples/ensemble_experiment.py")
sys.argv = [os.path.join(work, "ensemble_experiment.py"), os.path.join(work, "exp")]
runpy.run_path(sys.argv[0], run_name="__main__")

with open("/proc/self/maps", encoding="utf-8") as maps:
    mapped = sorted({line.split()[-1] for line in maps if "libhiredis" in line})
print("libhiredis mapped in this process:", *mapped)
assert mapped and all(os.path.dirname(p) == bundled_dir for p in mapped), mapped
print("wheel check passed")
EOF

# The run itself: in a private mount namespace when allowed, the system's libhiredis hidden.
hide_and_run=$(cat <<'EOS'
set -eu
for lib in /lib*/libhiredis.so* /usr/lib*/libhiredis.so* /usr/lib*/*/libhiredis.so* \
           /usr/local/lib*/libhiredis.so* /lib/*/libhiredis.so*; do
  [ -e "$lib" ] && [ ! -c "$lib" ] && mount --bind /dev/null "$lib"
done
echo "system libhiredis hidden: $(ls /usr/lib/*/libhiredis.so* /usr/lib/libhiredis.so* 2>/dev/null | tr '\n' ' ')"
exec "$@"
EOS
)
run=(env -u PYTHONPATH -u PYTHONHOME -u PYTHONSTARTUP -u SMARTSIM_REDISAI LD_LIBRARY_PATH= LD_PRELOAD=
     "$WORK/venv/bin/python" -I "$WORK/probe.py" "$WORK")
cd "$WORK"
if unshare --mount --propagation private true 2>/dev/null; then
  unshare --mount --propagation private bash -c "$hide_and_run" hide "${run[@]}"
elif unshare --user --map-root-user --mount true 2>/dev/null; then
  unshare --user --map-root-user --mount bash -c "$hide_and_run" hide "${run[@]}"
else
  echo "no private mount namespace here: the system libhiredis stays visible; ldd and" \
       "/proc/self/maps below must still show only the bundled copy"
  "${run[@]}"
fi
