"""The NAS-RL controller: a stacked LSTM that emits an architecture one token at a time.

Each decision of a plan (see ``nas_tf.spaces.base``) is one LSTM step. A ``Choice`` reads its token
type's softmax head and feeds the sampled token's embedding to the next step. An ``Anchor``
compares this step's hidden state with the anchor states of all earlier layers,
P(j feeds i) = sigmoid(v^T tanh(W_prev h_j + W_curr h_i)), samples one Bernoulli per earlier
layer and feeds the mean of the chosen anchor states to the next step (as in ENAS). A
``Mark`` keeps its step's state as a pointer target and feeds the start embedding next; a
``Pointer`` is a softmax over the same attention scores of the last k marks and feeds the
chosen mark's state (ENAS's micro controller, choosing a block's inputs).

``sample`` and ``log_prob`` run the *same* unroll, one drawing tokens and one forcing them, so
the REINFORCE update recomputes log-probabilities without keeping a tape from sampling time.

ENAS's controller settings (Pham et al. 2018; melodyguan/enas ``general_controller.py``) are
options, off by default (NAS-RL): ``temperature`` T and ``tanh_constant`` c reshape every
logit to c * tanh(logit / T); ``enas_links`` samples a link from ENAS's two logits
(-q, q), i.e. P(link) = sigmoid(2q) on the reshaped score q; and ``skip_target`` makes
``score`` return, per sequence, the KL divergence of Bernoulli(P(link)) from
Bernoulli(skip_target), summed over a layer's links and averaged over layers (ENAS's skip
penalty; its code takes the KL of sigmoid(q) while sampling sigmoid(2q), so under the
penalty alone its link rate settles near 0.31 for a 0.4 target: here it settles at 0.4).
The plan's decisions carry the rest of ENAS's controllers (``Choice.offset``,
``Mark.feeds_zeros``, ``Pointer``'s distance prior); under each ENAS config the controller
gives the log-probabilities and entropies of the authors' three samplers (tested against
``tests/enas_controllers_reference.py``).
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from nas_tf.spaces.base import Anchor, Choice, Mark, Plan, Pointer, plan_length


# The unroll uses the layers' weights with plain TF ops: Keras 3's per-call layer overhead,
# repeated over every unrolled step, made tracing the REINFORCE step take seconds per depth.
# A sampled token picks its log-probability, embedding or mark through a one-hot product,
# not a gather: the values are the same (x * 1 and + 0 are exact), and a gather's gradient
# (IndexedSlices and its shape arithmetic) was ~40% of the REINFORCE step's trace.
def _dense(layer: keras.layers.Dense, x):
  y = tf.matmul(x, layer.kernel)
  return y + layer.bias if layer.use_bias else y


def _lstm_step(cell: keras.layers.LSTMCell, x, state):
  """One step of a Keras LSTMCell (gate order i, f, c, o) on its own weights."""
  h, c = state
  z = tf.matmul(x, cell.kernel) + tf.matmul(h, cell.recurrent_kernel)
  z = z + cell.bias if cell.use_bias else z
  i, f, g, o = tf.split(z, 4, axis=-1)
  c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
  h = tf.sigmoid(o) * tf.tanh(c)
  return h, [h, c]


class Controller(keras.Model):
  """Stacked-LSTM policy over the decisions of a search space."""

  def __init__(self, token_types: dict[str, int], units: int = 35, num_layers: int = 2,
               init_range: float = 0.08, seed: int = 0, compiled: bool = True,
               temperature: float = 0.0, tanh_constant: float = 0.0, enas_links: bool = False,
               skip_target: float = 0.0, op_tanh_reduce: float = 1.0, biases: bool = True,
               head_bias: dict[str, Sequence[float]] | None = None,
               sampled_entropy: bool = False, **kwargs):
    """``compiled``: run sampling and scoring as traced graphs (one trace per plan, seconds
    each; worth it when a plan is reused many times) or eagerly. ``temperature``,
    ``tanh_constant``, ``skip_target``: 0 = off. ``op_tanh_reduce``: an op's logits use
    tanh_constant / op_tanh_reduce (ENAS micro_controller.py line 182). ``biases``: the LSTM
    and the softmax heads have biases (ENAS's have none: ``common_ops.py`` lstm,
    ``general_controller.py`` w_soft). ``head_bias``: token type -> its head's initial bias,
    a head that has one whatever ``biases`` says (ENAS micro's b_soft). ``sampled_entropy``:
    a decision's entropy term is the sampled value's -p log p (ENAS macro and recurrent,
    ``general_controller.py`` line 168), not the distribution's entropy (ENAS micro's)."""
    super().__init__(**kwargs)
    self.compiled = bool(compiled)
    if temperature < 0 or tanh_constant < 0 or not 0.0 <= skip_target < 1.0:
      raise ValueError("controller: temperature and tanh_constant must be >= 0 and skip_target "
                       f"in [0, 1), got {temperature}, {tanh_constant}, {skip_target}")
    if op_tanh_reduce <= 0:
      raise ValueError(f"controller: op_tanh_reduce must be > 0, got {op_tanh_reduce}")
    self.temperature, self.tanh_constant = float(temperature), float(tanh_constant)
    self.op_tanh_reduce, self.sampled_entropy = float(op_tanh_reduce), bool(sampled_entropy)
    self.enas_links, self.skip_target = bool(enas_links), float(skip_target)
    if units < 1 or num_layers < 1:
      raise ValueError(f"controller: units and num_layers must be >= 1, got {units}, {num_layers}")
    self.units, self.num_layers = int(units), int(num_layers)
    self.token_types = dict(token_types)
    head_bias = {t: [float(b) for b in values] for t, values in (head_bias or {}).items()}
    for t, values in head_bias.items():
      if len(values) != self.token_types.get(t, -1):
        raise ValueError(f"controller: head_bias[{t!r}] needs {self.token_types.get(t, 0)} "
                         f"values, got {len(values)}")
    seeds = iter(range(seed * 1000, seed * 1000 + 1000))

    def init():  # one seeded initializer per weight: a shared seeded one repeats its values
      return keras.initializers.RandomUniform(-init_range, init_range, seed=next(seeds))

    self.cells = [keras.layers.LSTMCell(units, kernel_initializer=init(),
                                        recurrent_initializer=init(), bias_initializer=init(),
                                        use_bias=biases, unit_forget_bias=False,
                                        name=f"lstm_{i}")
                  for i in range(num_layers)]
    self.embeddings = {t: keras.layers.Embedding(n, units, embeddings_initializer=init(),
                                                 name=f"embed_{t}")
                       for t, n in self.token_types.items()}

    def head(t, n):  # init() drawn either way: the other weights keep their seeds
      kernel, bias = init(), init()
      if t in head_bias:
        bias = keras.initializers.Constant(head_bias[t])
      return keras.layers.Dense(n, kernel_initializer=kernel, bias_initializer=bias,
                                use_bias=biases or t in head_bias, name=f"head_{t}")
    self.heads = {t: head(t, n) for t, n in self.token_types.items()}
    self.w_prev = keras.layers.Dense(units, use_bias=False, kernel_initializer=init(),
                                     name="anchor_w_prev")
    self.w_curr = keras.layers.Dense(units, use_bias=False, kernel_initializer=init(),
                                     name="anchor_w_curr")
    self.v = keras.layers.Dense(1, use_bias=False, kernel_initializer=init(), name="anchor_v")
    self.go = self.add_weight(shape=(1, units), initializer=init(), name="go")
    # Build every weight now so optimizers and checkpoints see them before the first step.
    for cell in self.cells:
      cell.build((None, units))
    for t in self.token_types:
      self.embeddings[t].build((None,))
      self.heads[t].build((None, units))
    for dense in (self.w_prev, self.w_curr, self.v):
      dense.build((None, units))
    self._compiled = {}

  # -- the unroll shared by sampling and scoring ------------------------------------------------
  def shape_logits(self, logits, op: bool = False):
    """ENAS's logit shaping: c * tanh(logits / T) (either part off when 0); an op's
    (``op``) with c / op_tanh_reduce."""
    if self.temperature:
      logits = logits / self.temperature
    if self.tanh_constant:
      c = self.tanh_constant / (self.op_tanh_reduce if op else 1.0)
      logits = c * tf.tanh(logits)
    return logits

  def _unroll(self, plan: Plan, batch_size, forced=None, seed=None, keep_probs=False):
    """Runs the controller over ``plan``.

    Either ``forced`` (int32 [m, T]) gives the tokens, or ``seed`` (int32 [2]) drives stateless
    sampling. Returns tokens [m, T], summed log-probabilities [m], summed entropies [m],
    with ``keep_probs`` the per-decision probabilities, and the skip penalty [m] (zeros
    without ``skip_target`` or links).
    """
    m = batch_size
    zeros = tf.zeros([m, self.units])
    states = [[zeros, zeros] for _ in self.cells]
    x = tf.tile(self.go, [m, 1])
    step_seeds = None if seed is None else tf.random.experimental.stateless_split(
        seed, num=max(len(plan), 1))
    anchors, anchor_keys, tokens, probs = [], [], [], []
    marks, mark_keys = [], []
    log_prob = tf.zeros([m])
    entropy = tf.zeros([m])
    skip_kl, linked_layers = tf.zeros([m]), 0
    pos = 0
    for k, decision in enumerate(plan):
      for i, cell in enumerate(self.cells):
        x, states[i] = _lstm_step(cell, x, states[i])
      h = x
      if isinstance(decision, (Choice, Pointer)):  # one categorical token
        if isinstance(decision, Choice):
          logits = _dense(self.heads[decision.token_type], h)
        else:  # softmax over the attention scores of the last k marks
          logits = self._attention(mark_keys[-decision.k:], h)
        logits = self.shape_logits(logits, op=isinstance(decision, Choice))
        if isinstance(decision, Choice) and decision.offset:  # a fixed prior, never learned
          logits += tf.constant([decision.offset], tf.float32)
        if isinstance(decision, Pointer):  # candidate j of the last k marks: distance k - j
          distance = np.arange(decision.k, 0, -1, dtype=np.float32)
          if decision.distance_penalty:
            logits -= decision.distance_penalty * distance ** 2
        log_p = tf.nn.log_softmax(logits)
        if forced is not None:
          token = forced[:, pos]
        else:
          token = tf.cast(tf.random.stateless_categorical(logits, 1, seed=step_seeds[k])[:, 0],
                          tf.int32)
        chosen = tf.one_hot(token, tf.shape(log_p)[-1])  # a one-hot product: see _dense
        log_prob += tf.reduce_sum(chosen * log_p, axis=-1)
        terms = tf.exp(log_p) * log_p  # -p log p per value: the sampled one's, or all
        entropy -= tf.reduce_sum(chosen * terms if self.sampled_entropy else terms, axis=-1)
        if keep_probs:
          probs.append(tf.exp(log_p))
        if isinstance(decision, Choice):
          x = tf.matmul(chosen, self.embeddings[decision.token_type].embeddings)
        else:  # the chosen mark's state
          x = tf.einsum("mk,mku->mu", chosen, tf.stack(marks[-decision.k:], axis=1))
          if decision.scale_by_distance:
            x /= 0.1 + tf.reduce_sum(chosen * distance, axis=-1, keepdims=True)
          if decision.marks_itself:
            marks.append(h)
            mark_keys.append(_dense(self.w_prev, h))
        tokens.append(token[:, None])
        pos += 1
      elif isinstance(decision, Anchor):
        n = decision.layer
        if n > 0:
          score = self.shape_logits(self._attention(anchor_keys, h))  # [m, n]
          logits = 2.0 * score if self.enas_links else score
          if self.skip_target:  # on the probability links are sampled with
            # log-sigmoids: finite however saturated the link probability is
            p, t = tf.sigmoid(logits), self.skip_target
            skip_kl += tf.reduce_sum(p * (tf.math.log_sigmoid(logits) - np.log(t))
                                     + (1.0 - p) * (tf.math.log_sigmoid(-logits) - np.log(1.0 - t)),
                                     axis=-1)
            linked_layers += 1
          if forced is not None:
            links = forced[:, pos:pos + n]
          else:
            uniform = tf.random.stateless_uniform([m, n], seed=step_seeds[k])
            links = tf.cast(uniform < tf.sigmoid(logits), tf.int32)
          on = tf.cast(links, tf.float32)
          log_p_links = (on * tf.math.log_sigmoid(logits)
                         + (1.0 - on) * tf.math.log_sigmoid(-logits))
          log_prob += tf.reduce_sum(log_p_links, axis=-1)
          p_on = tf.sigmoid(logits)
          if self.sampled_entropy:
            entropy -= tf.reduce_sum(tf.exp(log_p_links) * log_p_links, axis=-1)
          else:
            entropy += tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(p_on, logits),
                                     axis=-1)
          if keep_probs:
            probs.append(p_on)
          chosen = tf.reduce_sum(on[..., None] * tf.stack(anchors, axis=1), axis=1)
          x = chosen / (1.0 + tf.reduce_sum(on, axis=-1, keepdims=True))
          tokens.append(links)
          pos += n
        else:  # the first layer has no earlier layer to link to: the start input, as
          x = tf.tile(self.go, [m, 1])  # ENAS general_controller.py line 250
        anchors.append(h)
        anchor_keys.append(_dense(self.w_prev, h))
      elif isinstance(decision, Mark):  # ENAS: the step's output becomes a pointer target
        marks.append(zeros if decision.feeds_zeros else h)
        mark_keys.append(_dense(self.w_prev, h))
        x = tf.tile(self.go, [m, 1])
      else:
        raise TypeError(f"unknown decision {decision!r}")
    out = tf.concat(tokens, axis=1) if tokens else tf.zeros([m, 0], tf.int32)
    return out, log_prob, entropy, probs, skip_kl / max(linked_layers, 1)

  def _attention(self, keys: list, h):
    """v^T tanh(W_prev h_j + W_curr h_i) for each earlier key W_prev h_j: [m, len(keys)]."""
    query = _dense(self.w_curr, h)[:, None, :]
    return tf.squeeze(tf.tensordot(tf.tanh(tf.stack(keys, axis=1) + query), self.v.kernel, 1),
                      -1)

  def _function(self, kind: str, plan: Plan):
    key = (kind, plan)
    if key not in self._compiled:
      length = plan_length(plan)
      if kind == "sample":
        def fn(batch_size, seed):
          tokens, log_prob, entropy, _, _ = self._unroll(plan, batch_size, seed=seed)
          return tokens, log_prob, entropy
        sig = [tf.TensorSpec([], tf.int32), tf.TensorSpec([2], tf.int32)]
      else:
        def fn(tokens):
          _, log_prob, entropy, _, skip_kl = self._unroll(plan, tf.shape(tokens)[0],
                                                          forced=tokens)
          return log_prob, entropy, skip_kl
        sig = [tf.TensorSpec([None, length], tf.int32)]
      self._compiled[key] = (tf.function(fn, input_signature=sig, autograph=False)
                             if self.compiled else fn)
    return self._compiled[key]

  # -- public API ----------------------------------------------------------------------------
  def sample(self, plan: Plan, batch_size: int, seed: Sequence[int]):
    """Samples ``batch_size`` token sequences. Returns numpy (tokens [m, T], log_prob [m])."""
    tokens, log_prob, _ = self._function("sample", plan)(
        tf.constant(batch_size, tf.int32), tf.constant(seed, tf.int32))
    return tokens.numpy(), log_prob.numpy()

  def log_prob(self, plan: Plan, tokens):
    """Log-probability and entropy of given token sequences (differentiable; graph-friendly)."""
    return self.score(plan, tokens)[:2]

  def score(self, plan: Plan, tokens):
    """(log-probability, entropy, skip penalty) of given token sequences, each [m]."""
    tokens = tf.convert_to_tensor(tokens, tf.int32)
    if tf.inside_function():
      _, log_prob, entropy, _, skip_kl = self._unroll(plan, tf.shape(tokens)[0], forced=tokens)
      return log_prob, entropy, skip_kl
    return self._function("score", plan)(tokens)

  def distributions(self, plan: Plan, tokens) -> list[np.ndarray]:
    """Per-decision probabilities along given sequences (softmax rows; link probabilities)."""
    tokens = tf.convert_to_tensor(tokens, tf.int32)
    probs = self._unroll(plan, tokens.shape[0], forced=tokens, keep_probs=True)[3]
    return [p.numpy() for p in probs]
