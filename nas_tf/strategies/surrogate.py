"""PNAS's learned accuracy predictor: an ensemble of small Keras models that read a cell's
tokens and predict its validation accuracy through a sigmoid output, fitted afresh each
round with an L1 loss (the PNAS paper, section 3.3).

Two kinds, as in the paper:
- ``lstm``: an LSTM over the cell's tokens (in1, in2, op1, op2 per block, so cells of
  different sizes are sequences of different lengths), its last state -> a sigmoid unit;
- ``mlp``: each block's four token embeddings concatenated, averaged over the blocks (a
  fixed size whatever the cell's size), then two hidden layers and a sigmoid unit.

Targets must lie in [0, 1] (accuracies); ``unit_targets`` maps other scores there.

The same ensemble ranks architectures of any space for predictor-guided evolution
(``guided_evolution.py``): given ``slots`` (the values each token position takes), a token
sequence reads as one id per position, and the ``mlp`` reads the whole sequence as one block.
A surrogate fitted again (every few children there) reuses its members' traced models, reset
to the weights they were built with: the same predictions as a fresh surrogate's, without
tracing again.

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


def position_ids(sequences: Sequence[Sequence[int]], slots: Sequence[int]) -> np.ndarray:
  """Token sequences whose position i takes ``slots[i]`` values, as ids of one vocabulary:
  position i's value v is 1 + (the values of the positions before i) + v."""
  offsets = 1 + np.concatenate([[0], np.cumsum(slots)[:-1]]).astype(np.int32)
  return np.asarray(sequences, np.int32).reshape(-1, len(slots)) + offsets


class BlockMeanMLP(keras.Model):
  """Embeddings of a block's ``block`` tokens (a cell block's four, or a whole sequence),
  concatenated, averaged over the blocks present."""

  def __init__(self, vocab: int, units: int, block: int = 4, **kwargs):
    super().__init__(**kwargs)
    self.block = int(block)
    self.embed = keras.layers.Embedding(vocab, units)
    self.hidden = [keras.layers.Dense(units, activation="relu") for _ in range(2)]
    self.out = keras.layers.Dense(1, activation="sigmoid")

  def call(self, ids):
    b = self.block
    blocks = keras.ops.reshape(self.embed(ids), (-1, ids.shape[1] // b, b * self.embed.output_dim))
    present = keras.ops.cast(ids[:, ::b] > 0, blocks.dtype)[..., None]
    x = keras.ops.sum(blocks * present, axis=1) / keras.ops.maximum(
        keras.ops.sum(present, axis=1), 1.0)
    for layer in self.hidden:
      x = layer(x)
    return self.out(x)


def build_predictor(kind: str, vocab: int, length: int, units: int,
                    block: int = 4) -> keras.Model:
  if kind == "lstm":
    ids = keras.Input((length,), dtype="int32")
    x = keras.layers.Embedding(vocab, units, mask_zero=True)(ids)
    x = keras.layers.LSTM(units)(x)
    return keras.Model(ids, keras.layers.Dense(1, activation="sigmoid")(x))
  if kind == "mlp":
    return BlockMeanMLP(vocab, units, block)
  raise ValueError(f"pnas.predictors: unknown predictor {kind!r} (known: {', '.join(KINDS)})")


def unit_targets(scores: Sequence[float]) -> np.ndarray:
  """Scores as targets in [0, 1]: accuracies (and other scores already there) unchanged;
  others shifted and scaled into [0, 1] together with 0 and 1, which keeps their order."""
  y = np.asarray(scores, np.float64)
  low, high = min(0.0, float(y.min())), max(1.0, float(y.max()))
  return (y - low) / (high - low)


class Surrogate:
  def __init__(self, num_ops: int = 0, max_blocks: int = 0, kinds: Sequence[str] = KINDS,
               ensemble: int = 5, epochs: int = 40, units: int = 64,
               learning_rate: float = 0.01, batch_size: int = 32, seed: int = 0,
               slots: Sequence[int] | None = None):
    """Cells of ``num_ops`` ops and up to ``max_blocks`` blocks (PNAS), or token sequences
    whose positions take ``slots`` values (any space)."""
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
      raise ValueError(f"pnas.predictors: {list(kinds)}: need some of {', '.join(KINDS)}")
    self.num_ops, self.max_blocks = num_ops, max_blocks
    self.kinds, self.ensemble, self.epochs = tuple(kinds), int(ensemble), int(epochs)
    self.units, self.learning_rate, self.batch_size = units, learning_rate, batch_size
    self.seed = seed
    self.slots = None if slots is None else [int(n) for n in slots]
    if self.slots is None:
      self.vocab, self.block = 1 + (max_blocks + 1) + num_ops, 4
    else:
      self.vocab, self.block = 1 + sum(self.slots), len(self.slots)
    self.members: list[keras.Model] = []
    # member -> (model, its first weights, its optimizer's first state, its training step)
    self._built: dict[int, tuple] = {}

  def encode(self, cells: Sequence[Sequence[int]]) -> np.ndarray:
    if self.slots is None:
      return token_ids(cells, self.num_ops, self.max_blocks)
    return position_ids(cells, self.slots)

  def _member(self, k: int, length: int):
    """(member k as built from its seed with a fresh optimizer, its training function):
    built and traced once, then reset to those weights and optimizer state for a later fit."""
    if k in self._built:
      model, weights, state, train = self._built[k]
      model.set_weights(weights)
      for variable, value in zip(model.optimizer.variables, state):
        variable.assign(value)
      return model, train
    keras.utils.set_random_seed(self.seed * 1009 + k)
    model = build_predictor(self.kinds[k % len(self.kinds)], self.vocab, length, self.units,
                            self.block)
    model(np.zeros((1, length), np.int32))
    model.optimizer = keras.optimizers.Adam(self.learning_rate)
    model.optimizer.build(model.trainable_variables)
    train = _training_function(model, length, self.epochs, self.batch_size)
    self._built[k] = (model, model.get_weights(),
                      [np.array(v.numpy()) for v in model.optimizer.variables], train)
    return model, train

  def fit(self, cells: Sequence[Sequence[int]], targets: Sequence[float],
          seed: int | None = None) -> None:
    """Fits the ensemble to the cells' ``targets`` (validation accuracies); ``seed`` (default:
    the surrogate's) draws the folds and the minibatches, the surrogate's the first weights."""
    seed = self.seed if seed is None else int(seed)
    x = self.encode(cells)
    y = unit_targets(targets).astype(np.float32)[:, None]
    order = np.random.default_rng(seed).permutation(len(x))
    folds = np.array_split(order, self.ensemble) if len(x) >= 2 * self.ensemble else None
    self.members = []
    for k in range(self.ensemble):
      keep = np.setdiff1d(order, folds[k]) if folds is not None else order
      model, train = self._member(k, x.shape[1])
      train(x[keep], y[keep], np.array([seed * 1009 + k, 0], np.int64))
      self.members.append(model)

  def predict(self, cells: Sequence[Sequence[int]], batch_size: int = 4096) -> np.ndarray:
    if not self.members:
      raise RuntimeError("the surrogate predicts only after fit")
    x = self.encode(cells)
    predictions = [np.concatenate([np.asarray(m(x[i:i + batch_size], training=False))[:, 0]
                                   for i in range(0, len(x), batch_size)])
                   for m in self.members]
    return np.mean(predictions, axis=0)


def _training_function(model: keras.Model, length: int, epochs: int, batch_size: int):
  """``train(x, y, seed)``: ``epochs`` passes of Adam on the mean absolute error (L1, as the
  paper: robust to the few children that failed or diverged) over minibatches of
  ``batch_size``, reshuffled every epoch from ``seed``: what ``Model.fit`` does, as one traced
  call instead of Keras' per-epoch bookkeeping (measured: a tenth of the time)."""
  import tensorflow as tf
  variables = model.trainable_variables

  @tf.function(input_signature=[tf.TensorSpec([None, length], tf.int32),
                                tf.TensorSpec([None, 1], tf.float32),
                                tf.TensorSpec([2], tf.int64)])
  def train(x, y, seed):
    n = tf.shape(x)[0]
    for epoch in tf.range(epochs):
      order = tf.random.experimental.stateless_shuffle(
          tf.range(n), seed=tf.stack([seed[0], tf.cast(epoch, tf.int64)]))
      for start in tf.range(0, n, batch_size):
        batch = order[start:start + batch_size]
        with tf.GradientTape() as tape:
          predicted = model(tf.gather(x, batch), training=True)
          loss = tf.reduce_mean(tf.abs(tf.gather(y, batch) - predicted))
        model.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
  return train
