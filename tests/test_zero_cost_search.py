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


# -- NAS-RL's zero-cost warm-up (controller.warm_start) ----------------------------------------

def warm_rl(table, samples=200, batch_size=8):
  from nas_tf.strategies.nas_rl import NasRl
  config = nb201_config(table, strategy="nas_rl", budget="3000s", batch_size=batch_size)
  config.controller.warm_start, config.controller.warm_start_samples = "naswot", samples
  task = prepared(config)
  rl = NasRl.from_config(config, task.space, compiled=False)
  # A made-up proxy that counts 3x3 convs: the warm-up should teach the controller them.
  rl.score = lambda arch: {"naswot": float(sum(op == "nor_conv_3x3" for op in arch["ops"]))}
  return rl, task.space.plan(None)


def conv3x3_share(rl, plan) -> float:
  tokens, _ = rl.controller.sample(plan, 400, [1, 2])
  return float(np.mean(tokens == 3))  # NB201_OPS[3] == "nor_conv_3x3"


def test_rl_warm_up_rewards_each_sample_by_its_rank_and_teaches_the_controller(table):
  rl, plan = warm_rl(table)
  assert conv3x3_share(rl, plan) == pytest.approx(0.2, abs=0.05)  # uniform over 5 ops
  updates, seen = [], []
  update = rl.reinforce.update

  def spy(plan, tokens, rewards):
    updates.append((np.array(tokens), list(rewards)))
    return update(plan, tokens, rewards)
  rl.reinforce.update = spy
  rl.propose(plan, 8, [0, 1])
  assert len(updates) == 25 and rl.warmed  # 200 samples in the search's batches of 8
  for tokens, rewards in updates:
    values = [float(np.sum(t == 3)) for t in tokens]
    first = len(seen)
    seen += values
    for k, (value, reward) in enumerate(zip(values, rewards)):
      # rank among all scored so far, 1/n the worst, n/n the best; ties: earlier above later
      i = first + k
      below = sum(v < value or (v == value and j > i) for j, v in enumerate(seen))
      assert reward == pytest.approx((below + 1) / len(seen))
  assert conv3x3_share(rl, plan) > 0.6  # measured 0.999 at Adam 0.01
  # The children's rewards start a fresh baseline.
  assert float(rl.reinforce.baseline.numpy()) == 0.0
  assert not bool(rl.reinforce.baseline_ready.numpy())


def test_a_resumed_rl_search_does_not_warm_up_again(table):
  rl, plan = warm_rl(table, samples=16)
  rl.propose(plan, 8, [0, 1])
  state = rl.state()
  again, _ = warm_rl(table, samples=16)
  again.load_state(state)
  again.score = None  # scoring anything would fail
  assert again.propose(plan, 8, [0, 1]).shape == (8, 6)


def test_kill_then_resume_equals_an_uninterrupted_warmed_rl_search(tmp_path, table, scored):
  from nas_tf.runner.loop import Search
  config = nb201_config(table, strategy="nas_rl", budget="3000s", batch_size=2)
  config.controller.warm_start, config.controller.warm_start_samples = "naswot", 12
  whole = str(tmp_path / "whole")
  Search(config, whole, prepared(config), log=lambda s: None).run()
  killed = str(tmp_path / "killed")
  kill_then_resume(config, killed, prepared, at=3)
  assert records(killed) == records(whole) and len(records(whole)) > 3


def test_rl_warm_start_needs_a_proxy(table):
  from nas_tf.config import ConfigError
  from nas_tf.strategies.nas_rl import NasRl
  config = nb201_config(table, strategy="nas_rl", budget="3000s", batch_size=2)
  config.controller.warm_start = "synflo"
  with pytest.raises(ConfigError, match="controller.warm_start='synflo': one of grad_norm"):
    NasRl.from_config(config, prepared(config).space)
