"""Search spaces: what the controller decides, and how its tokens become an architecture.

A search space turns a depth into a *plan*: an ordered list of decisions. A decision is
either a categorical ``Choice`` of one token type (one softmax head and one embedding table
per type in the controller) or an ``Anchor`` (the paper's anchor point: one sigmoid per
earlier layer deciding whether that layer feeds this one). The sampled tokens form a flat
list of ints; ``decode`` turns them into a plain JSON-serializable architecture.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Sequence, Union


@dataclasses.dataclass(frozen=True)
class Choice:
  """Pick one value of ``token_type``; consumes one token."""
  token_type: str


@dataclasses.dataclass(frozen=True)
class Anchor:
  """Anchor point of layer ``layer``: one binary token per earlier layer (``layer`` tokens)."""
  layer: int


Decision = Union[Choice, Anchor]
Plan = tuple  # tuple[Decision, ...]; hashable so compiled controller functions can be cached.


def plan_length(plan: Sequence[Decision]) -> int:
  """Number of tokens a plan produces."""
  return sum(1 if isinstance(d, Choice) else d.layer for d in plan)


def architecture_id(space_name: str, tokens: Sequence[int]) -> str:
  """Stable id: a hash of the space's name and the token sequence."""
  payload = json.dumps([space_name, [int(t) for t in tokens]], separators=(",", ":"))
  return hashlib.sha1(payload.encode()).hexdigest()[:12]


class CNNSearchSpace:
  """The NAS-RL macro CNN space (Zoph & Le 2017, sections 3.1 and 4.1).

  Per layer: filter height, filter width, number of filters, optionally the stride, then an
  anchor point choosing which earlier layers feed this one. Architectures look like::

    {"space": "cnn", "tokens": [...], "layers": [
        {"filter_height": 3, "filter_width": 5, "filters": 36, "stride": 1, "inputs": [0]},
        ...]}

  where ``inputs`` lists earlier layers (an empty list means the layer reads the image).
  """

  name = "cnn"

  def __init__(self, filter_heights: Sequence[int] = (1, 3, 5, 7),
               filter_widths: Sequence[int] = (1, 3, 5, 7),
               num_filters: Sequence[int] = (24, 36, 48, 64),
               strides: Sequence[int] = (1, 2, 3), search_strides: bool = False):
    for label, values in (("filter_heights", filter_heights), ("filter_widths", filter_widths),
                          ("num_filters", num_filters), ("strides", strides)):
      if not values:
        raise ValueError(f"search space: {label} must not be empty")
      if any(int(v) <= 0 for v in values):
        raise ValueError(f"search space: {label} must be positive, got {list(values)}")
    self.search_strides = bool(search_strides)
    # Token types in the order they are decided for each layer.
    self.vocab = {
        "filter_height": tuple(int(v) for v in filter_heights),
        "filter_width": tuple(int(v) for v in filter_widths),
        "filters": tuple(int(v) for v in num_filters),
    }
    if self.search_strides:
      self.vocab["stride"] = tuple(int(v) for v in strides)
    self._layer_choices = tuple(self.vocab)

  @property
  def token_types(self) -> dict[str, int]:
    """Token type -> number of choices (what the controller needs to build its heads)."""
    return {name: len(values) for name, values in self.vocab.items()}

  def plan(self, depth: int) -> Plan:
    if depth < 1:
      raise ValueError(f"search space: depth must be >= 1, got {depth}")
    decisions: list[Decision] = []
    for layer in range(depth):
      decisions.extend(Choice(t) for t in self._layer_choices)
      decisions.append(Anchor(layer))
    return tuple(decisions)

  def decode(self, tokens: Sequence[int], depth: int) -> dict[str, Any]:
    tokens = [int(t) for t in tokens]
    if len(tokens) != plan_length(self.plan(depth)):
      raise ValueError(f"expected {plan_length(self.plan(depth))} tokens for depth {depth}, "
                       f"got {len(tokens)}")
    layers, pos = [], 0
    for layer in range(depth):
      spec = {}
      for token_type in self._layer_choices:
        spec[token_type] = self.vocab[token_type][tokens[pos]]
        pos += 1
      spec.setdefault("stride", 1)
      spec["inputs"] = [j for j in range(layer) if tokens[pos + j]]
      pos += layer
      layers.append(spec)
    return {"space": self.name, "id": architecture_id(self.name, tokens),
            "tokens": tokens, "layers": layers}

  def encode(self, layers: Sequence[dict[str, Any]]) -> list[int]:
    """Inverse of ``decode`` for a list of layer specs (used to score hand-picked nets)."""
    tokens = []
    for i, spec in enumerate(layers):
      for token_type in self._layer_choices:
        tokens.append(self.vocab[token_type].index(spec[token_type]))
      inputs = set(spec.get("inputs", []))
      if any(not 0 <= j < i for j in inputs):
        raise ValueError(f"layer {i}: inputs must be earlier layers, got {sorted(inputs)}")
      tokens.extend(int(j in inputs) for j in range(i))
    return tokens

  @staticmethod
  def describe(arch: dict[str, Any]) -> str:
    """One line per layer, for logs and TensorBoard text."""
    return _describe_cnn(arch)

  @staticmethod
  def hparams(arch: dict[str, Any]) -> dict[str, Any]:
    """Scalar summaries of the architecture (TensorBoard HParams columns to sort and filter
    children by)."""
    layers = arch["layers"]
    mean = lambda key: round(sum(l[key] for l in layers) / len(layers), 3)  # noqa: E731
    return {"depth": len(layers), "mean_filter_height": mean("filter_height"),
            "mean_filter_width": mean("filter_width"), "mean_filters": mean("filters"),
            "max_filters": max(l["filters"] for l in layers),
            "strided_layers": sum(l["stride"] > 1 for l in layers),
            "skip_connections": sum(len([j for j in l["inputs"] if j != i - 1])
                                    for i, l in enumerate(layers)),
            "kernels": ",".join(f"{l['filter_height']}x{l['filter_width']}" for l in layers),
            "filters": ",".join(str(l["filters"]) for l in layers)}


def _describe_cnn(arch: dict[str, Any]) -> str:
  lines = []
  for i, spec in enumerate(arch["layers"]):
    src = ",".join(str(j) for j in spec["inputs"]) or "image"
    lines.append(f"L{i}: {spec['filter_height']}x{spec['filter_width']} conv, "
                 f"{spec['filters']} filters, stride {spec['stride']} <- {src}")
  return "\n".join(lines)


COMBINATIONS = ("add", "elem_mult")
ACTIVATIONS = ("identity", "tanh", "sigmoid", "relu")


class RNNCellSearchSpace:
  """The NAS-RL recurrent cell space (Zoph & Le 2017, section 3.4 and Figure 5).

  A complete binary tree with ``base_number`` (B) leaves: nodes 0..B-1 are the leaves, each
  combining W_i x_t and U_i h_{t-1}; the next B/2 nodes combine pairs of leaves, and so on up
  to the root (node 2B-2), whose output is h_t. Each node picks a combination and an
  activation. Then the "cell inject" (a combination and an activation that merge c_{t-1} into
  the output of one node) and the "cell index" tokens (which node is injected; which node's
  pre-activation value becomes c_t). Architectures look like::

    {"space": "rnn_cell", "base_number": 2, "tokens": [...],
     "nodes": [{"combination": "add", "activation": "tanh"}, ...],     # 2B-1 nodes
     "inject": {"combination": "add", "activation": "relu", "node": 0},
     "cell_node": 1}
  """

  name = "rnn_cell"

  def __init__(self, base_number: int = 8):
    if base_number < 2 or base_number & (base_number - 1):
      raise ValueError(f"search space: base_number must be a power of two >= 2, got {base_number}")
    self.base_number = int(base_number)
    self.num_nodes = 2 * self.base_number - 1
    self.vocab = {"combination": COMBINATIONS, "activation": ACTIVATIONS,
                  "node": tuple(range(self.num_nodes))}

  @property
  def token_types(self) -> dict[str, int]:
    return {name: len(values) for name, values in self.vocab.items()}

  def plan(self, depth: int | None = None) -> Plan:
    """The cell's decisions; ``depth`` is ignored (the tree's size is fixed by B)."""
    per_node = (Choice("combination"), Choice("activation"))
    return per_node * self.num_nodes + per_node + (Choice("node"), Choice("node"))

  def decode(self, tokens: Sequence[int], depth: int | None = None) -> dict[str, Any]:
    tokens = [int(t) for t in tokens]
    if len(tokens) != plan_length(self.plan()):
      raise ValueError(f"expected {plan_length(self.plan())} tokens for base number "
                       f"{self.base_number}, got {len(tokens)}")
    pairs = [tokens[2 * i:2 * i + 2] for i in range(self.num_nodes + 1)]
    nodes = [{"combination": COMBINATIONS[c], "activation": ACTIVATIONS[a]} for c, a in pairs]
    inject = nodes.pop()
    inject["node"] = tokens[-2]
    return {"space": self.name, "id": architecture_id(self.name, tokens), "tokens": tokens,
            "base_number": self.base_number, "nodes": nodes, "inject": inject,
            "cell_node": tokens[-1]}

  @staticmethod
  def describe(arch: dict[str, Any]) -> str:
    return describe_cell(arch)

  @staticmethod
  def hparams(arch: dict[str, Any]) -> dict[str, Any]:
    """Scalar summaries of the cell (TensorBoard HParams columns)."""
    nodes, inject = arch["nodes"], arch.get("inject")
    counts = {f"{kind}_{name}": sum(n[kind] == name for n in nodes)
              for kind, names in (("combination", COMBINATIONS), ("activation", ACTIVATIONS))
              for name in names}
    return {"base_number": arch["base_number"], **counts,
            "inject": (f"{inject['combination']},{inject['activation']}@n{inject['node']}"
                       if inject else "none"),
            "cell_node": arch.get("cell_node", -1)}


def tree_children(base_number: int) -> dict[int, tuple[int, int]]:
  """Inner node -> its two children, for the complete tree over ``base_number`` leaves
  (leaves are 0..B-1, then each level left to right; the root is the last node)."""
  children, index, level = {}, base_number, list(range(base_number))
  while len(level) > 1:
    for k in range(0, len(level), 2):
      children[index] = (level[k], level[k + 1])
      index += 1
    level = list(range(index - len(level) // 2, index))
  return children


def describe_cell(arch: dict[str, Any]) -> str:
  """The cell as formulas, one line per node, e.g. ``n0 = tanh(W0 x + U0 h)``."""
  b = arch["base_number"]
  symbol = {"add": "+", "elem_mult": "*"}
  inject = arch.get("inject")
  lines, children = [], tree_children(b)
  for i, node in enumerate(arch["nodes"]):
    left, right = (f"W{i} x", f"U{i} h") if i < b else tuple(f"n{j}" for j in children[i])
    pre = f"{left} {symbol[node['combination']]} {right}"
    value = pre if node["activation"] == "identity" else f"{node['activation']}({pre})"
    lines.append(f"n{i} = {value}")
    if inject and inject["node"] == i:
      merged = f"n{i} {symbol[inject['combination']]} c_prev"
      merged = merged if inject["activation"] == "identity" else f"{inject['activation']}({merged})"
      lines.append(f"n{i} <- {merged}")
    if arch.get("cell_node") == i:
      lines.append(f"c = {pre}")
  lines.append(f"h = n{len(arch['nodes']) - 1}")
  return "\n".join(lines)
