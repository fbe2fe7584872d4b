"""The NAS-RL recurrent cell space (Zoph & Le 2017, section 3.4 and Figure 5): a tree of
combinations and activations, with the cell inject and cell index decisions."""

from __future__ import annotations

from typing import Any, Sequence

from nas_tf.spaces.base import Choice, Graph, Plan, SearchSpace, architecture_id


COMBINATIONS = ("add", "elem_mult")
ACTIVATIONS = ("identity", "tanh", "sigmoid", "relu")


class RNNCellSearchSpace(SearchSpace):
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

  @classmethod
  def from_config(cls, config) -> "RNNCellSearchSpace":
    return cls(config.space.base_number)

  def plan(self, depth: int | None = None) -> Plan:
    """The cell's decisions; ``depth`` is ignored (the tree's size is fixed by B)."""
    per_node = (Choice("combination"), Choice("activation"))
    return per_node * self.num_nodes + per_node + (Choice("node"), Choice("node"))

  def decode(self, tokens: Sequence[int], depth: int | None = None) -> dict[str, Any]:
    tokens = self._check_length(tokens, None, f"base number {self.base_number}")
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

  @staticmethod
  def graph(arch: dict[str, Any]) -> Graph:
    return cell_graph(arch)


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


def cell_graph(arch: dict[str, Any]) -> Graph:
  b = arch["base_number"]
  children = tree_children(b)
  root = 2 * b - 2
  position = {i: (2.0 * i, 1.0) for i in range(b)}
  for node, (left, right) in sorted(children.items()):
    position[node] = ((position[left][0] + position[right][0]) / 2, position[left][1] + 1.0)
  nodes = {"x": (position[b - 1][0] / 2 - 1.2, 0.0, "x_t", "io"),
           "h_prev": (position[b - 1][0] / 2 + 1.2, 0.0, "h_{t-1}", "io")}
  edges = []
  for i, node in enumerate(arch["nodes"]):
    label = f"n{i}: {node['combination']}\n{node['activation']}"
    nodes[f"n{i}"] = (*position[i], label, "leaf" if i < b else "node")
    if i < b:
      edges += [("x", f"n{i}", 0.0, "-"), ("h_prev", f"n{i}", 0.0, "-")]
    else:
      edges += [(f"n{j}", f"n{i}", 0.0, "-") for j in children[i]]
  top = position[root][1] + 1.0
  nodes["h"] = (position[root][0], top, "h_t", "io")
  edges.append((f"n{root}", "h", 0.0, "-"))
  side = 2.0 * b
  inject = arch.get("inject")
  if inject:
    y = position[inject["node"]][1]
    nodes["c_prev"] = (side, y - 0.5, f"c_{{t-1}}\ninject: {inject['combination']}, "
                       f"{inject['activation']}", "state")
    edges.append(("c_prev", f"n{inject['node']}", 0.2, "--"))
  if arch.get("cell_node") is not None:
    nodes["c"] = (side, top, "c_t", "state")
    edges.append((f"n{arch['cell_node']}", "c", -0.2, "--"))
  return Graph(nodes, edges, width=2.0 + 1.6 * b, height=2.0 + 1.2 * (top + 1),
               title=f"cell {arch.get('id', '')[:10]}: base number {b}")
