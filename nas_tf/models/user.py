"""The model of an architecture of your own space (``spaces/user.py``): your
``build_model(hp)`` called with that architecture's values.

A model you compiled trains with your optimizer, loss and metrics; the image tasks feed
integer labels, so a categorical cross-entropy (one-hot labels) becomes its sparse twin,
the same loss. A model you did not compile trains with the task's recipe, which expects
logits.
"""

from __future__ import annotations

from typing import Any

import keras

from nas_tf.spaces.user import HyperParameters, SpaceError, building, load_build

SPARSE = {"categorical_crossentropy": "sparse_categorical_crossentropy",
          "categorical_accuracy": "sparse_categorical_accuracy"}


def user_compiled(model) -> bool:
  """Whether the build function compiled the model (then the task leaves it so)."""
  return bool(getattr(model, "compiled", False)) and model.optimizer is not None


def outputs_probabilities(model) -> bool:
  """Whether the model ends in a softmax (Keras Tuner's examples do): served as it is."""
  last = model.layers[-1] if getattr(model, "layers", None) else None
  activation = getattr(last, "activation", None)
  return isinstance(last, keras.layers.Softmax) or getattr(activation, "__name__", "") == "softmax"


def _sparse(loss):
  if isinstance(loss, str):
    return SPARSE.get(loss, loss)
  if isinstance(loss, keras.losses.CategoricalCrossentropy):
    config = loss.get_config()
    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=config.get("from_logits", False))
  return loss


def _for_integer_labels(model) -> None:
  args = dict(getattr(getattr(model, "_compile_config", None), "config", None) or {})
  loss, metrics = args.get("loss"), args.get("metrics")
  sparse_loss = _sparse(loss)
  sparse_metrics = [SPARSE.get(m, m) if isinstance(m, str) else m for m in metrics or []]
  if sparse_loss is not loss or sparse_metrics != list(metrics or []):
    args.update(optimizer=model.optimizer, loss=sparse_loss, metrics=sparse_metrics or None)
    model.compile(**args)


def call_build(build, hp: HyperParameters, input_shape) -> keras.Model:
  """``build(hp)`` (a function or "module:function") under ``hp``, its model built for
  ``input_shape``: a child's (``build_classifier``) or a one-shot supernet's
  (``models/relaxed.py``)."""
  with building(hp):
    model = load_build(build)(hp)
  if not isinstance(model, keras.Model):
    raise SpaceError(f"{build} returned {type(model).__name__}, not a Keras model")
  if not model.built or not model.weights:  # a Sequential without Input, a subclassed model
    model(keras.ops.zeros((1, *input_shape)))  # (build() alone leaves a subclass's unmade)
  return model


def build_classifier(arch: dict[str, Any], input_shape=(32, 32, 3), num_classes: int = 10,
                     weight_decay: float = 0.0, width: float = 1.0) -> keras.Model:
  """``build_model(hp)`` of ``arch``'s values, built for ``input_shape``."""
  model = call_build(arch["build"], HyperParameters(arch["values"]), input_shape)
  if user_compiled(model):
    _for_integer_labels(model)
  return model


def proxy_view(model: keras.Model) -> keras.Model:
  """Your model as training-free proxies read it: its functional graph, ending in logits (a
  final softmax left out, as the authors' networks end; the same weights)."""
  if not getattr(model, "inputs", None):
    raise SpaceError("training-free scores read a functional or Sequential model's layers; "
                     "your build function returns a subclassed model")
  if not outputs_probabilities(model):
    return model
  last = model.layers[-1]

  def clone(layer):
    if layer is last and isinstance(layer, keras.layers.Softmax):
      return keras.layers.Identity(name=layer.name)
    config = layer.get_config()
    if layer is last:
      config["activation"] = "linear"
    return layer.__class__.from_config(config)
  twin = keras.models.clone_model(model, clone_function=clone)
  twin.set_weights(model.get_weights())
  return twin
