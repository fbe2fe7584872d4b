"""Your own images: a tensorflow-datasets name, a folder of class subfolders, or an .npz.

- ``tfds:NAME``: any TFDS image-classification dataset (features ``image`` and ``label``),
  its train and test splits (or ``data.splits="train_split,test_split"``); class names from
  its metadata.
- A folder with one subfolder per class (Keras' ``image_dataset_from_directory``
  convention: class names are the sorted subfolder names; .png, .jpg, .jpeg, .bmp, .gif),
  or with ``train/`` and ``test/`` subfolders that each hold the class subfolders.
- An ``.npz`` with ``x_train, y_train`` and optionally ``x_test, y_test`` and
  ``class_names``; images [N, H, W] (grayscale) or [N, H, W, C], integer labels.

Images come back as uint8 [N, H, W, C] at one size (``data.image_size`` resizes every image
to a square side; otherwise all images must share one size). Plain numpy and Pillow (no
TensorFlow): bad data fails before TensorFlow starts, with one line naming the path.
"""

from __future__ import annotations

import dataclasses
import os
import sys

import numpy as np

from nas_tf.data import DataError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
CHANNELS = {"L": 1, "RGB": 3, "RGBA": 4}
SHOWN = 3  # files named in an error
MIN_SIDE = 8  # smaller images get a warning: three reductions leave a single pixel


@dataclasses.dataclass
class ImageArrays:
  """uint8 images [N, H, W, C], int32 labels; the test split may be empty; a validation
  split given with the data (an .npz's x_val, y_val) replaces the seeded one."""
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  class_names: list[str]
  val_images: np.ndarray | None = None
  val_labels: np.ndarray | None = None


def _names(paths, root: str) -> str:
  """The first few paths relative to ``root`` (class folder included: bird/007.png)."""
  shown = ", ".join(os.path.relpath(p, root) for p in paths[:SHOWN])
  return shown + (f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else "")


def _read_folder(root: str, image_size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
  from PIL import Image, UnidentifiedImageError
  classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
  if len(classes) < 2:
    raise DataError(f"{root}: found {len(classes)} class folder(s) "
                    f"({', '.join(classes) or 'none'}); need one subfolder per class, 2 or more")
  images, labels, broken, modes, sizes = [], [], [], {}, {}
  for label, name in enumerate(classes):
    folder = os.path.join(root, name)
    for file in sorted(os.listdir(folder)):
      path = os.path.join(folder, file)
      if not file.lower().endswith(EXTENSIONS):
        continue
      try:
        with Image.open(path) as image:
          image.load()
          mode = image.mode if image.mode in CHANNELS else (
              "RGBA" if "A" in image.getbands() else "RGB")
          image = image.convert(mode)
          if image_size:
            image = image.resize((image_size, image_size), Image.BILINEAR)
          array = np.asarray(image, np.uint8)
      except (OSError, UnidentifiedImageError, ValueError):
        broken.append(path)
        continue
      modes.setdefault(mode, []).append(path)
      sizes.setdefault(array.shape[:2], []).append(path)
      images.append(array.reshape(*array.shape[:2], CHANNELS[mode]))
      labels.append(label)
  if broken:
    raise DataError(f"{root}: {len(broken)} unreadable or corrupt image(s): "
                    f"{_names(broken, root)}")
  if len(modes) > 1:
    kinds = "; ".join(f"{CHANNELS[m]} channel(s): {_names(p, root)}"
                      for m, p in sorted(modes.items()))
    raise DataError(f"{root}: images have mixed channel counts ({kinds}); convert them to one")
  if len(sizes) > 1:
    kinds = "; ".join(f"{h}x{w}: {_names(p, root)}" for (h, w), p in sorted(sizes.items()))
    raise DataError(f"{root}: images have different sizes ({kinds}); set "
                    "--config.data.image_size=SIDE to resize them")
  if not images:
    raise DataError(f"{root}: no images ({', '.join(EXTENSIONS)}) in the class folders")
  return np.stack(images), np.array(labels, np.int32), classes


def _load_folder(path: str, image_size: int) -> ImageArrays:
  split_dirs = [os.path.join(path, s) for s in ("train", "test")]
  if os.path.isdir(split_dirs[0]):
    x, y, classes = _read_folder(split_dirs[0], image_size)
    if os.path.isdir(split_dirs[1]):
      xt, yt, test_classes = _read_folder(split_dirs[1], image_size)
      if test_classes != classes:
        raise DataError(f"{split_dirs[1]}: its class folders ({', '.join(test_classes)}) "
                        f"differ from train/'s ({', '.join(classes)})")
    else:
      xt, yt = x[:0], y[:0]
  else:
    x, y, classes = _read_folder(path, image_size)
    xt, yt = x[:0], y[:0]
  return ImageArrays(x, y, xt, yt, classes)


def _as_images(array: np.ndarray, what: str) -> np.ndarray:
  if array.ndim == 3:
    array = array[..., None]
  if array.ndim != 4 or array.shape[-1] not in (1, 3, 4):
    raise DataError(f"{what}: images must be [N, H, W] or [N, H, W, C] with C in 1, 3, 4, got "
                    f"shape {list(array.shape)}")
  if array.dtype == np.uint8 or not array.size:
    return array.astype(np.uint8)
  if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
    raise DataError(f"{what}: images must hold numbers, got {array.dtype}")
  if np.issubdtype(array.dtype, np.floating):
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
      raise DataError(f"{what}: {bad} of {array.size} pixel values are NaN or infinite")
  low, high = float(array.min()), float(array.max())
  if low < 0 or high > 255:
    raise DataError(f"{what}: pixel values span [{low:g}, {high:g}]; images must lie in "
                    "[0, 1] (floats) or [0, 255]")
  if np.issubdtype(array.dtype, np.floating) and high <= 1.0:
    array = array * 255.0  # [0, 1] floats
  return np.round(array).astype(np.uint8)


def _resize(images: np.ndarray, image_size: int) -> np.ndarray:
  if not image_size or images.shape[1:3] == (image_size, image_size):
    return images
  from PIL import Image
  squeeze = images.shape[-1] == 1
  out = [np.asarray(Image.fromarray(im[..., 0] if squeeze else im).resize(
      (image_size, image_size), Image.BILINEAR)) for im in images]
  return np.stack(out).reshape(len(images), image_size, image_size, images.shape[-1])


def _class_ids(labels: np.ndarray) -> np.ndarray:
  """Labels as class ids: one-hot rows (Keras Tuner's examples' ``to_categorical``) become
  their class; anything else is flattened and checked below."""
  if labels.ndim == 2 and labels.shape[1] > 1 and labels.size and \
      np.all((labels == 0) | (labels == 1)) and np.all(labels.sum(axis=1) == 1):
    return labels.argmax(axis=1).astype(np.int32)
  return labels.reshape(-1)


def _load_npz(path: str, image_size: int) -> ImageArrays:
  try:
    with np.load(path, allow_pickle=False) as data:
      arrays = {k: data[k] for k in data.files}
  except (OSError, ValueError) as e:
    raise DataError(f"{path}: not a readable .npz ({e})") from None
  missing = [k for k in ("x_train", "y_train") if k not in arrays]
  if missing:
    raise DataError(f"{path}: missing {', '.join(missing)} (has {', '.join(arrays) or 'none'})")
  x = _resize(_as_images(arrays["x_train"], f"{path}: x_train"), image_size)
  y = _class_ids(arrays["y_train"])
  def other(split):
    if f"x_{split}" not in arrays or f"y_{split}" not in arrays:
      return x[:0], y[:0]
    return (_resize(_as_images(arrays[f"x_{split}"], f"{path}: x_{split}"), image_size),
            _class_ids(arrays[f"y_{split}"]))
  (xt, yt), (xv, yv) = other("test"), other("val")
  for name, images, labels in (("train", x, y), ("test", xt, yt), ("val", xv, yv)):
    if len(images) != len(labels):
      raise DataError(f"{path}: x_{name} has {len(images)} images but y_{name} "
                      f"{len(labels)} labels")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
      raise DataError(f"{path}: y_{name} must hold integer class ids, got {labels.dtype}")
    if len(images) and images.shape[1:] != x.shape[1:]:
      raise DataError(f"{path}: x_{name} images are {list(images.shape[1:])}, x_train "
                      f"{list(x.shape[1:])}")
  names = [str(n) for n in arrays["class_names"]] if "class_names" in arrays else None
  num_classes = len(names) if names else int(y.max()) + 1 if y.size else 0
  for name, labels in (("y_train", y), ("y_test", yt), ("y_val", yv)):
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if bad.size:
      raise DataError(f"{path}: {name} has labels out of range 0..{num_classes - 1} "
                      f"(e.g. {int(bad[0])})")
  return ImageArrays(x, y.astype(np.int32), xt, yt.astype(np.int32),
                     names or [str(k) for k in range(num_classes)],
                     xv if len(yv) else None, yv.astype(np.int32) if len(yv) else None)


def _load_tfds(name: str, splits: str, image_size: int) -> ImageArrays:
  import tensorflow_datasets as tfds  # imported lazily: slow
  train_split, _, test_split = (splits or "train,test").partition(",")
  try:
    features = tfds.builder(name).info.features
    if "image" not in features or "label" not in features:
      raise DataError(f"tfds:{name}: not an image classification dataset (features "
                      f"{', '.join(features)}; need image and label)")
    out = []
    for split in (train_split, test_split):
      try:
        ds = tfds.load(name, split=split, as_supervised=True)
      except ValueError:  # no such split: required for training, optional for testing
        if split == train_split or splits:
          raise
        out += [out[0][:0], out[1][:0]]
        continue
      batches = list(tfds.as_numpy(ds.batch(10_000)))
      out += [_resize(_as_images(np.concatenate([b[0] for b in batches]), f"tfds:{name}"),
                      image_size), np.concatenate([b[1] for b in batches]).astype(np.int32)]
    return ImageArrays(*out, list(features["label"].names))
  except DataError:
    raise
  except Exception as e:  # unknown name, no network, a broken install
    raise DataError(f"tfds:{name}: cannot load ("
                    f"{str(e).strip().splitlines()[0] if str(e).strip() else ''})") from None


def load(source: str, image_size: int = 0, splits: str = "") -> ImageArrays:
  """The images of ``source`` (``tfds:NAME``, a class-folder tree or an .npz), checked."""
  if source.startswith("tfds:"):
    arrays = _load_tfds(source[5:], splits, image_size)
  else:
    path = os.path.expanduser(source)
    if not os.path.exists(path):
      raise DataError(f"{source}: no such file or folder (expected tfds:NAME, a folder of "
                      "class subfolders or an .npz)")
    if os.path.isdir(path):
      arrays = _load_folder(path, image_size)
    elif path.endswith(".npz"):
      arrays = _load_npz(path, image_size)
    else:
      raise DataError(f"{source}: not a folder or an .npz")
  if not len(arrays.train_labels):
    raise DataError(f"{source}: the training split is empty")
  if len(arrays.class_names) < 2:
    raise DataError(f"{source}: {len(arrays.class_names)} class(es); need 2 or more")
  counts = np.bincount(arrays.train_labels, minlength=len(arrays.class_names))
  few = [f"{name!r} {count}" for name, count in zip(arrays.class_names, counts) if count < 2]
  if few:  # a class seen once can be in training or validation, never both
    raise DataError(f"{source}: every class needs 2 or more training images; "
                    f"{', '.join(few[:5])}{' ...' if len(few) > 5 else ''}")
  height, width = arrays.train_images.shape[1:3]
  if min(height, width) < MIN_SIDE:
    print(f"nas-tf: warning: {source}: the images are {height}x{width}; the networks halve "
          f"them at each reduction, so under {MIN_SIDE}x{MIN_SIDE} little is left to learn "
          f"from (data.image_size={MIN_SIDE * 4} resizes them)", file=sys.stderr, flush=True)
  return arrays


def channel_statistics(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Per-channel mean and standard deviation in pixel units (the normalization)."""
  flat = images.reshape(-1, images.shape[-1]).astype(np.float64)
  return flat.mean(0).astype(np.float32), np.maximum(flat.std(0), 1e-3).astype(np.float32)
