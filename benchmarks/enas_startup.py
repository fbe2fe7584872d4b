"""ENAS micro's shared step, traced whole against composed of traced pieces
(``enas.step``), on the smoke preset's supernet (5 cells, N=1, 3 blocks, 8 channels).

    python benchmarks/enas_startup.py [--data=PATH] [--epochs=3] [--steps=24] [--rounds=2]

1. Epochs: the smoke ENAS micro search (``configs/enas_micro.py:smoke``) for ``--epochs``
   epochs per mode, each run a fresh process, ``--rounds`` times alternating; prints each
   epoch's seconds (the search's own log) and the first epoch over the later epochs' median.
2. Steps: one process, one supernet and optimizer (``--preset``'s, default smoke); the
   traced step's trace and first call,
   then ``--steps`` training steps alternating traced and composed on the same minibatches
   and architectures; prints each mode's median and their ratio.

Real CIFAR-10 (``--data``: cifar-10-python.tar.gz; default ../shared/data/cifar10-mini).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data", "cifar10-mini", "cifar-10-python.tar.gz")
MODES = ("traced", "composed")


def epoch_seconds(mode: str, data: str, epochs: int) -> list[float]:
  with tempfile.TemporaryDirectory() as workdir:
    out = subprocess.run(
        [sys.executable, "-m", "nas_tf.cli.main", "search", "cifar10",
         "--config=configs/enas_micro.py:smoke", f"--config.enas.epochs={epochs}",
         f"--config.enas.step={mode}", "--config.enas.derive_samples=1",
         f"--config.data.source={data}", f"--workdir={workdir}"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout
  return [float(s) for s in re.findall(r"\[enas epoch \d+/\d+\].*\| ([0-9.]+)s \|", out)]


def alternating_steps(data: str, steps: int, preset: str = "smoke") -> None:
  sys.path.insert(0, ROOT)
  import numpy as np
  import tensorflow as tf
  from nas_tf import presets, registry
  from nas_tf.runtime import hardware
  from nas_tf.tasks.cifar10 import Cifar10Task
  config = presets.bundled("cifar10", "enas_micro", preset)
  config.data.source = data
  with hardware.graph_optimizer_off_without_gpu():
    task = Cifar10Task(config)
    task.prepare()
    enas = registry.strategy_class("enas").from_config(config, registry.build_space(config),
                                                       task)
    images, labels = task.input_spec()
    specs = [tf.TensorSpec(s, d) for s, d in enas.space.tensor_specs()]
    traced = tf.function(enas._train_step_fn, autograph=False,
                         input_signature=[images, labels, *specs])
    batches = list(task.shared_data("train", config.child.batch_size, 0))
    tokens, _ = enas.controller.sample(enas.plan, steps + 1, [1, 2])
    start = time.perf_counter()
    first = batches[0]
    traced.get_concrete_function(first[0], tf.cast(first[1], tf.int32),
                                 *enas._arch_tensors(tokens[0]))
    print(f"traced step: trace {time.perf_counter() - start:.1f} s")
    times = {mode: [] for mode in MODES}
    for k in range(steps + 1):
      images, labels = batches[k % len(batches)]
      arch = enas._arch_tensors(tokens[k])
      for mode in MODES if k % 2 else MODES[::-1]:
        start = time.perf_counter()
        step = traced if mode == "traced" else enas._train_step_fn
        float(step(images, tf.cast(labels, tf.int32), *arch)[0])
        times[mode].append(time.perf_counter() - start)
    print(f"first call: traced {times['traced'][0]:.2f} s, composed "
          f"{times['composed'][0]:.2f} s ({enas.supernet.pieces.traces} pieces traced)")
    medians = {mode: float(np.median(t[1:])) for mode, t in times.items()}
    ratio = medians["composed"] / medians["traced"]
    print(f"later steps (median of {steps}): traced {medians['traced']:.3f} s, composed "
          f"{medians['composed']:.3f} s, composed / traced {ratio:.2f}")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", default=DATA)
  parser.add_argument("--epochs", type=int, default=3)
  parser.add_argument("--steps", type=int, default=24)
  parser.add_argument("--rounds", type=int, default=2)
  parser.add_argument("--preset", default="smoke", help="the supernet of the steps' part")
  args = parser.parse_args()
  if args.rounds:
    print("| mode | epoch seconds | first / later median |\n| --- | --- | --- |")
  for _ in range(args.rounds):
    for mode in MODES:
      seconds = epoch_seconds(mode, os.path.abspath(args.data), args.epochs)
      later = sorted(seconds[1:])[len(seconds[1:]) // 2] if len(seconds) > 1 else float("nan")
      print(f"| {mode} | {', '.join(f'{s:.1f}' for s in seconds)} | {seconds[0] / later:.2f} |",
            flush=True)
  alternating_steps(os.path.abspath(args.data), args.steps, args.preset)


if __name__ == "__main__":
  main()
