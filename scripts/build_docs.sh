#!/usr/bin/env bash
# Build the API reference (docs/api) from the package's docstrings with Sphinx; any warning
# fails the build. Output: build/docs/html (git-ignored), or the directory given as $1.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${1:-build/docs/html}
rm -rf "$OUT"
"$PY" -m sphinx -b html -W --keep-going -q -d "$OUT/.doctrees" docs/api "$OUT"
echo "API reference: $OUT/index.html"
