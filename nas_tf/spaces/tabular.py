"""The spaces of the tabular benchmarks, whose every architecture has a published result:
NAS-Bench-201's cell (Dong & Yang, ICLR 2020) and NAS-Bench-Macro's chain (Su et al.,
CVPR 2021). Each architecture is one ``Choice`` per edge or layer, so every strategy
(NAS-RL's controller, random search, evolution) searches them unchanged.
"""

from __future__ import annotations

from typing import Any, Sequence

from nas_tf.spaces.base import Choice, Graph, Plan, SearchSpace, architecture_id, \
    layer_stack_graph

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# The cell's edges (into node j, from node i) in the order of the benchmark's arch_str:
# |op~0|+|op~0|op~1|+|op~0|op~1|op~2|
NB201_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))

MACRO_OPS = ("identity", "mb_k3e3", "mb_k5e6")  # the benchmark's digits 0, 1, 2
MACRO_LAYERS = 8
MACRO_DOWNSAMPLE = (0, 2, 5)  # each stage's (2, 3, 3 layers) first layer has stride 2


class _TableSpace(SearchSpace):
  """A benchmark's fixed space: ``length`` choices of one op vocabulary, nothing to set."""

  length = 0

  @classmethod
  def from_config(cls, config) -> "_TableSpace":
    return cls()

  def plan(self, depth: int | None = None) -> Plan:
    (token_type,) = self.vocab
    return (Choice(token_type),) * self.length


class NasBench201Space(_TableSpace):
  """A cell of 4 nodes; each of its 6 edges is one of 5 ops (15,625 cells). Architectures
  look like ``{"space": "nasbench201", "ops": [6 op names in NB201_EDGES order],
  "arch_str": "|nor_conv_3x3~0|+|...|"}``; ``arch_str`` is the benchmark's own key."""

  name = "nasbench201"
  vocab = {"nb201_op": NB201_OPS}
  length = len(NB201_EDGES)

  def decode(self, tokens: Sequence[int], depth: int | None = None) -> dict[str, Any]:
    tokens = self._check_length(tokens, None, "a NAS-Bench-201 cell")
    ops = [NB201_OPS[t] for t in tokens]
    return {"space": self.name, "id": architecture_id(self.name, tokens), "tokens": tokens,
            "ops": ops, "arch_str": nb201_arch_str(ops)}

  @staticmethod
  def describe(arch: dict[str, Any]) -> str:
    lines = [f"node {j} += {op}(node {i})" for (j, i), op in zip(NB201_EDGES, arch["ops"])
             if op != "none"]
    return "\n".join([arch["arch_str"], *lines])

  @staticmethod
  def hparams(arch: dict[str, Any]) -> dict[str, Any]:
    return {f"edge_{i}_{j}": op for (j, i), op in zip(NB201_EDGES, arch["ops"])}

  @staticmethod
  def graph(arch: dict[str, Any]) -> Graph:
    """Nodes in a column, one op box per edge beside it ("none" edges left out)."""
    nodes = {f"n{k}": (0.0, 2.0 * k, "input" if k == 0 else f"node {k}",
                       "io" if k in (0, 3) else "node") for k in range(4)}
    edges = []
    for e, ((j, i), op) in enumerate(zip(NB201_EDGES, arch["ops"])):
      if op == "none":
        continue
      name = f"e{e}"
      nodes[name] = (1.6 * (e % 3 + 1) * (-1) ** e, i + j, op, "conv")
      edges += [(f"n{i}", name, 0.0, "-"), (name, f"n{j}", 0.0, "-")]
    return Graph(nodes, edges, width=8.0, height=6.0,
                 title=f"NAS-Bench-201 cell {arch['id']}")


def nb201_arch_str(ops: Sequence[str]) -> str:
  """The benchmark's key of a cell: ``|op~i|`` per edge, nodes separated by ``+``."""
  parts, k = [], 0
  for j in range(1, 4):
    parts.append("|" + "|".join(f"{ops[k + i]}~{i}" for i in range(j)) + "|")
    k += j
  return "+".join(parts)


def nb201_ops(arch_str: str) -> list[str]:
  """The inverse of ``nb201_arch_str`` (raises ValueError on a malformed key)."""
  ops = []
  for j, node in enumerate(arch_str.split("+"), start=1):
    edges = [e for e in node.strip().strip("|").split("|")]
    if len(edges) != j:
      raise ValueError(f"{arch_str!r}: node {j} has {len(edges)} edges, expected {j}")
    for i, edge in enumerate(edges):
      op, _, source = edge.partition("~")
      if op not in NB201_OPS or source != str(i):
        raise ValueError(f"{arch_str!r}: bad edge {edge!r}")
      ops.append(op)
  if len(ops) != len(NB201_EDGES):
    raise ValueError(f"{arch_str!r}: expected 3 nodes")
  return ops


class NasBenchMacroSpace(_TableSpace):
  """A chain of 8 searched layers in 3 stages, each layer identity or a MobileNetV2 block
  (6,561 networks). Architectures carry the benchmark's key: ``"key": "02012100"``."""

  name = "nasbench_macro"
  vocab = {"macro_op": MACRO_OPS}
  length = MACRO_LAYERS

  def decode(self, tokens: Sequence[int], depth: int | None = None) -> dict[str, Any]:
    tokens = self._check_length(tokens, None, "a NAS-Bench-Macro network")
    return {"space": self.name, "id": architecture_id(self.name, tokens), "tokens": tokens,
            "layers": [MACRO_OPS[t] for t in tokens], "key": "".join(map(str, tokens))}

  @staticmethod
  def describe(arch: dict[str, Any]) -> str:
    layers = [f"{op}{'/2' if i in MACRO_DOWNSAMPLE else ''}"
              for i, op in enumerate(arch["layers"])]
    return f"{arch['key']}: " + " -> ".join(layers)

  @staticmethod
  def hparams(arch: dict[str, Any]) -> dict[str, Any]:
    return {f"layer_{i}": op for i, op in enumerate(arch["layers"])}

  @staticmethod
  def graph(arch: dict[str, Any]) -> Graph:
    labels = [f"{op}{' stride 2' if i in MACRO_DOWNSAMPLE else ''}"
              for i, op in enumerate(arch["layers"])]
    sources = [[None]] + [[i - 1] for i in range(1, len(labels))]
    return layer_stack_graph(labels, sources, [len(labels) - 1], "pool + classifier",
                             f"NAS-Bench-Macro {arch['key']}")
