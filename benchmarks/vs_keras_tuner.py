"""nas-tf against Keras Tuner 1.4.8 on the same build function, data and wall time.

The build function is docs/your-space.md's ``my_space.build_model`` (hp.Int, hp.Choice,
hp.Boolean; compiled with Adam and a categorical cross-entropy, so both train it with its
own optimizer, loss and batch of 64 for ``--epochs`` epochs a child). The data is
cifar10-mini: its first 3,660 training images train, the last 500 validate (both tools rank
on that validation accuracy), its 500 test images test. Each search gets ``--budget``
seconds of wall time (both finish the child that crosses it) and a seed; per search it
prints the best validation accuracy, the best model's test accuracy (nas-tf: its exported
SavedModel on uint8 images; Keras Tuner: ``get_best_models()[0]``) and the seconds per
child, then a summary of the means over seeds with each row's ratio to Keras Tuner's
RandomSearch.

Data as each tool sees it: nas-tf standardizes the images by the training split's
per-channel mean and deviation, without augmentation (``data.augment=False``); Keras Tuner
gets the same standardized arrays. Hyperband's children train 1 to ``2 x --epochs``
epochs (its ``max_epochs``), the others ``--epochs``.

    python benchmarks/vs_keras_tuner.py [--data=PATH] [--budget=120] [--seeds=0,1,2]
        [--epochs=2] [--tools=nas-tf:evolution,nas-tf:nas_rl,kt:random,kt:bayesian,kt:hyperband]
    # nas-tf's children trained as long as Hyperband's longest (its max_epochs):
    python benchmarks/vs_keras_tuner.py --tools=nas-tf:evolution:4,kt:hyperband

A tool ``nas-tf:STRATEGY:E`` trains its children E epochs instead of ``--epochs``.

Needs keras-tuner (requirements-test.txt); one process, run on an idle machine.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
MINI = os.path.join(ROOT, "..", "shared", "data", "cifar10-mini", "cifar-10-python.tar.gz")
TOOLS = "nas-tf:evolution,nas-tf:nas_rl,kt:random,kt:bayesian,kt:hyperband"
VALIDATION = 500


def docs_build_function(folder: str):
  """docs/your-space.md's my_space.py, written to ``folder`` and imported."""
  page = open(os.path.join(ROOT, "docs", "your-space.md")).read()
  code = re.search(r"```python file=my_space.py\n(.*?)```", page, re.S).group(1)
  with open(os.path.join(folder, "my_space.py"), "w") as f:
    f.write(code)
  sys.path.insert(0, folder)
  return importlib.import_module("my_space").build_model


def split(path: str):
  from nas_tf.data import cifar10
  data = cifar10.load(path)
  x, y = data.train_images, data.train_labels
  return (x[:-VALIDATION], y[:-VALIDATION]), (x[-VALIDATION:], y[-VALIDATION:]), \
      (data.test_images, data.test_labels)


def one_hot(labels):
  return np.eye(10, dtype="float32")[labels]


def run_nas_tf(strategy, build, train, val, test, budget, epochs, seed, folder):
  import nas_tf
  import tensorflow as tf
  started = time.perf_counter()
  result = nas_tf.search(build, data=(train[0], one_hot(train[1])),
                         validation_data=(val[0], one_hot(val[1])), strategy=strategy,
                         preset="cpu", time_budget=f"{budget}s", workdir=f"{folder}/w",
                         log=lambda _: None,
                         overrides={"seed": seed, "child.epochs": epochs,
                                    "child.batch_size": 64, "data.augment": False,
                                    "data.max_train_examples": 0, "search.num_children": 10_000})
  seconds = time.perf_counter() - started
  children = sum(1 for _ in open(f"{folder}/w/children.jsonl"))
  result.export(f"{folder}/export")
  serve = tf.saved_model.load(f"{folder}/export/model").signatures["serving_default"]
  probabilities = list(serve(tf.constant(test[0])).values())[0].numpy()
  return (result.best["val_accuracy"], float(np.mean(probabilities.argmax(1) == test[1])),
          seconds / children, children)


def run_keras_tuner(kind, build, train, val, test, budget, epochs, seed, folder):
  import keras_tuner as kt
  base = {"random": kt.RandomSearch, "bayesian": kt.BayesianOptimization,
          "hyperband": kt.Hyperband}[kind]
  deadline = time.perf_counter() + budget

  class Timed(base):
    def on_trial_end(self, trial):  # no trial starts after the budget is spent
      super().on_trial_end(trial)
      if time.perf_counter() > deadline:
        self.oracle.max_trials = len(self.oracle.trials)

  size = {"max_epochs": 2 * epochs} if kind == "hyperband" else {"max_trials": 10_000}
  tuner = Timed(build, objective="val_accuracy", seed=seed, directory=folder,
                project_name=kind, overwrite=True, **size)
  mean, std = train[0].mean((0, 1, 2)), train[0].std((0, 1, 2))
  norm = lambda x: ((x - mean) / std).astype("float32")  # noqa: E731
  started = time.perf_counter()
  tuner.search(norm(train[0]), one_hot(train[1]), epochs=epochs, batch_size=64,
               validation_data=(norm(val[0]), one_hot(val[1])), verbose=0)
  seconds = time.perf_counter() - started
  trials = len(tuner.oracle.trials)
  best = tuner.oracle.get_best_trials(1)[0]
  model = tuner.get_best_models(1)[0]
  test_accuracy = float(np.mean(model.predict(norm(test[0]), verbose=0).argmax(1) == test[1]))
  return best.score, test_accuracy, seconds / trials, trials


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", default=MINI)
  parser.add_argument("--budget", type=float, default=120)
  parser.add_argument("--seeds", default="0,1,2")
  parser.add_argument("--epochs", type=int, default=2)
  parser.add_argument("--tools", default=TOOLS)
  args = parser.parse_args()
  from importlib.metadata import version
  with tempfile.TemporaryDirectory() as folder:
    build = docs_build_function(folder)
    train, val, test = split(args.data)
    print(f"keras-tuner {version('keras-tuner')}; {len(train[0])} train / {len(val[0])} "
          f"validation / {len(test[0])} test images from {args.data}; {args.budget:g} s a "
          f"search, {args.epochs} epochs a child")
    print(f"{'tool':<20} {'seed':>4} {'best val':>9} {'test':>7} {'s/child':>8} {'children':>9}")
    rows = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
      for tool in args.tools.split(","):
        kind, name, epochs = (tool.split(":") + [str(args.epochs)])[:3]
        run = run_nas_tf if kind == "nas-tf" else run_keras_tuner
        out = os.path.join(folder, f"{kind}-{name}-{epochs}-{seed}")
        os.makedirs(out)
        row = run(name, build, train, val, test, args.budget, int(epochs), seed, out)
        rows.setdefault(tool, []).append(row)
        print(f"{tool:<20} {seed:>4} {row[0]:>9.4f} {row[1]:>7.4f} {row[2]:>8.1f} "
              f"{row[3]:>9d}", flush=True)
  print("\nmeans over seeds (ratio to kt:random)")
  print(f"{'tool':<20} {'best val':>9} {'test':>7} {'s/child':>8}  test/kt  s-per-child/kt")
  reference = np.mean(rows["kt:random"], 0) if "kt:random" in rows else None
  for tool, values in rows.items():
    mean = np.mean(values, 0)
    ratios = (f"  {mean[1] / reference[1]:7.3f}  {mean[2] / reference[2]:14.3f}"
              if reference is not None else "")
    print(f"{tool:<20} {mean[0]:>9.4f} {mean[1]:>7.4f} {mean[2]:>8.1f}{ratios}")


if __name__ == "__main__":
  main()
