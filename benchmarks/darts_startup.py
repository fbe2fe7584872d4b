"""DARTS' search step: what it costs before the first step, against a later step.

Each configuration runs in a fresh process, timed from the process start: import and
build the supernet (the paper's search network unless told otherwise: 8 cells, 16
channels, 4 nodes, the 8 darts ops, batch 32, synthetic 32x32 images unless ``--data``
names a CIFAR-10 file or folder, which is then loaded as a search loads it), trace the
search step, run it once (the runtime builds and optimizes its graph), then run it
``--steps`` more times. Grappler is set as a search sets it (off without a GPU:
``runner/run.py``) unless ``--grappler=on``.

    python benchmarks/darts_startup.py [--orders=1,2] [--grappler=search|on|off]
        [--layers_per_stage=2] [--channels=16] [--batch_size=32] [--steps=3]
        [--data=../shared/data/cifar10-mini/cifar-10-python.tar.gz]

Reported per order: trainable weights, graph nodes (the step, plus its pass functions),
trace s, first step s, process start to the end of step 1, later steps' median, their ratio,
and peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from contextlib import nullcontext

STARTED = time.perf_counter()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(args) -> dict:
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  from darts_memory import search_network
  darts, batch = search_network(args.batch_size, args.child, args.layers_per_stage,
                                args.channels, source=args.data)
  import tensorflow as tf
  from nas_tf.runtime.hardware import graph_optimizer_off_without_gpu
  if args.grappler != "search":
    tf.config.optimizer.set_experimental_options(
        {"disable_meta_optimizer": args.grappler == "off"})
  with graph_optimizer_off_without_gpu() if args.grappler == "search" else nullcontext():
    built = time.perf_counter()
    graph = darts._step.get_concrete_function(*batch).graph.as_graph_def()
    traced = time.perf_counter()
    nodes = len(graph.node) + sum(len(f.node_def) for f in graph.library.function)
    float(darts._step(*batch)[0])
    first_done = time.perf_counter()
    later = []
    for _ in range(args.steps):
      start = time.perf_counter()
      float(darts._step(*batch)[0])
      later.append(time.perf_counter() - start)
  later.sort()
  trainable = sum(int(tf.size(v)) for v in darts.model.trainable_variables)
  return {"params": trainable, "nodes": nodes,
          "build_s": built - STARTED, "trace_s": traced - built, "first_s": first_done - traced,
          "to_step1_s": first_done - STARTED, "later_s": later[len(later) // 2],
          "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--orders", default="1,2")
  parser.add_argument("--grappler", default="search", choices=("search", "on", "off"))
  parser.add_argument("--layers_per_stage", type=int, default=2)
  parser.add_argument("--channels", type=int, default=16)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--steps", type=int, default=3)
  parser.add_argument("--data", default="synthetic", help="data.source: a CIFAR-10 file or folder")
  parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    print(json.dumps(measure(args)))
    return
  print(f"DARTS search step: {3 * args.layers_per_stage + 2} cells, {args.channels} channels, "
        f"4 nodes, darts ops, batch {args.batch_size}, grappler {args.grappler}, data {args.data}; "
        "each order in a fresh process")
  print(f"{'order':>5} {'params':>9} {'nodes':>8} {'build s':>8} {'trace s':>8} "
        f"{'1st step s':>10} {'to step 1 s':>11} {'later s':>8} {'ratio':>6} {'peak GiB':>8}")
  for order in map(int, args.orders.split(",")):
    out = subprocess.run([sys.executable, __file__, f"--child={order}",
                          f"--grappler={args.grappler}", f"--steps={args.steps}",
                          f"--layers_per_stage={args.layers_per_stage}",
                          f"--channels={args.channels}", f"--batch_size={args.batch_size}",
                          f"--data={args.data}"],
                         capture_output=True, text=True)
    if out.returncode:  # the child's own error, not a CalledProcessError around it
      sys.exit(f"order {order} failed:\n{out.stderr[-4000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{order:>5} {r['params']:>9,} {r['nodes']:>8,} {r['build_s']:>8.1f} "
          f"{r['trace_s']:>8.1f} {r['first_s']:>10.1f} {r['to_step1_s']:>11.1f} "
          f"{r['later_s']:>8.2f} {r['to_step1_s'] / r['later_s']:>5.1f}x "
          f"{r['peak_gib']:>8.2f}", flush=True)


if __name__ == "__main__":
  main()
