"""The ENAS recurrent cell space (Pham et al. 2018, section 2.1; melodyguan/enas
``src/ptb``): a DAG of N nodes.

Node 0 reads x_t and h_{t-1}; node i > 0 reads one earlier node j. Each node picks an
activation f and is a highway unit: with c = sigmoid(W^c . input) and
k = f(W^h . input), the node's value is c * k + (1 - c) * input_carry, where the carry is
h_{t-1} for node 0 and h_j for node i. The cell's output h_t averages the nodes that no other
node reads (the loose ends). Architectures look like::

  {"space": "enas_rnn", "num_nodes": 4, "tokens": [...],
   "nodes": [{"input": -1, "activation": "tanh"},   # -1: x_t and h_{t-1}
             {"input": 0, "activation": "relu"}, ...]}

The plan is ENAS's RNN controller's (``ptb_enas_controller.py`` lines 109-163): node 0's
anchor step (a ``Mark``) then its activation; per later node, one step that picks its input
among the earlier nodes' anchors (a ``Pointer`` with ENAS's (i-j)^2/6 distance penalty, the
chosen anchor fed divided by 0.1 + distance) and is itself the node's anchor, then its
activation.

The activations searched are ``activations``: ENAS's code samples tanh and ReLU
(``num_funcs=2``, line 25; ``src/ptb/main.py`` never changes it), the paper names identity
and sigmoid too; ``enas.activations`` chooses (any of ``ACTIVATIONS``, in that order, so
tokens mean the same in every choice that starts with tanh, relu).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from nas_tf.spaces.base import Choice, Graph, Mark, Plan, Pointer, SearchSpace, architecture_id

ACTIVATIONS = ("tanh", "relu", "identity", "sigmoid")
ENAS_CODE_ACTIVATIONS = ACTIVATIONS[:2]  # num_funcs=2
DISTANCE_PENALTY = 1.0 / 6.0  # ptb_enas_controller.py line 127


def loose_ends(nodes: Sequence[dict[str, Any]]) -> list[int]:
  """The nodes no other node reads: their average is h_t."""
  read = {node["input"] for node in nodes}
  return [i for i in range(len(nodes)) if i not in read]


class EnasRnnSpace(SearchSpace):
  name = "enas_rnn"

  def __init__(self, num_nodes: int = 12, activations: Sequence[str] = ENAS_CODE_ACTIVATIONS):
    if num_nodes < 1:
      raise ValueError(f"enas.num_nodes must be >= 1, got {num_nodes}")
    if isinstance(activations, str):  # the flag's form: tanh,relu
      activations = [a.strip() for a in activations.split(",") if a.strip()]
    activations = tuple(activations)
    if not activations or activations != ACTIVATIONS[:len(activations)]:
      raise ValueError(f"enas.activations must be the first k of {', '.join(ACTIVATIONS)} "
                       f"(k >= 1, in that order), got {', '.join(activations) or 'none'}")
    self.num_nodes, self.activations = int(num_nodes), activations
    self.vocab = {"activation": activations}

  @classmethod
  def from_config(cls, config) -> "EnasRnnSpace":
    return cls(config.enas.num_nodes, config.enas.get("activations", ENAS_CODE_ACTIVATIONS))

  def plan(self, depth: int | None = None) -> Plan:
    decisions = (Mark(), Choice("activation"))
    for i in range(1, self.num_nodes):
      decisions += (Pointer(i, distance_penalty=DISTANCE_PENALTY, scale_by_distance=True,
                            marks_itself=True), Choice("activation"))
    return decisions

  def decode(self, tokens: Sequence[int], depth: int | None = None) -> dict[str, Any]:
    tokens = self._check_length(tokens, None, f"{self.num_nodes} nodes")
    names = self.activations
    if not all(0 <= t < len(names) for t in tokens[0::2]):
      raise ValueError(f"activation tokens must be < {len(names)} ({', '.join(names)})")
    nodes = [{"input": -1, "activation": names[tokens[0]]}]
    for i in range(1, self.num_nodes):
      source, activation = tokens[2 * i - 1], tokens[2 * i]
      if not 0 <= source < i:
        raise ValueError(f"node {i}: its input must be an earlier node (< {i}), got {source}")
      nodes.append({"input": source, "activation": names[activation]})
    return {"space": self.name, "id": architecture_id(self.name, tokens), "tokens": tokens,
            "num_nodes": self.num_nodes, "nodes": nodes}

  @staticmethod
  def describe(arch: dict[str, Any]) -> str:
    lines = []
    for i, node in enumerate(arch["nodes"]):
      source = "x, h_prev" if node["input"] < 0 else f"n{node['input']}"
      lines.append(f"n{i} = highway({node['activation']}, {source})")
    lines.append(f"h = mean({', '.join(f'n{i}' for i in loose_ends(arch['nodes']))})")
    return "\n".join(lines)

  @staticmethod
  def hparams(arch: dict[str, Any]) -> dict[str, Any]:
    acts = [node["activation"] for node in arch["nodes"]]
    return {"num_nodes": len(acts), "outputs": len(loose_ends(arch["nodes"])),
            **{f"count_{a}": acts.count(a) for a in ACTIVATIONS},
            "cell": "; ".join(EnasRnnSpace.describe(arch).splitlines())}

  @staticmethod
  def graph(arch: dict[str, Any]) -> Graph:
    """Nodes bottom-up from (x_t, h_{t-1}); arrows from each node's input; the output
    averages the loose ends."""
    nodes = {"in": (0.0, 0.0, "x_t, h_t-1", "io")}
    edges = []
    for i, node in enumerate(arch["nodes"]):
      nodes[f"n{i}"] = (1.2 * (-1) ** i if i else 0.0, 1.2 * (i + 1),
                        f"n{i}: {node['activation']}", "conv")
      start = "in" if node["input"] < 0 else f"n{node['input']}"
      edges.append((start, f"n{i}", 0.0, "-"))
    top = 1.2 * (len(arch["nodes"]) + 1)
    nodes["out"] = (0.0, top, "h_t = mean of loose ends", "head")
    edges += [(f"n{i}", "out", 0.0, "-") for i in loose_ends(arch["nodes"])]
    return Graph(nodes, edges, width=6.0, height=1.0 + 0.9 * (len(arch["nodes"]) + 2),
                 title=f"ENAS cell {arch.get('id', '')[:10]}")

  def describe_size(self) -> str:
    return f"{self.num_nodes} nodes"

  def tensor_specs(self) -> list[tuple[tuple[int, ...], str]]:
    """(shape, dtype) of each tensor ``as_tensors`` returns (the supernet's inputs)."""
    return [((self.num_nodes,), "int32"), ((self.num_nodes,), "int32"),
            ((self.num_nodes,), "float32")]

  def as_tensors(self, arch: dict[str, Any]) -> list[np.ndarray]:
    """(input node per node, 0 for node 0; activation index per node; [N] mask of the
    loose ends)."""
    nodes = arch["nodes"]
    inputs = np.array([max(0, node["input"]) for node in nodes], np.int32)
    activations = np.array([self.activations.index(node["activation"]) for node in nodes],
                           np.int32)
    mask = np.zeros(len(nodes), np.float32)
    mask[loose_ends(nodes)] = 1.0
    return [inputs, activations, mask]
