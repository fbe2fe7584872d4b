"""A custom task for tests and the README: regression of an image's mean brightness, searched
with the CNN space (imported by worker processes as ``custom_task:Brightness``)."""

import numpy as np

from nas_tf.tasks.custom import KerasTask


class Brightness(KerasTask):
  metric = "val_mean_absolute_error"
  higher_is_better = False
  space_kind = "cnn"
  input_shape = (8, 8, 1)

  def prepare(self):
    rng = np.random.default_rng(0)
    self.x = rng.uniform(0, 1, (96, 8, 8, 1)).astype(np.float32)
    self.y = self.x.mean(axis=(1, 2, 3))[:, None]
    super().prepare()

  def build_inputs(self, seed):
    import tensorflow as tf
    train = tf.data.Dataset.from_tensor_slices((self.x[:64], self.y[:64])).shuffle(
        64, seed=seed).batch(16)
    return train, tf.data.Dataset.from_tensor_slices((self.x[64:], self.y[64:])).batch(32)

  def build_model(self, arch):
    # The space's network with one output: a regression head.
    return self.models(arch).build_classifier(arch, self.input_shape, 1)

  def compile_model(self, model, c):
    import keras
    model.compile(keras.optimizers.Adam(1e-2), loss="mse", metrics=["mean_absolute_error"])
