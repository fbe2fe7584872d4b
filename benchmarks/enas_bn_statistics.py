"""ENAS macro: do the controller's rewards change when every op's batch-norm statistics move
at every step, as in the authors' search network, rather than only the sampled op's?

    python benchmarks/enas_bn_statistics.py [--data=PATH] [--epochs=10] [--archs=40]

melodyguan/enas ``general_child.py`` (lines 266-295) builds every op of a layer outside
``tf.case``, so each training step runs all of them in training mode and moves all their
moving statistics; the reward scores with those statistics (``build_valid_rl``,
``is_training=False``). nas-tf runs only the sampled op (a switch), so an op's statistics
move only on the steps that sample it.

1. Trains the macro supernet of ``--preset`` (``configs/cifar10.py``, ``--method=enas``) for
   ``--epochs`` epochs of shared weights, a fresh architecture from the (untrained)
   controller per minibatch: the search's phase (a).
2. From those weights, twice, the same last epoch's minibatches and architectures again,
   forward in training mode (no weight update): once moving only the sampled ops'
   statistics (nas-tf), once every op's (the authors').
3. Scores the same ``--archs`` architectures as the controller's reward does (each its own
   validation minibatch, inference mode) under both, and prints each mean, their mean
   absolute difference, the largest, and the Spearman correlation of the two rankings.

Real CIFAR-10 (``--data``: cifar-10-python.tar.gz or its folder; default
../shared/data/cifar10-mini).
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data", "cifar10-mini", "cifar-10-python.tar.gz")


def measure(data: str, epochs: int, archs: int, preset: str = "smoke", seed: int = 0) -> dict:
  sys.path.insert(0, ROOT)
  import numpy as np
  import tensorflow as tf
  from nas_tf import presets, registry
  from nas_tf.runtime import hardware, seeds
  from nas_tf.models.enas_macro import _apply
  from nas_tf.strategies.pnas import spearman
  from nas_tf.tasks.cifar10 import Cifar10Task
  config = presets.bundled("cifar10", "cifar10", preset, method="enas")
  config.data.source, config.seed = data, seed
  with hardware.graph_optimizer_off_without_gpu():
    task = Cifar10Task(config)
    task.prepare()
    enas = registry.strategy_class("enas").from_config(config, registry.build_space(config),
                                                       task)
    supernet, batch = enas.supernet, config.child.batch_size
    for epoch in range(epochs):  # phase (a): shared weights, an architecture per minibatch
      tokens, _ = enas.controller.sample(enas.plan, enas.steps_per_epoch, [seed, epoch])
      last = []
      for step, (images, labels) in enumerate(task.shared_data(
          "train", batch, seeds.child_seed(seed, epoch))):
        arch = enas._arch_tensors(tokens[step])
        enas._train_step(images, tf.cast(labels, tf.int32), *arch)
        last.append((images, arch))
    trained = supernet.get_weights()

    def every_op(arch):  # the authors': every op runs (training mode), the sampled one counts
      ops, skips = arch

      def layer_output(i, x):
        return [_apply(op, x, True) for op in supernet.operations[i]][int(ops[i])]

      def skip_sum(i, candidates):
        return tf.einsum("c,cnhwk->nhwk", skips[i, :i], tf.stack(candidates))
      return layer_output, skip_sum

    val_tokens, _ = enas.controller.sample(enas.plan, archs, [seed, 10_000])
    val = iter(task.shared_data("val", batch, seeds.child_seed(seed, 1_000_000)).repeat())
    val_batches = [next(val) for _ in range(archs)]
    rewards = {}
    for mode in ("sampled", "every"):
      supernet.set_weights(trained)
      for images, arch in last:  # the last epoch again, forward only: statistics move
        if mode == "sampled":
          supernet(images, *arch, training=True)
        else:
          supernet._layers_out(images, True, *every_op(arch))
      rewards[mode] = np.array([
          float(enas._reward_step(images, tf.cast(labels, tf.int32),
                                  *enas._arch_tensors(t))[0]) / len(labels)
          for t, (images, labels) in zip(val_tokens, val_batches)])
  a, b = rewards["sampled"], rewards["every"]
  return {"sampled": float(a.mean()), "every": float(b.mean()),
          "mean_abs": float(np.abs(a - b).mean()), "max_abs": float(np.abs(a - b).max()),
          "spearman": spearman(a, b)}  # tied rewards share their mean rank


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", default=DATA)
  parser.add_argument("--epochs", type=int, default=10)
  parser.add_argument("--archs", type=int, default=40)
  parser.add_argument("--preset", default="smoke")
  parser.add_argument("--seeds", default="0")
  args = parser.parse_args()
  for seed in (int(s) for s in args.seeds.split(",")):
    r = measure(args.data, args.epochs, args.archs, args.preset, seed)
    print(f"seed {seed}: mean reward, sampled ops' statistics {r['sampled']:.4f}, every op's "
          f"{r['every']:.4f}; per architecture |difference| mean {r['mean_abs']:.4f}, max "
          f"{r['max_abs']:.4f}; Spearman of the two rankings {r['spearman']:.3f}")


if __name__ == "__main__":
  main()
