"""The searched recurrent cell as a Keras 3 RNN cell, and the language-model child around it.

``NASCell`` follows the Keras 3 RNN cell protocol (the successor of the removed
``AbstractRNNCell``): a ``keras.layers.Layer`` with ``state_size``, ``output_size`` and
``call(inputs, states, training=None) -> (output, new_states)``, so ``keras.layers.RNN``
runs it like any built-in cell.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from nas_tf.spaces.rnn_cell import tree_children

_ACTIVATIONS = {"identity": lambda x: x, "tanh": ops.tanh, "sigmoid": ops.sigmoid,
                "relu": ops.relu}
_COMBINATIONS = {"add": ops.add, "elem_mult": ops.multiply}


def _apply(kind: str, name: str, *args):
  table = _COMBINATIONS if kind == "combination" else _ACTIVATIONS
  if name not in table:
    raise ValueError(f"unknown {kind} {name!r} (known: {', '.join(table)})")
  return table[name](*args)


@keras.saving.register_keras_serializable(package="nas_tf")
class NASCell(keras.layers.Layer):
  """A recurrent cell given by a NAS-RL cell architecture (see ``RNNCellSearchSpace``).

  States are [h, c]. All B leaves' input projections are one fused matmul of x with a
  [D, B*units] kernel, and all recurrent projections one matmul of h with [units, B*units].
  ``arch["inject"]`` may be None for a cell that ignores c (c_t is still produced).
  """

  def __init__(self, arch: dict[str, Any], units: int, kernel_initializer="glorot_uniform",
               recurrent_initializer="orthogonal", bias_initializer="zeros", **kwargs):
    super().__init__(**kwargs)
    self.arch = {k: arch[k] for k in ("base_number", "nodes", "inject", "cell_node")
                 if k in arch}
    self.base_number = int(arch["base_number"])
    if len(arch["nodes"]) != 2 * self.base_number - 1:
      raise ValueError(f"a cell with base number {self.base_number} needs "
                       f"{2 * self.base_number - 1} nodes, got {len(arch['nodes'])}")
    self.units = int(units)
    self.state_size = [self.units, self.units]
    self.output_size = self.units
    self.kernel_initializer = keras.initializers.get(kernel_initializer)
    self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
    self.bias_initializer = keras.initializers.get(bias_initializer)
    self._children = tree_children(self.base_number)

  def build(self, input_shape):
    width = self.base_number * self.units
    self.kernel = self.add_weight(shape=(input_shape[-1], width), name="kernel",
                                  initializer=self.kernel_initializer)
    self.recurrent_kernel = self.add_weight(shape=(self.units, width), name="recurrent_kernel",
                                            initializer=self.recurrent_initializer)
    self.bias = self.add_weight(shape=(width,), name="bias", initializer=self.bias_initializer)
    self.built = True

  def call(self, inputs, states, training=None):
    h_prev, c_prev = states[0], states[1]
    wx = ops.split(ops.matmul(inputs, self.kernel) + self.bias, self.base_number, axis=-1)
    uh = ops.split(ops.matmul(h_prev, self.recurrent_kernel), self.base_number, axis=-1)
    inject = self.arch.get("inject")
    outputs, c_new = [], None
    for i, node in enumerate(self.arch["nodes"]):
      left, right = (wx[i], uh[i]) if i < self.base_number else \
          (outputs[self._children[i][0]], outputs[self._children[i][1]])
      pre = _apply("combination", node["combination"], left, right)
      out = _apply("activation", node["activation"], pre)
      if inject is not None and inject["node"] == i:
        out = _apply("activation", inject["activation"],
                     _apply("combination", inject["combination"], out, c_prev))
      if self.arch.get("cell_node") == i:
        c_new = pre
      outputs.append(out)
    h = outputs[-1]
    return h, [h, c_prev if c_new is None else c_new]

  def get_config(self):
    config = super().get_config()
    config.update(arch=self.arch, units=self.units,
                  kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
                  recurrent_initializer=keras.initializers.serialize(self.recurrent_initializer),
                  bias_initializer=keras.initializers.serialize(self.bias_initializer))
    return config


@keras.saving.register_keras_serializable(package="nas_tf")
class TiedOutput(keras.layers.Layer):
  """Logits with the input embedding as output weights (weight tying, Press & Wolf 2017)."""

  def __init__(self, embedding: keras.layers.Embedding, **kwargs):
    super().__init__(**kwargs)
    self.embedding = embedding

  def build(self, input_shape):
    self.bias = self.add_weight(shape=(self.embedding.input_dim,), name="bias",
                                initializer="zeros")
    self.built = True

  def call(self, x):
    return ops.matmul(x, ops.transpose(self.embedding.embeddings)) + self.bias


@keras.saving.register_keras_serializable(package="nas_tf")
class WordDropout(keras.layers.Layer):
  """Embedding dropout as ENAS's language model draws it (melodyguan/enas ``ptb_enas_child.py``
  lines 423-436): in training each position of each sequence keeps its word's embedding
  with probability 1 - rate (scaled by 1/(1-rate)), and a word dropped at one position is
  also dropped wherever it occurs later in that sequence: dropout of word types (Gal &
  Ghahramani 2016), as that code approximates it."""

  def __init__(self, rate: float, vocab_size: int, seed: int | None = None, **kwargs):
    super().__init__(**kwargs)
    self.rate, self.vocab_size, self.seed = float(rate), int(vocab_size), seed
    self.seed_generator = keras.random.SeedGenerator(seed)

  def call(self, inputs, training=False):
    tokens, embedded = inputs
    if not training or not self.rate:
      return embedded
    keep = 1.0 - self.rate
    mask = ops.floor(keras.random.uniform(ops.shape(tokens), seed=self.seed_generator)
                     + keep) / keep
    # [N, s, t]: the word at s < t is the word at t, and s was dropped.
    same = ops.equal(ops.expand_dims(tokens, 2), ops.expand_dims(tokens, 1))
    steps = ops.shape(tokens)[1]
    earlier = ops.expand_dims(ops.arange(steps), 1) < ops.expand_dims(ops.arange(steps), 0)
    dropped_before = ops.any(same & earlier & ops.expand_dims(mask == 0, 2), axis=1)
    mask = ops.where(dropped_before, ops.zeros_like(mask), mask)
    return embedded * ops.expand_dims(ops.cast(mask, embedded.dtype), -1)

  def get_config(self):
    return {**super().get_config(), "rate": self.rate, "vocab_size": self.vocab_size,
            "seed": self.seed}


@keras.saving.register_keras_serializable(package="nas_tf")
class SlownessPenalty(keras.layers.Layer):
  """ENAS's rnn_slowness_reg (melodyguan/enas ``ptb_enas_child.py`` lines 202-204, 487-490):
  in training, adds rate x sum((h[t+1] - h[t])^2) over a window's (dropped-out) outputs.
  ENAS divides it by the batch, as its loss, which sums the window's token losses; nas-tf's
  loss is the mean per token, so both are also divided by the window's steps."""

  def __init__(self, rate: float, **kwargs):
    super().__init__(**kwargs)
    self.rate = float(rate)

  def call(self, x, training=False):
    if training and self.rate:
      steps = ops.cast(ops.shape(x)[0] * ops.shape(x)[1], x.dtype)
      self.add_loss(self.rate * ops.sum(ops.square(x[:, 1:] - x[:, :-1])) / steps)
    return x

  def get_config(self):
    return {**super().get_config(), "rate": self.rate}


def build_language_model(arch: dict[str, Any], vocab_size: int, units: int, num_layers: int = 1,
                         batch_size: int | None = None, dropout: float = 0.0,
                         tie_weights: bool = True, stateful: bool = True,
                         name: str | None = None, make_cell=None,
                         embedding_dropout: float = 0.0, output_dropout: float | None = None,
                         slowness_reg: float = 0.0) -> keras.Model:
  """token ids [N, T] -> next-token logits [N, T, V]: embedding, ``num_layers`` RNN(cell),
  variational dropout (one mask per sequence) on the embedding and every RNN output (the
  last one's ``output_dropout`` when given), and ``embedding_dropout`` of words (``WordDropout``);
  ``slowness_reg`` penalizes the last output's steps (``SlownessPenalty``). ``make_cell(name)``
  builds each layer's cell (default: ``NASCell(arch, units)``)."""
  make_cell = make_cell or (lambda cell_name: NASCell(arch, units, name=cell_name))
  tokens = keras.Input(shape=(None,), batch_size=batch_size if stateful else None,
                       dtype="int32", name="tokens")
  embedding = keras.layers.Embedding(vocab_size, units, name="embedding")
  x = embedding(tokens)
  if embedding_dropout:
    x = WordDropout(embedding_dropout, vocab_size, name="embedding_dropout")([tokens, x])

  def drop(x, tag, rate=dropout):
    if not rate:
      return x
    return keras.layers.Dropout(rate, noise_shape=(None, 1, units), name=f"dropout_{tag}")(x)

  x = drop(x, "input")
  for i in range(num_layers):
    x = keras.layers.RNN(make_cell(f"cell_{i}"), return_sequences=True, stateful=stateful,
                         name=f"rnn_{i}")(x)
    last = i == num_layers - 1 and output_dropout is not None
    x = drop(x, f"rnn_{i}", output_dropout if last else dropout)
  if slowness_reg:
    x = SlownessPenalty(slowness_reg, name="slowness")(x)
  if tie_weights:
    logits = TiedOutput(embedding, dtype="float32", name="logits")(x)
  else:
    logits = keras.layers.Dense(vocab_size, dtype="float32", name="logits")(x)
  return keras.Model(tokens, logits, name=name or f"lm_{arch.get('id', 'cell')}")


def make_cell(arch: dict[str, Any], units: int, name: str = "cell") -> keras.layers.Layer:
  """The searched cell alone (for export)."""
  return NASCell(arch, units, name=name)
