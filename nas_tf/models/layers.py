"""Keras building blocks shared by the model builders of several spaces."""

from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import ops

from nas_tf.runtime import hardware


def pad_and_concat(tensors: Sequence[Any], name: str):
  """Zero-pads each [N, H, W, C] map to the largest H and W, then concatenates channels.

  Padding is split evenly between both sides (the extra row/column goes bottom/right), so a
  smaller map stays centred on the larger ones.
  """
  if len(tensors) == 1:
    return tensors[0]
  height = max(t.shape[1] for t in tensors)
  width = max(t.shape[2] for t in tensors)
  padded = []
  for k, t in enumerate(tensors):
    dh, dw = height - t.shape[1], width - t.shape[2]
    if dh or dw:
      t = keras.layers.ZeroPadding2D(((dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2)),
                                     name=f"{name}_pad{k}")(t)
    padded.append(t)
  return keras.layers.Concatenate(axis=-1, name=f"{name}_concat")(padded)


# Keras' default BN momentum (0.99) needs hundreds of steps before its moving statistics
# are usable; short search-time children would be scored with half-initialised statistics.
BN_MOMENTUM = 0.9
# The authors' BN epsilon on CIFAR-10: 1e-5 in ENAS (src/cifar10/image_ops.py line 92), DARTS
# (torch's BatchNorm2d default) and NASNet (tensorflow/models nasnet.py
# nasnet_cifar_arg_scope, whose recipe the published cells train with). NAS-RL published no
# code: its CNN children keep Keras' 1e-3 (KERAS_BN_EPSILON).
BN_EPSILON = 1e-5
KERAS_BN_EPSILON = 1e-3


def decay(weight_decay: float):
  """The kernel regularizer of weight decay ``weight_decay`` as the papers define it (and
  torch's SGD applies it): a gradient of weight_decay * w. None for 0."""
  return WeightDecay(weight_decay) if weight_decay else None


@keras.saving.register_keras_serializable(package="nas_tf")
class WeightDecay(keras.regularizers.Regularizer):
  """rate / 2 * sum(w^2) (Keras' L2(rate / 2): gradient rate * w) as TensorFlow's one
  L2Loss op, whose gradient is one multiply; Keras' L2 traces a square, a sum over every
  axis and their gradients (~11 graph nodes per kernel)."""

  def __init__(self, rate: float):
    self.rate = float(rate)

  def __call__(self, x):
    import tensorflow as tf
    return ops.cast(self.rate, x.dtype) * tf.nn.l2_loss(x)

  def get_config(self):
    return {"rate": self.rate}


def conv2d(filters: int, kernel, strides=1, **kwargs) -> keras.layers.Conv2D:
  """``keras.layers.Conv2D``; a 1x1 one with a stride is ``StridedPointwiseConv2D``."""
  pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
  if pair(kernel) == (1, 1) and pair(strides) != (1, 1):
    return StridedPointwiseConv2D(filters, kernel, strides=strides, **kwargs)
  return keras.layers.Conv2D(filters, kernel, strides=strides, **kwargs)


@keras.saving.register_keras_serializable(package="nas_tf")
class StridedPointwiseConv2D(keras.layers.Conv2D):
  """A 1x1 conv with a stride, computed as every stride-th pixel convolved at stride 1: the
  same values (a 1x1 window pads nothing, "same" or "valid"), the same weights. oneDNN's
  filter gradient of a strided 1x1 conv (TensorFlow 2.21 on a CPU) corrupts the heap when
  the batch size is odd: measured, a factorized reduction's training aborted the process
  on a last batch of 5, 7 or 9 images (``tests/test_compiling.py``)."""

  def convolution_op(self, inputs, kernel):
    rows, columns = self.strides
    return ops.conv(inputs[:, ::rows, ::columns, :], kernel, strides=1, padding=self.padding,
                    dilation_rate=self.dilation_rate, data_format=self.data_format)


def factorized_halves(x, kernel_a, kernel_b) -> list:
  """The two halves of a factorized reduction (DARTS' FactorizedReduce) in raw TensorFlow,
  for the supernets: 1x1 convs of ``x`` at stride 2, the second a pixel down and right."""
  import tensorflow as tf
  shifted = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]])[:, 1:, 1:, :]
  return [tf.nn.conv2d(y[:, ::2, ::2, :], kernel, 1, "SAME")
          for y, kernel in ((x, kernel_a), (shifted, kernel_b))]


def batch_norm(name: str, affine: bool = True, epsilon: float = BN_EPSILON,
               exact_mean: bool = False) -> keras.layers.BatchNormalization:
  """``affine=False``: no learned scale and shift (DARTS' search network, whose ops are
  weighted by the architecture instead). ``exact_mean``: ``ExactMeanBatchNorm``."""
  kind = ExactMeanBatchNorm if exact_mean else FusedBatchNorm
  return kind(momentum=BN_MOMENTUM, epsilon=epsilon, center=affine, scale=affine, name=name)


def fused_batch_norm(x, scale, offset, moving_mean, moving_variance, epsilon: float,
                     momentum: float, training: bool):
  """TensorFlow's fused batch norm of [N, H, W, C] ``x``; in training, with the batch's
  statistics, moving the moving ones (variables) by ``1 - momentum``. ``FusedBatchNorm``'s
  computation, as a function of its weights (the composed supernet passes them in)."""
  import tensorflow as tf
  if training:
    y, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
        x=x, scale=scale, offset=offset, mean=moving_mean, variance=moving_variance,
        epsilon=epsilon, exponential_avg_factor=1.0 - momentum, data_format="NHWC",
        is_training=True)
    moving_mean.assign(mean)
    moving_variance.assign(variance)
    return y
  return tf.raw_ops.FusedBatchNormV3(
      x=x, scale=scale, offset=offset, mean=moving_mean, variance=moving_variance,
      epsilon=epsilon, data_format="NHWC", is_training=False)[0]


@keras.saving.register_keras_serializable(package="nas_tf")
class FusedBatchNorm(keras.layers.BatchNormalization):
  """Keras' BatchNormalization on [N, H, W, C] maps as TensorFlow's fused kernel: the
  normalization, its gradient and the moving-average update are one graph op each, where
  Keras composes ~30 (measured on DARTS' search network: a third of its graph's nodes, and
  of the time to trace it). The same weights and names; the moving variance is the batch's
  unbiased variance, as in torch (DARTS) and the fused batch norms of ENAS's and
  tensorflow/models' code. Other inputs (masks, other ranks) take Keras' path.

  ``call(..., output_scale=s)`` (a BN without scale and shift only): the output times the
  per-channel ``s``, inside the fused op (DARTS' search network weighs ops so)."""

  def call(self, inputs, training=None, mask=None, output_scale=None):
    axis = self.axis if isinstance(self.axis, int) else self.axis[0]
    if mask is not None or len(inputs.shape) != 4 or axis not in (-1, 3) \
        or not isinstance(training, (bool, type(None))):
      if output_scale is not None:
        raise ValueError("output_scale needs a [N, H, W, C] input and a Python training flag")
      return super().call(inputs, training=training, mask=mask)
    import tensorflow as tf
    x = tf.cast(inputs, "float32")  # as Keras does: half-precision inputs overflow in BN
    channels = x.shape[-1]
    if output_scale is not None and (self.scale or self.center):
      raise ValueError("output_scale is for a batch norm without scale and shift")
    scale = self.gamma if self.scale else (
        tf.ones([channels]) if output_scale is None else output_scale)
    offset = self.beta if self.center else tf.zeros([channels])
    y = fused_batch_norm(x, scale, offset, self.moving_mean, self.moving_variance,
                         self.epsilon, self.momentum, training and self.trainable)
    return tf.cast(y, self.compute_dtype)


@keras.saving.register_keras_serializable(package="nas_tf")
class ExactMeanBatchNorm(FusedBatchNorm):
  """In training, a batch norm whose batch mean is summed in float64: exact where a channel
  is constant, which then normalizes to exact zeros, as on the GPU the zero-cost proxies'
  authors ran (PyTorch's CUDA kernel, ``batch_norm_collect_statistics_kernel``: Welford's
  running mean stays the constant and the variance 0). TensorFlow's fused kernel leaves
  round-off there (0.015 of one sign for a channel of 0.0833 at [64, 32, 32]), which the
  next ReLU passes on: in NAS-Bench-201's zero-cost network a biased conv of a dead node's
  zeros is such a channel, and fisher of a dead cell came out 1e9 instead of 4e-5.

  The fused kernel then normalizes the centred input: a batch norm ignores a per-channel
  shift, so its output and gradient are the same, and held fixed the exact mean needs no
  gradient of its own (one fused op each way, as ``FusedBatchNorm``)."""

  def call(self, inputs, training=None, mask=None, output_scale=None):
    if training is not True or not self.trainable or mask is not None \
        or output_scale is not None or len(inputs.shape) != 4:
      return super().call(inputs, training=training, mask=mask, output_scale=output_scale)
    import tensorflow as tf
    x = tf.cast(inputs, "float32")
    mean = tf.stop_gradient(tf.cast(
        tf.reduce_mean(tf.cast(x, "float64"), axis=[0, 1, 2]), "float32"))
    y = super().call(x - mean, training=True)
    self.moving_mean.assign_add((1.0 - self.momentum) * mean)  # the shift taken out
    return y


@keras.saving.register_keras_serializable(package="nas_tf")
class Standardize(keras.layers.Layer):
  """uint8 (or float) images -> (x - mean) / std per channel, the training normalization."""

  def __init__(self, mean, std, **kwargs):
    super().__init__(**kwargs)
    self.mean, self.std = [float(m) for m in mean], [float(s) for s in std]

  def call(self, images):
    x = ops.cast(images, "float32")
    return (x - ops.array(self.mean, "float32")) / ops.array(self.std, "float32")

  def get_config(self):
    return {**super().get_config(), "mean": self.mean, "std": self.std}


@keras.saving.register_keras_serializable(package="nas_tf")
class DropPath(keras.layers.Layer):
  """Zeroes a whole op output per example with probability ``rate * depth`` in training
  (scaling the rest by the inverse keep probability); ``rate`` is a variable, raised per
  epoch by ``DropPathSchedule``. ``depth``: NASNet's, PNASNet's and ENAS's layer ratio,
  (cell index + 1) / cells, so deeper cells drop more (nasnet_utils.py and PNASNet.TF's
  cell.py ``_apply_drop_path``, ENAS's micro_child.py line 199); DARTS drops alike in every
  cell (1)."""

  def __init__(self, seed: int = 0, depth: float = 1.0, **kwargs):
    super().__init__(**kwargs)
    self.seed_generator = keras.random.SeedGenerator(seed)
    self.depth = float(depth)

  def get_config(self):
    return {**super().get_config(), "depth": self.depth}

  def build(self, input_shape):
    self.rate = self.add_weight(shape=(), initializer="zeros", trainable=False, name="rate")

  def call(self, x, training=False):
    if not training:
      return x
    keep = 1.0 - ops.cast(self.rate, x.dtype) * self.depth
    shape = (ops.shape(x)[0], 1, 1, 1)
    mask = ops.cast(keras.random.uniform(shape, seed=self.seed_generator) < keep, x.dtype)
    return x * mask / keep


class DropPathSchedule(keras.callbacks.Callback):
  """Drop-path rate ``max_rate * epoch / epochs`` at the start of each epoch (DARTS)."""

  def __init__(self, max_rate: float, epochs: int):
    super().__init__()
    self.max_rate, self.epochs = float(max_rate), max(1, int(epochs))

  def on_epoch_begin(self, epoch, logs=None):
    for layer in self.model._flatten_layers():
      if isinstance(layer, DropPath):
        layer.rate.assign(self.max_rate * epoch / self.epochs)


def correct_count(logits, labels):
  """How many of a batch's predictions (argmax of ``logits``) equal their integer ``labels``,
  as a float32 scalar: the accuracy's numerator, summed over batches by children and
  one-shot searches alike."""
  predicted = ops.cast(ops.argmax(logits, -1), labels.dtype)
  return ops.sum(ops.cast(ops.equal(predicted, labels), "float32"))


def switch_case(index, branches):
  """``tf.switch_case`` as a Case op whose taken branch runs as a function, with a GPU: the
  supernets' first step is much shorter than with every branch inlined as Switch/Merge ops
  (ENAS micro at smoke size on a CPU: the first training call 11.4 s -> 3.0 s, later steps
  unchanged). Without a GPU the branches are inlined: there, oneDNN's fused batch norm
  inside a branch function differentiates differently from the same op inlined (0.06% in
  a two-branch test; ENAS macro's stem kernel up to 1.6% off, ENAS micro's up to 5% off the
  stand-alone child's; exact inlined, or with TF_ENABLE_ONEDNN_OPTS=0). Inlined, the
  gradients were exact in 96 of 96 architectures with Grappler off, as searches run on a
  CPU, and off by 0.01-0.6% in some with Grappler on (tests/test_enas.py)."""
  import tensorflow as tf
  if tf.executing_eagerly():  # eager: only the taken branch runs anyway
    return tf.switch_case(index, branches)
  from tensorflow.python.ops import cond_v2  # tf.switch_case does not expose the option
  inline = not hardware.tensorflow_sees_a_gpu()
  return cond_v2.indexed_case(index, branches, lower_using_switch_merge=inline)
