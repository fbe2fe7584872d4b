"""Builds a Keras functional CNN from a NAS-RL architecture (Zoph & Le 2017, section 3.3).

Per layer: conv(kh x kw, filters, stride, same padding) -> batch norm -> ReLU. A layer's
inputs are concatenated along channels after zero-padding each to the largest height and
width among them. The paper's three rules: a layer with no input reads the image; every
output that feeds no later layer joins the final concatenation; then global average
pooling and a dense classifier.
"""

from __future__ import annotations

from typing import Any

import keras

from nas_tf.models.layers import KERAS_BN_EPSILON, batch_norm, conv2d, decay, pad_and_concat


def conv_bn_relu(x, spec: dict[str, Any], weight_decay: float, name: str, width: float = 1.0):
  filters = max(1, int(round(spec["filters"] * width)))
  x = conv2d(filters, (spec["filter_height"], spec["filter_width"]), strides=spec["stride"],
             padding="same", use_bias=False, kernel_regularizer=decay(weight_decay),
             name=f"{name}_conv")(x)
  x = batch_norm(f"{name}_bn", epsilon=KERAS_BN_EPSILON)(x)  # no authors' code: Keras'
  return keras.layers.ReLU(name=f"{name}_relu")(x)


def build_cnn(arch: dict[str, Any], input_shape=(32, 32, 3), num_classes: int = 10,
              weight_decay: float = 1e-4, width: float = 1.0, preprocessing=None,
              name: str | None = None) -> keras.Model:
  """The child network of ``arch`` as a functional model that outputs logits.

  ``preprocessing`` is an optional layer applied to the raw input first (used by export to
  put normalization inside the model).
  """
  layers = arch["layers"]
  if not layers:
    raise ValueError("architecture has no layers")
  image = keras.Input(shape=input_shape, name="image")
  x_in = preprocessing(image) if preprocessing is not None else image
  outputs, consumed = [], set()
  for i, spec in enumerate(layers):
    sources = spec["inputs"]
    if any(not 0 <= j < i for j in sources):
      raise ValueError(f"layer {i}: inputs must be earlier layers, got {sources}")
    consumed.update(sources)
    x = pad_and_concat([outputs[j] for j in sources], f"l{i}_in") if sources else x_in
    outputs.append(conv_bn_relu(x, spec, weight_decay, f"l{i}", width))
  dangling = [outputs[i] for i in range(len(layers)) if i not in consumed]
  x = pad_and_concat(dangling, "final")
  x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
  # float32 logits under a mixed-precision policy: a stable softmax and loss.
  logits = keras.layers.Dense(num_classes, kernel_regularizer=decay(weight_decay),
                              dtype="float32", name="logits")(x)
  return keras.Model(image, logits, name=name or f"child_{arch.get('id', 'cnn')}")


build_classifier = build_cnn  # the builder every image-classification space's module exposes
