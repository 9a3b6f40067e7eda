"""The README's inference ensemble example runs as a user runs it."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_inference_ensemble_example(tmp_path):
    pytest.importorskip("torch")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSDB", "SR_DB_TYPE", "SSKEY"))}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "inference_ensemble.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("infer_")]
    assert len(lines) == 4 and all("classes [" in line for line in lines), proc.stdout
    assert proc.stdout.count("STATUS_COMPLETED") == 4, proc.stdout
