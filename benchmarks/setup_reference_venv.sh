#!/usr/bin/env bash
# Create a virtual environment holding the reference implementation, SmartSim 0.8.0 and
# SmartRedis 0.6.1 from PyPI, for benchmarks/compare_smartsim.py.
#
#   benchmarks/setup_reference_venv.sh            # -> <repo>/.venv-smartsim080
#   SMARTSIM_REF_VENV=/some/where benchmarks/setup_reference_venv.sh
#   PYTHON=python3.11 benchmarks/setup_reference_venv.sh   # interpreter for the venv
#
# Idempotent: if the venv already has smartsim==0.8.0 and smartredis==0.6.1 it does nothing.
# The last line printed is the venv's python, so callers can use
#   export SMARTSIM_REF_PYTHON=$(benchmarks/setup_reference_venv.sh | tail -n 1)
# SmartSim 0.8.0 supports Python 3.9 to 3.11. Only the Python packages are installed: the
# benchmarks create and generate entities and never launch a database, so `smart build`
# is not needed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
venv="${SMARTSIM_REF_VENV:-$repo/.venv-smartsim080}"
python="${PYTHON:-python3}"
SMARTSIM_VERSION=0.8.0
SMARTREDIS_VERSION=0.6.1

has_reference() {
    [ -x "$1/bin/python" ] || return 1
    "$1/bin/python" - "$SMARTSIM_VERSION" "$SMARTREDIS_VERSION" <<'EOF' >/dev/null 2>&1
import sys
from importlib import metadata
want_ss, want_sr = sys.argv[1], sys.argv[2]
ok = metadata.version("smartsim") == want_ss and metadata.version("smartredis") == want_sr
import smartsim  # noqa: F401  (imports cleanly)
from smartsim import Experiment  # noqa: F401
sys.exit(0 if ok else 1)
EOF
}

if has_reference "$venv"; then
    echo "smartsim==$SMARTSIM_VERSION and smartredis==$SMARTREDIS_VERSION already installed in $venv" >&2
    echo "$venv/bin/python"
    exit 0
fi

if ! "$python" -c 'import sys; sys.exit(0 if (3, 9) <= sys.version_info[:2] <= (3, 11) else 1)'; then
    echo "warning: $("$python" -V 2>&1) is outside SmartSim 0.8.0's supported 3.9-3.11;" \
         "set PYTHON=python3.11 (or 3.9/3.10) if the install fails" >&2
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv with $("$python" -V 2>&1)" >&2
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet \
    "smartsim==$SMARTSIM_VERSION" "smartredis==$SMARTREDIS_VERSION" >&2

if ! has_reference "$venv"; then
    echo "error: $venv/bin/python cannot import smartsim $SMARTSIM_VERSION / smartredis $SMARTREDIS_VERSION" >&2
    exit 1
fi
echo "installed smartsim==$SMARTSIM_VERSION smartredis==$SMARTREDIS_VERSION into $venv" >&2
echo "$venv/bin/python"
