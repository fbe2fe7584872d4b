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


def _describe_cnn(arch: dict[str, Any]) -> str:
  lines = []
  for i, spec in enumerate(arch["layers"]):
    src = ",".join(str(j) for j in spec["inputs"]) or "image"
    lines.append(f"L{i}: {spec['filter_height']}x{spec['filter_width']} conv, "
                 f"{spec['filters']} filters, stride {spec['stride']} <- {src}")
  return "\n".join(lines)
