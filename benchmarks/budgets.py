"""Search under a parameter budget on NAS-Bench-Macro (Su et al., CVPR 2021), in minutes on
2 cores: every strategy against the table's own best under the budget, found by enumerating
all 6,561 networks.

Each run is a constrained search (``search.objective.kind=constraint``, ``cost=params``,
``target``: the table's median parameter count by default) of 100 trained children: the time
budget is 100 queries of ``data.seconds_per_child``, and a child over the budget is never
trained, so it costs none. The chosen network is the best by fitness (the first run's test
accuracy; the benchmark has no validation split); reported is its mean accuracy over the
table's three runs, against the best mean under the budget. Then the Pareto front (fitness
against parameters) of the first run of each strategy, against the table's true front:
its hypervolume as a share of the true front's, and the true front's points it found.

    python benchmarks/budgets.py [--table=PATH] [--runs=100] [--children=100] [--workers=2]
        [--target=0] [--methods=random,nas_rl,evolution,local,guided]
        [--config=configs/nasbench_macro.py]
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import ConfigDict, config_flags  # noqa: E402

TABLE = os.path.join(ROOT, "..", "shared", "data", "nasbench", "nas-bench-macro_cifar10.json")

flags.DEFINE_string("table", TABLE, "the NAS-Bench-Macro table (JSON)")
flags.DEFINE_integer("runs", 100, "runs per method")
flags.DEFINE_integer("children", 100, "trained children per run")
flags.DEFINE_integer("workers", 2, "processes")
flags.DEFINE_float("target", 0.0, "the parameter budget (0: the table's median)")
flags.DEFINE_list("methods", ["random", "nas_rl", "evolution", "local", "guided"], "strategies")
config_flags.DEFINE_config_file("config", os.path.join(ROOT, "configs", "nasbench_macro.py"),
                                "the search settings")
FLAGS = flags.FLAGS

_CACHE: dict = {}  # in a worker: the task, and strategies per method (traced once)


def _task(config):
  from nas_tf import registry
  if "task" not in _CACHE:
    _CACHE["task"] = registry.task_class(config.task)(config)
    _CACHE["task"].prepare()
  return _CACHE["task"]


def _runs(job) -> list[dict]:
  """One worker's share: (config json, method, seeds) -> per run: the chosen network's
  table row, and the front of the run's children."""
  config_json, method, run_seeds = job
  from nas_tf import registry
  from nas_tf.runner.tabular import chosen, simulate
  from nas_tf.tasks.objective import pareto_front
  config = ConfigDict(json.loads(config_json))
  config.search.strategy = method
  task = _task(config)
  if method not in _CACHE:
    _CACHE[method] = registry.strategy_class(method).from_config(config, task.space, True)
  strategy, s = _CACHE[method], config.search
  out = []
  for seed in run_seeds:
    strategy.reset(seed)
    rows = simulate(strategy, task, seed, s.batch_size, s.num_children, s.time_budget,
                    s.failure_reward, s.budget_rule)
    pick = chosen(rows, task.objective.rank_key)
    front = pareto_front(rows, task.metric, "params")
    out.append({"mean": pick["final_test_accuracy"], "params": pick["params"],
                "trained": sum(r["status"] == "ok" for r in rows),
                "over": sum(r["status"] == "over_budget" for r in rows),
                "front": [(r["params"], r[task.metric], r["arch"]["key"]) for r in front]})
  return out


def hypervolume(front, budget: float, floor: float) -> float:
  """The area that ``front`` ((params, accuracy) by increasing params) dominates in the box
  params <= budget, accuracy >= floor."""
  area, below = 0.0, floor
  for params, accuracy, *_ in front:
    if accuracy > below:
      area += (accuracy - below) * (budget - params)
      below = accuracy
  return area


def main(argv):
  del argv
  if not os.path.exists(FLAGS.table):
    print(f"no table at {FLAGS.table}: pass --table=nas-bench-macro_cifar10.json")
    return 2
  config = FLAGS.config
  config.data.source = os.path.abspath(FLAGS.table)
  task = _task(config)
  table = task.table
  target = FLAGS.target or float(statistics.median(r["params"] for r in table.values()))
  o = config.search.objective
  o.kind, o.cost, o.target = "constraint", "params", target
  config.search.num_children = 100 * FLAGS.children  # the time budget ends each run
  config.search.time_budget = f"{FLAGS.children * config.data.seconds_per_child:g}s"
  from nas_tf.tasks.objective import pareto_front
  rows = [{"index": i, "id": k, "status": "ok", **v} for i, (k, v) in enumerate(table.items())]
  under = [r for r in rows if r["params"] <= target]
  best_mean = max(r["final_test_accuracy"] for r in under)
  top = max(under, key=lambda r: r[task.metric])
  true_front = [(r["params"], r[task.metric], r["id"])
                for r in pareto_front(under, task.metric, "params")]
  # By value: networks of equal parameters and fitness are the same point of the front.
  true_points = {p[:2] for p in true_front}
  floor = min(r[task.metric] for r in under)
  true_volume = hypervolume(true_front, target, floor)
  print(f"NAS-Bench-Macro, {len(table):,} networks; budget params <= {target:,.0f} "
        f"({len(under):,} networks under it); {FLAGS.children} trained children per run, "
        f"{FLAGS.runs} runs per method, preset {config.about.preset}, {FLAGS.workers} processes")
  print(f"best under the budget: mean accuracy {100 * best_mean:.2f}; the fitness optimum "
        f"under it ({top['id']}) has mean {100 * top['final_test_accuracy']:.2f}")
  print(f"\n{'method':<10} {'chosen mean acc':>16} {'gap (points)':>13} {'within 0.2':>11} "
        f"{'over budget':>12} {'front volume':>13} {'true front found':>17} {'seconds':>8}")
  ctx = multiprocessing.get_context("spawn")  # TensorFlow does not survive fork
  fronts = {}
  with ctx.Pool(FLAGS.workers) as pool:
    for method in FLAGS.methods:
      started = time.perf_counter()
      chunks = [list(range(i, FLAGS.runs, FLAGS.workers)) for i in range(FLAGS.workers)]
      jobs = [(config.to_json(), method, c) for c in chunks if c]
      results = [r for part in pool.map(_runs, jobs) for r in part]
      means = 100 * np.array([r["mean"] for r in results])
      gaps = 100 * best_mean - means
      assert all(r["params"] <= target for r in results)  # every pick respects the budget
      volume = np.mean([hypervolume(r["front"], target, floor) for r in results]) / true_volume
      found = np.mean([len(true_points & {p[:2] for p in r["front"]}) for r in results])
      fronts[method] = results[0]["front"]
      print(f"{method:<10} {means.mean():>9.2f} +- {means.std():.2f} {gaps.mean():>13.2f} "
            f"{100 * np.mean(gaps <= 0.2):>10.0f}% {np.mean([r['over'] for r in results]):>12.1f}"
            f" {100 * volume:>12.1f}% {found:>8.1f} of {len(true_front):<6}"
            f"{time.perf_counter() - started:>8.1f}", flush=True)
  print(f"\ntrue front (fitness against params, {len(true_front)} networks) and the first "
        "run's front of each method (* = on the true front)")
  for params, accuracy, key in true_front:
    print(f"  {params:>10,} {100 * accuracy:>6.2f}  {key}")
  for method, front in fronts.items():
    points = ", ".join(f"{p:,}:{100 * a:.2f}{'*' if (p, a) in true_points else ''}"
                       for p, a, _ in front)
    print(f"  {method}: {points}")
  return 0


if __name__ == "__main__":
  app.run(main)
