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
    again = Surrogate(8, 2, kinds=(kind,), ensemble=2, epochs=30, units=32)
    again.fit(train, [accuracy(c) for c in train])
    np.testing.assert_array_equal(again.predict(unseen), predicted)  # deterministic refit


def pnas_config(num_children=40):
  c = tiny_cifar_config(num_children, **{
      "space.kind": "cell", "search.strategy": "pnas", "space.ops": "identity,max_pool_3x3",
      "space.num_blocks": 2, "pnas.beam": 3, "pnas.max_blocks": 0, "pnas.ensemble": 2,
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
  # Two rounds of beam 3, then nothing left to propose: the search ends before num_children.
  assert result.children == 6 and [r[0] for r in rows] == list(range(6))
  arches = [json.loads(line)["arch"] for line in open(os.path.join(full, "children.jsonl"))]
  assert [len(a["normal"]) for a in arches] == [1, 1, 1, 2, 2, 2]
  # Round 2 grows round 1's cells: each 2-block cell starts with a trained 1-block cell.
  firsts = {tuple(a["tokens"][:4]) for a in arches[:3]}
  assert all(tuple(a["tokens"][:4]) in firsts for a in arches[3:])
  state = json.load(open(sorted(
      os.path.join(full, "checkpoints", d, "state.json")
      for d in os.listdir(os.path.join(full, "checkpoints")) if d.startswith("step-"))[-1]))
  rounds = state["strategy"]["rounds"]
  assert [r["blocks"] for r in rounds] == [1, 2]
  assert rounds[0]["candidates"] == 10 and rounds[1]["candidates"] == 3 * 21
  assert "spearman" in rounds[1] and -1.0 <= rounds[1]["spearman"] <= 1.0

  killed = str(tmp_path / "killed")

  def crash_after(index):
    if index == 4:  # in round 2, after its second child
      raise Crash()
  with pytest.raises(Crash):
    make_search(pnas_config(), killed, after_child=crash_after).run()
  trained = []
  make_search(pnas_config(), killed, after_child=trained.append).run()
  assert trained == [5]  # round 2 resumes; its finished cells are not retrained
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
                     match=r"PNAS searches .*\(--config.space.kind=cell\)"):
    config_lib.validate(c)
  c = pnas_config()
  c.space.same_cell_for_reduction = "false"
  with pytest.raises(ValueError, match="one cell for normal and reduction"):
    Pnas.from_config(c, CellSpace.from_config(c))
