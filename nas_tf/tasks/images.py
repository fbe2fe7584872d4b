"""Image classification on your own data (``nas-tf search images``): a tensorflow-datasets
name, a folder of class subfolders or an .npz (``nas_tf.data.images``). Everything CIFAR-10
searches does (every CNN space and strategy, train, export, show) with the input shape,
the classes and the normalization taken from the data."""

from __future__ import annotations

import hashlib

import ml_collections

from nas_tf.data import cifar10, images
from nas_tf.tasks.cifar10 import Cifar10Task


class ImagesTask(Cifar10Task):
  name = "images"
  serving_needs_data = True  # the input shape, the classes and the normalization

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    self.class_names: list[str] = []

  def prepare(self) -> None:
    d = self.config.data
    self._arrays = images.load(str(d.source), d.get("image_size", 0), d.get("splits", ""))
    self.class_names = list(self._arrays.class_names)
    self.num_classes = len(self.class_names)
    self.input_shape = tuple(int(k) for k in self._arrays.train_images.shape[1:])
    self.stats = images.channel_statistics(self._arrays.train_images)
    a = self._arrays
    if a.val_labels is not None:  # the validation split given with the data
      n, m = d.max_train_examples or None, d.max_val_examples or None
      self._split = cifar10.Split(a.train_images[:n], a.train_labels[:n],
                                  a.val_images[:m], a.val_labels[:m])
    else:
      self._split = cifar10.split(a, d.val_fraction, self.config.seed, d.max_train_examples,
                                  d.max_val_examples)
    self._check_batch_sizes()

  @property
  def data_summary(self) -> str:
    h, w, c = self.input_shape
    return (f"{super().data_summary}, {h}x{w}x{c}, {self.num_classes} classes "
            f"({', '.join(self.class_names[:5])}{', ...' if self.num_classes > 5 else ''})")

  def data_fingerprint(self) -> str:
    digest = hashlib.sha1(super().data_fingerprint().encode())
    digest.update("\n".join(self.class_names).encode())
    if self._arrays.val_labels is not None:
      digest.update(self._arrays.val_images.tobytes() + self._arrays.val_labels.tobytes())
    return digest.hexdigest()

  def evaluate_test(self, model, c: ml_collections.ConfigDict) -> float:
    """Test accuracy; NaN when the data has no test split."""
    if not len(self._arrays.test_labels):
      return float("nan")
    return super().evaluate_test(model, c)

  def serving_files(self) -> dict[str, str]:
    """The class names beside the SavedModel: line k names class k."""
    return {"classes.txt": "\n".join(self.class_names) + "\n"}
