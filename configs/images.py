"""Image classification on your own images (``nas-tf search images``): the CIFAR-10 config
(same presets, spaces and methods) with the data taken from ``data.source``.

    nas-tf search images --config=smoke --config.data.source=SOURCE

SOURCE: ``tfds:NAME`` (any tensorflow-datasets image classification dataset), a folder with
one subfolder per class (or ``train/`` and ``test/`` subfolders holding them), or an .npz
with ``x_train, y_train[, x_test, y_test, class_names]``.
"""

from nas_tf.presets import config_module

PRESETS = {
    "auto": "the default: gpu when GPUs are visible, else cpu",
    "paper": "NAS-RL's CIFAR-10 settings on your images: 12,800 children x 50 epochs, m=8",
    "default": "the same as paper (its earlier name)",
    "gpu": "a day's search on the visible GPUs: 800 children per GPU x 20 epochs",
    "cpu": "64 children on up to 2,000 of your images, 3 epochs each",
    "smoke": "8 small children on up to 1,000 of your images, 3 epochs each",
}


def adapt(c):
  """A CIFAR-10 config (``configs/cifar10.py`` or a method's, such as ``darts.py``) for your
  images: the same settings, the data from ``data.source``."""
  c.task = "images"
  c.data.source = ""        # required: tfds:NAME, a class-folder tree or an .npz
  c.data.image_size = 0     # resize every image to this square side (0: keep; one size needed)
  c.data.splits = ""        # tfds: "train_split,test_split" (default train,test)
  return c


def get_config(preset: str = "auto"):
  return adapt(config_module("cifar10").get_config(preset))
