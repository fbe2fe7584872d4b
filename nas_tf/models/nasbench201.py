"""NAS-Bench-201's network in Keras (Dong & Yang, ICLR 2020), as D-X-Y/AutoDL-Projects
builds it (``xautodl/models/cell_infers/tiny_network.py``, ``cells.py``,
``cell_operations.py``): a 3x3 conv-BN stem of C channels, three stages of N cells at C, 2C
and 4C channels with a ResNet basic block (stride 2) between them, then BN-ReLU, global
average pooling and a linear classifier. A cell's node j sums op(node i) over i < j
(``NB201_EDGES``); its ops are ``none`` (zeros), ``skip_connect`` (identity),
``nor_conv_1x1`` / ``nor_conv_3x3`` (ReLU, conv without bias, BN) and ``avg_pool_3x3``
(stride 1, the padding left out of the mean). The benchmark trains C=16, N=5.

Stride-2 convs pad one pixel on every side, as PyTorch's ``padding=1``: Keras' ``same``
would pad only the bottom and right, and read other pixels.

``variant="zero_cost"`` is the copy of this network that zero-cost-nas scores
(``foresight/models/nasbench2_ops.py``): the cells' convs have a bias and their batch norms
no scale or shift (``bias=not affine``, ``affine=False``). Trained, it computes what the
benchmark's does (a bias before a batch norm cancels); only synflow, which leaves the batch
norms out, sees the biases. Its batch norms are ``ExactMeanBatchNorm``: a biased conv of a
dead node's zeros is a constant channel, which the authors' GPU normalized to exact zeros, so
the ReLU after it passes no gradient (tests/test_zero_cost.py's dead cell).

``build_classifier`` is the network ``nas-tf train`` and a ``space.kind=nasbench201`` search
train on real images: the benchmark's, with weight decay on every parameter (batch norms'
and the classifier's bias included), as its SGD decays ``net.parameters()``
(``xautodl/procedures/funcs_nasbench.py``, ``optimizers.py``).
"""

from __future__ import annotations

from typing import Sequence

import keras

from nas_tf.models.layers import batch_norm, decay
from nas_tf.spaces.tabular import NB201_EDGES, NB201_OPS, nb201_ops


def _relu_conv_bn(x, filters: int, kernel: int, stride: int, name: str, affine: bool = True,
                  exact: bool = False):
  x = keras.layers.ReLU(name=f"{name}_relu")(x)
  if stride == 2:  # PyTorch's symmetric padding
    x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
  x = keras.layers.Conv2D(filters, kernel, strides=stride, use_bias=not affine,
                          padding="valid" if stride == 2 else "same", name=f"{name}_conv")(x)
  return batch_norm(f"{name}_bn", affine=affine, exact_mean=exact)(x)


def _op(op: str, x, channels: int, name: str, zero_cost: bool = False):
  if op == "skip_connect":
    return x
  if op in ("nor_conv_1x1", "nor_conv_3x3"):
    return _relu_conv_bn(x, channels, 1 if op == "nor_conv_1x1" else 3, 1, name,
                         affine=not zero_cost, exact=zero_cost)
  if op == "avg_pool_3x3":
    return keras.layers.AveragePooling2D(3, 1, padding="same", name=name)(x)
  raise ValueError(f"NAS-Bench-201 op {op!r} is not one of {', '.join(NB201_OPS)}")


def _cell(x, ops: Sequence[str], channels: int, name: str, zero_cost: bool = False):
  """A node sums its edges, a none edge's zeros included: PyTorch computes x * 0 there, so
  the ops of a node that reaches the output only through none edges are still part of the
  network (their parameters counted, their ReLUs seen by NASWOT), as in the authors' code."""
  nodes = [x]
  for j in range(1, 4):
    terms = [keras.layers.Rescaling(0.0, name=f"{name}_e{j}{i}_none")(nodes[i])
             if op == "none" else _op(op, nodes[i], channels, f"{name}_e{j}{i}_{op}", zero_cost)
             for (jj, i), op in zip(NB201_EDGES, ops) if jj == j]
    nodes.append(terms[0] if len(terms) == 1 else keras.layers.Add(name=f"{name}_n{j}")(terms))
  return nodes[-1]


def _residual_block(x, filters: int, name: str, exact: bool = False):
  """ResNetBasicblock(stride 2): two ReLU-conv-BN, plus a 2x2 average pool and 1x1 conv."""
  y = _relu_conv_bn(x, filters, 3, 2, f"{name}_a", exact=exact)
  y = _relu_conv_bn(y, filters, 3, 1, f"{name}_b", exact=exact)
  shortcut = keras.layers.AveragePooling2D(2, 2, padding="valid", name=f"{name}_pool")(x)
  shortcut = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_down")(shortcut)
  return keras.layers.Add(name=f"{name}_add")([shortcut, y])


def build_network(arch: str | dict, num_classes: int = 10, channels: int = 16,
                  cells_per_stage: int = 5, input_shape=(32, 32, 3),
                  name: str | None = None, variant: str = "benchmark") -> keras.Model:
  """The network of a cell (its ``arch_str`` or a ``nasbench201`` architecture); logits out.
  ``variant``: "benchmark" (the benchmark's TinyNetwork) or "zero_cost" (see above)."""
  if variant not in ("benchmark", "zero_cost"):
    raise ValueError(f"variant {variant!r}: 'benchmark' or 'zero_cost'")
  arch_str = arch["arch_str"] if isinstance(arch, dict) else arch
  ops = nb201_ops(arch_str)
  exact = variant == "zero_cost"
  inputs = keras.Input(input_shape, name="images")
  x = keras.layers.Conv2D(channels, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
  x = batch_norm("stem_bn", exact_mean=exact)(x)
  for stage in range(3):
    width = channels * 2 ** stage
    if stage:
      x = _residual_block(x, width, f"reduce{stage}", exact)
    for k in range(cells_per_stage):
      x = _cell(x, ops, width, f"s{stage}c{k}", exact)
  x = keras.layers.ReLU(name="last_relu")(batch_norm("last_bn", exact_mean=exact)(x))
  x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
  logits = keras.layers.Dense(num_classes, name="logits")(x)
  return keras.Model(inputs, logits, name=name or "nasbench201")


# The cifar10 task's final.* / child.* that this network takes (N cells per stage, C).
OPTIONS = ("layers_per_stage", "channels")


def build_classifier(arch: dict, input_shape=(32, 32, 3), num_classes: int = 10,
                     weight_decay: float = 5e-4, width: float = 1.0, layers_per_stage: int = 5,
                     channels: int = 16) -> keras.Model:
  """The benchmark's network of ``arch`` (N=``layers_per_stage`` cells per stage, C=
  ``channels`` x ``width``), every trainable weight decayed by ``weight_decay``."""
  model = build_network(arch, num_classes, max(2, int(round(channels * width))),
                        layers_per_stage, tuple(input_shape), f"child_{arch.get('id', 'cell')}")
  regularizer = decay(weight_decay)
  for variable in model.trainable_weights:  # torch's SGD decays every parameter it is given
    variable.regularizer = regularizer
  return model


def synflow_keeps_batch_norm(layer) -> bool:
  """zero-cost-nas's batch-norm-free copy keeps the residual blocks' batch norms (their
  ``reduction`` builds ReLUConvBN without passing ``use_bn``)."""
  return layer.name.startswith("reduce")


def naswot_times_counted(layer) -> int:
  """NASWOT hooks every module whose type name contains 'ReLU': each ReLU, and each
  ReLUConvBN, whose input is its ReLU's. So a ReLU-conv-BN's input counts twice, the last
  ReLU's once."""
  return 1 if layer.name == "last_relu" else 2
