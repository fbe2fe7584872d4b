"""Searching from Python, as the command line does (``nas_tf.search``).

    import nas_tf
    result = nas_tf.search("images", data=(x_train, y_train),
                           validation_data=(x_val, y_val), method="pnas",
                           time_budget="30m", workdir="runs/mine")
    result.best               # the best child's row of children.jsonl
    model = result.model()    # a Keras model of the best architecture, search-time weights
    result.train(epochs=50)   # final training from scratch (nas-tf train)
    result.export("exported/")

Calling it again with the same work directory resumes the search. Arrays and
``tf.data.Dataset``s are written once to an .npz in the work directory (named by its
content), so worker processes and Ray workers on this machine read the same data without a
path from you.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Callable

import ml_collections
import numpy as np

from nas_tf import config as config_lib, presets, registry
from nas_tf.cli import arguments
from nas_tf.store import workdir as wd


def _arrays(data, what: str) -> tuple[np.ndarray, np.ndarray]:
  """(images, labels) from (x, y) arrays or a tf.data.Dataset of (image, label) pairs or
  {"image", "label"} dicts, batched or not."""
  if isinstance(data, (tuple, list)) and len(data) == 2:
    return np.asarray(data[0]), np.asarray(data[1])
  if hasattr(data, "as_numpy_iterator"):
    xs, ys = [], []
    for element in data.as_numpy_iterator():
      x, y = (element["image"], element["label"]) if isinstance(element, dict) else element
      xs.append(np.asarray(x))
      ys.append(np.asarray(y))
    if not xs:
      raise config_lib.ConfigError(f"{what}: the dataset is empty")
    batched = ys[0].ndim == 1
    return (np.concatenate(xs), np.concatenate(ys)) if batched else (np.stack(xs), np.stack(ys))
  raise config_lib.ConfigError(f"{what}: expected (x, y) arrays, a tf.data.Dataset or a "
                               f"source string, got {type(data).__name__}")


def data_source(data, validation_data, workdir: str) -> str:
  """``data`` as a ``data.source``: strings pass through; arrays and datasets go to
  ``workdir/data-HASH.npz`` (x_train, y_train and, given validation data, x_val, y_val)."""
  if isinstance(data, str):
    if validation_data is not None:
      raise config_lib.ConfigError("validation_data: give arrays or a dataset with arrays "
                                   "or a dataset as data (a source has its own split)")
    return data
  arrays = dict(zip(("x_train", "y_train"), _arrays(data, "data")))
  if validation_data is not None:
    arrays.update(zip(("x_val", "y_val"), _arrays(validation_data, "validation_data")))
  digest = hashlib.sha1()
  for key in sorted(arrays):
    digest.update(key.encode() + np.ascontiguousarray(arrays[key]).tobytes())
  path = os.path.join(os.path.abspath(workdir), f"data-{digest.hexdigest()[:12]}.npz")
  if not os.path.exists(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez(path + ".tmp.npz", **arrays)
    os.replace(path + ".tmp.npz", path)
  return path


class SearchResult:
  """A finished (or stopped) search: its work directory, config and task."""

  def __init__(self, workdir: str, config, task, outcome, log: Callable[[str], None]):
    self.workdir, self.config, self.task, self.outcome, self.log = \
        workdir, config, task, outcome, log

  @property
  def best(self) -> dict[str, Any] | None:
    path = os.path.join(self.workdir, "best.json")
    return wd.read_json(path) if os.path.exists(path) else None

  def _best(self) -> dict[str, Any]:
    if self.best is None:
      raise RuntimeError(f"the search in {self.workdir} has no finished child yet")
    return self.best

  def model(self):
    """A Keras model of the best architecture with its search-time weights."""
    best = self._best()
    weights = wd.child_weights_path(self.workdir, best["index"])
    if not os.path.exists(weights):
      raise RuntimeError(f"child {wd.child_number(best)} kept no search-time weights (one-shot "
                         "strategies keep none); call train() for a trained model")
    model = self.task.build_model(best["arch"])
    model.load_weights(weights)
    return model

  def train(self, epochs: int | None = None) -> dict[str, Any]:
    """Trains the best architecture from scratch with ``final.*`` (``epochs`` overrides
    ``final.epochs``); returns ``final/result.json``."""
    from nas_tf.products.final import train_final
    if epochs is not None:
      self.config.final.epochs = int(epochs)
    return train_final(self.config, self.workdir, self.task, str(wd.child_number(self._best())),
                       log=self.log)

  def export(self, out: str) -> dict[str, Any]:
    """SavedModels of the best child (its final weights once trained) into ``out``."""
    from nas_tf.products.export import export
    return export(self.workdir, out, self.task, str(wd.child_number(self._best())))


def _settings(method, space, strategy, time_budget, overrides) -> dict[str, Any]:
  """The config keys ``search``'s arguments set; ConfigError when two of them (or the
  method) set one key to different values."""
  if overrides is not None and not isinstance(overrides, dict):
    raise config_lib.ConfigError(f"overrides: expected a dict of dotted keys, got "
                                 f"{type(overrides).__name__}")
  # (who says it, key, value); the method's own keys are set by presets.resolve.
  said = [(f"space={space!r}", "space.kind", space),
          (f"strategy={strategy!r}", "search.strategy", strategy),
          (f"time_budget={time_budget!r}", "search.time_budget", time_budget),
          *((f"overrides[{k!r}]={v!r}", k, v) for k, v in (overrides or {}).items())]
  if method in registry.METHODS:  # (an unknown method: presets.resolve says so)
    entry = registry.METHODS[method]
    said += [(f"method={method!r} (strategy {entry.strategy!r})", "search.strategy",
              entry.strategy),
             # A build function is its own space, whatever the method's usual one.
             (f"method={method!r} (space {entry.kind!r})", "space.kind",
              None if space == "user" else entry.kind)]
  first: dict[str, tuple[str, Any]] = {}
  for who, key, value in said:
    if value is None:
      continue
    if key in first and first[key][1] != value:
      raise config_lib.ConfigError(f"{first[key][0]} and {who} disagree on {key}: give one")
    first.setdefault(key, (who, value))
  return {key: value for key, (who, value) in first.items() if not who.startswith("method=")}


def search(task="images", data=None, validation_data=None, *, method: str | None = None,
           space: str | None = None, strategy: str | None = None,
           time_budget: str | None = None,
           workdir: str = "runs/python", preset: str = "auto",
           config: ml_collections.ConfigDict | None = None,
           overrides: dict[str, Any] | None = None,
           log: Callable[[str], None] = print, verbose: bool = False) -> SearchResult:
  """Runs (or resumes) a search; ``task`` is a task name, a ``KerasTask`` subclass
  (``nas_tf.tasks.custom``) or your ``build_model(hp)`` (the images task searching your
  space, ``nas_tf.spaces.user``), ``data`` arrays, a dataset or a source (see the module doc),
  ``method`` one of ``nas-tf --help``'s methods with its bundled settings at ``preset``,
  ``overrides`` dotted config keys (``{"child.epochs": 2}``), checked as ``--config.KEY``
  is; ``verbose`` keeps TensorFlow's start-up lines and Python warnings (the
  ``nas_tf.search`` facade drops them, as the CLI does)."""
  if callable(task) and not isinstance(task, type):  # your build_model(hp): your space
    from nas_tf.spaces.user import build_target
    if space not in (None, "user"):
      raise config_lib.ConfigError(f"space={space!r}: a build function is its own space")
    overrides = {**(overrides or {}), "space.build": build_target(task)}
    task, space = "images", "user"
  custom = isinstance(task, type)
  name = f"{task.__module__}:{task.__qualname__}" if custom else str(task)
  if not custom and name not in registry.TASKS:
    raise config_lib.ConfigError(f"unknown task {name!r} (known: {', '.join(registry.TASKS)})"
                                 f"{config_lib.suggest(name, registry.TASKS)}")
  settings = _settings(method, space, strategy, time_budget, overrides)
  if not verbose:
    from nas_tf.runtime import quiet
    quiet.quiet_python_loggers()
  if config is not None and (method is not None or preset != "auto"):
    raise config_lib.ConfigError("config= is a whole config: give it, or method= and "
                                 "preset=, not both")
  config = config or presets.resolve("images" if custom else name, preset, method)
  config.task = name
  if custom:
    config.space.kind = space or task.space_kind
    config.data.source = data if isinstance(data, str) else f"custom:{task.__qualname__}"
  elif data is not None:
    config.data.source = data_source(data, validation_data, workdir)
  arguments.apply_overrides(config, settings)
  config_lib.validate(config)
  runner = registry.task_class(name)(config)
  runner.prepare()
  os.makedirs(workdir, exist_ok=True)
  with wd.WorkdirLock(workdir):
    wd.claim_search(workdir, config, runner, log=log)
    from nas_tf.runner.run import make_search
    outcome = make_search(config, workdir, runner, log=log).run()
  return SearchResult(workdir, config, runner, outcome, log)
