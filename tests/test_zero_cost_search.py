"""--method=zero_cost: N candidates scored untrained, the best k trained (looked up here), the
scores kept in the work directory, resume equal to an uninterrupted search."""

import os

import numpy as np
import pytest

from conftest import kill_then_resume, records, run_cli, write_cifar_folder
from nas_tf.store import workdir as wd
from nas_tf.strategies.zero_cost import ranking
from test_tabular import fake_accuracy, nb201_config, prepared, write_nb201


@pytest.fixture(scope="module")
def table(tmp_path_factory):
  return write_nb201(tmp_path_factory.mktemp("nb201") / "table.csv")


@pytest.fixture
def scored(monkeypatch):
  """Scores without networks: each cell's made-up 12-epoch accuracy, and the cells asked."""
  from nas_tf.runner import loop
  asked = []

  def oracle(config, task, workdir, proxies):
    def score(arch):
      asked.append((arch["id"], fake_accuracy(arch["ops"], "v12")))
      return {"naswot": asked[-1][1]}
    return score
  monkeypatch.setattr(loop, "search_scores", oracle)
  return asked


def zero_cost_config(table, samples=20, top=3):
  config = nb201_config(table, strategy="zero_cost", budget="100000s", batch_size=1)
  config.zero_cost.samples, config.zero_cost.train_top = samples, top
  return config


def test_the_best_k_of_n_scored_candidates_are_trained_best_first(tmp_path, table, scored):
  from nas_tf.runner.loop import Search
  config = zero_cost_config(table)
  Search(config, str(tmp_path), prepared(config), log=lambda s: None).run()
  rows = wd.read_jsonl(os.path.join(str(tmp_path), "children.jsonl"))
  assert len(scored) == len(set(scored)) == 20  # 20 distinct candidates, each scored once
  assert len(rows) == 3  # the search stops at k, whatever search.num_children says
  best_three = [i for i, _ in sorted(scored, key=lambda s: -s[1])[:3]]
  assert [r["id"] for r in rows] == best_three


def test_kill_then_resume_equals_an_uninterrupted_zero_cost_search(tmp_path, table, scored):
  from nas_tf.runner.loop import Search
  config = zero_cost_config(table, samples=12, top=4)
  whole = str(tmp_path / "whole")
  Search(config, whole, prepared(config), log=lambda s: None).run()
  killed = str(tmp_path / "killed")
  kill_then_resume(config, killed, prepared, at=1)
  assert records(killed) == records(whole) and len(records(whole)) == 4


def test_ranking_puts_undefined_scores_last_and_votes_by_majority():
  rows = [{"naswot": 1.0}, {"naswot": float("nan")}, {"naswot": 3.0}, {"naswot": None}]
  assert ranking("naswot", rows) == [2, 0, 1, 3]
  votes = [{"synflow": 3, "jacob_cov": 1, "snip": 5}, {"synflow": 2, "jacob_cov": 2, "snip": 1},
           {"synflow": 1, "jacob_cov": 0, "snip": 0}]
  assert ranking("vote", votes) == [0, 1, 2]


def test_a_real_training_free_search_on_the_table_scores_once(tmp_path):
  folder, _ = write_cifar_folder(str(tmp_path / "cifar"), per_batch=20)
  workdir = str(tmp_path / "w")
  args = ["search", "nasbench201", "--method=zero_cost", f"--workdir={workdir}",
          f"--config.zero_cost.images={folder}", "--config.zero_cost.samples=3",
          "--config.zero_cost.naswot_batch_size=16"]
  first = run_cli(*args)
  assert first.returncode == 0, first.stderr
  assert "scored 3/3 candidates untrained (naswot)" in first.stdout
  scores = wd.read_jsonl(os.path.join(workdir, "scores.jsonl"))
  children = wd.read_jsonl(os.path.join(workdir, "children.jsonl"))
  assert len(scores) == 3 and len(children) == 1
  best = max(scores, key=lambda r: r["naswot"])
  assert children[0]["arch"]["arch_str"] == best["arch_str"]
  # A larger train_top extends it: the three scores are read back, the second best trained.
  again = run_cli(*args[:-2], "--config.zero_cost.samples=3",
                  "--config.zero_cost.naswot_batch_size=16", "--config.zero_cost.train_top=2")
  assert again.returncode == 0, again.stderr
  assert len(wd.read_jsonl(os.path.join(workdir, "scores.jsonl"))) == 3
  assert len(wd.read_jsonl(os.path.join(workdir, "children.jsonl"))) == 2


def area_config(table):
  config = nb201_config(table, strategy="evolution", budget="3000s", batch_size=2)
  config.evolution.population, config.evolution.sample_size = 6, 3
  config.evolution.warm_start = "naswot"
  return config


def test_area_starts_evolution_from_the_best_half_of_twice_the_population(tmp_path, table,
                                                                          scored):
  from nas_tf.runner.loop import Search
  config = area_config(table)
  Search(config, str(tmp_path), prepared(config), log=lambda s: None).run()
  rows = wd.read_jsonl(os.path.join(str(tmp_path), "children.jsonl"))
  assert len(scored) == len(set(scored)) == 12  # 2P candidates, scored once each
  best_six = [i for i, _ in sorted(scored, key=lambda s: -s[1])[:6]]
  assert [r["id"] for r in rows[:6]] == best_six  # the first population, best first
  assert len(rows) > 6  # then evolution as usual


def test_kill_then_resume_equals_an_uninterrupted_area_search(tmp_path, table, scored):
  from nas_tf.runner.loop import Search
  config = area_config(table)
  whole = str(tmp_path / "whole")
  Search(config, whole, prepared(config), log=lambda s: None).run()
  killed = str(tmp_path / "killed")
  kill_then_resume(config, killed, prepared, at=3)
  assert records(killed) == records(whole)


def test_a_warm_start_needs_a_proxy_and_images(table):
  from nas_tf.config import ConfigError
  from nas_tf.strategies.evolution import RegularizedEvolution
  config = area_config(table)
  config.evolution.warm_start = "naswat"
  with pytest.raises(ConfigError, match="evolution.warm_start='naswat': one of grad_norm"):
    RegularizedEvolution.from_config(config, prepared(area_config(table)).space)
