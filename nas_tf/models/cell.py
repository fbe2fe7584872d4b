"""Keras networks of cell architectures (``spaces/cell.py``), as DARTS and NASNet stack them.

A 3x3 conv stem (3C channels), then N normal cells, a reduction cell (channels x2, stride 2 on
the ops that read the cell's inputs), N normal cells, a reduction cell, N normal cells,
global average pooling and a linear classifier. Each cell first maps its inputs to C channels:
ReLU-conv1x1-BN, or a factorized reduction (two offset stride-2 1x1 convs, concatenated)
when h[c-2] is twice the size of h[c-1] (after a reduction cell).

Ops follow quark0/darts ``operations.py``: a separable conv is ReLU-sepconv-BN twice (the
first with the stride), a dilated conv ReLU-dilated depthwise-pointwise-BN, 7x1/1x7 is
ReLU-conv1x7-conv7x1-BN; pools are 3x3 with same padding (padding not counted); identity
with stride 2 is a factorized reduction; ``none`` is zero.

For final training: drop-path (``DropPath``, whose rate a callback raises linearly over the
epochs; never on a stride-1 identity, as in DARTS) and an auxiliary classifier after the second
reduction, at 2/3 depth, whose loss is added with ``auxiliary_weight``
(``CellClassifier.compute_loss``); the serving output is the main classifier's.
"""

from __future__ import annotations

import zlib
from typing import Any

import keras
from keras import ops

from nas_tf.models.layers import batch_norm, decay
from nas_tf.spaces.cell import output_blocks

# Options the task passes from child.* / final.* (``Cifar10Task.build_model``).
OPTIONS = ("layers_per_stage", "channels", "drop_path", "auxiliary_weight")


@keras.saving.register_keras_serializable(package="nas_tf")
class DropPath(keras.layers.Layer):
  """Zeroes a whole op output per example with probability ``rate`` in training (scaling
  the rest by 1/(1-rate)); ``rate`` is a variable, raised per epoch by ``DropPathSchedule``."""

  def __init__(self, seed: int = 0, **kwargs):
    super().__init__(**kwargs)
    self.seed_generator = keras.random.SeedGenerator(seed)

  def build(self, input_shape):
    self.rate = self.add_weight(shape=(), initializer="zeros", trainable=False, name="rate")

  def call(self, x, training=False):
    if not training:
      return x
    keep = 1.0 - ops.cast(self.rate, x.dtype)
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


class CellClassifier(keras.Model):
  """The stacked network; training adds ``auxiliary_weight`` x the auxiliary head's loss."""

  def __init__(self, network: keras.Model, auxiliary_weight: float = 0.0, **kwargs):
    super().__init__(**kwargs)
    self.network, self.auxiliary_weight = network, float(auxiliary_weight)
    self._auxiliary_logits = None
    self.built = True  # the functional network inside is built already

  def call(self, x, training=False):
    outputs = self.network(x, training=training)
    if isinstance(outputs, (list, tuple)):
      logits, self._auxiliary_logits = outputs
      return logits
    return outputs

  def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
    loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                training=training)
    if training and self.auxiliary_weight and self._auxiliary_logits is not None:
      loss = loss + self.auxiliary_weight * ops.mean(
          keras.losses.sparse_categorical_crossentropy(y, self._auxiliary_logits,
                                                       from_logits=True))
    return loss


def _conv(filters, kernel, name, strides=1, dilation=1, weight_decay=0.0, depthwise=False):
  regularizer = decay(weight_decay)
  if depthwise:
    return keras.layers.DepthwiseConv2D(kernel, strides=strides, dilation_rate=dilation,
                                        padding="same", use_bias=False, name=name,
                                        depthwise_regularizer=regularizer)
  return keras.layers.Conv2D(filters, kernel, strides=strides, dilation_rate=dilation,
                             padding="same", use_bias=False, kernel_regularizer=regularizer,
                             name=name)


def relu_conv_bn(x, filters, name, wd, affine=True):
  x = keras.layers.ReLU(name=f"{name}_relu")(x)
  return batch_norm(f"{name}_bn", affine)(_conv(filters, 1, f"{name}_conv", weight_decay=wd)(x))


def factorized_reduce(x, filters, name, wd, affine=True):
  """Halves H and W without losing every other pixel: two stride-2 1x1 convs, one offset by
  a pixel, concatenated (DARTS' FactorizedReduce)."""
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


def subsample_like_same_padding(x, stride: int, name: str):
  """Every ``stride``-th pixel of a stride-1 "same" output, at the pixels a stride-``stride``
  "same" conv or pool centres on. TF pads such ops at the end first: on an even size they
  centre on odd pixels (1, 3, ...), on an odd size on even ones (0, 2, ...). Subsampling at
  other pixels would shift this op's output by a pixel against the convs and pools it is
  summed with in a reduction cell."""
  # An odd window's centre sits ceil((size - 1 - (out - 1) * stride) / 2) pixels past
  # stride * o, whatever the window's size (TF's padding rule, out = ceil(size / stride)).
  offsets = [-(-(size - 1 - (-(-size // stride) - 1) * stride) // 2) for size in x.shape[1:3]]
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
  if op == "conv_7x1_1x7":
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
    x = _conv(filters, (1, 7), f"{name}_1x7", strides=(1, stride), weight_decay=wd)(x)
    x = _conv(filters, (7, 1), f"{name}_7x1", strides=(stride, 1), weight_decay=wd)(x)
    return batch_norm(f"{name}_bn", affine)(x)
  raise ValueError(f"unknown cell op {op!r}")


def cell_inputs(prev_prev, prev, filters: int, name: str, wd: float, affine: bool = True):
  """The two previous cells' outputs mapped to ``filters`` channels at h[c-1]'s size."""
  if prev_prev.shape[1] != prev.shape[1]:
    s0 = factorized_reduce(prev_prev, filters, f"{name}_pre0", wd, affine)
  else:
    s0 = relu_conv_bn(prev_prev, filters, f"{name}_pre0", wd, affine)
  return [s0, relu_conv_bn(prev, filters, f"{name}_pre1", wd, affine)]


def cell(blocks, cell_output: str, prev_prev, prev, filters: int, reduction: bool, name: str,
         wd: float, drop_path: bool):
  """One cell; returns its output (len(outputs) x ``filters`` channels)."""
  states = cell_inputs(prev_prev, prev, filters, name, wd)
  for i, (in1, op1, in2, op2) in enumerate(blocks):
    branches = []
    for j, (source, op) in enumerate(((in1, op1), (in2, op2))):
      stride = 2 if reduction and source < 2 else 1
      h = apply_op(op, states[source], filters, stride, f"{name}_b{i}_{j}", wd)
      # DARTS (model.py line 53) skips only Identity modules: a stride-2 skip is a
      # FactorizedReduce there, so it is dropped like any other op.
      if drop_path and not (op in ("identity", "skip_connect") and stride == 1):
        h = DropPath(seed=zlib.crc32(f"{name}_{i}_{j}".encode()),
                     name=f"{name}_b{i}_{j}_drop")(h)
      branches.append(h)
    states.append(keras.layers.Add(name=f"{name}_b{i}")(branches))
  outputs = [states[2 + b] for b in output_blocks(blocks, cell_output)]
  if len(outputs) == 1:
    return keras.layers.Identity(name=f"{name}_out")(outputs[0])
  return keras.layers.Concatenate(name=f"{name}_out")(outputs)


def auxiliary_head(x, num_classes: int, wd: float):
  """DARTS' AuxiliaryHeadCIFAR: ReLU, 5x5 average pool (stride 3), 1x1 conv 128, BN, ReLU,
  conv 768 over the rest, BN, ReLU, linear."""
  x = keras.layers.ReLU(name="aux_relu0")(x)
  x = keras.layers.AveragePooling2D(5, strides=3, padding="valid", name="aux_pool")(x)
  x = keras.layers.ReLU(name="aux_relu1")(batch_norm("aux_bn0")(
      _conv(128, 1, "aux_conv0", weight_decay=wd)(x)))
  x = keras.layers.Conv2D(768, x.shape[1:3], padding="valid", use_bias=False, name="aux_conv1",
                          kernel_regularizer=decay(wd))(x)
  x = keras.layers.ReLU(name="aux_relu2")(batch_norm("aux_bn1")(x))
  x = keras.layers.Flatten(name="aux_flat")(x)
  return keras.layers.Dense(num_classes, dtype="float32", name="aux_logits")(x)


def stack(image, make_cell, filters: int, layers_per_stage: int, num_classes: int,
          weight_decay: float, auxiliary_head=None):
  """Stem, 3 stages of N cells with a reduction cell between stages, pooling and a linear
  classifier; ``make_cell(kind, prev_prev, prev, filters, reduction, name)`` builds each cell.
  Returns (logits, the auxiliary head's logits after the second reduction, or None)."""
  x = _conv(3 * filters, 3, "stem_conv", weight_decay=weight_decay)(image)
  x = batch_norm("stem_bn")(x)
  prev_prev, prev, auxiliary = x, x, None
  n = int(layers_per_stage)
  for stage in range(3):
    for k in range(n + (1 if stage < 2 else 0)):
      reduction = k == n
      if reduction:
        filters *= 2
      kind = "reduce" if reduction else "normal"
      out = make_cell(kind, prev_prev, prev, filters, reduction, f"c{stage}_{k}_{kind}")
      prev_prev, prev = prev, out
      if reduction and stage == 1 and auxiliary_head is not None:
        auxiliary = auxiliary_head(out)
  x = keras.layers.GlobalAveragePooling2D(name="pool")(prev)
  logits = keras.layers.Dense(num_classes, dtype="float32", name="logits",
                              kernel_regularizer=decay(weight_decay))(x)
  return logits, auxiliary


def build_classifier(arch: dict[str, Any], input_shape=(32, 32, 3), num_classes: int = 10,
                     weight_decay: float = 3e-4, width: float = 1.0, layers_per_stage: int = 2,
                     channels: int = 16, drop_path: float = 0.0,
                     auxiliary_weight: float = 0.0) -> keras.Model:
  """The stacked network of ``arch`` (logits); ``CellClassifier`` when it has an auxiliary
  head. ``width`` multiplies ``channels``. With ``drop_path`` > 0 the network has
  ``DropPath`` layers (rate 0 until ``DropPathSchedule`` raises it)."""
  filters = max(2, int(round(channels * width)))
  image = keras.Input(shape=input_shape, name="image")

  def make_cell(kind, prev_prev, prev, filters, reduction, name):
    return cell(arch[kind], arch["cell_output"], prev_prev, prev, filters, reduction, name,
                weight_decay, drop_path > 0)
  head = (lambda x: auxiliary_head(x, num_classes, weight_decay)) if auxiliary_weight else None
  logits, auxiliary = stack(image, make_cell, filters, layers_per_stage, num_classes,
                            weight_decay, head)
  name = f"child_{arch.get('id', 'cell')}"
  if auxiliary is None:
    return keras.Model(image, logits, name=name)
  return CellClassifier(keras.Model(image, [logits, auxiliary], name=f"{name}_net"),
                        auxiliary_weight, name=name)
