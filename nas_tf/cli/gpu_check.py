"""The GPU check: one command for a lent GPU, at most 8 minutes, one table at the end.

    nas-tf check-gpu          # on the GPU machine (docker run --gpus all nas-tf check-gpu)
    nas-tf check-gpu --dry    # on a CPU: every row at tiny size (CI keeps it working)

It needs only the installed package (``benchmarks/gpu_check.py`` is a thin wrapper).
Rows (each section runs in a fresh process, so a crash or an out-of-memory in one leaves the
others; each row names the device it ran on):
1. a generated NAS-RL child (6 layers, the paper's start) against the same network written
   by hand in Keras: training img/s at batch 128 in float32, mixed_float16 and jit_compile;
2. children per hour with 1 and with 2 children per GPU (the ``processes`` executor, the
   smoke preset's children on synthetic images);
3. a DARTS search step at batch 64 (the paper's: 8 cells, 16 channels), first and second
   order: steps/s, peak GPU memory and the seconds from process start to step 1;
4. ENAS's shared-weight step at the paper's macro and micro search sizes: steps/s and one
   epoch extrapolated from them (stated as such); micro both traced and composed
   (``enas.step``: which one ``auto`` should pick on a GPU), with each one's first step;
5. MirroredStrategy over all visible GPUs for a final training: img/s;
6. the ``gpu`` preset's duration (configs/cifar10.py) recomputed from rows 1 and 2.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

STARTED = time.perf_counter()
SECTIONS = ("child", "children_per_hour", "darts", "enas", "mirrored")
SECTION_TIMEOUT_S = {"child": 110, "children_per_hour": 110, "darts": 120, "enas": 100,
                     "mirrored": 40}  # 8 minutes in all on the GPU (twice that with --dry)
TRAIN_IMAGES = 45_000  # CIFAR-10's training split at val_fraction 0.1
# A 6-layer chain (the paper's starting depth) with a mix of kernels and widths.
LAYERS = [(3, 3, 36), (5, 5, 48), (3, 7, 36), (7, 3, 48), (5, 1, 64), (1, 5, 64)]


def generated_model():
  """LAYERS as a NAS-RL child, built by nas-tf (benchmarks/child_overhead.py's too)."""
  from nas_tf.models import cnn_macro
  arch = {"layers": [{"filter_height": h, "filter_width": w, "filters": f, "stride": 1,
                      "inputs": [i - 1] if i else []} for i, (h, w, f) in enumerate(LAYERS)]}
  return cnn_macro.build_cnn(arch)


def handwritten_model():
  """The same network written by hand in Keras."""
  import keras
  reg = keras.regularizers.L2(1e-4 / 2)  # weight decay 1e-4: gradient 1e-4 w
  x = inputs = keras.Input((32, 32, 3))
  for h, w, f in LAYERS:
    x = keras.layers.Conv2D(f, (h, w), padding="same", use_bias=False, kernel_regularizer=reg)(x)
    x = keras.layers.BatchNormalization(momentum=0.9)(x)
    x = keras.layers.ReLU()(x)
  x = keras.layers.GlobalAveragePooling2D()(x)
  return keras.Model(inputs, keras.layers.Dense(10, kernel_regularizer=reg)(x))


def darts_search_network(batch_size: int, order: int, layers_per_stage: int, channels: int,
                         nodes: int = 4, source: str = "synthetic"):
  """The DARTS strategy on ``source``'s images (synthetic unless told) and one (train x,
  train y, val x, val y) batch of its step (benchmarks/darts_memory.py and darts_startup.py
  measure it too)."""
  import tensorflow as tf
  from nas_tf import presets
  from nas_tf.strategies.darts import Darts
  from nas_tf.tasks.cifar10 import Cifar10Task
  c = presets.config_module("cifar10").get_config("smoke")
  c.data.source, c.data.max_train_examples = source, 4 * batch_size
  c.space.kind, c.search.strategy, c.space.num_blocks = "cell", "darts", nodes
  c.darts.order, c.darts.batch_size = order, batch_size
  c.child.batch_size = batch_size  # the children's batch plays no part; it must fit the data
  c.darts.layers_per_stage, c.darts.channels = layers_per_stage, channels
  task = Cifar10Task(c)
  task.prepare()
  darts = Darts.from_config(c, task.space, task)
  (train_x, train_y), (val_x, val_y) = [
      next(iter(task.shared_data("train", batch_size, 1, part=(k, 2)))) for k in range(2)]
  return darts, (train_x, tf.cast(train_y, tf.int32), val_x, tf.cast(val_y, tf.int32))


def emit(row: str, figure: str, **numbers) -> None:
  """One table row, as the section's output line the driver collects."""
  import tensorflow as tf
  gpus = tf.config.list_logical_devices("GPU")
  device = (tf.config.experimental.get_device_details(
      tf.config.list_physical_devices("GPU")[0]).get("device_name", "GPU")
      if gpus else f"CPU ({os.cpu_count()} cores)")
  print("ROW " + json.dumps({"row": row, "device": device, "figure": figure, **numbers}),
        flush=True)


def peak_gpu_mib() -> float | None:
  import tensorflow as tf
  if not tf.config.list_logical_devices("GPU"):
    return None
  return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


def child(dry: bool) -> None:
  import keras
  import tensorflow as tf
  batch, steps = (8, 2) if dry else (128, 30)
  images = tf.random.uniform((batch, 32, 32, 3))
  labels = tf.random.uniform((batch,), 0, 10, tf.int32)
  data = tf.data.Dataset.from_tensors((images, labels)).repeat()
  for mode in ("float32", "mixed_float16", "jit_compile"):
    speeds = {}
    for name, make in (("generated", generated_model), ("hand-written", handwritten_model)):
      keras.mixed_precision.set_global_policy(
          "mixed_float16" if mode == "mixed_float16" else "float32")
      keras.utils.set_random_seed(0)
      model = make()
      model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                    keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    jit_compile=mode == "jit_compile")
      model.fit(data.take(3), epochs=1, verbose=0)  # trace and warm up
      started = time.perf_counter()
      model.fit(data.take(steps), epochs=1, verbose=0)
      speeds[name] = steps * batch / (time.perf_counter() - started)
      keras.backend.clear_session()
    ratio = speeds["generated"] / speeds["hand-written"]
    emit(f"NAS-RL child, batch {batch}, {mode}",
         f"generated {speeds['generated']:,.0f} img/s, hand-written "
         f"{speeds['hand-written']:,.0f} img/s ({ratio:.2f}x)",
         img_s=speeds["generated"], mode=mode)


def children_per_hour(dry: bool) -> None:
  import tempfile
  from nas_tf import presets
  from nas_tf.runtime import hardware
  from nas_tf.runner.loop import Search
  from nas_tf.tasks.cifar10 import Cifar10Task
  gpus = len(hardware.visible_gpus())
  for per_gpu in (1, 2):
    c = presets.config_module("cifar10").get_config("smoke")
    c.data.source = "synthetic"
    c.search.num_children, c.search.batch_size = (2, 2) if dry else (8, 8)
    c.executor.kind, c.executor.children_per_gpu = "processes", per_gpu
    c.executor.workers = 0 if gpus else per_gpu  # on a CPU: that many workers
    if dry:
      c.child.epochs, c.data.max_train_examples, c.data.max_val_examples = 1, 64, 32
    with tempfile.TemporaryDirectory() as workdir:
      started = time.perf_counter()
      result = Search(c, workdir, Cifar10Task(c), log=lambda _: None).run()
      hours = (time.perf_counter() - started) / 3600
    emit(f"children per hour, {per_gpu} per GPU",
         f"{result.children / hours:,.0f} ({result.children} smoke children in "
         f"{hours * 3600:.0f} s)", per_hour=result.children / hours, per_gpu=per_gpu)


def darts(dry: bool) -> None:
  import tensorflow as tf
  from nas_tf.runtime.hardware import graph_optimizer_off_without_gpu
  batch, cells, channels, nodes, steps = (4, 1, 4, 1, 2) if dry else (64, 2, 16, 4, 10)
  for order in (1, 2):
    begun = time.perf_counter()
    network, inputs = darts_search_network(batch, order, cells, channels, nodes)
    if tf.config.list_logical_devices("GPU"):
      tf.config.experimental.reset_memory_stats("GPU:0")
    with graph_optimizer_off_without_gpu():
      float(network._step(*inputs)[0])
      to_step1 = time.perf_counter() - begun  # build, trace and the first step
      started = time.perf_counter()
      for _ in range(steps):
        float(network._step(*inputs)[0])
    rate = steps / (time.perf_counter() - started)
    peak = peak_gpu_mib()
    emit(f"DARTS search step, order {order}, batch {batch}, {3 * cells + 2} cells",
         f"{rate:.2f} steps/s, {to_step1:.0f} s from building to the end of step 1"
         + (f", peak GPU memory {peak:,.0f} MiB" if peak is not None else ""),
         steps_s=rate, peak_mib=peak)


def enas(dry: bool) -> None:
  import numpy as np
  import tensorflow as tf
  from nas_tf import presets
  from nas_tf.strategies.enas import Enas
  from nas_tf.tasks.cifar10 import Cifar10Task
  steps = 2 if dry else 10
  for method, name, step in (("enas", "enas_macro", "traced"),
                             ("enas_micro", "enas_micro", "traced"),
                             ("enas_micro", "enas_micro", "composed")):
    c = presets.bundled("cifar10", name, "smoke" if dry else "paper", method)
    c.enas.step = step
    c.data.source, c.data.max_train_examples, c.data.max_val_examples = "synthetic", 0, 0
    if dry:  # the smallest supernet: its trace, not its size, is what costs here
      c.child.batch_size, c.enas.channels = 8, 4
      c.enas.num_layers = min(c.enas.num_layers, 2)
      if method == "enas_micro":
        c.space.num_blocks = 1
    task = Cifar10Task(c)
    task.prepare()
    strategy = Enas.from_config(c, task.space, task)
    tokens, _ = strategy.controller.sample(strategy.plan, steps + 1, np.array([0, 1]))
    images, labels = next(iter(task.shared_data("train", c.child.batch_size, 0)))
    labels = tf.cast(labels, tf.int32)
    times = []
    for k in range(steps + 1):
      started = time.perf_counter()
      float(strategy._train_step(images, labels, *strategy._arch_tensors(tokens[k]))[0])
      times.append(time.perf_counter() - started)
    seconds = float(np.median(times[1:]))
    per_epoch = -(-TRAIN_IMAGES // c.child.batch_size)
    kind = "micro" if method == "enas_micro" else "macro"
    emit(f"ENAS {kind} shared step ({step}), batch {c.child.batch_size}",
         f"{1 / seconds:.1f} steps/s, the first step {times[0]:.1f} s; an epoch of "
         f"{per_epoch} steps about {per_epoch * seconds:.0f} s (extrapolated from {steps} "
         "steps)", steps_s=1 / seconds)


def mirrored(dry: bool) -> None:
  import keras
  import tensorflow as tf
  devices = [d.name for d in tf.config.list_logical_devices("GPU")] or ["/cpu:0"]
  strategy = tf.distribute.MirroredStrategy(devices)
  batch, steps = (8, 2) if dry else (128 * len(devices), 30)
  with strategy.scope():
    model = generated_model()
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  data = tf.data.Dataset.from_tensors((tf.random.uniform((batch, 32, 32, 3)),
                                       tf.random.uniform((batch,), 0, 10, tf.int32))).repeat()
  model.fit(data.take(3), epochs=1, verbose=0)
  started = time.perf_counter()
  model.fit(data.take(steps), epochs=1, verbose=0)
  rate = steps * batch / (time.perf_counter() - started)
  emit(f"MirroredStrategy over {len(devices)} device(s), batch {batch}",
       f"{rate:,.0f} img/s", img_s=rate)


def estimate(rows: list[dict]) -> str:
  """The gpu preset's duration from the float32 child speed and the 2-per-GPU gain."""
  from nas_tf import presets
  c = presets.bundled("cifar10", "cifar10", "gpu")
  speed = next((r["img_s"] for r in rows if r.get("mode") == "float32"), None)
  per_hour = {r["per_gpu"]: r["per_hour"] for r in rows if "per_gpu" in r}
  if not speed or len(per_hour) < 2:
    return "not computed (a row is missing)"
  gain = per_hour[2] / per_hour[1]
  seconds = c.search.num_children * c.child.epochs * TRAIN_IMAGES / speed / gain
  return (f"{seconds / 3600:.1f} h for {c.search.num_children} children of {c.child.epochs} "
          f"epochs at {speed:,.0f} img/s (6 layers: deeper children are slower) x {gain:.2f} "
          "from 2 children per GPU")


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(prog="nas-tf check-gpu",
                                   description=__doc__.splitlines()[0])
  parser.add_argument("--dry", action="store_true", help="tiny sizes, for a CPU")
  parser.add_argument("--section", choices=SECTIONS, help=argparse.SUPPRESS)
  parser.add_argument("--only", default=",".join(SECTIONS))
  args = parser.parse_args(argv)
  if args.section:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    globals()[args.section](args.dry)
    return
  rows, failed = [], []
  for section in args.only.split(","):
    try:
      out = subprocess.run([sys.executable, "-m", "nas_tf.cli.gpu_check", f"--section={section}"]
                           + (["--dry"] if args.dry else []), capture_output=True, text=True,
                           timeout=SECTION_TIMEOUT_S[section] * (2 if args.dry else 1))
      found = [json.loads(line[4:]) for line in out.stdout.splitlines()
               if line.startswith("ROW ")]
      rows += found
      if out.returncode or not found:
        failed.append(f"{section}: rc {out.returncode}: "
                      f"{(out.stderr.strip().splitlines() or [''])[-1][:300]}")
    except subprocess.TimeoutExpired:
      failed.append(f"{section}: over {SECTION_TIMEOUT_S[section]} s")
    print(f"{section}: {len(rows)} rows so far ({time.perf_counter() - STARTED:.0f} s)",
          file=sys.stderr, flush=True)
  print("\n| row | device | figure |\n| --- | --- | --- |")
  for r in rows:
    print(f"| {r['row']} | {r['device']} | {r['figure']} |")
  print(f"| gpu preset (configs/cifar10.py) | | {estimate(rows)} |")
  print(f"\n{time.perf_counter() - STARTED:.0f} s in all" + ("; --dry: tiny sizes, not "
                                                          "figures" if args.dry else ""))
  for line in failed:
    print(f"failed: {line}")
  sys.exit(1 if failed else 0)


if __name__ == "__main__":
  main()
