"""The command line before absl parses it: the positional words, and the config that
``--config``, ``--method`` and ``--arch`` mean (``nas_tf.presets``), resolved from any folder
so that ``--config.KEY=VALUE`` overrides apply to it."""

from __future__ import annotations

import os
import re
from typing import Any

import ml_collections

from nas_tf import config as config_lib, presets, registry

# Flags that take a value: "--name VALUE" as well as "--name=VALUE".
VALUE_FLAGS = ("workdir", "child", "arch", "out", "method", "config", "space")
SEARCH_COMMANDS = ("search", "train")
AFTER_SEARCH = ("train", "export", "show")


def positional(argv: list[str]) -> list[str]:
  """The words that are not flags nor a flag's value."""
  found, skip = [], False
  for arg in argv[1:]:
    if skip:
      skip = False
    elif arg.startswith("-"):
      skip = arg.lstrip("-") in VALUE_FLAGS
    else:
      found.append(arg)
  return found


def flag_value(argv: list[str], name: str) -> str | None:
  """The last ``--name=VALUE`` (or ``--name VALUE``) of ``argv``."""
  value = None
  for i, arg in enumerate(argv[1:], 1):
    if arg.startswith(f"--{name}="):
      value = arg.split("=", 1)[1]
    elif arg == f"--{name}" and i + 1 < len(argv):
      value = argv[i + 1]
  return value


def without_flag(argv: list[str], name: str) -> list[str]:
  out, skip = [], False
  for arg in argv:
    if skip:
      skip = False
    elif arg == f"--{name}":
      skip = True
    elif not arg.startswith(f"--{name}="):
      out.append(arg)
  return out


def _published_config(task: str, arch: str | None) -> str | None:
  """``train TASK --arch=NAME``: the bundled config of the architecture's method, where the
  architecture fits the task (otherwise ``zoo.resolve`` says why not)."""
  from nas_tf.spaces.published import find
  from nas_tf.products.zoo import task_spaces
  try:
    entry = find(arch or "")
  except ValueError:
    return None
  return entry.config if entry.space in task_spaces(task) else None


def _stored(workdir: str | None):
  """The config a search in ``workdir`` ran with, or None."""
  from nas_tf.store import workdir as wd
  path = os.path.join(workdir or "", "config.json")
  return ml_collections.ConfigDict(wd.read_json(path)) if workdir and os.path.exists(path) \
      else None


def command_config(argv: list[str]):
  """(argv without ``--config=SPEC``, the config it means or None); ConfigError with one line
  for a spec that matches nothing."""
  words, spec = positional(argv), flag_value(argv, "config")
  command, task = (words + [None, None])[:2]
  method, arch = flag_value(argv, "method"), flag_value(argv, "arch")
  rest = without_flag(argv, "config")
  if command == "train" and arch and task in registry.TASKS:
    from nas_tf.products import zoo
    task = zoo.training_task(task, arch)
    name = _published_config(task, arch)
    config = presets.resolve(task, spec, name=name)
    if config is not None and name:  # its final.* first, so flags override them
      config = zoo.configure(config, zoo.find(arch))
    return rest, config
  if command in ("search", "score"):
    if task is not None and task not in registry.TASKS:  # before --config, which needs it
      raise config_lib.ConfigError(f"unknown task {task!r} (known: {', '.join(registry.TASKS)})"
                                   f"{config_lib.suggest(task, registry.TASKS)}")
    config, build = presets.resolve(task, spec, method), flag_value(argv, "space")
    if build is not None:  # --space=module:function: your build_model(hp) is the space
      if config is None or "build" not in config.get("space", {}):
        raise config_lib.ConfigError(f"--space: task {task!r} builds no model of yours "
                                     "(cifar10 and images do)")
      config.space.kind, config.space.build = "user", build
    return without_flag(rest, "space"), config
  if command in AFTER_SEARCH:
    stored = _stored(flag_value(argv, "workdir"))
    if spec is None:
      return rest, stored
    return rest, presets.resolve(stored.task if stored else None, spec)
  return rest, presets.resolve(None, spec) if spec else None


def unknown_override(argv: list[str], config) -> str | None:
  """One line for the first ``--config.KEY=VALUE`` whose KEY the config lacks (with its full
  dotted path and the nearest key), else None."""
  for arg in argv:
    match = re.match(r"--?(?:no)?config\.([^=]+)", arg)
    if match and not config_lib.has_key(config, match.group(1)):
      key = match.group(1)
      return f"--config.{key}: unknown key{config_lib.suggest(key, dotted_keys(config))}"
  return None


def dotted_keys(node, prefix: str = ""):
  """Every key of a nested config, dotted (``child.epochs``), parents before children."""
  for key in node.keys():
    value = node[key]
    yield f"{prefix}{key}"
    if hasattr(value, "keys"):
      yield from dotted_keys(value, f"{prefix}{key}.")


def apply_overrides(config: ml_collections.ConfigDict, overrides: dict[str, Any],
                    where: str = "overrides") -> None:
  """Sets dotted keys as ``--config.KEY=VALUE`` does: an unknown key (with the nearest one)
  or a value of another type than the key's is one ConfigError."""
  for key, value in overrides.items():
    if not config_lib.has_key(config, key):
      raise config_lib.ConfigError(f"{where}: unknown key {key!r}"
                                   f"{config_lib.suggest(key, dotted_keys(config))}")
    node, *path, leaf = [config, *key.split(".")]
    for part in path:
      node = node[part]
    try:
      node[leaf] = value
    except (TypeError, ValueError, KeyError):
      wanted = type(node[leaf]).__name__
      raise config_lib.ConfigError(f"{where}: {key}={value!r}: expected {wanted}, like "
                                   f"{node[leaf]!r}") from None
