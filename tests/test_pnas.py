"""PNAS: block enumeration up to symmetry, expansion, the surrogate's ranking, and a search
that is killed mid-round and resumes to the same result."""

import json
import os

import numpy as np
import pytest

from conftest import records, tiny_cifar_config
from nas_tf import config as config_lib
from nas_tf.spaces.cell import CellSpace
from nas_tf.strategies.pnas import Pnas, blocks_at, expand, spearman


class Crash(BaseException):
  pass


@pytest.mark.parametrize("num_ops", [1, 3, 8])
def test_one_block_cells_are_enumerated_once_up_to_symmetry(num_ops):
  cells = blocks_at(0, num_ops)
  pairs = 2 * num_ops  # (input, op) pairs of the first block
  assert len(cells) == pairs * (pairs + 1) // 2  # 136 with PNAS's 8 ops, as in the paper
  canonical = {tuple(sorted([(in1, op1), (in2, op2)])) for in1, in2, op1, op2 in cells}
  assert len(canonical) == len(cells)  # no block twice, swapped or not
  every = {tuple(sorted([(a, o), (b, p)])) for a in range(2) for b in range(2)
           for o in range(num_ops) for p in range(num_ops)}
  assert canonical == every  # and none missing


def test_expansion_yields_valid_cells_one_block_larger():
  space = CellSpace("pnas", num_blocks=3, same_cell_for_reduction=True)
  for cell in blocks_at(0, 8)[::17]:
    grown = expand(cell, 8)
    assert len(grown) == 24 * 25 // 2  # 3 inputs x 8 ops for block 2, unordered pairs
    for tokens in grown:
      assert tokens[:4] == cell
      arch = space.decode(tokens, depth=2)  # raises on an invalid input or op
      assert len(arch["normal"]) == 2 and arch["reduce"] == arch["normal"]
    assert len({tuple(t) for t in grown}) == len(grown)


def test_spearman_matches_its_definition():
  assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
  assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
  # Ties share their mean rank: ranks (1.5, 1.5, 3) against (1, 2, 3).
  assert spearman([5, 5, 7], [1, 2, 3]) == pytest.approx(np.corrcoef([1.5, 1.5, 3],
                                                                     [1, 2, 3])[0, 1])
  assert np.isnan(spearman([1, 1], [1, 2]))


def test_the_surrogate_ranks_unseen_cells_of_a_synthetic_reward():
  from nas_tf.strategies.surrogate import Surrogate
  op_value = np.array([0.1, 0.3, 0.2, 0.9, 0.7, 0.5, 0.6, 0.4])

  def accuracy(cell):  # a known function of the ops and inputs
    t = np.reshape(cell, (-1, 4))
    return float(op_value[t[:, 2:]].mean() + 0.05 * t[:, :2].mean())
  rng = np.random.default_rng(0)
  one = blocks_at(0, 8)
  two = [c for cell in one for c in expand(cell, 8)]
  train = one + [two[i] for i in rng.choice(len(two), 64, replace=False)]
  unseen = [two[i] for i in rng.choice(len(two), 200, replace=False)]
  for kind in ("lstm", "mlp"):
    surrogate = Surrogate(8, 2, kinds=(kind,), ensemble=2, epochs=30, units=32)
    surrogate.fit(train, [accuracy(c) for c in train])
    predicted = surrogate.predict(unseen)
    assert spearman(predicted, [accuracy(c) for c in unseen]) > 0.8, kind
    # It predicts the accuracy itself (a sigmoid output), not a standardized score.
    assert np.mean(np.abs(predicted - [accuracy(c) for c in unseen])) < 0.1, kind
    if kind == "lstm":  # a refit is deterministic (one kind is enough: the seeding is shared)
      again = Surrogate(8, 2, kinds=(kind,), ensemble=2, epochs=30, units=32)
      again.fit(train, [accuracy(c) for c in train])
      np.testing.assert_array_equal(again.predict(unseen), predicted)


def test_the_beam_is_the_surrogates_top_k_fitted_on_validation_accuracy(monkeypatch):
  # The paper ranks candidates by predicted accuracy and trains the top K; its predictor
  # regresses validation accuracy (a sigmoid output), not the NAS-RL reward accuracy^3.
  from nas_tf.strategies import surrogate as surrogate_lib
  fitted = {}

  class Known:  # a surrogate whose predictions are known: the sum of the tokens
    def __init__(self, *args, **kwargs):
      pass

    def fit(self, cells, targets):
      fitted["targets"] = list(targets)

    def predict(self, cells):
      return np.array([float(np.sum(c)) + 0.001 * i for i, c in enumerate(cells)])
  monkeypatch.setattr(surrogate_lib, "Surrogate", Known)
  space = CellSpace("pnas", num_blocks=3, same_cell_for_reduction=True)
  pnas = Pnas(space, beam=4, max_blocks=3, surrogate={}, seed=0, reward_exponent=3.0)
  plan = space.plan(1)
  cells = pnas.propose(plan, 4, [0, 1])
  accuracies = [0.5, 0.2, 0.9, 0.0]
  pnas.tell(plan, cells, [a ** 3 for a in accuracies])
  pnas.propose(space.plan(2), 4, [2, 3])  # the next round: fit, rank, take the top K
  np.testing.assert_allclose(fitted["targets"], accuracies, atol=1e-12)
  candidates = [c for cell in cells for c in expand(list(cell), len(space.ops))]
  scores = Known().predict(candidates)
  top = [candidates[i] for i in np.argsort(-scores)[:4]]
  assert [list(c) for c in pnas.beam] == [list(c) for c in top]
  assert pnas.predicted == pytest.approx(sorted(scores, reverse=True)[:4])


def test_unit_targets_keep_accuracies_and_map_other_scores_into_0_1():
  from nas_tf.strategies.surrogate import unit_targets
  np.testing.assert_allclose(unit_targets([0.1, 0.5, 1.0]), [0.1, 0.5, 1.0])
  np.testing.assert_allclose(unit_targets([-2.0, 0.0, 2.0]), [0.0, 0.5, 1.0])


def pnas_config(num_children=40):
  c = tiny_cifar_config(num_children, **{
      "space.kind": "cell", "search.strategy": "pnas", "space.ops": "identity,max_pool_3x3",
      "space.num_blocks": 2, "pnas.beam": 2, "pnas.max_blocks": 0, "pnas.ensemble": 2,
      "pnas.epochs": 5, "pnas.units": 8, "child.channels": 4, "child.layers_per_stage": 1})
  config_lib.validate(c)
  return c


def make_search(config, workdir, **kwargs):
  from nas_tf.runner.loop import Search
  from nas_tf.tasks.cifar10 import Cifar10Task
  os.makedirs(workdir, exist_ok=True)
  return Search(config, workdir, Cifar10Task(config), log=lambda _: None, **kwargs)


def test_a_pnas_search_killed_mid_round_resumes_to_the_same_result(tmp_path):
  full = str(tmp_path / "full")
  result = make_search(pnas_config(), full).run()
  rows = records(full)
  # Two rounds of beam 2, then nothing left to propose: the search ends before num_children.
  assert result.children == 4 and [r[0] for r in rows] == list(range(4))
  arches = [json.loads(line)["arch"] for line in open(os.path.join(full, "children.jsonl"))]
  assert [len(a["normal"]) for a in arches] == [1, 1, 2, 2]
  # Round 2 grows round 1's cells: each 2-block cell starts with a trained 1-block cell.
  firsts = {tuple(a["tokens"][:4]) for a in arches[:2]}
  assert all(tuple(a["tokens"][:4]) in firsts for a in arches[2:])
  state = json.load(open(sorted(
      os.path.join(full, "checkpoints", d, "state.json")
      for d in os.listdir(os.path.join(full, "checkpoints")) if d.startswith("step-"))[-1]))
  rounds = state["strategy"]["rounds"]
  assert [r["blocks"] for r in rounds] == [1, 2]
  assert rounds[0]["candidates"] == 10 and rounds[1]["candidates"] == 2 * 21
  # The logged rho is the rank correlation of round 2's predictions with its rewards.
  told = state["strategy"]["history"][-2:]
  assert rounds[1]["spearman"] == pytest.approx(
      spearman(state["strategy"]["predicted"], [h["reward"] for h in told]))

  killed = str(tmp_path / "killed")

  def crash_after(index):
    if index == 2:  # in round 2, after its first child
      raise Crash()
  with pytest.raises(Crash):
    make_search(pnas_config(), killed, after_child=crash_after).run()
  trained = []
  make_search(pnas_config(), killed, after_child=trained.append).run()
  assert trained == [3]  # round 2 resumes; its finished cell is not retrained
  assert records(killed) == rows


def test_pnas_configs_are_checked():
  c = pnas_config()
  c.search.async_updates = True
  with pytest.raises(config_lib.ConfigError, match="pnas runs synchronously"):
    config_lib.validate(c)
  c = pnas_config()
  c.pnas.predictors = ("gru",)
  with pytest.raises(config_lib.ConfigError, match="pnas.predictors must be some of lstm, mlp"):
    config_lib.validate(c)
  c = pnas_config()
  c.pnas.max_blocks = 3
  with pytest.raises(config_lib.ConfigError, match=r"pnas.max_blocks must be in 0..space"):
    config_lib.validate(c)
  c = pnas_config()
  c.space.kind = "cnn"
  with pytest.raises(config_lib.ConfigError,
                     match=r"PNAS does not search cifar10.s cnn space; it searches cifar10, "
                           r"images with space.kind=cell \(--method=pnas sets both\)"):
    config_lib.validate(c)
  c = pnas_config()
  c.space.same_cell_for_reduction = "false"
  with pytest.raises(ValueError, match="one cell for normal and reduction"):
    Pnas.from_config(c, CellSpace.from_config(c))
