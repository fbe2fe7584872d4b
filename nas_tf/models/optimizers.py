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
