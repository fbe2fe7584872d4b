"""Training-free search against NAS-RL on real images, same data, same machine, one run.

Each method searches cifar10-mini at the smoke preset (``--method=zero_cost``: 100 cells of
the cell space scored untrained by NASWOT, the best trained; NAS-RL: its controller and
trained children), then ``nas-tf train`` trains the found architecture from scratch
(``final.*`` of the same preset), and the test accuracy is read from the work directory.

    python benchmarks/training_free.py [--data=PATH/cifar-10-python.tar.gz] [--seeds=0,1,2]
        [--methods=zero_cost,nas_rl]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

flags.DEFINE_string("data", os.path.join(ROOT, "..", "shared", "data", "cifar10-mini",
                                         "cifar-10-python.tar.gz"), "CIFAR-10 images.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "search seeds.")
flags.DEFINE_list("methods", ["zero_cost", "nas_rl"], "methods to compare.")
FLAGS = flags.FLAGS


def timed(args: list[str]) -> float:
  started = time.perf_counter()
  subprocess.run([sys.executable, "-m", "nas_tf", *args], check=True, capture_output=True,
                 text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
  return time.perf_counter() - started


def main(argv):
  rows = []
  for method in FLAGS.methods:
    for seed in FLAGS.seeds:
      workdir = tempfile.mkdtemp(prefix=f"{method}-{seed}-")
      search = timed(["search", "cifar10", f"--method={method}", "--config=smoke",
                      f"--config.data.source={FLAGS.data}", f"--config.seed={seed}",
                      f"--workdir={workdir}"])
      train = timed(["train", f"--workdir={workdir}"])
      with open(os.path.join(workdir, "final", "result.json")) as f:
        result = json.load(f)
      rows.append((method, seed, search, train, result["test_accuracy"]))
      print(f"{method} seed {seed}: search {search:.0f} s, train {train:.0f} s, test accuracy "
            f"{result['test_accuracy']:.4f}", flush=True)
  print("\n| method | seeds | search s (mean) | final training s (mean) | test accuracy (mean) |")
  print("| --- | --- | --- | --- | --- |")
  for method in FLAGS.methods:
    mine = [r for r in rows if r[0] == method]
    mean = lambda k: sum(r[k] for r in mine) / len(mine)  # noqa: E731
    accs = ", ".join(f"{r[4]:.4f}" for r in mine)
    print(f"| {method} | {len(mine)} | {mean(2):.0f} | {mean(3):.0f} | {mean(4):.4f} ({accs}) |")


if __name__ == "__main__":
  app.run(main)
