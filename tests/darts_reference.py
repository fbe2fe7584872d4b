"""The per-edge DARTS search network (a Keras layer per op and edge, as quark0/darts
``model_search.py`` writes it): the reference that ``models/darts_network.py``, which
computes a node's edges together, is checked against (``test_darts.py``)."""

from __future__ import annotations

from typing import Sequence

import keras

from nas_tf.models.cell import apply_op, cell_inputs, stack
from nas_tf.models.darts import edge_offset, num_edges


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




def copy_into(reference: keras.Model, network: keras.Model) -> None:
  """Loads the reference's weights into ``SearchNetwork`` ``network`` (edge e of a group
  takes channels [e*C, (e+1)*C) of its kernels' grouped axis)."""
  def put(variable, name):
    variable.assign(reference.get_layer(name).get_weights()[0])

  for mine, theirs in ((network.stem_conv, "stem_conv"), (network.classifier, "logits"),
                       (network.stem_bn, "stem_bn")):
    mine.set_weights(reference.get_layer(theirs).get_weights())
  for _, cell in network.cells:
    name = cell.name
    for k, pre in enumerate(cell.pre):
      for part, variable in pre.kernels.items():
        put(variable, f"{name}_pre{k}_conv{part and '_' + part}")
    for node, groups in enumerate(cell.groups):
      for first, count, _, group in groups:
        for e in range(count):
          edge = f"{name}_n{node}_e{first + e}"
          for (op, part), variable in group.kernels.items():
            layer = f"{edge}_{op}_{part if part.startswith(('dw', 'pw')) else 'conv_' + part}"
            if op.startswith("dil_conv"):
              layer = f"{edge}_{op}_{part[:2]}"
            width = variable.shape[2] // count if part.startswith("dw") else \
                variable.shape[3] // count
            columns = slice(e * width, (e + 1) * width)
            full = variable.numpy()
            value = reference.get_layer(layer).get_weights()[0]
            if part.startswith("dw"):
              full[:, :, columns, :] = value
            else:
              full[..., columns] = value
            variable.assign(full)
