"""A supernet step composed eagerly of small traced pieces, instead of one traced graph.

A supernet traced whole picks each slot's op with a switch, and TensorFlow builds the
gradient of every branch of every switch: ENAS micro's smoke supernet traced its step for
7-11 s, and the first call took 2-5 s more (2-core CPU). Composed, the architecture picks
each slot's op in Python, and each piece (an op at one stride and input shape) is a
``tf.function`` traced once per search, its weights passed in as arguments, so every slot
and cell that runs the same op on the same shape shares the trace (20 pieces at the smoke
size, the first step 1.4-2.8 s in all). A GradientTape over the pieces takes their
gradients from gradient functions that TensorFlow also builds once per piece. Python
dispatches each piece, so small networks pay for it per step: against the traced step in
one process (``benchmarks/enas_startup.py``), 1.57x its time at the smoke size, 1.28x at
the cpu preset's batch of 64, 0.95x at the paper's supernet (N=2, C=20, batch 160).
"""

from __future__ import annotations

from typing import Any, Callable


class Pieces:
  """``pieces(name, x, layers)`` runs ``math(name, x, weights)`` as a traced function, where
  ``weights`` holds each of the Keras ``layers``' weights as tf.Variables (variables, so that
  a piece may assign, e.g. batch-norm statistics). Traced once per (name, input shape
  without the batch, weight shapes); ``name`` is a hashable tuple the math reads (op kind,
  stride, training flag...)."""

  def __init__(self, math: Callable[[Any, Any, tuple], Any]):
    self.math = math
    self.traces = 0  # Python side effect of tracing: how many pieces were traced
    self._functions: dict[tuple, Any] = {}
    # ids of a layer tuple -> (the layers, their variables, the variables' shapes). Kept
    # here, not on the layers: Keras would track the tuples, and checkpoints with them.
    self._weights: dict[tuple, tuple] = {}

  def __call__(self, name: tuple, x, layers: tuple):
    _, weights, shapes = self._weights_of(layers)
    key = (name, tuple(x.shape[1:]), shapes)
    function = self._functions.get(key)
    if function is None:
      function = self._functions[key] = self._trace(name, x, weights)
    return function(x, weights)

  def __len__(self) -> int:
    """How many pieces there are (each traced once: ``traces`` equals it)."""
    return len(self._functions)

  def _weights_of(self, layers: tuple) -> tuple:
    ids = tuple(map(id, layers))
    known = self._weights.get(ids)
    if known is None:  # holding the layers keeps their ids from being reused
      weights = tuple(tuple(w.value for w in layer.weights) for layer in layers)
      shapes = tuple(tuple(w.shape) for layer in weights for w in layer)
      known = self._weights[ids] = (layers, weights, shapes)
    return known

  def _trace(self, name, x, weights):
    import tensorflow as tf

    def piece(x, weights):
      self.traces += 1
      return self.math(name, x, weights)
    # The batch dimension unknown: a partial last batch uses the same trace.
    spec = tf.TensorSpec([None, *x.shape[1:]], x.dtype)
    return tf.function(piece, autograph=False).get_concrete_function(spec, weights)
