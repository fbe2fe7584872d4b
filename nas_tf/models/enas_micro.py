"""ENAS micro search's supernet (Pham et al. 2018, section 2.4; melodyguan/enas
``micro_child.py``) on the cell space: one set of weights per (cell position, block, input
slot, op), the cell architecture given as tensors, so one traced step serves every sampled
cell pair.

The network is the cell network of ``models/cell.py`` (stem, 3 stages of N cells, two
reduction cells), computed so that it equals the stand-alone child of any architecture:
- each slot's input is gathered from the cell's states by the pointer, and its op picked by
  ``layers.switch_case``; in a reduction cell the ops on the two cell inputs run at stride 2;
- a cell's output is the concatenation of *all* its blocks times a channel mask of the
  architecture's output blocks (loose ends). The layers that read it (the next cells'
  1x1 input convs, the classifier) hold rows for every block; masked rows read zeros, so
  they equal the child's layers that hold only the output blocks' rows (``copy_weights``
  copies those rows). ENAS instead gathers a 1x1 conv's weights per output block
  (``final_conv``); the sums are the same.
"""

from __future__ import annotations

import contextlib
import functools
import json
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from nas_tf.models import cell as cell_models
from nas_tf.models.auxiliary import AuxiliaryHead
from nas_tf.models.cell import cell_positions
from nas_tf.models.layers import batch_norm, switch_case
from nas_tf.models.shared_ops import SUPPORTED_OPS, SharedOp, op_math
from nas_tf.models.pieces import Pieces
from nas_tf.spaces.cell import CellSpace, output_blocks

class Supernet(keras.Model):
  """``call(images, normal, normal_out, reduce, reduce_out)``: the cell pair given as
  [B, 4] int32 (in1, op1, in2, op2; ops index ``space.ops``) and [B] float32 output masks
  (``CellSpace.as_tensors``)."""

  # ENAS scores micro architectures with batch statistics: micro_child.py's _model forces
  # is_training=True for the search (line 244) and build_valid_rl passes it (line 804). A BN
  # of a (slot, op) is shared by whichever input the pointer picks, and the next cell's
  # input BN sees a differently masked mix per architecture, so moving averages mix
  # architectures and fit none.
  scores_with_batch_statistics = True

  def __init__(self, space: CellSpace, num_classes: int = 10, channels: int = 16,
               layers_per_stage: int = 2, dropout: float = 0.0,
               auxiliary_weight: float = 0.0, **kwargs):
    super().__init__(**kwargs)
    unsupported = [op for op in space.ops if op not in SUPPORTED_OPS]
    if unsupported:
      raise ValueError(f"ENAS micro search supports the ops {', '.join(SUPPORTED_OPS)}; "
                       f"space.ops has {', '.join(unsupported)}")
    self.space, self.num_classes = space, num_classes
    self.channels, self.layers_per_stage = int(channels), int(layers_per_stage)
    self.positions = cell_positions(layers_per_stage, channels)
    self.stem_conv = keras.layers.Conv2D(3 * self.channels, 3, padding="same", use_bias=False,
                                         name="stem_conv")
    self.stem_bn = batch_norm("stem_bn")
    reduced_input = [False] + [p[2] for p in self.positions[:-1]]  # h[c-2] is twice h[c-1]
    self.pre0 = [SharedOp("identity" if r else "relu_conv_bn", f, True, name=f"{name}_pre0")
                 for (name, _, _, f), r in zip(self.positions, reduced_input)]
    self.pre1 = [SharedOp("relu_conv_bn", f, name=f"{name}_pre1")
                 for name, _, _, f in self.positions]
    self.ops = [[[[SharedOp(op, f, reduction, name=f"{name}_b{i}_{slot}_{op}")
                   for op in space.ops] for slot in range(2)] for i in range(space.num_blocks)]
                for name, _, reduction, f in self.positions]
    self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
    self.classifier = keras.layers.Dense(num_classes, name="logits")
    # Before the classifier in training mode, scoring included (micro_child.py line 333).
    self.dropout = keras.layers.Dropout(dropout, name="dropout")
    self.input_shape_ = (32, 32, 3)
    self.pieces = Pieces(op_math)  # the composed network's traced ops
    # The authors' search trains with an auxiliary head after the cell that follows the
    # second reduction (micro_child.py lines 112-113, 287-323), whose weights it never
    # trains (lines 721-723): only 0.4 x its loss's gradient into the cells counts.
    self.auxiliary_weight = float(auxiliary_weight)
    reductions = [p for p, position in enumerate(self.positions) if position[2]]
    self.auxiliary_position = (reductions[1] + 1 if self.auxiliary_weight and len(reductions) > 1
                               and reductions[1] + 1 < len(self.positions) else None)
    self.auxiliary = AuxiliaryHead(num_classes, name="aux_head")
    self._last = {"auxiliary": None}  # the auxiliary logits of the latest training call

  def auxiliary_logits(self):
    """The auxiliary head's logits of the latest training call, or None."""
    return self._last["auxiliary"]

  @contextlib.contextmanager
  def computing_auxiliary(self):
    """Training steps' calls compute the head (scoring, also in training mode, never needs
    it); a traced step keeps what its first call saw."""
    self._last["wanted"] = True
    try:
      yield
    finally:
      self._last["wanted"] = False

  def _network(self, images, training, slot_output, output_mask, composed=False):
    self._last["auxiliary"] = None
    if composed:
      run = functools.partial(self._composed_op, training=training)
      prev_prev = prev = self.pieces(("conv_bn", 1, training), images,
                                     (self.stem_conv, self.stem_bn))
    else:
      def run(op, x, stride):
        return op(x, stride=stride, training=training)
      prev_prev = prev = self.stem_bn(self.stem_conv(images), training=training)
    for p, (_, kind, reduction, filters) in enumerate(self.positions):
      states = [run(self.pre0[p], prev_prev, 2 if self.pre0[p].kind == "identity" else 1),
                run(self.pre1[p], prev, 1)]
      for i in range(self.space.num_blocks):
        states.append(slot_output(p, kind, reduction, i, 0, states)
                      + slot_output(p, kind, reduction, i, 1, states))
      prev_prev, prev = prev, tf.concat(states[2:], axis=-1) * output_mask(kind, filters)
      if (p == self.auxiliary_position and self.auxiliary.built and training
          and self._last.get("wanted")):
        self._last["auxiliary"] = self.auxiliary(prev)
    return self.classifier(self.dropout(self.pool(prev), training=training))

  def describe(self) -> str:
    return (f"{len(self.positions)} cells (N={self.layers_per_stage}) of "
            f"{self.space.num_blocks} blocks, {self.channels} channels")

  def build_all(self, input_shape=(32, 32, 3)) -> None:
    """Creates every weight eagerly (variables cannot be created inside a switch branch,
    and the composed network passes them to its pieces)."""
    self.input_shape_ = tuple(input_shape)
    self.weights_made = True

    def every_op(p, kind, reduction, i, slot, states):
      outs = [op(states[1], stride=2 if reduction else 1) for op in self.ops[p][i][slot]]
      return outs[0]
    self._network(tf.zeros((1, *input_shape)), False, every_op, lambda kind, filters: 1.0)
    if self.auxiliary_position is not None:
      _, _, _, filters = self.positions[self.auxiliary_position]
      side = input_shape[0] // 4  # after the two reductions
      if side >= AuxiliaryHead.POOL:  # the head's 5x5 pool needs 5 pixels (CIFAR: 8)
        self.auxiliary.build((None, side, side, self.space.num_blocks * filters))
    self.built = True

  def call(self, images, normal, normal_out, reduce, reduce_out, training=False):
    """Traced (inside a tf.function): one switch per slot, so the graph serves every
    architecture. Eager: composed of ``self.pieces``, the architecture read in Python."""
    if tf.executing_eagerly():
      if not getattr(self, "weights_made", False):
        self.build_all(tuple(images.shape[1:]))
      return self._composed(images, normal, normal_out, reduce, reduce_out, bool(training))
    cells = {"normal": (normal, normal_out), "reduce": (reduce, reduce_out)}

    def chosen_op(p, kind, reduction, i, slot, states):
      blocks = cells[kind][0]
      source, op = blocks[i, 2 * slot], blocks[i, 2 * slot + 1]
      layers = self.ops[p][i][slot]
      if not reduction:
        every = tf.stack(states)
        return switch_case(op, [lambda layer=layer: layer(tf.gather(every, source),
                                                             training=training)
                                   for layer in layers])
      # Reduction cell: stride 2 on the cell inputs, stride 1 on (already reduced) blocks.
      inputs, made, branches = tf.stack(states[:2]), i and tf.stack(states[2:]), []
      for layer in layers:
        branches.append(lambda layer=layer: layer(tf.gather(inputs, source), stride=2,
                                                  training=training))
        if i:
          branches.append(lambda layer=layer: layer(tf.gather(made, source - 2),
                                                    training=training))
      return switch_case(2 * op + tf.cast(source >= 2, tf.int32) if i else op, branches)

    def output_mask(kind, filters):
      return tf.repeat(cells[kind][1], filters)
    return self._network(images, training, chosen_op, output_mask)

  def _composed(self, images, normal, normal_out, reduce, reduce_out, training: bool):
    cells = {"normal": (np.asarray(normal), np.asarray(normal_out)),
             "reduce": (np.asarray(reduce), np.asarray(reduce_out))}

    def chosen_op(p, kind, reduction, i, slot, states):
      source, op = cells[kind][0][i, 2 * slot: 2 * slot + 2]
      return self._composed_op(self.ops[p][i][slot][op], states[source],
                               2 if reduction and source < 2 else 1, training)

    def output_mask(kind, filters):
      return np.repeat(cells[kind][1], filters)
    return self._network(images, training, chosen_op, output_mask, composed=True)

  def _composed_op(self, op: SharedOp, x, stride: int, training: bool):
    name = (op.kind, stride, training)
    if op.kind.endswith("pool_3x3") or (stride == 1 and op.kind in ("identity", "skip_connect")):
      return op_math(name, x, ())  # one op or none: cheaper run eagerly than called
    return self.pieces(name, x, tuple(op.parts))


def make_supernet(space: CellSpace, config, task) -> Supernet:
  """The supernet of ``config`` (ENAS micro's network is the cell network: ``child.*``)."""
  supernet = Supernet(space, task.num_classes, config.child.channels,
                      config.child.layers_per_stage, config.enas.get("dropout", 0.0),
                      config.enas.get("auxiliary_weight", 0.0))
  supernet.build_all(task.input_shape)
  return supernet


def _rows(arch: dict[str, Any], kind: str, filters: int) -> np.ndarray:
  """The rows of the full block concatenation that ``arch``'s ``kind`` cell outputs."""
  return np.concatenate([np.arange(b * filters, (b + 1) * filters)
                         for b in output_blocks(arch[kind], arch["cell_output"])])


def copy_weights(supernet: Supernet, child: keras.Model, arch: dict[str, Any]) -> None:
  """Loads ``arch``'s path through the supernet into ``models.cell.build_classifier``'s
  network of the same N and C (the equivalence test; the child of a derived cell)."""
  ops = list(supernet.space.ops)

  def take(layer, name, rows=None):
    weights = layer.get_weights()
    if rows is not None:  # a 1x1 conv or dense layer reading a cell output: its blocks' rows
      kernel = weights[0][..., rows, :] if weights[0].ndim == 4 else weights[0][rows]
      weights = [kernel, *weights[1:]]
    child.get_layer(name).set_weights(weights)

  take(supernet.stem_conv, "stem_conv")
  take(supernet.stem_bn, "stem_bn")
  names = {layer.name for layer in child.layers}
  rows = [None]  # rows of each position's output that the child keeps (None: the stem)
  for p, (name, kind, _, filters) in enumerate(supernet.positions):
    for pre, source in ((supernet.pre0[p], rows[p - 1] if p else None),
                        (supernet.pre1[p], rows[p])):
      for suffix, layer in pre.child_layers.items():  # none where no block reads the input
        if f"{pre.name}{suffix}" in names:
          take(layer, f"{pre.name}{suffix}", source if "conv" in suffix else None)
    for i, block in enumerate(arch[kind]):
      for slot in range(2):
        shared = supernet.ops[p][i][slot][ops.index(block[2 * slot + 1])]
        for suffix, layer in shared.child_layers.items():
          if f"{name}_b{i}_{slot}{suffix}" in names:
            take(layer, f"{name}_b{i}_{slot}{suffix}")
    rows.append(_rows(arch, kind, filters))
  take(supernet.classifier, "logits", rows[-1])


@functools.lru_cache(maxsize=4096)
def _params(arch_json: str, input_shape, num_classes, layers_per_stage, channels) -> int:
  return int(cell_models.build_classifier(json.loads(arch_json), input_shape, num_classes,
                                          layers_per_stage=layers_per_stage,
                                          channels=channels).count_params())


def child_params(supernet: Supernet, arch: dict[str, Any]) -> int:
  """Parameters of ``arch``'s stand-alone network at the supernet's N and C."""
  return _params(json.dumps(arch, sort_keys=True), supernet.input_shape_, supernet.num_classes,
                 supernet.layers_per_stage, supernet.channels)
