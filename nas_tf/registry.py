"""Names -> implementations, for every pluggable part: search spaces (with their Keras model
builders), search strategies, tasks and executors.

Entries are ``"module:attribute"`` strings imported only when used, so reading the registry
(validating a config, listing tasks for ``--help``) imports no TensorFlow. Adding a method is
one new module plus one line here.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from typing import Any


@dataclasses.dataclass(frozen=True)
class SpaceEntry:
  space: str   # the search-space class (pure Python)
  models: str | None  # the module of its Keras builders (None: a table's space, never built)
  # The module of its shared-weights supernet (ENAS): make_supernet, child_params.
  supernet: str | None = None


@dataclasses.dataclass(frozen=True)
class StrategyEntry:
  target: str
  family: str  # "proposer": driven by the shared loop; "one_shot": runs its own loop
  label: str   # for messages
  # task -> the space it searches there; None: the task's own space.
  spaces: dict[str, str] | None = None
  # space -> its own implementation where the space needs one (DARTS over your own space).
  by_space: dict[str, str] | None = None


@dataclasses.dataclass(frozen=True)
class TaskEntry:
  target: str
  space: str  # the space its proposer strategies search by default
  finds: str  # what its searches find, for messages
  kinds: tuple[str, ...] = ()  # the spaces ``space.kind`` may pick (the default included)
  auto_exponent: bool = False  # reward.exponent = 0 means "chosen for the data" (lookups)
  # A table's task: the task that trains its architectures on images (nas-tf train --arch).
  trained_by: str | None = None


SPACES = {
    "cnn": SpaceEntry("nas_tf.spaces.cnn_macro:CNNSearchSpace", "nas_tf.models.cnn_macro"),
    "rnn_cell": SpaceEntry("nas_tf.spaces.rnn_cell:RNNCellSearchSpace",
                           "nas_tf.models.rnn_cell"),
    "enas_macro": SpaceEntry("nas_tf.spaces.enas_macro:EnasMacroSpace",
                             "nas_tf.models.enas_macro", "nas_tf.models.enas_macro"),
    "enas_rnn": SpaceEntry("nas_tf.spaces.enas_rnn:EnasRnnSpace", "nas_tf.models.enas_rnn",
                           "nas_tf.models.enas_rnn"),
    "cell": SpaceEntry("nas_tf.spaces.cell:CellSpace", "nas_tf.models.cell",
                       "nas_tf.models.enas_micro"),
    # Looked up in its table; trained on images (space.kind=nasbench201, nas-tf train).
    "nasbench201": SpaceEntry("nas_tf.spaces.tabular:NasBench201Space",
                              "nas_tf.models.nasbench201"),
    "nasbench_macro": SpaceEntry("nas_tf.spaces.tabular:NasBenchMacroSpace", None),
    "user": SpaceEntry("nas_tf.spaces.user:UserSpace", "nas_tf.models.user",  # your Keras
                       "nas_tf.models.switched"),
}

STRATEGIES = {
    "nas_rl": StrategyEntry("nas_tf.strategies.nas_rl:NasRl", "proposer", "NAS-RL"),
    "random": StrategyEntry("nas_tf.strategies.random_search:RandomSearch", "proposer",
                            "random search"),
    "evolution": StrategyEntry("nas_tf.strategies.evolution:RegularizedEvolution", "proposer",
                               "regularized evolution"),
    "local": StrategyEntry("nas_tf.strategies.local_search:LocalSearch", "proposer",
                           "local search"),
    "guided": StrategyEntry("nas_tf.strategies.guided_evolution:GuidedEvolution", "proposer",
                            "predictor-guided evolution"),
    "zero_cost": StrategyEntry("nas_tf.strategies.zero_cost:ZeroCost", "proposer",
                               "training-free search"),
    "pnas": StrategyEntry("nas_tf.strategies.pnas:Pnas", "proposer", "PNAS",
                          spaces={"cifar10:cell": "cell", "images:cell": "cell"}),
    "darts": StrategyEntry("nas_tf.strategies.darts:Darts", "one_shot", "DARTS",
                           spaces={"cifar10:cell": "cell", "images:cell": "cell",
                                   "cifar10:user": "user", "images:user": "user"},
                           by_space={"user": "nas_tf.strategies.darts_user:UserDarts"}),
    "enas": StrategyEntry("nas_tf.strategies.enas:Enas", "one_shot", "ENAS",
                          spaces={"cifar10": "enas_macro", "cifar10:enas_macro": "enas_macro",
                                  "cifar10:cell": "cell", "images": "enas_macro",
                                  "images:enas_macro": "enas_macro", "images:cell": "cell",
                                  "cifar10:user": "user", "images:user": "user",
                                  "ptb": "enas_rnn", "text": "enas_rnn"},
                          by_space={"user": "nas_tf.strategies.enas_user:UserEnas"}),
}

TASKS = {
    "cifar10": TaskEntry("nas_tf.tasks.cifar10:Cifar10Task", space="cnn", finds="CNNs",
                         kinds=("cnn", "cell", "enas_macro", "nasbench201", "user")),
    "images": TaskEntry("nas_tf.tasks.images:ImagesTask", space="cnn",
                        finds="CNNs for your images",
                        kinds=("cnn", "cell", "enas_macro", "nasbench201", "user")),
    "ptb": TaskEntry("nas_tf.tasks.ptb:PtbTask", space="rnn_cell", finds="recurrent cells"),
    "text": TaskEntry("nas_tf.tasks.ptb:TextTask", space="rnn_cell",
                      finds="recurrent cells for your text"),
    "nasbench201": TaskEntry("nas_tf.tasks.lookup:NasBench201Task", space="nasbench201",
                             finds="NAS-Bench-201 cells (table lookups)", auto_exponent=True,
                             trained_by="cifar10"),
    "nasbench_macro": TaskEntry("nas_tf.tasks.lookup:NasBenchMacroTask", space="nasbench_macro",
                                finds="NAS-Bench-Macro networks (table lookups)",
                                auto_exponent=True),
}

@dataclasses.dataclass(frozen=True)
class MethodEntry:
  """``nas-tf search TASK --method=NAME``: a strategy, the space it searches and the bundled
  config that holds its authors' settings."""
  strategy: str
  about: str   # for --help
  kind: str | None = None  # space.kind on tasks that offer several spaces (the image tasks)
  configs: dict[str, str] | None = None  # task -> bundled config file (None: the task's own)
  only: tuple[str, ...] | None = None  # the tasks it is for (None: wherever its strategy is)


METHODS = {
    "nas_rl": MethodEntry("nas_rl", "NAS-RL (Zoph & Le 2017): an LSTM controller trained by "
                          "REINFORCE proposes each child"),
    "random": MethodEntry("random", "random search: the baseline every method must beat"),
    "evolution": MethodEntry("evolution", "regularized evolution (Real et al. 2019): the "
                             "second baseline"),
    "local": MethodEntry("local", "local search (White et al. 2020): hill climbing over "
                         "one-token neighbours, random restarts"),
    "guided": MethodEntry("guided", "predictor-guided evolution (after BANANAS, White et al. "
                          "2021): PNAS's surrogate ranks mutations of the best"),
    "enas": MethodEntry("enas", "ENAS (Pham et al. 2018): shared weights; macro CNNs, or "
                        "recurrent cells on text", kind="enas_macro",
                        configs={"cifar10": "enas_macro", "ptb": "enas_ptb",
                                 "text": "enas_ptb"}),
    "enas_micro": MethodEntry("enas", "ENAS's micro search: normal and reduction cells with "
                              "shared weights", kind="cell", only=("cifar10", "images"),
                              configs={"cifar10": "enas_micro", "images": "enas_micro"}),
    "pnas": MethodEntry("pnas", "PNAS (Liu et al. 2018): cells grown block by block, ranked "
                        "by a learned surrogate", kind="cell"),
    "zero_cost": MethodEntry("zero_cost", "training-free (NASWOT, Mellor et al. 2021; zero-cost "
                             "proxies, Abdelfattah et al. 2021): N cells scored untrained, "
                             "the best k trained", kind="cell",
                             only=("cifar10", "images", "nasbench201")),
    "darts": MethodEntry("darts", "DARTS (Liu et al. 2019): a supernet of mixed ops, alpha "
                         "and weights by gradient descent", kind="cell",
                         configs={"cifar10": "darts", "images": "darts"}),
}

EXECUTORS = {
    "local": "nas_tf.tasks.executors:make_local",
    "processes": "nas_tf.tasks.executors:make_processes",
    "ray": "nas_tf.tasks.ray_executor:make_ray",
}


def load(target: str) -> Any:
  """Imports ``"module:attribute"`` and returns the attribute."""
  module, _, attribute = target.partition(":")
  loaded = importlib.import_module(module)
  return getattr(loaded, attribute) if attribute else loaded


def _lookup(table: dict[str, Any], name: str, what: str):
  if name not in table:
    raise KeyError(f"unknown {what} {name!r} (known: {', '.join(table)})")
  return table[name]


def space_name(strategy: str, task: str, kind: str | None = None) -> str | None:
  """The space ``strategy`` searches for ``task`` (of ``space.kind`` when the task offers
  several); None when it has none there."""
  entry, task_entry = _lookup(STRATEGIES, strategy, "strategy"), _lookup(TASKS, task, "task")
  if kind and kind != task_entry.space:
    if kind not in task_entry.kinds:
      return None
    return kind if entry.spaces is None else entry.spaces.get(f"{task}:{kind}")
  if entry.spaces is None:
    return task_entry.space
  return entry.spaces.get(task)


def no_space_message(strategy: str, task: str, kind: str | None = None) -> str:
  """One line: where ``strategy`` searches, for a task (or ``space.kind``) it does not."""
  entry, task_entry = STRATEGIES[strategy], TASKS[task]
  if kind and kind != task_entry.space and kind not in task_entry.kinds:
    known = [task_entry.space, *task_entry.kinds]
    close = difflib.get_close_matches(kind, known, n=1)
    return (f"space.kind must be one of {', '.join(dict.fromkeys(known))} for the {task} "
            f"task, got {kind!r}" + (f"; did you mean {close[0]!r}?" if close else ""))
  tasks = list(dict.fromkeys(t.split(":")[0] for t in entry.spaces or {}))
  kinds = list(dict.fromkeys(t.split(":")[1] for t in entry.spaces or {} if ":" in t))
  methods = [name for name, m in METHODS.items() if m.strategy == strategy]
  where = f"{task}'s {kind} space" if kind and kind in task_entry.kinds else task
  hint = f" with space.kind={' or '.join(kinds)}" if kinds else ""
  return (f"search.strategy={strategy}: {entry.label} does not search {where}; it searches "
          f"{', '.join(tasks)}{hint} (--method={methods[0]} sets both)")


def method_tasks(method: str) -> list[str]:
  """The tasks ``--method`` searches: those with a space for its strategy (of its kind)."""
  entry = _lookup(METHODS, method, "method")
  return [task for task, t in TASKS.items() if task in (entry.only or TASKS) and space_name(
      entry.strategy, task, entry.kind if entry.kind in t.kinds else None) is not None]


def space_kind(config) -> str | None:
  return config.get("space", {}).get("kind") if "space" in config else None


def space_class(name: str):
  return load(_lookup(SPACES, name, "search space").space)


def models_for(space: str):
  """The module of Keras builders for architectures of ``space`` (``arch["space"]``)."""
  models = _lookup(SPACES, space, "search space").models
  if models is None:
    raise KeyError(f"{space} architectures come from a table of published results; "
                   "nas-tf builds no model for them")
  return load(models)


def supernet_for(space: str):
  """The module of ``space``'s shared-weights supernet (for ENAS)."""
  supernet = _lookup(SPACES, space, "search space").supernet
  if supernet is None:
    raise KeyError(f"the {space} space has no shared-weights supernet")
  return load(supernet)


def build_space(config):
  """The search space of a config's task and strategy, built from the config (a custom
  task, ``module:Class``, searches ``space.kind``)."""
  kind = space_kind(config)
  if config.task not in TASKS:
    return space_class(kind).from_config(config)
  name = space_name(config.search.strategy, config.task, kind)
  if name is None:
    raise KeyError(no_space_message(config.search.strategy, config.task, kind))
  return space_class(name).from_config(config)


def strategy_class(name: str, space: str | None = None):
  """The strategy's class; for ``space``, the class that searches that space."""
  entry = _lookup(STRATEGIES, name, "strategy")
  return load((entry.by_space or {}).get(space, entry.target))


def task_class(name: str):
  """A registered task, or a custom one by ``module:Class`` (``nas_tf.tasks.custom``)."""
  if ":" in name and name not in TASKS:
    return load(name)
  return load(_lookup(TASKS, name, "task").target)


def executor_factory(name: str):
  return load(_lookup(EXECUTORS, name, "executor"))
