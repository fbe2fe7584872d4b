"""Search objectives (``search.objective``): cost metrics of built children, the hard budget,
MnasNet's soft reward, and the Pareto front (pareto.json, its picture, ``show --pareto``)."""

import itertools
import json
import os

import numpy as np
import pytest

from conftest import CIFAR_MINI, kill_then_resume, load_config, records, run_cli
from nas_tf import registry
from nas_tf.store import workdir as wd
from nas_tf.config import ConfigError
from nas_tf.runner.tabular import chosen, simulate
from nas_tf.tasks.objective import Objective, pareto_front

BUDGET = 1_600_000  # about the synthetic table's median


@pytest.fixture(scope="module")
def macro_table(tmp_path_factory):
  """All 6,561 NAS-Bench-Macro keys in its format: MobileNetV2 blocks add parameters and
  (less and less) accuracy, so the best networks are the largest ones."""
  table = {}
  for digits in itertools.product("012", repeat=8):
    key = "".join(digits)
    blocks = [int(d) for d in digits]
    params = 400_000 + sum(b * (60_000 + 25_000 * i) for i, b in enumerate(blocks))
    accuracy = 60 + 35 * (1 - np.exp(-sum(blocks) / 6)) + (int(key, 3) % 7) / 10
    table[key] = {"test_acc": [accuracy, accuracy - 0.1, accuracy + 0.1], "mean_acc": accuracy,
                  "std": 0.1, "params": params, "flops": 20 * params}
  path = tmp_path_factory.mktemp("macro") / "macro.json"
  path.write_text(json.dumps(table))
  return str(path)


def macro_config(source, strategy="evolution", kind="constraint", target=BUDGET, **search):
  c = load_config("small", "nasbench_macro")
  c.data.source, c.search.strategy = source, strategy
  c.search.objective.update(kind=kind, target=float(target))
  c.search.update(search)
  c.evolution.population, c.evolution.sample_size = 8, 3
  return c


def prepared(config):
  task = registry.task_class(config.task)(config)
  task.prepare()
  return task


def brute_front(rows, metric, cost, higher=True):
  """The rows no other row dominates (ties: the earlier index), by the definition."""
  sign = 1 if higher else -1
  ok = [r for r in rows if r["status"] == "ok"]

  def dominates(a, b):
    at_least = a[cost] <= b[cost] and sign * a[metric] >= sign * b[metric]
    strictly = a[cost] < b[cost] or sign * a[metric] > sign * b[metric]
    return at_least and (strictly or a["index"] < b["index"])
  front = [r for r in ok if not any(dominates(o, r) for o in ok if o is not r)]
  return sorted(front, key=lambda r: r[cost])


@pytest.mark.parametrize("higher", [True, False])
def test_the_pareto_front_is_the_set_no_child_dominates(higher):
  rng = np.random.default_rng(0)
  costs = rng.integers(0, 12, size=300)
  # A trade-off with ties: a higher cost buys a better metric, give or take 3.
  metrics = (costs if higher else -costs) + rng.integers(0, 4, size=300)
  rows = [{"index": i, "status": "ok" if i % 9 else "failed", "cost": int(costs[i]),
           "metric": float(metrics[i])} for i in range(300)]
  front = pareto_front(rows, "metric", "cost", higher)
  assert [r["index"] for r in front] == [r["index"] for r in brute_front(rows, "metric", "cost",
                                                                         higher)]
  assert 2 <= len(front) <= 12


def test_tensorflow_counts_the_flops_of_a_conv_and_a_dense_layer():
  import keras
  import tensorflow as tf

  from nas_tf.tasks import costs
  inputs = keras.Input((8, 8, 3))
  x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
  outputs = keras.layers.Dense(5, use_bias=False)(keras.layers.Flatten()(x))
  model = keras.Model(inputs, outputs)
  measured = costs.measure(model, tf.TensorSpec([1, 8, 8, 3]), latency_calls=5)
  # A multiply-add is two operations: 64 positions x 3x3x3 x 4 filters, then 256 x 5.
  assert measured["flops"] == 2 * 64 * 27 * 4 + 2 * 256 * 5
  assert measured["params"] == 27 * 4 + 256 * 5
  assert measured["latency_ms"] > 0
  assert "latency_ms" not in costs.measure(model, tf.TensorSpec([1, 8, 8, 3]), latency_calls=0)


def test_a_language_model_is_counted_per_token_with_its_cell_step():
  import tensorflow as tf

  from nas_tf.models import rnn_cell
  from nas_tf.spaces.published_recurrent import NAS_RL_CELL
  from nas_tf.tasks import costs
  units, vocab = 32, 100
  model = rnn_cell.build_language_model(NAS_RL_CELL, vocab, units, 1, stateful=False)
  flops = costs.measure(model, tf.TensorSpec([1, 1], tf.int32))["flops"]
  # 8 leaves of W x + W h, and the output projection; the rest is elementwise.
  matmuls = 8 * 2 * 2 * units * units + 2 * units * vocab
  assert matmuls <= flops <= 1.1 * matmuls


@pytest.mark.parametrize("change,message", [
    ({"kind": "budget"}, "search.objective.kind must be one of metric, constraint, soft"),
    ({"kind": "constraint", "target": 0.0}, "search.objective.target must be > 0"),
    ({"kind": "soft", "cost": "memory", "target": 1.0}, "search.objective.cost must be one of"),
    ({"kind": "constraint", "cost": "latency_ms", "target": 5.0},
     "nasbench_macro does not report latency_ms (it reports: params, flops)")])
def test_bad_objectives_fail_with_one_line(macro_table, change, message):
  config = macro_config(macro_table)
  config.search.objective.update(change)
  with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
    registry.task_class(config.task)(config)


def test_one_shot_methods_refuse_a_budget_and_the_cli_says_so_in_one_line(tmp_path):
  config = load_config("smoke", "cifar10")
  config.search.strategy = "darts"
  config.search.objective.update(kind="constraint", target=1e5)
  with pytest.raises(ConfigError, match="DARTS trains a supernet for the metric alone"):
    Objective.from_config(config, registry.task_class("cifar10"))
  out = run_cli("search", "nasbench201", f"--workdir={tmp_path}", "--config.data.source=t.csv",
                "--config.search.objective.kind=constraint",
                "--config.search.objective.target=100")
  assert out.returncode == 2
  assert out.stderr.strip().splitlines()[-1].endswith(
      "search.objective.cost: nasbench201 does not report params (it reports: none)")


def test_a_hard_budget_trains_no_child_over_it_and_keeps_the_front(tmp_path, macro_table):
  from nas_tf.runner.loop import Search
  # Three over-budget children in a row would stop a search if they counted as failures.
  config = macro_config(macro_table, num_children=60, time_budget="",
                        max_consecutive_failures=3)
  lines = []
  result = Search(config, str(tmp_path), prepared(config), log=lines.append).run()
  rows = wd.read_jsonl(os.path.join(str(tmp_path), "children.jsonl"))
  ok = [r for r in rows if r["status"] == "ok"]
  over = [r for r in rows if r["status"] == "over_budget"]
  assert len(rows) == 60 and len(over) >= 5 and ok
  assert all(r["params"] <= BUDGET for r in ok)
  assert all(r["params"] > BUDGET and r["reward"] == config.search.failure_reward
             and r["run1_test_accuracy"] is None and "simulated_seconds" not in r
             for r in over)
  assert f"params {over[0]['params']:,} > {BUDGET:,}" in over[0]["error"]
  assert result.best["id"] == max(ok, key=lambda r: (r["run1_test_accuracy"],
                                                     -r["index"]))["id"]
  assert f"({result.failed} failed, {len(over)} over the budget)" in lines[-1]
  pareto = wd.read_json(os.path.join(str(tmp_path), "pareto.json"))
  assert pareto["budget"] == BUDGET and pareto["finished"] == len(ok)
  assert [p["index"] for p in pareto["front"]] == [
      r["index"] for r in brute_front(rows, "run1_test_accuracy", "params")]
  assert any("search/pareto_front" in tag for tag in tensorboard_tags(tmp_path))


def test_an_over_budget_verdict_keeps_its_costs_across_processes():
  import pickle

  from nas_tf.tasks.objective import OverBudget
  # Worker processes and Ray pickle a child's exception back to the search.
  error = pickle.loads(pickle.dumps(OverBudget("params 5,001 > 5,000", {"params": 5001})))
  assert isinstance(error, OverBudget) and error.costs == {"params": 5001}
  assert str(error) == "params 5,001 > 5,000"


def tensorboard_tags(workdir):
  import tensorflow as tf
  tags = set()
  folder = os.path.join(str(workdir), "tensorboard")
  for name in os.listdir(folder):
    if name.startswith("events"):
      for event in tf.compat.v1.train.summary_iterator(os.path.join(folder, name)):
        tags |= {v.tag for v in event.summary.value}
  return tags


def test_the_soft_objective_is_mnasnets_reward_and_picks_the_best_trade_off(tmp_path,
                                                                            macro_table):
  from nas_tf.runner.loop import Search
  config = macro_config(macro_table, kind="soft", num_children=30, time_budget="")
  assert config.search.objective.weight == -0.07  # MnasNet (Tan et al. 2019), section 3
  config.search.objective.weight = -0.5  # a sharper trade-off than the paper's, to see it
  task = prepared(config)
  result = Search(config, str(tmp_path), task, log=lambda s: None).run()
  rows = wd.read_jsonl(os.path.join(str(tmp_path), "children.jsonl"))
  exponent = task.exponent
  for r in rows:
    value = r["run1_test_accuracy"] * (r["params"] / BUDGET) ** -0.5
    assert r["objective"] == pytest.approx(value)
    assert r["reward"] == pytest.approx(value ** exponent)
  best = max(rows, key=lambda r: (r["objective"], -r["index"]))
  assert result.best["index"] == best["index"]
  # The trade-off is not the metric's choice here: a smaller network wins.
  assert best["index"] != max(rows, key=lambda r: r["run1_test_accuracy"])["index"]
  assert wd.find_child(str(tmp_path), None, task.objective.rank_key,
                       True)["index"] == best["index"]


@pytest.mark.parametrize("strategy,kind", [("guided", "constraint"), ("nas_rl", "soft"),
                                           ("local", "constraint")])
def test_the_benchmark_driver_and_a_resumed_search_match_the_loop(tmp_path, macro_table,
                                                                  strategy, kind):
  from nas_tf.runner.loop import Search
  config = macro_config(macro_table, strategy, kind, batch_size=2, time_budget="2000s")
  config.guided.update(initial=4, refit_every=3)
  whole = str(tmp_path / "whole")
  task = prepared(config)
  Search(config, whole, task, log=lambda s: None).run()
  looped = wd.read_jsonl(os.path.join(whole, "children.jsonl"))
  proposer = registry.strategy_class(strategy).from_config(config, task.space, True)
  rows = simulate(proposer, task, config.seed, 2, 10_000, "2000s",
                  budget_rule=config.search.budget_rule)
  assert [r["id"] for r in rows] == [r["id"] for r in looped]
  assert [r["status"] for r in rows] == [r["status"] for r in looped]
  assert chosen(rows, task.objective.rank_key)["id"] == wd.read_json(
      os.path.join(whole, "best.json"))["id"]

  killed = str(tmp_path / "killed")
  kill_then_resume(config, killed, prepared, at=11)
  assert records(killed) == records(whole)
  assert wd.read_json(os.path.join(killed, "pareto.json")) == wd.read_json(
      os.path.join(whole, "pareto.json"))


@pytest.mark.skipif(not os.path.exists(CIFAR_MINI), reason="no ../shared/data/cifar10-mini")
def test_a_constrained_search_on_cifar10_trains_only_children_under_the_budget(tmp_path):
  workdir = str(tmp_path / "w")
  out = run_cli("search", "cifar10", "--config=smoke", f"--workdir={workdir}",
                f"--config.data.source={CIFAR_MINI}", "--config.data.max_train_examples=200",
                "--config.data.max_val_examples=100", "--config.child.epochs=1",
                "--config.search.objective.kind=constraint",
                "--config.search.objective.target=5000")
  assert out.returncode == 0, out.stderr
  assert "objective val_accuracy with params <= 5,000" in out.stdout
  rows = wd.read_jsonl(os.path.join(workdir, "children.jsonl"))
  ok = [r for r in rows if r["status"] == "ok"]
  over = [r for r in rows if r["status"] == "over_budget"]
  assert ok and over and len(ok) + len(over) == len(rows) == 8
  assert all(r["params"] <= 5000 and r["flops"] > 0 and r["latency_ms"] > 0 for r in ok)
  # Measured on the built network, then never trained.
  assert all(r["params"] > 5000 and "fit_seconds" not in r for r in over)
  pareto = wd.read_json(os.path.join(workdir, "pareto.json"))
  assert [p["index"] for p in pareto["front"]] == [
      r["index"] for r in brute_front(rows, "val_accuracy", "params")]
  shown = run_cli("show", f"--workdir={workdir}", "--pareto")
  assert shown.returncode == 0, shown.stderr
  for point in pareto["front"]:
    assert f"{point['params']:,}" in shown.stdout and point["id"] in shown.stdout
  for fmt in ("png", "svg"):
    assert os.path.getsize(os.path.join(workdir, "pictures", f"pareto.{fmt}")) > 1000


def test_the_budget_benchmark_runs_and_compares_with_the_true_front(macro_table):
  import subprocess
  import sys
  from conftest import ROOT
  out = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "budgets.py"),
                        f"--table={macro_table}", "--runs=2", "--children=12", "--workers=1",
                        "--methods=random,local"], capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr
  lines = out.stdout.splitlines()
  assert lines[0].startswith("NAS-Bench-Macro, 6,561 networks; budget params <= ")
  assert [line.split()[0] for line in lines if line.startswith(("random ", "local "))] == [
      "random", "local"]
  assert any(line.startswith("  random: ") for line in lines)
