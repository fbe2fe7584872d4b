"""``nas-tf check-gpu``, the one command a lent GPU runs, kept working on CI's CPU: its
``--dry`` run (every row at tiny size, each section in a fresh process) must print every row
of the table and the gpu preset's recomputed duration, and exit 0, from the installed package
alone: run outside the checkout, with pytest and Ray made unimportable (a plain
``pip install .`` has no tests/ and may lack them; the image has neither tests/ nor
benchmarks/)."""

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


BLOCKER = """
import importlib.abc, sys
class Blocked(importlib.abc.MetaPathFinder):
  def find_spec(self, name, path=None, target=None):
    if name.split(".")[0] in ("pytest", "_pytest", "ray", "conftest"):
      raise ModuleNotFoundError(f"No module named {name!r} (blocked: not in a plain install)")
sys.meta_path.insert(0, Blocked())
"""


def test_the_dry_run_prints_every_row_and_the_preset_estimate(tmp_path):
  (tmp_path / "sitecustomize.py").write_text(BLOCKER)  # every section's process loads it
  env = {**os.environ, "PYTHONPATH": str(tmp_path)}
  out = subprocess.run([sys.executable, "-m", "nas_tf", "check-gpu", "--dry"],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900)
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


def test_a_plain_install_searches_without_ray_and_names_the_extra_for_the_ray_executor(
    tmp_path):
  (tmp_path / "sitecustomize.py").write_text(BLOCKER)
  env = {**os.environ, "PYTHONPATH": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
  search = [sys.executable, "-m", "nas_tf", "search", "nasbench201", "--config=smoke"]
  plain = subprocess.run([*search, "--workdir=plain"], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=600)
  assert plain.returncode == 0, plain.stderr
  ray = subprocess.run([*search, "--workdir=ray", "--config.executor.kind=ray"],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
  assert ray.returncode == 2
  assert ray.stderr.strip().splitlines() == [
      "nas-tf: error: executor.kind=ray needs Ray: pip install 'nas-tf[ray]' (or -r "
      "requirements-ray.txt)"]
