"""Zero-cost proxies and NASWOT on NAS-Bench-201 (CIFAR-10) against their authors' figures.

1. Scores random cells with every proxy (``nas-tf score``, resumable: rerun to add cells; the
   networks start as PyTorch's, on CIFAR-10 training images).
2. Rank correlation: each proxy's |Spearman| with the cells' 200-epoch test accuracy on
   cifar10-valid (``c10valid200_test_acc``, the column the authors' notebook uses), next to
   mohsaied/zero-cost-nas ``notebooks/nasbench201_correlations.ipynb`` (all 15,625 cells);
   the vote's pairwise accuracy; the parameter and FLOP baselines.
4. AREA against REA (Mellor et al., section 5; NAS-Bench-201's protocol, 12,000 simulated
   seconds, P=10, S=3, 500 runs with the same seeds): regularized evolution whose first
   population is the best P of 2P candidates by NASWOT, against a random first population.
   The 2P candidates are drawn from the NASWOT-scored cells (a uniform sample of the space);
   everything after them is the whole space, looked up in the table.
3. NASWOT search (Mellor et al., ICML 2021, Table 2): 500 runs, each picking the best NASWOT
   score of N cells drawn at random (with replacement, as ``search.py``); the chosen cell's
   test accuracy after training on train+valid (``search.py`` builds its space for
   "cifar10": ``c10_200_test_acc_trainval``), mean +- std. Scores are computed once per cell and reused across runs, and
   the cells are drawn from those scored (a uniform sample of the space), where the authors
   re-initialize and re-score each network per run over all 15,625.
5. NAS-RL with and without Abdelfattah et al.'s warm-up (section 5; ``controller.warm_start``):
   the ``small`` preset's REINFORCE on NAS-Bench-201's protocol, 12,000 simulated seconds,
   the same seeds, the warm-up's NASWOT scores looked up; it needs every cell's NASWOT (the
   warm-up may sample any), so it runs once ``--scores`` hold all 15,625.

    python benchmarks/zero_cost.py --images=PATH/cifar-10-python.tar.gz [--cells=1000]
        [--scores=nb201_scores.jsonl] [--runs=500] [--rl_runs=500] [--table=PATH]
        [--warm_start_samples=100,...] [--rl_oracle]
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

SHARED = os.path.join(ROOT, "..", "shared", "data")
flags.DEFINE_string("images", os.path.join(SHARED, "cifar10-mini", "cifar-10-python.tar.gz"),
                    "CIFAR-10 training images the networks are scored on.")
flags.DEFINE_integer("cells", 1000, "random cells to score (0: only read --scores).")
flags.DEFINE_list("scores", ["nb201_scores.jsonl"], "the scores (nas-tf score's --out); "
                  "several files merge by cell, a later file's values first.")
flags.DEFINE_string("table", os.path.join(ROOT, "nas_tf", "data", "tables",
                                          "nasbench201.csv.gz"), "NAS-Bench-201's CSV.")
flags.DEFINE_integer("runs", 500, "NASWOT search and AREA runs (0: neither).")
flags.DEFINE_integer("rl_runs", 500, "NAS-RL runs with and without the NASWOT warm-up.")
flags.DEFINE_list("warm_start_samples", ["100"], "NAS-RL warm-ups to compare (0: none).")
flags.DEFINE_bool("rl_oracle", False, "warm NAS-RL up on the cells' accuracy instead of NASWOT "
                  "(c10_200_test_acc_trainval; every cell known): the most a warm-up can teach.")
FLAGS = flags.FLAGS

# The authors' notebook over all 15,625 cells, CIFAR-10: |Spearman| and the vote's pairwise
# accuracy (notebooks/nasbench201_correlations.ipynb, cells 2 and 4).
PUBLISHED = {"grad_norm": 0.594, "snip": 0.596, "grasp": 0.514, "fisher": 0.360,
             "synflow": 0.737, "jacob_cov": 0.731}
PUBLISHED_VOTE = 0.817
# Mellor et al. 2021, Table 2, NAS-Bench-201 CIFAR-10 test accuracy, mean +- std of 500 runs.
PUBLISHED_NASWOT = {10: (92.44, 1.13), 100: (92.81, 0.99), 1000: (92.96, 0.81)}
PUBLISHED_AREA = (91.20, 0.27)  # Mellor et al.: AREA's 200-epoch validation accuracy, CIFAR-10
PUBLISHED_REA = ((91.19, 0.31), (93.92, 0.30))  # NAS-Bench-201 paper, Table 5: val, test
PUBLISHED_REINFORCE = ((91.09, 0.37), (93.85, 0.37))  # the same table
PROXIES = ("grad_norm", "snip", "grasp", "fisher", "jacob_cov", "synflow", "naswot")


def table(path: str, column: str) -> dict[str, float]:
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rt") as f:
    return {row["arch_str"]: float(row[column]) for row in csv.DictReader(f)}


def cell_macs(arch_str: str) -> int:
  """Multiply-adds of the cells' convolutions (every other layer is the same for all cells):
  a k x k conv at stage s costs (C_s H_s)^2 k^2 = 512^2 k^2, whichever stage, in 15 cells.
  Dead branches count, as PyTorch runs them."""
  from nas_tf.spaces.tabular import nb201_ops
  ops = nb201_ops(arch_str)
  return 15 * 512 ** 2 * (9 * ops.count("nor_conv_3x3") + ops.count("nor_conv_1x1"))


def vote_accuracy(values: dict[str, np.ndarray], accuracy: np.ndarray) -> float:
  """The notebook's pairwise vote: over ordered pairs of distinct accuracy, the share where
  the majority of synflow, jacob_cov and snip orders them as the accuracy does."""
  right = total = 0
  for i in range(len(accuracy)):
    diff = accuracy[i] - accuracy
    with np.errstate(invalid="ignore"):  # -inf - -inf: an undefined jacob_cov against another
      positive = sum((values[m][i] - values[m] > 0).astype(int) for m in
                     ("synflow", "jacob_cov", "snip"))
    sign = np.where(positive >= 1.5, 1.0, -1.0)
    mask = diff != 0
    right += int(np.sum((sign * diff)[mask] > 0))
    total += int(np.sum(mask))
  return right / total


def main(argv):
  if FLAGS.cells:
    subprocess.run([sys.executable, "-m", "nas_tf", "score", "nasbench201",
                    f"--random={FLAGS.cells}", "--seed=0", f"--out={FLAGS.scores[-1]}",
                    f"--config.zero_cost.images={FLAGS.images}"], check=True)
  merged: dict[str, dict] = {}
  for path in FLAGS.scores:
    with open(path) as f:
      for line in f:
        row = json.loads(line)
        merged.setdefault(row["id"], {}).update(row)
  rows = [r for r in merged.values() if all(p in r for p in (*PROXIES, "params"))]
  scored = [r for r in merged.values() if "naswot" in r]  # the NASWOT search needs only it
  print(f"{len(rows)} NAS-Bench-201 cells scored with every proxy; {len(scored)} with NASWOT\n")
  if rows:
    correlations(rows)
  if scored and FLAGS.runs:  # --runs=0: the NAS-RL section alone
    naswot_search(scored, FLAGS.runs)
    area(scored, FLAGS.runs)
  nas_rl_warm_up({r["arch_str"]: r["naswot"] for r in scored}, FLAGS.rl_runs)


def correlations(rows: list[dict]) -> None:
  from nas_tf.strategies.pnas import spearman
  accuracy_of = table(FLAGS.table, "c10valid200_test_acc")
  accuracy = np.array([accuracy_of[r["arch_str"]] for r in rows])
  values = {p: np.array([np.nan if r.get(p) is None else r[p] for r in rows], np.float64)
            for p in (*PROXIES, "params")}
  values["flops"] = np.array([cell_macs(r["arch_str"]) for r in rows], np.float64)
  print(f"{np.mean([r['seconds'] for r in rows]):.2f} s per cell on this CPU")
  print("| proxy | abs Spearman here | authors' notebook (15,625 cells) | difference |")
  print("| --- | --- | --- | --- |")
  for p in (*PROXIES, "params", "flops"):
    v = values[p]
    ok = np.isfinite(v)  # the notebook's nan_policy='omit'
    rho = abs(spearman(v[ok], accuracy[ok]))
    ref = PUBLISHED.get(p)
    print(f"| {p} | {rho:.3f} | {ref if ref is not None else '-'} | "
          f"{rho - ref:+.3f} |" if ref is not None else f"| {p} | {rho:.3f} | - | - |")
  vote = vote_accuracy({m: np.nan_to_num(values[m], nan=-np.inf) for m in
                        ("synflow", "jacob_cov", "snip")}, accuracy)
  print(f"| vote (pairwise accuracy) | {vote:.3f} | {PUBLISHED_VOTE} | "
        f"{vote - PUBLISHED_VOTE:+.3f} |\n")


def naswot_search(scored: list[dict], runs: int) -> None:
  # search.py's: its space is built for "cifar10" (not cifar10-valid, as score_networks.py's),
  # so the chosen cell's test accuracy is after training on the whole training set.
  trainval_of = table(FLAGS.table, "c10_200_test_acc_trainval")
  trainval = np.array([trainval_of[r["arch_str"]] for r in scored])
  rng = np.random.default_rng(0)
  naswot = np.array([-np.inf if r["naswot"] is None else r["naswot"] for r in scored])
  print(f"NASWOT search, {runs} runs over the {len(scored)} scored cells (test accuracy "
        "after training on train+valid, c10_200_test_acc_trainval)")
  print("| N | test accuracy here | Mellor et al. Table 2 |")
  print("| --- | --- | --- |")
  for n, (mean, std) in PUBLISHED_NASWOT.items():
    picks = [trainval[idx[np.argmax(naswot[idx])]]
             for idx in (rng.integers(0, len(scored), n) for _ in range(runs))]
    print(f"| {n} | {np.mean(picks):.2f} +- {np.std(picks):.2f} | {mean} +- {std} |")


def searches(strategy, task, s, runs: int) -> dict[str, np.ndarray]:
  """Per run (seeds 0..runs-1, NAS-Bench-201's protocol in ``s``): the chosen cell's 200-epoch
  validation and test accuracy (%), the children, the distinct cells among them and the first
  ten's mean validation accuracy (%)."""
  from nas_tf.runner.tabular import chosen, simulate
  found = {k: [] for k in ("val", "test", "children", "distinct", "first")}
  for seed in range(runs):
    strategy.reset(seed)
    rows = simulate(strategy, task, seed, s.batch_size, 100_000, s.time_budget,
                    s.failure_reward, s.budget_rule)
    pick = chosen(rows, task.objective.rank_key)
    found["val"].append(100 * pick["final_val_accuracy"])
    found["test"].append(100 * pick["final_test_accuracy"])
    found["children"].append(len(rows))
    found["distinct"].append(len({r["id"] for r in rows}))
    found["first"].append(100 * np.mean([r["final_val_accuracy"] for r in rows[:10]
                                         if r["status"] == "ok"]))
  return {k: np.array(v) for k, v in found.items()}


def area(scored: list[dict], runs: int) -> None:
  from nas_tf import registry
  from nas_tf.presets import bundled
  from nas_tf.spaces.tabular import NB201_OPS, nb201_ops
  from nas_tf.strategies.evolution import RegularizedEvolution
  config = bundled("nasbench201", "nasbench201", "small", "evolution")
  task = registry.task_class("nasbench201")(config)
  task.prepare()
  pool = [([NB201_OPS.index(op) for op in nb201_ops(r["arch_str"])],
           -np.inf if r["naswot"] is None else r["naswot"]) for r in scored]

  class ScoredArea(RegularizedEvolution):
    def _warm_population(self, plan, rng):  # 2P of the scored cells, best P by NASWOT
      picks = [pool[i] for i in rng.choice(len(pool), 2 * self.population_size, replace=False)]
      picks.sort(key=lambda p: -p[1])
      return [tokens for tokens, _ in picks[:self.population_size]]
  e, s = config.evolution, config.search
  strategies = {"REA": RegularizedEvolution(task.space.token_types, e.population, e.sample_size),
                "AREA (NASWOT)": ScoredArea(task.space.token_types, e.population, e.sample_size,
                                            "naswot", task.space)}
  print(f"\nAREA against REA, {runs} runs each, {s.time_budget} simulated, P={e.population} "
        f"S={e.sample_size} (200-epoch accuracy of the chosen cell, %)")
  print("| method | validation | test | published validation |")
  print("| --- | --- | --- | --- |")
  for name, strategy in strategies.items():
    found = searches(strategy, task, s, runs)
    val, test = found["val"], found["test"]
    ref = PUBLISHED_AREA if name.startswith("AREA") else PUBLISHED_REA[0]
    print(f"| {name} | {np.mean(val):.2f} +- {np.std(val):.2f} | {np.mean(test):.2f} +- "
          f"{np.std(test):.2f} | {ref[0]} +- {ref[1]} |")


def nas_rl_warm_up(naswot_of: dict[str, float | None], runs: int) -> None:
  from nas_tf import registry
  from nas_tf.presets import bundled
  config = bundled("nasbench201", "nasbench201", "small", "nas_rl")
  config.zero_cost.images = FLAGS.images  # checked by the warm-up's settings, never read here
  task = registry.task_class("nasbench201")(config)
  task.prepare()
  if FLAGS.rl_oracle:  # a proxy that is the accuracy: what a warm-up can teach at best
    naswot_of = table(FLAGS.table, "c10_200_test_acc_trainval")
  s, c = config.search, config.controller
  print(f"\nNAS-RL with and without the warm-up on {'the accuracy' if FLAGS.rl_oracle else 'NASWOT'}"
        f", {runs} runs each, {s.time_budget} simulated (200-epoch accuracy of the chosen cell, "
        "%; distinct cells among the children; mean validation accuracy of the first 10)")
  if len(naswot_of) < len(task.table):
    print(f"skipped: NASWOT of {len(naswot_of)} of the {len(task.table)} cells (the warm-up "
          "may sample any)")
    return
  (v, dv), (t, dt) = PUBLISHED_REINFORCE
  print(f"| warm-up samples | validation | test | children | distinct | first 10 |")
  print("| --- | --- | --- | --- | --- | --- |")
  print(f"| paper: REINFORCE | {v} +- {dv} | {t} +- {dt} | | | |")
  for samples in [0, *map(int, FLAGS.warm_start_samples)]:
    c.warm_start, c.warm_start_samples = ("naswot", samples) if samples else ("", 100)
    strategy = registry.strategy_class("nas_rl").from_config(config, task.space, True)
    strategy.score = lambda arch: {"naswot": naswot_of[arch["arch_str"]]}
    strategy.log = lambda line: None
    found = searches(strategy, task, s, runs)
    val, test = found["val"], found["test"]
    print(f"| {samples} | {np.mean(val):.2f} +- {np.std(val):.2f} | {np.mean(test):.2f} +- "
          f"{np.std(test):.2f} | {np.mean(found['children']):.1f} | "
          f"{np.mean(found['distinct']):.1f} | {np.mean(found['first']):.2f} |")

if __name__ == "__main__":
  app.run(main)
