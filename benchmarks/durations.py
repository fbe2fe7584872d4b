"""How long each (task, method, preset) search takes on this machine, end to end as a user
runs it (``nas-tf search TASK --method=M --config=PRESET`` on ../shared/data), written to
``nas_tf/durations.json``: the first line of every search quotes it ("expected duration").

    python benchmarks/durations.py                       every runnable pair at smoke
    python benchmarks/durations.py --only cifar10/darts --presets smoke,cpu

Rows are merged into the table, so a partial run updates only what it measured. Pairs whose
data is absent here (your own images) are left out and read "not measured".
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from nas_tf import presets, registry  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data")
SOURCES = {
    "cifar10": os.path.join(DATA, "cifar10-mini", "cifar-10-python.tar.gz"),
    "ptb": os.path.join(DATA, "ptb-mini"),
    "text": os.path.join(DATA, "ptb-mini"),  # a folder of ptb.{train,valid,test}.txt
    "nasbench201": os.path.join(DATA, "nasbench", "nb201_cifar10_cifar100_imagenet16.csv"),
    "nasbench_macro": os.path.join(DATA, "nasbench", "nas-bench-macro_cifar10.json"),
}


def machine() -> str:
  from nas_tf.runtime import hardware
  gpus = hardware.visible_gpus()
  return f"{len(gpus)} GPU(s)" if gpus else f"{os.cpu_count()} CPU cores"


def pairs(only: list[str]) -> list[tuple[str, str]]:
  """(task, method) pairs with data here, the methods each task offers."""
  found = [(task, method) for task in registry.TASKS for method in registry.METHODS
           if task in SOURCES and task in registry.method_tasks(method)]
  return [p for p in found if not only or "/".join(p) in only]


def measure(task: str, method: str, preset: str) -> dict:
  with tempfile.TemporaryDirectory() as workdir:
    command = [sys.executable, "-m", "nas_tf", "search", task, f"--method={method}",
               f"--config={preset}", f"--config.data.source={SOURCES[task]}",
               f"--workdir={workdir}"]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
  if result.returncode != 0:
    raise RuntimeError(f"{task}/{method}/{preset}: rc {result.returncode}: "
                       f"{result.stderr.strip().splitlines()[-1:]}")
  last = result.stdout.strip().splitlines()[-1]
  return {"seconds": round(seconds, 1), "machine": machine(),
          "date": datetime.date.today().isoformat(), "last_line": last[:200]}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--only", default="", help="task/method,... (default: all)")
  parser.add_argument("--presets", default="smoke")
  args = parser.parse_args()
  table = {"about": "benchmarks/durations.py: wall seconds of nas-tf search TASK "
                    "--method=M --config=PRESET on ../shared/data, process start to exit",
           "runs": presets.measured()}
  todo = [(t, m, p) for t, m in pairs([o for o in args.only.split(",") if o])
          for p in args.presets.split(",")]
  print(f"{'task/method/preset':<32} {'seconds':>8}  last line")
  for task, method, preset in todo:
    row = measure(task, method, preset)
    table["runs"][f"{task}/{method}/{preset}"] = row
    print(f"{task + '/' + method + '/' + preset:<32} {row['seconds']:>8.1f}  {row['last_line']}",
          flush=True)
    with open(presets.DURATIONS + ".tmp", "w") as f:
      json.dump(table, f, indent=1, sort_keys=True)
    os.replace(presets.DURATIONS + ".tmp", presets.DURATIONS)


if __name__ == "__main__":
  main()
