"""Training speed of a found NAS cell in keras.layers.RNN / keras.layers.LSTM (same hidden size).

    python benchmarks/cell_speed.py [--workdir=W] [--units=200] [--steps=10] [--repeats=5]

The cell is the best child of a PTB search's work directory when ``--workdir`` is given,
else a fixed base-number-8 cell sampled from a seeded controller (the paper's space).
Both models: embedding -> one recurrent layer -> tied-size dense softmax, batch 20 x 35
steps, SGD; tokens/s over interleaved repeats (best of, as machine noise only slows).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nas_tf.models.rnn_cell import NASCell  # noqa: E402
from nas_tf.strategies.controller import Controller  # noqa: E402
from nas_tf.spaces.rnn_cell import RNNCellSearchSpace  # noqa: E402

VOCAB, BATCH, BPTT = 10_000, 20, 35


def found_cell(workdir: str | None) -> dict:
  if workdir:
    with open(os.path.join(workdir, "best.json")) as f:
      return json.load(f)["arch"]
  space = RNNCellSearchSpace(8)
  tokens, _ = Controller(space.token_types, seed=0).sample(space.plan(), 1, [0, 0])
  return space.decode(tokens[0])


def language_model(recurrent: keras.layers.Layer, units: int) -> keras.Model:
  tokens = keras.Input((BPTT,), batch_size=BATCH, dtype="int32")
  x = keras.layers.Embedding(VOCAB, units)(tokens)
  x = recurrent(x)
  model = keras.Model(tokens, keras.layers.Dense(VOCAB)(x))
  model.compile(optimizer=keras.optimizers.SGD(1.0, global_clipnorm=5.0),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  return model


def tokens_per_second(make, units, steps):
  keras.utils.set_random_seed(0)
  model = language_model(make(units), units)
  rng = np.random.default_rng(0)
  x = rng.integers(0, VOCAB, size=(BATCH, BPTT)).astype(np.int32)
  data = tf.data.Dataset.from_tensors((x, x)).repeat()
  model.fit(data.take(2), verbose=0)  # trace and warm up
  started = time.perf_counter()
  model.fit(data.take(steps), verbose=0)
  seconds = time.perf_counter() - started
  keras.backend.clear_session()
  return steps * BATCH * BPTT / seconds


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir")
  parser.add_argument("--units", type=int, default=200)
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()
  arch = found_cell(args.workdir)
  space = RNNCellSearchSpace(arch["base_number"])
  print(f"cell (base number {arch['base_number']}):\n  " + space.describe(arch).replace("\n", "\n  "))
  nas = lambda u: keras.layers.RNN(NASCell(arch, u), return_sequences=True)  # noqa: E731
  lstm = lambda u: keras.layers.LSTM(u, return_sequences=True)  # noqa: E731
  ours, theirs = [], []
  for _ in range(args.repeats):
    ours.append(tokens_per_second(nas, args.units, args.steps))
    theirs.append(tokens_per_second(lstm, args.units, args.steps))
  device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
  print(f"samples (tokens/s): NASCell {' '.join(f'{v:.0f}' for v in ours)} | "
        f"LSTM {' '.join(f'{v:.0f}' for v in theirs)}")
  print(f"{device}, hidden {args.units}, batch {BATCH}x{BPTT}: RNN(NASCell) {max(ours):.0f} "
        f"tokens/s, LSTM {max(theirs):.0f} tokens/s; ratio NASCell/LSTM = "
        f"{max(ours) / max(theirs):.3f} (medians: {np.median(ours) / np.median(theirs):.3f})")


if __name__ == "__main__":
  main()
