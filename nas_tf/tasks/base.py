"""What every task shares: its search space (from the registry), its settings, and the
interface the search loop, the one-shot strategies, ``train`` and ``export`` use.

A task is performance estimation for one kind of data: ``prepare`` loads the data (failing
fast, before TensorFlow starts), ``train_child`` builds, trains and scores one architecture,
and the ``shared_*`` hooks give one-shot strategies their per-step compute.
"""

from __future__ import annotations

from typing import Any

import ml_collections

from nas_tf import config as config_lib, registry
from nas_tf.tasks.objective import Objective


class Task:
  name = ""
  metric = ""            # what "best" means in logs and best.json
  higher_is_better = True
  test_metric = ""
  serving_needs_data = False  # whether export must load the data (e.g. for a vocabulary)
  # Children looked up in a table of published results (no model is built or trained);
  # ``search.time_budget`` then counts their ``simulated_seconds``.
  simulated = False
  cost_names: tuple[str, ...] = ()  # the deployment costs its children report (tasks.costs)

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.space = registry.build_space(config)
    self.objective = Objective.from_config(config, self)  # what the search optimizes

  # -- data ------------------------------------------------------------------------------------
  def prepare(self) -> None:
    """Loads and splits the data once (bad data fails here)."""
    raise NotImplementedError

  @property
  def prepared(self) -> bool:
    raise NotImplementedError

  @property
  def data_summary(self) -> str:
    raise NotImplementedError

  def data_fingerprint(self) -> str:
    """A hash of the data as the search sees it: a moved data path may resume a search only
    when this is unchanged."""
    raise NotImplementedError

  # -- children --------------------------------------------------------------------------------
  def depth_at(self, child_index: int) -> int | None:
    return self.space.depth_at(child_index)

  def settings(self, final: bool = False) -> ml_collections.ConfigDict:
    """The child's training settings: ``child.*``, overridden by ``final.*`` for the final
    training of a found architecture."""
    return config_lib.child_settings(self.config, final)

  def models(self, arch: dict[str, Any]):
    """The Keras builders of ``arch``'s space."""
    return registry.models_for(arch["space"])

  def reward_of(self, value: float) -> float:
    """The reward of a value of ``metric`` (the soft objective rescales the value)."""
    raise NotImplementedError

  def child_costs(self, model, arch: dict[str, Any]) -> dict[str, Any]:
    """The built, untrained child's ``cost_names`` (``nas_tf.tasks.costs``); by default of
    one float32 input of the task's ``input_shape``."""
    import tensorflow as tf

    from nas_tf.tasks import costs
    spec = tf.TensorSpec([1, *self.input_shape], tf.float32)
    return costs.measure(model, spec, self.objective.latency_calls)

  def train_child(self, arch: dict[str, Any], seed: int,
                  weights_path: str | None = None) -> dict[str, Any]:
    """Builds, trains and scores one child; returns its metrics (raises on failure)."""
    raise NotImplementedError

  def serving_models(self, arch: dict[str, Any], weights: str, settings) -> dict[str, Any]:
    """name -> (Keras model, input TensorSpec, manifest entry) for ``nas-tf export``."""
    raise NotImplementedError

  def serving_files(self) -> dict[str, str]:
    """name -> text of files written beside the SavedModels (e.g. a vocabulary)."""
    return {}


  # -- training-free scores (nas_tf.proxies) ----------------------------------------------------
  def proxy_data(self, family: str = "zero_cost"):
    """(uint8 training images [N, H, W, C], labels, (mean, std) per channel in pixel units):
    what ``family``'s proxies ("zero_cost" or "naswot") draw their minibatches from."""
    raise config_lib.ConfigError(f"zero-cost proxies score image classifiers; the {self.name} "
                                 "task has none (tasks with images: cifar10, images, "
                                 "nasbench201)")

  def proxy_network(self, arch: dict[str, Any], family: str):
    """A Keras classifier of ``arch`` to score, as the code of ``family``'s paper built it
    ("zero_cost": zero-cost-nas, "naswot": NASWOT); by default the child's network (your
    space's: its logits, ``models.user.proxy_view``)."""
    model, view = self.build_model(arch), getattr(self.models(arch), "proxy_view", None)
    return view(model) if view else model

  def proxy_options(self, proxy: str) -> dict[str, Any]:
    """What the authors' copy of the network implies for ``proxy`` (nas_tf.proxies.measures
    keyword arguments)."""
    return {}
