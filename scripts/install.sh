#!/usr/bin/env bash
# Install everything this project needs on a fresh Debian machine with Python, pip and gcc.
#   scripts/install.sh        the package (Cython core + Redis module) and redis-server
#   scripts/install.sh test   ... plus the test and dev extras (pytest, mypy, Sphinx) and the
#                             ML ones (torch CPU build, onnxruntime, tensorflow-cpu)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# redis-server (+ redis-tools for redis-benchmark) to run databases; libhiredis-dev because
# the client's reply parser links the hiredis C library.
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server redis-tools)
[ -e /usr/include/hiredis/read.h ] || [ -n "${HIREDIS_PREFIX:-}" ] || need+=(libhiredis-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  # Debian starts a system redis on 6379; the project starts its own servers.
  $SUDO service redis-server stop >/dev/null 2>&1 || true
fi

if [ "${1:-}" = "test" ]; then
  # torch first and pinned: a CPU build on local disk; unpinned pulls a multi-GB CUDA build
  $PY -m pip install -q "torch==2.13.0" || echo "warning: torch 2.13.0 not installable; ML tests will skip"
  # test: pytest & co; dev: mypy and Sphinx (tests/test_typing.py runs mypy; CI builds the docs)
  $PY -m pip install -q -e ".[test,dev]"
  $PY -m pip install -q onnxruntime onnx || echo "warning: onnxruntime not installable; ONNX tests will skip"
  # the xarray extra: DatasetConverter.transform_to_xarray (smartsim.client.dataset_utils)
  $PY -m pip install -q "xarray>=2022.6" || echo "warning: xarray not installable; xarray conversion tests will skip"
  # the tf extra, pinned like torch (a ~270 MB wheel, ~1.4 GB installed): TF/TFLITE backends, smartsim.ml.tf
  $PY -m pip install -q "tensorflow-cpu==2.21.0" || echo "warning: tensorflow-cpu not installable; TF/TFLITE tests will skip"
else
  $PY -m pip install -q -e .
fi
