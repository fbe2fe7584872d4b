"""The protocol of a task you write yourself, for your own data and objective.

Subclass ``KerasTask``, name the space it searches (``space_kind``: ``cnn``, ``cell`` or
``enas_macro``), and give the hooks the runner uses: ``prepare`` (load the data),
``build_inputs`` (train and validation datasets), ``build_model`` (a Keras model of an
architecture: ``self.models(arch).build_classifier`` builds the space's network with any
number of outputs) and ``compile_model``; set ``input_shape`` (what ``export`` serves) and
``metric`` (a key of Keras' validation
history, e.g. ``val_mse``) and ``higher_is_better``. ``fit`` and ``train_child`` have
defaults: the curve of ``metric`` over ``child.epochs``, and its best value as the metric
and the reward (negated when lower is better). Every strategy then searches for it, in this
process or in worker processes (which import the class by its module and name).
"""

from __future__ import annotations

import hashlib
from typing import Any

from nas_tf.tasks.base import Task
from nas_tf.tasks.objective import COSTS


class KerasTask(Task):
  space_kind = "cnn"
  # Measured on the model at batch 1 of ``input_shape`` (float32); a model with other inputs
  # overrides ``child_costs``.
  cost_names = COSTS

  def __init__(self, config):
    super().__init__(config)
    self._prepared = False

  def prepare(self) -> None:
    self._prepared = True

  @property
  def prepared(self) -> bool:
    return self._prepared

  @property
  def data_summary(self) -> str:
    return f"{type(self).__name__} data"

  def data_fingerprint(self) -> str:
    return hashlib.sha1(f"{type(self).__module__}.{type(self).__qualname__}".encode()).hexdigest()

  def build_inputs(self, seed: int):
    raise NotImplementedError

  def build_model(self, arch: dict[str, Any]):
    raise NotImplementedError

  def compile_model(self, model, c) -> None:
    raise NotImplementedError

  def fit(self, model, train, val, c):
    """Trains ``c.epochs`` epochs; returns the curve of ``metric`` and the step timing."""
    from nas_tf.tasks import training
    return training.fit_curve(model, train, val, c.epochs, self.metric, c.timeout_s or None)

  def serving_models(self, arch: dict[str, Any], weights: str, settings) -> dict[str, Any]:
    """The model as ``build_model`` makes it, float32 inputs of ``input_shape``."""
    import tensorflow as tf
    model = self.build_model(arch)
    model.load_weights(weights)
    shape = [None, *self.input_shape]
    return {"model": (model, tf.TensorSpec(shape, tf.float32, name="inputs"),
                      {"input": f"inputs: float32 {shape}", "output": "the model's output"})}

  def reward(self, value: float) -> float:
    return value if self.higher_is_better else -value

  def train_child(self, arch: dict[str, Any], seed: int,
                  weights_path: str | None = None) -> dict[str, Any]:
    from nas_tf.tasks import training
    _, curve, fields = training.train_and_save(self, arch, seed, weights_path)
    best = max(curve) if self.higher_is_better else min(curve)
    return {self.metric: best, "reward": self.reward(best), "val_curve": curve, **fields}

  def reward_of(self, value: float) -> float:
    return self.reward(value)
