"""Training-input throughput: the per-epoch-seeded pipeline (epoch e's order and
augmentation a function of (seed, e), so a resumed training sees the same batches; whole
batches gathered and augmented at once) against the previous one (tf.data's
reshuffle-each-iteration shuffle, a random-seed stream, per-image augmentation), side by
side in one run, on the same images.

  python benchmarks/input_pipeline.py [--data=PATH] [--epochs=3] [--batch=128]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402

from nas_tf.data import cifar10, pipeline  # noqa: E402


def _augment(image, seed):
  """The previous per-image augmentation: pad by 4, random 32x32 crop, random flip."""
  image = tf.pad(image, [[4, 4], [4, 4], [0, 0]], mode="CONSTANT")
  image = tf.image.stateless_random_crop(image, cifar10.IMAGE_SHAPE, seed=seed[:2])
  return tf.image.stateless_random_flip_left_right(image, seed=seed[2:])


def previous_pipeline(images, labels, batch_size: int, seed: int):
  """The pipeline before per-epoch seeding (one epoch per iteration of the dataset)."""
  ds = tf.data.Dataset.from_tensor_slices((images, labels))
  ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
  seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(4)
  ds = tf.data.Dataset.zip(ds, seeds).map(
      lambda example, s: (_augment(example[0], tf.cast(s % (2**31 - 1), tf.int32)),
                          example[1]), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.batch(batch_size).map(lambda x, y: (pipeline.normalize(x), y),
                                num_parallel_calls=tf.data.AUTOTUNE)
  return ds.prefetch(tf.data.AUTOTUNE)


def images_per_second(make, epochs: int) -> float:
  count, started = 0, time.perf_counter()
  for epoch in range(epochs):
    for x, _ in make(epoch):
      count += int(x.shape[0])
  return count / (time.perf_counter() - started)


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--data", default=os.path.join(
      os.path.dirname(__file__), "..", "..", "shared", "data", "cifar10-mini",
      "cifar-10-python.tar.gz"))
  parser.add_argument("--epochs", type=int, default=3)
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  source = args.data if os.path.exists(args.data) else "synthetic"
  arrays = cifar10.load(source)
  x, y = arrays.train_images, arrays.train_labels
  print(f"data: {source} ({len(y)} images), batch {args.batch}, {args.epochs} epochs, "
        f"{os.cpu_count()} cores")
  previous = previous_pipeline(x, y, args.batch, 0)  # one dataset, iterated once per epoch
  seeded, old = [], []
  for _ in range(args.repeats):  # interleaved: machine drift hits both alike
    old.append(images_per_second(lambda e: previous, args.epochs))
    seeded.append(images_per_second(
        lambda e: pipeline.train_dataset(x, y, args.batch, 0, first_epoch=e, num_epochs=1),
        args.epochs))
  best_old, best_new = max(old), max(seeded)
  print(f"previous pipeline:  {best_old:9.0f} images/s (best of {args.repeats})")
  print(f"per-epoch seeded:   {best_new:9.0f} images/s")
  print(f"ratio seeded / previous: {best_new / best_old:.2f}")


if __name__ == "__main__":
  main()
