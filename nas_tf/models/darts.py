"""DARTS' search network (Liu et al. 2019; quark0/darts ``model_search.py``): every edge of a
cell carries a mixed op, the softmax(alpha)-weighted sum of every op of the vocabulary.

A cell has ``num_nodes`` intermediate nodes; node i sums one mixed op per earlier state (the
two cell inputs and nodes 0..i-1), so a cell has 2 + 3 + ... edges (14 for 4 nodes), and its
output concatenates all nodes. The network is the cell network's stack (``cell.stack``:
with N=2 per stage it is DARTS' 8 cells with reductions at 1/3 and 2/3), its ops built by
``cell.apply_op`` in search mode (BN without scale and shift, a BN after each pool).

The architecture enters as two inputs, ``alpha_normal`` and ``alpha_reduce`` (shape
[1, edges, ops]), so alpha stays outside the model's weights and one traced step serves the
whole search. ``none`` contributes zero whatever its weight, so it is left out of the sum
(its weight still takes its share of the softmax): the same value as DARTS' x.mul(0.),
without computing it. ``models/darts_network.py`` computes it a node at a time.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from nas_tf.models.darts_network import SearchNetwork, edge_offset


def num_edges(num_nodes: int) -> int:
  return edge_offset(num_nodes)


def build_supernet(ops: Sequence[str], num_nodes: int, input_shape=(32, 32, 3),
                   num_classes: int = 10, channels: int = 16,
                   layers_per_stage: int = 2) -> keras.Model:
  """model([images, alpha_normal, alpha_reduce]) -> logits; alpha of shape
  [1, num_edges(num_nodes), len(ops)], unnormalized (the model applies the softmax)."""
  return SearchNetwork(ops, num_nodes, input_shape, num_classes, channels, layers_per_stage,
                       name="darts_supernet")


def derive_cell(weights: np.ndarray, ops, num_nodes: int) -> list[list]:
  """DARTS' genotype of one cell from softmax(alpha) [edges, ops]: per node its two
  strongest edges (strength: the edge's largest non-``none`` weight), each with that op, as
  blocks [in1, op1, in2, op2] (strongest edge first; ties to the earlier edge)."""
  candidates = [k for k, op in enumerate(ops) if op != "none"]
  blocks = []
  for node in range(num_nodes):
    edges = weights[edge_offset(node):edge_offset(node) + 2 + node]
    best_op = [max(candidates, key=lambda k: (edge[k], -k)) for edge in edges]
    strength = [edge[k] for edge, k in zip(edges, best_op)]
    first, second = sorted(range(len(edges)), key=lambda j: (-strength[j], j))[:2]
    blocks.append([first, ops[best_op[first]], second, ops[best_op[second]]])
  return blocks


def softmax(alpha: np.ndarray) -> np.ndarray:
  e = np.exp(alpha - alpha.max(axis=-1, keepdims=True))
  return e / e.sum(axis=-1, keepdims=True)
