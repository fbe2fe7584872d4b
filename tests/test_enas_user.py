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
    one_shot_search(enas_config(**{"space.build": "user_spaces:width_and_choice"}),
                    str(tmp_path / "a"))
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


def test_the_switched_supernet_equals_each_stand_alone_child(tmp_path, monkeypatch):
  # docs/your-space.md's my_cell, as the page writes it: for every architecture, the shared
  # weights of its path loaded into its own model (your build function at its values) give
  # the same logits and the same gradients, eager and traced (ENAS's step is traced).
  import importlib
  import sys
  from test_docs import blocks
  code = next(c for _, info, c in blocks("docs/your-space.md") if info.strip() == "file=my_cell.py")
  (tmp_path / "my_cell.py").write_text(code)
  monkeypatch.syspath_prepend(str(tmp_path))
  sys.modules.pop("my_cell", None)
  importlib.import_module("my_cell")
  from nas_tf.models.user import build_classifier
  space = UserSpace("my_cell:build_model")
  keras.utils.set_random_seed(0)
  model, relaxation, _ = relaxed.build_supernet(space.build_fn,
                                                relaxation=switched.SwitchRelaxation())
  supernet = switched.SwitchedSupernet(model, relaxation, space, (32, 32, 3))
  stem, head = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D,
                                                                      keras.layers.Dense))]
  switches = {layer.decision: layer for layer in model.layers
              if isinstance(layer, switched.SwitchLayer)}
  rng = np.random.default_rng(1)
  images = tf.constant(rng.normal(size=(2, 32, 32, 3)), tf.float32)

  def logits_and_grads(network, variables, *indices):
    with tf.GradientTape() as tape:
      logits = network(images, *indices, training=True)
      loss = tf.reduce_sum(logits * tf.range(1.0, 11.0))
    return logits, tape.gradient(loss, variables)
  for tokens in [[0, 0, 0, 0], [0, 1, 1, 2], [0, 2, 0, 1], [0, 1, 1, 0]]:  # input_0 has one value
    arch = space.decode(tokens)
    path = [switches[name].candidates[space.decisions[name].index(arch["values"][name])]
            for name in ("op_0", "op_1")]
    child = build_classifier(arch, (32, 32, 3))
    theirs = [layer for layer in (stem, *path, head) if layer.weights]  # a pool has none
    mine = [layer for layer in child.layers if layer.weights]
    assert [type(a) for a in mine] == [type(b) for b in theirs]
    for source, layer in zip(theirs, mine):
      layer.set_weights(source.get_weights())
    variables = [v for layer in theirs for v in layer.trainable_weights]
    expected, grads = logits_and_grads(lambda x, training: child(x, training=training),
                                       child.trainable_weights)
    # (The traced function closes over the variables: passed in, they would be copies.)
    traced = tf.function(lambda *indices: logits_and_grads(supernet, variables, *indices),
                         autograph=False)
    for logits, shared in (logits_and_grads(supernet, variables, *space.as_tensors(arch)),
                           traced(*space.as_tensors(arch))):
      np.testing.assert_allclose(logits.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
      for a, b in zip(shared, grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("step", ["composed", "traced"])
def test_enas_step_on_your_cells_equals_the_built_in_enas_micro_step(tmp_path, monkeypatch,
                                                                    step):
  # tests/user_spaces.py's enas_micro_cells writes ENAS micro's network with LayerChoice and
  # InputChoice where the spaces coincide: blocks that read the cell's two inputs (whose
  # loose ends are all the blocks). With the built-in supernet's weights copied over by layer
  # name, ENAS's shared-weights step (SGD with momentum, weight decay, clipping) on the same
  # batch and the same cells gives the same loss and the same weights, step after step, and
  # the reward step the same accuracy. Both run a smooth ReLU (as test_darts_user.py): with
  # the kink, 1e-7 of round-off between the two flips a unit now and then and the second
  # step's weights part by up to 2e-5 (in weights of 0.2-0.8; none with the smooth ReLU).
  monkeypatch.setattr(tf.nn, "relu", lambda x, name=None: tf.nn.softplus(4.0 * x) / 4.0)
  from user_spaces import ENAS_MICRO
  from nas_tf.runner.run import OneShotSearch
  from nas_tf.tasks.cifar10 import Cifar10Task
  common = {"search.strategy": "enas", "space.num_blocks": ENAS_MICRO["num_blocks"],
            "child.layers_per_stage": ENAS_MICRO["layers_per_stage"],
            "child.channels": ENAS_MICRO["channels"], "enas.dropout": 0.0,
            "enas.weight_decay": 1e-3, "enas.clip_norm": 1.0}
  built_in = tiny_cifar_config(1, **common, **{
      "space.kind": "cell", "space.ops": ",".join(ENAS_MICRO["ops"]), "enas.step": step})
  yours = tiny_cifar_config(1, **common, **{
      "space.kind": "user", "space.build": "user_spaces:enas_micro_cells",
      "enas.reward_statistics": "batch"})  # ENAS micro's rule (your space's auto: moving)
  strategies = [OneShotSearch(c, str(tmp_path / c.space.kind), Cifar10Task(c),
                              log=lambda _: None).strategy for c in (built_in, yours)]
  micro, mine = strategies
  assert micro.composed == (step == "composed") and not mine.composed
  layers = {layer.name: layer for layer in mine.supernet._flatten_layers() if layer.weights}
  copied = 0
  for layer in micro.supernet._flatten_layers(include_self=False, recursive=False):
    if layer.weights and layer.name != "aux_head":
      layers[layer.name].set_weights(layer.get_weights())
      copied += sum(int(np.prod(w.shape)) for w in layer.weights)
  assert copied == sum(int(np.prod(w.shape)) for w in mine.supernet.weights)
  names = {id(v): (layer.name, k) for layer in layers.values()
           for k, v in enumerate(layer.weights)}

  def weights(strategy):
    if strategy is mine:
      return {names[id(v)]: v.numpy() for v in mine.supernet.weights}
    return {(layer.name, k): v.numpy()
            for layer in micro.supernet._flatten_layers(include_self=False, recursive=False)
            if layer.name in layers for k, v in enumerate(layer.weights)}

  rng = np.random.default_rng(0)
  images = tf.constant(rng.normal(size=(8, 32, 32, 3)), tf.float32)
  labels = tf.constant(rng.integers(0, 10, size=8), tf.int32)
  ops = ENAS_MICRO["ops"]
  for _ in range(3):
    blocks = {kind: [[int(rng.integers(2)), ops[rng.integers(len(ops))],
                      int(rng.integers(2)), ops[rng.integers(len(ops))]]
                     for _ in range(ENAS_MICRO["num_blocks"])] for kind in ("normal", "reduce")}
    cells = micro.space.decode(micro.space.encode(blocks))
    values = {f"{kind}_b{i}_{slot}_{part}": str(block[2 * slot]) if part == "in"
              else block[2 * slot + 1]
              for kind in blocks for i, block in enumerate(blocks[kind])
              for slot in range(2) for part in ("in", "op")}
    arch = {"values": values}
    assert micro.space.as_tensors(cells)[1].tolist() == [1.0] * ENAS_MICRO["num_blocks"]
    theirs = micro._train_step(images, labels, *micro.space.as_tensors(cells))
    ours = mine._train_step(images, labels, *mine.space.as_tensors(arch))
    np.testing.assert_allclose(float(ours[0]), float(theirs[0]), rtol=1e-5)
    assert int(ours[1]) == int(theirs[1])
    expected = weights(micro)
    for key, value in weights(mine).items():
      np.testing.assert_allclose(value, expected[key], rtol=1e-4, atol=1e-6, err_msg=str(key))
    rewards = [s._reward_step(images, labels, *t) for s, t in
               ((micro, micro.space.as_tensors(cells)), (mine, mine.space.as_tensors(arch)))]
    np.testing.assert_allclose(*[np.asarray(r[0], np.float64) for r in rewards], rtol=1e-5)
  assert mine.traces == 1
