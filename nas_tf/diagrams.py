"""Architecture pictures (``nas-tf show``): PNG and SVG from matplotlib, no system graphviz;
and DARTS' softmax(alpha) for TensorBoard, as heat maps and tables.

Each space gives its architecture's picture as a ``Graph`` (boxes and arrows); this module
draws it. A CNN is drawn bottom-up from the image: one box per layer with kernel, filters and stride,
straight arrows between consecutive layers and arcs for skip connections, then the final
concatenation and classifier. A recurrent cell is drawn as its tree: the leaves read x_t and
h_{t-1}, each node shows its combination and activation, the root gives h_t, and dashed
arrows show where c_{t-1} is injected and which node becomes c_t.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from nas_tf import registry  # noqa: E402
from nas_tf.spaces.base import Graph  # noqa: E402

COLORS = {"io": "#e8e8e8", "conv": "#cfe2f3", "head": "#fce5cd", "node": "#d9ead3",
          "leaf": "#cfe2f3", "state": "#fff2cc"}


def graph_for(arch: dict[str, Any]) -> Graph:
  """The picture of ``arch``, as its space draws it."""
  return registry.space_class(arch["space"]).graph(arch)


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


def draw_front(rows, front, metric: str, cost: str, title: str = "", budget=None,
               fmt: str = "png", dpi: int = 100) -> bytes:
  """Finished children (grey) and their Pareto front (a step line), ``metric`` against
  ``cost``; ``budget``: a hard budget's line. PNG or SVG bytes."""
  fig, ax = plt.subplots(figsize=(6, 4))
  points = [(r[cost], r[metric]) for r in rows
            if r["status"] == "ok" and r.get(cost) is not None and r.get(metric) is not None]
  if points:
    ax.scatter(*zip(*points), s=12, color="#999", label=f"children ({len(points)})", zorder=2)
  if front:
    xs, ys = [r[cost] for r in front], [r[metric] for r in front]
    ax.step(xs, ys, where="post", color="#c0392b", zorder=3)
    ax.scatter(xs, ys, s=24, color="#c0392b", label=f"Pareto front ({len(front)})", zorder=4)
    for r in front:
      ax.annotate(str(r["index"] + 1), (r[cost], r[metric]), fontsize=7,
                  xytext=(3, 3), textcoords="offset points")
  if budget is not None:
    ax.axvline(budget, color="#555", linestyle="--", label=f"budget {budget:,.10g}")
  positive = [x for x, _ in points if x > 0]
  if positive and max(positive) > 10 * min(positive):
    ax.set_xscale("log")
  ax.set_xlabel(cost)
  ax.set_ylabel(metric)
  ax.set_title(title, fontsize=9)
  ax.grid(alpha=0.3)
  if points:
    ax.legend(fontsize=8)
  buffer = io.BytesIO()
  fig.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight")
  plt.close(fig)
  return buffer.getvalue()


def heat_maps(maps: dict[str, Any], rows: list[str], columns: list[str]) -> bytes:
  """PNG of matrices side by side (title -> [rows, columns] array), one colour bar each:
  DARTS' softmax(alpha) per cell kind, edges by ops."""
  figure, axes = plt.subplots(1, len(maps), figsize=(5.5 * len(maps), 0.3 * len(rows) + 1.8),
                              squeeze=False)
  for ax, (title, values) in zip(axes[0], maps.items()):
    image = ax.imshow(values, cmap="viridis", aspect="auto")  # auto range: early alphas differ little
    ax.set_title(title)
    ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    figure.colorbar(image, ax=ax, fraction=0.046)
  figure.tight_layout()
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=80)
  plt.close(figure)
  return buffer.getvalue()


def alpha_table(corner: str, rows, columns, values) -> str:
  """Markdown: one row of softmax(alpha) per edge (or decision), one column per candidate."""
  header = f"| {corner} | " + " | ".join(columns) + " |\n|" + " --- |" * (len(columns) + 1)
  return "\n".join([header, *(f"| {row} | " + " | ".join(f"{x:.3f}" for x in w) + " |"
                              for row, w in zip(rows, values))])
