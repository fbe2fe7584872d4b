"""What every search space shares: decisions, plans, ids, the picture graph, the interface.

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
  """Pick one value of ``token_type``; consumes one token. ``offset``: a fixed amount added
  to each value's logit after the controller shapes them (ENAS micro's normal-cell op prior,
  ``micro_controller.py`` lines 106-109 and 184-185); empty = none."""
  token_type: str
  offset: tuple = ()


@dataclasses.dataclass(frozen=True)
class Anchor:
  """Anchor point of layer ``layer``: one binary token per earlier layer (``layer`` tokens)."""
  layer: int


@dataclasses.dataclass(frozen=True)
class Mark:
  """Marks a state that later ``Pointer``s can pick (a cell's input, a block's output);
  consumes no token. ``feeds_zeros``: a pointer that picks this mark feeds zeros to the next
  step, not the mark's state (its attention key is still the state's): ENAS micro's cell
  inputs (``micro_controller.py`` line 138)."""
  feeds_zeros: bool = False


@dataclasses.dataclass(frozen=True)
class Pointer:
  """Pick one of the last ``k`` marked states (ENAS's micro controller: a block's input is
  one of the cell's two inputs or an earlier block); consumes one token in [0, k).

  ENAS's recurrent controller (``ptb_enas_controller.py`` lines 109-143) adds three things,
  each off by default: ``distance_penalty`` d subtracts d * (distance)^2 from a candidate's
  shaped logit (the most recent mark is at distance 1); ``scale_by_distance`` feeds the
  chosen state divided by (0.1 + distance); ``marks_itself`` makes this step's own state a
  mark once it has chosen (the node's anchor is the step that picks its input)."""
  k: int
  distance_penalty: float = 0.0
  scale_by_distance: bool = False
  marks_itself: bool = False


Decision = Union[Choice, Anchor, Mark, Pointer]
Plan = tuple  # tuple[Decision, ...]; hashable so compiled controller functions can be cached.


def decision_width(decision: Decision) -> int:
  """Number of tokens a decision consumes."""
  if isinstance(decision, Anchor):
    return decision.layer
  return 0 if isinstance(decision, Mark) else 1


def plan_length(plan: Sequence[Decision]) -> int:
  """Number of tokens a plan produces."""
  return sum(decision_width(d) for d in plan)


def live_slots(space, tokens: Sequence[int], slots: Sequence[int]) -> list[int]:
  """``slots`` with one value at the positions the network of ``tokens`` does not depend on
  (``SearchSpace.live``): changing those would build the same network again."""
  live = space.live(tokens) if space is not None else None
  return list(slots) if live is None else [n if alive else 1 for n, alive in zip(slots, live)]


def token_slots(plan: Sequence[Decision], token_types: dict[str, int]) -> list[int]:
  """The number of values each token position of ``plan`` can take."""
  slots = []
  for decision in plan:
    if isinstance(decision, Choice):
      slots.append(token_types[decision.token_type])
    elif isinstance(decision, Pointer):
      slots.append(decision.k)
    else:  # an anchor's links are binary; a mark has none
      slots += [2] * decision_width(decision)
  return slots


def architecture_id(space_name: str, tokens: Sequence[int]) -> str:
  """Stable id: a hash of the space's name and the token sequence."""
  payload = json.dumps([space_name, [int(t) for t in tokens]], separators=(",", ":"))
  return hashlib.sha1(payload.encode()).hexdigest()[:12]


@dataclasses.dataclass
class Graph:
  """An architecture's picture as plain data (drawn by ``nas_tf.diagrams``)."""
  nodes: dict[str, tuple[float, float, str, str]]  # name -> (x, y, label, color key)
  edges: list[tuple[str, str, float, str]]  # (from, to, arc curvature, style "-" or "--")
  width: float   # figure size in inches
  height: float
  title: str = ""


class SearchSpace:
  """The questions the rest of nas-tf asks a space about its architectures.

  An architecture is a JSON-serializable dict with at least ``space`` (the registry name),
  ``id`` and ``tokens``; ``decode(encode(...))`` round-trips.
  """

  name: str = ""
  vocab: dict[str, tuple] = {}

  @classmethod
  def from_config(cls, config) -> "SearchSpace":
    raise NotImplementedError

  @property
  def token_types(self) -> dict[str, int]:
    """Token type -> number of choices (what a controller needs to build its heads)."""
    return {name: len(values) for name, values in self.vocab.items()}

  def depth_at(self, child_index: int) -> int | None:
    """The depth the ``child_index``-th child is sampled at (None: fixed by the space)."""
    return None

  def plan(self, depth: int | None = None) -> Plan:
    raise NotImplementedError

  def controller_head_bias(self) -> dict[str, tuple[float, ...]]:
    """Token type -> the initial bias of the controller's head for it, where the space's
    controller starts with a prior (ENAS micro's op priors); {} = none."""
    return {}

  def decode(self, tokens: Sequence[int], depth: int | None = None) -> dict[str, Any]:
    raise NotImplementedError

  def encode(self, arch: dict[str, Any]) -> list[int]:
    return [int(t) for t in arch["tokens"]]

  def live(self, tokens: Sequence[int]) -> list[bool] | None:
    """Per token, whether the network of ``tokens`` depends on it (None: on every one)."""
    return None

  @staticmethod
  def describe(arch: dict[str, Any]) -> str:
    raise NotImplementedError

  @staticmethod
  def hparams(arch: dict[str, Any]) -> dict[str, Any]:
    raise NotImplementedError

  @staticmethod
  def graph(arch: dict[str, Any]) -> Graph:
    raise NotImplementedError

  def _check_length(self, tokens: Sequence[int], depth: int | None, what: str) -> list[int]:
    tokens = [int(t) for t in tokens]
    expected = plan_length(self.plan(depth))
    if len(tokens) != expected:
      raise ValueError(f"expected {expected} tokens for {what}, got {len(tokens)}")
    return tokens



def layer_stack_graph(labels: Sequence[str], sources: Sequence[Sequence[int | None]],
                      to_head: Sequence[int], head: str, title: str) -> Graph:
  """A stack of layers drawn bottom-up from the image: ``sources[i]`` feed layer i (None is
  the image), straight arrows between neighbours and arcs for skips; ``to_head`` feed the
  classifier box ``head``."""
  n = len(labels)
  nodes = {"image": (0.0, 0.0, "image 32x32x3", "io")}
  edges = []
  for i, label in enumerate(labels):
    nodes[f"l{i}"] = (0.0, float(i + 1), label, "conv")
    for k, j in enumerate(sources[i]):
      start = "image" if j is None else f"l{j}"
      span = i + 1 - (0 if j is None else j + 1)
      edges.append((start, f"l{i}", 0.0 if span == 1 else 0.25 * (-1) ** k, "-"))
  nodes["head"] = (0.0, float(n + 1), head, "head")
  for i in to_head:
    edges.append((f"l{i}", "head", 0.0 if i == n - 1 else 0.3, "-"))
  return Graph(nodes, edges, width=6.0, height=1.0 + 0.9 * (n + 2), title=title)
