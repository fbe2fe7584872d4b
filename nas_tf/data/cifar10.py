"""CIFAR-10 readers: tensorflow-datasets, the python-version tarball or its extracted folder,
or synthetic images; and the seeded train/validation split.

Plain numpy, no TensorFlow import: bad data is reported before TensorFlow starts. The tf.data
input pipeline is in ``nas_tf.data.pipeline``.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import tarfile
import zlib
from typing import BinaryIO, Callable

import numpy as np

from nas_tf.data import DataError

IMAGE_SHAPE = (32, 32, 3)
NUM_CLASSES = 10
# Per-channel statistics of the CIFAR-10 training set, in pixel units.
MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32) * 255.0
STD = np.array([0.2470, 0.2435, 0.2616], np.float32) * 255.0
_FOLDER = "cifar-10-batches-py"
_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST_FILE = "test_batch"


@dataclasses.dataclass
class Cifar10Arrays:
  """uint8 images [N, 32, 32, 3] and int32 labels [N]."""
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray


def _read_batch(stream: BinaryIO, where: str) -> tuple[np.ndarray, np.ndarray]:
  try:
    batch = pickle.load(stream, encoding="bytes")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int32)
  except (EOFError, zlib.error, tarfile.ReadError) as e:
    raise DataError(f"{where}: truncated or damaged ({e}); download it "
                    "again") from None
  except Exception as e:  # pickle raises many types on foreign files
    raise DataError(f"{where}: not a CIFAR-10 python batch ({e})") from None
  if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
    raise DataError(f"{where}: expected data [N, 3072] and N labels, got data {data.shape} "
                    f"and {len(labels)} labels")
  if len(labels) and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
    raise DataError(f"{where}: labels outside 0..9")
  # Rows are channel-major (1024 red, 1024 green, 1024 blue).
  return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _assemble(read: Callable[[str], tuple[np.ndarray, np.ndarray]]) -> Cifar10Arrays:
  train = [read(name) for name in _TRAIN_FILES]
  test_images, test_labels = read(_TEST_FILE)
  return Cifar10Arrays(np.concatenate([b[0] for b in train]),
                       np.concatenate([b[1] for b in train]), test_images, test_labels)


def _load_tarball(path: str) -> Cifar10Arrays:
  try:
    archive = tarfile.open(path, "r:*")
  except tarfile.ReadError:  # tarfile lists every compression it tried, on six lines
    raise DataError(f"{path}: not a tar archive, plain or compressed (expected "
                    "cifar-10-python.tar.gz)") from None
  except (OSError, tarfile.TarError) as e:
    raise DataError(f"{path}: cannot open as a tar archive ({e})") from None
  try:
    with archive:
      members = {os.path.basename(m.name): m for m in archive.getmembers() if m.isfile()}

      def read(name):
        if name not in members:
          raise DataError(f"{path}: archive has no {_FOLDER}/{name}; is this "
                          "cifar-10-python.tar.gz?")
        return _read_batch(archive.extractfile(members[name]), f"{path}:{name}")
      return _assemble(read)
  except (EOFError, OSError, tarfile.TarError, zlib.error) as e:  # a cut-short download
    raise DataError(f"{path}: truncated or damaged archive ("
                    f"{e or 'ends early'}); download it again") from None


def _load_folder(path: str) -> Cifar10Arrays:
  folder = os.path.join(path, _FOLDER) if os.path.isdir(os.path.join(path, _FOLDER)) else path
  if not os.access(folder, os.R_OK | os.X_OK):
    raise DataError(f"{folder}: permission denied (cannot list the folder)")

  def read(name):
    file = os.path.join(folder, name)
    if not os.path.isfile(file):
      raise DataError(f"{folder}: missing {name}; expected the extracted {_FOLDER} folder")
    try:
      with open(file, "rb") as f:
        return _read_batch(f, file)
    except PermissionError:
      raise DataError(f"{file}: permission denied") from None
  return _assemble(read)


# Where tensorflow-datasets downloads CIFAR-10 from (its cifar10 builder's URL).
TFDS_DOWNLOAD = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
_LOCAL_HINT = ("pass --config.data.source=/path/to/cifar-10-python.tar.gz (or its extracted "
               f"{_FOLDER} folder)")


def _reachable(url: str, timeout: float = 5.0) -> str | None:
  """None when ``url``'s host accepts a connection, else why not (a few seconds at most,
  instead of tfds' ten retries with backoff)."""
  import socket
  from urllib.parse import urlparse
  parsed = urlparse(url)
  try:
    socket.create_connection((parsed.hostname, parsed.port or 443), timeout=timeout).close()
    return None
  except OSError as e:
    return str(e.strerror or e) or type(e).__name__


def _load_tfds(name: str = "cifar10") -> Cifar10Arrays:
  def load(download: bool):
    import tensorflow_datasets as tfds  # imported lazily: slow, and unused offline
    if download:
      tfds.disable_progress_bar()
    splits = tfds.load(name, split=["train", "test"], as_supervised=True, download=download)
    arrays = []
    for split in splits:  # whole splits as arrays, in tfds' order
      images, labels = zip(*((x, y) for x, y in tfds.as_numpy(split.batch(10_000))))
      arrays += [np.concatenate(images).astype(np.uint8),
                 np.concatenate(labels).astype(np.int32)]
    return Cifar10Arrays(*arrays)

  try:
    try:
      return load(download=False)  # from the TFDS data directory, without the network
    except AssertionError:  # tfds: "could not find data in <data_dir>"
      why = _reachable(TFDS_DOWNLOAD)
      if why is not None:
        host = TFDS_DOWNLOAD.split("/")[2]
        raise DataError(f"tfds: {name} is not in the TFDS data directory and its download "
                        f"host {host} cannot be reached ({why}); {_LOCAL_HINT}") from None
      return load(download=True)
  except ImportError as e:  # tensorflow-datasets itself, or a module one of its builders needs
    raise DataError(f"tfds: tensorflow-datasets cannot load {name}: missing module "
                    f"{e.name!r} (reinstall: pip install -r requirements.txt); or "
                    f"{_LOCAL_HINT}") from None
  except DataError:
    raise
  except Exception as e:
    raise DataError(f"tfds: cannot load {name} ({type(e).__name__}: "
                    f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}); "
                    f"{_LOCAL_HINT}") from None


def synthetic(num_train: int = 1000, num_test: int = 200, seed: int = 0) -> Cifar10Arrays:
  """Random images whose per-channel colour depends on the label, so a child can learn."""
  rng = np.random.default_rng(seed)
  palette = rng.uniform(40, 215, size=(NUM_CLASSES, 3))

  def make(n):
    labels = rng.integers(0, NUM_CLASSES, n).astype(np.int32)
    noise = rng.normal(0, 40, size=(n, *IMAGE_SHAPE))
    return np.clip(noise + palette[labels][:, None, None, :], 0, 255).astype(np.uint8), labels
  return Cifar10Arrays(*make(num_train), *make(num_test))


def load(source: str) -> Cifar10Arrays:
  """Loads CIFAR-10 from ``tfds``, ``synthetic``, a tarball path or an extracted folder."""
  if source == "tfds":
    return _load_tfds()
  if source == "synthetic":
    return synthetic()
  path = os.path.expanduser(source)
  if not os.path.exists(path):
    raise DataError(f"{source}: no such file or folder (expected cifar-10-python.tar.gz, "
                    f"its extracted {_FOLDER} folder, 'tfds' or 'synthetic')")
  if os.path.isdir(path):
    return _load_folder(path)
  if not os.access(path, os.R_OK):
    raise DataError(f"{source}: not readable")
  return _load_tarball(path)


@dataclasses.dataclass
class Split:
  train_images: np.ndarray
  train_labels: np.ndarray
  val_images: np.ndarray
  val_labels: np.ndarray


def split(arrays: Cifar10Arrays, val_fraction: float = 0.1, seed: int = 0,
          max_train: int = 0, max_val: int = 0) -> Split:
  """Seeded train/validation split of the training set (45k/5k at the default fraction).

  ``max_train``/``max_val`` (0 = all) take a subset of each side for small budgets.
  """
  if not 0.0 < val_fraction < 1.0:
    raise ValueError(f"data.val_fraction must be in (0, 1), got {val_fraction}")
  n = len(arrays.train_labels)
  order = np.random.default_rng(seed).permutation(n)
  n_val = max(1, int(round(n * val_fraction)))
  val_idx, train_idx = order[:n_val], order[n_val:]
  if max_train:
    train_idx = train_idx[:max_train]
  if max_val:
    val_idx = val_idx[:max_val]
  if len(train_idx) == 0:
    raise DataError(f"the training split is empty ({n} images, val_fraction {val_fraction})")
  return Split(arrays.train_images[train_idx], arrays.train_labels[train_idx],
               arrays.train_images[val_idx], arrays.train_labels[val_idx])
