import os

import numpy as np
import pytest

from nas_tf.data import DataError, cifar10, pipeline


def test_reads_real_format_tarball(cifar_tarball):
  path, written = cifar_tarball
  arrays = cifar10.load(path)
  assert arrays.train_images.shape == (100, 32, 32, 3)
  assert arrays.train_images.dtype == np.uint8
  np.testing.assert_array_equal(arrays.train_images[:20], written["data_batch_1"][0])
  np.testing.assert_array_equal(arrays.train_labels[20:40], written["data_batch_2"][1])
  np.testing.assert_array_equal(arrays.test_images, written["test_batch"][0])


def test_reads_extracted_folder(tmp_path):
  from conftest import write_cifar_folder
  folder, written = write_cifar_folder(str(tmp_path))
  for path in (folder, str(tmp_path)):  # the folder itself, or its parent
    arrays = cifar10.load(path)
    np.testing.assert_array_equal(arrays.test_labels, written["test_batch"][1])


@pytest.mark.parametrize("make, message", [
    (lambda d: os.path.join(d, "nope.tar.gz"), "no such file"),
    # tarfile's own error lists every compression it tried, on six lines: one line here.
    (lambda d: _write(d, "junk.tar.gz", b"not a tarball"), "not a tar archive, plain or "
                                                           "compressed"),
])
def test_bad_paths_fail_with_message_naming_them(tmp_path, make, message):
  path = make(str(tmp_path))
  with pytest.raises(DataError, match=message) as info:
    cifar10.load(path)
  assert path in str(info.value) and len(str(info.value).splitlines()) == 1


def test_malformed_batch_is_reported(tmp_path):
  from conftest import write_cifar_folder
  folder, _ = write_cifar_folder(str(tmp_path))
  _write(folder, "data_batch_3", b"garbage")
  with pytest.raises(DataError, match="data_batch_3: not a CIFAR-10 python batch"):
    cifar10.load(folder)


def test_split_is_seeded_and_sized():
  arrays = cifar10.synthetic(num_train=200)
  a = cifar10.split(arrays, 0.1, seed=3)
  b = cifar10.split(arrays, 0.1, seed=3)
  assert len(a.train_labels) == 180 and len(a.val_labels) == 20
  np.testing.assert_array_equal(a.val_images, b.val_images)
  c = cifar10.split(arrays, 0.1, seed=3, max_train=50, max_val=5)
  assert len(c.train_labels) == 50 and len(c.val_labels) == 5
  with pytest.raises(ValueError, match="val_fraction"):
    cifar10.split(arrays, 1.0)


def test_pipeline_shapes_normalization_and_reproducibility():
  arrays = cifar10.synthetic(num_train=64)
  x, y = next(iter(pipeline.train_dataset(arrays.train_images, arrays.train_labels, 16, seed=1)))
  x2, _ = next(iter(pipeline.train_dataset(arrays.train_images, arrays.train_labels, 16, seed=1)))
  assert x.shape == (16, 32, 32, 3) and y.shape == (16,)
  np.testing.assert_array_equal(x.numpy(), x2.numpy())
  ex, _ = next(iter(pipeline.eval_dataset(arrays.train_images, arrays.train_labels, 64)))
  assert abs(float(np.mean(ex))) < 1.0  # roughly centred per channel


def _write(directory, name, data):
  path = os.path.join(directory, name)
  with open(path, "wb") as f:
    f.write(data)
  return path


def test_each_epoch_is_a_function_of_seed_and_epoch_alone():
  arrays = cifar10.synthetic(num_train=100)
  x, y = arrays.train_images, arrays.train_labels
  full = list(pipeline.train_dataset(x, y, 32, seed=3, num_epochs=3))
  assert [int(b[0].shape[0]) for b in full] == [32, 32, 32, 4] * 3  # no batch spans epochs
  resumed = list(pipeline.train_dataset(x, y, 32, seed=3, first_epoch=2, num_epochs=1))
  for (a, _), (b, _) in zip(full[8:], resumed, strict=True):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert not np.array_equal(full[0][1].numpy(), full[4][1].numpy())  # reshuffled each epoch
  assert sorted(np.concatenate([b[1].numpy() for b in full[:4]]).tolist()) == sorted(y.tolist())


def test_batch_augmentation_is_an_exact_padded_crop_and_flip():
  import tensorflow as tf
  images = np.random.default_rng(0).integers(0, 256, (32, 32, 32, 3)).astype(np.uint8)
  out = pipeline._augment_batch(tf.constant(images), tf.constant([1, 2], tf.int64)).numpy()
  padded = np.pad(images.astype(np.float32), ((0, 0), (4, 4), (4, 4), (0, 0)))
  flips = 0
  for k in range(len(images)):
    windows = [padded[k, dy:dy + 32, dx:dx + 32] for dy in range(9) for dx in range(9)]
    plain = any(np.array_equal(w, out[k]) for w in windows)
    flipped = any(np.array_equal(w[:, ::-1], out[k]) for w in windows)
    assert plain or flipped, k
    flips += flipped and not plain
  assert 4 <= flips <= 28  # about half are flipped
