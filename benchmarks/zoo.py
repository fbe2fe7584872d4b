"""The published CIFAR-10 networks (``nas-tf zoo``) at their papers' final sizes, on this machine:

1. per architecture: build seconds, the first training step's seconds (trace included, with
   the auxiliary head and drop-path of the final recipe), a later step's seconds and their
   ratio, and the trainable parameters next to the paper's count;
2. training images/s at ``--batch_size`` (32) of darts_v2, pnasnet_5, enas_micro and
   enas_macro, side by side in one process on the same batches, as ratios to darts_v2;
3. the recurrent cells' language models (Penn Treebank's 10,000 words) at their papers'
   sizes, on windows of 35 steps at ``--lm_batch`` (64, ENAS's final script): build, first
   step, a later step, and training tokens/s.

    python benchmarks/zoo.py [--batch_size=32] [--steps=5] [--only=darts_v2,nas_rl_ptb]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from nas_tf.models.cell import build_classifier  # noqa: E402
from nas_tf.spaces.published import BY_NAME, PUBLISHED  # noqa: E402
from nas_tf.products.zoo import LANGUAGE_SPACES  # noqa: E402

SIDE_BY_SIDE = ("darts_v2", "pnasnet_5", "enas_micro", "enas_macro")


def build(entry, drop_path: float = 0.2) -> keras.Model:
  if entry.space == "enas_macro":  # its final recipe: dropout before the classifier, no head
    from nas_tf.models.enas_macro import build_classifier as build_macro
    model = build_macro(entry.architecture(), (32, 32, 3), 10, 4e-4, dropout=0.5)
  else:
    model = build_classifier(entry.architecture(), (32, 32, 3), 10, 3e-4, drop_path=drop_path,
                             auxiliary_weight=0.4, **entry.network)
  # jit_compile off, as nas-tf trains on CPU (child.jit_compile).
  model.compile(optimizer=keras.optimizers.SGD(0.025, momentum=0.9), jit_compile=False,
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  return model


def build_language_model(entry) -> keras.Model:
  from nas_tf import registry
  from nas_tf.products.zoo import PTB_VOCAB
  models = registry.models_for(entry.space)
  model = models.build_language_model(entry.architecture(), PTB_VOCAB, stateful=False,
                                      dropout=0.5, **entry.network)
  model.compile(optimizer=keras.optimizers.SGD(1.0, global_clipnorm=0.25), jit_compile=False,
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  return model


def language_models(names, batch: int, steps: int) -> None:
  print(f"3. recurrent cells' language models, batch {batch} x 35 steps: build, first step "
        "(trace), a later step (s), training tokens/s")
  rng = np.random.default_rng(0)
  tokens = rng.integers(0, 10_000, size=(batch, 36)).astype("int32")
  x, y = tokens[:, :-1], tokens[:, 1:]
  for name in names:
    started = time.perf_counter()
    model = build_language_model(BY_NAME[name])
    built = time.perf_counter()
    model.train_on_batch(x, y)
    first = time.perf_counter()
    model.train_on_batch(x, y)
    later = time.perf_counter() - first
    timed = time.perf_counter()
    for _ in range(steps):
      model.train_on_batch(x, y)
    rate = steps * x.size / (time.perf_counter() - timed)
    print(f"   {name:<12} build {built - started:6.1f}  first step {first - built:6.1f}  "
          f"later {later:5.2f}  {rate:8.0f} tokens/s  params {trainable(model):,} (paper "
          f"{BY_NAME[name].paper_params}M)", flush=True)


def trainable(model, auxiliary: bool = False) -> int:
  return int(sum(np.prod(w.shape) for w in model.trainable_weights
                 if auxiliary or "aux" not in w.path))


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--batch_size", type=int, default=32)
  p.add_argument("--steps", type=int, default=5)
  p.add_argument("--lm_batch", type=int, default=64)
  p.add_argument("--only", default="", help="comma-separated names (default: all)")
  a = p.parse_args()
  chosen = [n for n in a.only.split(",") if n] or [e.name for e in PUBLISHED]
  recurrent = [n for n in chosen if BY_NAME[n].space in LANGUAGE_SPACES]
  names = [n for n in chosen if n not in recurrent]
  rng = np.random.default_rng(0)
  x = rng.normal(size=(a.batch_size, 32, 32, 3)).astype("float32")
  y = rng.integers(0, 10, size=(a.batch_size,))
  if names:
    print(f"1. paper-size networks, batch {a.batch_size}: build, first step (trace), a "
          "later step (s); trainable parameters without the auxiliary head")
  models = {}
  for name in names:
    entry = BY_NAME[name]
    started = time.perf_counter()
    model = build(entry)
    built = time.perf_counter()
    model.train_on_batch(x, y)
    first = time.perf_counter()
    model.train_on_batch(x, y)
    later = time.perf_counter() - first
    print(f"   {name:<12} build {built - started:6.1f}  first step {first - built:6.1f}  "
          f"later {later:5.2f}  first/later {(first - built) / later:5.1f}  params "
          f"{trainable(model):,} (paper {entry.paper_params}M)", flush=True)
    if name in SIDE_BY_SIDE:
      models[name] = model
  if len(models) > 1:
    print(f"2. training images/s, batch {a.batch_size}, {a.steps} steps each, alternating")
    rates = {name: [] for name in models}
    for _ in range(2):
      for name, model in models.items():
        started = time.perf_counter()
        for _ in range(a.steps):
          model.train_on_batch(x, y)
        rates[name].append(a.steps * a.batch_size / (time.perf_counter() - started))
    base = max(rates.get("darts_v2", next(iter(rates.values()))))
    for name, r in rates.items():
      print(f"   {name:<12} {max(r):7.1f} images/s  ratio to darts_v2 {max(r) / base:.2f}")
  if recurrent:
    language_models(recurrent, a.lm_batch, a.steps)


if __name__ == "__main__":
  main()
