"""The shared ops of ENAS micro's supernet (``models/enas_micro.py``): one op's weights,
applied at stride 1 or 2 as ``models/cell.apply_op`` builds the stand-alone child's."""

from __future__ import annotations

import functools

import keras
import tensorflow as tf

from nas_tf.models.layers import (BN_EPSILON, BN_MOMENTUM, batch_norm, factorized_halves,
                                  fused_batch_norm)

# The ops this supernet implements (an op at stride 1 or 2 from the same weights).
SUPPORTED_OPS = ("identity", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
                 "avg_pool_3x3", "max_pool_3x3")


class SharedOp(keras.layers.Layer):
  """One op's weights, applied at stride 1 or 2 as ``models/cell.apply_op`` builds it.
  ``child_layers`` maps the child's layer-name suffixes to these sublayers. The kind
  ``relu_conv_bn`` is a cell's 1x1 input conv; ``identity`` at stride 2 is the factorized
  reduction, whose weights exist only when ``strided`` (in reduction cells)."""

  def __init__(self, kind: str, channels: int, strided: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.kind, self.channels = kind, int(channels)
    conv = functools.partial(keras.layers.Conv2D, kernel_size=1, use_bias=False)
    self.child_layers = {}
    if kind.startswith("sep_conv"):
      size = int(kind[-1])
      for t in range(2):
        self.child_layers.update({
            f"_dw{t}": keras.layers.DepthwiseConv2D(size, padding="same", use_bias=False,
                                                    name=f"dw{t}"),
            f"_pw{t}": conv(self.channels, name=f"pw{t}"), f"_bn{t}": batch_norm(f"bn{t}")})
    elif kind in ("identity", "skip_connect") and strided:
      self.child_layers = {"_conv_a": conv(self.channels // 2, name="conv_a"),
                           "_conv_b": conv(self.channels - self.channels // 2, name="conv_b"),
                           "_bn": batch_norm("bn")}
    elif kind == "relu_conv_bn":
      self.child_layers = {"_conv": conv(self.channels, name="conv"), "_bn": batch_norm("bn")}
    elif kind not in ("identity", "skip_connect", "avg_pool_3x3", "max_pool_3x3"):
      raise ValueError(f"ENAS micro supports the ops {', '.join(SUPPORTED_OPS)}; got {kind!r}")
    self.parts = list(self.child_layers.values())  # tracked by Keras

  def build(self, input_shape):
    for suffix, layer in self.child_layers.items():  # 1x1 input convs read the input
      reads_input = suffix in ("_conv", "_conv_a", "_conv_b")
      layer.build((None, None, None, input_shape[-1] if reads_input else self.channels))

  def call(self, x, stride: int = 1, training=False):
    return op_math((self.kind, stride, bool(training)), x,
                   tuple(tuple(layer.weights) for layer in self.parts))


def op_math(name: tuple, x, weights: tuple):
  """A shared op as ``models/cell.apply_op`` builds it, from its weights (per sublayer:
  (kernel,) or batch norm's (gamma, beta, moving mean, moving variance)). Raw TensorFlow
  ops, not Keras calls: the traced supernet runs this in a switch branch per (cell, block,
  slot, op), whose trace and gradient grow with every graph node."""
  kind, stride, training = name
  if kind.endswith("pool_3x3"):
    pool = tf.nn.avg_pool2d if kind.startswith("avg") else tf.nn.max_pool2d
    return pool(x, 3, stride, "SAME")
  if kind in ("identity", "skip_connect"):
    if stride == 1:
      return x
    (conv_a,), (conv_b,), bn = weights
    return _bn(tf.concat(factorized_halves(tf.nn.relu(x), conv_a, conv_b), axis=-1), bn,
               training)
  if kind in ("relu_conv_bn", "conv_bn"):  # conv_bn: the stem
    (conv,), bn = weights
    return _bn(_conv(tf.nn.relu(x) if kind == "relu_conv_bn" else x, conv), bn, training)
  for t in range(2):
    (depthwise,), (pointwise,), bn = weights[3 * t: 3 * t + 3]
    s = stride if t == 0 else 1
    x = tf.nn.depthwise_conv2d(tf.nn.relu(x), depthwise, [1, s, s, 1], "SAME")
    x = _bn(_conv(x, pointwise), bn, training)
  return x


def _bn(x, weights, training):
  gamma, beta, moving_mean, moving_variance = weights
  return fused_batch_norm(x, gamma, beta, moving_mean, moving_variance, BN_EPSILON,
                          BN_MOMENTUM, training)


def _conv(x, kernel):  # stride 1, as every conv of the supernet
  return tf.nn.conv2d(x, kernel, 1, "SAME")
