"""Keras models of the ENAS macro space, as the authors' ``general_child.py``: the supernet
that holds every operation's weights and runs any architecture from two tensors, and the
stand-alone child of one architecture in two forms.

- ``form="search"`` is the architecture's path through the supernet: skips summed with the
  operation's output, then BN; every layer keeps ``channels``. Layer names match the
  supernet's, so its weights copy in (the equivalence test).
- ``form="final"`` is the network trained from scratch (ENAS's ``fixed_arc``): skips
  concatenated with the operation's output, then ReLU, 1x1 conv and BN; channels doubled at
  every reduction.

Every operation starts with a 1x1 conv-BN-ReLU (ENAS's ``inp_conv_1`` / ``conv_1``); a
reduction is ENAS's factorized reduction of every earlier output. A sampled architecture is
fed to the supernet as the operation index per layer and the skip matrix, so switching
architectures between minibatches re-uses one traced training step.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import keras
import tensorflow as tf

from nas_tf.models.layers import batch_norm, decay, switch_case
from nas_tf.spaces.enas_macro import OPERATIONS, EnasMacroSpace


def operation_layers(kind: str, channels: int, name: str,
                     weight_decay: float = 0.0) -> list[keras.layers.Layer]:
  """The layers of one operation, applied in order: 1x1 conv-BN-ReLU, then the kxk (separable)
  conv-BN-ReLU or the 3x3 pool."""
  if kind not in OPERATIONS:
    raise ValueError(f"unknown ENAS operation {kind!r} (known: {', '.join(OPERATIONS)})")
  regularizer = decay(weight_decay)
  layers = [keras.layers.Conv2D(channels, 1, use_bias=False, kernel_regularizer=regularizer,
                                name=f"{name}_inp_conv"),
            batch_norm(f"{name}_inp_bn"), keras.layers.ReLU(name=f"{name}_inp_relu")]
  if kind.startswith("conv"):
    layers.append(keras.layers.Conv2D(channels, int(kind[-1]), padding="same", use_bias=False,
                                      kernel_regularizer=regularizer, name=f"{name}_conv"))
  elif kind.startswith("sep"):
    layers.append(keras.layers.SeparableConv2D(
        channels, int(kind[-1]), padding="same", use_bias=False, name=f"{name}_conv",
        depthwise_regularizer=regularizer, pointwise_regularizer=regularizer))
  else:
    pool = keras.layers.MaxPooling2D if kind == "maxpool3x3" else keras.layers.AveragePooling2D
    return layers + [pool(3, strides=1, padding="same", name=f"{name}_pool")]
  return layers + [batch_norm(f"{name}_bn"), keras.layers.ReLU(name=f"{name}_relu")]


@keras.saving.register_keras_serializable(package="nas_tf")
class FactorizedReduction(keras.layers.Layer):
  """Halves H and W without dropping every other pixel (ENAS's ``_factorized_reduction``):
  1x1 convs on the even pixels and on the pixels shifted by one, concatenated, then BN."""

  def __init__(self, channels: int, weight_decay: float = 0.0, **kwargs):
    super().__init__(**kwargs)
    self.channels, self.weight_decay = int(channels), float(weight_decay)
    conv = functools.partial(keras.layers.Conv2D, kernel_size=1, use_bias=False,
                             kernel_regularizer=decay(weight_decay))
    self.conv_even = conv(self.channels // 2, name="conv_even")
    self.conv_odd = conv(self.channels - self.channels // 2, name="conv_odd")
    self.norm = batch_norm("bn")

  def build(self, input_shape):
    half = (input_shape[0], (input_shape[1] + 1) // 2, (input_shape[2] + 1) // 2,
            input_shape[3])
    self.conv_even.build(half)
    self.conv_odd.build(half)
    self.norm.build((*half[:3], self.channels))

  def call(self, x, training=False):
    shifted = keras.ops.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]])[:, 1:, 1:, :]
    both = keras.ops.concatenate([self.conv_even(x[:, ::2, ::2, :]),
                                  self.conv_odd(shifted[:, ::2, ::2, :])], axis=-1)
    return self.norm(both, training=training)

  def compute_output_shape(self, input_shape):
    return (input_shape[0], None if input_shape[1] is None else (input_shape[1] + 1) // 2,
            None if input_shape[2] is None else (input_shape[2] + 1) // 2, self.channels)

  def get_config(self):
    return {**super().get_config(), "channels": self.channels,
            "weight_decay": self.weight_decay}


def _apply(layers, x, training):
  for layer in layers:
    x = layer(x, training=training) if isinstance(
        layer, (keras.layers.BatchNormalization, FactorizedReduction)) else layer(x)
  return x


def _stem(channels: int, weight_decay: float = 0.0) -> list[keras.layers.Layer]:
  return [keras.layers.Conv2D(channels, 3, padding="same", use_bias=False,
                              kernel_regularizer=decay(weight_decay), name="stem_conv"),
          batch_norm("stem_bn")]


def _reduction_name(layer: int, candidate: int) -> str:
  """The reduction before ``layer`` of candidate output ``candidate`` (0 = the stem)."""
  return f"l{layer}_reduce_{'stem' if candidate == 0 else f'l{candidate - 1}'}"


class Supernet(keras.Model):
  """All operations of all layers; ``call(images, ops, skips)`` runs the architecture given
  by the tensors ``ops`` [L] (int32) and ``skips`` [L, L] (float32; ``skips[i, c]`` = 1 when
  candidate c feeds layer i: c = 0 the stem, c = j + 1 layer j, for c < i)."""

  def __init__(self, space: EnasMacroSpace, num_classes: int = 10, dropout: float = 0.0,
               **kwargs):
    """``dropout``: before the classifier in training (general_child.py line 233)."""
    super().__init__(**kwargs)
    self.space, self.num_classes = space, num_classes
    self.dropout = keras.layers.Dropout(dropout, name="dropout")
    c = space.channels
    self.stem = _stem(c)
    self.operations = [[operation_layers(kind, c, f"l{i}_{kind}") for kind in OPERATIONS]
                       for i in range(space.num_layers)]
    self.skip_norms = [batch_norm(f"l{i}_skip_bn") for i in range(1, space.num_layers)]
    self.reductions = [[FactorizedReduction(c, name=_reduction_name(i, k)) for k in range(i + 1)]
                       for i in space.reduce_at]
    self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
    self.classifier = keras.layers.Dense(num_classes, name="logits")
    self.input_shape_ = (32, 32, 3)

  def _layers_out(self, images, training, layer_output, skip_sum):
    outputs = [_apply(self.stem, images, training)]  # the candidates: stem, L0, L1, ...
    for i in range(self.space.num_layers):
      if i in self.space.reduce_at:
        reductions = self.reductions[self.space.reduce_at.index(i)]
        outputs = [r(o, training=training) for r, o in zip(reductions, outputs)]
      y = layer_output(i, outputs[-1])
      if i:
        y = self.skip_norms[i - 1](y + skip_sum(i, outputs[:i]), training=training)
      outputs.append(y)
    return self.classifier(self.dropout(self.pool(outputs[-1]), training=training))

  def describe(self) -> str:
    return self.space.describe_size()

  def build_all(self, input_shape=(32, 32, 3)) -> None:
    """Creates every weight eagerly (variables cannot be created inside a switch branch)."""
    self.input_shape_ = tuple(input_shape)

    def every_operation(i, x):
      return [_apply(op, x, False) for op in self.operations[i]][0]
    self._layers_out(tf.zeros((1, *input_shape)), False, every_operation, lambda i, c: 0.0)
    self.built = True

  def call(self, images, ops, skips, training=False):
    def chosen_operation(i, x):
      branches = [lambda op=op: _apply(op, x, training) for op in self.operations[i]]
      return switch_case(ops[i], branches)
    def skip_sum(i, candidates):
      return tf.einsum("c,cnhwk->nhwk", skips[i, :i], tf.stack(candidates))
    return self._layers_out(images, training, chosen_operation, skip_sum)


# Options the task passes from child.* / final.* (``Cifar10Task.build_model``).
OPTIONS = ("dropout",)


def make_supernet(space: EnasMacroSpace, config, task) -> Supernet:
  supernet = Supernet(space, task.num_classes, config.enas.get("dropout", 0.0))
  supernet.build_all(task.input_shape)
  return supernet


def _last_use(arch: dict[str, Any]) -> dict[int, int]:
  """Candidate output -> the last layer that reads it (as input or skip)."""
  last = {}
  for i, spec in enumerate(arch["layers"]):
    for c in [i] + [j + 1 for j in spec["inputs"]]:
      last[c] = i
  return last


def build_child(arch: dict[str, Any], input_shape=(32, 32, 3), num_classes: int = 10,
                weight_decay: float = 0.0, width: float = 1.0, name: str | None = None,
                form: str = "final", dropout: float = 0.0) -> keras.Model:
  """The architecture as a stand-alone functional Keras model (logits); ``form`` is "final"
  (from scratch, export) or "search" (the supernet's path, its weights copy in)."""
  if form not in ("final", "search"):
    raise ValueError(f"form must be 'final' or 'search', got {form!r}")
  channels = max(2, int(round(arch["channels"] * width)))
  last_use = _last_use(arch)
  image = keras.Input(input_shape, name="image")
  outputs = [_apply(_stem(channels, weight_decay), image, None)]
  for i, spec in enumerate(arch["layers"]):
    if i in arch["reduce_at"]:
      channels *= 2 if form == "final" else 1
      outputs = [FactorizedReduction(channels, weight_decay, name=_reduction_name(i, c))(o)
                 if last_use.get(c, -1) >= i else None for c, o in enumerate(outputs)]
    y = _apply(operation_layers(spec["operation"], channels, f"l{i}_{spec['operation']}",
                                weight_decay), outputs[-1], None)
    if i:
      skips = [outputs[j + 1] for j in spec["inputs"]]
      if form == "search":
        y = keras.layers.Add(name=f"l{i}_skip_sum")(skips + [y]) if skips else y
      else:
        y = keras.layers.Concatenate(name=f"l{i}_skip_concat")(skips + [y]) if skips else y
        y = keras.layers.ReLU(name=f"l{i}_skip_relu")(y)
        y = keras.layers.Conv2D(channels, 1, use_bias=False, kernel_regularizer=decay(
            weight_decay), name=f"l{i}_skip_conv")(y)
      y = batch_norm(f"l{i}_skip_bn")(y)
    outputs.append(y)
  x = keras.layers.GlobalAveragePooling2D(name="pool")(outputs[-1])
  if dropout:  # ENAS: keep 0.9 in the search, 0.5 in final training (final.dropout)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
  logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
  return keras.Model(image, logits, name=name or f"enas_child_{arch.get('id', '')}")


def copy_shared_weights(supernet: Supernet, child: keras.Model, arch: dict[str, Any]) -> None:
  """Loads the supernet's weights of ``arch``'s path into its search-form child."""
  names = {layer.name for layer in child.layers}
  ops = [op for i, spec in enumerate(arch["layers"])
         for op in supernet.operations[i][OPERATIONS.index(spec["operation"])]]
  reductions = [r for group in supernet.reductions for r in group]
  for layer in [*supernet.stem, *ops, *supernet.skip_norms, *reductions, supernet.classifier]:
    if layer.name in names:
      child.get_layer(layer.name).set_weights(layer.get_weights())


@functools.lru_cache(maxsize=4096)
def _final_params(arch_json: str, input_shape: tuple[int, ...], num_classes: int) -> int:
  return int(build_child(json.loads(arch_json), input_shape, num_classes).count_params())


def child_params(supernet: Supernet, arch: dict[str, Any]) -> int:
  """Parameters of ``arch``'s final (from-scratch) network, as ``nas-tf train`` counts them."""
  return _final_params(json.dumps(arch, sort_keys=True), supernet.input_shape_,
                       supernet.num_classes)


build_classifier = build_child  # the builder every image-classification space's module exposes
