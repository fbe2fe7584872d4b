"""Config checks shared by every task: fail fast, with one message, before any training."""

from __future__ import annotations

import difflib
import json
from typing import Any

import ml_collections

from nas_tf import registry, schema

# Keys that say where and how a search runs, not what it is: a resumed search may change them
# (a laptop search goes on on a Ray cluster; more children, time or trained candidates extend
# it; ``about`` describes the preset). The data path may change only to a copy of the data.
RUN_KEYS = ("executor", "search.num_children", "search.time_budget", "data.source", "about",
            "zero_cost.train_top", "zero_cost.images")
LR_SCHEDULES = ("cosine", "cosine_epochs", "cosine_epochs_nb201", "cosine_restarts", "exponential",
                "step", "constant")


class ConfigError(ValueError):
  """A config value is missing, unknown or out of range."""


def to_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """A JSON round-trip of the config (tuples become lists), as stored in the work directory."""
  return json.loads(config.to_json())


def _check(config, keys, ok, requirement: str, required: bool = True) -> None:
  """Raises ConfigError for the first of ``keys`` whose value fails ``ok``; a key the config
  lacks fails only when ``required``."""
  for key in keys:
    value = value_at(config, key)
    if value is None and not required:
      continue
    if value is None or not ok(value):
      raise ConfigError(f"{key} must be {requirement}, got {value}")


def suggest(name, known) -> str:
  """``; did you mean 'x'?`` for a near miss among ``known``, else ''."""
  close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.6)
  return f"; did you mean {close[0]!r}?" if close else ""


def _one_of(config, key: str, choices, default=None) -> None:
  """ConfigError unless ``key`` (``default`` when absent) is one of ``choices``."""
  value = default if (value := value_at(config, key)) is None else value
  if value not in choices:
    raise ConfigError(f"{key} must be one of {', '.join(map(str, choices))}, got {value!r}"
                      f"{suggest(value, choices)}")


def _require(config, *keys):
  """ConfigError naming the first of ``keys`` the config lacks (their ranges are the
  schema's)."""
  for key in keys:
    if not has_key(config, key):
      raise ConfigError(f"{key} must be set")


def _numbers(node, prefix=""):
  """(dotted key, value) of every number in a nested config, lists and tuples included."""
  items = node.items() if hasattr(node, "items") else []
  for key, value in items:
    if hasattr(value, "items"):
      yield from _numbers(value, f"{prefix}{key}.")
    elif isinstance(value, (list, tuple)):  # a declared key's strings too: schema refuses them
      yield from ((f"{prefix}{key}", v) for v in value
                  if (isinstance(v, (int, float)) and not isinstance(v, bool))
                  or f"{prefix}{key}" in schema.SCHEMA)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
      yield f"{prefix}{key}", value


def _find(node, key: str) -> tuple[bool, Any]:
  """(whether the dotted ``key`` is in the nested config or dict ``node``, its value)."""
  for part in key.split("."):
    if not hasattr(node, "keys") or part not in node:
      return False, None
    node = node[part]
  return True, node


def value_at(config, key: str):
  """The value at the dotted ``key``, None when absent."""
  return _find(config, key)[1]


def has_key(record, key: str) -> bool:
  return _find(record, key)[0]


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first bad key."""
  for key, value in _numbers(config):
    if (problem := schema.check(key, value)) is not None:
      raise ConfigError(problem)
  # A lookup task picks the exponent for its fitness's scale when given 0.
  auto = config.get("task") in registry.TASKS and registry.TASKS[config.task].auto_exponent
  _check(config, ("reward.exponent",), lambda v: v > 0 or auto, "> 0", required=False)
  _one_of(config, "search.strategy", list(registry.STRATEGIES))
  _one_of(config, "executor.kind", list(registry.EXECUTORS))
  _require(config, "search.num_children", "search.batch_size",
           "search.max_consecutive_failures", "search.keep_weights", "controller.units",
           "controller.num_layers", "controller.learning_rate")
  if "child" in config:  # tasks that train children (lookup tasks read a table instead)
    _require(config, "child.epochs", "child.batch_size", "child.learning_rate", "reward.window")
  if config.search.strategy == "evolution":
    _require(config, "evolution.population", "evolution.sample_size")
    _check(config, ("evolution.sample_size",), lambda v: v <= config.evolution.population,
           f"in 1..evolution.population ({config.evolution.population})")
  _one_of(config, "controller.compile", ("auto", "graph", "eager"))
  for block in ("child", "final"):
    _one_of(config, f"{block}.lr_schedule", LR_SCHEDULES, "cosine")
    settings = {**config.get("child", {}), **config.get(block, {})}
    schedule = settings.get("lr_schedule")
    needs = {"cosine_restarts": ("lr_restart_epochs", "image"),
             "exponential": ("lr_decay_rate", "language")}.get(schedule)
    if needs and needs[0] not in settings:
      raise ConfigError(f"{block}.lr_schedule={schedule}: this config has no {block}."
                        f"{needs[0]} ({needs[1]} tasks' child.* and final.* have it)")
    _one_of(config, f"{block}.precision", ("float32", "mixed_float16", "mixed_bfloat16"),
            "float32")
    _one_of(config, f"{block}.strategy", ("default", "mirrored"), "default")
  if "base_number" in config.get("space", {}):
    b = config.space.base_number
    if b & (b - 1):
      raise ConfigError(f"space.base_number must be a power of two >= 2, got {b}")
  for key in ("filter_heights", "filter_widths", "num_filters", "strides"):
    if key in config.get("space", {}) and not list(config.space[key]):
      raise ConfigError(f"space.{key} must not be empty")
  if "final" in config:
    unknown = sorted(set(config.final) - set(config.child) - {"width"})
    if unknown:
      raise ConfigError(f"final: unknown keys {', '.join(unknown)} (final.* overrides child.*, "
                        "plus final.width)")
  kind = registry.space_kind(config)
  if config.get("task") in registry.TASKS and \
      registry.space_name(config.search.strategy, config.task, kind) is None:
    raise ConfigError(registry.no_space_message(config.search.strategy, config.task, kind))
  if kind == "cell" or config.search.strategy == "enas":
    try:  # the space checks its own keys (op set, blocks, output; ENAS's layers, nodes)
      space = registry.build_space(config)
    except ValueError as e:
      raise ConfigError(str(e)) from None
  if config.search.strategy == "pnas" and kind == "cell":
    _require(config, "pnas.beam", "pnas.ensemble", "pnas.epochs", "pnas.units",
             "pnas.learning_rate")
    _check(config, ("pnas.max_blocks",), lambda v: 0 <= v <= space.num_blocks,
           f"in 0..space.num_blocks ({space.num_blocks}; 0 = space.num_blocks)")
    if not list(config.pnas.predictors) or set(config.pnas.predictors) - {"lstm", "mlp"}:
      raise ConfigError(f"pnas.predictors must be some of lstm, mlp, got "
                        f"{list(config.pnas.predictors)}")
    if config.search.get("async_updates"):
      raise ConfigError("search.async_updates: pnas runs synchronously (a round's cells are "
                        "picked once the previous round is done)")
  if config.search.strategy == "darts" and kind in ("cell", "user"):
    _require(config, *(f"darts.{k}" for k in (
        "epochs", "layers_per_stage", "channels", "batch_size", "learning_rate", "order",
        "arch_learning_rate", "learning_rate_min", "momentum", "weight_decay", "clip_norm",
        "arch_weight_decay")))
    if kind == "cell" and (space.same_cell_for_reduction or space.cell_output != "all"):
      raise ConfigError("darts searches a normal and a reduction cell whose output is all "
                        "nodes: leave space.same_cell_for_reduction and space.cell_output "
                        "at auto")
  if config.search.strategy == "enas":
    _require(config, "enas.epochs", "enas.learning_rate", "enas.derive_samples",
             *(f"enas.controller.{k}" for k in ("batch", "learning_rate", "units", "num_layers",
                                                "steps", "temperature", "tanh_constant",
                                                "skip_weight", "skip_target")))
    _one_of(config, "enas.step", ("auto", "traced", "composed"), "auto")
    _one_of(config, "enas.reward_statistics", ("auto", "batch", "moving"), "auto")
  for block in ("darts", "enas"):  # cosine schedules from learning_rate down to the minimum
    low = value_at(config, f"{block}.learning_rate_min")
    high = value_at(config, f"{block}.learning_rate")
    if low is not None and high is not None and low > high:
      raise ConfigError(f"{block}.learning_rate_min ({low:g}) must be at most "
                        f"{block}.learning_rate ({high:g})")
  parse_duration(config.search.get("time_budget", ""))
  if not str(config.data.source):
    raise ConfigError("data.source must be set ('synthetic' or a path)")


# -- blocks every task's config file shares ---------------------------------------------------------

# ENAS's three controllers share these (melodyguan/enas): Adam with beta1 0 and epsilon 1e-3
# (src/utils.py line 218), an LSTM and softmax without biases (common_ops.py lstm; the
# controllers' w_soft), one layer, weights uniform in +-0.1.
ENAS_CONTROLLER = dict(num_layers=1, init_range=0.1, adam_beta1=0.0, adam_epsilon=1e-3,
                       biases=False, entropy_in_reward=True, baseline_per_architecture=True)


def controller_block(**overrides) -> ml_collections.ConfigDict:
  """``controller.*``: NAS-RL's controller (Zoph & Le 2017: 2x35 LSTM, uniform +-0.08,
  Adam 6e-4, baseline decay 0.95)."""
  c = ml_collections.ConfigDict()
  c.units = 35
  c.num_layers = 2
  c.init_range = 0.08
  c.learning_rate = 6e-4
  c.baseline_decay = 0.95
  c.entropy_weight = 0.0
  c.clip_norm = 0.0       # 0 = no clipping
  c.compile = "auto"      # "graph" (traced per depth), "eager", or "auto" (decide)
  # ENAS's options (Pham et al. 2018), off (0/False) for NAS-RL: logits shaped to
  # tanh_constant * tanh(logits / temperature), links sampled from ENAS's two logits, the
  # entropy bonus on the reward, a KL penalty (skip_weight) of the link rate from skip_target,
  # a baseline that starts at 0 and moves after every architecture, its reward included.
  # Adam's beta_1 and epsilon (Keras' defaults; ENAS's controllers: 0.0 and 1e-3), biases in
  # the LSTM and heads (ENAS's have none), the sampled value's -p log p as the entropy term
  # (ENAS macro and recurrent), ENAS micro's op priors (a cell space's: spaces/cell.py).
  c.update(dict(temperature=0.0, tanh_constant=0.0, op_tanh_reduce=1.0, enas_links=False,
                entropy_in_reward=False, skip_target=0.0, skip_weight=0.0,
                baseline_per_architecture=False, adam_beta1=0.9, adam_epsilon=1e-7,
                biases=True, sampled_entropy=False, op_priors=False))
  c.update(overrides)
  return c


def evolution_block(population: int, sample_size: int) -> ml_collections.ConfigDict:
  """``evolution.*``: population P, tournament sample size S; warm_start: AREA's proxy."""
  return ml_collections.ConfigDict({"population": population, "sample_size": sample_size,
                                    "warm_start": ""})


def zero_cost_block() -> ml_collections.ConfigDict:
  """``zero_cost.*``: training-free search and ``nas-tf score`` (docs/zero_cost.md)."""
  return ml_collections.ConfigDict({"proxy": "naswot", "samples": 100, "train_top": 1, "images": "",
                                    "init": "pytorch", "batch_size": 64, "naswot_batch_size": 128})


def guided_block(**overrides) -> ml_collections.ConfigDict:
  """``guided.*``: predictor-guided evolution (``strategies/guided_evolution.py``): random
  children before the predictor's first fit, children between fits, mutations it ranks per
  fit, the best children they mutate, and the predictor (PNAS's surrogate: its kinds,
  ensemble size, epochs per fit, width)."""
  return ml_collections.ConfigDict({
      "initial": 10, "refit_every": 10, "candidates": 100, "parents": 10,
      "predictors": ["mlp"], "ensemble": 5, "epochs": 40, "units": 32, **overrides})


def objective_block(**overrides) -> ml_collections.ConfigDict:
  """``search.objective.*`` (``nas_tf/tasks/objective.py``): ``kind`` metric, constraint (a
  hard budget: children whose ``cost`` is over ``target`` are never trained) or soft
  (MnasNet: metric x (cost/target)^weight); ``cost`` params, flops or latency_ms; timed calls
  per child for latency_ms."""
  return ml_collections.ConfigDict({"kind": "metric", "cost": "params", "target": 0.0,
                                    "weight": -0.07, "latency_calls": 30, **overrides})


def executor_block(**overrides) -> ml_collections.ConfigDict:
  """``executor.*``: where children train (``nas_tf.tasks.executors``)."""
  e = ml_collections.ConfigDict()
  e.kind = "local"          # local, processes (workers on this machine) or ray
  # Train children in a worker process replaced every N children (0 = in this process for
  # local): TensorFlow keeps each child's traced graphs alive, so long searches need fresh
  # processes.
  e.recycle_every = 50
  e.workers = 0             # processes: workers (0 = one per GPU x children_per_gpu, or 1);
                            # ray: CPUs of the local cluster started here (0 = all)
  e.children_per_gpu = 1
  e.threads_per_worker = 0  # processes on CPU: threads each (0 = cores / workers)
  e.address = ""            # ray: an existing cluster ("auto" or host:port); "" = start one
  e.cpus_per_child = 1.0
  e.gpus_per_child = 0.0    # ray: fractional allowed (0.5 = two children per GPU)
  e.max_retries = 2         # ray: retries of a child whose worker died
  e.update(overrides)
  return e


def child_settings(config: ml_collections.ConfigDict,
                   final: bool = False) -> ml_collections.ConfigDict:
  """A child's training settings: ``child.*``, updated with ``final.*`` for the final
  training of a found architecture (more epochs, a wider network, ...)."""
  c = config.child.to_dict()
  if final:
    c.update(config.get("final", {}).to_dict() if "final" in config else {})
  return ml_collections.ConfigDict(c)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text) -> float | None:
  """``"90s"``, ``"45m"``, ``"1.5h"``, ``"2d"`` or plain seconds -> seconds; "" or 0 -> None."""
  text = str(text).strip().lower()
  if not text or text in ("0", "none"):
    return None
  number, unit = (text[:-1], text[-1]) if text[-1] in _UNITS else (text, "s")
  try:
    seconds = float(number) * _UNITS[unit]
  except ValueError:
    seconds = float("nan")
  if not seconds > 0 or seconds == float("inf"):
    raise ConfigError(f"search.time_budget must be a duration like 90s, 45m, 8h or 2d, "
                      f"got {text!r}")
  return seconds
