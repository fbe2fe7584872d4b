"""Stand-alone children two ways, side by side: each way in a fresh process trains the same
children with the same seeds and prints build, trace and step seconds, and trace / steps.

    python benchmarks/child_trace.py [--compare=loop|grappler] [--task=cifar10|ptb]
        [--sizes=1x8,2x16,6x36] [--children=2] [--epochs=2] [--examples=640]

``--compare=loop`` (the default): Keras' ``model.fit`` against ``tasks/lean_fit.py``'s loop,
which cifar10 search children train in. ``--compare=grappler``: Grappler on against off
(``hardware.graph_optimizer_off_without_gpu``, which ``train_and_save`` enters on a machine
without a GPU).

cifar10: cell children of N cells per stage and C channels (``--sizes``) on cifar10-mini
(synthetic images when ../shared is absent); ptb: the smoke preset's NAS-RL cells on ptb-mini.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "data")
KEYS = ("build_seconds", "trace_seconds", "step_seconds")
# What each comparison runs: (the reference, the change).
SETTINGS = {"loop": ("model.fit", "lean loop"), "grappler": ("grappler on", "grappler off")}


def child_runs(args) -> list[dict]:
  """In this process: the children of one setting (``args.grappler``: on or off)."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  sys.path.insert(0, ROOT)
  from nas_tf import presets, registry
  from nas_tf.runtime import hardware
  from nas_tf.tasks import lean_fit
  if args.setting == "grappler on":  # what the tasks enter, made a no-op
    hardware.graph_optimizer_off_without_gpu = contextlib.nullcontext
  if args.setting == "model.fit":  # every child refused by the lean loop
    lean_fit.unsupported = lambda model: "compared"
  c = presets.config_module(args.task).get_config("smoke")
  if args.task == "cifar10":
    mini = os.path.join(SHARED, "cifar10-mini", "cifar-10-python.tar.gz")
    c.data.source = mini if os.path.exists(mini) else "synthetic"
    c.space.kind = "cell"
    n, channels = (int(v) for v in args.size.split("x"))
    c.child.layers_per_stage, c.child.channels = n, channels
    c.data.max_train_examples = args.examples
  else:
    c.data.source = os.path.join(SHARED, "ptb-mini")
  c.child.epochs = args.epochs
  task = registry.task_class(c.task)(c)
  task.prepare()
  space = task.space
  depth = space.depth_at(0)
  proposer = registry.strategy_class("random").from_config(c, space, True)
  rows = []
  for k in range(args.children):
    arch = space.decode(proposer.propose(space.plan(depth), 1, [k, 7])[0], depth)
    row = task.train_child(arch, seed=k)
    rows.append({key: row[key] for key in (*KEYS, "params", task.metric)})
  return rows


def main() -> int:
  parser = argparse.ArgumentParser()
  parser.add_argument("--compare", default="loop", choices=tuple(SETTINGS))
  parser.add_argument("--task", default="cifar10", choices=("cifar10", "ptb"))
  parser.add_argument("--sizes", default="1x8,2x16")
  parser.add_argument("--children", type=int, default=2)
  parser.add_argument("--epochs", type=int, default=2)
  parser.add_argument("--examples", type=int, default=640)
  parser.add_argument("--setting", default="", help=argparse.SUPPRESS)  # a worker's
  parser.add_argument("--size", default="", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.setting:
    print(json.dumps(child_runs(args)))
    return 0
  sizes = args.sizes.split(",") if args.task == "cifar10" else ["smoke"]
  before, after = SETTINGS[args.compare]
  print(f"{args.task}: {args.children} children per setting, {args.epochs} epochs; seconds "
        f"per child (mean), {before} / {after}")
  print(f"{'size':>6} {'build':>14} {'trace':>14} {'steps':>14} {'trace/steps':>14} "
        f"{'same metric':>12}")
  for size in sizes:
    result = {}
    for setting in (before, after):
      out = subprocess.run([sys.executable, __file__, f"--setting={setting}", f"--size={size}",
                            *sys.argv[1:]], capture_output=True, text=True, check=True)
      result[setting] = json.loads(out.stdout.strip().splitlines()[-1])
    mean = {s: {k: sum(r[k] for r in rows) / len(rows) for k in KEYS}
            for s, rows in result.items()}
    metric = [k for k in result[before][0] if k not in (*KEYS, "params")][0]
    same = sum(abs(a[metric] - b[metric]) < 1e-3
               for a, b in zip(result[before], result[after]))
    a, b = mean[before], mean[after]
    ratio = [m["trace_seconds"] / m["step_seconds"] for m in (a, b)]
    print(f"{size:>6} " + " ".join(f"{a[k]:>6.2f}/{b[k]:<6.2f} " for k in KEYS)
          + f"{ratio[0]:>7.2f}/{ratio[1]:<6.2f} {same:>6} of {len(result[before])}", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
