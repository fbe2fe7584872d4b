"""DARTS over your own LayerChoice/InputChoice decisions (``models/relaxed.py``,
``strategies/darts_user.py``): docs/your-space.md's DARTS cell against the built-in DARTS
network, mixtures against hand computations, derivation, refusals, a search and its resume."""

import importlib
import json
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import darts_reference
from conftest import killed_after_first_epoch, one_shot_search, tiny_cifar_config
from nas_tf import config as config_lib
from nas_tf.models import choices, darts as supernet, relaxed
from nas_tf.models.cell import cell_positions
from nas_tf.spaces.cell import OP_SETS
from nas_tf.spaces.user import SpaceError
from test_docs import blocks


@pytest.fixture()
def darts_cell(tmp_path, monkeypatch):
  """docs/your-space.md's darts_cell.py, as the page writes it, at a test's size."""
  code = next(c for _, info, c in blocks("docs/your-space.md")
              if info.strip() == "file=darts_cell.py")
  (tmp_path / "darts_cell.py").write_text(code)
  monkeypatch.syspath_prepend(str(tmp_path))
  sys.modules.pop("darts_cell", None)
  module = importlib.import_module("darts_cell")
  yield module
  sys.modules.pop("darts_cell", None)


def _uid(layer) -> int:
  tail = layer.name.rpartition("_")[2]
  return int(tail) if tail.isdigit() else 0


def copy_into_reference(model, reference, nodes: int, per_stage: int, ops) -> None:
  """The docs cell's weights into the per-edge DARTS network (tests/darts_reference.py),
  op by op: its cell ops in the order the build function made them (Keras numbers layer
  names in creation order), each op's layers by name."""
  outer = model.layers
  made = [layer for layer in outer if isinstance(layer, choices.CellOp)]
  made += [op for layer in outer if isinstance(layer, relaxed.MixedLayer)
           for op in layer.candidates]
  made = iter(sorted(made, key=_uid))

  def copy(op, prefix, expected):
    assert op.op == expected
    for layer in op.network.layers:
      if layer.weights:
        reference.get_layer(prefix + layer.name[len(op.op):]).set_weights(layer.get_weights())

  reduced = False
  for name, _, reduction, _ in cell_positions(per_stage, 0):
    copy(next(made), f"{name}_pre0", "skip_connect" if reduced else "conv_1x1")
    copy(next(made), f"{name}_pre1", "conv_1x1")
    for node in range(nodes):
      for j in range(2 + node):
        for op in ops:
          copy(next(made), f"{name}_n{node}_e{j}_{op}", op)
    reduced = reduction
  assert next(made, None) is None
  for kind, theirs in ((keras.layers.Conv2D, "stem_conv"), (keras.layers.BatchNormalization,
                                                            "stem_bn"),
                       (keras.layers.Dense, "logits")):
    mine, = [layer for layer in outer if type(layer) is kind]
    reference.get_layer(theirs).set_weights(mine.get_weights())


def test_the_docs_darts_cell_is_the_built_in_darts_network(darts_cell, monkeypatch):
  # The target: with the same weights and alpha, the same logits, alpha gradients and
  # weight gradients as models/darts_network.py (the built-in DARTS supernet) on one batch,
  # and the same derived genotype. Every DARTS op, both cell kinds, a cell after a reduction
  # (its factorized h[c-2]); 2 nodes (the second picks 2 of 3 edges) and 4 channels keep it
  # quick (the docs: 4 and 16).
  nodes, per_stage, ops = 2, 1, OP_SETS["darts"]
  assert tuple(darts_cell.OPS) == ops
  monkeypatch.setattr(darts_cell, "NODES", nodes)
  monkeypatch.setattr(darts_cell, "CHANNELS", 4)
  monkeypatch.setattr(darts_cell, "CELLS_PER_STAGE", per_stage)
  keras.backend.clear_session()  # layer names numbered from 0: creation order
  keras.utils.set_random_seed(0)
  # A smooth ReLU in both networks (Keras' ReLU layers and darts_network call tf.nn.relu):
  # with the kink, float32 round-off (1e-6 in the logits) puts a ReLU input on the other
  # side of zero now and then, and a few gradients jump (up to 15% in one layer, seen).
  relu = tf.nn.relu
  monkeypatch.setattr(tf.nn, "relu", lambda x, name=None: tf.nn.softplus(4.0 * x) / 4.0)
  assert relu is not tf.nn.relu
  model, relaxation, _ = relaxed.build_supernet(darts_cell.build_model)
  reference = darts_reference.build_supernet(ops, nodes, (32, 32, 3), 10, 4, per_stage)
  network = supernet.build_supernet(ops, nodes, (32, 32, 3), 10, 4, per_stage)
  assert model.count_params() == network.count_params()
  copy_into_reference(model, reference, nodes, per_stage, ops)
  darts_reference.copy_into(reference, network)

  rng = np.random.default_rng(3)
  edges = supernet.num_edges(nodes)
  alpha = {kind: rng.normal(size=(1, edges, len(ops))).astype(np.float32)
           for kind in ("normal", "reduce")}
  mine = {}  # decision -> (kind, edge)
  for kind in alpha:
    for node in range(nodes):
      for j in range(2 + node):
        mine[f"{kind}_n{node}_e{j}"] = (kind, supernet.edge_offset(node) + j)
  assert set(relaxation.alphas) == set(mine) and set(relaxation.feeds) == {
      f"{k}_n{n}" for k in alpha for n in range(nodes)}
  for name, (kind, edge) in mine.items():
    relaxation.alphas[name].assign(alpha[kind][0, edge])
  alphas = [tf.Variable(alpha[kind]) for kind in ("normal", "reduce")]

  images = tf.constant(rng.normal(size=(4, 32, 32, 3)), tf.float32)
  labels = tf.constant([1, 4, 7, 9], tf.int32)

  def step(model, inputs, arch):
    with tf.GradientTape() as tape:
      logits = model(inputs, training=True)
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    grads = tape.gradient(loss, arch + model.trainable_variables)
    for variable, grad in zip(model.trainable_variables, grads[len(arch):]):
      variable.assign_sub(0.5 * grad)
    return logits.numpy(), grads[:len(arch)]

  user_alphas = list(relaxation.alphas.values())
  logits, user_grads = step(model, images, user_alphas)
  expected, grads = step(network, [images, *alphas], alphas)
  np.testing.assert_allclose(logits, expected, atol=2e-5)
  for variable, grad in zip(relaxation.alphas, user_grads):
    kind, edge = mine[variable]
    np.testing.assert_allclose(grad.numpy(), grads[("normal", "reduce").index(kind)][0, edge],
                               atol=2e-6, err_msg=variable)
  # Weight gradients: after one SGD step on each, the stepped docs cell loaded into a fresh
  # built-in network equals the stepped built-in network.
  stepped = supernet.build_supernet(ops, nodes, (32, 32, 3), 10, 4, per_stage)
  copy_into_reference(model, reference, nodes, per_stage, ops)
  darts_reference.copy_into(reference, stepped)
  for a, b in zip(network.trainable_variables, stepped.trainable_variables):
    np.testing.assert_allclose(b.numpy(), a.numpy(), atol=2e-5, err_msg=a.path)

  # The same genotype from the same alpha: per node, its two (input, op) pairs.
  derived = relaxation.derive()
  for kind in alpha:
    blocks_ = supernet.derive_cell(supernet.softmax(alpha[kind][0]), ops, nodes)
    for node, (a, op_a, b, op_b) in enumerate(blocks_):
      inputs = [int(i) for i in derived[f"{kind}_n{node}"].split(",")]
      assert {(i, derived[f"{kind}_n{node}_e{i}"]) for i in inputs} == {(a, op_a), (b, op_b)}


def test_mixtures_equal_a_hand_computation():
  # tests/user_spaces.py's choices: a LayerChoice of three ops (alpha-weighted sum of all
  # three) feeding an InputChoice of 2 of [inputs, b0, b1] that is not a DARTS node (its
  # inputs are not all LayerChoices'): the weighted sum over its three pairs.
  import user_spaces
  model, relaxation, _ = relaxed.build_supernet(user_spaces.choices)
  assert list(relaxation.alphas) == ["op", "inputs"] and not relaxation.feeds
  rng = np.random.default_rng(0)
  op_alpha, input_alpha = rng.normal(size=3), rng.normal(size=3)
  relaxation.alphas["op"].assign(op_alpha)
  relaxation.alphas["inputs"].assign(input_alpha)
  x = rng.normal(size=(2, 8, 8, 4)).astype(np.float32)
  mixed, = [layer for layer in model.layers if isinstance(layer, relaxed.MixedLayer)]
  b0 = model.get_layer("b0")(x).numpy()
  candidates = [layer(b0).numpy() for layer in mixed.candidates]
  w = np.exp(op_alpha) / np.exp(op_alpha).sum()
  b1 = sum(wk * c for wk, c in zip(w, candidates))
  v = np.exp(input_alpha) / np.exp(input_alpha).sum()
  tensors = [x, b0, b1]
  merged = sum(vc * (tensors[i] + tensors[j]) for vc, (i, j) in zip(v, [(0, 1), (0, 2), (1, 2)]))
  head = model.layers[-1]
  expected = head(merged.mean(axis=(1, 2))).numpy()
  np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5, atol=1e-5)
  # Derived: the strongest op and pair; a LayerChoice never derives "none" (tiny_cell).
  derived = relaxation.derive()
  assert derived == {"op": ["conv3", "conv5", "pool"][int(np.argmax(w))],
                     "inputs": ["0,1", "0,2", "1,2"][int(np.argmax(v))]}
  _, cell, _ = relaxed.build_supernet(user_spaces.tiny_cell, input_shape=(8, 8, 3))
  cell.alphas["e0"].assign([5.0, 1.0, 0.0])  # none strongest: conv derived
  cell.alphas["e1"].assign([0.0, 0.0, 3.0])
  assert cell.feeds == {"node": ["e0", "e1"]}
  assert cell.derive() == {"e0": "conv", "e1": "pool", "node": "1"}  # 0.67 > 0.60 (e0's conv)


def test_one_shot_refuses_what_it_cannot_relax():
  import user_spaces
  from nas_tf.spaces.user import UserSpace
  space = UserSpace("user_spaces:width_and_choice")
  model, relaxation, hp = relaxed.build_supernet(space.build_fn, input_shape=(8, 8, 3))
  with pytest.raises(SpaceError, match=r"^darts: hp decision 'width' changes the network's "
                                       r"shapes \(value 8\)"):
    relaxed.held_decisions(space.build_fn, space.decisions, relaxation, model, hp,
                           (8, 8, 3), "darts")
  cell = UserSpace("user_spaces:tiny_cell")
  model, relaxation, hp = relaxed.build_supernet(cell.build_fn, input_shape=(8, 8, 3))
  assert relaxed.held_decisions(cell.build_fn, cell.decisions, relaxation, model, hp,
                                (8, 8, 3), "darts") == {"dropout": False}
  with pytest.raises(SpaceError, match="candidates' outputs differ in shape"):
    relaxed.build_supernet(user_spaces.mismatched_candidates, input_shape=(8, 8, 3))
  c = user_config(2, build="user_spaces:guide_first")
  with pytest.raises(SpaceError, match="has no nas_tf.LayerChoice or InputChoice to relax"):
    make_darts(c)


def user_config(epochs=2, build="user_spaces:tiny_cell", **overrides):
  c = tiny_cifar_config(1, **{"space.kind": "user", "space.build": build,
                              "search.strategy": "darts", "darts.epochs": epochs,
                              "darts.batch_size": 16, **overrides})
  config_lib.validate(c)
  return c


def make_darts(config):
  from nas_tf import registry
  from nas_tf.tasks.cifar10 import Cifar10Task
  task = Cifar10Task(config)
  task.prepare()
  return registry.strategy_class("darts", task.space.name).from_config(config, task.space, task)


def test_a_search_of_your_cell_traces_once_derives_it_and_resumes_exactly(tmp_path):
  full, result = one_shot_search(user_config(), str(tmp_path / "full"))
  darts = full.strategy
  assert darts.traces == 1 and darts.steps == 6  # 2 epochs of 3 steps: 48 images a half
  assert darts.held == {"dropout": False}
  assert [a.name.split(":")[0] for a in darts.alphas] == ["alpha_e0", "alpha_e1"]
  row = json.loads(open(tmp_path / "full" / "children.jsonl").readline())
  assert row["derived"] and row["shared_weights"]
  values = row["arch"]["values"]
  assert values == {**darts.relaxation.derive(), "dropout": False}
  assert values["e0"] != "none" and values["e1"] != "none"
  assert set(row["alpha_softmax"]) == {"e0", "e1"}
  assert result.best["id"] == row["id"]

  resumed, _ = killed_after_first_epoch(user_config(), str(tmp_path / "killed"))
  assert resumed.strategy.steps == 3  # only the second epoch
  for a, b in zip(resumed.strategy.alphas + resumed.strategy.weights,
                  darts.alphas + darts.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  resumed_row = json.loads(open(tmp_path / "killed" / "children.jsonl").readline())
  for key in ("id", "arch", "val_accuracy", "alpha_softmax"):
    assert resumed_row[key] == row[key]


def test_python_api_searches_a_build_function_with_darts(tmp_path):
  # nas_tf.search(build_model, method="darts"): the build function is the space, whatever
  # the method's usual one (the cell space).
  import nas_tf
  from user_spaces import tiny_cell
  rng = np.random.default_rng(0)
  x, y = rng.integers(0, 255, (64, 32, 32, 3)).astype("uint8"), rng.integers(0, 10, 64)
  result = nas_tf.search(tiny_cell, data=(x, y), validation_data=(x[:32], y[:32]),
                         method="darts", preset="smoke", workdir=str(tmp_path),
                         overrides={"darts.epochs": 1}, log=lambda _: None)
  values = result.best["arch"]["values"]
  assert set(values) == {"e0", "e1", "node", "dropout"} and "none" not in values.values()
  assert result.config.search.strategy == "darts" and result.config.space.kind == "user"
