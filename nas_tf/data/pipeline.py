"""tf.data input pipelines for image children: seeded shuffling, augmentation,
per-channel normalization, batching and prefetch."""

from __future__ import annotations

import os

import tensorflow as tf

from nas_tf.data import cifar10


def normalize(images):
  return (tf.cast(images, tf.float32) - cifar10.MEAN) / cifar10.STD


def _augment(image, seed):
  # Pad by 4 and take a random 32x32 crop, then a random horizontal flip (stateless: the
  # seeds are a function of the search seed, the epoch and the example).
  image = tf.pad(image, [[4, 4], [4, 4], [0, 0]], mode="CONSTANT")
  image = tf.image.stateless_random_crop(image, cifar10.IMAGE_SHAPE, seed=seed[:2])
  return tf.image.stateless_random_flip_left_right(image, seed=seed[2:])


def train_dataset(images, labels, batch_size: int, seed: int, augment: bool = True,
                  first_epoch: int = 0, num_epochs: int | None = None):
  """Shuffled, optionally augmented, normalized batches, epoch after epoch (``num_epochs``
  of them, or without end: pass ``steps_per_epoch`` to ``fit``).

  Epoch e's order and augmentation are a function of (``seed``, e) alone, so a training
  resumed at epoch k (``first_epoch=k``) sees exactly the batches an uninterrupted one
  would."""
  n = len(labels)
  images, labels = tf.constant(images), tf.constant(labels)

  def epoch(e):
    key = tf.stack([tf.constant(seed, tf.int64), e])
    order = tf.argsort(tf.random.stateless_uniform([n], seed=key))
    ds = tf.data.Dataset.from_tensor_slices(order)
    if augment:
      # Parallel but deterministic: the same seed gives the same batches, in the same order.
      ds = ds.map(lambda i: (_augment(tf.gather(images, i), tf.cast(
          tf.random.stateless_uniform([4], key + tf.cast(i + 1, tf.int64) * 1_000_003,
                                      maxval=2**31 - 1, dtype=tf.int64), tf.int32)),
                             tf.gather(labels, i)),
                  num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
      ds = ds.map(lambda i: (tf.gather(images, i), tf.gather(labels, i)))
    return ds.batch(batch_size)

  last = first_epoch + num_epochs if num_epochs is not None else 2**62
  ds = tf.data.Dataset.range(first_epoch, last).flat_map(epoch)
  ds = ds.map(lambda x, y: (normalize(x), y), num_parallel_calls=tf.data.AUTOTUNE)
  return _within_thread_share(ds.prefetch(tf.data.AUTOTUNE))


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
  return -(-num_examples // batch_size)


def _within_thread_share(ds):
  """A worker given N threads (executor.threads_per_worker sets TF_NUM_INTRAOP_THREADS) keeps
  tf.data to N threads too; otherwise each worker's pipeline would use every core."""
  threads = int(os.environ.get("TF_NUM_INTRAOP_THREADS", "0") or 0)
  if threads:
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    ds = ds.with_options(options)
  return ds


def eval_dataset(images, labels, batch_size: int):
  ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)
  return _within_thread_share(
      ds.map(lambda x, y: (normalize(x), y)).cache().prefetch(tf.data.AUTOTUNE))
