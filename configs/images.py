"""Image classification on your own images (``nas-tf search images``): the CIFAR-10 config
(same presets, spaces and strategies) with the data taken from ``data.source``.

    nas-tf search images --config=configs/images.py:smoke --config.data.source=SOURCE

SOURCE: ``tfds:NAME`` (any tensorflow-datasets image classification dataset), a folder with
one subfolder per class (or ``train/`` and ``test/`` subfolders holding them), or an .npz
with ``x_train, y_train[, x_test, y_test, class_names]``.
"""

from nas_tf.usage import config_module

_cifar10 = config_module("cifar10")
PRESETS, EXPECTED = _cifar10.PRESETS, _cifar10.EXPECTED


def get_config(preset: str = "auto"):
  c = _cifar10.get_config(preset)
  c.task = "images"
  c.data.source = ""        # required: tfds:NAME, a class-folder tree or an .npz
  c.data.image_size = 0     # resize every image to this square side (0: keep; one size needed)
  c.data.splits = ""        # tfds: "train_split,test_split" (default train,test)
  return c
