"""The papers' architectures (``spaces/published.py``): ``nas-tf zoo`` lists them, and
``nas-tf train TASK --arch=NAME`` trains one.

Training a published architecture writes the work directory a search would have written
(``config.json``, ``data.json`` and a ``children.jsonl`` of that one architecture), then trains
it as ``nas-tf train`` trains a found child: ``final/`` holds the result, and ``export`` and
``show`` follow. Under a method config's ``paper`` preset the final network and its training
are the paper's (``Published.network`` and ``.recipe`` over ``final.*``); under ``auto``,
``cpu`` and ``smoke`` the preset's machine-sized final training builds the same cells.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import ml_collections

from nas_tf.store import workdir as wd
from nas_tf.spaces.published import BY_NAME, PUBLISHED, Published, find

__all__ = ["PUBLISHED", "BY_NAME", "find", "configure", "train_published", "listing", "count_params"]


def preset_of(config) -> str | None:
  return config.about.preset if "about" in config else None


LANGUAGE_SPACES = ("enas_rnn", "rnn_cell")
PTB_VOCAB = 10_000  # Penn Treebank's, the papers' language-model counts


def configure(config: ml_collections.ConfigDict, entry: Published) -> ml_collections.ConfigDict:
  """``config`` for training ``entry``: its space, and under the ``paper`` preset the paper's
  final network and recipe."""
  config = ml_collections.ConfigDict(config.to_dict())
  if "kind" in config.get("space", {}):
    config.space.kind = entry.space
  if preset_of(config) == "paper":
    for key, value in {**entry.recipe, **entry.network}.items():
      config.final[key] = value
  elif entry.space == "enas_macro" and "enas" in config:
    # ENAS macro's channels are the architecture's (96): a machine-sized preset keeps its
    # layers and scales its width to the preset's own ENAS channels.
    config.final.width = config.enas.channels / entry.arch["channels"]
  return config


def task_spaces(task_name: str) -> tuple[str, ...]:
  """The spaces whose architectures ``task_name`` trains: its own, ``space.kind``'s and those
  its strategies search there (ENAS's recurrent cells on ptb)."""
  from nas_tf.registry import STRATEGIES, TASKS
  entry = TASKS[task_name]
  found = [entry.space, *entry.kinds]
  for strategy in STRATEGIES.values():
    found += [space for key, space in (strategy.spaces or {}).items()
              if key.split(":")[0] == task_name]
  return tuple(dict.fromkeys(found))


def training_task(task_name: str, name: str | None) -> str:
  """The task that trains ``train TASK --arch=NAME``: a table's task hands its own space's
  architectures to the task that trains them on images (nasbench201's cells: cifar10)."""
  from nas_tf.registry import TASKS
  entry = TASKS.get(task_name)
  if entry is None or entry.trained_by is None:
    return task_name
  try:
    published = find(name or "")
  except ValueError:
    return task_name
  return entry.trained_by if published.space == entry.space else task_name


def looked_up_message(command: str, task_name: str, arch: dict[str, Any]) -> str:
  """Why ``train``/``export`` of a table's child has nothing to do, and what trains it."""
  from nas_tf.registry import TASKS
  line = (f"'{command}': {task_name} children are looked up in a table of published results; "
          f"there is no model to {command}")
  if TASKS[task_name].trained_by and "arch_str" in arch:
    return (f"{line}; train this cell on images with: nas-tf train {task_name} "
            f"--arch='{arch['arch_str']}'")
  return f"{line} (see 'nas-tf show')"


def resolve(task_name: str, name: str, config, workdir: str | None):
  """(entry, its training config, work directory) of ``train TASK --arch=NAME``, ``config``
  already ``configure``d (``arguments.command_config``, before the flags' overrides); a
  ValueError with one line for a bad name, task or config."""
  from nas_tf.registry import TASKS
  entry = find(name)
  task_name = training_task(task_name, name)
  if task_name not in TASKS:
    raise ValueError(f"unknown task {task_name!r} (known: {', '.join(TASKS)})")
  kinds = task_spaces(task_name)
  if entry.space not in kinds:
    raise ValueError(f"{entry.name} is a {entry.space} architecture; task {task_name!r} "
                     f"trains {', '.join(kinds)} architectures")
  if not config:
    raise ValueError(f"no config for task {task_name!r}; pass --config=FILE[:PRESET]")
  if config.get("task", task_name) != task_name:
    raise ValueError(f"the config is for task {config.task!r}, not {task_name!r}")
  return entry, config, workdir or os.path.join("runs", f"{task_name}-{entry.name}")


def count_params(entry: Published, auxiliary: bool = False) -> int:
  """Trainable parameters of the paper's final network of ``entry`` (CIFAR-10's 32x32x3
  images and 10 classes, or Penn Treebank's 10,000 words), built without training; the
  auxiliary head's only with ``auxiliary``."""
  import numpy as np
  from nas_tf import registry
  models = registry.models_for(entry.space)
  if entry.space in LANGUAGE_SPACES:
    model = models.build_language_model(entry.architecture(), PTB_VOCAB, stateful=False,
                                        **entry.network)
  else:
    head = {"auxiliary_weight": 0.4} if auxiliary else {}  # cell networks only
    model = models.build_classifier(entry.architecture(), (32, 32, 3), 10, 0.0, **head,
                                    **entry.network)
  return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _network(entry: Published) -> str:
  n = entry.network
  if "units" in n:
    return f"H={n['units']} L={n['num_layers']}"
  if entry.space == "enas_macro":  # its layers and channels are the architecture's
    return f"L={len(entry.arch['layers'])} C={entry.arch['channels']}"
  return f"N={n['layers_per_stage']} C={n['channels']}"


def train_published(config: ml_collections.ConfigDict, workdir: str, task, entry: Published,
                    overwrite: bool = False, log: Callable[[str], None] = print,
                    after_epoch=None) -> dict[str, Any]:
  """Trains ``entry`` (``config`` from ``configure``) in ``workdir``; rerunning resumes."""
  from nas_tf.products.final import train_final
  with wd.WorkdirLock(workdir):
    wd.claim_search(workdir, config, task, overwrite, log=log)
    journal = os.path.join(workdir, "children.jsonl")
    if not os.path.exists(journal):
      arch = entry.architecture()
      wd.append_jsonl(journal, {"index": 0, "step": None, "id": arch["id"], "arch": arch,
                                "status": "ok", "published": entry.paper, task.metric: None,
                                "seconds": 0.0})
  log(f"{entry.name}: {entry.paper}, transcribed from {entry.source}; preset "
      f"{preset_of(config) or 'custom'}")
  return train_final(config, workdir, task, "1", log=log, after_epoch=after_epoch)


def listing() -> str:
  """``nas-tf zoo``: per architecture its name, paper, space, the parameters of the paper's
  final network as nas-tf builds it (pinned by tests/test_zoo.py) and the paper's count."""
  lines = [f"{'name':<12} {'paper':<38} {'space':<10} {'network':<11} {'nas-tf':>7} "
           f"{'paper':>6}  config"]
  notes = []
  for e in PUBLISHED:
    network = _network(e)
    mark = "" if e.rounds_to_paper() else " *"
    lines.append(f"{e.name:<12} {e.paper:<38} {e.space:<10} {network:<11} "
                 f"{e.params / 1e6:>6.2f}M {e.paper_params:>5.1f}M  {e.config}{mark}")
    if e.mismatch:
      notes.append(f"* {e.name}: {e.mismatch}")
  return "\n".join(lines + [
      "counts: trainable parameters of the paper's final network (CIFAR-10 networks without "
      "the auxiliary head; PTB: 10,000 words)",
      *notes,
      "train one: nas-tf train cifar10 --arch=NAME [--config=PRESET] (ptb for recurrent "
      "cells; presets of the config named above: paper, the paper's network and recipe; cpu, "
      "smoke, machine-sized)"])
