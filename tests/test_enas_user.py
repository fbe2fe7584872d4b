"""ENAS over your own LayerChoice/InputChoice decisions (``models/switched.py``,
``strategies/enas_user.py``): the switched supernet runs exactly the architecture it is
given, trains only its path, and a search traces once, derives and resumes exactly."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import killed_after_first_epoch, one_shot_search, tiny_cifar_config
from nas_tf import config as config_lib
from nas_tf.models import relaxed, switched
from nas_tf.spaces.user import SpaceError, UserSpace


def test_the_supernet_runs_the_architecture_it_is_given():
  # tests/user_spaces.py's tiny_cell: edges e0 (from s0) and e1 (from s1), each none, conv
  # or pool, and a node that keeps one of them. Every architecture's logits equal the
  # same layers called by hand along its path.
  space = UserSpace("user_spaces:tiny_cell")
  model, relaxation, _ = relaxed.build_supernet(space.build_fn, input_shape=(8, 8, 3),
                                                relaxation=switched.SwitchRelaxation())
  supernet = switched.SwitchedSupernet(model, relaxation, space, (8, 8, 3))
  x = tf.constant(np.random.default_rng(0).normal(size=(2, 8, 8, 3)), tf.float32)
  layers = {layer.name: layer for layer in model.layers}
  edges = {layer.decision: layer for layer in model.layers
           if isinstance(layer, switched.SwitchLayer)}
  head, = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
  states = {"e0": layers["s0"](x), "e1": layers["s1"](x)}
  seen = set()
  for e0 in range(3):
    for e1 in range(3):
      for node in range(2):
        arch = space.decode([e0, e1, node, 0])
        edge = ("e0", "e1")[node]
        label = arch["values"][edge]
        candidate = edges[edge].candidates[space.decisions[edge].index(label)]
        expected = head(tf.reduce_mean(candidate(states[edge]), axis=[1, 2]))
        got = supernet(x, *space.as_tensors(arch))
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-6)
        seen.add(round(float(tf.reduce_sum(got)), 4))
  assert len(seen) >= 4  # the paths differ: none gives the head's bias alone


def enas_config(**overrides):
  c = tiny_cifar_config(1, **{
      "space.kind": "user", "space.build": "user_spaces:tiny_cell", "search.strategy": "enas",
      "enas.epochs": 2, "enas.controller.steps": 2, "enas.controller.batch": 2,
      "enas.derive_samples": 3, **overrides})
  config_lib.validate(c)
  return c


def test_a_search_of_your_space_traces_once_trains_paths_and_resumes_exactly(tmp_path):
  full, result = one_shot_search(enas_config(), str(tmp_path / "full"))
  enas = full.strategy
  assert enas.traces == 1 and enas.held == {"dropout": False}
  # The controller sees the switched decisions; dropout has one value, its held one.
  assert enas.space.decisions["dropout"] == [False]
  assert enas.nas_rl.controller is enas.controller
  rows = [json.loads(line) for line in open(tmp_path / "full" / "children.jsonl")]
  assert len(rows) == 3 and all(r["shared_weights"] for r in rows)
  assert all(r["arch"]["values"]["dropout"] is False for r in rows)
  assert result.best["id"] in {r["id"] for r in rows}

  # Only the architecture's path gets gradients: e0 conv (taken), e1 conv (not taken).
  arch = enas.space.decode([1, 1, 0, 0])
  convs = {layer.decision: layer.candidates[1].kernel for layer in enas.supernet.network.layers
           if isinstance(layer, switched.SwitchLayer)}
  images = tf.zeros((4, 32, 32, 3)) + tf.range(4.0)[:, None, None, None]
  with tf.GradientTape() as tape:
    logits = enas.supernet(images, *enas.space.as_tensors(arch), training=True)
    loss = tf.reduce_sum(logits * tf.range(10.0))
  taken, not_taken = tape.gradient(loss, [convs["e0"], convs["e1"]])
  assert float(tf.reduce_max(tf.abs(taken))) > 0 and not_taken is None

  resumed, _ = killed_after_first_epoch(enas_config(), str(tmp_path / "killed"))
  killed_rows = [json.loads(line) for line in open(tmp_path / "killed" / "children.jsonl")]
  assert [r["arch"] for r in killed_rows] == [r["arch"] for r in rows]
  assert [r["val_accuracy"] for r in killed_rows] == [r["val_accuracy"] for r in rows]


def test_enas_refuses_what_it_cannot_switch(tmp_path):
  with pytest.raises(SpaceError, match=r"^enas: hp decision 'width' changes the network's"):
    one_shot_search(enas_config(**{"space.build": "user_spaces:width_and_choice"}), str(tmp_path / "a"))
  with pytest.raises(SpaceError, match=r"^enas: .*guide_first has no nas_tf.LayerChoice"):
    one_shot_search(enas_config(**{"space.build": "user_spaces:guide_first"}), str(tmp_path / "b"))


def test_cell_ops_are_the_childs_own_under_enas_and_darts_search_ops_under_darts():
  from nas_tf.models import choices
  from nas_tf.models.user import build_classifier

  def ops(model):
    return [c for layer in model.layers for c in getattr(layer, "candidates", [layer])
            if isinstance(c, choices.CellOp)]
  darts, _, _ = relaxed.build_supernet("user_spaces:cell_ops", input_shape=(8, 8, 4))
  enas, _, _ = relaxed.build_supernet("user_spaces:cell_ops", input_shape=(8, 8, 4),
                                      relaxation=switched.SwitchRelaxation())
  child = build_classifier({"build": "user_spaces:cell_ops", "values": {"op": "sep"}},
                           (8, 8, 4))
  assert [op.search for op in ops(darts)] == [True, True]
  assert [op.search for op in ops(enas)] == [False, False] == [op.search for op in ops(child)] * 2
  # The search ops: batch norms without scale and shift, one after the pool.
  assert len(ops(darts)[1].network.weights) == 2 and not ops(enas)[1].network.weights
  trainable = [sum(int(np.prod(w.shape)) for w in m.trainable_weights) for m in (darts, enas)]
  assert trainable[1] == trainable[0] + 2 * 2 * 4  # the sep conv's two BNs' gamma and beta
