"""Architecture pictures (``nas-tf show``): PNG and SVG from matplotlib, no system graphviz.

A CNN is drawn bottom-up from the image: one box per layer with kernel, filters and stride,
straight arrows between consecutive layers and arcs for skip connections, then the final
concatenation and classifier. A recurrent cell is drawn as its tree: the leaves read x_t and
h_{t-1}, each node shows its combination and activation, the root gives h_t, and dashed
arrows show where c_{t-1} is injected and which node becomes c_t.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from nas_tf.search_space import tree_children  # noqa: E402

COLORS = {"io": "#e8e8e8", "conv": "#cfe2f3", "head": "#fce5cd", "node": "#d9ead3",
          "leaf": "#cfe2f3", "state": "#fff2cc"}


@dataclasses.dataclass
class Graph:
  nodes: dict[str, tuple[float, float, str, str]]  # name -> (x, y, label, color key)
  edges: list[tuple[str, str, float, str]]  # (from, to, arc curvature, style "-" or "--")
  width: float   # figure size in inches
  height: float
  title: str = ""


def cnn_graph(arch: dict[str, Any]) -> Graph:
  layers = arch["layers"]
  n = len(layers)
  nodes = {"image": (0.0, 0.0, "image 32x32x3", "io")}
  edges, consumed = [], set()
  enas = arch.get("space") == "enas_macro"
  for i, spec in enumerate(layers):
    if enas:  # the previous layer always feeds the operation; inputs are averaged skips
      reduce = "2x pool, " if i in arch["reduce_at"] else ""
      label = f"L{i}: {reduce}{spec['operation']}, {arch['channels']} channels"
      sources = sorted({i - 1, *spec["inputs"]}) if i else [None]
    else:
      stride = f", stride {spec['stride']}" if spec["stride"] != 1 else ""
      label = (f"L{i}: {spec['filter_height']}x{spec['filter_width']} conv, "
               f"{spec['filters']} filters{stride}")
      sources = spec["inputs"] or [None]
    nodes[f"l{i}"] = (0.0, float(i + 1), label, "conv")
    for k, j in enumerate(sources):
      start = "image" if j is None else f"l{j}"
      span = i + 1 - (0 if j is None else j + 1)
      edges.append((start, f"l{i}", 0.0 if span == 1 else 0.25 * (-1) ** k, "-"))
      if j is not None:
        consumed.add(j)
  head = "global avg pool -> dense -> softmax" if enas else \
      "concat -> global avg pool -> dense -> softmax"
  nodes["head"] = (0.0, float(n + 1), head, "head")
  for i in range(n):
    if i not in consumed or (enas and i == n - 1):
      edges.append((f"l{i}", "head", 0.0 if i == n - 1 else 0.3, "-"))
  return Graph(nodes, edges, width=6.0, height=1.0 + 0.9 * (n + 2),
               title=f"CNN {arch.get('id', '')[:10]}: {n} layers")


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


def graph_for(arch: dict[str, Any]) -> Graph:
  return cell_graph(arch) if "nodes" in arch else cnn_graph(arch)


def draw(graph: Graph, fmt: str = "png", dpi: int = 100) -> bytes:
  """The picture as PNG or SVG bytes."""
  fig, ax = plt.subplots(figsize=(graph.width, graph.height))
  boxes = {}
  for name, (x, y, label, color) in graph.nodes.items():
    boxes[name] = ax.annotate(label, (x, y), ha="center", va="center", fontsize=8, zorder=3,
                              bbox=dict(boxstyle="round,pad=0.4", fc=COLORS[color], ec="#555"))
  for start, end, arc, style in graph.edges:
    ax.add_patch(FancyArrowPatch(
        graph.nodes[start][:2], graph.nodes[end][:2], patchA=boxes[start], patchB=boxes[end],
        arrowstyle="-|>", mutation_scale=10, linestyle=style, color="#333", zorder=2,
        connectionstyle=f"arc3,rad={arc}"))
  xs = [x for x, *_ in graph.nodes.values()]
  ys = [y for _, y, *_ in graph.nodes.values()]
  ax.set_xlim(min(xs) - 2.5, max(xs) + 2.5)
  ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
  ax.axis("off")
  ax.set_title(graph.title, fontsize=9)
  buffer = io.BytesIO()
  fig.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight")
  plt.close(fig)
  return buffer.getvalue()


def render(arch: dict[str, Any], stem: str) -> dict[str, str]:
  """Writes ``stem.png`` and ``stem.svg``; returns their paths."""
  graph = graph_for(arch)
  paths = {}
  for fmt in ("png", "svg"):
    paths[fmt] = f"{stem}.{fmt}"
    with open(paths[fmt], "wb") as f:
      f.write(draw(graph, fmt))
  return paths
