"""DARTS' search network (Liu et al. 2019; quark0/darts ``model_search.py``): every edge of a
cell carries a mixed op, the softmax(alpha)-weighted sum of every op of the vocabulary.

A cell has ``num_nodes`` intermediate nodes; node i sums one mixed op per earlier state (the
two cell inputs and nodes 0..i-1), so a cell has 2 + 3 + ... edges (14 for 4 nodes), and its
output concatenates all nodes. The network is the cell network's stack (``cell.stack``:
with N=2 per stage it is DARTS' 8 cells with reductions at 1/3 and 2/3), its ops built by
``cell.apply_op`` in search mode (BN without scale and shift, a BN after each pool).

The architecture enters as two inputs, ``alpha_normal`` and ``alpha_reduce`` (shape
[1, edges, ops]), so alpha stays outside the model's weights and one traced step serves the
whole search. ``none`` contributes zero whatever its weight, so it is left out of the sum
(its weight still takes its share of the softmax): the same value as DARTS' x.mul(0.),
without computing it.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from nas_tf.models.cell import apply_op, cell_inputs, stack


def edge_offset(node: int) -> int:
  """The first edge of ``node``: nodes before it have 2, 3, ... incoming edges."""
  return sum(2 + k for k in range(node))


def num_edges(num_nodes: int) -> int:
  return edge_offset(num_nodes)


def _weighted_sum(op_indices: Sequence[int], w, *outputs):
  """sum_k w[op_indices[k]] * outputs[k], with its gradient written out: TensorFlow's
  gradient of a scalar times a map traces shape and broadcast bookkeeping (Shape,
  BroadcastGradientArgs, Reshape, strided-slice gradients: measured, a sixth of the search
  step's graph)."""
  import tensorflow as tf

  @tf.custom_gradient
  def weighted_sum(w, *outputs):
    scales = tf.unstack(w)
    picked = [scales[k] for k in op_indices]
    total = tf.add_n([scale * out for scale, out in zip(picked, outputs)])

    def gradient(upstream):
      per_op = dict(zip(op_indices, (tf.reduce_sum(upstream * out) for out in outputs)))
      d_w = tf.stack([per_op.get(k, tf.zeros((), w.dtype)) for k in range(len(scales))])
      return [d_w, *[scale * upstream for scale in picked]]
    return total, gradient
  return weighted_sum(w, *outputs)


@keras.saving.register_keras_serializable(package="nas_tf")
class MixedSum(keras.layers.Layer):
  """sum_o weights[0, edge, o] * outputs[o] over the ops computed on one edge."""

  def __init__(self, edge: int, op_indices: Sequence[int], **kwargs):
    super().__init__(**kwargs)
    self.edge, self.op_indices = int(edge), [int(k) for k in op_indices]

  def call(self, inputs):
    weights, *outputs = inputs
    return _weighted_sum(self.op_indices, keras.ops.cast(weights[0, self.edge],
                                                         outputs[0].dtype), *outputs)

  def get_config(self):
    return {**super().get_config(), "edge": self.edge, "op_indices": self.op_indices}


def mixed_op(x, weights, edge: int, ops: Sequence[str], filters: int, stride: int, name: str):
  """Edge ``edge``'s mixed op on ``x``; ``weights``: the cell type's [1, edges, ops]."""
  computed = [k for k, op in enumerate(ops) if op != "none"]
  outputs = [apply_op(ops[k], x, filters, stride, f"{name}_{ops[k]}", 0.0, search=True)
             for k in computed]
  return MixedSum(edge, computed, name=f"{name}_mix")([weights, *outputs])


def search_cell(weights, ops, num_nodes: int, prev_prev, prev, filters: int, reduction: bool,
                name: str):
  states = cell_inputs(prev_prev, prev, filters, name, 0.0, affine=False)
  for node in range(num_nodes):
    terms = [mixed_op(states[j], weights, edge_offset(node) + j, ops, filters,
                      2 if reduction and j < 2 else 1, f"{name}_n{node}_e{j}")
             for j in range(2 + node)]
    states.append(keras.layers.Add(name=f"{name}_n{node}")(terms))
  return keras.layers.Concatenate(name=f"{name}_out")(states[2:])


def build_supernet(ops: Sequence[str], num_nodes: int, input_shape=(32, 32, 3),
                   num_classes: int = 10, channels: int = 16,
                   layers_per_stage: int = 2) -> keras.Model:
  """model([images, alpha_normal, alpha_reduce]) -> logits; alpha of shape
  [1, num_edges(num_nodes), len(ops)], unnormalized (the model applies the softmax)."""
  shape = (num_edges(num_nodes), len(ops))
  image = keras.Input(shape=input_shape, name="image")
  alphas = {kind: keras.Input(shape=shape, batch_size=1, name=f"alpha_{kind}")
            for kind in ("normal", "reduce")}
  weights = {kind: keras.layers.Softmax(axis=-1, name=f"weights_{kind}")(a)
             for kind, a in alphas.items()}

  def make_cell(kind, prev_prev, prev, filters, reduction, name, depth):  # no drop-path
    return search_cell(weights[kind], ops, num_nodes, prev_prev, prev, filters, reduction, name)
  logits, _ = stack(image, make_cell, channels, layers_per_stage, num_classes, 0.0)
  return keras.Model([image, alphas["normal"], alphas["reduce"]], logits, name="darts_supernet")


def derive_cell(weights: np.ndarray, ops, num_nodes: int) -> list[list]:
  """DARTS' genotype of one cell from softmax(alpha) [edges, ops]: per node its two
  strongest edges (strength: the edge's largest non-``none`` weight), each with that op, as
  blocks [in1, op1, in2, op2] (strongest edge first; ties to the earlier edge)."""
  candidates = [k for k, op in enumerate(ops) if op != "none"]
  blocks = []
  for node in range(num_nodes):
    edges = weights[edge_offset(node):edge_offset(node) + 2 + node]
    best_op = [max(candidates, key=lambda k: (edge[k], -k)) for edge in edges]
    strength = [edge[k] for edge, k in zip(edges, best_op)]
    first, second = sorted(range(len(edges)), key=lambda j: (-strength[j], j))[:2]
    blocks.append([first, ops[best_op[first]], second, ops[best_op[second]]])
  return blocks


def softmax(alpha: np.ndarray) -> np.ndarray:
  e = np.exp(alpha - alpha.max(axis=-1, keepdims=True))
  return e / e.sum(axis=-1, keepdims=True)
