"""``nas_tf.LayerChoice`` and ``nas_tf.InputChoice``: structural decisions in your
``build_model(hp)`` (NNI's names and meaning), usable in the functional API and in
subclassed models.

In a child each is its choice and nothing else: ``LayerChoice([...])`` returns the chosen
candidate layer itself, so the model (and its SavedModel) holds no trace of the others;
``InputChoice(n, n_chosen)`` returns a layer that reduces the chosen inputs of the list it
is called on. The decisions join the space like ``hp`` calls (``spaces/user.py``): a
LayerChoice's values are its candidates' labels (a dict's keys, else the layers' class names,
numbered where they repeat), an InputChoice's the chosen indices ("0", "1", or "0,2" for
two).
"""

from __future__ import annotations

import itertools
from typing import Sequence

import keras

from nas_tf.models.cell_ops import apply_op, relu_conv_bn
from nas_tf.spaces.user import SpaceError, current, relaxing

REDUCTIONS = ("sum", "mean", "concat")


def candidate_labels(candidates) -> tuple[list[str], list]:
  """(labels, layers) of a LayerChoice's candidates."""
  if isinstance(candidates, dict):
    return [str(k) for k in candidates], list(candidates.values())
  layers = list(candidates)
  names = [type(layer).__name__ for layer in layers]
  labels = [f"{n}_{names[:i].count(n) + 1}" if names.count(n) > 1 else n
            for i, n in enumerate(names)]
  return labels, layers


class LayerChoice:
  """One of ``candidates`` (Keras layers, or a dict label -> layer), chosen by the search."""

  def __new__(cls, candidates, name: str):
    labels, layers = candidate_labels(candidates)
    if len(layers) < 1 or not all(isinstance(layer, keras.layers.Layer) for layer in layers):
      raise SpaceError(f"LayerChoice {name!r}: candidates must be Keras layers")
    hp = current()
    chosen = hp._decide(name, labels)
    if hp.relax is not None:  # one-shot search: every candidate, mixed or switched
      return hp.relax.layer_choice(name, labels, layers)
    return layers[labels.index(chosen)]


class InputChoice:
  """``n_chosen`` of the ``n_candidates`` tensors it is called on, reduced by ``reduction``."""

  def __new__(cls, n_candidates: int, n_chosen: int = 1, name: str | None = None,
              reduction: str = "sum"):
    if not 1 <= n_chosen <= n_candidates or reduction not in REDUCTIONS:
      raise SpaceError(f"InputChoice {name!r}: needs 1 <= n_chosen <= n_candidates and "
                       f"reduction in {', '.join(REDUCTIONS)}")
    combos = [",".join(map(str, c))
              for c in itertools.combinations(range(n_candidates), n_chosen)]
    hp = current()
    chosen = hp._decide(name, combos)
    if hp.relax is not None:
      return hp.relax.input_choice(name, combos, n_candidates, reduction)
    return ChosenInputs([int(i) for i in chosen.split(",")], n_candidates, reduction,
                        name=name)


def reduce_inputs(picked: list, reduction: str):
  """The tensors ``picked`` summed, averaged or concatenated (an InputChoice's reduction, in a
  child and in a one-shot supernet)."""
  if len(picked) == 1:
    return picked[0]
  if reduction == "concat":
    return keras.ops.concatenate(picked, axis=-1)
  total = picked[0]
  for x in picked[1:]:
    total = total + x
  return total / len(picked) if reduction == "mean" else total


class ChosenInputs(keras.layers.Layer):
  """The chosen tensors of a list, summed, averaged or concatenated."""

  def __init__(self, indices: Sequence[int], n_candidates: int, reduction: str = "sum",
               **kwargs):
    super().__init__(**kwargs)
    self.indices, self.n_candidates, self.reduction = list(indices), n_candidates, reduction

  def call(self, inputs):
    if len(inputs) != self.n_candidates:
      raise ValueError(f"{self.name}: called on {len(inputs)} tensors, declared "
                       f"{self.n_candidates} candidates")
    return reduce_inputs([inputs[i] for i in self.indices], self.reduction)

  def get_config(self):
    return {**super().get_config(), "indices": self.indices,
            "n_candidates": self.n_candidates, "reduction": self.reduction}


CELL_OPS = ("none", "skip_connect", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3",
            "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "conv_1x1")


def cell_op(op: str, filters: int, stride: int = 1, affine: bool | None = None) -> "CellOp":
  """A cell op of DARTS' vocabulary as one Keras layer (quark0/darts ``operations.py``,
  built by ``cell_ops.apply_op``), for LayerChoice candidates; ``conv_1x1`` is DARTS'
  ReLU-conv1x1-BN, its cells' preprocessing. ``affine`` (default: whether a one-shot search
  is building its supernet) leaves out the batch norms' scale and shift and adds one after
  each pool, as in DARTS' search network; a child has them, as DARTS' final network."""
  if op not in CELL_OPS:
    raise SpaceError(f"nas_tf.cell_op: unknown op {op!r} (known: {', '.join(CELL_OPS)})")
  return CellOp(op, int(filters), int(stride), relaxing() if affine is None else not affine)


class CellOp(keras.layers.Layer):
  """``op`` at ``stride`` with ``filters`` output channels; its layers are made when it is
  first called (their shapes need the input's)."""

  def __init__(self, op: str, filters: int, stride: int = 1, search: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.op, self.filters, self.stride, self.search = op, filters, stride, search

  def build(self, input_shape):
    x = keras.Input(tuple(input_shape[1:]))
    if self.op == "conv_1x1":
      y = relu_conv_bn(x, self.filters, self.op, 0.0, affine=not self.search, strides=self.stride)
    else:
      y = apply_op(self.op, x, self.filters, self.stride, self.op, 0.0, search=self.search)
    self.network = keras.Model(x, y, name=self.op)

  def call(self, x, training=None):
    return self.network(x, training=training)

  def compute_output_shape(self, input_shape):
    rows, columns = (None if s is None else -(-s // self.stride) for s in input_shape[1:3])
    return (input_shape[0], rows, columns, self.filters)

  def get_config(self):
    return {**super().get_config(), "op": self.op, "filters": self.filters,
            "stride": self.stride, "search": self.search}
