"""The cell space that ENAS's micro search, PNAS and DARTS share (Zoph et al. 2018's NASNet
space): a cell is a small DAG of B blocks, stacked into a network by ``models/cell.py``.

A cell reads two inputs, h[c-2] and h[c-1] (the two previous cells' outputs). Block i picks
two inputs among {h[c-2], h[c-1], block 0 .. block i-1} and an op for each; its output is
op1(in1) + op2(in2). The cell's output concatenates the blocks no other block reads ("loose
ends", as in NASNet and ENAS) or all blocks (DARTS, and PNAS: its PNASNet-5 cell marks only
the cell inputs as used): ``space.cell_output``. There is a
normal cell and a reduction cell (its ops that read the cell inputs have stride 2); with
``space.same_cell_for_reduction`` (PNAS) one searched cell serves both.

Inputs are numbered 0 = h[c-2], 1 = h[c-1], 2 + j = block j. Architectures look like::

  {"space": "cell", "ops": [...], "num_blocks": 5, "cell_output": "loose_ends",
   "same_cell_for_reduction": false,
   "normal": [[in1, op1, in2, op2], ...], "reduce": [[...], ...]}

The plan follows ENAS's micro controller: two ``Mark``s for the cell inputs (a pointer that
picks one feeds zeros, ``micro_controller.py`` line 138), then per block ``Pointer`` in1,
``Pointer`` in2, op1, op2 and a ``Mark`` for the block's output; the reduction cell's
decisions follow the normal cell's. With ``op_priors`` (a controller's ``op_priors`` key) the
plan and ``controller_head_bias`` carry ENAS micro's op priors (``ENAS_OP_PRIORS``). A plan's
depth is its number of blocks (None: ``num_blocks``), which PNAS grows one block per round.

``space.ops``, ``space.cell_output``, ``space.same_cell_for_reduction`` and
``space.num_blocks`` default to "auto" (0 blocks): the settings of the paper whose method
``search.strategy`` names (``METHOD_DEFAULTS``), so that ``--config.search.strategy=pnas``
searches PNAS's space unless told otherwise.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from nas_tf.spaces.base import Choice, Graph, Mark, Plan, Pointer, SearchSpace, architecture_id

OP_SETS = {
    "enas": ("identity", "sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3"),
    "pnas": ("identity", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3", "sep_conv_5x5",
             "sep_conv_7x7", "dil_conv_3x3", "conv_7x1_1x7"),
    "darts": ("none", "skip_connect", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3",
              "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"),
    # The ops of NASNet's 13 that NASNet-A and AmoebaNet-A use; AmoebaNet-A's 1x7-then-7x1
    # conv is bottlenecked to a quarter of the channels (tensorflow/tpu amoeba_net
    # network_utils.py BaseCell._apply_operation), unlike the pnas set's conv_7x1_1x7.
    "nasnet": ("identity", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3", "sep_conv_5x5",
               "sep_conv_7x7", "bottleneck_1x7_7x1"),
}
# How a network stacks cells (``models/cell.py``): DARTS' model.py (the default), NASNet's
# nasnet_utils.py (tensorflow/models; also AmoebaNet and PNASNet) or ENAS's micro_child.py
# fixed-architecture layers. Searched architectures use "darts"; published ones name theirs.
NETWORKS = ("darts", "nasnet", "enas")
KNOWN_OPS = frozenset(op for ops in OP_SETS.values() for op in ops)
CELL_OUTPUTS = ("loose_ends", "all")
INPUT_NAMES = ("h[c-2]", "h[c-1]")
# What "auto" means per search strategy: each paper's own cell space.
METHOD_DEFAULTS = {
    "pnas": {"ops": "pnas", "cell_output": "all", "same_cell_for_reduction": True,
             "num_blocks": 5},
    "darts": {"ops": "darts", "cell_output": "all", "same_cell_for_reduction": False,
              "num_blocks": 4},
}
# ENAS micro's op priors (micro_controller.py lines 100-109, 184-185), by op name: ENAS's
# first two ops are its separable convs. The op head's bias starts at 10 for them, 0 for the
# rest (learned, but saturated by the tanh shaping), and the normal cell's op logits get a
# fixed +0.25 for them, -0.25 for the rest, after shaping.
ENAS_OP_PRIORS = {"favoured": "sep_conv_", "head_bias": (10.0, 0.0),
                  "normal_offset": (0.25, -0.25)}
DEFAULTS = {"ops": "enas", "cell_output": "loose_ends", "same_cell_for_reduction": False,
            "num_blocks": 5}


def space_settings(space, strategy: str) -> dict[str, Any]:
  """``space.ops/cell_output/same_cell_for_reduction/num_blocks`` with "auto" (0 blocks)
  resolved for ``strategy``, and the flag's "true"/"false" as a bool."""
  defaults = METHOD_DEFAULTS.get(strategy, DEFAULTS)
  settings = {}
  for key, default in defaults.items():
    value = space.get(key, "auto")
    auto = (isinstance(value, str) and value == "auto") or (key == "num_blocks" and value == 0)
    settings[key] = default if auto else value
  same = settings["same_cell_for_reduction"]
  if isinstance(same, str):  # the flag's "true"/"false" (the key holds a string: "auto")
    if same.lower() not in ("true", "false"):
      raise ValueError(f"space.same_cell_for_reduction must be auto, true or false, got {same!r}")
    settings["same_cell_for_reduction"] = same.lower() == "true"
  return settings


def resolve_ops(ops) -> tuple[str, ...]:
  """``space.ops``: a named set (``enas``, ``pnas``, ``darts``) or op names, as a list or
  comma-separated (``identity,max_pool_3x3``: the flag's form)."""
  if isinstance(ops, str) and "," in ops:
    ops = [op.strip() for op in ops.split(",") if op.strip()]
  if isinstance(ops, str):
    if ops not in OP_SETS:
      raise ValueError(f"space.ops: unknown op set {ops!r} (known: {', '.join(OP_SETS)})")
    return OP_SETS[ops]
  ops = tuple(ops)
  unknown = [op for op in ops if op not in KNOWN_OPS]
  if unknown or len(ops) < 1 or len(set(ops)) != len(ops):
    raise ValueError(f"space.ops: {list(ops)}: need distinct ops from "
                     f"{', '.join(sorted(KNOWN_OPS))}")
  return ops


def output_blocks(blocks: Sequence[Sequence], cell_output: str) -> list[int]:
  """The blocks the cell's output concatenates: all, or those no block reads."""
  if cell_output == "all":
    return list(range(len(blocks)))
  read = {source - 2 for in1, _, in2, _ in blocks for source in (in1, in2) if source >= 2}
  return [b for b in range(len(blocks)) if b not in read]


def concatenated(arch: dict[str, Any], cell: str) -> list[int]:
  """The states (0 = h[c-2], 1 = h[c-1], 2 + j = block j) that ``cell``'s output
  concatenates: the architecture's own list (``arch["concat"]``, as published cells give
  it: NASNet's and AmoebaNet's include an input) or those of ``cell_output``."""
  given = arch.get("concat", {}).get(cell)
  if given is not None:
    return [int(state) for state in given]
  return [2 + b for b in output_blocks(arch[cell], arch["cell_output"])]


def input_name(source: int) -> str:
  return INPUT_NAMES[source] if source < 2 else f"b{source - 2}"


class CellSpace(SearchSpace):
  name = "cell"

  def __init__(self, ops="enas", num_blocks: int = 5, cell_output: str = "loose_ends",
               same_cell_for_reduction: bool = False, op_priors: bool = False):
    self.ops = resolve_ops(ops)
    self.op_priors = bool(op_priors)
    if num_blocks < 1:
      raise ValueError(f"space.num_blocks must be >= 1, got {num_blocks}")
    if cell_output not in CELL_OUTPUTS:
      raise ValueError(f"space.cell_output must be one of {', '.join(CELL_OUTPUTS)}, "
                       f"got {cell_output!r}")
    self.num_blocks, self.cell_output = int(num_blocks), cell_output
    self.same_cell_for_reduction = bool(same_cell_for_reduction)
    self.vocab = {"cell_op": self.ops}
    self.cells = ("normal",) if self.same_cell_for_reduction else ("normal", "reduce")

  @classmethod
  def from_config(cls, config) -> "CellSpace":
    strategy = config.get("search", {}).get("strategy", "")
    settings = space_settings(config.space, strategy)
    controller = {"enas": config.get("enas", {}).get("controller", {}),
                  "nas_rl": config.get("controller", {})}.get(strategy, {})
    return cls(settings["ops"], settings["num_blocks"], settings["cell_output"],
               settings["same_cell_for_reduction"], controller.get("op_priors", False))

  def _prior(self, pair: tuple[float, float]) -> tuple[float, ...]:
    favoured, other = pair
    return tuple(favoured if op.startswith(ENAS_OP_PRIORS["favoured"]) else other
                 for op in self.ops)

  def controller_head_bias(self) -> dict[str, tuple[float, ...]]:
    return {"cell_op": self._prior(ENAS_OP_PRIORS["head_bias"])} if self.op_priors else {}

  def blocks(self, depth: int | None) -> int:
    if depth is None:
      return self.num_blocks
    if not 1 <= depth <= self.num_blocks:
      raise ValueError(f"a cell of this space has 1..{self.num_blocks} blocks, got {depth}")
    return int(depth)

  def plan(self, depth: int | None = None) -> Plan:
    plan = ()
    for name in self.cells:
      op = Choice("cell_op", self._prior(ENAS_OP_PRIORS["normal_offset"])
                  if self.op_priors and name == "normal" else ())
      plan += (Mark(feeds_zeros=True), Mark(feeds_zeros=True))
      for i in range(self.blocks(depth)):
        plan += (Pointer(2 + i), Pointer(2 + i), op, op, Mark())
    return plan

  def decode(self, tokens: Sequence[int], depth: int | None = None) -> dict[str, Any]:
    num_blocks = self.blocks(depth)
    tokens = self._check_length(tokens, depth, f"{num_blocks} blocks")
    arch = {"space": self.name, "id": architecture_id(self.name, tokens), "tokens": tokens,
            "ops": list(self.ops), "num_blocks": num_blocks,
            "cell_output": self.cell_output,
            "same_cell_for_reduction": self.same_cell_for_reduction}
    per_cell = 4 * num_blocks
    for c, name in enumerate(self.cells):
      part, blocks = tokens[c * per_cell:(c + 1) * per_cell], []
      for i in range(num_blocks):
        in1, in2, op1, op2 = part[4 * i:4 * i + 4]
        if not (0 <= in1 < 2 + i and 0 <= in2 < 2 + i):
          raise ValueError(f"{name} block {i}: inputs must be earlier nodes (< {2 + i}), "
                           f"got {in1}, {in2}")
        if not (0 <= op1 < len(self.ops) and 0 <= op2 < len(self.ops)):
          raise ValueError(f"{name} block {i}: op tokens must be < {len(self.ops)}")
        blocks.append([in1, self.ops[op1], in2, self.ops[op2]])
      arch[name] = blocks
    if self.same_cell_for_reduction:
      arch["reduce"] = [list(block) for block in arch["normal"]]
    return arch

  def encode(self, arch: dict[str, Any]) -> list[int]:
    """Tokens of a (possibly hand-written) architecture of this space."""
    tokens = []
    for name in self.cells:
      for in1, op1, in2, op2 in arch[name]:
        tokens += [int(in1), int(in2), self.ops.index(op1), self.ops.index(op2)]
    return tokens

  def tensor_specs(self) -> list[tuple[tuple[int, ...], str]]:
    """(shape, dtype) of each tensor ``as_tensors`` returns (ENAS micro's supernet inputs)."""
    b = self.num_blocks
    return [((b, 4), "int32"), ((b,), "float32")] * 2

  def as_tensors(self, arch: dict[str, Any]) -> list[np.ndarray]:
    """Per cell (normal, reduce): its blocks [B, 4] (in1, op1, in2, op2; ops as indices of
    ``self.ops``) and a [B] mask of the blocks its output concatenates."""
    tensors = []
    for name in ("normal", "reduce"):
      blocks = arch[name]
      tensors.append(np.array([[in1, self.ops.index(op1), in2, self.ops.index(op2)]
                               for in1, op1, in2, op2 in blocks], np.int32).reshape(-1, 4))
      mask = np.zeros(len(blocks), np.float32)
      mask[output_blocks(blocks, arch["cell_output"])] = 1.0
      tensors.append(mask)
    return tensors

  @staticmethod
  def describe(arch: dict[str, Any]) -> str:
    lines = []
    for name in ("normal", "reduce"):
      blocks = arch[name]
      lines.append(f"{name} cell:")
      for i, (in1, op1, in2, op2) in enumerate(blocks):
        lines.append(f"  b{i} = {op1}({input_name(in1)}) + {op2}({input_name(in2)})")
      outputs = ", ".join(input_name(state) for state in concatenated(arch, name))
      lines.append(f"  out = concat({outputs})")
      if arch.get("same_cell_for_reduction"):
        lines.append("  (the reduction cell is the same cell with stride 2)")
        break
    return "\n".join(lines)

  @staticmethod
  def hparams(arch: dict[str, Any]) -> dict[str, Any]:
    return {f"{name}_b{i}": f"{op1}({input_name(in1)})+{op2}({input_name(in2)})"
            for name in ("normal", "reduce") for i, (in1, op1, in2, op2) in
            enumerate(arch[name])}

  @staticmethod
  def graph(arch: dict[str, Any]) -> Graph:
    """Both cells side by side, each bottom-up: its two inputs, one box per block (its two
    ops), arrows from the block's inputs, and the concatenated output."""
    nodes, edges = {}, []
    for column, name in enumerate(("normal", "reduce")):
      x0, blocks = 7.0 * column, arch[name]
      for k, label in enumerate(INPUT_NAMES):
        nodes[f"{name}_in{k}"] = (x0 - 1.5 + 3.0 * k, 0.0, label, "io")
      for i, (in1, op1, in2, op2) in enumerate(blocks):
        node = f"{name}_b{i}"
        nodes[node] = (x0 + (1.2 if i % 2 else -1.2), 1.5 * (i + 1),
                       f"b{i}: {op1} + {op2}", "conv")
        for j, source in enumerate((in1, in2)):
          start = f"{name}_in{source}" if source < 2 else f"{name}_b{source - 2}"
          edges.append((start, node, 0.15 * (-1) ** j if in1 == in2 else 0.0, "-"))
      out = f"{name}_out"
      nodes[out] = (x0, 1.5 * (len(blocks) + 1), f"{name} cell output (concat)", "head")
      edges += [(f"{name}_in{state}" if state < 2 else f"{name}_b{state - 2}", out, 0.0, "-")
                for state in concatenated(arch, name)]
    return Graph(nodes, edges, width=12.0, height=1.5 + 1.1 * (len(arch["normal"]) + 2),
                 title=f"cells {arch['id']}")
