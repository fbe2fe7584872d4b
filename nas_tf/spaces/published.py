"""The architectures the papers found, by name (``nas-tf zoo``; ``nas-tf train TASK
--arch=NAME``), each transcribed from its authors' code, with the final network the paper
built from it and the parameter count the paper reports.

Cells are written in ``spaces/cell.py``'s numbering (0 = h[c-2], 1 = h[c-1], 2 + j = block
j). tensorflow/models' ``nasnet_utils.py`` numbers the other way round (0 = h[c-1], 1 =
h[c-2]): its ``hiddenstate_indices`` are transcribed with 0 and 1 swapped, and its
``used_hiddenstates`` become the ``concat`` list (the states it marks unused).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from nas_tf.spaces.published_recurrent import ENAS_PTB, ENAS_PTB_RECIPE, NAS_RL_CELL


@dataclass(frozen=True)
class Published:
  name: str
  paper: str
  source: str              # the file the architecture was transcribed from
  space: str               # its space.kind
  config: str              # the method config (configs/NAME.py) whose presets train it
  network: dict[str, Any]  # final.* of the paper's final network (N, C, auxiliary head)
  paper_params: float      # the paper's reported count, in millions
  params: int              # trainable parameters of that network as nas-tf builds it
  counted: str             # what the paper's count covers, as its authors' code counts
  arch: dict[str, Any] = field(repr=False)
  recipe: dict[str, Any] = field(default_factory=dict)  # final.* of the paper's training
  recipe_source: str = ""
  mismatch: str = ""       # why ``params`` is not the paper's figure, when it is not
  rounding: float = 0.05   # half the paper's last digit: 3.3M is 3.25M..3.35M, 24M 23.5..24.5

  def architecture(self) -> dict[str, Any]:
    """The architecture, its id the name (``--child=darts_v2`` finds it in a work dir)."""
    return {**copy.deepcopy(self.arch), "id": self.name, "published": self.name}

  def rounds_to_paper(self) -> bool:
    """Whether ``params`` is the paper's figure to the paper's rounding."""
    return abs(self.params / 1e6 - self.paper_params) <= self.rounding + 1e-9


def _cell(ops: str, normal, reduce, network: str, concat=None, cell_output: str = "all",
          same_cell_for_reduction: bool = False) -> dict[str, Any]:
  """A cell architecture with its tokens and id, as ``CellSpace`` decodes one."""
  from nas_tf.spaces.cell import CellSpace
  space = CellSpace(ops, len(normal), cell_output, same_cell_for_reduction)
  arch = {"space": "cell", "ops": list(space.ops), "num_blocks": len(normal),
          "cell_output": cell_output, "same_cell_for_reduction": same_cell_for_reduction,
          "normal": [list(b) for b in normal], "reduce": [list(b) for b in reduce],
          "network": network}
  if concat:
    arch["concat"] = {k: list(v) for k, v in concat.items()}
  arch["tokens"] = space.encode(arch)
  return arch


def _darts(normal, reduce) -> dict[str, Any]:
  """A genotype of quark0/darts ``cnn/genotypes.py``: (op, input) pairs, two per node."""
  pairs = lambda nodes: [[a[1], a[0], b[1], b[0]] for a, b in zip(nodes[::2], nodes[1::2])]
  return _cell("darts", pairs(normal), pairs(reduce), "darts")


def _nasnet_cell(operations, hiddenstate_indices):
  """tensorflow/models' (operations, hiddenstate_indices) as blocks in our numbering."""
  ops = {"none": "identity", "separable_3x3_2": "sep_conv_3x3",
         "separable_5x5_2": "sep_conv_5x5", "separable_7x7_2": "sep_conv_7x7",
         "avg_pool_3x3": "avg_pool_3x3", "max_pool_3x3": "max_pool_3x3",
         "1x7_7x1": "bottleneck_1x7_7x1"}
  ours = [{0: 1, 1: 0}.get(i, i) for i in hiddenstate_indices]
  return [[ours[k], ops[operations[k]], ours[k + 1], ops[operations[k + 1]]]
          for k in range(0, len(operations), 2)]


def _unused(used_hiddenstates) -> list[int]:
  """tensorflow/models' used_hiddenstates as the states the output concatenates."""
  return [{0: 1, 1: 0}.get(i, i) for i, used in enumerate(used_hiddenstates) if not used]


_SEP5, _SEP3, _SEP7 = "separable_5x5_2", "separable_3x3_2", "separable_7x7_2"
_AVG, _MAX = "avg_pool_3x3", "max_pool_3x3"

# tensorflow/models research/slim/nets/nasnet/nasnet_utils.py NasNetANormalCell and
# NasNetAReductionCell.
NASNET_A = _cell(
    "nasnet",
    _nasnet_cell([_SEP5, _SEP3, _SEP5, _SEP3, _AVG, "none", _AVG, _AVG, _SEP3, "none"],
                 [0, 1, 1, 1, 0, 1, 1, 1, 0, 0]),
    _nasnet_cell([_SEP5, _SEP7, _MAX, _SEP7, _AVG, _SEP5, "none", _AVG, _SEP3, _MAX],
                 [0, 1, 0, 1, 0, 1, 3, 2, 2, 0]),
    "nasnet", concat={"normal": _unused([1, 0, 0, 0, 0, 0, 0]),
                      "reduce": _unused([1, 1, 1, 0, 0, 0, 0])})

# tensorflow/tpu models/official/amoeba_net/model_specs.py, cell_name 'amoeba_net_a'.
AMOEBANET_A = _cell(
    "nasnet",
    _nasnet_cell([_AVG, _MAX, _SEP3, "none", "none", _AVG, _SEP3, "separable_5x5_2", _AVG,
                  _SEP3], [0, 0, 1, 1, 0, 1, 0, 2, 5, 0]),
    _nasnet_cell([_SEP3, _AVG, _MAX, _SEP7, _MAX, _MAX, _SEP3, "1x7_7x1", _AVG, _SEP7],
                 [1, 0, 0, 2, 1, 0, 4, 0, 1, 0]),
    "nasnet", concat={"normal": _unused([1, 0, 1, 0, 0, 1, 0]),
                      "reduce": _unused([1, 1, 0, 0, 0, 0, 0])})

# tensorflow/models research/slim/nets/nasnet/pnasnet.py PNasNetNormalCell: one cell, used
# with stride 2 as the reduction cell; used_hiddenstates [1, 1, 0, ...]: all five blocks.
_PNAS_BLOCKS = _nasnet_cell([_SEP5, _MAX, _SEP7, _MAX, _SEP5, _SEP3, _SEP3, _MAX, _SEP3, "none"],
                            [1, 1, 0, 0, 0, 0, 4, 0, 1, 0])
PNASNET_5 = _cell("pnas", _PNAS_BLOCKS, _PNAS_BLOCKS, "nasnet", same_cell_for_reduction=True)


def _enas_micro(arc: str) -> list[list]:
  """A cell of melodyguan/enas's fixed_arc: (x_id, x_op, y_id, y_op) per block, ops numbered
  as micro_child.py's _fixed_layer reads them (0 sep 3x3, 1 sep 5x5, 2 avg, 3 max, 4 id)."""
  ops = ("sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity")
  t = [int(v) for v in arc.split()]
  return [[t[k], ops[t[k + 1]], t[k + 2], ops[t[k + 3]]] for k in range(0, len(t), 4)]


def _unread(blocks) -> list[int]:
  """The states no block reads, inputs included (micro_child.py ``_fixed_combine``)."""
  read = {source for in1, _, in2, _ in blocks for source in (in1, in2)}
  return [s for s in range(len(blocks) + 2) if s not in read]


# melodyguan/enas scripts/cifar10_micro_final.sh lines 5-6.
_ENAS_NORMAL = _enas_micro("0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1")
_ENAS_REDUCE = _enas_micro("1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1")
ENAS_MICRO = _cell("enas", _ENAS_NORMAL, _ENAS_REDUCE, "enas", cell_output="loose_ends",
                   concat={"normal": _unread(_ENAS_NORMAL), "reduce": _unread(_ENAS_REDUCE)})

# melodyguan/enas scripts/cifar10_macro_final.sh lines 5-28: per layer its operation, then a
# skip bit per earlier output (the stem, layers 0..i-2), 24 layers (--child_num_layers=24).
_ENAS_MACRO_ARC = """0 | 3 0 | 0 1 0 | 2 0 0 1 | 2 0 0 0 0 | 3 1 1 0 1 0 | 2 0 0 0 0 0 1 |
    2 0 1 1 0 1 1 1 | 1 0 1 1 1 0 1 0 1 | 0 0 0 0 0 0 0 0 0 0 | 2 0 0 0 0 0 1 0 0 0 0 |
    0 1 0 0 1 1 0 0 0 0 1 1 | 2 0 1 0 0 0 0 0 1 0 1 1 0 | 1 0 0 1 0 0 0 1 1 1 0 1 0 1 |
    0 1 1 0 1 0 1 0 0 0 0 0 1 0 0 | 2 0 0 1 0 0 0 0 0 0 0 1 0 1 0 1 |
    2 0 1 0 0 0 1 0 0 1 1 1 1 0 0 1 0 | 2 0 0 0 0 1 0 1 0 1 0 0 1 0 1 0 0 1 |
    3 0 1 1 0 1 0 0 0 0 0 1 0 1 0 1 0 0 0 | 3 0 1 1 0 0 0 0 0 0 0 0 0 1 1 0 0 0 0 1 |
    0 1 0 0 1 0 1 1 0 0 0 1 0 0 0 0 0 1 1 0 0 | 3 0 1 0 1 1 0 0 1 0 1 1 0 1 1 0 1 0 0 1 0 0 |
    0 1 0 1 0 1 0 0 0 0 0 0 0 0 1 0 1 0 0 1 0 0 0 |
    0 1 1 0 0 0 1 1 1 0 1 0 0 0 1 0 1 0 0 1 1 0 0 0"""


def _enas_macro(arc: str, channels: int) -> dict[str, Any]:
  """A fixed_arc of general_child.py's whole-channel mode, as its ``_fixed_layer`` builds it
  (lines 389-405): operations 0-3 are kxk convolutions, k = (3, 3, 5, 5)[op], all four of
  them full convs (the README's table calls 1 and 3 separable, which the search builds but
  the final network does not)."""
  from nas_tf.spaces.enas_macro import OPERATIONS, EnasMacroSpace
  rows = [[int(t) for t in row.split()] for row in arc.split("|")]
  as_built = ("conv3x3", "conv3x3", "conv5x5", "conv5x5")
  tokens = [t for row in rows for t in [OPERATIONS.index(as_built[row[0]]), *row[1:]]]
  arch = EnasMacroSpace(len(rows), channels).decode(tokens)
  arch.pop("id")
  return arch


ENAS_MACRO = _enas_macro(_ENAS_MACRO_ARC, 96)  # --child_out_filters=96
# cifar10_macro_final.sh's training (general_child.py and utils.get_train_ops): 310 epochs at
# batch 100, Nesterov momentum 0.9, cosine from 0.05 to 0.001 restarted after 10, 20, 40, ...
# epochs, l2_reg 2e-4 on sum(w^2) (a 4e-4 w gradient), keep 0.5 before the classifier, no
# cutout; ENAS's "norm" clipping leaves the gradient unclipped (configs/cifar10.py enas).
ENAS_MACRO_RECIPE = {"epochs": 310, "batch_size": 100, "learning_rate": 0.05,
                     "learning_rate_min": 0.001, "lr_schedule": "cosine_restarts",
                     "lr_restart_epochs": 10, "lr_restart_mul": 2.0, "momentum": 0.9,
                     "nesterov": True, "weight_decay": 4e-4, "dropout": 0.5, "cutout": 0,
                     "clip_norm": 0.0}

DARTS_V1 = _darts(
    [("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
     ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
    [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
     ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)])
DARTS_V2 = _darts(
    [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
     ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
     ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)])


_NO_AUX = "trainable parameters without the auxiliary head"
# nasnet.py's "Notes for training NASNet Cifar Model" and cifar_config (600 epochs of 937,500
# steps at batch 32, drop-path keep 0.6) with nasnet_cifar_arg_scope's weight decay 5e-4.
NASNET_RECIPE = {"epochs": 600, "batch_size": 32, "learning_rate": 0.025,
                 "lr_schedule": "cosine", "auxiliary_weight": 0.4, "clip_norm": 5.0,
                 "drop_path": 0.4, "weight_decay": 5e-4}
_NASNET_RECIPE_SOURCE = ("tensorflow/models nasnet.py (no CIFAR script of AmoebaNet or "
                         "PNASNet is published)")
_DARTS_SOURCE = "quark0/darts cnn/genotypes.py"

PUBLISHED = (
    Published("nasnet_a", "NASNet-A (Zoph et al. 2018)",
              "tensorflow/models research/slim/nets/nasnet/nasnet_utils.py", "cell",
              "darts", {"channels": 32, "layers_per_stage": 6}, 3.3, 3_346_538,
              _NO_AUX + " (with it: 4,978,036)", NASNET_A, NASNET_RECIPE,
              "tensorflow/models nasnet.py"),
    Published("amoebanet_a", "AmoebaNet-A (Real et al. 2019)",
              "tensorflow/tpu models/official/amoeba_net/model_specs.py", "cell", "darts",
              {"channels": 36, "layers_per_stage": 6}, 3.2, 3_218_266, _NO_AUX,
              AMOEBANET_A, NASNET_RECIPE, _NASNET_RECIPE_SOURCE),
    Published("pnasnet_5", "PNASNet-5 (Liu et al. 2018)",
              "tensorflow/models research/slim/nets/nasnet/pnasnet.py", "cell", "darts",
              {"channels": 48, "layers_per_stage": 3}, 3.2, 3_189_082,
              _NO_AUX + "; N=3 is 9 cells with the 2 reduction cells among them (the "
              "author, chenxi116/PNASNet.pytorch issue 1)", PNASNET_5, NASNET_RECIPE,
              _NASNET_RECIPE_SOURCE),
    Published("enas_micro", "ENAS micro (Pham et al. 2018)",
              "melodyguan/enas scripts/cifar10_micro_final.sh", "cell", "enas_micro",
              {"channels": 36, "layers_per_stage": 5}, 4.6, 3_894_372,
              _NO_AUX + ", as micro_child.py's count_model_params counts (lines 721-724 "
              "leave the aux_head variables out; with it: 4,389,220)", ENAS_MICRO,
              mismatch="the script's network (--child_num_layers=15: N=5, C=36) has 3.89M "
                       "without its auxiliary head (as ENAS counts), 4.39M with it; the "
                       "paper's 4.6M is not "
                       "reached by any reading of micro_child.py found so far (N=6 without "
                       "the head would give 4.59M, but the script says N=5)"),
    Published("enas_macro", "ENAS macro (Pham et al. 2018)",
              "melodyguan/enas scripts/cifar10_macro_final.sh", "enas_macro", "cifar10", {},
              21.3, 42_559_402,
              "trainable parameters; general_child.py's own arithmetic gives 42,559,392 (its "
              "classifier has no bias: 10 fewer)", ENAS_MACRO, ENAS_MACRO_RECIPE,
              "melodyguan/enas scripts/cifar10_macro_final.sh",
              mismatch="the script's network (24 layers, 96 channels doubled at 2 reductions, "
                       "every operation a full conv as _fixed_layer builds it) has 42.56M; "
                       "with the README's separable convs it would have 30.99M; the paper's "
                       "21.3M (and 38.0M with more channels) is neither, and no other fixed "
                       "arc is published"),
    Published("darts_v1", "DARTS first order (Liu et al. 2019)", _DARTS_SOURCE, "cell",
              "darts", {"channels": 36, "layers_per_stage": 6}, 3.3, 3_169_414,
              _NO_AUX + " (utils.count_parameters_in_MB skips 'auxiliary')", DARTS_V1,
              mismatch="genotypes.py's DARTS_V1 has no dil_conv_3x3 where DARTS_V2 has one "
                       "per normal cell: 179,928 parameters fewer, 3.17M, though the paper "
                       "lists 3.3M for first order; the same code gives V2 exactly "
                       "3,349,342, so the genotype, not the network, differs from that row"),
    Published("darts_v2", "DARTS second order (Liu et al. 2019)", _DARTS_SOURCE, "cell",
              "darts", {"channels": 36, "layers_per_stage": 6}, 3.3, 3_349_342,
              _NO_AUX + " (utils.count_parameters_in_MB skips 'auxiliary'): 3,349,342, "
              "as train.py prints", DARTS_V2),
    # The paper gives no hidden size. Its child models have two layers (section 4.2), and
    # only at two layers does one width give both of its Table 2 rows of this cell: 32M with
    # a separate softmax and 25M with shared embeddings (H=733-742; tests/test_zoo.py).
    Published("nas_rl_ptb", "NAS-RL recurrent cell (Zoph & Le 2017)",
              "tensorflow contrib/rnn/python/ops/rnn_cell.py (NASCell)", "rnn_cell", "ptb",
              {"units": 741, "num_layers": 2}, 25.0, 25_002_448,
              "trainable parameters of two layers with the embedding shared with the "
              "softmax (Table 2's 25M row; untied, 32.41M: its 32M row); H=741 is inferred, "
              "the paper gives no width", NAS_RL_CELL, rounding=0.5),
    Published("enas_ptb", "ENAS recurrent cell (Pham et al. 2018)",
              "melodyguan/enas scripts/ptb_final.sh", "enas_rnn", "enas_ptb",
              {"units": 748, "num_layers": 1}, 24.0, 22_037_104,
              "trainable parameters: the 10,000 x 748 embedding tied to the softmax, and the "
              "softmax's bias (10,000; ENAS's _get_log_probs has none)", ENAS_PTB,
              ENAS_PTB_RECIPE, "melodyguan/enas scripts/ptb_final.sh", rounding=0.5,
              mismatch="ptb_final.sh's network as ptb_enas_child.py builds it has 22.03M (a "
                       "2H x 2H kernel for node 0, eleven H x 2H ones, the tied embedding; "
                       "H=748), the paper's table 24M; the repository's README says its "
                       "language model is wrong and points to google-research enas_lm, not "
                       "compared here"),
)
BY_NAME = {entry.name: entry for entry in PUBLISHED}


# NAS-Bench-201's training of every cell (AutoDL-Projects configs/nas-benchmark/hyper-opts/
# 200E.config, xautodl/procedures/): SGD, Nesterov momentum 0.9, decay 5e-4 on every parameter,
# 0.1 annealed per epoch from the first over 200, batch 256; no cutout, drop-path or aux head.
NB201_RECIPE = {"epochs": 200, "batch_size": 256, "learning_rate": 0.1,
                "lr_schedule": "cosine_epochs_nb201", "momentum": 0.9, "nesterov": True,
                "weight_decay": 5e-4, "drop_path": 0.0, "auxiliary_weight": 0.0, "cutout": 0,
                "clip_norm": 0.0}


def nasbench201_cell(arch_str: str) -> Published:
  """A NAS-Bench-201 cell given by its ``arch_str``, in the benchmark's network (N=5, C=16)
  with its training under ``paper``; ValueError with one line for a malformed string."""
  from nas_tf.spaces.tabular import NB201_OPS, NasBench201Space, nb201_ops
  try:
    ops = nb201_ops(arch_str)
  except ValueError as e:
    raise ValueError(f"--arch: not a NAS-Bench-201 cell: {e}") from None
  arch = NasBench201Space().decode([NB201_OPS.index(op) for op in ops])
  return Published(f"nb201_{arch['id']}", "a NAS-Bench-201 cell (Dong & Yang 2020)",
                   "its arch string", "nasbench201", "cifar10",
                   {"layers_per_stage": 5, "channels": 16}, 0.0, 0, "", arch, NB201_RECIPE,
                   "D-X-Y/AutoDL-Projects configs/nas-benchmark/hyper-opts/200E.config")


def find(name: str) -> Published:
  """A published architecture by name, or a NAS-Bench-201 cell by its arch string."""
  if name.startswith("|"):
    return nasbench201_cell(name)
  if name not in BY_NAME:
    import difflib
    close = difflib.get_close_matches(name, BY_NAME, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"--arch: no published architecture {name!r} (known: "
                     f"{', '.join(BY_NAME)}){hint}")
  return BY_NAME[name]
