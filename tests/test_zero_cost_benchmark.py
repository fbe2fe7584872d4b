"""benchmarks/zero_cost.py's arithmetic on scores whose answers are known: proxies equal (or
opposite) to the table's accuracy rank perfectly, and a NASWOT that is the accuracy itself
picks the best cell it draws."""

import csv
import gzip
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "nas_tf", "data", "tables", "nasbench201.csv.gz")


def test_the_benchmark_recovers_known_correlations_and_picks(tmp_path):
  with gzip.open(TABLE, "rt") as f:
    rows = list(csv.DictReader(f))[:40]
  scores = tmp_path / "scores.jsonl"
  with open(scores, "w") as f:
    for k, row in enumerate(rows):
      acc, trainval = float(row["c10valid200_test_acc"]), float(row["c10_200_test_acc_trainval"])
      values = {p: acc for p in ("grad_norm", "snip", "grasp", "fisher", "synflow")}
      f.write(json.dumps({"arch_str": row["arch_str"], "id": f"c{k}", "seconds": 1.0,
                          "jacob_cov": -acc, "naswot": trainval, "params": k, **values}) + "\n")
  out = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "zero_cost.py"),
                        "--cells=0", f"--scores={scores}", "--runs=5"],
                       capture_output=True, text=True, timeout=600,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
  assert out.returncode == 0, out.stderr[-2000:]
  lines = out.stdout.splitlines()
  cell = lambda name, col: next(l for l in lines if l.startswith(f"| {name} |")).split("|")[col]
  for proxy in ("synflow", "jacob_cov", "grad_norm"):  # |Spearman| 1, either sign
    assert cell(proxy, 2).strip() == "1.000"
  assert cell("vote (pairwise accuracy)", 2).strip() == "1.000"
  best = max(float(r["c10_200_test_acc_trainval"]) for r in rows)
  assert cell("1000", 2).strip() == f"{best:.2f} +- 0.00"  # 1,000 draws of 40 hold the best
  assert "| AREA (NASWOT) |" in out.stdout and "| REA |" in out.stdout
  # NAS-RL's warm-up may sample any cell: 40 scored are not enough.
  assert "skipped: NASWOT of 40 of the 15625 cells" in out.stdout


def test_a_warm_up_on_the_accuracy_itself_starts_nas_rl_on_better_cells():
  # --rl_oracle: the warm-up's proxy is the table's accuracy (every cell known). After 100
  # warm-up samples the controller's first children are better cells than a cold one's.
  out = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "zero_cost.py"),
                        "--cells=0", f"--scores={os.devnull}", "--runs=1", "--rl_runs=2",
                        "--rl_oracle", "--warm_start_samples=100"],
                       capture_output=True, text=True, timeout=600,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
  assert out.returncode == 0, out.stderr[-2000:]
  first_ten = {line.split("|")[1].strip(): float(line.split("|")[6])
               for line in out.stdout.splitlines() if line.startswith(("| 0 |", "| 100 |"))}
  assert first_ten["100"] > first_ten["0"] + 2.0, first_ten
