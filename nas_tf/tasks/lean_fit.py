"""A search child's training loop, traced in a third of Keras' time: the same steps as
``model.fit`` of a compiled classifier (``training.compile_classifier``), the same numbers.

Each child is a new network, so each pays for tracing its train and eval steps; at the
smoke preset that was half as long as its training. ``model.fit`` traces its step inside
nested functions under a distribution-strategy wrapper, with one loss op chain per
regularized kernel and a running mean per metric, and traces the eval step likewise. This
loop traces one function per step kind, with the batch dimension unknown from the start,
and computes exactly what fit computes: the compiled loss plus each kernel's weight decay,
summed as Keras sums them, the optimizer's own update, batch norm's moving averages, and
the validation accuracy as Keras' accuracy metric divides it (``tests/test_lean_fit.py``
checks a child trained both ways bit for bit).

``Cifar10Task.fit`` uses it for search children; final training keeps ``model.fit``, whose
callbacks write checkpoints and TensorBoard logs.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import keras
import numpy as np

from nas_tf.models.layers import WeightDecay, correct_count
from nas_tf.tasks.training import ChildFailure, split_timing


def unsupported(model) -> str | None:
  """Why this loop cannot train ``model`` as ``model.fit`` would (None: it can)."""
  import tensorflow as tf
  if keras.mixed_precision.global_policy().name != "float32":
    return "a mixed-precision policy (fit scales the loss)"
  if tf.distribute.has_strategy():
    return "a distribution strategy"
  if len(getattr(model, "outputs", None) or ()) != 1:
    return "not a single-output functional network (an auxiliary head)"
  if model.optimizer is None or not isinstance(model.loss, keras.losses.Loss):
    return "not compiled with a loss object"
  if any(getattr(layer, "activity_regularizer", None) is not None
         for layer in model._flatten_layers()):
    return "an activity regularizer"
  if any(v.regularizer is not None and not isinstance(v.regularizer, WeightDecay)
         for v in model.trainable_variables):
    return "a regularizer other than weight decay"
  return None


def _steps(model):
  """(train step, eval step): tf.functions of (images, labels) with any batch size."""
  import tensorflow as tf
  variables = model.trainable_variables
  decayed = [v for v in variables if v.regularizer is not None]
  spec = model.inputs[0]
  signature = (tf.TensorSpec([None, *spec.shape[1:]], spec.dtype),
               tf.TensorSpec([None], tf.int32))
  loss_fn, optimizer = model.loss, model.optimizer

  @tf.function(input_signature=signature, jit_compile=bool(model.jit_compile), autograph=False)
  def train_step(images, labels):
    with tf.GradientTape() as tape:
      logits = model(images, training=True)
      # As Keras' compute_loss: the compiled loss, then one term per regularized weight,
      # summed in one reduction (the same order, so the same rounding).
      terms = [loss_fn(labels, logits)] + [v.regularizer(v) for v in decayed]
      loss = tf.reduce_sum(tf.stack(terms)) if len(terms) > 1 else terms[0]
    optimizer.apply(tape.gradient(loss, variables), variables)
    return loss, correct_count(logits, labels)

  @tf.function(input_signature=signature, jit_compile=bool(model.jit_compile), autograph=False)
  def eval_step(images, labels):
    return correct_count(model(images, training=False), labels)

  return train_step, eval_step


def fit(model, train_ds, val_ds, epochs: int, steps_per_epoch: int,
        timeout_s: float | None = None,
        epoch_begin: Callable[[int], None] | None = None) -> tuple[list[float], dict]:
  """Trains ``epochs`` epochs of ``steps_per_epoch`` batches from one pass over ``train_ds``
  (as ``fit`` with ``steps_per_epoch`` reads an endless dataset), validating after each;
  ``epoch_begin(epoch)`` runs before each (drop-path's schedule). Returns the validation
  accuracies and ``training.split_timing``'s step and trace seconds. Raises ChildFailure on
  a non-finite loss or past ``timeout_s``."""
  import tensorflow as tf
  started = time.perf_counter()
  if not model.optimizer.built:
    model.optimizer.build(model.trainable_variables)
  train_step, eval_step = _steps(model)
  build_seconds = time.perf_counter() - started
  deadline = time.monotonic() + timeout_s if timeout_s else None
  seconds = {"train": [], "test": []}
  batches, curve = iter(train_ds), []
  for epoch in range(epochs):
    if epoch_begin is not None:
      epoch_begin(epoch)
    for step in range(steps_per_epoch):
      images, labels = next(batches)
      begin = time.perf_counter()
      loss, _ = train_step(images, tf.cast(labels, tf.int32))
      loss = float(loss)
      seconds["train"].append(time.perf_counter() - begin)
      if not math.isfinite(loss):
        raise ChildFailure(f"non-finite training loss ({loss}) at batch {step}")
      if deadline is not None and time.monotonic() > deadline:
        raise ChildFailure("over its time limit (child.timeout_s)")
    right = count = 0
    for images, labels in val_ds:
      begin = time.perf_counter()
      right += float(eval_step(images, tf.cast(labels, tf.int32)))
      seconds["test"].append(time.perf_counter() - begin)
      count += int(labels.shape[0])
    # Keras' accuracy: float32 total over float32 count.
    curve.append(float(np.float32(right) / np.float32(max(count, 1))))
  return curve, split_timing(seconds, build_seconds)
