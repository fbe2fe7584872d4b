"""The ENAS macro CNN space (Pham et al. 2018, section 2.3): ``num_layers`` layers of
``channels`` channels, each one of six operations on the previous layer's output plus skip
connections chosen by an anchor point, with fixed 2x reductions before the ``reduce_at``
layers. As in the authors' ``general_child.py``, layer i's skip candidates are the stem and
layers 0..i-2: every earlier output except its own input."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from nas_tf.spaces.base import Anchor, Choice, Graph, Plan, SearchSpace, architecture_id, \
    layer_stack_graph

OPERATIONS = ("conv3x3", "conv5x5", "sep3x3", "sep5x5", "maxpool3x3", "avgpool3x3")


class EnasMacroSpace(SearchSpace):
  """``{"space": "enas_macro", "layers": [{"operation": "sep5x5", "inputs": [0, 2]}, ...],
  "channels": 36, "reduce_at": [4, 8]}``; ``inputs`` are the skip connections, layers in
  -1..i-2 with -1 the stem (layer i-1 always feeds layer i's operation)."""

  name = "enas_macro"

  def __init__(self, num_layers: int = 12, channels: int = 36,
               reduce_at: Sequence[int] | None = None):
    if num_layers < 1:
      raise ValueError(f"enas.num_layers must be >= 1, got {num_layers}")
    self.num_layers, self.channels = int(num_layers), int(channels)
    if reduce_at is None:
      reduce_at = sorted({num_layers // 3, 2 * num_layers // 3} - {0})
    self.reduce_at = tuple(int(r) for r in reduce_at)
    if any(not 0 < r < num_layers for r in self.reduce_at):
      raise ValueError(f"enas.reduce_at must be layers in 1..{num_layers - 1}, got "
                       f"{list(self.reduce_at)}")
    self.vocab = {"operation": OPERATIONS}

  @classmethod
  def from_config(cls, config) -> "EnasMacroSpace":
    e = config.enas
    return cls(e.num_layers, e.channels, list(e.reduce_at) or None)

  def depth_at(self, child_index: int) -> int:
    return self.num_layers  # fixed L

  def plan(self, depth: int | None = None) -> Plan:
    """Per layer: its operation, then its anchor point (``depth`` is ignored: fixed L)."""
    decisions = []
    for layer in range(self.num_layers):
      decisions += [Choice("operation"), Anchor(layer)]
    return tuple(decisions)

  def decode(self, tokens: Sequence[int], depth: int | None = None) -> dict[str, Any]:
    tokens = self._check_length(tokens, None, f"{self.num_layers} layers")
    layers, pos = [], 0
    for layer in range(self.num_layers):
      operation = OPERATIONS[tokens[pos]]
      inputs = [c - 1 for c in range(layer) if tokens[pos + 1 + c]]  # candidate 0: the stem
      layers.append({"operation": operation, "inputs": inputs})
      pos += 1 + layer
    return {"space": self.name, "id": architecture_id(self.name, tokens), "tokens": tokens,
            "channels": self.channels, "reduce_at": list(self.reduce_at), "layers": layers}

  @staticmethod
  def describe(arch: dict[str, Any]) -> str:
    lines = []
    for i, layer in enumerate(arch["layers"]):
      skips = (f" + skip from {','.join('stem' if j < 0 else f'L{j}' for j in layer['inputs'])}"
               if layer["inputs"] else "")
      reduce = "reduce, " if i in arch["reduce_at"] else ""
      lines.append(f"L{i}: {reduce}{layer['operation']}{skips}")
    return "\n".join(lines)

  @staticmethod
  def hparams(arch: dict[str, Any]) -> dict[str, Any]:
    ops = [layer["operation"] for layer in arch["layers"]]
    return {"depth": len(ops), **{f"count_{op}": ops.count(op) for op in OPERATIONS},
            "skip_connections": sum(len(layer["inputs"]) for layer in arch["layers"]),
            "operations": ",".join(ops)}

  @staticmethod
  def graph(arch: dict[str, Any]) -> Graph:
    """The previous layer always feeds a layer's operation; its inputs are skips (the stem,
    -1, drawn from the image)."""
    layers = arch["layers"]
    labels = [f"L{i}: {'2x pool, ' if i in arch['reduce_at'] else ''}{s['operation']}, "
              f"{arch['channels']} channels" for i, s in enumerate(layers)]
    sources = [[i - 1 if i else None] + [None if j < 0 else j for j in s["inputs"]]
               for i, s in enumerate(layers)]
    return layer_stack_graph(labels, sources, [len(layers) - 1],
                             "global avg pool -> dense -> softmax",
                             f"CNN {arch.get('id', '')[:10]}: {len(layers)} layers")

  def describe_size(self) -> str:
    return f"{self.num_layers} layers x {self.channels} channels"

  def tensor_specs(self) -> list[tuple[tuple[int, ...], str]]:
    """(shape, dtype) of each tensor ``as_tensors`` returns (the supernet's inputs)."""
    return [((self.num_layers,), "int32"), ((self.num_layers, self.num_layers), "float32")]

  def as_tensors(self, arch: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(operation index per layer [L], skip matrix [L, L] with 1 where candidate c feeds
    layer i: c = 0 the stem, c = j + 1 layer j)."""
    ops = np.array([OPERATIONS.index(layer["operation"]) for layer in arch["layers"]], np.int32)
    skips = np.zeros((self.num_layers, self.num_layers), np.float32)
    for i, layer in enumerate(arch["layers"]):
      skips[i, [j + 1 for j in layer["inputs"]]] = 1.0
    return ops, skips
