"""ENAS recurrent cells (Pham et al. 2018, section 2.1; melodyguan/enas ``src/ptb``).

- ``EnasCell``: the cell of one architecture as a Keras 3 RNN cell (like ``NASCell``), with
  ENAS's variational dropout of its input and of every node's input (one mask per sequence).
  Node 0 computes highway(f0, [x_t, h_{t-1}] W_0) with carry h_{t-1}; node i computes
  highway(f_i, h_j W_{i,j}) with carry h_j, where highway(f, z) = carry + sigmoid(z_c) *
  (f(z_h) - carry) and [z_h, z_c] = z, as the authors' final cell (``ptb_enas_child.py``
  ``_rhn_fixed``); ``layer_norm`` normalizes z first (``normalize``); h_t averages the loose
  ends.
- ``build_language_model``: the NAS-RL language model (``rnn_cell.build_language_model``)
  around ``EnasCell``, plus embedding dropout.
- ``Supernet``: the same language model with W_{i,j,f} for every pair j < i and every
  activation f (node 0's W_f per activation), as ENAS's search code keys them
  (``ptb_enas_child.py`` ``_build_params``: ``w_prev`` has num_funcs blocks, layer i's
  ``w_skip`` num_funcs * i), and the architecture as tensors; the time loop a ``tf.scan``:
  one traced step serves every cell.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell  # Keras 3's cell mixin

from nas_tf.models import rnn_cell
from nas_tf.spaces.enas_rnn import EnasRnnSpace, loose_ends

# Options the PTB task passes from child.* / final.* (``PtbTask.build_model``).
OPTIONS = ("recurrent_dropout", "embedding_dropout")
# Options that change what the cell computes, from enas.* for search and final training alike.
CELL_OPTIONS = ("layer_norm",)
FUNCTIONS = {"tanh": ops.tanh, "relu": ops.relu, "identity": lambda z: z, "sigmoid": ops.sigmoid}
def init(units: int) -> keras.initializers.Initializer:
  """ENAS's uniform init, its range by the hidden size (ptb_enas_child.py lines 506-514):
  0.1 up to 300 units, 0.05 up to 400, else 0.04."""
  scale = 0.1 if units <= 300 else 0.05 if units <= 400 else 0.04
  return keras.initializers.RandomUniform(-scale, scale)


def normalize(z):
  """Layer normalization without learned parameters (``enas.layer_norm``). Off by default,
  as the authors' final cell: with their tanh and ReLU the search stays finite without it
  and learns faster (docs/enas.md). With identity among the activations, chains through
  the highway's carry grow without limit over the time steps (overflow in the first epoch);
  normalized, the candidate is bounded and h_t a convex mix of bounded values. Unlike the
  authors' search-time batch norm it needs no batch statistics, so the stand-alone cell and
  the supernet compute the same."""
  mean = ops.mean(z, axis=-1, keepdims=True)
  variance = ops.mean(ops.square(z - mean), axis=-1, keepdims=True)
  return (z - mean) * ops.rsqrt(variance + 1e-5)


def highway(z, function, carry, layer_norm: bool = False):
  """carry + sigmoid(gate) * (function(candidate) - carry), [candidate, gate] = z (or
  ``normalize(z)``)."""
  candidate, gate = ops.split(normalize(z) if layer_norm else z, 2, axis=-1)
  return carry + ops.sigmoid(gate) * (function(candidate) - carry)


@keras.saving.register_keras_serializable(package="nas_tf")
class EnasCell(DropoutRNNCell, keras.layers.Layer):
  """The ENAS cell of ``arch`` (``EnasRnnSpace``): state [h]; ``dropout`` masks x_t,
  ``recurrent_dropout`` masks every node's input in its matmul (ENAS's x and h masks)."""

  def __init__(self, arch: dict[str, Any], units: int, dropout: float = 0.0,
               recurrent_dropout: float = 0.0, seed: int | None = None,
               layer_norm: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.arch = {"nodes": [dict(node) for node in arch["nodes"]]}
    self.units, self.seed, self.layer_norm = int(units), seed, bool(layer_norm)
    self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
    self.seed_generator = keras.random.SeedGenerator(seed)
    self.state_size, self.output_size = [self.units], self.units
    self._outputs = loose_ends(self.arch["nodes"])

  def build(self, input_shape):
    u2 = 2 * self.units
    self.kernel_x = self.add_weight((input_shape[-1], u2), init(self.units), name="kernel_x")
    self.kernel_h = self.add_weight((self.units, u2), init(self.units), name="kernel_h")
    self.node_kernels = [self.add_weight((self.units, u2), init(self.units),
                                         name=f"kernel_{i}_from_{node['input']}")
                         for i, node in enumerate(self.arch["nodes"]) if i]
    self.built = True

  def call(self, inputs, states, training=False):
    h_prev = states[0] if isinstance(states, (list, tuple)) else states
    x_mask = self.get_dropout_mask(inputs) if training and self.dropout else None
    h_mask = (self.get_recurrent_dropout_mask(h_prev)
              if training and self.recurrent_dropout else None)
    masked = lambda t, mask: t if mask is None else t * mask  # noqa: E731
    nodes = self.arch["nodes"]
    z = (ops.matmul(masked(inputs, x_mask), self.kernel_x)
         + ops.matmul(masked(h_prev, h_mask), self.kernel_h))
    values = [highway(z, FUNCTIONS[nodes[0]["activation"]], h_prev, self.layer_norm)]
    for i in range(1, len(nodes)):
      source = values[nodes[i]["input"]]
      z = ops.matmul(masked(source, h_mask), self.node_kernels[i - 1])
      values.append(highway(z, FUNCTIONS[nodes[i]["activation"]], source, self.layer_norm))
    h = ops.mean(ops.stack([values[k] for k in self._outputs]), axis=0)
    return h, [h]

  def get_config(self):
    return {**super().get_config(), "arch": self.arch, "units": self.units,
            "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed, "layer_norm": self.layer_norm}


def make_cell(arch: dict[str, Any], units: int, name: str = "cell", **kwargs) -> EnasCell:
  return EnasCell(arch, units, name=name, **kwargs)


def build_language_model(arch: dict[str, Any], vocab_size: int, units: int, num_layers: int = 1,
                         batch_size: int | None = None, dropout: float = 0.0,
                         tie_weights: bool = True, stateful: bool = True,
                         name: str | None = None, recurrent_dropout: float = 0.0,
                         embedding_dropout: float = 0.0, layer_norm: bool = False,
                         **options) -> keras.Model:
  """The language model of ``rnn_cell.build_language_model`` around ``EnasCell``
  (``options``: its output dropout and slowness penalty)."""
  return rnn_cell.build_language_model(
      arch, vocab_size, units, num_layers, batch_size, dropout, tie_weights, stateful,
      name or f"enas_lm_{arch.get('id', 'cell')}", embedding_dropout=embedding_dropout,
      **options,
      make_cell=lambda cell_name: make_cell(arch, units, cell_name,
                                            recurrent_dropout=recurrent_dropout,
                                            layer_norm=layer_norm))


def kernel_row(source, activation, num_functions: int):
  """The row of a node's stacked supernet kernels for input node ``source`` and activation
  index ``activation`` (ints or int tensors) among ``num_functions``: ENAS's
  prev_idx * num_funcs + func_idx (``ptb_enas_child.py`` line 369)."""
  return source * num_functions + activation


class Supernet(keras.Model):
  """``call(tokens, inputs, activations, outputs, initial_state)`` -> (logits [N, T, V], the
  last h): the language model of the cell given by ``EnasRnnSpace.as_tensors``. The training
  state carried across minibatches lives in ``train_state`` (``reset_states`` zeroes it)."""

  def __init__(self, space: EnasRnnSpace, vocab_size: int, units: int, batch_size: int,
               dropout: float = 0.0, recurrent_dropout: float = 0.0,
               embedding_dropout: float = 0.0, tie_weights: bool = True, seed: int = 0,
               layer_norm: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.space, self.vocab_size, self.units = space, int(vocab_size), int(units)
    self.layer_norm = bool(layer_norm)
    self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
    self.tie_weights = tie_weights
    self.embedding = keras.layers.Embedding(vocab_size, units, name="embedding")
    self.word_dropout = rnn_cell.WordDropout(embedding_dropout, vocab_size, seed,
                                             name="embedding_dropout")
    self.output_layer = (rnn_cell.TiedOutput(self.embedding, name="logits") if tie_weights
                         else keras.layers.Dense(vocab_size, name="logits"))
    self.seed, self.seed_generator = int(seed), keras.random.SeedGenerator(seed)
    # Not a Keras weight: per-epoch state, never checkpointed (an epoch starts from zero).
    self.train_state = tf.Variable(tf.zeros((batch_size, units)), trainable=False)

  def describe(self) -> str:
    return f"cells of {self.space.num_nodes} nodes, {self.units} units"

  def build_all(self) -> None:
    u2, n, functions = 2 * self.units, self.space.num_nodes, len(self.space.activations)
    # Node 0's kernels, one per activation; node i's stacked over (input j < i, activation)
    # at ``kernel_row``, as ENAS's w_prev and w_skip rows.
    self.kernel_x = self.add_weight((functions, self.units, u2), init(self.units),
                                    name="kernel_x")
    self.kernel_h = self.add_weight((functions, self.units, u2), init(self.units),
                                    name="kernel_h")
    self.node_kernels = [self.add_weight((i * functions, self.units, u2), init(self.units),
                                         name=f"node_{i}_kernels")
                         for i in range(1, n)]
    self.output_layer(self.embedding(tf.zeros((1, 1), tf.int32)))
    self.built = True

  def reset_states(self, epoch: int) -> None:
    """Zeroes the carried state and reseeds the dropout masks from (seed, epoch), so that a
    search resumed at an epoch boundary draws the masks of an uninterrupted one."""
    self.train_state.assign(tf.zeros_like(self.train_state))
    for k, generator in enumerate((self.seed_generator, self.word_dropout.seed_generator)):
      generator.state.assign(np.array([self.seed, 1_000 * epoch + k], np.int64).astype(
          generator.state.dtype))

  def _mask(self, shape, rate):
    keep = keras.random.uniform(shape, seed=self.seed_generator) >= rate
    return tf.cast(keep, tf.float32) / (1.0 - rate)

  def call(self, tokens, inputs, activations, outputs, initial_state=None, training=False):
    x = self.embedding(tokens)
    x = self.word_dropout([tokens, x], training=training)
    batch = tf.shape(tokens)[0]
    x_mask = self._mask((batch, 1, self.units), self.dropout) if training and self.dropout \
        else None
    h_mask = self._mask((batch, self.units), self.recurrent_dropout) \
        if training and self.recurrent_dropout else None
    if x_mask is not None:  # the embedding dropout (``dropout_input``) is the cell's x mask
      x = x * x_mask
    masked = lambda t: t if h_mask is None else t * h_mask  # noqa: E731
    functions = [FUNCTIONS[a] for a in self.space.activations]

    def select(z, activation, carry):
      candidate, gate = tf.split(normalize(z) if self.layer_norm else z, 2, axis=-1)
      applied = tf.gather(tf.stack([f(candidate) for f in functions]), activation)
      return carry + tf.sigmoid(gate) * (applied - carry)

    # The cell's kernels, picked once per call, not per time step: inside the scan each
    # step would keep its own copy for the gradient (paper size: 11 nodes x 4 MB x 35 steps).
    kernel_x = tf.gather(self.kernel_x, activations[0])
    kernel_h = tf.gather(self.kernel_h, activations[0])
    kernels = [tf.gather(self.node_kernels[i - 1], kernel_row(inputs[i], activations[i],
                                                                len(functions)))
               for i in range(1, self.space.num_nodes)]

    def step(h_prev, x_t):
      z = tf.matmul(x_t, kernel_x) + tf.matmul(masked(h_prev), kernel_h)
      values = [select(z, activations[0], h_prev)]
      for i in range(1, self.space.num_nodes):
        source = tf.gather(tf.stack(values), inputs[i])
        values.append(select(tf.matmul(masked(source), kernels[i - 1]), activations[i],
                             source))
      weights = outputs / tf.reduce_sum(outputs)
      return tf.einsum("n,nbu->bu", weights, tf.stack(values))

    h0 = tf.zeros((batch, self.units)) if initial_state is None else initial_state
    hs = tf.scan(step, tf.transpose(x, [1, 0, 2]), initializer=h0)
    y = tf.transpose(hs, [1, 0, 2])
    if x_mask is not None:  # output dropout: the same rate, its own mask (``dropout_rnn_0``)
      y = y * self._mask((batch, 1, self.units), self.dropout)
    return self.output_layer(y), hs[-1]


def make_supernet(space: EnasRnnSpace, config, task) -> Supernet:
  c = config.child
  supernet = Supernet(space, len(task.corpus.vocab), c.units, c.batch_size, c.dropout,
                      c.get("recurrent_dropout", 0.0), c.get("embedding_dropout", 0.0),
                      c.tie_weights, seed=config.seed,
                      layer_norm=config.enas.get("layer_norm", False))
  supernet.build_all()
  supernet.child_settings = (c.units, c.num_layers, c.tie_weights)
  return supernet


def copy_weights(supernet: Supernet, model: keras.Model, arch: dict[str, Any]) -> None:
  """Loads ``arch``'s weights from the supernet into a one-layer ``build_language_model``."""
  model.get_layer("embedding").set_weights(supernet.embedding.get_weights())
  model.get_layer("logits").set_weights(supernet.output_layer.get_weights())
  cell = model.get_layer("rnn_0").cell
  nodes = arch["nodes"]
  names = supernet.space.activations
  first = names.index(nodes[0]["activation"])
  cell.kernel_x.assign(supernet.kernel_x[first])
  cell.kernel_h.assign(supernet.kernel_h[first])
  for i, node in enumerate(nodes[1:], start=1):
    row = kernel_row(node["input"], names.index(node["activation"]), len(names))
    cell.node_kernels[i - 1].assign(supernet.node_kernels[i - 1][row])


@functools.lru_cache(maxsize=4096)
def _params(arch_json: str, vocab_size: int, units: int, num_layers: int, tie: bool) -> int:
  model = build_language_model(json.loads(arch_json), vocab_size, units, num_layers,
                               tie_weights=tie, stateful=False)
  return int(model.count_params())


def child_params(supernet: Supernet, arch: dict[str, Any]) -> int:
  """Parameters of ``arch``'s language model with the search's child settings."""
  units, layers, tie = supernet.child_settings
  return _params(json.dumps(arch, sort_keys=True), supernet.vocab_size, units, layers, tie)


