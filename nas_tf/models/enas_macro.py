"""Keras models of the ENAS macro space: the supernet that holds every operation's weights
and runs any architecture from two tensors, and the stand-alone child of one architecture
(same layer names, so the supernet's weights copy into it).

A sampled architecture is fed to the supernet as the operation index per layer and the
skip-connection matrix, so switching architectures between minibatches re-uses one traced
training step: a child costs one minibatch, not one model build.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from nas_tf.models.layers import batch_norm, decay
from nas_tf.spaces.enas_macro import OPERATIONS, EnasMacroSpace


def make_operation(kind: str, channels: int, name: str) -> list[keras.layers.Layer]:
  """The layers of one operation, applied in order."""
  if kind.startswith(("conv", "sep")):
    size = int(kind[-1])
    conv = keras.layers.Conv2D if kind.startswith("conv") else keras.layers.SeparableConv2D
    return [conv(channels, size, padding="same", use_bias=False, name=f"{name}_conv"),
            batch_norm(f"{name}_bn"),
            keras.layers.ReLU(name=f"{name}_relu")]
  if kind == "maxpool3x3":
    return [keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")]
  if kind == "avgpool3x3":
    return [keras.layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_pool")]
  raise ValueError(f"unknown ENAS operation {kind!r} (known: {', '.join(OPERATIONS)})")


def _apply(layers, x, training):
  for layer in layers:
    x = layer(x, training=training) if isinstance(layer, keras.layers.BatchNormalization) \
        else layer(x)
  return x


def _stem(channels: int) -> list[keras.layers.Layer]:
  return [keras.layers.Conv2D(channels, 3, padding="same", use_bias=False, name="stem_conv"),
          batch_norm("stem_bn")]


def _reduce(x):
  return tf.nn.avg_pool2d(x, 2, 2, "VALID")


class Supernet(keras.Model):
  """All operations of all layers; ``call(images, ops, skips)`` runs the architecture given
  by the tensors ``ops`` [L] (int32) and ``skips`` [L, L] (float32)."""

  def __init__(self, space: EnasMacroSpace, num_classes: int = 10, **kwargs):
    super().__init__(**kwargs)
    self.space = space
    c = space.channels
    self.stem = _stem(c)
    self.operations = [[make_operation(kind, c, f"l{i}_{kind}") for kind in OPERATIONS]
                       for i in range(space.num_layers)]
    self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
    self.classifier = keras.layers.Dense(num_classes, name="logits")

  def build_all(self, input_shape=(32, 32, 3)) -> None:
    """Creates every weight eagerly (variables cannot be created inside a switch branch)."""
    x = _apply(self.stem, tf.zeros((1, *input_shape)), False)
    for i in range(self.space.num_layers):
      if i in self.space.reduce_at:
        x = _reduce(x)
      for op in self.operations[i]:
        _apply(op, x, False)
    self.classifier(self.pool(x))
    self.built = True

  def call(self, images, ops, skips, training=False):
    x = _apply(self.stem, images, training)
    outputs = []
    for i in range(self.space.num_layers):
      if i in self.space.reduce_at:
        x = _reduce(x)
        outputs = [_reduce(o) for o in outputs]
      branches = [lambda op=op, x=x: _apply(op, x, training) for op in self.operations[i]]
      y = tf.switch_case(ops[i], branches)
      if i:
        weights = skips[i, :i]
        y = (y + tf.einsum("j,jnhwc->nhwc", weights, tf.stack(outputs))) / (
            1.0 + tf.reduce_sum(weights))
      outputs.append(y)
      x = y
    return self.classifier(self.pool(x))


def build_child(arch: dict[str, Any], input_shape=(32, 32, 3), num_classes: int = 10,
                weight_decay: float = 0.0, width: float = 1.0,
                name: str | None = None) -> keras.Model:
  """The architecture as a stand-alone functional Keras model (logits), for training from
  scratch and export; layer names match the supernet's, so its weights can be copied in."""
  channels = max(1, int(round(arch["channels"] * width)))
  reduce_at = set(arch["reduce_at"])
  image = keras.Input(input_shape, name="image")
  x = image
  for layer in _stem(channels):
    x = layer(x)
  outputs = []
  for i, spec in enumerate(arch["layers"]):
    if i in reduce_at:
      pool = lambda t, k: keras.layers.AveragePooling2D(2, name=f"l{i}_reduce{k}")(t)  # noqa
      x = pool(x, "x")
      outputs = [pool(o, j) for j, o in enumerate(outputs)]
    layers = make_operation(spec["operation"], channels, f"l{i}_{spec['operation']}")
    if weight_decay:  # set before the layers build their weights
      for layer in layers:
        for attr in ("kernel_regularizer", "depthwise_regularizer", "pointwise_regularizer"):
          if hasattr(layer, attr):
            setattr(layer, attr, decay(weight_decay))
    y = x
    for layer in layers:
      y = layer(y)
    if spec["inputs"]:
      skips = [outputs[j] for j in spec["inputs"]]
      y = keras.layers.Average(name=f"l{i}_skip_average")([y] + skips)
    outputs.append(y)
    x = y
  x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
  logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
  return keras.Model(image, logits, name=name or f"enas_child_{arch.get('id', '')}")


def copy_shared_weights(supernet: Supernet, child: keras.Model, arch: dict[str, Any]) -> None:
  """Loads the supernet's weights of ``arch``'s operations into a stand-alone child."""
  for layer in supernet.stem:
    child.get_layer(layer.name).set_weights(layer.get_weights())
  for i, spec in enumerate(arch["layers"]):
    for layer in supernet.operations[i][OPERATIONS.index(spec["operation"])]:
      child.get_layer(layer.name).set_weights(layer.get_weights())
  child.get_layer("logits").set_weights(supernet.classifier.get_weights())



def child_params(supernet: Supernet, arch: dict[str, Any]) -> int:
  """Parameters of the stand-alone child of ``arch`` (stem, chosen operations, classifier)."""
  def count(layers):
    return sum(int(np.prod(w.shape)) for layer in layers for w in layer.weights)
  chosen = [layer for i, spec in enumerate(arch["layers"])
            for layer in supernet.operations[i][OPERATIONS.index(spec["operation"])]]
  return count(supernet.stem) + count(chosen) + count([supernet.classifier])


build_classifier = build_child  # the builder every image-classification space's module exposes

