"""Resident memory of the search process over a long synthetic search.

In-process children leave TensorFlow's traced graphs behind (memory grows per child even
after clear_session); with --recycle_every=N children run in worker processes that are
replaced every N children, and the search process stays flat.

    python benchmarks/memory_flat.py [--children=40]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from nas_tf.runner.loop import Search  # noqa: E402
from nas_tf.tasks.cifar10 import Cifar10Task  # noqa: E402


def rss_mib() -> float:
  with open("/proc/self/statm") as f:
    return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--children", type=int, default=40)
  parser.add_argument("--recycle_every", type=int, default=0,
                      help="executor.recycle_every (0: children in this process)")
  args = parser.parse_args()
  spec = importlib.util.spec_from_file_location("cfg", os.path.join(ROOT, "configs", "cifar10.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config("smoke")
  c.data.source = "synthetic"
  c.data.max_train_examples, c.data.max_val_examples = 64, 32
  c.space.num_filters = (8, 16)
  c.search.num_children, c.search.batch_size = args.children, 4
  c.search.start_depth, c.search.depth_step = 3, 0
  c.child.epochs = 1
  c.executor.recycle_every = args.recycle_every
  samples = []
  with tempfile.TemporaryDirectory() as workdir:
    Search(c, workdir, Cifar10Task(c), log=lambda _: None,
           after_child=lambda i: samples.append(rss_mib())).run()
  tenth = max(1, len(samples) // 10)
  early, late = sum(samples[tenth:2 * tenth]) / tenth, sum(samples[-tenth:]) / tenth
  print("RSS MiB after each child: " + " ".join(f"{v:.0f}" for v in samples))
  print(f"{len(samples)} children, recycle_every={args.recycle_every}: RSS {early:.0f} MiB around child {tenth}-{2 * tenth}, "
        f"{late:.0f} MiB over the last {tenth}; growth {(late - early) / early:+.1%} "
        f"({(late - early) / max(1, len(samples) - 2 * tenth) * 1024:.0f} KiB per child)")


if __name__ == "__main__":
  main()
