"""Every method's paper-size networks, built and stepped on this CPU: what breaks only at paper
size shows here before a user's rented GPU.

Each case runs in a fresh process: it builds the network of the ``paper`` preset (the search
network, or a child or final network of a random architecture of the method's space, or the
paper's found cell), then takes two training steps at a tiny batch. It reports parameters,
build seconds, the first step's seconds (its trace included), the process's peak resident
memory, and the memory one image adds in a step extrapolated to the paper's batch (peak
minus the memory after the first step, divided by the tiny batch): on a GPU these are the
activations that fill its memory.

    python benchmarks/paper_scale.py                  # every case (about 20 minutes here)
    python benchmarks/paper_scale.py --only darts_search,darts_final --batch 4
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
PTB = os.path.join(ROOT, "..", "shared", "data", "ptb-mini")
# case: (task, bundled config, method, what, depth or published name)
CASES = {
    "nas_rl_cnn_depth6": ("cifar10", "cifar10", "nas_rl", "child", 6),
    "nas_rl_cnn_depth15": ("cifar10", "cifar10", "nas_rl", "child", 15),
    "nas_rl_ptb_cell": ("ptb", "ptb", "nas_rl", "child", None),
    "enas_macro_search": ("cifar10", "cifar10", "enas", "supernet", None),
    "enas_macro_final": ("cifar10", "cifar10", "enas", "final", None),
    "enas_micro_search": ("cifar10", "enas_micro", "enas_micro", "supernet", None),
    "enas_micro_final": ("cifar10", "enas_micro", "enas_micro", "final", None),
    "enas_rnn_search": ("ptb", "enas_ptb", "enas", "supernet", None),
    "enas_rnn_final": ("ptb", "enas_ptb", "enas", "final", None),
    "pnas_child": ("cifar10", "cifar10", "pnas", "child", None),
    "pnas_final": ("cifar10", "darts", "darts", "final", "pnasnet_5"),
    "darts_search": ("cifar10", "darts", "darts", "supernet", None),
    "darts_final": ("cifar10", "darts", "darts", "final", "darts_v2"),
}


def rss_mib() -> float:
  with open("/proc/self/statm") as f:
    return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mib() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def config_for(task_name, name, method, batch):
  from nas_tf import presets
  c = presets.bundled(task_name, name, "paper", method)
  c.data.source = PTB if task_name == "ptb" else "synthetic"
  if task_name != "ptb":
    c.data.max_train_examples = c.data.max_val_examples = 0
  return c


def measure(case: str, batch: int) -> dict:
  import numpy as np
  import tensorflow as tf
  from nas_tf import registry
  from nas_tf.strategies.random_search import RandomSearch
  task_name, name, method, what, extra = CASES[case]
  c = config_for(task_name, name, method, batch)
  started = time.perf_counter()
  if what == "supernet" and method == "darts":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from darts_memory import search_network
    d = c.darts
    network, inputs = search_network(batch, d.order, d.layers_per_stage, d.channels)
    paper_batch, params = d.batch_size, network.model.count_params()
    step = lambda: float(network._step(*inputs)[0])  # noqa: E731
  elif what == "supernet":  # ENAS
    from nas_tf.strategies.enas import Enas
    paper_batch, c.child.batch_size = c.child.batch_size, batch
    task = registry.task_class(task_name)(c)
    task.prepare()
    enas = Enas.from_config(c, task.space, task)
    tokens, _ = enas.controller.sample(enas.plan, 3, np.array([0, 1]))
    data = iter(task.shared_data("train", batch, 0))
    params = enas.supernet.count_params()

    def step(k=[0]):
      inputs, labels = next(data)
      k[0] += 1
      return float(enas._train_step(inputs, tf.cast(labels, tf.int32),
                                    *enas._arch_tensors(tokens[k[0]]))[0])
  else:  # a child or final network, trained as the task trains it
    from nas_tf.products import zoo
    if isinstance(extra, str):  # a paper's found cell with its final network and recipe
      entry = zoo.find(extra)
      c, arch = zoo.configure(c, entry), entry.architecture()
    task = registry.task_class(task_name)(c)
    task.prepare()
    if not isinstance(extra, str):
      space = registry.build_space(c)
      depth = extra if extra is not None else space.depth_at(0)
      plan = space.plan(depth)
      arch = space.decode(RandomSearch(space.token_types).propose(plan, 1, [0])[0], depth)
    settings = task.settings(final=what == "final")
    paper_batch, settings.batch_size = settings.batch_size, batch
    model = task.build_model(arch, settings)
    task.compile_model(model, settings)
    params = model.count_params()
    train, _ = task.build_inputs(0, settings)
    batches = iter(train)

    def step():
      inputs, labels = next(batches)
      model.train_on_batch(inputs, labels)
  built = time.perf_counter()
  step()
  first = time.perf_counter()
  after_first = rss_mib()
  step()
  per_image = max(0.0, peak_mib() - after_first) / batch
  return {"case": case, "params": int(params), "build_s": built - started,
          "first_step_s": first - built, "peak_mib": peak_mib(), "paper_batch": paper_batch,
          "paper_batch_mib": per_image * paper_batch}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--only", default=",".join(CASES))
  parser.add_argument("--batch", type=int, default=2, help="the tiny batch of each step")
  parser.add_argument("--case", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.case:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, ROOT)
    print("CASE " + json.dumps(measure(args.case, args.batch)), flush=True)
    return
  print("| case | parameters | build (s) | first step (s) | peak host MiB | one step's "
        "activations at the paper's batch |\n| --- | --- | --- | --- | --- | --- |", flush=True)
  failed = []
  for case in args.only.split(","):
    out = subprocess.run([sys.executable, __file__, f"--case={case}", f"--batch={args.batch}"],
                         capture_output=True, text=True)
    found = [json.loads(line[5:]) for line in out.stdout.splitlines()
             if line.startswith("CASE ")]
    if out.returncode or not found:
      failed.append(f"{case}: rc {out.returncode}: "
                    f"{(out.stderr.strip().splitlines() or [''])[-1][:300]}")
      print(f"| {case} | FAILED | | | | |", flush=True)
      continue
    r = found[0]
    print(f"| {case} | {r['params']:,} | {r['build_s']:.1f} | {r['first_step_s']:.1f} | "
          f"{r['peak_mib']:,.0f} | {r['paper_batch_mib'] / 1024:.1f} GiB at batch "
          f"{r['paper_batch']} |", flush=True)
  for line in failed:
    print(f"failed: {line}")
  sys.exit(1 if failed else 0)


if __name__ == "__main__":
  main()
