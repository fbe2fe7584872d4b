"""Optimizers of child and shared-weight training (their learning-rate schedules:
``schedules.py``)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="nas_tf")
class MomentumSGD(keras.optimizers.SGD):
  """Keras' SGD whose momentum update of each dense variable is TensorFlow's one fused op
  (ResourceApplyKerasMomentum: m = momentum m - lr g; w += m, or Nesterov's w += momentum m
  - lr g, Keras' arithmetic) instead of ~13 graph nodes: measured, a third of a cell child's
  train graph, and of the time to trace it. Sparse gradients, plain SGD and distribution
  strategies take Keras' own path."""

  def update_step(self, gradient, variable, learning_rate):
    import tensorflow as tf
    if self.momentum == 0 or not isinstance(gradient, tf.Tensor) \
        or tf.distribute.has_strategy():
      return super().update_step(gradient, variable, learning_rate)
    m = self.momentums[self._get_variable_index(variable)]
    tf.raw_ops.ResourceApplyKerasMomentum(
        var=variable.handle, accum=m.handle, lr=tf.cast(learning_rate, variable.dtype),
        grad=tf.cast(gradient, variable.dtype), momentum=float(self.momentum),
        use_nesterov=bool(self.nesterov))


@keras.saving.register_keras_serializable(package="nas_tf")
class L2SGD(keras.optimizers.SGD):
  """SGD whose gradient of each variable w gets ``l2`` x w before the global-norm clipping:
  an L2 term in the loss, as ENAS's get_train_ops adds l2_reg x sum(w^2) (``l2`` = 2 l2_reg),
  not Keras' decoupled weight decay, which acts after the clipping. Sparse gradients (the
  embedding's) become dense, as the L2 term makes them in ENAS's graph."""

  def __init__(self, *args, l2: float = 0.0, **kwargs):
    super().__init__(*args, **kwargs)
    self.l2 = float(l2)

  def apply(self, grads, trainable_variables=None):
    import tensorflow as tf
    if self.l2:
      variables = trainable_variables if trainable_variables is not None \
          else self._trainable_variables
      grads = [g if g is None else tf.convert_to_tensor(g) + self.l2 * tf.cast(w, g.dtype)
               for g, w in zip(grads, variables)]
    return super().apply(grads, trainable_variables)

  def get_config(self):
    return {**super().get_config(), "l2": self.l2}
