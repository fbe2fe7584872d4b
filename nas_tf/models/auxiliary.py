"""ENAS micro search's auxiliary head (melodyguan/enas ``micro_child.py`` lines 287-323):
the search adds 0.4 x its loss to the training loss but never trains its weights (lines
721-723), so only its gradient into the cells counts. (The trained heads of final networks
are ``models/cell.py``'s ``auxiliary_head``.)"""

from __future__ import annotations

import keras
import tensorflow as tf

from nas_tf.models.layers import BN_EPSILON


class AuxiliaryHead(keras.layers.Layer):
  """ENAS micro search's auxiliary head (micro_child.py lines 293-323), its weights fixed at
  their He-normal start (the authors leave them out of the optimizer): ReLU, 5x5 average
  pool at stride 3, 1x1 conv to 128, batch norm, ReLU, a conv as wide as what remains to
  768 ("SAME"), batch norm, ReLU, global average pooling, a matrix to the classes. The batch
  norms use the batch's statistics with scale 1 and offset 0 (theirs are never trained),
  as the head runs only in training steps. It reads the cell's output: its blocks' channels
  (the authors' reads their 1x1 conv of those to the cell's width)."""

  POOL = 5

  def __init__(self, num_classes: int, **kwargs):
    super().__init__(**kwargs)
    self.num_classes = int(num_classes)

  def build(self, input_shape):
    side = (input_shape[1] - self.POOL) // 3 + 1
    he = keras.initializers.HeNormal()
    self.project = self.add_weight((1, 1, input_shape[-1], 128), he, trainable=False,
                                   name="project")
    self.wide = self.add_weight((side, side, 128, 768), he, trainable=False, name="wide")
    self.fc = self.add_weight((768, self.num_classes), he, trainable=False, name="fc")
    self.built = True

  def call(self, x):
    x = tf.nn.avg_pool2d(tf.nn.relu(x), self.POOL, 3, "VALID")
    x = tf.nn.relu(_batch_normalized(tf.nn.conv2d(x, self.project, 1, "SAME")))
    x = tf.nn.relu(_batch_normalized(tf.nn.conv2d(x, self.wide, 1, "SAME")))
    return tf.matmul(tf.reduce_mean(x, axis=[1, 2]), self.fc)


def _batch_normalized(x):
  mean, variance = tf.nn.moments(x, axes=[0, 1, 2])
  return tf.nn.batch_normalization(x, mean, variance, None, None, BN_EPSILON)
