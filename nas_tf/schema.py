"""The range of every numeric config key, declared once.

``config.validate`` checks each number of a config against its entry here, whichever block it
is in, so that a block added later is checked too: ``tests/test_schema.py`` walks every
numeric key of every bundled config and preset, sets it to NaN, to -1 and to 1e9, and expects
a one-line refusal unless the entry says why such a value is fine (``negative``/``huge``).
Relations between keys (a tournament no larger than the population) stay in
``config.validate``; relations to the data (a batch no larger than its split) are checked by
the task once the data is loaded (``data``).
"""

from __future__ import annotations

import dataclasses
import math
import numbers

# Bounds beyond every published network by orders of magnitude: a value past them is a typo,
# and would otherwise surface as an out-of-memory traceback from inside a child.
MAX_WIDTH = 65_536      # channels, LSTM units, filters per layer (the papers: at most 768)
MAX_DEPTH = 1_000       # layers, cells per stage, nodes (the papers: at most 15 layers)
MAX_KERNEL = 64         # filter sides and strides (the papers: at most 7)
MAX_WORKERS = 4_096     # processes started on one machine

# Why an unbounded value is fine, shared by the keys it applies to.
LONGER = "a larger value only takes longer; Ctrl-C stops the run and a rerun resumes it"
ALL = "a value above the data's size means all of it"
STEP = ("a learning rate too large for the network diverges: a child is recorded failed and "
        "the search goes on, a one-shot search stops with the non-finite loss named")
NO_CLIP = "a norm above every gradient's is no clipping"
SCALE = "only scales the reward"
FLATTEN = "a large value flattens the controller's distribution toward uniform sampling"


@dataclasses.dataclass(frozen=True)
class Range:
  low: float | None = 0.0
  high: float | None = None
  low_open: bool = False
  high_open: bool = False
  integer: bool = False
  zero: str = ""          # what 0 means, where 0 is allowed and special ("off", "all")
  huge: str = ""          # why any large value is accepted (required when high is None)
  negative: str = ""      # why negative values are accepted (required when low is None)
  data: str = ""          # the data-relative bound that the task checks once data is loaded

  def accepts(self, value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      return False
    if not math.isfinite(value) or (self.integer and value != int(value)):
      return False
    if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
      return False
    return self.high is None or value < self.high or (not self.high_open
                                                      and value == self.high)

  def describe(self) -> str:
    number = "an integer " if self.integer else ""
    if self.low is not None and self.high is not None:
      left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
      text = f"{number}in {left}{self.low:g}, {self.high:g}{right}"
    elif self.low is not None:
      text = f"{number}{'>' if self.low_open else '>='} {self.low:g}"
    else:
      text = "an integer" if self.integer else "a finite number"
    return text + (f" (0 = {self.zero})" if self.zero else "")


def _int(low=1, high=None, **kw) -> Range:
  return Range(low=low, high=high, integer=True, **kw)


def _positive(**kw) -> Range:
  return Range(low=0.0, low_open=True, **kw)


FRACTION = Range(0.0, 1.0, high_open=True)          # rates, dropouts, momentum, decays
EPOCHS = _int(huge=LONGER)
WIDTH = _int(high=MAX_WIDTH)
DEPTH = _int(high=MAX_DEPTH)
LEARNING_RATE = _positive(huge=STEP)
DECAY = Range(0.0, 1.0, high_open=True)             # weight decay: 1 or more erases weights
CLIP = Range(0.0, zero="off", huge=NO_CLIP)
BATCH = _int(data="no larger than the split it batches (checked with the data)")

# ``child.*`` and ``final.*``: a child's training, and the final training that may override it.
_TRAINING = {
    "epochs": EPOCHS, "batch_size": BATCH,
    "eval_batch_size": _int(huge="evaluation batches larger than the split hold all of it"),
    "bptt": _int(data="fewer steps than each batch row's tokens (checked with the data)"),
    "channels": WIDTH, "units": WIDTH, "layers_per_stage": DEPTH, "num_layers": DEPTH,
    "learning_rate": LEARNING_RATE, "momentum": FRACTION, "weight_decay": DECAY,
    "clip_norm": CLIP, "timeout_s": Range(0.0, zero="no limit", huge="a long limit is none"),
    "auxiliary_weight": Range(0.0, 1.0, zero="no auxiliary head"),
    "cutout": _int(0, zero="off", data="under twice the image's side (checked with the data)"),
    "drop_path": FRACTION, "dropout": FRACTION, "embedding_dropout": FRACTION,
    "recurrent_dropout": FRACTION, "width": _positive(high=64.0),
    "learning_rate_min": Range(0.0, zero="decays to 0", huge=STEP), "lr_restart_epochs": EPOCHS,
    "lr_restart_mul": Range(1.0, 16.0),
    "lr_decay_rate": Range(0.0, 1.0, low_open=True), "output_dropout": FRACTION,
    "lr_decay_start": _int(0, huge="a start past the last epoch is no decay"),
    "slowness_reg": Range(0.0, zero="off", huge="a strong penalty is the user's choice"),
}

# ``controller.*`` (NAS-RL's, PNAS-free strategies) and ``enas.controller.*`` (ENAS's).
_CONTROLLER = {
    "units": WIDTH, "num_layers": DEPTH, "init_range": _positive(high=1.0),
    "learning_rate": LEARNING_RATE, "baseline_decay": FRACTION,
    "entropy_weight": Range(0.0, huge=FLATTEN), "clip_norm": CLIP,
    "op_tanh_reduce": _positive(huge=FLATTEN), "skip_target": FRACTION,
    "skip_weight": Range(0.0, huge="the strength of the link-rate penalty: any is valid"),
    "tanh_constant": Range(0.0, zero="off", huge="a large constant is no squashing"),
    "temperature": Range(0.0, zero="off", huge=FLATTEN),
    "batch": _int(huge=LONGER), "steps": _int(0, huge=LONGER),
    "adam_beta1": FRACTION, "warm_start_samples": _int(huge=LONGER),
    "adam_epsilon": _positive(huge="a large epsilon is a sign-free, gradient-scaled step"),
}

_OTHERS = {
    "seed": _int(0, 2**31 - 1),
    "search.num_children": _int(huge=LONGER), "search.batch_size": _int(huge=LONGER),
    "search.keep_weights": _int(huge="more than the children kept is every child's"),
    "search.max_consecutive_failures": _int(huge="a large value never stops for failures"),
    "search.start_depth": DEPTH, "search.depth_step": _int(0, MAX_DEPTH, zero="fixed depth"),
    "search.depth_every": _int(huge="a period longer than the search never deepens"),
    "search.failure_reward": Range(None, huge="any reward for a failed child is the user's "
                                   "choice", negative="a penalty below every reward is valid"),
    "search.objective.target": Range(0.0, zero="none (kind=metric)", huge="a budget above "
                                     "every child's cost constrains nothing"),
    "search.objective.weight": Range(None, 0.0, huge="", negative="MnasNet's w; more "
                                     "negative trades more of the metric for a lower cost"),
    "search.objective.latency_calls": _int(0, zero="latency not measured", huge=LONGER),
    "reward.constant": _positive(huge=SCALE),
    "reward.exponent": Range(0.0, 100.0, zero="by the table's scale, on a lookup task only"),
    "reward.window": _int(huge="a window longer than the training takes every epoch"),
    "data.val_fraction": Range(0.0, 1.0, low_open=True, high_open=True),
    "data.image_size": _int(0, 4096, zero="the data's own size"),
    "data.max_train_examples": _int(0, zero="all", huge=ALL),
    "data.max_val_examples": _int(0, zero="all", huge=ALL),
    "data.max_train_tokens": _int(0, zero="all", huge=ALL),
    "data.max_valid_tokens": _int(0, zero="all", huge=ALL),
    "data.seconds_per_child": _positive(huge="simulated seconds, charged to a simulated "
                                        "budget"),
    "space.base_number": _int(2, 64), "space.num_blocks": _int(0, 32, zero="the space's own"),
    "space.filter_heights": _int(1, MAX_KERNEL), "space.filter_widths": _int(1, MAX_KERNEL),
    "space.strides": _int(1, MAX_KERNEL), "space.num_filters": WIDTH,
    "evolution.population": _int(2, huge=LONGER), "evolution.sample_size": _int(huge=LONGER),
    "guided.initial": _int(2, huge=LONGER), "guided.refit_every": _int(huge=LONGER),
    "guided.candidates": _int(huge=LONGER), "guided.parents": _int(huge=LONGER),
    "guided.ensemble": _int(huge=LONGER), "guided.epochs": _int(huge=LONGER),
    "guided.units": WIDTH,
    "zero_cost.samples": _int(huge=LONGER),
    "zero_cost.train_top": _int(huge="more than the candidates trains every candidate"),
    "zero_cost.batch_size": _int(2, huge=ALL, data="no more than the training images"),
    "zero_cost.naswot_batch_size": _int(2, huge=ALL, data="no more than the training images"),
    "pnas.beam": _int(huge=LONGER), "pnas.ensemble": _int(1, 100), "pnas.epochs": EPOCHS,
    "pnas.learning_rate": LEARNING_RATE, "pnas.units": WIDTH,
    "pnas.max_blocks": _int(0, 32, zero="space.num_blocks"),
    "darts.epochs": EPOCHS, "darts.batch_size": BATCH, "darts.channels": WIDTH,
    "darts.layers_per_stage": DEPTH, "darts.order": _int(1, 2),
    "darts.learning_rate": LEARNING_RATE, "darts.learning_rate_min": Range(0.0, huge=STEP),
    "darts.arch_learning_rate": LEARNING_RATE, "darts.momentum": FRACTION,
    "darts.weight_decay": DECAY, "darts.arch_weight_decay": DECAY, "darts.clip_norm": CLIP,
    "enas.epochs": EPOCHS, "enas.channels": WIDTH, "enas.num_layers": DEPTH,
    "enas.num_nodes": _int(1, 64), "enas.learning_rate": LEARNING_RATE,
    "enas.learning_rate_min": Range(0.0, huge=STEP), "enas.momentum": FRACTION,
    "enas.weight_decay": DECAY, "enas.clip_norm": CLIP, "enas.dropout": FRACTION,
    "enas.auxiliary_weight": Range(0.0, 1.0, zero="no auxiliary head"),
    "enas.derive_samples": _int(huge=LONGER), "enas.reward_constant": _positive(huge=SCALE),
    "enas.lr_decay_rate": Range(0.0, 1.0, low_open=True),
    "enas.lr_decay_start": _int(0, huge="a start past the last epoch is no decay"),
    "enas.lr_restart_epochs": _int(0, zero="no restarts",
                                   huge="a period past the last epoch is no restart"),
    "enas.lr_restart_mul": Range(1.0, huge="a period that outgrows the run is no restart"),
    "executor.workers": _int(0, MAX_WORKERS, zero="one per GPU, or 1"),
    "executor.children_per_gpu": _int(1, 64),
    "executor.threads_per_worker": _int(0, 4096, zero="cores / workers"),
    "executor.recycle_every": _int(0, zero="in this process",
                                   huge="a long period never recycles the worker"),
    "executor.cpus_per_child": _positive(high=4096.0),
    "executor.gpus_per_child": Range(0.0, 64.0),
    "executor.max_retries": _int(0, 100),
}

SCHEMA: dict[str, Range] = {
    **{f"{block}.{key}": r for block in ("child", "final") for key, r in _TRAINING.items()},
    **{f"{block}.{key}": r for block in ("controller", "enas.controller")
       for key, r in _CONTROLLER.items()},
    **_OTHERS,
}


def check(key: str, value) -> str | None:
  """The one-line complaint about ``value`` at the dotted ``key``, or None when it is fine
  (keys not declared here, such as a custom task's, need only be finite numbers)."""
  spec = SCHEMA.get(key)
  if not isinstance(value, numbers.Real) or isinstance(value, bool):  # in a list: 'abc'
    return f"{key} must hold numbers{f' ({spec.describe()})' if spec else ''}, got {value!r}"
  if not math.isfinite(value):
    return f"{key} must be a finite number, got {value}"
  if spec is None or spec.accepts(value):
    return None
  return f"{key} must be {spec.describe()}, got {value:g}" if isinstance(value, float) else \
      f"{key} must be {spec.describe()}, got {value}"
