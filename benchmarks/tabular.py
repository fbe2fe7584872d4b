"""Strategies against the NAS-Bench-201 paper's own table, in minutes on 2 cores.

The benchmark's protocol (Dong & Yang, ICLR 2020, section 5): each run searches until
12,000 simulated seconds are spent, with the 12-epoch validation accuracy as fitness; the
chosen cell is the best by fitness, and its 200-epoch validation accuracy and its 200-epoch
test accuracy (trained on train+valid) are reported as mean +- std over the runs. It is
printed next to the paper's Table 5 (CIFAR-10), then the same at 1,000 children, then for
CIFAR-100 and ImageNet16-120 (whose table has no 200-epoch validation column: test only).

The strategies are nas-tf's own classes with the settings of ``--config`` (default: the
``nasbench201`` config's default preset, the settings users get), driven in memory by
``nas_tf.runner.tabular.simulate`` (the search loop's rules without its work directory).
The last column is the share of runs whose chosen cell is the table's best by fitness.

    python benchmarks/tabular.py [--table=PATH] [--runs=500] [--long_runs=100]
        [--workers=2] [--methods=random,nas_rl,evolution,local,guided]
        [--datasets=cifar10,...]
        [--config=configs/nasbench201.py:paper] [--config.controller.learning_rate=0.05]
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import ConfigDict, config_flags  # noqa: E402

TABLE = os.path.join(ROOT, "..", "shared", "data", "nasbench",
                     "nb201_cifar10_cifar100_imagenet16.csv")
# NAS-Bench-201 paper, Table 5, CIFAR-10: (200-epoch validation, test) as (mean, std).
PUBLISHED = {"REINFORCE": ((91.09, 0.37), (93.85, 0.37)), "random": (None, (93.70, 0.36)),
             "REA (evolution)": ((91.19, 0.31), (93.92, 0.30))}

flags.DEFINE_string("table", TABLE, "the NAS-Bench-201 table (CSV)")
flags.DEFINE_integer("runs", 500, "runs per method at the 12,000 s budget")
flags.DEFINE_integer("long_runs", 100, "runs per method at 1,000 children (0: skip)")
flags.DEFINE_integer("other_runs", 100, "runs per method for cifar100 and imagenet16")
flags.DEFINE_integer("workers", 2, "processes")
flags.DEFINE_list("methods", ["random", "nas_rl", "evolution", "local", "guided"],
                  "strategies")
flags.DEFINE_list("datasets", ["cifar10", "cifar100", "imagenet16"], "data.dataset values")
config_flags.DEFINE_config_file("config", os.path.join(ROOT, "configs", "nasbench201.py"),
                                "the search settings")
FLAGS = flags.FLAGS

_CACHE: dict = {}  # in a worker: tasks per dataset, strategies per method (traced once)


def _runs(job) -> list[dict]:
  """One worker's share: (config json, method, dataset, budget, children, seeds)."""
  config_json, method, dataset, budget, children, run_seeds = job
  from nas_tf import registry
  from nas_tf.runner.tabular import chosen, simulate
  config = ConfigDict(json.loads(config_json))
  config.search.strategy, config.data.dataset = method, dataset
  if dataset not in _CACHE:
    _CACHE[dataset] = registry.task_class(config.task)(config)
    _CACHE[dataset].prepare()
  task = _CACHE[dataset]
  if method not in _CACHE:
    _CACHE[method] = registry.strategy_class(method).from_config(config, task.space, True)
  strategy = _CACHE[method]
  top = max(r[task.metric] for r in task.table.values())  # the fitness optimum
  out = []
  for seed in run_seeds:
    strategy.reset(seed)
    rows = simulate(strategy, task, seed, config.search.batch_size, children, budget,
                    config.search.failure_reward,
                    config.search.get("budget_rule", "nats_bench"))
    pick = chosen(rows, task.objective.rank_key)
    out.append({"children": len(rows), "val": pick.get("final_val_accuracy", float("nan")),
                "test": pick["final_test_accuracy"], "top": pick[task.metric] == top})
  return out


def measure(pool, config, method, dataset, runs, budget, children) -> dict:
  chunks = [list(range(i, runs, FLAGS.workers)) for i in range(FLAGS.workers)]
  jobs = [(config.to_json(), method, dataset, budget, children, c) for c in chunks if c]
  results = [r for part in pool.map(_runs, jobs) for r in part]
  table = {k: 100 * np.array([r[k] for r in results]) for k in ("val", "test")}
  return {"children": np.mean([r["children"] for r in results]), "runs": len(results),
          "top": 100 * np.mean([r["top"] for r in results]), **{
      k: (float(np.mean(v)), float(np.std(v))) for k, v in table.items()}}


def fmt(pair) -> str:
  return "-" if pair is None or np.isnan(pair[0]) else f"{pair[0]:.2f} +- {pair[1]:.2f}"


def optimum(dataset: str) -> tuple[float, float]:
  from nas_tf import registry
  config = FLAGS.config.copy_and_resolve_references()
  config.data.source, config.data.dataset = FLAGS.table, dataset
  task = registry.task_class("nasbench201")(config)
  task.prepare()
  rows = task.table.values()
  return (100 * max(r.get("final_val_accuracy", float("nan")) for r in rows),
          100 * max(r["final_test_accuracy"] for r in rows))


def main(argv):
  del argv
  if not os.path.exists(FLAGS.table):
    print(f"no table at {FLAGS.table}: pass --table=nb201_cifar10_cifar100_imagenet16.csv")
    return 2
  config = FLAGS.config
  config.data.source = os.path.abspath(FLAGS.table)
  print(f"preset {config.about.preset}: m={config.search.batch_size}, controller lr "
        f"{config.controller.learning_rate:g}, baseline decay {config.controller.baseline_decay:g}"
        f", evolution P={config.evolution.population} S={config.evolution.sample_size}; "
        f"{FLAGS.workers} processes", flush=True)
  settings = [("cifar10", FLAGS.runs, config.search.time_budget, 100_000, "12,000 s")]
  if FLAGS.long_runs:
    settings.append(("cifar10", FLAGS.long_runs, "", 1_000, "1,000 children"))
  settings += [(d, FLAGS.other_runs, config.search.time_budget, 100_000, "12,000 s")
               for d in FLAGS.datasets if d != "cifar10" and FLAGS.other_runs]
  ctx = multiprocessing.get_context("spawn")  # TensorFlow does not survive fork
  with ctx.Pool(FLAGS.workers) as pool:
    for dataset, runs, budget, children, label in settings:
      if dataset not in FLAGS.datasets or not runs:
        continue
      best_val, best_test = optimum(dataset)
      print(f"\n{dataset}, {label}, {runs} runs per method "
            f"(200-epoch accuracy of the chosen cell, %)")
      print(f"{'method':<22} {'children':>8} {'validation':>15} {'test':>15} {'seconds':>8} "
            f"{'fitness optimum chosen':>22}")
      for method in FLAGS.methods:
        started = time.perf_counter()
        r = measure(pool, config, method, dataset, runs, budget, children)
        print(f"{method:<22} {r['children']:>8.1f} {fmt(r['val']):>15} {fmt(r['test']):>15} "
              f"{time.perf_counter() - started:>8.1f} {r['top']:>21.0f}%", flush=True)
      if dataset == "cifar10" and label == "12,000 s":
        for name, (val, test) in PUBLISHED.items():
          print(f"{'paper: ' + name:<22} {'':>8} {fmt(val):>15} {fmt(test):>15}")
      print(f"{'optimum (the table)':<22} {'':>8} {fmt((best_val, 0.0)):>15} "
            f"{fmt((best_test, 0.0)):>15}")
  return 0


if __name__ == "__main__":
  app.run(main)
