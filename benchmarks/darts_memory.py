"""DARTS' search network: peak memory of one search step per batch size, first and second
order, side by side.

Each measurement runs in a fresh process: it builds the supernet (the paper's defaults
unless told otherwise: 8 cells, 16 channels, 4 nodes, the 8 darts ops), runs two search
steps eagerly (the same Python step the search traces; eager keeps the same tensors alive
for the backward pass) on synthetic 32x32 images, and reports its peak resident memory
above what it held after building the model. On a GPU the activations of a step are what
fills its memory; this CPU figure is the same tensors, so it tells whether the defaults fit a
16 GB GPU at batch 64 as the paper's did.

    python benchmarks/darts_memory.py [--batch_sizes=16,32,64] [--orders=1,2]
        [--layers_per_stage=2] [--channels=16] [--nodes=4]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_mib() -> float:
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmRSS:"):
        return int(line.split()[1]) / 1024
  return float("nan")


def search_network(*args, **kwargs):
  """The DARTS strategy and one batch of its step (``nas_tf.cli.gpu_check``)."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  sys.path.insert(0, ROOT)
  from nas_tf.cli.gpu_check import darts_search_network
  return darts_search_network(*args, **kwargs)


def measure(batch_size: int, order: int, layers_per_stage: int, channels: int, nodes: int):
  darts, batch = search_network(batch_size, order, layers_per_stage, channels, nodes)
  built = rss_mib()
  started = time.perf_counter()
  for _ in range(2):
    darts._step_fn(*batch)
  seconds = (time.perf_counter() - started) / 2
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  return {"params": int(darts.model.count_params()), "model_mib": built,
          "step_mib": peak - built, "eager_step_s": seconds}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch_sizes", default="16,32,64")
  parser.add_argument("--orders", default="1,2")
  parser.add_argument("--layers_per_stage", type=int, default=2)
  parser.add_argument("--channels", type=int, default=16)
  parser.add_argument("--nodes", type=int, default=4)
  parser.add_argument("--child", default="", help=argparse.SUPPRESS)
  args = parser.parse_args()
  shape = (args.layers_per_stage, args.channels, args.nodes)
  if args.child:
    batch_size, order = map(int, args.child.split(","))
    print(json.dumps(measure(batch_size, order, *shape)))
    return
  print(f"DARTS search network: {3 * args.layers_per_stage + 2} cells, {args.channels} "
        f"channels, {args.nodes} nodes, darts ops; peak memory of a search step above the "
        "built model (fresh process each)")
  print(f"{'batch':>5} {'order':>5} {'params':>8} {'step MiB':>9} {'per image':>9} "
        f"{'eager step s':>12}")
  for batch_size in map(int, args.batch_sizes.split(",")):
    for order in map(int, args.orders.split(",")):
      out = subprocess.run([sys.executable, __file__, f"--child={batch_size},{order}",
                            f"--layers_per_stage={args.layers_per_stage}",
                            f"--channels={args.channels}", f"--nodes={args.nodes}"],
                           capture_output=True, text=True, check=True)
      r = json.loads(out.stdout.strip().splitlines()[-1])
      print(f"{batch_size:>5} {order:>5} {r['params']:>8,} {r['step_mib']:>9.0f} "
            f"{r['step_mib'] / batch_size:>9.1f} {r['eager_step_s']:>12.1f}", flush=True)


if __name__ == "__main__":
  main()
