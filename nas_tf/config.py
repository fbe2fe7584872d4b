"""Config checks shared by every task: fail fast, with one message, before any training."""

from __future__ import annotations

import json
from typing import Any

import ml_collections

STRATEGIES = ("nas_rl",)
EXECUTORS = ("local",)


class ConfigError(ValueError):
  """A config value is missing, unknown or out of range."""


def to_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """A JSON round-trip of the config (tuples become lists), as stored in the work directory."""
  return json.loads(config.to_json())


def _positive(config, *keys):
  for key in keys:
    value = config
    for part in key.split("."):
      value = value[part]
    if not value > 0:
      raise ConfigError(f"{key} must be > 0, got {value}")


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first bad key."""
  if config.search.strategy not in STRATEGIES:
    raise ConfigError(f"search.strategy: unknown strategy {config.search.strategy!r} "
                      f"(known: {', '.join(STRATEGIES)})")
  if config.executor.kind not in EXECUTORS:
    raise ConfigError(f"executor.kind: unknown executor {config.executor.kind!r} "
                      f"(known: {', '.join(EXECUTORS)})")
  _positive(config, "search.num_children", "search.batch_size", "search.start_depth",
            "search.depth_every", "search.max_consecutive_failures", "child.epochs",
            "child.batch_size", "child.eval_batch_size", "child.learning_rate",
            "controller.units", "controller.num_layers", "controller.learning_rate",
            "reward.window")
  if config.controller.compile not in ("auto", "graph", "eager"):
    raise ConfigError("controller.compile must be auto, graph or eager, got "
                      f"{config.controller.compile!r}")
  if config.search.depth_step < 0:
    raise ConfigError(f"search.depth_step must be >= 0, got {config.search.depth_step}")
  if not 0.0 < config.data.val_fraction < 1.0:
    raise ConfigError(f"data.val_fraction must be in (0, 1), got {config.data.val_fraction}")
  if not 0.0 <= config.controller.baseline_decay < 1.0:
    raise ConfigError("controller.baseline_decay must be in [0, 1), got "
                      f"{config.controller.baseline_decay}")
  for key in ("max_train_examples", "max_val_examples"):
    if config.data[key] < 0:
      raise ConfigError(f"data.{key} must be >= 0 (0 = all), got {config.data[key]}")
  if "space" in config:
    for key in ("filter_heights", "filter_widths", "num_filters", "strides"):
      values = list(config.space[key])
      if not values:
        raise ConfigError(f"space.{key} must not be empty")
      if any(v <= 0 for v in values):
        raise ConfigError(f"space.{key} must hold positive sizes, got {values}")
  if not str(config.data.source):
    raise ConfigError("data.source must be set ('tfds', 'synthetic' or a path)")


def diff_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
  """Dotted keys whose values differ between two nested dicts."""
  keys = []
  for key in sorted(set(old) | set(new)):
    a, b = old.get(key), new.get(key)
    if isinstance(a, dict) and isinstance(b, dict):
      keys += diff_keys(a, b, f"{prefix}{key}.")
    elif a != b:
      keys.append(f"{prefix}{key}")
  return keys
