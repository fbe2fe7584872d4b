"""Your ``nas_tf.LayerChoice`` and ``InputChoice`` decisions relaxed for one-shot search:
the supernet your ``build_model(hp)`` builds when every decision is a softmax-weighted
mixture (DARTS), or a switch over candidates whose weights every child shares (ENAS,
``models/switched.py``).

DARTS:

- A LayerChoice becomes ``MixedLayer``: all its candidates, their outputs summed with the
  weights softmax(alpha) of the decision's alpha (one vector per decision name, so the
  cells that reuse a name share it, as DARTS' normal cells share one alpha).
- An InputChoice whose inputs all come from LayerChoices is a DARTS node: it sums all its
  inputs (``mean``: averages them) with no alpha of its own, and when the architecture is
  derived keeps the ``n_chosen`` inputs whose LayerChoice's strongest candidate other than
  ``none`` weighs most (quark0/darts ``model_search.py`` genotype; NNI 1.x's DartsMutator
  did the same). With its own alpha the supernet would not be DARTS' network: the target is
  the built-in DARTS network's logits and gradients (``tests/test_darts_user.py``).
- Any other InputChoice mixes its choices: sum over combinations c of softmax(alpha)_c x the
  reduction of c's inputs, and derives its strongest combination.
- A candidate labelled ``none`` takes part in the mixture and is never derived (DARTS).
The link from an InputChoice to its LayerChoices is read from Keras' functional graph, so a
subclassed model's InputChoices mix with their own alpha.

alpha starts at 1e-3 x N(0, 1), DARTS' initialization. The variables live outside the
model's weights (``Relaxation.alphas``), so the search's optimizers see them apart.
ENAS's switches: ``models/switched.py``.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from nas_tf.models.choices import reduce_inputs
from nas_tf.models.user import call_build
from nas_tf.spaces.user import HyperParameters, SpaceError

NONE = "none"


class _Alpha:
  """A decision's alpha, held where Keras' layer tracking does not count it as a weight."""

  def __init__(self, variable: tf.Variable):
    self.variable = variable


class Relaxation:
  """What LayerChoice and InputChoice return while the supernet is built; keeps their
  alphas and what derivation needs."""

  search_ops = True  # nas_tf.cell_op as in DARTS' search network

  def __init__(self, seed: int = 0):
    self.rng = np.random.default_rng([seed, 7])
    self.alphas: dict[str, tf.Variable] = {}   # decision -> alpha, in creation order
    self.values: dict[str, list[str]] = {}     # decision -> its labels or combinations
    self.feeds: dict[str, list[str]] = {}      # a DARTS node -> the LayerChoice per input

  def alpha(self, name: str, size: int) -> _Alpha:
    if name in self.feeds:
      raise SpaceError(f"InputChoice {name!r} reads LayerChoices in one place and other "
                       "tensors in another: give the two their own names")
    if name not in self.alphas:
      self.alphas[name] = tf.Variable(1e-3 * self.rng.standard_normal(size), dtype=tf.float32,
                                      name=f"alpha_{name}")
    return _Alpha(self.alphas[name])

  def layer_choice(self, name: str, labels: list[str], layers) -> "MixedLayer":
    self.values[name] = labels
    return MixedLayer(layers, name, self.alpha(name, len(labels)))

  def input_choice(self, name: str, combos: list[str], n_candidates: int,
                   reduction: str) -> "MixedInputs":
    self.values[name] = combos
    return MixedInputs(self, name, combos, n_candidates, reduction)

  def link(self, name: str, feeds: list[str]) -> None:
    if name in self.alphas or self.feeds.get(name, feeds) != feeds:
      raise SpaceError(f"InputChoice {name!r} reads different LayerChoices in different "
                       "places: give each place its own name")
    self.feeds[name] = feeds

  def weights(self) -> dict[str, np.ndarray]:
    """softmax(alpha) per decision that has an alpha."""
    return {name: tf.nn.softmax(a).numpy() for name, a in self.alphas.items()}

  def derive(self, weights: dict[str, np.ndarray] | None = None) -> dict[str, str]:
    """Each relaxed decision's value: a LayerChoice's strongest candidate but ``none``, a
    DARTS node's ``n_chosen`` strongest inputs, another InputChoice's strongest combination
    (ties to the earlier)."""
    weights = weights or self.weights()
    strength, chosen = {}, {}
    for name, values in self.values.items():
      if name not in weights:  # a DARTS node, or an InputChoice never called
        continue
      w = weights[name]
      allowed = [k for k, v in enumerate(values) if v != NONE] or list(range(len(values)))
      best = max(allowed, key=lambda k: (w[k], -k))
      chosen[name], strength[name] = values[best], float(w[best])
    for name, feeds in self.feeds.items():
      n_chosen = self.values[name][0].count(",") + 1
      order = sorted(range(len(feeds)), key=lambda i: (-strength[feeds[i]], i))[:n_chosen]
      chosen[name] = ",".join(str(i) for i in sorted(order))
    return {name: chosen[name] for name in self.values if name in chosen}


class MixedLayer(keras.layers.Layer):
  """sum_k softmax(alpha)_k x candidate_k(x) over a LayerChoice's candidates."""

  def __init__(self, candidates: Sequence[keras.layers.Layer], decision: str, alpha: _Alpha,
               **kwargs):
    super().__init__(**kwargs)
    self.candidates, self.decision, self._alpha = list(candidates), decision, alpha

  def call(self, x, training=None):
    outputs = _same_shapes(self.decision, [layer(x, training=training)
                                           for layer in self.candidates])
    weights = tf.unstack(tf.nn.softmax(self._alpha.variable))
    return tf.add_n([tf.cast(w, o.dtype) * o for w, o in zip(weights, outputs)])


def _same_shapes(decision: str, outputs: list) -> list:
  shapes = {tuple(o.shape[1:]) for o in outputs}
  if len(shapes) > 1:
    raise SpaceError(f"LayerChoice {decision!r}: its candidates' outputs differ in shape "
                     f"({', '.join(map(str, sorted(shapes, key=str)))}); a one-shot search "
                     "mixes or switches them, so they must agree")
  return outputs


class MixedInputs(keras.layers.Layer):
  """An InputChoice in the supernet: a DARTS node (the sum of all its inputs) when they all
  come from LayerChoices, else a softmax(alpha)-weighted sum over its combinations."""

  def __init__(self, relaxation: Relaxation, decision: str, combos: list[str],
               n_candidates: int, reduction: str, **kwargs):
    super().__init__(**kwargs)
    self.decision, self.reduction, self.n_candidates = decision, reduction, n_candidates
    self.combos = [[int(i) for i in c.split(",")] for c in combos]
    self._relaxation, self._alpha, self.node = relaxation, None, False

  def __call__(self, inputs, *args, **kwargs):
    if self._alpha is None and not self.node:  # the first call decides, from the graph
      sources = [getattr(getattr(t, "_keras_history", None), "operation", None)
                 for t in inputs]
      if self.reduction != "concat" and all(isinstance(s, MixedLayer) for s in sources):
        self._relaxation.link(self.decision, [s.decision for s in sources])
        self.node = True
      else:
        self._alpha = self._relaxation.alpha(self.decision, len(self.combos))
    return super().__call__(inputs, *args, **kwargs)

  def _reduce(self, picked):
    return reduce_inputs(picked, self.reduction)

  def call(self, inputs):
    inputs = list(inputs)
    if len(inputs) != self.n_candidates:
      raise ValueError(f"InputChoice {self.decision!r}: called on {len(inputs)} tensors, "
                       f"declared {self.n_candidates} candidates")
    if self.node:
      return self._reduce(inputs)
    weights = tf.unstack(tf.nn.softmax(self._alpha.variable))
    return tf.add_n([tf.cast(w, inputs[0].dtype) * self._reduce([inputs[i] for i in combo])
                     for w, combo in zip(weights, self.combos)])


def build_supernet(build, values: dict[str, Any] | None = None, seed: int = 0,
                   input_shape=(32, 32, 3), relaxation: Relaxation | None = None,
                   ) -> tuple[keras.Model, Relaxation, HyperParameters]:
  """Your ``build(hp)`` with every LayerChoice and InputChoice relaxed by ``relaxation``
  (default: DARTS' mixtures) and the ``hp`` decisions at ``values`` (else their defaults):
  (model, its relaxation, the hp it got)."""
  relaxation = relaxation or Relaxation(seed)
  hp = HyperParameters(values, relax=relaxation)
  return call_build(build, hp, input_shape), relaxation, hp


def held_decisions(build, decisions: dict[str, list], relaxation: Relaxation,
                   model: keras.Model, hp: HyperParameters, input_shape,
                   method: str) -> dict[str, Any]:
  """The ``hp`` decisions a one-shot search holds at the values the supernet was built with
  (``hp``'s): those of more than one value that are not a LayerChoice or InputChoice. One
  whose values change the supernet's weight shapes is refused in one line, naming it: one
  set of shared weights cannot serve them all."""
  shapes = [tuple(w.shape) for w in model.weights]
  held = {}
  for name, values in decisions.items():
    if name in relaxation.values or name not in hp.values or len(values) < 2:
      continue
    for value in (v for v in values if v != hp.values[name]):
      other = build_supernet(build, {**hp.values, name: value}, input_shape=input_shape,
                             relaxation=type(relaxation)())[0]
      if [tuple(w.shape) for w in other.weights] != shapes:
        raise SpaceError(f"{method}: hp decision {name!r} changes the network's shapes "
                         f"(value {value!r}); one-shot search shares one set of weights: fix "
                         "it (hp.Fixed) or search it with a multi-trial method")
    held[name] = hp.values[name]
  return held

