"""ENAS over your own space: your ``build_model(hp)`` built with every ``nas_tf.LayerChoice``
a switch over its candidates and every ``InputChoice`` a switch over its combinations of
inputs (``models/relaxed.py`` has DARTS' mixtures).

``SwitchedSupernet`` takes one int32 per decision of the space, the architecture's token
(``UserSpace.as_tensors``), as ENAS's supernets take an architecture as tensors: one traced
step serves every child, and a candidate's weights are the same in every child that takes
it (in ENAS micro, each node's op weights are shared whichever input it reads: write the
node as an InputChoice of one input, then a LayerChoice, and so are yours).
"""

from __future__ import annotations

import functools
import json
from typing import Any, Sequence

import keras
import tensorflow as tf

from nas_tf.models.layers import switch_case
from nas_tf.models.relaxed import MixedInputs, Relaxation, _same_shapes, build_supernet


class SwitchRelaxation(Relaxation):
  """What LayerChoice and InputChoice return while the switched supernet is built."""

  search_ops = False  # nas_tf.cell_op as in the children: the supernet runs their ops

  def __init__(self, seed: int = 0):
    super().__init__(seed)
    self.indices: dict[str, Any] = {}  # decision -> the running architecture's index

  def layer_choice(self, name, labels, layers):
    self.values[name] = labels
    return SwitchLayer(layers, name, self)

  def input_choice(self, name, combos, n_candidates, reduction):
    self.values[name] = combos
    return SwitchInputs(self, name, combos, n_candidates, reduction)


class SwitchLayer(keras.layers.Layer):
  """The candidate of the running architecture's index (all of them while Keras builds the
  model: their weights are made and their shapes checked)."""

  def __init__(self, candidates: Sequence[keras.layers.Layer], decision: str,
               relaxation: SwitchRelaxation, **kwargs):
    super().__init__(**kwargs)
    self.candidates, self.decision, self._relaxation = list(candidates), decision, relaxation

  def call(self, x, training=None):
    index = self._relaxation.indices.get(self.decision)
    if index is None:
      return _same_shapes(self.decision, [layer(x, training=training)
                                          for layer in self.candidates])[0]
    return switch_case(index, [functools.partial(layer, x, training=training)
                               for layer in self.candidates])


class SwitchInputs(MixedInputs):
  """The combination of inputs of the running architecture's index, reduced."""

  def __call__(self, inputs, *args, **kwargs):
    return keras.layers.Layer.__call__(self, inputs, *args, **kwargs)

  def call(self, inputs):
    inputs = list(inputs)
    index = self._relaxation.indices.get(self.decision)
    if index is None:  # Keras building the model
      return self._reduce([inputs[i] for i in self.combos[0]])
    return switch_case(index, [functools.partial(self._reduce, [inputs[i] for i in combo])
                               for combo in self.combos])


class SwitchedSupernet(tf.Module):
  """ENAS's supernet of your space: ``supernet(images, *indices, training)`` -> logits of
  the architecture whose decisions take those indices (``UserSpace.as_tensors``). A model
  that ends in a softmax gives log-probabilities, whose softmax cross-entropy is its loss."""

  def __init__(self, model: keras.Model, relaxation: Relaxation, space, input_shape):
    super().__init__(name="user_supernet")
    from nas_tf.models.user import outputs_probabilities
    self.network, self._relaxation = model, relaxation
    self.decisions, self.space, self.input_shape_ = list(space.decisions), space, input_shape
    self.probabilities = outputs_probabilities(model)

  def __call__(self, images, *indices, training=False):
    self._relaxation.indices = {name: tf.convert_to_tensor(index, tf.int32)
                                for name, index in zip(self.decisions, indices)}
    try:
      outputs = self.network(images, training=training)
    finally:
      self._relaxation.indices = {}
    return tf.math.log(tf.maximum(outputs, 1e-12)) if self.probabilities else outputs

  @property
  def trainable_variables(self):
    return self.network.trainable_variables

  @property
  def weights(self):
    return self.network.weights

  def _flatten_layers(self):
    return self.network._flatten_layers()

  def describe(self) -> str:
    switched = [n for n in self._relaxation.values if len(self.space.decisions[n]) > 1]
    return (f"{self.space.build} with {len(switched)} switched decisions, "
            f"{self.network.count_params():,} shared weights")


def make_supernet(space, config, task) -> SwitchedSupernet:
  """ENAS's supernet of ``space`` (a ``UserSpace``; ``space.prebuilt``: its switched model
  and relaxation, when the strategy built them already)."""
  model, relaxation = getattr(space, "prebuilt", None) or build_supernet(
      space.build_fn, input_shape=task.input_shape, relaxation=SwitchRelaxation())[:2]
  return SwitchedSupernet(model, relaxation, space, task.input_shape)


@functools.lru_cache(maxsize=1024)
def _params(arch_json: str, input_shape) -> int:
  from nas_tf.models.user import build_classifier
  return int(build_classifier(json.loads(arch_json), input_shape).count_params())


def child_params(supernet: SwitchedSupernet, arch: dict[str, Any]) -> int:
  """Parameters of ``arch``'s own model (your build function at its values)."""
  return _params(json.dumps(arch, sort_keys=True), tuple(supernet.input_shape_))
