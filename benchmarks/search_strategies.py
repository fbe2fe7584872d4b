"""Which strategy wins on your data at an equal budget: random, nas_rl, enas, pnas.

For each strategy and seed, a search runs on the smoke preset's spaces until its budget is
spent: a wall time (random and nas_rl stop after the child that crosses it; ENAS stops its
shared-weight training after the epoch that crosses it, then derives) or, with
``--children=N``, N trained children (PNAS's comparison: its claim is about the number of
models trained). Each strategy's best architecture is then trained from scratch with
identical settings, and a table and each strategy's ratio to random search of the
from-scratch accuracies are printed.

    python benchmarks/search_strategies.py [--data=PATH] [--budget=150] [--seeds=0,1]
        [--scratch_epochs=5] [--strategies=random,nas_rl,enas]
    # ENAS macro / micro against random search on ENAS's space, ENAS given a tenth of the time:
    python benchmarks/search_strategies.py --space=enas_macro --strategies=random,enas \
        --budget=600 --one_shot_budget=60 --seeds=0,1,2
    # PNAS against random and nas_rl on PNAS's cell space, 12 children each (3 rounds of 4):
    python benchmarks/search_strategies.py --space=cell --children=12 \
        --strategies=random,nas_rl,pnas --seeds=0,1,2

Uses ../shared/data/cifar10-mini when present, else synthetic images (meaningless numbers).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from nas_tf.store import workdir as wd  # noqa: E402
from nas_tf.store.checkpoints import CheckpointStore  # noqa: E402
from nas_tf.runner.run import OneShotSearch  # noqa: E402
from nas_tf.runner.loop import Search  # noqa: E402
from nas_tf.tasks.cifar10 import Cifar10Task  # noqa: E402

MINI = os.path.join(ROOT, "..", "shared", "data", "cifar10-mini", "cifar-10-python.tar.gz")


class BudgetSpent(Exception):
  pass


def smoke_config(data: str, strategy: str, seed: int, space: str = "cnn", children: int = 0):
  spec = importlib.util.spec_from_file_location("cfg", os.path.join(ROOT, "configs", "cifar10.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config("smoke")
  c.data.source, c.search.strategy, c.seed = data, strategy, seed
  c.search.num_children = children or 10_000  # else the budget stops it
  c.search.depth_every = 8        # grow 2 -> 4 -> 6 layers as children accumulate
  c.enas.epochs = 1_000
  c.space.kind = space
  if strategy in ("darts", "darts2"):  # DARTS' own cell space; random search searches it too
    c.search.strategy, c.darts.order = "darts", 1 + strategy.endswith("2")
    c.darts.epochs = 1_000  # the budget stops it
  if space == "darts":
    c.space.kind = "cell"
    c.space.ops, c.space.cell_output, c.space.same_cell_for_reduction = "darts", "all", "false"
  elif space == "enas_cell":  # ENAS micro's space for every strategy: enas ops, two cells
    c.space.kind, c.space.ops, c.space.same_cell_for_reduction = "cell", "enas", "false"
  elif space == "enas_macro":  # ENAS's macro space for every strategy
    c.enas.num_layers, c.enas.channels = 6, 16
  elif space == "cell":  # PNAS's space for every strategy: its ops, one cell for both
    c.space.ops, c.space.same_cell_for_reduction = "pnas", "true"
    c.pnas.max_blocks = 0  # space.num_blocks (3 in smoke)
    c.pnas.beam = max(1, (children or 12) // c.space.num_blocks)
  return c


def run_search(config, workdir: str, budget: float, task_class=Cifar10Task
               ) -> tuple[dict, int, float]:
  """Runs until ``budget`` seconds are spent (0: until num_children); returns (best row,
  architectures, seconds)."""
  budget = budget or float("inf")
  started = time.perf_counter()
  epoch_ends = []  # one-shot strategies: when each epoch's checkpoint was written
  task = task_class(config)
  if config.search.strategy in ("enas", "darts"):
    def after_epoch(epoch):
      epoch_ends.append(time.perf_counter())
      if time.perf_counter() - started > budget:
        config[config.search.strategy].epochs = epoch + 1  # the loop ends here and derives
    OneShotSearch(config, workdir, task, log=lambda _: None, after_epoch=after_epoch).run()
  else:
    def after_child(index):
      if time.perf_counter() - started > budget:
        raise BudgetSpent()
    try:
      Search(config, workdir, task, log=lambda _: None, after_child=after_child).run()
    except BudgetSpent:
      pass
  rows = [r for r in wd.read_jsonl(os.path.join(workdir, "children.jsonl"))
          if r["status"] == "ok"]
  sign = 1 if task.higher_is_better else -1
  best = max(rows, key=lambda r: sign * r[task.metric])
  if epoch_ends:
    seconds = np.diff([started, *epoch_ends])
    print(f"         {config.search.strategy}: {len(seconds)} epochs, {np.median(seconds):.1f} s "
          f"per epoch (median; the first, with start-up and trace, {seconds[0]:.1f} s)",
          flush=True)
  return best, len(rows), time.perf_counter() - started


def pnas_rounds(workdir: str) -> str:
  """Each PNAS round's candidates, best reward and the surrogate's Spearman rho."""
  state = CheckpointStore(os.path.join(workdir, "checkpoints")).latest()["state"]
  return "; ".join(f"b={r['blocks']}: {r['candidates']} candidates, best reward "
                   f"{r.get('best_reward', float('nan')):.4f}, rho "
                   f"{r.get('spearman', float('nan')):.2f}"
                   for r in state["strategy"]["rounds"])


def from_scratch(config, arch: dict, epochs: int, task_class=Cifar10Task) -> float:
  """The architecture trained from scratch with the smoke child settings, seed 0: its
  validation metric."""
  config.child.epochs = epochs
  task = task_class(config)
  task.prepare()
  metrics = task.train_child(arch, seed=0)
  keras.backend.clear_session()
  return metrics[task.metric]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", default=MINI if os.path.exists(MINI) else "synthetic")
  parser.add_argument("--budget", type=float, default=150.0, help="search seconds per run")
  parser.add_argument("--seeds", default="0,1")
  parser.add_argument("--scratch_epochs", type=int, default=5)
  parser.add_argument("--strategies", default="random,nas_rl,enas")
  parser.add_argument("--space", default="cnn",
                      choices=("cnn", "cell", "darts", "enas_macro", "enas_cell"),
                      help="cell: PNAS's cell space; darts: DARTS' (for darts, darts2); "
                      "enas_macro, enas_cell: ENAS's macro and micro spaces")
  parser.add_argument("--one_shot_budget", type=float, default=0.0,
                      help="seconds for enas/darts/darts2 (default --budget): a tenth of "
                      "--budget asks whether they match random search in 1/10 of its time")
  parser.add_argument("--children", type=int, default=0,
                      help="trained children per search instead of a wall-time budget")
  args = parser.parse_args()
  seeds = [int(s) for s in args.seeds.split(",")]
  strategies = args.strategies.split(",")
  budget = 0.0 if args.children else args.budget
  what = f"{args.children} children" if args.children else f"budget {args.budget:.0f}s"
  print(f"data {args.data}; {args.space} space; {what} per search; seeds {seeds}; "
        f"from scratch: {args.scratch_epochs} epochs", flush=True)
  rows = []
  header = (f"{'strategy':8} {'seed':>4} {'archs':>6} {'search acc':>10} {'scratch acc':>11} "
            f"{'search s':>8} {'scratch s':>9}")
  print(header, flush=True)
  for seed in seeds:
    for strategy in strategies:  # interleaved, so machine-speed drift hits all alike
      with tempfile.TemporaryDirectory() as workdir:
        config = smoke_config(args.data, strategy, seed, args.space, args.children)
        one_shot = strategy in ("enas", "darts", "darts2") and args.one_shot_budget
        best, count, seconds = run_search(config, workdir,
                                          args.one_shot_budget if one_shot else budget)
        if strategy == "pnas":
          print(f"         pnas rounds: {pnas_rounds(workdir)}", flush=True)
        keras.backend.clear_session()
        t0 = time.perf_counter()
        scratch = from_scratch(smoke_config(args.data, "random", seed, args.space),
                               best["arch"], args.scratch_epochs)
        row = dict(strategy=strategy, seed=seed, archs=count, search=best["val_accuracy"],
                   scratch=scratch, seconds=seconds, scratch_seconds=time.perf_counter() - t0)
        rows.append(row)
        print(f"{strategy:8} {seed:>4} {count:>6} {row['search']:>10.4f} {scratch:>11.4f} "
              f"{seconds:>8.0f} {row['scratch_seconds']:>9.0f}", flush=True)
  mean = {s: float(np.mean([r["scratch"] for r in rows if r["strategy"] == s]))
          for s in strategies}
  print("\nmean from-scratch validation accuracy: "
        + ", ".join(f"{s} {mean[s]:.4f}" for s in strategies))
  if "random" in mean:
    for s in strategies:
      if s != "random":
        print(f"{s} / random = {mean[s] / mean['random']:.3f}")


if __name__ == "__main__":
  main()
