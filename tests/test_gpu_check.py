"""benchmarks/gpu_check.py, the one command a lent GPU runs, kept working on CI's CPU: its
``--dry`` run (every row at tiny size, each section in a fresh process) must print every row
of the table and the gpu preset's recomputed duration, and exit 0."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ROWS = ["NAS-RL child, batch 8, float32", "NAS-RL child, batch 8, mixed_float16",
        "NAS-RL child, batch 8, jit_compile", "children per hour, 1 per GPU",
        "children per hour, 2 per GPU", "DARTS search step, order 1", "DARTS search step, order 2",
        "ENAS macro shared step (traced)", "ENAS micro shared step (traced)",
        "ENAS micro shared step (composed)", "MirroredStrategy over 1 device(s)"]


def test_the_dry_run_prints_every_row_and_the_preset_estimate():
  out = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "gpu_check.py"),
                        "--dry"], capture_output=True, text=True, cwd=ROOT, timeout=900)
  assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
  table = [line for line in out.stdout.splitlines() if line.startswith("| ")]
  for row in ROWS:
    found = [line for line in table if line.startswith(f"| {row}")]
    assert len(found) == 1, (row, out.stdout)
    # a figure, measured on this machine: a positive rate in the row
    assert re.search(r"\| CPU \(\d+ cores\) \| .*\b[1-9][\d,]*(\.\d+)?\b", found[0]), found[0]
  estimate = next(line for line in table if line.startswith("| gpu preset"))
  assert re.search(r"\| \d+(\.\d+)? h for \d+ children of \d+ epochs", estimate), estimate
  assert "failed:" not in out.stdout
