"""CIFAR-10 CNN search: the NAS-RL macro space, generated Keras children, accuracy reward."""

from __future__ import annotations

from typing import Any

import ml_collections

from nas_tf import config as config_lib
from nas_tf.data import cifar10
from nas_tf.search_space import CNNSearchSpace

# Keras, the child builder and the tf.data pipeline are imported where they are used, so that
# ``prepare`` reports bad data before TensorFlow starts (seconds on a laptop).


class Cifar10Task:
  """build_space / build_inputs / build_model / train_child for the CNN search."""

  name = "cifar10"
  metric = "val_accuracy"  # what "best" means in logs and best.json
  higher_is_better = True

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.space = self.build_space()
    self._split = None
    self._arrays = None

  def build_space(self) -> CNNSearchSpace:
    s = self.config.space
    return CNNSearchSpace(s.filter_heights, s.filter_widths, s.num_filters, s.strides,
                          s.search_strides)

  def prepare(self) -> None:
    """Loads and splits the data once per search (fails fast on bad data)."""
    d = self.config.data
    self._arrays = cifar10.load(d.source)
    self._split = cifar10.split(self._arrays, d.val_fraction, self.config.seed,
                                d.max_train_examples, d.max_val_examples)

  @property
  def prepared(self) -> bool:
    return self._split is not None

  @property
  def data_summary(self) -> str:
    s = self._split
    return f"{len(s.train_labels)} train / {len(s.val_labels)} validation images"

  def depth_at(self, child_index: int) -> int:
    from nas_tf.search import depth_at
    return depth_at(self.config, child_index)

  def settings(self, final: bool = False) -> ml_collections.ConfigDict:
    """The child's training settings: ``child.*``, overridden by ``final.*`` for the final
    training of a found architecture."""
    return config_lib.child_settings(self.config, final)

  def build_inputs(self, seed: int, c: ml_collections.ConfigDict | None = None):
    from nas_tf.data import pipeline
    c = c or self.config.child
    s = self._split
    train = pipeline.train_dataset(s.train_images, s.train_labels, c.batch_size, seed,
                                   augment=self.config.data.augment)
    val = pipeline.eval_dataset(s.val_images, s.val_labels, c.eval_batch_size)
    return train, val

  def build_model(self, arch: dict[str, Any], c: ml_collections.ConfigDict | None = None):
    c = c or self.config.child
    if arch.get("space") == "enas_macro":  # found by ENAS: its own stand-alone builder
      from nas_tf import enas
      return enas.build_child(arch, cifar10.IMAGE_SHAPE, cifar10.NUM_CLASSES, c.weight_decay,
                              width=c.get("width", 1.0))
    from nas_tf import child_cnn
    return child_cnn.build_cnn(arch, cifar10.IMAGE_SHAPE, cifar10.NUM_CLASSES, c.weight_decay,
                               width=c.get("width", 1.0))

  def compile_model(self, model, c: ml_collections.ConfigDict) -> None:
    from nas_tf import child_trainer
    steps = -(-len(self._split.train_labels) // c.batch_size) * c.epochs
    child_trainer.compile_classifier(model, c.learning_rate, c.momentum, c.nesterov, steps,
                                     c.lr_schedule, c.jit_compile)

  def fit(self, model, train, val, c: ml_collections.ConfigDict, callbacks=(),
          initial_epoch: int = 0):
    """Trains; returns the validation accuracy of each epoch run now, and step timing."""
    from nas_tf import child_trainer
    return child_trainer.fit_classifier(model, train, val, c.epochs, c.timeout_s or None,
                                        callbacks, initial_epoch)

  @staticmethod
  def epoch_metric(logs: dict[str, float]) -> float:
    return float(logs["val_accuracy"])

  test_metric = "test_accuracy"

  def evaluate_test(self, model, c: ml_collections.ConfigDict) -> float:
    """Accuracy on the CIFAR-10 test split (never seen by the search)."""
    from nas_tf.data import pipeline
    a = self._arrays
    test = pipeline.eval_dataset(a.test_images, a.test_labels, c.eval_batch_size)
    return float(model.evaluate(test, verbose=0, return_dict=True)["accuracy"])

  def train_child(self, arch: dict[str, Any], seed: int,
                  weights_path: str | None = None) -> dict[str, Any]:
    """Builds, trains and scores one child; returns its metrics (raises on failure)."""
    from nas_tf import child_trainer
    model, curve, timing = child_trainer.train_and_save(self, arch, seed, weights_path)
    reward = child_trainer.reward_from_curve(curve, self.config.reward.window,
                                             self.config.reward.exponent)
    return {"val_accuracy": max(curve[-self.config.reward.window:]), "reward": reward,
            "val_curve": [round(a, 5) for a in curve], "params": int(model.count_params()),
            **timing}

