"""Published cells stacked as their authors' code stacks them (``arch["network"]``), where
that differs from DARTS' model.py (``models/cell.py``, the default):

``nasnet``: tensorflow/models ``nasnet_utils.py`` NasNetABaseCell with ``nasnet.py``'s CIFAR
network (also tensorflow/tpu's AmoebaNet ``network_utils.BaseCell`` and ``pnasnet.py``):
  - h[c-2] is adapted only when its size (factorized reduction) or width (ReLU-conv-BN)
    differs; the first cell reads the stem as it is (``_reduce_prev_layer``);
  - an identity that strides or changes the width is ReLU-conv1x1-BN; a pool that changes the
    width is followed by conv1x1-BN; every op but identity is drop-pathed;
  - the output concatenates the published states, inputs included, each brought to the last
    block's shape (``_combine_unused_states``);
  - the auxiliary head reads the cell before the second reduction; ReLU before the pooling.

``enas``: melodyguan/enas ``micro_child.py`` with a fixed architecture (``_fixed_layer``):
  - both inputs calibrated to the cell's width, then h[c-1] through one more ReLU-conv-BN
    (``layer_base``);
  - a strided identity is a factorized reduction (no ReLU), a pool or identity that changes
    the width gets ReLU-conv-BN;
  - the output concatenates every state no block reads, inputs included, bigger ones
    factor-reduced (``_fixed_combine``);
  - the auxiliary head reads the cell after the second reduction; ReLU before the pooling;
    no bias in either classifier; the head's own weights are never trained (lines 721-723
    leave the ``aux_head`` variables out of the optimizer): its 0.4 x loss trains only the
    network below it (``FROZEN_AUXILIARY_HEAD``).
"""

from __future__ import annotations

from typing import Any

import keras

from nas_tf.models import cell_ops as cells
from nas_tf.models.layers import batch_norm
from nas_tf.spaces.cell import concatenated

POOLS = ("avg_pool_3x3", "max_pool_3x3")
IDENTITY = ("identity", "skip_connect")


def _nasnet_drops(op: str, stride: int) -> bool:
  """NASNet and ENAS drop every op but the identity, whatever its stride."""
  return op not in IDENTITY


def _pool(op, x, stride, name):
  pool = keras.layers.AveragePooling2D if op.startswith("avg") else keras.layers.MaxPooling2D
  return pool(3, strides=stride, padding="same", name=f"{name}_pool")(x)


def _conv_bn(x, filters, name, wd):
  """A 1x1 conv and BN without the ReLU (NASNet's pool adapter, its stride-1 reduction)."""
  return batch_norm(f"{name}_bn")(cells._conv(filters, 1, f"{name}_conv", weight_decay=wd)(x))


def nasnet_op(op, x, filters, stride, name, wd):
  """``NasNetABaseCell._apply_conv_operation``."""
  if op in IDENTITY:
    if stride == 1 and x.shape[-1] == filters:
      return x
    return cells.relu_conv_bn(x, filters, name, wd, strides=stride)
  if op in POOLS:
    widen = x.shape[-1] != filters
    x = _pool(op, x, stride, name)
    return _conv_bn(x, filters, name, wd) if widen else x
  return cells.apply_op(op, x, filters, stride, name, wd)


def enas_op(op, x, filters, stride, name, wd):
  """``micro_child.py`` ``_fixed_layer``'s x_conv / y_conv."""
  widen = x.shape[-1] != filters
  if op in IDENTITY:
    if stride > 1:
      x = cells.factorized_reduce(x, filters, f"{name}_reduce", wd, relu=False)
    return cells.relu_conv_bn(x, filters, name, wd) if widen else x
  if op in POOLS:
    x = _pool(op, x, stride, name)
    return cells.relu_conv_bn(x, filters, name, wd) if widen else x
  return cells.apply_op(op, x, filters, stride, name, wd)


def nasnet_cell(arch, kind, prev_prev, prev, filters, reduction, name, wd, drop_path, depth):
  if prev_prev is None:  # the first cell: the stem, as it is
    s0 = prev
  elif prev_prev.shape[1] != prev.shape[1]:
    s0 = cells.factorized_reduce(prev_prev, filters, f"{name}_pre0", wd)
  elif prev_prev.shape[-1] != filters:
    s0 = cells.relu_conv_bn(prev_prev, filters, f"{name}_pre0", wd)
  else:
    s0 = prev_prev
  states = [s0, cells.relu_conv_bn(prev, filters, f"{name}_pre1", wd)]
  states = cells.add_blocks(arch[kind], states, filters, reduction, name, wd, nasnet_op,
                            _nasnet_drops if drop_path else None, depth)
  last, outputs = states[-1], []
  for s in concatenated(arch, kind):
    h = states[s]
    if h.shape[1] != last.shape[1]:
      h = cells.factorized_reduce(h, last.shape[-1], f"{name}_out{s}", wd, relu=False)
    elif h.shape[-1] != last.shape[-1]:
      h = _conv_bn(h, last.shape[-1], f"{name}_out{s}", wd)
    outputs.append(h)
  return cells.concatenate(outputs, name)


def enas_cell(arch, kind, prev_prev, prev, filters, reduction, name, wd, drop_path, depth):
  x, y = prev_prev, prev
  if x.shape[1] != y.shape[1]:
    x = cells.factorized_reduce(x, filters, f"{name}_pre0", wd)
  elif x.shape[-1] != filters:
    x = cells.relu_conv_bn(x, filters, f"{name}_pre0", wd)
  if y.shape[-1] != filters:
    y = cells.relu_conv_bn(y, filters, f"{name}_pre1", wd)
  states = [x, cells.relu_conv_bn(y, filters, f"{name}_base", wd)]
  states = cells.add_blocks(arch[kind], states, filters, reduction, name, wd, enas_op,
                            _nasnet_drops if drop_path else None, depth)
  outputs = [states[s] for s in concatenated(arch, kind)]
  smallest = min(h.shape[1] for h in outputs)
  outputs = [cells.factorized_reduce(h, filters, f"{name}_out{k}", wd, relu=False)
             if h.shape[1] > smallest else h for k, h in enumerate(outputs)]
  return cells.concatenate(outputs, name)


CELLS = {"nasnet": nasnet_cell, "enas": enas_cell}
# Networks whose auxiliary head keeps its initial weights (its batch norms still normalize
# with the batch's statistics in training, as ENAS's is_training=True ones).
FROZEN_AUXILIARY_HEAD = frozenset({"enas"})
# cells.stack's options per network (auxiliary_offset: where the auxiliary head reads).
STACKING = {
    "nasnet": {"auxiliary_offset": -1, "first_reads_stem_twice": False,
               "relu_before_pool": True},
    "enas": {"auxiliary_offset": 1, "relu_before_pool": True, "logits_bias": False},
}


def cell_maker(arch: dict[str, Any], weight_decay: float, drop_path: bool):
  """(make_cell for ``cells.stack``, its stacking options, whether the auxiliary head's
  classifier has a bias)."""
  network = arch["network"]
  stacking = dict(STACKING.get(network, {}))
  if arch.get("same_cell_for_reduction"):  # PNASNet: N counts the reduction cells too
    stacking["reductions_within"] = True
  if network not in CELLS:
    raise ValueError(f"unknown cell network {network!r} (known: darts, "
                     f"{', '.join(CELLS)})")

  def make_cell(kind, prev_prev, prev, filters, reduction, name, depth):
    return CELLS[network](arch, kind, prev_prev, prev, filters, reduction, name, weight_decay,
                          drop_path, depth)
  return make_cell, stacking, network != "enas"
