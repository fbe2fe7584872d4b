"""Keras networks of cell architectures (``spaces/cell.py``), stacked as DARTS' model.py
stacks them (published NASNet-style and ENAS cells as their authors' code does:
``cell_variants.py``).

A 3x3 conv stem (3C channels), then N normal cells, a reduction cell (channels x2, stride 2 on
the ops that read the cell's inputs), N normal cells, a reduction cell, N normal cells,
global average pooling and a linear classifier. Each cell first maps its inputs to C channels:
ReLU-conv1x1-BN, or a factorized reduction (two offset stride-2 1x1 convs, concatenated)
when h[c-2] is twice the size of h[c-1] (after a reduction cell).

The ops are ``cell_ops.py``'s.

For final training: drop-path (``DropPath``, whose rate a callback raises linearly over the
epochs; never on a stride-1 identity, as in DARTS) and an auxiliary classifier after the
second reduction, whose loss is added with ``auxiliary_weight`` (``CellClassifier``).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

# Re-exported: the tasks and tests reach the ops and drop-path through this module.
from nas_tf.models import cell_ops
from nas_tf.models.cell_ops import (  # noqa: F401
    _conv, apply_op, concatenate, dil_conv, drop, factorized_reduce, relu_conv_bn, sep_conv,
    subsample_like_same_padding)
from nas_tf.models.layers import DropPath, DropPathSchedule, batch_norm, decay  # noqa: F401
from nas_tf.spaces.cell import output_blocks

# Options the task passes from child.* / final.* (``Cifar10Task.build_model``).
OPTIONS = ("layers_per_stage", "channels", "drop_path", "auxiliary_weight")


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


def cell_inputs(prev_prev, prev, filters: int, name: str, wd: float, affine: bool = True):
  """The two previous cells' outputs mapped to ``filters`` channels at h[c-1]'s size."""
  if prev_prev.shape[1] != prev.shape[1]:
    s0 = factorized_reduce(prev_prev, filters, f"{name}_pre0", wd, affine)
  else:
    s0 = relu_conv_bn(prev_prev, filters, f"{name}_pre0", wd, affine)
  return [s0, relu_conv_bn(prev, filters, f"{name}_pre1", wd, affine)]


def cell(blocks, cell_output: str, prev_prev, prev, filters: int, reduction: bool, name: str,
         wd: float, drop_path: bool, concat=None):
  """One cell; returns its output (the ``concat`` states, default ``cell_output``'s blocks,
  concatenated: that many x ``filters`` channels)."""
  states = cell_inputs(prev_prev, prev, filters, name, wd)
  cell_ops.add_blocks(blocks, states, filters, reduction, name, wd, apply_op,
                      cell_ops.darts_drops if drop_path else None)
  concat = concat or [2 + b for b in output_blocks(blocks, cell_output)]
  return concatenate([states[s] for s in concat], name)


def auxiliary_head(x, num_classes: int, wd: float, bias: bool = True):
  """DARTS' AuxiliaryHeadCIFAR (and NASNet's): ReLU, 5x5 average pool (stride 3), 1x1 conv
  128, BN, ReLU, conv 768 over the rest, BN, ReLU, linear (ENAS's without a bias)."""
  x = keras.layers.ReLU(name="aux_relu0")(x)
  x = keras.layers.AveragePooling2D(5, strides=3, padding="valid", name="aux_pool")(x)
  x = keras.layers.ReLU(name="aux_relu1")(batch_norm("aux_bn0")(
      _conv(128, 1, "aux_conv0", weight_decay=wd)(x)))
  x = keras.layers.Conv2D(768, x.shape[1:3], padding="valid", use_bias=False, name="aux_conv1",
                          kernel_regularizer=decay(wd))(x)
  x = keras.layers.ReLU(name="aux_relu2")(batch_norm("aux_bn1")(x))
  x = keras.layers.Flatten(name="aux_flat")(x)
  return keras.layers.Dense(num_classes, use_bias=bias, dtype="float32", name="aux_logits")(x)


def cell_positions(layers_per_stage: int, channels: int) -> list[tuple[str, str, bool, int]]:
  """(name, "normal"/"reduce", reduction, filters) per cell, in ``cell.stack``'s order."""
  positions, filters, n = [], channels, int(layers_per_stage)
  for stage in range(3):
    for k in range(n + (1 if stage < 2 else 0)):
      reduction = k == n
      filters *= 2 if reduction else 1
      kind = "reduce" if reduction else "normal"
      positions.append((f"c{stage}_{k}_{kind}", kind, reduction, filters))
  return positions


def stack(image, make_cell, filters: int, layers_per_stage: int, num_classes: int,
          weight_decay: float, auxiliary_head=None, auxiliary_offset: int = 0,
          first_reads_stem_twice: bool = True, reductions_within: bool = False,
          relu_before_pool: bool = False, logits_bias: bool = True):
  """Stem, 3 stages of N cells with a reduction cell between stages, pooling and a linear
  classifier; ``make_cell(kind, prev_prev, prev, filters, reduction, name, depth)`` builds each
  cell (``depth``: (its index + 1) / cells, for drop-path).
  Returns (logits, the auxiliary head's logits, or None). The head reads the cell
  ``auxiliary_offset`` cells after the second reduction (DARTS 0, NASNet -1, ENAS +1). The
  first cell's h[c-2] is the stem, or None (NASNet). ``reductions_within``: 3N cells in all,
  the reduction cells among them (PNASNet's N: pnasnet.py's calc_reduction_layers)."""
  x = _conv(3 * filters, 3, "stem_conv", weight_decay=weight_decay)(image)
  x = batch_norm("stem_bn")(x)
  prev_prev, prev, auxiliary = (x if first_reads_stem_twice else None), x, None
  n = int(layers_per_stage)
  reductions = (n, 2 * n) if reductions_within else (n, 2 * n + 1)
  stage = k = 0
  total = 3 * n + (0 if reductions_within else 2)
  for index in range(total):
    reduction = index in reductions
    if reduction:
      filters *= 2
    kind = "reduce" if reduction else "normal"
    out = make_cell(kind, prev_prev, prev, filters, reduction, f"c{stage}_{k}_{kind}",
                    (index + 1) / total)
    stage, k = (stage + 1, 0) if reduction else (stage, k + 1)
    prev_prev, prev = prev, out
    if index == reductions[1] + auxiliary_offset and auxiliary_head is not None:
      auxiliary = auxiliary_head(out)
  if relu_before_pool:
    prev = keras.layers.ReLU(name="pool_relu")(prev)
  x = keras.layers.GlobalAveragePooling2D(name="pool")(prev)
  logits = keras.layers.Dense(num_classes, use_bias=logits_bias, dtype="float32",
                              name="logits", kernel_regularizer=decay(weight_decay))(x)
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

  if arch.get("network", "darts") == "darts":
    def make_cell(kind, prev_prev, prev, filters, reduction, name, depth):  # same in every cell
      return cell(arch[kind], arch["cell_output"], prev_prev, prev, filters, reduction, name,
                  weight_decay, drop_path > 0, arch.get("concat", {}).get(kind))
    stacking, auxiliary_bias = {}, True
  else:  # a published cell, stacked as its authors' code stacks it
    from nas_tf.models import cell_variants
    make_cell, stacking, auxiliary_bias = cell_variants.cell_maker(arch, weight_decay,
                                                                   drop_path > 0)
  head = (lambda x: auxiliary_head(x, num_classes, weight_decay, auxiliary_bias)
          ) if auxiliary_weight else None
  logits, auxiliary = stack(image, make_cell, filters, layers_per_stage, num_classes,
                            weight_decay, head, **stacking)
  name = f"child_{arch.get('id', 'cell')}"
  if auxiliary is None:
    return keras.Model(image, logits, name=name)
  network = keras.Model(image, [logits, auxiliary], name=f"{name}_net")
  from nas_tf.models.cell_variants import FROZEN_AUXILIARY_HEAD
  if arch.get("network", "darts") in FROZEN_AUXILIARY_HEAD:
    for layer in network.layers:  # out of the optimizer, yet BN still in training mode
      if layer.name.startswith("aux_"):
        for variable in layer.trainable_weights:
          variable.trainable = False
  return CellClassifier(network, auxiliary_weight, name=name)
