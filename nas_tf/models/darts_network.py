"""DARTS' search network computed a node at a time: the mixed ops on all of a node's
incoming edges run as one op each, their channels side by side.

The network is the one ``models/darts.py`` describes (quark0/darts ``model_search.py``),
with the same weights per edge and op. A node's edges that read inputs of one size at one
stride form a group (all of them; in a reduction cell the two stride-2 edges from the cell
inputs and the stride-1 edges from earlier nodes). The group's inputs are concatenated,
edge e in channels [e*C, (e+1)*C). Per-channel ops act on each edge's channels alone as if
apart: ReLU, depthwise convs, pools, and batch norm (its statistics are per channel). A
1x1 conv is grouped, one group per edge. Each op's output is weighted per edge by
softmax(alpha) as the scale of its last batch norm, then summed over ops and edges.

Why: a graph op per edge and op made DARTS' paper network a graph of 88,582 nodes (first
order), whose trace and first run took a minute before the first step; grouped, a node's
14 edges of a normal cell are one op per op kind (``benchmarks/darts_startup.py``).
``tests/test_darts.py`` checks it against the per-edge network, op by op and whole.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from nas_tf.models.cell import cell_positions
from nas_tf.models.cell_ops import same_padding_offset
from nas_tf.models.layers import batch_norm, factorized_halves


def relu(x):
  """The network's activation (a test makes it smooth)."""
  return tf.nn.relu(x)


def glorot(fan_in: int, fan_out: int) -> keras.initializers.Initializer:
  """Keras' glorot_uniform of one edge's kernel, whatever the group's width."""
  limit = float(np.sqrt(6.0 / (fan_in + fan_out)))
  return keras.initializers.RandomUniform(-limit, limit)


class EdgeGroup(keras.layers.Layer):
  """The mixed ops of ``edges`` edges of one node, read at ``stride``, ``filters`` (C)
  channels each, of inputs of ``input_size`` (H, W). ``call(x, weights)``: x [N, H, W, E*C],
  weights [E, ops] -> sum over edges and ops of weight x op output, [N, H/stride, W/stride,
  C]."""

  def __init__(self, ops: Sequence[str], edges: int, filters: int, stride: int,
               input_size: tuple[int, int], **kwargs):
    super().__init__(**kwargs)
    self.ops, self.edges, self.filters, self.stride = tuple(ops), edges, filters, stride
    self.input_size = input_size
    self.kernels, self.norms = {}, {}
    width, c = edges * filters, filters
    for op in self.ops:
      kind, _, size = op.rpartition("_")
      if kind in ("sep_conv", "dil_conv"):
        k = int(size[0])
        for t in range(2 if kind == "sep_conv" else 1):
          self.kernels[op, f"dw{t}"] = self.add_weight(
              (k, k, width, 1), glorot(k * k * c, k * k), name=f"{op}_dw{t}")
          self.kernels[op, f"pw{t}"] = self.add_weight((1, 1, c, width), glorot(c, c),
                                                       name=f"{op}_pw{t}")
          self.norms[op, t] = batch_norm(f"{op}_bn{t}", affine=False)
      elif op in ("avg_pool_3x3", "max_pool_3x3"):
        self.norms[op, 0] = batch_norm(f"{op}_bn0", affine=False)
      elif op in ("skip_connect", "identity") and stride > 1:
        for part, out in (("a", c // 2), ("b", c - c // 2)):
          self.kernels[op, part] = self.add_weight((1, 1, c, edges * out), glorot(c, out),
                                                   name=f"{op}_conv_{part}")
        self.norms[op, 0] = batch_norm(f"{op}_bn0", affine=False)
      elif op != "none" and op not in ("skip_connect", "identity"):
        raise ValueError(f"DARTS' search network has no op {op!r}")
    for norm in self.norms.values():
      norm.build((None, None, None, width))
    self.built = True

  def _norm(self, op, t, x, training, scale=None):
    return self.norms[op, t].call(x, training=training, output_scale=scale)

  def _op(self, op: str, x, training, scale):
    """``op``'s output on every edge, each edge's channels times its ``scale`` (the edge's
    weight of ``op``, repeated per channel): applied by the op's last batch norm."""
    kernels, s = self.kernels, self.stride
    if op in ("skip_connect", "identity"):
      return x * scale if s == 1 else self._reduce(op, x, training, scale)
    if op.endswith("pool_3x3"):
      pool = tf.nn.avg_pool2d if op.startswith("avg") else tf.nn.max_pool2d
      return self._norm(op, 0, pool(x, 3, s, "SAME"), training, scale)
    if op.startswith("sep_conv"):
      for t in range(2):
        x = tf.nn.depthwise_conv2d(relu(x), kernels[op, f"dw{t}"],
                                   [1, s if t == 0 else 1, s if t == 0 else 1, 1], "SAME")
        x = self._norm(op, t, tf.nn.conv2d(x, kernels[op, f"pw{t}"], 1, "SAME"), training,
                       scale if t == 1 else None)
      return x
    # A dilated conv: at stride 1, then the pixels a strided one would centre on
    # (``cell_ops.subsample_like_same_padding``).
    x = tf.nn.depthwise_conv2d(relu(x), kernels[op, "dw0"], [1, 1, 1, 1], "SAME",
                               dilations=[2, 2])
    if s > 1:
      rows, columns = (same_padding_offset(side, s) for side in self.input_size)
      x = x[:, rows::s, columns::s, :]
    return self._norm(op, 0, tf.nn.conv2d(x, kernels[op, "pw0"], 1, "SAME"), training, scale)

  def _reduce(self, op, x, training, scale):
    """DARTS' FactorizedReduce per edge: two stride-2 1x1 convs, one a pixel off, each
    edge's halves side by side."""
    halves = factorized_halves(relu(x), self.kernels[op, "a"], self.kernels[op, "b"])
    rows, columns = halves[0].shape[1:3]
    halves = [tf.reshape(h, [-1, rows, columns, self.edges, h.shape[-1] // self.edges])
              for h in halves]
    both = tf.reshape(tf.concat(halves, -1), [-1, rows, columns, self.edges * self.filters])
    return self._norm(op, 0, both, training, scale)

  def call(self, x, weights, training=False):
    # Each op's output comes weighted per edge; summed over ops, then over the edges.
    # One unstack, not a slice per op: a slice and its gradient are ~10 graph nodes.
    scales = tf.unstack(tf.repeat(weights, self.filters, axis=0), axis=1)  # ops x [E*C]
    terms = [self._op(op, x, training, scales[k]) for k, op in enumerate(self.ops)
             if op != "none"]  # none: zero whatever its weight (DARTS' x.mul(0.))
    total = tf.add_n(terms) if len(terms) > 1 else terms[0]
    rows, columns = total.shape[1:3]
    return tf.reduce_sum(tf.reshape(total, [-1, rows, columns, self.edges, self.filters]), 3)


class Preprocess(keras.layers.Layer):
  """A cell's input mapped to C channels: ReLU-conv1x1-BN, or (``reduce``: h[c-2] twice
  h[c-1]'s size) DARTS' FactorizedReduce; BN without scale and shift (search mode)."""

  def __init__(self, in_channels: int, filters: int, reduce: bool, **kwargs):
    super().__init__(**kwargs)
    self.reduce = reduce
    parts = (("a", filters // 2), ("b", filters - filters // 2)) if reduce else (("", filters),)
    self.kernels = {part: self.add_weight((1, 1, in_channels, out), glorot(in_channels, out),
                                          name=f"conv{part and '_' + part}")
                    for part, out in parts}
    self.norm = batch_norm("bn", affine=False)
    self.norm.build((None, None, None, filters))
    self.built = True

  def call(self, x, training=False):
    x = relu(x)
    if self.reduce:
      x = tf.concat(factorized_halves(x, self.kernels["a"], self.kernels["b"]), -1)
    else:
      x = tf.nn.conv2d(x, self.kernels[""], 1, "SAME")
    return self.norm.call(x, training=training)


def edge_offset(node: int) -> int:
  """The first edge of ``node``: nodes before it have 2, 3, ... incoming edges."""
  return sum(2 + k for k in range(node))


class SearchCell(keras.layers.Layer):
  """One cell: ``call(h[c-2], h[c-1], weights [edges, ops])`` -> its nodes concatenated."""

  def __init__(self, ops, num_nodes: int, in_channels: tuple[int, int], filters: int,
               reduction: bool, reduced_input: bool, size: tuple[int, int], **kwargs):
    super().__init__(**kwargs)
    self.num_nodes, self.reduction = num_nodes, reduction
    self.pre = [Preprocess(in_channels[0], filters, reduced_input, name="pre0"),
                Preprocess(in_channels[1], filters, False, name="pre1")]
    self.groups = []  # per node: (first edge, edges, stride, EdgeGroup)
    for node in range(num_nodes):
      spans = [(0, 2, 2), (2, node, 1)] if reduction else [(0, 2 + node, 1)]
      self.groups.append([(first, count, stride,
                           EdgeGroup(ops, count, filters, stride, size,
                                     name=f"n{node}_s{stride}"))
                          for first, count, stride in spans if count])

  def call(self, prev_prev, prev, weights, training=False):
    states = [self.pre[0](prev_prev, training=training), self.pre[1](prev, training=training)]
    for node, groups in enumerate(self.groups):
      base, terms = edge_offset(node), []
      for first, count, _, group in groups:
        x = tf.concat(states[first:first + count], -1) if count > 1 else states[first]
        terms.append(group(x, weights[base + first:base + first + count], training=training))
      states.append(tf.add_n(terms) if len(terms) > 1 else terms[0])
    return tf.concat(states[2:], -1)


class SearchNetwork(keras.Model):
  """``model([images, alpha_normal, alpha_reduce])`` -> logits, alpha [1, edges, ops]
  unnormalized: ``cell.stack``'s network (3x3 stem of 3C channels, 3 stages of N cells, the
  two reduction cells doubling C, global pooling, a linear classifier) of search cells."""

  def __init__(self, ops, num_nodes: int, input_shape=(32, 32, 3), num_classes: int = 10,
               channels: int = 16, layers_per_stage: int = 2, **kwargs):
    super().__init__(**kwargs)
    self.stem_conv = keras.layers.Conv2D(3 * channels, 3, padding="same", use_bias=False,
                                         name="stem_conv")
    self.stem_bn = batch_norm("stem_bn")
    self.cells, size = [], tuple(int(v) for v in input_shape[:2])
    widths, reduced = (3 * channels, 3 * channels), False  # h[c-2], h[c-1] channels
    for name, kind, reduction, filters in cell_positions(layers_per_stage, channels):
      self.cells.append((kind, SearchCell(ops, num_nodes, widths, filters, reduction, reduced,
                                          size, name=name)))
      widths, reduced = (widths[1], num_nodes * filters), reduction
      size = tuple(-(-side // 2) for side in size) if reduction else size
    self.classifier = keras.layers.Dense(num_classes, name="logits")
    self.stem_conv.build((None, *input_shape))
    self.stem_bn.build((None, *input_shape[:2], 3 * channels))
    self.classifier.build((None, widths[1]))
    self.built = True

  def call(self, inputs, training=False):
    images, *alphas = inputs
    weights = dict(zip(("normal", "reduce"), (tf.nn.softmax(a[0], axis=-1) for a in alphas)))
    prev_prev = prev = self.stem_bn(self.stem_conv(images), training=training)
    for kind, cell in self.cells:
      prev_prev, prev = prev, cell(prev_prev, prev, weights[kind], training=training)
    return self.classifier(tf.reduce_mean(prev, axis=[1, 2]))
