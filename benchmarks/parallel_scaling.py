"""Children per hour with 1 and with 2 worker processes on the same smoke budget.

Each worker gets 1 CPU thread, so on a 2-core machine the ideal ratio is 2.0 (the target
is >= 1.8). Same children, same seeds, same controller: only the executor differs.

    python benchmarks/parallel_scaling.py [--data=PATH] [--children=8] [--kind=processes]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from nas_tf.store import workdir as wd  # noqa: E402
from nas_tf.runner.loop import Search  # noqa: E402
from nas_tf.tasks.cifar10 import Cifar10Task  # noqa: E402

MINI = os.path.join(ROOT, "..", "shared", "data", "cifar10-mini", "cifar-10-python.tar.gz")


def config_for(data: str, children: int, workers: int, kind: str, async_updates: bool):
  spec = importlib.util.spec_from_file_location("cfg", os.path.join(ROOT, "configs", "cifar10.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config("smoke")
  c.data.source = data
  c.search.num_children = children
  c.search.batch_size = 2          # a batch fills both workers
  c.search.depth_every = children  # one depth: equal work per child in both runs
  c.executor.kind = kind
  c.executor.workers = workers
  c.executor.threads_per_worker = 1
  c.executor.cpus_per_child = 1.0
  c.search.async_updates = async_updates
  return c


def run(data, children, workers, kind, async_updates) -> tuple[float, int]:
  with tempfile.TemporaryDirectory() as workdir:
    config = config_for(data, children, workers, kind, async_updates)
    started = time.perf_counter()
    Search(config, workdir, Cifar10Task(config), log=lambda _: None).run()
    seconds = time.perf_counter() - started
    rows = wd.read_jsonl(os.path.join(workdir, "children.jsonl"))
    return seconds, len({r["worker"] for r in rows})


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", default=MINI if os.path.exists(MINI) else "synthetic")
  parser.add_argument("--children", type=int, default=8)
  parser.add_argument("--kind", default="processes", choices=("processes", "ray"))
  parser.add_argument("--modes", default="sync",
                      help="sync and/or async; async runs sample other children, so its two "
                      "runs do not do the same work")
  args = parser.parse_args()
  print(f"data {args.data}; {args.children} smoke children; executor {args.kind}; "
        f"1 thread per worker; {os.cpu_count()} cores", flush=True)
  for mode in args.modes.split(","):
    per_hour = {}
    for workers in (1, 2):
      seconds, distinct = run(args.data, args.children, workers, args.kind, mode == "async")
      per_hour[workers] = args.children / seconds * 3600
      print(f"{mode:5} {workers} worker(s): {seconds:.1f} s, {per_hour[workers]:.0f} "
            f"children/hour, {distinct} distinct worker process(es)", flush=True)
    print(f"{mode:5} ratio 2 workers / 1 worker = {per_hour[2] / per_hour[1]:.2f} "
          "(target >= 1.8)", flush=True)


if __name__ == "__main__":
  main()
