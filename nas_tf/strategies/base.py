"""The two families of search strategies.

``Proposer``: asked for architectures and told their rewards by the shared search loop
(``nas_tf.search.loop``), which trains each child through the task and an executor and
keeps the journal: NAS-RL, random search (later regularized evolution, PNAS).

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

  def trackables(self) -> dict[str, Any]:
    """TensorFlow objects the search's checkpoint holds for this strategy."""
    return {}


class OneShot(abc.ABC):
  name = ""

  @classmethod
  @abc.abstractmethod
  def from_config(cls, config, space: SearchSpace, task) -> "OneShot":
    ...

  @abc.abstractmethod
  def run(self, ctx) -> None:
    """The strategy's own search loop (``ctx``: ``nas_tf.search.run.OneShotContext``):
    resumable from ``ctx.store``, calling ``ctx.epoch_done(epoch)`` after each checkpoint
    (which stops the search once its time budget is spent)."""

  @abc.abstractmethod
  def derive(self, ctx) -> list[dict[str, Any]]:
    """The architectures it recommends, in a reproducible order."""

  @abc.abstractmethod
  def evaluate(self, ctx, arch: dict[str, Any]) -> dict[str, Any]:
    """A derived architecture's metrics (``ctx.task.metric``, ``reward``, ``params``, ...)."""
