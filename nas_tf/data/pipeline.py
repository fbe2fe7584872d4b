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
  # per-example seeds come from the pipeline's seeded random stream).
  image = tf.pad(image, [[4, 4], [4, 4], [0, 0]], mode="CONSTANT")
  image = tf.image.stateless_random_crop(image, cifar10.IMAGE_SHAPE, seed=seed[:2])
  return tf.image.stateless_random_flip_left_right(image, seed=seed[2:])


def train_dataset(images, labels, batch_size: int, seed: int, augment: bool = True):
  """Shuffled, optionally augmented, normalized batches; reproducible from ``seed``."""
  ds = tf.data.Dataset.from_tensor_slices((images, labels))
  ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
  if augment:
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(4)
    # Parallel but deterministic: the same seed gives the same batches, in the same order.
    ds = tf.data.Dataset.zip(ds, seeds).map(
        lambda example, s: (_augment(example[0], tf.cast(s % (2**31 - 1), tf.int32)),
                            example[1]), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.batch(batch_size).map(lambda x, y: (normalize(x), y), num_parallel_calls=tf.data.AUTOTUNE)
  return _within_thread_share(ds.prefetch(tf.data.AUTOTUNE))


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
