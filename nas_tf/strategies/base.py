"""The two families of search strategies.

``Proposer``: asked for architectures and told their rewards by the shared search loop
(``nas_tf.runner.loop``), which trains each child through the task and an executor and
keeps the journal: NAS-RL, random search, regularized evolution, PNAS.

``OneShot``: owns its loop (e.g. training a supernet of shared weights) and then
``derive``s the architectures it recommends, which the runner scores with ``evaluate`` and
records through the same journal: ENAS (later DARTS). Its per-step compute comes from the
task's hooks (``input_spec``, ``shared_data``, ``shared_train_step``, ``shared_eval_step``).
"""

from __future__ import annotations

import abc
from typing import Any, Sequence

import numpy as np

from nas_tf.spaces.base import Plan, SearchSpace


class Proposer(abc.ABC):
  name = ""
  # Whether the reward's scale (not only its order) drives the proposer: REINFORCE's
  # advantage does; the progress lines show the reward only then.
  uses_reward_scale = False

  @classmethod
  @abc.abstractmethod
  def from_config(cls, config, space: SearchSpace, compiled: bool = True) -> "Proposer":
    """``compiled``: whether TensorFlow parts may run as traced graphs (decided once per
    search, see ``nas_rl.controller_compiled``)."""

  @abc.abstractmethod
  def propose(self, plan: Plan, m: int, seed: Sequence[int]) -> np.ndarray:
    """Up to ``m`` token sequences of ``plan`` ([k, plan_length], k <= m; k = 0 means the
    strategy has nothing left to propose), reproducibly from ``seed``."""

  @abc.abstractmethod
  def tell(self, plan: Plan, tokens: np.ndarray, rewards: Sequence[float]) -> dict[str, Any]:
    """Learns from finished children; returns statistics with at least ``finite`` (False:
    the update was not applied and the search stops)."""

  def max_children(self) -> int | None:
    """The most children it will ever propose, where it knows (training-free search: its
    best k); the loop then stops there whatever ``search.num_children`` says."""
    return None

  def plan_depth(self, depth: int | None) -> int | None:
    """The depth of the next proposals' plan: the task's schedule (``depth``) unless the
    strategy sets its own (PNAS: the current round's number of blocks)."""
    return depth

  def log(self, message: str) -> None:
    """Progress lines; the search loop points this at its log."""

  def trackables(self) -> dict[str, Any]:
    """TensorFlow objects the search's checkpoint holds for this strategy."""
    return {}

  def state(self) -> Any:
    """Plain-JSON state the search's checkpoint holds besides ``trackables`` (e.g. an
    evolution's population)."""
    return None

  def load_state(self, state: Any) -> None:
    """Restores what ``state`` returned (None: a fresh search)."""

  def settings(self) -> str:
    """The strategy's settings in one line, for the search's first log lines."""
    return ""

  def reset(self, seed: int) -> None:
    """Back to the state of a fresh ``from_config`` with ``config.seed = seed``, reusing
    what was traced (the tabular benchmark runs hundreds of searches in one process)."""
    raise NotImplementedError(f"{type(self).__name__} cannot be reset")


class OneShot(abc.ABC):
  name = ""

  @classmethod
  @abc.abstractmethod
  def from_config(cls, config, space: SearchSpace, task) -> "OneShot":
    ...

  @abc.abstractmethod
  def run(self, ctx) -> None:
    """The strategy's own search loop (``ctx``: ``nas_tf.runner.run.OneShotContext``):
    resumable from ``ctx.store``, calling ``ctx.epoch_done(epoch)`` after each checkpoint
    (which stops the search once its time budget is spent)."""

  @abc.abstractmethod
  def derive(self, ctx) -> list[dict[str, Any]]:
    """The architectures it recommends, in a reproducible order."""

  @abc.abstractmethod
  def evaluate(self, ctx, arch: dict[str, Any]) -> dict[str, Any]:
    """A derived architecture's metrics (``ctx.task.metric``, ``reward``, ``params``, ...)."""
