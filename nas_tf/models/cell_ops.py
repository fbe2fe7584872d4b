"""The ops of cell architectures as Keras layers (``models/cell.py`` and
``cell_variants.py`` stack them into networks).

Ops follow quark0/darts ``operations.py``: a separable conv is ReLU-sepconv-BN twice (the
first with the stride), a dilated conv ReLU-dilated depthwise-pointwise-BN, 7x1/1x7 is
ReLU-conv1x7-conv7x1-BN (AmoebaNet's bottlenecked one goes through a quarter of the
channels); pools are 3x3 with same padding (padding not counted); identity with stride 2 is a
factorized reduction; ``none`` is zero.
"""

from __future__ import annotations

import zlib

import keras
from keras import ops

from nas_tf.models.layers import DropPath, batch_norm, conv2d, decay


def _conv(filters, kernel, name, strides=1, dilation=1, weight_decay=0.0, depthwise=False):
  regularizer = decay(weight_decay)
  if depthwise:
    return keras.layers.DepthwiseConv2D(kernel, strides=strides, dilation_rate=dilation,
                                        padding="same", use_bias=False, name=name,
                                        depthwise_regularizer=regularizer)
  return conv2d(filters, kernel, strides=strides, dilation_rate=dilation, padding="same",
                use_bias=False, kernel_regularizer=regularizer, name=name)


def relu_conv_bn(x, filters, name, wd, affine=True, strides=1):
  x = keras.layers.ReLU(name=f"{name}_relu")(x)
  x = _conv(filters, 1, f"{name}_conv", strides=strides, weight_decay=wd)(x)
  return batch_norm(f"{name}_bn", affine)(x)


def factorized_reduce(x, filters, name, wd, affine=True, relu=True):
  """Halves H and W without losing every other pixel: two stride-2 1x1 convs, one offset by
  a pixel, concatenated (DARTS' FactorizedReduce; NASNet and ENAS also use it without the
  ReLU)."""
  if relu:
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
  a = _conv(filters // 2, 1, f"{name}_conv_a", strides=2, weight_decay=wd)(x)
  shifted = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_pad")(x)
  shifted = keras.layers.Cropping2D(((1, 0), (1, 0)), name=f"{name}_shift")(shifted)
  b = _conv(filters - filters // 2, 1, f"{name}_conv_b", strides=2, weight_decay=wd)(shifted)
  return batch_norm(f"{name}_bn", affine)(keras.layers.Concatenate(name=f"{name}_cat")([a, b]))


def sep_conv(x, filters, kernel, stride, name, wd, affine=True):
  for k in range(2):
    x = keras.layers.ReLU(name=f"{name}_relu{k}")(x)
    x = _conv(None, kernel, f"{name}_dw{k}", strides=stride if k == 0 else 1, weight_decay=wd,
              depthwise=True)(x)
    x = _conv(filters, 1, f"{name}_pw{k}", weight_decay=wd)(x)
    x = batch_norm(f"{name}_bn{k}", affine)(x)
  return x


def same_padding_offset(size: int, stride: int) -> int:
  """Where a stride-``stride`` "same" op on a side of ``size`` centres its first window."""
  # An odd window's centre sits ceil((size - 1 - (out - 1) * stride) / 2) pixels past
  # stride * o, whatever the window's size (TF's padding rule, out = ceil(size / stride)).
  return -(-(size - 1 - (-(-size // stride) - 1) * stride) // 2)


def subsample_like_same_padding(x, stride: int, name: str):
  """Every ``stride``-th pixel of a stride-1 "same" output, at the pixels a stride-``stride``
  "same" conv or pool centres on. TF pads such ops at the end first: on an even size they
  centre on odd pixels (1, 3, ...), on an odd size on even ones (0, 2, ...). Subsampling at
  other pixels would shift this op's output by a pixel against the convs and pools it is
  summed with in a reduction cell."""
  offsets = [same_padding_offset(size, stride) for size in x.shape[1:3]]
  if any(offsets):
    x = keras.layers.Cropping2D(((offsets[0], 0), (offsets[1], 0)), name=f"{name}_crop")(x)
  return keras.layers.MaxPooling2D(1, strides=stride, name=name)(x)


def dil_conv(x, filters, kernel, stride, name, wd, affine=True):
  x = keras.layers.ReLU(name=f"{name}_relu")(x)
  x = _conv(None, kernel, f"{name}_dw", dilation=2, weight_decay=wd, depthwise=True)(x)
  if stride > 1:  # Keras has no strided dilated conv: dilate, then subsample
    x = subsample_like_same_padding(x, stride, f"{name}_sub")
  x = _conv(filters, 1, f"{name}_pw", weight_decay=wd)(x)
  return batch_norm(f"{name}_bn", affine)(x)


def apply_op(op: str, x, filters: int, stride: int, name: str, wd: float, search: bool = False):
  """``op`` on ``x``; ``search``: as in DARTS' search network (BN without scale and shift,
  and a BN after each pool)."""
  affine = not search
  if op in ("identity", "skip_connect"):
    return x if stride == 1 else factorized_reduce(x, filters, name, wd, affine)
  if op == "none":
    zero = keras.layers.Lambda(lambda t: ops.zeros_like(t[:, ::stride, ::stride]),
                               name=f"{name}_zero")
    return zero(x)
  if op in ("avg_pool_3x3", "max_pool_3x3"):
    pool = keras.layers.AveragePooling2D if op.startswith("avg") else keras.layers.MaxPooling2D
    x = pool(3, strides=stride, padding="same", name=f"{name}_pool")(x)
    return batch_norm(f"{name}_pool_bn", affine=False)(x) if search else x
  kind, _, size = op.rpartition("_")
  if kind == "sep_conv":
    return sep_conv(x, filters, int(size[0]), stride, name, wd, affine)
  if kind == "dil_conv":
    return dil_conv(x, filters, int(size[0]), stride, name, wd, affine)
  if op == "bottleneck_1x7_7x1":  # AmoebaNet's: through a quarter of the channels
    x = relu_conv_bn(x, filters // 4, f"{name}_pre", wd, affine)
    x = keras.layers.ReLU(name=f"{name}_relu1")(x)
    x = _conv(filters // 4, (1, 7), f"{name}_1x7", strides=(1, stride), weight_decay=wd)(x)
    x = keras.layers.ReLU(name=f"{name}_mid_relu")(batch_norm(f"{name}_mid_bn", affine)(x))
    x = _conv(filters // 4, (7, 1), f"{name}_7x1", strides=(stride, 1), weight_decay=wd)(x)
    x = batch_norm(f"{name}_7x1_bn", affine)(x)
    return relu_conv_bn(x, filters, f"{name}_post", wd, affine)
  if op == "conv_7x1_1x7":
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
    x = _conv(filters, (1, 7), f"{name}_1x7", strides=(1, stride), weight_decay=wd)(x)
    x = _conv(filters, (7, 1), f"{name}_7x1", strides=(stride, 1), weight_decay=wd)(x)
    return batch_norm(f"{name}_bn", affine)(x)
  raise ValueError(f"unknown cell op {op!r}")


def drop(x, name: str, depth: float = 1.0):
  return DropPath(seed=zlib.crc32(name.encode()), depth=depth, name=f"{name}_drop")(x)


def concatenate(outputs, name: str):
  layer = keras.layers.Identity if len(outputs) == 1 else keras.layers.Concatenate
  return layer(name=f"{name}_out")(outputs[0] if len(outputs) == 1 else outputs)


def darts_drops(op: str, stride: int) -> bool:
  """Whether drop-path applies to ``op``: DARTS (model.py line 53) skips only Identity
  modules; a stride-2 skip is a FactorizedReduce there, so it is dropped like any other op."""
  return not (op in ("identity", "skip_connect") and stride == 1)


def add_blocks(blocks, states: list, filters: int, reduction: bool, name: str, wd: float,
               apply, drops=None, depth: float = 1.0) -> list:
  """Appends each block's output, the sum of its two ops ``apply(op, state, filters, stride,
  name, wd)`` on earlier states, to ``states``; ``drops(op, stride)`` picks the ops that
  drop-path applies to (None: no drop-path), at ``depth`` (``DropPath``)."""
  for i, (in1, op1, in2, op2) in enumerate(blocks):
    branches = []
    for j, (source, op) in enumerate(((in1, op1), (in2, op2))):
      stride = 2 if reduction and source < 2 else 1
      h = apply(op, states[source], filters, stride, f"{name}_b{i}_{j}", wd)
      if drops is not None and drops(op, stride):
        h = drop(h, f"{name}_b{i}_{j}", depth)
      branches.append(h)
    states.append(keras.layers.Add(name=f"{name}_b{i}")(branches))
  return states
