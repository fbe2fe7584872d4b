"""ENAS recurrent cells against the NAS-RL cell search on Penn Treebank at an equal wall time.

For each seed, each strategy searches ptb-mini with the smoke preset until its budget is
spent (NAS-RL: after the child that crosses it; ENAS: after the epoch that crosses it, then
it derives); each one's best cell is then trained from scratch with identical settings (the
smoke child: one layer of 64 units, ``--scratch_epochs`` epochs) and its validation
perplexity printed, with each strategy's mean and the ratio to NAS-RL's.

    python benchmarks/ptb_strategies.py [--data=PATH] [--budget=150] [--seeds=0,1]
        [--scratch_epochs=3] [--strategies=nas_rl,enas]

Uses ../shared/data/ptb-mini when present, else synthetic text (meaningless numbers).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from nas_tf.tasks.ptb import PtbTask  # noqa: E402
from nas_tf.tasks.training import ChildFailure  # noqa: E402
from search_strategies import from_scratch, run_search  # noqa: E402

MINI = os.path.join(ROOT, "..", "shared", "data", "ptb-mini")


def smoke_config(data: str, strategy: str, seed: int):
  spec = importlib.util.spec_from_file_location("cfg", os.path.join(ROOT, "configs", "ptb.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config("smoke")
  c.data.source, c.search.strategy, c.seed = data, strategy, seed
  c.search.num_children = 10_000  # the budget stops it
  c.enas.epochs = 1_000
  return c


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", default=MINI if os.path.isdir(MINI) else "synthetic")
  parser.add_argument("--budget", type=float, default=150.0, help="search seconds per run")
  parser.add_argument("--seeds", default="0,1")
  parser.add_argument("--scratch_epochs", type=int, default=3)
  parser.add_argument("--strategies", default="nas_rl,enas")
  args = parser.parse_args()
  seeds, strategies = [int(s) for s in args.seeds.split(",")], args.strategies.split(",")
  print(f"data {args.data}; budget {args.budget:.0f}s per search; seeds {seeds}; from "
        f"scratch: {args.scratch_epochs} epochs", flush=True)
  print(f"{'strategy':8} {'seed':>4} {'cells':>6} {'search ppl':>10} {'scratch ppl':>11} "
        f"{'search s':>8}", flush=True)
  rows = []
  for seed in seeds:
    for strategy in strategies:  # interleaved, so machine-speed drift hits all alike
      with tempfile.TemporaryDirectory() as workdir:
        config = smoke_config(args.data, strategy, seed)
        best, count, seconds = run_search(config, workdir, args.budget, PtbTask)
        keras.backend.clear_session()
        try:
          scratch = from_scratch(smoke_config(args.data, "nas_rl", seed), best["arch"],
                                 args.scratch_epochs, PtbTask)
        except ChildFailure as e:  # a diverging cell is a result too: reported, not fatal
          print(f"         from scratch: failed ({e})", flush=True)
          scratch = float("nan")
        rows.append(dict(strategy=strategy, scratch=scratch))
        print(f"{strategy:8} {seed:>4} {count:>6} {best['val_perplexity']:>10.1f} "
              f"{scratch:>11.1f} {seconds:>8.0f}", flush=True)
        cell = "; ".join(PtbTask(config).space.describe(best["arch"]).splitlines())
        print(f"         best cell: {cell}", flush=True)
  mean = {s: float(np.nanmean([r["scratch"] for r in rows if r["strategy"] == s]))
          for s in strategies}
  print("\nmean from-scratch validation perplexity (diverged runs left out): "
        + ", ".join(f"{s} {mean[s]:.1f}" for s in strategies))
  if "nas_rl" in mean:
    for s in strategies:
      if s != "nas_rl":
        print(f"{s} / nas_rl = {mean[s] / mean['nas_rl']:.3f} (lower is better)")


if __name__ == "__main__":
  main()
