"""tf.data input pipelines for image children: seeded shuffling, augmentation,
per-channel normalization, batching and prefetch."""

from __future__ import annotations

import os

import tensorflow as tf

from nas_tf.data import cifar10


CIFAR10_STATS = (cifar10.MEAN, cifar10.STD)


def normalize(images, stats=CIFAR10_STATS):
  """(pixels - mean) / std per channel; ``stats`` = (mean, std), in pixel units."""
  return (tf.cast(images, tf.float32) - stats[0]) / stats[1]


def _cutout(images, size: int, seed, mean=cifar10.MEAN):
  """Cutout (DeVries & Taylor 2017, as DARTS applies it): a ``size`` x ``size`` square at a
  uniform centre (clipped at the border) set to the mean pixel, i.e. zero once normalized."""
  n = tf.shape(images)[0]
  height, width = images.shape[1], images.shape[2]
  centres = tf.random.stateless_uniform([n, 2], seed=seed, maxval=height, dtype=tf.int32)
  ys, xs = tf.range(height)[None, :, None], tf.range(width)[None, None, :]
  cy, cx = centres[:, 0, None, None], centres[:, 1, None, None]
  inside = ((ys >= cy - size // 2) & (ys < cy + size - size // 2)
            & (xs >= cx - size // 2) & (xs < cx + size - size // 2))
  return tf.where(inside[..., None], tf.constant(mean, tf.float32), images)


def _augment_batch(images, seed, cutout: int = 0, mean=cifar10.MEAN):
  """The training augmentation of a whole batch: zero-pad by 4, crop back to H x W at
  uniform offsets 0..8 (an exact pixel crop through ``crop_and_resize``), flip half, then
  cutout when ``cutout`` > 0; stateless from ``seed``."""
  n = tf.shape(images)[0]
  height, width = images.shape[1], images.shape[2]
  padded = tf.pad(tf.cast(images, tf.float32), [[0, 0], [4, 4], [4, 4], [0, 0]])
  offsets = tf.cast(tf.random.stateless_uniform([n, 2], seed=seed, maxval=9, dtype=tf.int32),
                    tf.float32)
  # Normalised box corners that land exactly on pixel centres of the 40x40 padded image.
  y1, x1 = offsets[:, 0] / (height + 7), offsets[:, 1] / (width + 7)
  boxes = tf.stack([y1, x1, y1 + (height - 1) / (height + 7), x1 + (width - 1) / (width + 7)], 1)
  crops = tf.image.crop_and_resize(padded, boxes, tf.range(n), [height, width],
                                   method="nearest")
  flip = tf.random.stateless_uniform([n], seed=seed + 1) < 0.5
  images = tf.where(flip[:, None, None, None], tf.reverse(crops, [2]), crops)
  # Its own stream: the crop and flip seeds of neighbouring batches overlap in seed[1].
  return _cutout(images, cutout, seed + [1_000_003, 0], mean) if cutout else images


def train_dataset(images, labels, batch_size: int, seed: int, augment: bool = True,
                  first_epoch: int = 0, num_epochs: int | None = None, cutout: int = 0,
                  stats=CIFAR10_STATS):
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
    ds = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
    # Whole batches at once (a per-example gather and augmentation cost a fifth of the
    # throughput): each batch's crops and flips come from (seed, e, its first position).
    if not augment:
      return ds.map(lambda i: (tf.gather(images, i), tf.gather(labels, i)))
    return ds.enumerate().map(
        lambda b, i: (_augment_batch(tf.gather(images, i), key + 1 + b, cutout, stats[0]),
                      tf.gather(labels, i)),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

  last = first_epoch + num_epochs if num_epochs is not None else 2**62
  ds = tf.data.Dataset.range(first_epoch, last).flat_map(epoch)
  ds = ds.map(lambda x, y: (normalize(x, stats), y), num_parallel_calls=tf.data.AUTOTUNE)
  return configure(ds.prefetch(tf.data.AUTOTUNE))


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
  return -(-num_examples // batch_size)


def configure(ds):
  """``ds`` with nas-tf's tf.data options. A worker given N threads
  (executor.threads_per_worker sets TF_NUM_INTRAOP_THREADS) keeps tf.data to N threads too;
  otherwise each worker's pipeline would use every core."""
  options = tf.data.Options()
  # tf.data's autotuner thread can hold up the destruction of a finished iterator for up to
  # ~15 s (measured: 0-15 s at the end of each child's fit), at no gain in step time here.
  options.autotune.enabled = False
  threads = int(os.environ.get("TF_NUM_INTRAOP_THREADS", "0") or 0)
  if threads:
    options.threading.private_threadpool_size = threads
  return ds.with_options(options)


def shuffled_eval_dataset(images, labels, batch_size: int, seed: int, stats=CIFAR10_STATS):
  """Unaugmented batches in a seeded order, reshuffled on every pass, full batches only
  (unless the split is smaller than one): a one-shot controller's reward minibatches."""
  ds = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(len(labels), seed=seed)
  ds = ds.batch(batch_size, drop_remainder=len(labels) >= batch_size)
  return configure(
      ds.map(lambda x, y: (normalize(x, stats), y)).prefetch(tf.data.AUTOTUNE))


def eval_dataset(images, labels, batch_size: int, stats=CIFAR10_STATS):
  ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)
  return configure(
      ds.map(lambda x, y: (normalize(x, stats), y)).cache().prefetch(tf.data.AUTOTUNE))
