"""CIFAR-10 image classification: CNN children of the task's space (the NAS-RL macro space,
stacked cells, or ENAS's), accuracy reward, and the shared-weights hooks of one-shot
strategies."""

from __future__ import annotations

import hashlib
from typing import Any

import ml_collections

from nas_tf import config as config_lib
from nas_tf.config import ConfigError
from nas_tf.data import cifar10
from nas_tf.tasks.base import Task
from nas_tf.tasks.objective import COSTS

# Keras, the child builders and the tf.data pipeline are imported where they are used, so
# that ``prepare`` reports bad data before TensorFlow starts (seconds on a laptop).


class Cifar10Task(Task):
  """build_inputs / build_model / train_child for image-classification searches."""

  name = "cifar10"
  metric = "val_accuracy"
  higher_is_better = True
  test_metric = "test_accuracy"
  input_shape = cifar10.IMAGE_SHAPE
  num_classes = cifar10.NUM_CLASSES
  stats = (cifar10.MEAN, cifar10.STD)  # per-channel normalization, pixel units
  cost_names = COSTS

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    self._split = None
    self._arrays = None

  def prepare(self) -> None:
    d = self.config.data
    self._arrays = cifar10.load(d.source)
    self._split = cifar10.split(self._arrays, d.val_fraction, self.config.seed,
                                d.max_train_examples, d.max_val_examples)
    self._check_batch_sizes()

  def _check_batch_sizes(self) -> None:
    """The data-relative bounds of ``nas_tf.schema``: each batch fits in the split it batches,
    and a cutout leaves some of the image."""
    train, val = len(self._split.train_labels), len(self._split.val_labels)
    splits = {f"{block}.batch_size": (train, f"the training split ({train} images)")
              for block in ("child", "final")}
    if self.config.search.strategy == "darts":  # weights and architecture take a half each
      half = (train + val) // 2
      splits["darts.batch_size"] = (half, f"each half of the {train + val} training images "
                                          f"({half}), which DARTS splits between w and alpha")
    for key, (size, what) in splits.items():
      value = config_lib.value_at(self.config, key)
      if value is not None and value > size:
        raise ConfigError(f"{key} {value} is larger than {what}")
    side = max(self.input_shape[:2])
    for block in ("child", "final"):  # a square centred anywhere in the image, clipped
      cutout = self.config.get(block, {}).get("cutout", 0)
      if cutout >= 2 * side:
        raise ConfigError(f"{block}.cutout {cutout} erases the whole {side}-pixel images "
                          "wherever it falls (it must be under twice their side)")

  @property
  def prepared(self) -> bool:
    return self._split is not None

  @property
  def data_summary(self) -> str:
    s = self._split
    return f"{len(s.train_labels)} train / {len(s.val_labels)} validation images"

  def data_fingerprint(self) -> str:
    a = self._arrays
    digest = hashlib.sha1()
    for array in (a.train_images, a.train_labels, a.test_images, a.test_labels):
      digest.update(array.tobytes())
    return digest.hexdigest()

  def num_examples(self, split: str = "train") -> int:
    return len(self._split.train_labels if split == "train" else self._split.val_labels)

  # -- children --------------------------------------------------------------------------------
  def build_inputs(self, seed: int, c: ml_collections.ConfigDict | None = None,
                   first_epoch: int = 0):
    """Training batches from epoch ``first_epoch`` on (a resumed training gets the batches of
    an uninterrupted one), and the validation split."""
    from nas_tf.data import pipeline
    c = c or self.config.child
    s = self._split
    train = pipeline.train_dataset(s.train_images, s.train_labels, c.batch_size, seed,
                                   augment=self.config.data.augment, first_epoch=first_epoch,
                                   cutout=c.get("cutout", 0), stats=self.stats)
    val = pipeline.eval_dataset(s.val_images, s.val_labels, c.eval_batch_size, self.stats)
    return train, val

  def build_model(self, arch: dict[str, Any], c: ml_collections.ConfigDict | None = None):
    c = c or self.config.child
    models = self.models(arch)
    # Options of this space's networks (cells: N, C, drop-path, auxiliary head).
    options = {k: c[k] for k in getattr(models, "OPTIONS", ()) if k in c}
    return models.build_classifier(arch, self.input_shape, self.num_classes, c.weight_decay,
                                   width=c.get("width", 1.0), **options)

  def compile_model(self, model, c: ml_collections.ConfigDict) -> None:
    from nas_tf.data import pipeline
    from nas_tf.models.user import user_compiled
    from nas_tf.tasks import training
    if user_compiled(model):  # your build function's optimizer, loss and metrics
      return
    per_epoch = pipeline.steps_per_epoch(self.num_examples(), c.batch_size)
    training.compile_classifier(model, c.learning_rate, c.momentum, c.nesterov,
                                per_epoch * c.epochs, c.lr_schedule, c.jit_compile,
                                c.get("clip_norm", 0.0), per_epoch,
                                (c.get("learning_rate_min", 0.0), c.get("lr_restart_epochs", 10),
                                 c.get("lr_restart_mul", 2.0)))

  def fit(self, model, train, val, c: ml_collections.ConfigDict, callbacks=(),
          initial_epoch: int = 0):
    """Trains; returns the validation accuracy of each epoch run now, and step timing. A
    search child (no callbacks, from epoch 0) trains in ``lean_fit``'s loop: the same
    numbers as ``model.fit``, a third of its tracing."""
    from nas_tf.data import pipeline
    from nas_tf.tasks import lean_fit, training
    steps = pipeline.steps_per_epoch(self.num_examples(), c.batch_size)
    schedule = None
    if c.get("drop_path", 0.0) > 0:
      from nas_tf.models.cell import DropPathSchedule
      schedule = DropPathSchedule(c.drop_path, c.epochs)
      schedule.set_model(model)
    if not callbacks and not initial_epoch and lean_fit.unsupported(model) is None:
      return lean_fit.fit(model, train, val, c.epochs, steps, c.timeout_s or None,
                          schedule and schedule.on_epoch_begin)
    callbacks = [schedule, *callbacks] if schedule else callbacks
    return training.fit_classifier(model, train, val, c.epochs, c.timeout_s or None,
                                   callbacks, initial_epoch, steps)

  @staticmethod
  def epoch_metric(logs: dict[str, float]) -> float:
    return float(logs["val_accuracy"])

  def evaluate_test(self, model, c: ml_collections.ConfigDict) -> float:
    """Accuracy on the CIFAR-10 test split (never seen by the search)."""
    from nas_tf.data import pipeline
    a = self._arrays
    test = pipeline.eval_dataset(a.test_images, a.test_labels, c.eval_batch_size, self.stats)
    return float(model.evaluate(test, verbose=0, return_dict=True)["accuracy"])

  def train_child(self, arch: dict[str, Any], seed: int,
                  weights_path: str | None = None) -> dict[str, Any]:
    from nas_tf.tasks import training
    _, curve, fields = training.train_and_save(self, arch, seed, weights_path)
    reward = training.reward_from_curve(curve, self.config.reward.window,
                                        self.config.reward.exponent)
    return {"val_accuracy": max(curve[-self.config.reward.window:]), "reward": reward,
            "val_curve": [round(a, 5) for a in curve], **fields}

  def reward_of(self, value: float) -> float:
    return float(value) ** self.config.reward.exponent

  def serving_models(self, arch: dict[str, Any], weights: str, settings) -> dict[str, Any]:
    """uint8 images -> class probabilities, normalization inside the model."""
    import keras
    import tensorflow as tf
    from nas_tf.models.layers import Standardize
    child = self.build_model(arch, settings)
    child.load_weights(weights)
    images = keras.Input(self.input_shape, dtype="uint8", name="images")
    x = Standardize(*self.stats, name="standardize")(images)
    from nas_tf.models.user import outputs_probabilities
    head = keras.layers.Identity if outputs_probabilities(child) else keras.layers.Softmax
    probabilities = head(name="probabilities")(child(x))
    model = keras.Model(images, probabilities, name="nas_tf_cnn")
    return {"model": (model, tf.TensorSpec([None, *self.input_shape], tf.uint8,
                                            name="images"),
                      {"input": f"images: uint8 [N, {', '.join(map(str, self.input_shape))}]",
                       "output": f"class probabilities [N, {self.num_classes}]"})}

  # -- one-shot hooks: shared weights, one minibatch per step ----------------------------------
  def proxy_data(self, family: str = "zero_cost"):
    s = self._split  # normalized as this task's children see their images
    return s.train_images, s.train_labels, self.stats

  def input_spec(self):
    """(images, labels) TensorSpecs of a minibatch."""
    import tensorflow as tf
    return (tf.TensorSpec([None, *self.input_shape], tf.float32),
            tf.TensorSpec([None], tf.int32))

  def shared_data(self, split: str, batch_size: int, seed: int | None = None,
                  part: tuple[int, int] = (0, 1), training: bool | None = None):
    """One pass over ``split`` ("train", "val", or "train+val": the whole training set, as
    DARTS splits it): training batches (``training``, the default except for "val") shuffled
    and augmented from ``seed``; otherwise batches in order, or with a ``seed`` shuffled (full
    batches only, reshuffled on every pass: reward minibatches). ``part=(k, n)``: only the
    k-th of n equal contiguous parts of the split (DARTS trains weights on the first half
    and the architecture on the second)."""
    import numpy as np
    from nas_tf.data import pipeline
    s = self._split
    if split not in ("train", "val", "train+val"):
      raise ValueError(f"unknown split {split!r} (train, val, train+val)")
    images, labels = (s.train_images, s.train_labels) if split == "train" else (
        s.val_images, s.val_labels)
    if split == "train+val":
      images = np.concatenate([s.train_images, s.val_images])
      labels = np.concatenate([s.train_labels, s.val_labels])
    k, n = part
    bounds = [len(labels) * i // n for i in range(n + 1)]
    images, labels = images[bounds[k]:bounds[k + 1]], labels[bounds[k]:bounds[k + 1]]
    if training is None:
      training = split != "val"
    if training:
      return pipeline.train_dataset(images, labels, batch_size, seed,
                                    augment=self.config.data.augment, num_epochs=1,
                                    stats=self.stats)
    if seed is not None:
      return pipeline.shuffled_eval_dataset(images, labels, batch_size, seed, self.stats)
    return pipeline.eval_dataset(images, labels, batch_size, self.stats)

  def shared_train_step(self, model, optimizer, images, labels, weight_decay: float, *arch):
    """One SGD step of ``model(images, *arch)``; returns (mean loss, correct count, images)."""
    import tensorflow as tf
    from nas_tf.tasks import shared_steps
    loss, correct = shared_steps.classifier_train_step(model, optimizer, images, labels,
                                                       weight_decay, arch)
    return loss, correct, tf.shape(labels)[0]

  def shared_steps(self, batch_size: int) -> int:
    """Minibatches in one pass of ``shared_data("train", batch_size)``."""
    from nas_tf.data import pipeline
    return pipeline.steps_per_epoch(self.num_examples("train"), batch_size)

  def shared_result(self, score: float, count: int) -> dict[str, float]:
    """The metric and the reward of summed ``shared_eval_step`` scores over ``count``
    examples: accuracy, and accuracy."""
    accuracy = score / max(count, 1)
    return {self.metric: accuracy, "reward": accuracy}

  def shared_eval_step(self, model, images, labels, *arch):
    """(score, count) of a batch: the correct predictions of ``model(images, *arch)`` and the
    images. BN uses its moving statistics (ENAS macro: ``general_child.py`` build_valid_rl
    scores with is_training=False), or the batch's when the supernet says so (ENAS micro,
    ``scores_with_batch_statistics``; its moving averages then move, as in ENAS)."""
    import tensorflow as tf
    from nas_tf.tasks import shared_steps
    batch_statistics = getattr(model, "scores_with_batch_statistics", False)
    return (shared_steps.correct_count(model(images, *arch, training=batch_statistics), labels),
            tf.shape(labels)[0])
