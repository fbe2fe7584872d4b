"""The NAS-RL macro CNN space (Zoph & Le 2017, sections 3.1 and 4.1), with its depth
schedule: the controller's plan grows by ``depth_step`` layers every ``depth_every``
children."""

from __future__ import annotations

from typing import Any, Sequence

from nas_tf.spaces.base import (Anchor, Choice, Decision, Graph, Plan, SearchSpace,
                                architecture_id, layer_stack_graph)


class CNNSearchSpace(SearchSpace):
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
               strides: Sequence[int] = (1, 2, 3), search_strides: bool = False,
               start_depth: int = 6, depth_step: int = 2, depth_every: int = 1_600):
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
    self.schedule = (int(start_depth), int(depth_step), int(depth_every))

  @classmethod
  def from_config(cls, config) -> "CNNSearchSpace":
    s, schedule = config.space, config.search
    return cls(s.filter_heights, s.filter_widths, s.num_filters, s.strides, s.search_strides,
               schedule.start_depth, schedule.depth_step, schedule.depth_every)

  def depth_at(self, child_index: int) -> int:
    """The paper's schedule: start_depth, + depth_step every depth_every children."""
    start, step, every = self.schedule
    return start + step * (child_index // every)

  def plan(self, depth: int) -> Plan:
    if depth < 1:
      raise ValueError(f"search space: depth must be >= 1, got {depth}")
    decisions: list[Decision] = []
    for layer in range(depth):
      decisions.extend(Choice(t) for t in self._layer_choices)
      decisions.append(Anchor(layer))
    return tuple(decisions)

  def decode(self, tokens: Sequence[int], depth: int) -> dict[str, Any]:
    tokens = self._check_length(tokens, depth, f"depth {depth}")
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

  def encode(self, layers) -> list[int]:
    """Inverse of ``decode`` for an architecture or its list of layer specs (used to score
    hand-picked nets)."""
    layers = layers["layers"] if isinstance(layers, dict) else layers
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
    lines = []
    for i, spec in enumerate(arch["layers"]):
      src = ",".join(str(j) for j in spec["inputs"]) or "image"
      lines.append(f"L{i}: {spec['filter_height']}x{spec['filter_width']} conv, "
                   f"{spec['filters']} filters, stride {spec['stride']} <- {src}")
    return "\n".join(lines)

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

  @staticmethod
  def graph(arch: dict[str, Any]) -> Graph:
    layers = arch["layers"]
    labels = [f"L{i}: {s['filter_height']}x{s['filter_width']} conv, {s['filters']} filters"
              + (f", stride {s['stride']}" if s["stride"] != 1 else "")
              for i, s in enumerate(layers)]
    consumed = {j for s in layers for j in s["inputs"]}
    return layer_stack_graph(
        labels, [s["inputs"] or [None] for s in layers],
        [i for i in range(len(layers)) if i not in consumed],
        "concat -> global avg pool -> dense -> softmax",
        f"CNN {arch.get('id', '')[:10]}: {len(layers)} layers")


def depth_at(config, child_index: int) -> int:
  """The depth schedule of a config (``search.start_depth`` / ``depth_step`` /
  ``depth_every``)."""
  return CNNSearchSpace.from_config(config).depth_at(child_index)
