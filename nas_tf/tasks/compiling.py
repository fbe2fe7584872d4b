"""Keras training kept cheap to trace: a child's train step is traced once, and its graph
holds few nodes per weight (``training.compile_classifier`` and ``_fit`` use these).

Measured on a smoke cell child (N=1, C=8, B=3; 165 weights): the train step's graph 5,872 ->
3,763 nodes and its first batch 14 s -> 5 s, with these, fused batch norm and weight decay
(``models/layers.py``) and fused momentum (``models/optimizers.py``).
"""

from __future__ import annotations

import time

import keras


def build_compiled_state(model: keras.Model, dataset) -> float:
  """Creates the optimizer's slots and the variables of the compiled loss and metrics
  before ``fit``; returns the seconds it took. Without a distribution strategy Keras creates
  them inside the first train step's trace, and a tf.function that creates variables is
  traced twice. The loss and metrics are built from the output's symbolic tensor (0.2 s),
  else by Keras' own symbolic build (a forward trace, 1.1 s)."""
  started = time.perf_counter()
  if model.built and model.optimizer is not None and not model.optimizer.built:
    model.optimizer.build(model.trainable_variables)
  spec = getattr(dataset, "element_spec", None)
  if not isinstance(spec, tuple) or len(spec) < 2:
    return 0.0
  network = getattr(model, "network", model)  # CellClassifier wraps its functional network
  outputs = getattr(network, "outputs", None)
  states = [getattr(model, name, None) for name in ("_compile_loss", "_compile_metrics")]
  if outputs and all(hasattr(s, "build") for s in states if s is not None):
    y_true = keras.KerasTensor(spec[1].shape, spec[1].dtype.name)
    for state in states:
      if state is not None and not state.built:
        state.build(y_true, outputs[0])
  elif hasattr(model, "_symbolic_build"):
    model._symbolic_build(data_batch=spec)
  return time.perf_counter() - started
