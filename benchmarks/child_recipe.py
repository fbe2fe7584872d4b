"""NAS-RL's child training: the paper's recipe against nas-tf's former one, same children.

Zoph & Le (2017, section 4.1) train CIFAR-10 children as Huang et al. (2016) train DenseNet:
batch 64, the rate divided by 10 at 50% and 75% of the epochs (``child.lr_schedule=step``).
nas-tf trained them at batch 128 with one cosine decay. This trains the same random NAS-RL
children with both recipes, with the same seeds, and prints each child's validation
accuracy, the means, the Spearman rank correlation between the two recipes' accuracies
(does the recipe change which child wins?) and seconds per child.

    python benchmarks/child_recipe.py [--preset=smoke] [--children=6] [--depth=6]
        [--epochs=0 (the preset's)] [--data=PATH]

Uses ../shared/data/cifar10-mini when present, else synthetic images (meaningless numbers).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from nas_tf import registry  # noqa: E402
from nas_tf.strategies.pnas import spearman  # noqa: E402
from nas_tf.strategies.random_search import RandomSearch  # noqa: E402
from nas_tf.tasks.cifar10 import Cifar10Task  # noqa: E402

MINI = os.path.join(ROOT, "..", "shared", "data", "cifar10-mini", "cifar-10-python.tar.gz")
RECIPES = {"paper (64, step)": (64, "step"), "former (128, cosine)": (128, "cosine")}


def preset_config(preset: str, data: str):
  spec = importlib.util.spec_from_file_location("cfg", os.path.join(ROOT, "configs", "cifar10.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(preset)
  config.data.source = data
  return config


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", default=MINI if os.path.exists(MINI) else "synthetic")
  parser.add_argument("--preset", default="smoke")
  parser.add_argument("--children", type=int, default=6)
  parser.add_argument("--depth", type=int, default=6)
  parser.add_argument("--epochs", type=int, default=0, help="0: the preset's child.epochs")
  args = parser.parse_args()

  base = preset_config(args.preset, args.data)
  space = registry.build_space(base)
  tokens = RandomSearch(space.token_types).propose(space.plan(args.depth), args.children, [0])
  archs = [space.decode(t, args.depth) for t in tokens]
  accuracy, seconds = {}, {}
  for name, (batch, schedule) in RECIPES.items():
    config = preset_config(args.preset, args.data)
    config.child.batch_size, config.child.lr_schedule = batch, schedule
    config.child.epochs = args.epochs or config.child.epochs
    task = Cifar10Task(config)
    task.prepare()
    accuracy[name], seconds[name] = [], []
    for k, arch in enumerate(archs):
      started = time.perf_counter()
      metrics = task.train_child(arch, seed=k)
      seconds[name].append(time.perf_counter() - started)
      accuracy[name].append(metrics["val_accuracy"])
      keras.backend.clear_session()
      print(f"{name:22s} child {k}: val accuracy {metrics['val_accuracy']:.4f} "
            f"({seconds[name][-1]:.1f} s)", flush=True)
  epochs = args.epochs or base.child.epochs
  print(f"\n{args.children} random NAS-RL children of depth {args.depth}, {args.preset} preset, "
        f"{epochs} epochs, data {os.path.basename(args.data)}")
  print(f"{'recipe':22s} {'mean val acc':>12s} {'best':>6s} {'s/child':>8s}")
  for name in RECIPES:
    print(f"{name:22s} {np.mean(accuracy[name]):12.4f} {np.max(accuracy[name]):6.4f} "
          f"{np.mean(seconds[name]):8.1f}")
  paper, former = (accuracy[name] for name in RECIPES)
  print(f"paper - former, mean: {np.mean(paper) - np.mean(former):+.4f}; Spearman between "
        f"the recipes' accuracies: {spearman(paper, former):.3f}")


if __name__ == "__main__":
  main()
