"""PNAS's learned accuracy predictor: an ensemble of small Keras models that read a cell's
tokens and predict its validation accuracy through a sigmoid output, fitted afresh each
round with an L1 loss (the PNAS paper, section 3.3).

Two kinds, as in the paper:
- ``lstm``: an LSTM over the cell's tokens (in1, in2, op1, op2 per block, so cells of
  different sizes are sequences of different lengths), its last state -> a sigmoid unit;
- ``mlp``: each block's four token embeddings concatenated, averaged over the blocks (a
  fixed size whatever the cell's size), then two hidden layers and a sigmoid unit.

Targets must lie in [0, 1] (accuracies); ``unit_targets`` maps other scores there.

Member k is fitted on all data but fold k (k-fold splits of a seeded permutation), and the
ensemble predicts the mean. Fitting is deterministic: same data and seed, same predictions,
so a resumed PNAS search re-derives the same beam from ``children.jsonl``.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

KINDS = ("lstm", "mlp")


def token_ids(cells: Sequence[Sequence[int]], num_ops: int, max_blocks: int) -> np.ndarray:
  """Cells' tokens ([in1, in2, op1, op2] per block) as ids of one vocabulary, zero-padded to
  ``max_blocks`` blocks: 0 = padding, 1 + input, then 1 + (max_blocks + 1) + op."""
  num_inputs = max_blocks + 1
  ids = np.zeros((len(cells), 4 * max_blocks), np.int32)
  for row, tokens in enumerate(cells):
    t = np.asarray(tokens, np.int32).reshape(-1, 4)
    t = np.concatenate([1 + t[:, :2], 1 + num_inputs + t[:, 2:]], axis=1)
    ids[row, :t.size] = t.reshape(-1)
  return ids


class BlockMeanMLP(keras.Model):
  """Embeddings of a block's four tokens, concatenated, averaged over the cell's blocks."""

  def __init__(self, vocab: int, units: int, **kwargs):
    super().__init__(**kwargs)
    self.embed = keras.layers.Embedding(vocab, units)
    self.hidden = [keras.layers.Dense(units, activation="relu") for _ in range(2)]
    self.out = keras.layers.Dense(1, activation="sigmoid")

  def call(self, ids):
    blocks = keras.ops.reshape(self.embed(ids), (-1, ids.shape[1] // 4, 4 * self.embed.output_dim))
    present = keras.ops.cast(ids[:, ::4] > 0, blocks.dtype)[..., None]
    x = keras.ops.sum(blocks * present, axis=1) / keras.ops.maximum(
        keras.ops.sum(present, axis=1), 1.0)
    for layer in self.hidden:
      x = layer(x)
    return self.out(x)


def build_predictor(kind: str, vocab: int, length: int, units: int) -> keras.Model:
  if kind == "lstm":
    ids = keras.Input((length,), dtype="int32")
    x = keras.layers.Embedding(vocab, units, mask_zero=True)(ids)
    x = keras.layers.LSTM(units)(x)
    return keras.Model(ids, keras.layers.Dense(1, activation="sigmoid")(x))
  if kind == "mlp":
    return BlockMeanMLP(vocab, units)
  raise ValueError(f"pnas.predictors: unknown predictor {kind!r} (known: {', '.join(KINDS)})")


def unit_targets(scores: Sequence[float]) -> np.ndarray:
  """Scores as targets in [0, 1]: accuracies (and other scores already there) unchanged;
  others shifted and scaled into [0, 1] together with 0 and 1, which keeps their order."""
  y = np.asarray(scores, np.float64)
  low, high = min(0.0, float(y.min())), max(1.0, float(y.max()))
  return (y - low) / (high - low)


class Surrogate:
  def __init__(self, num_ops: int, max_blocks: int, kinds: Sequence[str] = KINDS,
               ensemble: int = 5, epochs: int = 40, units: int = 64,
               learning_rate: float = 0.01, batch_size: int = 32, seed: int = 0):
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
      raise ValueError(f"pnas.predictors: {list(kinds)}: need some of {', '.join(KINDS)}")
    self.num_ops, self.max_blocks = num_ops, max_blocks
    self.kinds, self.ensemble, self.epochs = tuple(kinds), int(ensemble), int(epochs)
    self.units, self.learning_rate, self.batch_size = units, learning_rate, batch_size
    self.seed = seed
    self.vocab = 1 + (max_blocks + 1) + num_ops
    self.members: list[keras.Model] = []

  def fit(self, cells: Sequence[Sequence[int]], targets: Sequence[float]) -> None:
    """Fits the ensemble to the cells' ``targets`` (validation accuracies)."""
    x = token_ids(cells, self.num_ops, self.max_blocks)
    y = unit_targets(targets).astype(np.float32)[:, None]
    order = np.random.default_rng(self.seed).permutation(len(x))
    folds = np.array_split(order, self.ensemble) if len(x) >= 2 * self.ensemble else None
    self.members = []
    for k in range(self.ensemble):
      keep = np.setdiff1d(order, folds[k]) if folds is not None else order
      keras.utils.set_random_seed(self.seed * 1009 + k)
      model = build_predictor(self.kinds[k % len(self.kinds)], self.vocab, x.shape[1],
                              self.units)
      # L1 loss, as the paper: robust to the few children that failed or diverged.
      model.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss="mae")
      model.fit(x[keep], y[keep], epochs=self.epochs, batch_size=self.batch_size,
                shuffle=True, verbose=0)
      self.members.append(model)

  def predict(self, cells: Sequence[Sequence[int]], batch_size: int = 4096) -> np.ndarray:
    if not self.members:
      raise RuntimeError("the surrogate predicts only after fit")
    x = token_ids(cells, self.num_ops, self.max_blocks)
    predictions = [np.asarray(m.predict(x, batch_size=batch_size, verbose=0))[:, 0]
                   for m in self.members]
    return np.mean(predictions, axis=0)

