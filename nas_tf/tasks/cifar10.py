"""CIFAR-10 CNN search: the NAS-RL macro space, generated Keras children, accuracy reward."""

from __future__ import annotations

import time
from typing import Any

import ml_collections

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

  def build_space(self) -> CNNSearchSpace:
    s = self.config.space
    return CNNSearchSpace(s.filter_heights, s.filter_widths, s.num_filters, s.strides,
                          s.search_strides)

  def prepare(self) -> None:
    """Loads and splits the data once per search (fails fast on bad data)."""
    d = self.config.data
    arrays = cifar10.load(d.source)
    self._split = cifar10.split(arrays, d.val_fraction, self.config.seed, d.max_train_examples,
                                d.max_val_examples)

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

  def build_inputs(self, seed: int):
    from nas_tf.data import pipeline
    d, s = self.config.data, self._split
    train = pipeline.train_dataset(s.train_images, s.train_labels, self.config.child.batch_size,
                                  seed, augment=d.augment)
    val = pipeline.eval_dataset(s.val_images, s.val_labels, self.config.child.eval_batch_size)
    return train, val

  def build_model(self, arch: dict[str, Any]):
    from nas_tf import child_cnn
    return child_cnn.build_cnn(arch, cifar10.IMAGE_SHAPE, cifar10.NUM_CLASSES,
                               self.config.child.weight_decay)

  def train_child(self, arch: dict[str, Any], seed: int) -> dict[str, Any]:
    """Builds, trains and scores one child; returns its metrics (raises on failure)."""
    import keras
    from nas_tf import child_trainer
    c = self.config.child
    started = time.perf_counter()
    keras.utils.set_random_seed(seed)
    train, val = self.build_inputs(seed)
    model = self.build_model(arch)
    steps = -(-len(self._split.train_labels) // c.batch_size) * c.epochs
    child_trainer.compile_classifier(model, c.learning_rate, c.momentum, c.nesterov, steps,
                                     c.lr_schedule, c.jit_compile)
    built = time.perf_counter()
    curve, timing = child_trainer.fit_classifier(model, train, val, c.epochs, c.timeout_s or None)
    trained = time.perf_counter()
    reward = child_trainer.reward_from_curve(curve, self.config.reward.window,
                                             self.config.reward.exponent)
    return {"val_accuracy": max(curve[-self.config.reward.window:]), "reward": reward,
            "val_curve": [round(a, 5) for a in curve], "params": int(model.count_params()),
            **child_trainer.timing_fields(started, built, trained, timing)}
