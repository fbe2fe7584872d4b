"""DARTS: the mixed op, alpha's first-order gradient and the second-order Hessian-vector
term against exact values, derivation, one trace per search, and exact resume."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import darts_reference
from conftest import CIFAR_MINI, docs_command, run_cli, tiny_cifar_config
from nas_tf import config as config_lib
from nas_tf.models import darts as supernet, darts_network
from nas_tf.models.cell import apply_op
from nas_tf.spaces.cell import OP_SETS
from nas_tf.strategies.darts import Darts, derive_cell

# A small vocabulary keeps the traced graphs small; the method is the same. (Max pooling
# over noise images has near-ties everywhere, whose switching makes finite differences
# noisy; the mixed-op test covers every op.)
OPS = ("none", "skip_connect", "avg_pool_3x3", "sep_conv_3x3")


class Crash(BaseException):
  pass


def darts_config(epochs=2, order=1, **overrides):
  c = tiny_cifar_config(1, **{
      "space.kind": "cell", "search.strategy": "darts", "space.ops": ",".join(OPS),
      "space.num_blocks": 2, "darts.epochs": epochs, "darts.order": order,
      "darts.channels": 4, "darts.layers_per_stage": 1, "darts.batch_size": 16, **overrides})
  config_lib.validate(c)
  return c


def make_darts(config):
  from nas_tf.tasks.cifar10 import Cifar10Task
  task = Cifar10Task(config)
  task.prepare()
  return Darts.from_config(config, task.space, task), task


@pytest.mark.parametrize("stride", [1, 2])
def test_a_mixed_op_with_one_hot_weights_equals_that_single_op(stride):
  ops = OP_SETS["darts"]
  x_in = keras.Input((8, 8, 4))
  w_in = keras.Input((3, len(ops)), batch_size=1)
  mixed = keras.Model([x_in, w_in], darts_reference.mixed_op(x_in, w_in, 1, ops, 4, stride, "m"))
  x = np.random.default_rng(0).standard_normal((2, 8, 8, 4)).astype(np.float32)
  for k, op in enumerate(ops):
    weights = np.zeros((1, 3, len(ops)), np.float32)
    weights[0, 1, k] = 1.0  # edge 1 of 3: the other edges' rows must not matter
    weights[0, 0] = weights[0, 2] = 5.0
    got = mixed([x, weights], training=True).numpy()
    single_in = keras.Input((8, 8, 4))
    single = keras.Model(single_in, apply_op(op, single_in, 4, stride, f"m_{op}", 0.0,
                                             search=True))
    for layer in single.layers[1:]:
      if layer.weights:  # the same op's layers carry the same names in both
        layer.set_weights(mixed.get_layer(layer.name).get_weights())
    np.testing.assert_allclose(got, single(x, training=True).numpy(), atol=1e-6, err_msg=op)


@pytest.mark.parametrize("shape", [(16, 16), (15, 12)])
def test_the_node_grouped_network_equals_the_per_edge_network(shape):
  # models/darts_network.py runs a node's edges as one op per op kind; the per-edge network
  # (tests/darts_reference.py, a Keras layer per op and edge) is DARTS' definition. With
  # the same weights: the same logits, alpha gradients, weight gradients (one SGD step,
  # then compared edge by edge) and batch-norm statistics. Every darts op, reduction cells
  # (stride-2 groups, factorized reductions, the dilated convs' subsampling at even, odd and
  # unequal sides) and a cell after a reduction.
  ops = OP_SETS["darts"]
  keras.utils.set_random_seed(0)
  reference = darts_reference.build_supernet(ops, 3, (*shape, 3), 10, 4, 1)
  network = supernet.build_supernet(ops, 3, (*shape, 3), 10, 4, 1)
  assert network.count_params() == reference.count_params()
  darts_reference.copy_into(reference, network)
  initial = [v.numpy() for v in network.trainable_variables]
  rng = np.random.default_rng(1)
  images = tf.constant(rng.normal(size=(6, *shape, 3)), tf.float32)
  labels = tf.constant(np.arange(6) % 10, tf.int32)
  alphas = [tf.Variable(rng.normal(size=(1, supernet.num_edges(3), len(ops))), dtype=tf.float32)
            for _ in range(2)]
  results = []
  for model in (reference, network):
    with tf.GradientTape() as tape:
      logits = model([images, *alphas], training=True)
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    grads = tape.gradient(loss, alphas + model.trainable_variables)
    for variable, grad in zip(model.trainable_variables, grads[2:]):
      variable.assign_sub(0.5 * grad)
    results.append((logits, grads[:2], model([images, *alphas], training=False)))
  (logits, alpha_grads, evaluated), (logits2, alpha_grads2, evaluated2) = results
  np.testing.assert_allclose(logits2, logits, atol=1e-5)
  for a, b in zip(alpha_grads2, alpha_grads):
    np.testing.assert_allclose(a, b, atol=1e-6)
  np.testing.assert_allclose(evaluated2, evaluated, atol=1e-5)  # moving statistics too
  stepped = supernet.build_supernet(ops, 3, (*shape, 3), 10, 4, 1)
  darts_reference.copy_into(reference, stepped)
  for a, b in zip(network.trainable_variables, stepped.trainable_variables):
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5, err_msg=a.path)
  moved = [not np.allclose(a, b.numpy()) for a, b in zip(initial, network.trainable_variables)]
  assert all(moved), f"{moved.count(False)} weights got no gradient"


@pytest.fixture(scope="module")
def tiny():
  # 8 channels and 32 images: with 4 and 8, BN over near-constant channels curves the loss
  # so sharply that finite differences need steps too small for float32.
  darts, task = make_darts(darts_config(**{"darts.channels": 8}))
  images, labels = next(iter(task.shared_data("train", 32, seed=3)))
  return darts, images, tf.cast(labels, tf.int32)


def test_the_first_order_alpha_gradient_equals_finite_differences(tiny):
  darts, images, labels = tiny
  _, grads = darts.alpha_gradients(images, labels)
  grads = [g.numpy() for g in grads]
  norm = np.sqrt(sum(np.sum(g ** 2) for g in grads))
  rng = np.random.default_rng(1)
  for direction in ([g / norm for g in grads],  # the steepest and a random direction
                    [rng.standard_normal(g.shape).astype(np.float32) for g in grads]):
    h = 1e-3
    start = [a.numpy() for a in darts.alphas]
    values = []
    for sign in (1.0, -1.0):
      for a, a0, d in zip(darts.alphas, start, direction):
        a.assign(a0 + sign * h * d)
      values.append(float(darts.loss(images, labels)[0]))
    for a, a0 in zip(darts.alphas, start):
      a.assign(a0)
    estimate = (values[0] - values[1]) / (2 * h)
    exact = sum(float(np.sum(g * d)) for g, d in zip(grads, direction))
    assert estimate == pytest.approx(exact, rel=2e-2, abs=1e-3)


def test_the_second_order_gradient_of_the_real_supernet_matches_exact_double_gradients(
    monkeypatch):
  # The real search network (its cells, mixed ops, sep convs, factorized reductions, BN in
  # training mode) with its ReLUs made smooth: the paper's finite difference of the
  # Hessian-vector term, through the code's own virtual step, against nested tapes.
  # (A smooth ReLU: the Hessian of a ReLU network is zero where a finite difference of its
  # gradient sees kinks; measured, cosine 0.34 between the two on the real supernet.)
  smoothed = []
  monkeypatch.setattr(darts_network, "relu",
                      lambda x: (smoothed.append(1), tf.nn.softplus(x))[1])
  darts, task = make_darts(darts_config(**{"darts.channels": 8}))
  images, labels = next(iter(task.shared_data("train", 32, seed=3)))
  labels = tf.cast(labels, tf.int32)
  train_x, train_y, val_x, val_y = images[:16], labels[:16], images[16:], labels[16:]
  d, saved_rate = darts.settings, float(darts.learning_rate.numpy())
  darts.learning_rate.assign(0.5)  # a large xi, so that the implicit term weighs
  xi = 0.5
  try:
    with tf.GradientTape() as tape:
      loss, _ = darts.loss(train_x, train_y)
    assert smoothed  # every ReLU of the network is a softplus
    grads = tape.gradient(loss, darts.weights)
    base = [tf.identity(w) for w in darts.weights]
    for w, g, m, b in zip(darts.weights, grads, darts.momentum, base):
      w.assign(b - xi * (d.momentum * m + g + d.weight_decay * b))
    with tf.GradientTape() as tape:
      val_loss, _ = darts.loss(val_x, val_y)
    both = tape.gradient(val_loss, darts.alphas + darts.weights)
    d_alpha, d_w = both[:len(darts.alphas)], both[len(darts.alphas):]
    for w, b in zip(darts.weights, base):
      w.assign(b)
    exact_hv = exact_hessian_vector(darts, train_x, train_y, d_w)
    exact = flat(d_alpha) - xi * exact_hv
    _, estimate = darts.unrolled_alpha_gradients(train_x, train_y, val_x, val_y)
    estimate = flat(estimate)
    for w, b in zip(darts.weights, base):
      np.testing.assert_array_equal(w.numpy(), b.numpy())  # w is left as it was
  finally:
    darts.learning_rate.assign(saved_rate)
  assert np.linalg.norm(xi * exact_hv) > 0.05 * np.linalg.norm(exact)  # the term matters
  assert_close_vectors((flat(d_alpha) - estimate) / xi, exact_hv, 0.05)
  assert_close_vectors(estimate, exact, 0.02)


class SmoothNet(keras.Model):
  """A tiny smooth stand-in for the supernet (tanh, no ReLU or max pooling): a finite
  difference of a ReLU network's gradient sees its kinks, which the exact Hessian ignores."""

  def __init__(self):
    super().__init__()
    self.features = keras.layers.Dense(6, activation="tanh")
    self.architecture = keras.layers.Dense(6, activation="tanh")
    self.classify = keras.layers.Dense(10)

  def call(self, inputs, training=False):
    images, alpha_normal, alpha_reduce = inputs
    h = self.features(keras.ops.mean(images, axis=(1, 2)))
    a = keras.ops.concatenate([keras.ops.reshape(keras.ops.softmax(alpha_normal), (1, -1)),
                               keras.ops.reshape(keras.ops.softmax(alpha_reduce), (1, -1))], -1)
    return self.classify(h * self.architecture(a))


@pytest.fixture(scope="module")
def smooth():
  darts, task = make_darts(darts_config())
  keras.utils.set_random_seed(0)
  darts.model = SmoothNet()
  batches = iter(task.shared_data("train", 16, seed=3))
  (train_x, train_y), (val_x, val_y) = next(batches), next(batches)
  darts.loss(train_x, train_y)  # builds the weights
  darts.weights = list(darts.model.trainable_variables)
  rng = np.random.default_rng(5)
  darts.momentum = [tf.Variable(0.1 * rng.standard_normal(w.shape).astype(np.float32))
                    for w in darts.weights]
  darts.learning_rate.assign(0.05)
  return darts, train_x, tf.cast(train_y, tf.int32), val_x, tf.cast(val_y, tf.int32)


def flat(tensors):
  return np.concatenate([np.asarray(t).ravel() for t in tensors])


def exact_hessian_vector(darts, images, labels, vector):
  """d2L/(dalpha dw) . vector by nested tapes, flattened."""
  with tf.GradientTape() as outer:
    with tf.GradientTape() as inner:
      loss, _ = darts.loss(images, labels)
    grads = inner.gradient(loss, darts.weights)
    dot = tf.add_n([tf.reduce_sum(g * v) for g, v in zip(grads, vector)])
  return flat(outer.gradient(dot, darts.alphas))


def assert_close_vectors(estimate, exact, tolerance):
  cosine = exact @ estimate / (np.linalg.norm(exact) * np.linalg.norm(estimate))
  assert cosine > 1 - tolerance
  assert np.linalg.norm(estimate - exact) < tolerance * np.linalg.norm(exact)


def test_the_hessian_vector_term_matches_an_exact_double_gradient(smooth):
  darts, images, labels, _, _ = smooth
  rng = np.random.default_rng(2)
  vector = [tf.constant(rng.standard_normal(w.shape).astype(np.float32))
            for w in darts.weights]
  exact = exact_hessian_vector(darts, images, labels, vector)
  before = [w.numpy() for w in darts.weights]
  epsilon = 0.01 / tf.linalg.global_norm(vector)  # the paper's epsilon
  estimate = flat(darts.hessian_vector(images, labels, vector, epsilon))
  for w, b in zip(darts.weights, before):
    np.testing.assert_array_equal(w.numpy(), b)  # w is restored
  assert_close_vectors(estimate, exact, 0.02)


def test_the_second_order_gradient_matches_the_exact_unrolled_gradient(smooth):
  darts, train_x, train_y, val_x, val_y = smooth
  d = darts.settings
  xi = float(darts.learning_rate.numpy())
  saved = [w.numpy() for w in darts.weights]
  # d/dalpha L_val(w'(alpha), alpha) exactly: SmoothNet written out with the unrolled
  # weights w'(alpha) = w - xi (momentum + dL_train/dw + wd w) as tensors.
  with tf.GradientTape() as outer:
    with tf.GradientTape() as inner:
      loss, _ = darts.loss(train_x, train_y)
    grads = inner.gradient(loss, darts.weights)
    kernels = [w - xi * (d.momentum * m + g + d.weight_decay * w)
               for w, g, m in zip(darts.weights, grads, darts.momentum)]
    f_kernel, f_bias, a_kernel, a_bias, c_kernel, c_bias = kernels
    h = tf.tanh(tf.reduce_mean(val_x, axis=(1, 2)) @ f_kernel + f_bias)
    a = tf.concat([tf.reshape(tf.nn.softmax(darts.alphas[0]), (1, -1)),
                   tf.reshape(tf.nn.softmax(darts.alphas[1]), (1, -1))], -1)
    logits = (h * tf.tanh(a @ a_kernel + a_bias)) @ c_kernel + c_bias
    val_loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(val_y, logits))
  exact = flat(outer.gradient(val_loss, darts.alphas))
  _, estimate = darts.unrolled_alpha_gradients(train_x, train_y, val_x, val_y)
  for w, b in zip(darts.weights, saved):
    np.testing.assert_array_equal(w.numpy(), b)  # the virtual step leaves w as it was
  assert_close_vectors(flat(estimate), exact, 0.02)
  first_order = flat(darts.alpha_gradients(val_x, val_y)[1])
  assert np.linalg.norm(first_order - exact) > 0.05 * np.linalg.norm(exact)  # it matters


def test_derivation_keeps_each_nodes_two_strongest_edges_and_ops():
  # Node 0 reads edges 0, 1; node 1 edges 2, 3, 4. "none" is strongest on edge 0 but never
  # chosen; edge strength is the largest non-none weight.
  w = np.full((5, 4), 0.1)
  w[0] = [0.70, 0.05, 0.20, 0.05]   # edge 0: avg_pool 0.20
  w[1] = [0.10, 0.10, 0.10, 0.70]   # edge 1: sep_conv 0.70
  w[2] = [0.40, 0.10, 0.10, 0.40]   # node 1 from h[c-2]: sep_conv 0.40
  w[3] = [0.10, 0.30, 0.30, 0.30]   # from h[c-1]: a three-way tie at 0.30 -> first, weaker
  w[4] = [0.00, 0.90, 0.05, 0.05]   # from node 0: skip 0.90, strongest
  assert derive_cell(w, OPS, 2) == [[1, "sep_conv_3x3", 0, "avg_pool_3x3"],
                                    [2, "skip_connect", 0, "sep_conv_3x3"]]  # 2: node 0


def run_search(config, workdir, **hooks):
  from nas_tf.runner.run import OneShotSearch
  from nas_tf.tasks.cifar10 import Cifar10Task
  search = OneShotSearch(config, workdir, Cifar10Task(config), log=lambda _: None, **hooks)
  return search, search.run()


# One-node cells without convolutions in the mixed ops keep the traces short (the real-data
# search below traces them with a separable convolution).
@pytest.mark.parametrize("order,ops", [(1, OPS[:3]), (2, OPS[:3])])
def test_a_search_traces_its_step_once_and_resumes_to_identical_alpha(tmp_path, order, ops):
  small = {"space.num_blocks": 1, "space.ops": ",".join(ops), "darts.batch_size": 12}
  full, result = run_search(darts_config(order=order, **small), str(tmp_path / "full"))
  assert full.strategy.traces == 1
  # Each kind of forward-backward pass is traced once, however often the step makes it
  # (the second order step: five passes of three kinds).
  passes = {k: f.experimental_get_tracing_count() for k, f in full.strategy._pass.items()}
  assert passes == ({"alpha": 1, "weights": 1, "both": 0} if order == 1 else
                    {"alpha": 1, "weights": 1, "both": 1})
  # Halves of the whole training set (64 train + 32 validation images: 48 each, as
  # train_search.py's train_portion 0.5 of all 50k): two epochs of 4 minibatches of 12.
  assert full.strategy.steps == 8
  row = json.loads(open(tmp_path / "full" / "children.jsonl").readline())
  assert row["derived"] and row["shared_weights"] and row["arch"]["cell_output"] == "all"
  assert len(row["arch"]["normal"]) == 1 and "none" not in json.dumps(row["arch"]["normal"])
  assert result.best["id"] == row["id"]
  if order == 2:  # resume is the same code whatever the order
    return

  def crash_after(epoch):
    if epoch == 0:
      raise Crash()
  with pytest.raises(Crash):
    run_search(darts_config(order=order, **small), str(tmp_path / "killed"),
               after_epoch=crash_after)
  resumed, _ = run_search(darts_config(order=order, **small), str(tmp_path / "killed"))
  assert resumed.strategy.steps == 4  # only the second epoch
  for a, b in zip(resumed.strategy.alphas, full.strategy.alphas):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  for a, b in zip(resumed.strategy.weights, full.strategy.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  resumed_row = json.loads(open(tmp_path / "killed" / "children.jsonl").readline())
  for key in ("id", "arch", "val_accuracy", "alpha_softmax"):
    assert resumed_row[key] == row[key]


def test_darts_configs_are_checked():
  c = darts_config()
  c.darts.order = 3
  with pytest.raises(config_lib.ConfigError, match=r"darts.order must be an integer in \[1, 2\]"):
    config_lib.validate(c)
  c = darts_config()
  c.space.cell_output = "loose_ends"
  with pytest.raises(config_lib.ConfigError, match="leave space.same_cell_for_reduction"):
    config_lib.validate(c)
  c = darts_config()
  c.space.num_blocks = 0
  from nas_tf.spaces.cell import CellSpace
  assert CellSpace.from_config(c).num_blocks == 4  # auto: DARTS' 4 nodes


@pytest.mark.skipif(not os.path.exists(CIFAR_MINI), reason="../shared/data not present")
def test_darts_search_on_real_cifar_derives_a_trainable_cell(tmp_path):
  # docs/darts.md's command, smaller. (Final training, export and serving of a cell network
  # on real images: tests/test_zoo.py.)
  w = str(tmp_path / "run")
  search = run_cli(*docs_command("docs/darts.md", "--method=darts"), f"--workdir={w}",
                   f"--config.space.ops={','.join(OPS)}", "--config.space.num_blocks=2",
                   "--config.data.max_train_examples=256", "--config.darts.epochs=1")
  assert search.returncode == 0, search.stderr[-2000:]
  assert "[darts epoch 1/1]" in search.stdout and "1 trace(s)" in search.stdout
  derived = json.loads(open(os.path.join(w, "children.jsonl")).readline())
  assert derived["derived"] and "none" not in json.dumps(derived["arch"]["normal"])
  assert f"nas-tf train --workdir={w}" in search.stdout


@pytest.mark.parametrize("search", [True, False])
@pytest.mark.parametrize("op", OP_SETS["darts"] + ("conv_7x1_1x7",))
def test_ops_equal_a_transcription_of_quark0_darts_operations(op, search):
  # Against tests/darts_ops_transcription.py (cnn/operations.py in NumPy, written from the
  # file): the ReLU-conv-BN order, the separable conv's two stacked blocks, padding, the
  # average pool's uncounted padding, BN's batch statistics and epsilon, the affine flags
  # (none in the search, where pools get a BN too). Stride 1 for every op, and the stride-2
  # factorized reduction (1x1 convs: no padding, the same pixels in both frameworks; a kxk op
  # at stride 2 is a pixel off torch's by TF's padding rule, docs/cell-space.md).
  import darts_ops_transcription as ref
  strides = (1, 2) if op == "skip_connect" else (1,)
  rng = np.random.default_rng(3)
  x = rng.normal(size=(3, 8, 8, 4)).astype(np.float32)
  for stride in strides:
    inputs = keras.Input((8, 8, 4))
    model = keras.Model(inputs, apply_op(op, inputs, 4, stride, "o", 0.0, search=search))
    for v in model.weights:  # off their initial values: gamma 1 and beta 0 would hide them
      v.assign(rng.uniform(0.5, 1.5, size=v.shape) if "gamma" in v.path or "moving" in v.path
               else rng.normal(scale=0.5, size=v.shape))
    weights = {v.path: v.numpy().astype(np.float64) for v in model.weights}

    def w(layer, name):
      return weights[f"o_{layer}/{name}"]
    expected = ref.op(op, x.astype(np.float64), w, stride, affine=not search, search=search)
    got = model(x, training=True).numpy()
    np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4, err_msg=f"{op} {stride}")
