"""Zero-cost proxies: an untrained network scored on one minibatch, as their authors' code
computes each one (mohsaied/zero-cost-nas ``foresight/pruners/measures/*.py``, Abdelfattah et
al., ICLR 2021; BayesWatch/nas-without-training ``score_networks.py``, Mellor et al., ICML
2021). Higher is better for every one.

The weighted layers are the convolutions and dense layers (PyTorch's ``nn.Conv2d`` and
``nn.Linear``: their kernels, never their biases). The network runs in training mode, as
theirs: batch norm normalizes with the batch's own statistics.

- ``grad_norm``: the sum over layers of the L2 norm of dLoss/dW (``grad_norm.py``).
- ``snip``: the sum of |W * dLoss/dW| (``snip.py``: the gradient of a mask of ones).
- ``grasp``: the sum of -W * (H g), H the loss's Hessian in W and g its gradient, held
  fixed (``grasp.py``, T = 1, one iteration).
- ``fisher``: per output channel of each layer, 0.5 * the batch mean of (sum over positions
  of activation * dLoss/dactivation)^2, summed over channels, each channel's value counted
  once per weight of its filter (``fisher.py`` broadcasts it to the filter's shape).
- ``jacob_cov``: -sum(log(v + k) + 1 / (v + k)), k = 1e-5, over the eigenvalues v of the
  correlation matrix of the per-image gradients of the summed logits (``jacob_cov.py``).
- ``synflow``: every weight replaced by its absolute value, batch norm left out, float64, one
  image of ones; the sum of |W * d(sum of outputs)/dW| (``synflow.py``).
- ``naswot``: log|K|, K[i, j] the number of ReLUs on which images i and j agree (both
  active or both not), over every ReLU's input (``score_networks.py``, ``hook_logdet``).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

JACOB_K = 1e-5  # jacob_cov.py's k
PROXIES = ("grad_norm", "snip", "grasp", "fisher", "jacob_cov", "synflow", "naswot")


def weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
  """Convolutions and dense layers, in the model's order."""
  kinds = (keras.layers.Conv2D, keras.layers.Dense, keras.layers.DepthwiseConv2D,
           keras.layers.Conv1D)
  return [layer for layer in _layers(model) if isinstance(layer, kinds)]


def _layers(model: keras.Model) -> list[keras.layers.Layer]:
  found = []
  for layer in model.layers:
    found.extend(_layers(layer) if isinstance(layer, keras.Model) else [layer])
  return found


def kernels(model: keras.Model) -> list[tf.Variable]:
  return [layer.kernel for layer in weighted_layers(model)]


def _fan_in(layer: keras.layers.Layer) -> int:
  """PyTorch's ``prod(weight.shape[1:])``: a filter's weights."""
  shape = tuple(layer.kernel.shape)
  if isinstance(layer, keras.layers.DepthwiseConv2D):
    return int(np.prod(shape[:-2]))  # [kh, kw, C, multiplier]: one input channel per filter
  return int(np.prod(shape[:-1]))


def _loss(logits, labels):
  return tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(
      labels, logits, from_logits=True))


def _loss_and_grads(model, images, labels, variables):
  with tf.GradientTape() as tape:
    loss = _loss(model(images, training=True), labels)
  return loss, tape.gradient(loss, variables)


def grad_norm(model, images, labels) -> float:
  weights = kernels(model)
  _, grads = _loss_and_grads(model, images, labels, weights)
  return float(sum(tf.norm(g) for g in grads if g is not None))


def snip(model, images, labels) -> float:
  weights = kernels(model)
  _, grads = _loss_and_grads(model, images, labels, weights)
  return float(sum(tf.reduce_sum(tf.abs(w * g)) for w, g in zip(weights, grads)
                   if g is not None))


def grasp(model, images, labels) -> float:
  weights = kernels(model)
  _, first = _loss_and_grads(model, images, labels, weights)
  first = [tf.stop_gradient(g) if g is not None else None for g in first]
  with tf.GradientTape() as outer:
    with tf.GradientTape() as inner:
      loss = _loss(model(images, training=True), labels)
    grads = inner.gradient(loss, weights)
    z = tf.add_n([tf.reduce_sum(g0 * g) for g0, g in zip(first, grads)
                  if g0 is not None and g is not None])
  hessian_grad = outer.gradient(z, weights)  # H g
  return float(sum(tf.reduce_sum(-w * hg) for w, hg in zip(weights, hessian_grad)
                   if hg is not None))


def fisher(model, images, labels) -> float:
  layers = weighted_layers(model)
  probe = keras.Model(model.inputs[0], [model.outputs[0], *[layer.output for layer in layers]])
  with tf.GradientTape() as tape:
    logits, *activations = probe(images, training=True)
    loss = _loss(logits, labels)
  grads = tape.gradient(loss, activations)
  total = 0.0
  for layer, act, grad in zip(layers, activations, grads):
    if grad is None:
      continue
    per_image = act * grad
    if len(per_image.shape) > 2:
      per_image = tf.reduce_sum(per_image, axis=list(range(1, len(per_image.shape) - 1)))
    per_channel = 0.5 * tf.reduce_mean(tf.square(per_image), axis=0)
    total += float(tf.reduce_sum(tf.abs(per_channel))) * _fan_in(layer)
  return total


def jacob_cov(model, images, labels=None) -> float:
  images = tf.convert_to_tensor(images)
  with tf.GradientTape() as tape:
    tape.watch(images)
    total = tf.reduce_sum(model(images, training=True))
  jacobian = tape.gradient(total, images).numpy().reshape(images.shape[0], -1)
  return jacob_score(jacobian)


def jacob_score(jacobian: np.ndarray) -> float:
  """``eval_score`` of jacob_cov.py; nan where the correlations are undefined (an image whose
  gradient is constant, as through a cell of none ops), as theirs catches and returns."""
  with np.errstate(divide="ignore", invalid="ignore"):
    corr = np.corrcoef(jacobian.astype(np.float64))
  if not np.all(np.isfinite(corr)):
    return math.nan
  v = np.linalg.eigvalsh(corr)
  return float(-np.sum(np.log(v + JACOB_K) + 1.0 / (v + JACOB_K)))


def synflow(model, images=None, labels=None,
            keep_batch_norm: Callable[[keras.layers.Layer], bool] = lambda layer: False
            ) -> float:
  """``keep_batch_norm``: the batch norms the authors' copy of the network keeps (their
  NAS-Bench-201 model keeps the residual blocks'; every other is left out)."""
  twin = _float64_twin(model, keep_batch_norm)
  shape = (1, *model.inputs[0].shape[1:])
  weights = kernels(twin)
  with tf.GradientTape() as tape:
    total = tf.reduce_sum(twin(tf.ones(shape, tf.float64), training=True))
  grads = tape.gradient(total, weights)
  return float(sum(tf.reduce_sum(tf.abs(w * g)) for w, g in zip(weights, grads)
                   if g is not None))


class _LeftOut(keras.layers.Layer):
  """A batch norm left out: its input, whatever batch norm's call was given."""

  def call(self, inputs, training=None, mask=None):
    return inputs


def _float64_twin(model, keep_batch_norm) -> keras.Model:
  """The model in float64, every weight its absolute value, batch norms left out (or kept)."""
  def clone(layer):
    config = {**layer.get_config(), "dtype": "float64"}
    if isinstance(layer, keras.layers.BatchNormalization):
      if not keep_batch_norm(layer):
        return _LeftOut(name=layer.name, dtype="float64")
      return keras.layers.BatchNormalization.from_config(
          {k: config[k] for k in ("name", "axis", "momentum", "epsilon", "center", "scale",
                                  "dtype")})
    return layer.__class__.from_config(config)
  inputs = keras.Input(model.inputs[0].shape[1:], dtype="float64")
  twin = keras.models.clone_model(model, input_tensors=inputs, clone_function=clone)
  for source, target in zip(_layers(model), _layers(twin)):
    if target.weights:
      target.set_weights([np.abs(w).astype(np.float64) for w in source.get_weights()])
  return twin


def relu_layers(model: keras.Model) -> list[keras.layers.Layer]:
  """ReLU layers, and layers that end in a ReLU (``activation="relu"``: your models')."""
  return [layer for layer in _layers(model) if isinstance(layer, keras.layers.ReLU)
          or getattr(layer, "activation", None) is keras.activations.relu]


def _code(layer: keras.layers.Layer):
  """The tensor whose signs are the layer's binary code: a ReLU layer's input (NASWOT's
  hooks read module inputs), a layer's own output where the ReLU ends it (> 0 where the
  input to its ReLU is)."""
  return layer.input if isinstance(layer, keras.layers.ReLU) else layer.output


def naswot(model, images, labels=None,
           times_counted: Callable[[keras.layers.Layer], int] = lambda layer: 1) -> float:
  """``times_counted(relu)``: how often the authors' hooks see that ReLU's input. They hook
  every module whose type name contains 'ReLU', which in NAS-Bench-201's network is each
  ReLU and also each ReLUConvBN around one: those inputs count twice."""
  layers = relu_layers(model)
  if not getattr(model, "inputs", None):
    raise ValueError("naswot reads the ReLUs of a functional or Sequential model")
  if not layers:
    return float("nan")  # no binary codes: undefined (log|0| = -inf)
  probe = keras.Model(model.inputs[0], [_code(layer) for layer in layers])
  codes = probe(images, training=True)
  n = int(images.shape[0])
  kernel = np.zeros((n, n))
  for layer, code in zip(layers, codes if isinstance(codes, (list, tuple)) else [codes]):
    active = tf.cast(tf.reshape(code, (n, -1)) > 0, tf.float32)
    # Units where two images agree, c c^T + (1 - c)(1 - c)^T, from one product: 2 c c^T
    # minus each image's active count, plus the units. Integers below 2^24: exact in float32.
    both = 2.0 * tf.matmul(active, active, transpose_b=True).numpy().astype(np.float64)
    count = tf.reduce_sum(active, axis=1).numpy().astype(np.float64)
    agree = both - count[:, None] - count[None, :] + active.shape[1]
    kernel += times_counted(layer) * agree
  return naswot_score(kernel)


def naswot_score(kernel: np.ndarray) -> float:
  return float(np.linalg.slogdet(kernel)[1])


MEASURES: dict[str, Callable] = {"grad_norm": grad_norm, "snip": snip, "grasp": grasp,
                                 "fisher": fisher, "jacob_cov": jacob_cov, "synflow": synflow,
                                 "naswot": naswot}


def pairwise_vote(scores: Sequence[Sequence[float]]) -> np.ndarray:
  """For each candidate, how many others a majority of the proxies rank below it (the
  notebook's vote of synflow, jacob_cov and snip, counted per candidate). ``scores``: one
  row per proxy."""
  table = np.asarray(scores, dtype=np.float64)
  diff = table[:, :, None] - table[:, None, :]  # proxy, i, j
  positive = np.sum(diff > 0, axis=0)
  wins = positive >= table.shape[0] / 2  # the notebook: ties of the vote count as wins
  np.fill_diagonal(wins, False)
  return wins.sum(axis=1)
