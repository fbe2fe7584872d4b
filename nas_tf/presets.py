"""The bundled configs (the repository's ``configs/``, installed as the package
``nas_tf.configs``): which file and preset a command means, from any folder, and how long
each should take.

    --config=smoke            a preset of the command's task (and --method)
    --config=darts:smoke      a bundled config file by name, and its preset
    --config=FILE[:PRESET]    a config file of your own
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os

import ml_collections

from nas_tf import config as config_lib, registry
from nas_tf.runtime import hardware


def config_dir() -> str:
  """The folder of the bundled configs: the installed ``nas_tf.configs`` package (a wheel, or
  the editable install's mapping to ``configs/``), else ``configs/`` beside the package."""
  try:
    spec = importlib.util.find_spec("nas_tf.configs")
  except (ImportError, ValueError):
    spec = None
  if spec is not None and spec.submodule_search_locations:
    return list(spec.submodule_search_locations)[0]
  return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


@functools.cache  # one listing and one module load per process: resolve() asks often
def bundled_names() -> list[str]:
  return sorted(name[:-3] for name in os.listdir(config_dir())
                if name.endswith(".py") and not name.startswith("_"))


def _load(path: str, name: str):
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@functools.cache
def config_module(name: str):
  """The module of the bundled ``configs/<name>.py`` (config files build on one another)."""
  return _load(os.path.join(config_dir(), f"{name}.py"), f"nas_tf_config_{name}")


def presets(name: str) -> dict[str, str]:
  """A bundled config's PRESETS (name -> description); {} when it has none."""
  if name not in bundled_names():
    return {}
  return getattr(config_module(name), "PRESETS", {})


suggest = config_lib.suggest


# -- the command's config ----------------------------------------------------------------------

def method_config_name(task: str, method: str | None) -> str:
  """The bundled config of ``task`` searched by ``method``: the method's own file where it has
  one for the task (its authors' settings), else the task's."""
  if method is None:
    return task
  if method not in registry.METHODS:
    known = list(registry.METHODS)
    raise config_lib.ConfigError(f"--method: unknown method {method!r} (known: "
                                 f"{', '.join(known)}){suggest(method, known)}")
  return (registry.METHODS[method].configs or {}).get(task, task)


def apply_method(config: ml_collections.ConfigDict, method: str) -> None:
  """Sets ``method``'s strategy and space on ``config``; one line when the task has no such
  space."""
  entry, tasks = registry.METHODS[method], registry.method_tasks(method)
  if config.task in registry.TASKS and config.task not in tasks:
    raise config_lib.ConfigError(f"--method={method}: not offered for the {config.task} task "
                                 f"(it searches {', '.join(tasks)})")
  if "kind" in config.get("space", {}) and entry.kind:
    config.space.kind = entry.kind
  config.search.strategy = entry.strategy


def _call(module, preset: str | None, where: str):
  known = getattr(module, "PRESETS", None)
  if preset is not None and known is not None and preset not in known:
    raise config_lib.ConfigError(f"--config: {where} has no preset {preset!r} (presets: "
                                 f"{', '.join(known)}){suggest(preset, known)}")
  if not hasattr(module, "get_config"):
    raise config_lib.ConfigError(f"--config: {where} defines no get_config()")
  return module.get_config(preset) if preset is not None else module.get_config()


def bundled(task: str, name: str, preset: str | None, method: str | None = None):
  """``configs/<name>.py`` at ``preset`` for ``task``: a cifar10 (ptb) file's config becomes an
  images (text) config through that task file's ``adapt``; ``method`` sets its strategy."""
  config = _call(config_module(name), preset, f"configs/{name}.py")
  if config.get("task") != task and task in bundled_names() and \
      hasattr(module := config_module(task), "adapt"):
    config = module.adapt(config)
  if method is not None:
    apply_method(config, method)
  if "about" in config:
    config.about.expected = expected(task, method or _method_of(config), config.about.preset)
  return config


def _method_of(config) -> str:
  strategy, kind = config.search.strategy, registry.space_kind(config)
  for name, entry in registry.METHODS.items():
    if entry.strategy == strategy and (kind in (None, entry.kind) or entry.kind is None):
      return name
  return strategy


def resolve(task: str | None, spec: str | None, method: str | None = None,
            name: str | None = None):
  """The config that ``--config=SPEC`` (and ``--method``) mean for ``task``: a preset of the
  bundled ``name`` (default: the task's, or the method's for the task); ConfigError with one
  line when nothing matches."""
  name = name or (method_config_name(task, method) if task else None)
  if spec is None:
    return bundled(task, name, "auto", method) if name in bundled_names() else None
  left, colon, preset = spec.partition(":")
  path = os.path.expanduser(left)
  if os.path.isfile(path) and \
      os.path.dirname(os.path.realpath(path)) == os.path.realpath(config_dir()):
    left = os.path.basename(path)[:-3]  # configs/darts.py: the bundled darts
  elif os.path.isfile(path) or left.endswith(".py") or os.sep in left:
    if not os.path.isfile(path):
      raise config_lib.ConfigError(f"--config: {left}: no such file")
    config = _call(_load(path, "nas_tf_user_config"), preset if colon else None, left)
    if method is not None:
      apply_method(config, method)
    return config
  if left in bundled_names() and (colon or name is None or left not in presets(name)):
    return bundled(task or left, left, preset if colon else "auto", method)
  if name is None:
    raise config_lib.ConfigError(f"--config={spec}: neither a file nor a bundled config "
                                 f"({', '.join(bundled_names())}){suggest(left, bundled_names())}")
  if colon or left not in presets(name):
    choices = [*presets(name), *bundled_names()]
    raise config_lib.ConfigError(f"--config={spec}: neither a preset of configs/{name}.py "
                                 f"({', '.join(presets(name))}), a bundled config nor a file"
                                 f"{suggest(left, choices)}")
  return bundled(task, name, left, method)


# -- durations ---------------------------------------------------------------------------------

DURATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "durations.json")


def measured() -> dict[str, dict]:
  """``benchmarks/durations.py``'s table: "task/method/preset" -> {seconds, machine, ...}."""
  if not os.path.exists(DURATIONS):
    return {}
  with open(DURATIONS) as f:
    return json.load(f)["runs"]


def _minutes(seconds: float) -> str:
  return f"{seconds:.0f} s" if seconds < 100 else f"{seconds / 60:.0f} min" \
      if seconds < 5400 else f"{seconds / 3600:.1f} h"


def expected(task: str, method: str, preset: str) -> str:
  """The first line's duration: measured for (task, method, preset), the paper's figure for
  ``paper``, else "not measured"."""
  row = measured().get(f"{task}/{method}/{preset}")
  if row:
    return f"about {_minutes(row['seconds'])} on {row['machine']} (measured)"
  name = method_config_name(task, method) if method in registry.METHODS else task
  # A task file's figures are its default method's (NAS-RL's), a method file's its own.
  own = name != task or method == "nas_rl"
  figures = getattr(config_module(name), "EXPECTED", {}) if name in bundled_names() else {}
  if own and preset in figures:
    return figures[preset]
  return f"not measured for --method={method} on {task} at preset {preset}"


def method_config(base: str, preset: str, presets_: dict[str, str]):
  """(preset, config) of a method's config file (``configs/darts.py``, ...): its ``auto`` is
  ``paper`` where GPUs are visible, else ``cpu``; the config is ``configs/<base>.py``'s of
  that preset, with the method file's ``about`` (what was chosen and why)."""
  preset, _, about = hardware.choose_preset(
      preset, presets_, None if hardware.visible_gpus() else ("cpu", "no GPU visible"))
  config = config_module(base).get_config(preset)
  config.about = about
  return preset, config
