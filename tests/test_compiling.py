"""The pieces that keep a child's graph small and traced once compute what Keras' own do:
fused batch norm, fused momentum, weight decay as L2Loss; and fit traces the train step
once."""

from contextlib import nullcontext

import keras
import numpy as np
import pytest
import tensorflow as tf

from nas_tf.models.cell import build_classifier
from nas_tf.models.layers import FusedBatchNorm, StridedPointwiseConv2D, WeightDecay, conv2d
from nas_tf.models.optimizers import MomentumSGD
from nas_tf.tasks import training


@pytest.mark.parametrize("affine", [True, False])
def test_fused_batch_norm_equals_keras_batch_norm(affine):
  x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, (4, 5, 5, 6)), tf.float32)
  ours = FusedBatchNorm(momentum=0.9, center=affine, scale=affine)
  theirs = keras.layers.BatchNormalization(momentum=0.9, center=affine, scale=affine)
  for layer in (ours, theirs):
    layer.build(x.shape)
    if affine:  # not the initial ones and zeros, so that scale and shift are exercised
      layer.gamma.assign(np.linspace(0.5, 1.5, 6))
      layer.beta.assign(np.linspace(-1.0, 1.0, 6))
  grads = []
  for layer in (ours, theirs):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = layer(x, training=True)
      loss = tf.reduce_sum(y * tf.range(6, dtype=tf.float32))
    grads.append([g.numpy() for g in tape.gradient(loss, [x, *layer.trainable_weights])])
    if layer is ours:
      y_ours = y.numpy()
  np.testing.assert_allclose(y_ours, y.numpy(), atol=2e-5)
  for a, b in zip(*grads):
    np.testing.assert_allclose(a, b, atol=2e-4)
  np.testing.assert_allclose(ours.moving_mean.numpy(), theirs.moving_mean.numpy(), atol=1e-6)
  # The moving variance takes the batch's unbiased variance (torch's and the fused kernel's);
  # Keras' composed one the biased.
  values = x.numpy()
  np.testing.assert_allclose(ours.moving_variance.numpy(),
                             0.9 + 0.1 * np.var(values, axis=(0, 1, 2), ddof=1), rtol=1e-5)
  np.testing.assert_allclose(theirs.moving_variance.numpy(),
                             0.9 + 0.1 * np.var(values, axis=(0, 1, 2)), rtol=1e-5)
  theirs.moving_variance.assign(ours.moving_variance)
  np.testing.assert_allclose(ours(x, training=False).numpy(), theirs(x, training=False).numpy(),
                             atol=2e-5)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_sgd_equals_keras_sgd(nesterov):
  rng = np.random.default_rng(1)
  start = rng.standard_normal((3, 4)).astype(np.float32)
  grads = [tf.constant(rng.standard_normal((3, 4)), tf.float32) for _ in range(3)]
  results = []
  for cls in (MomentumSGD, keras.optimizers.SGD):
    w = keras.Variable(start)
    optimizer = cls(0.1, momentum=0.9, nesterov=nesterov)
    step = tf.function(lambda g: optimizer.apply_gradients([(g, w)]))
    for g in grads:
      step(g)
    results.append(w.numpy())
  np.testing.assert_allclose(results[0], results[1], rtol=1e-6, atol=1e-6)
  assert not np.allclose(results[0], start)


def test_weight_decay_is_half_rate_times_the_squared_norm():
  w = tf.Variable(np.random.default_rng(2).standard_normal((3, 3, 2, 4)).astype(np.float32))
  with tf.GradientTape() as tape:
    value = WeightDecay(3e-4)(w)
  assert float(value) == pytest.approx(1.5e-4 * float(tf.reduce_sum(w * w)), rel=1e-6)
  np.testing.assert_allclose(tape.gradient(value, w).numpy(), 3e-4 * w.numpy(), rtol=1e-6)


def test_fit_traces_a_compiled_childs_train_step_once():
  # Without the compiled state built before fit, Keras creates its variables inside the
  # first trace, and TensorFlow traces a function that creates variables twice.
  arch = {"normal": [[0, "sep_conv_3x3", 1, "identity"]],
          "reduce": [[0, "max_pool_3x3", 1, "sep_conv_3x3"]], "cell_output": "loose"}
  model = build_classifier(arch, (8, 8, 3), 3, layers_per_stage=1, channels=4)
  training.compile_classifier(model, 0.05, 0.9, True, total_steps=4)
  traces = []
  train_step = model.train_step
  model.train_step = lambda data: (traces.append(1), train_step(data))[1]
  images = np.random.default_rng(3).integers(0, 255, (16, 8, 8, 3)).astype(np.float32)
  data = tf.data.Dataset.from_tensor_slices((images, np.arange(16) % 3)).batch(8)
  curve, timing = training.fit_classifier(model, data, data, epochs=2)
  assert len(traces) == 1
  assert len(curve) == 2 and timing["trace_seconds"] > 0


def test_a_child_trains_the_same_with_grappler_off_up_to_float_rounding():
  # Children train with Grappler off on a CPU (hardware.graph_optimizer_off_without_gpu):
  # its rewrites (fused conv + bias + activation, reordered sums) change only the rounding.
  from nas_tf.runtime import hardware
  arch = {"normal": [[0, "sep_conv_3x3", 1, "avg_pool_3x3"], [2, "dil_conv_3x3", 0, "identity"]],
          "reduce": [[0, "max_pool_3x3", 1, "sep_conv_5x5"]], "cell_output": "loose"}
  images = np.random.default_rng(4).normal(0, 1, (8, 8, 8, 3)).astype(np.float32)
  labels = np.arange(8) % 3
  results = []
  for off in (False, True):
    keras.utils.set_random_seed(0)
    model = build_classifier(arch, (8, 8, 3), 3, layers_per_stage=1, channels=8)
    training.compile_classifier(model, 0.1, 0.9, True, total_steps=4)
    optimizer_off = hardware.graph_optimizer_off_without_gpu() if off else nullcontext()
    with optimizer_off:
      assert tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer",
                                                                 False) == off
      losses = [float(model.train_on_batch(images, labels)[0]) for _ in range(3)]
    results.append((losses, [w.numpy() for w in model.weights]))
  assert tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer") is False
  (on_losses, on_weights), (off_losses, off_weights) = results
  np.testing.assert_allclose(off_losses, on_losses, rtol=1e-5)
  for a, b in zip(off_weights, on_weights):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("strides", [2, (1, 2), 3])
def test_a_strided_pointwise_conv_equals_keras_conv(strides):
  x = tf.constant(np.random.default_rng(5).normal(0, 1, (4, 12, 12, 6)), tf.float32)
  ours = conv2d(5, 1, strides=strides, padding="same", use_bias=False)
  theirs = keras.layers.Conv2D(5, 1, strides=strides, padding="same", use_bias=False)
  assert isinstance(ours, StridedPointwiseConv2D)
  ours.build(x.shape)
  theirs.build(x.shape)
  theirs.kernel.assign(ours.kernel)
  results = []
  for layer in (ours, theirs):
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(x)
      y = layer(x)
      loss = tf.reduce_sum(y * tf.range(5, dtype=tf.float32))
    results.append([y, *tape.gradient(loss, [x, layer.kernel])])
  for a, b in zip(*results):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)
  assert type(conv2d(5, 3, strides=2)) is keras.layers.Conv2D
  assert type(conv2d(5, 1)) is keras.layers.Conv2D


def test_a_factorized_reduction_trains_on_odd_batch_sizes():
  # Keras' strided 1x1 conv aborted the process here (heap corruption in oneDNN's filter
  # gradient) on batches of 5, 7 and 9 images; a cell child's last batch may be any size.
  arch = {"normal": [[0, "sep_conv_3x3", 1, "identity"]],
          "reduce": [[0, "identity", 1, "max_pool_3x3"]], "cell_output": "loose"}
  model = build_classifier(arch, (32, 32, 3), 3, layers_per_stage=1, channels=8)
  training.compile_classifier(model, 0.05, 0.9, True, total_steps=8)
  rng = np.random.default_rng(6)
  for n in (8, 5, 7, 9):
    images = rng.normal(0, 1, (n, 32, 32, 3)).astype(np.float32)
    assert np.isfinite(float(model.train_on_batch(images, np.arange(n) % 3)[0]))
