"""The shared-weights training step of the one-shot searches on classifiers: traced by the
strategy (one graph for every architecture), or run eagerly on a supernet composed of
traced pieces (``models/pieces.py``), whose weight update is then one traced function."""

from __future__ import annotations

import weakref

from nas_tf.models.layers import correct_count

# model -> {(optimizer id, weight decay): (the traced update, zero gradients, tf.Variables)}
_UPDATES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def classifier_train_step(model, optimizer, images, labels, weight_decay: float, arch=()):
  """One step of softmax cross-entropy plus weight decay on the kernels (gradient
  weight_decay * w, the papers' definition), for ``model(images, *arch)``; returns (mean
  loss, correct count). Traced, a supernet's switches give the weights of the ops not taken
  zero gradients; eager, those weights get zeros too, so both run the same update (a
  momentum optimizer moves them by their momentum either way)."""
  import tensorflow as tf
  if tf.executing_eagerly():
    update, zeros, sources = _traced_update(model, optimizer, weight_decay)
    with tf.GradientTape() as tape:
      logits, loss, objective = _forward(model, images, labels, arch)
    grads = tape.gradient(objective, sources)
    update([zero if g is None else g for g, zero in zip(grads, zeros)])
    return loss, correct_count(logits, labels)
  variables = model.trainable_variables
  with tf.GradientTape() as tape:
    logits, loss, objective = _forward(model, images, labels, arch)
    decay = tf.add_n([tf.nn.l2_loss(v) for v in variables if "kernel" in v.name])  # sum/2
    total = objective + weight_decay * decay
  grads = tape.gradient(total, variables)
  optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
  return loss, correct_count(logits, labels)


def _forward(model, images, labels, arch):
  """(logits, mean softmax cross-entropy, what the step minimizes) of ``model(images, *arch)``
  in training mode: the loss, plus ``model.auxiliary_weight`` x its auxiliary head's loss
  where the supernet has one (ENAS micro's search)."""
  import contextlib

  import tensorflow as tf
  with getattr(model, "computing_auxiliary", contextlib.nullcontext)():
    logits = model(images, *arch, training=True)
  loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
  auxiliary = model.auxiliary_logits() if hasattr(model, "auxiliary_logits") else None
  if auxiliary is None:
    return logits, loss, loss
  return logits, loss, loss + model.auxiliary_weight * tf.reduce_mean(
      tf.nn.sparse_softmax_cross_entropy_with_logits(labels, auxiliary))


def _traced_update(model, optimizer, weight_decay: float):
  """The weight-decay term and the optimizer's update as one traced function of the loss
  gradients: eager, each variable's update would be several Python-dispatched ops, and the
  decay's gradient (weight_decay * w, what the traced step's L2 term adds) hundreds more."""
  import tensorflow as tf
  updates = _UPDATES.setdefault(model, {})
  key = (id(optimizer), float(weight_decay))
  if key not in updates:
    variables = model.trainable_variables
    decayed = ["kernel" in v.name for v in variables]

    def update(grads):
      grads = [g + weight_decay * v if d else g for g, v, d in zip(grads, variables, decayed)]
      optimizer.apply_gradients(zip(grads, variables))
    zeros = [tf.zeros(v.shape, v.dtype) for v in variables]
    updates[key] = (tf.function(update, autograph=False).get_concrete_function(zeros), zeros,
                    [v.value for v in variables])  # what the tape differentiates
  return updates[key]
