"""Search strategies behind one small interface: the search loop asks a strategy for m
architectures (as token sequences of a plan) and tells it their rewards.

  nas_rl  the controller LSTM, improved by REINFORCE (Zoph & Le 2017)
  random  uniform sampling over the same space: the baseline every method must beat
  enas    shared weights (Pham et al. 2018): its own loop in ``nas_tf/enas.py``

A strategy's ``trackables`` are what its checkpoint holds (nothing for ``random``: its only
state is the search's sampling random state, which the loop checkpoints already).
"""

from __future__ import annotations

from typing import Any, Sequence

import ml_collections
import numpy as np

from nas_tf.search_space import Anchor, Choice, Plan


class NasRl:
  name = "nas_rl"

  def __init__(self, c: ml_collections.ConfigDict, seed: int, token_types: dict[str, int],
               compiled: bool):
    """``c``: the ``controller.*`` settings."""
    from nas_tf.controller import Controller
    from nas_tf.reinforce import Reinforce
    self.controller = Controller(token_types, c.units, c.num_layers, c.init_range,
                                 seed=seed, compiled=compiled)
    self.reinforce = Reinforce(self.controller, c.learning_rate, c.baseline_decay,
                               c.entropy_weight, c.clip_norm or None, compiled=compiled)

  def trackables(self) -> dict[str, Any]:
    return {"controller": self.controller, "optimizer": self.reinforce.optimizer,
            "baseline": self.reinforce.baseline, "baseline_ready": self.reinforce.baseline_ready}

  def propose(self, plan: Plan, m: int, seed: Sequence[int]) -> np.ndarray:
    tokens, _ = self.controller.sample(plan, m, seed)
    return tokens

  def tell(self, plan: Plan, tokens: np.ndarray, rewards: Sequence[float]) -> dict[str, Any]:
    return self.reinforce.update(plan, tokens, rewards)


class RandomSearch:
  """Every decision uniform and independent: each token type's values equally likely, each
  anchor link present with probability 1/2."""

  name = "random"

  def __init__(self, token_types: dict[str, int]):
    self.token_types = dict(token_types)

  def trackables(self) -> dict[str, Any]:
    return {}

  def propose(self, plan: Plan, m: int, seed: Sequence[int]) -> np.ndarray:
    rng = np.random.default_rng([int(s) for s in seed])
    columns = []
    for decision in plan:
      if isinstance(decision, Choice):
        columns.append(rng.integers(0, self.token_types[decision.token_type], size=(m, 1)))
      elif isinstance(decision, Anchor):
        columns.append(rng.integers(0, 2, size=(m, decision.layer)))
    return np.concatenate(columns, axis=1).astype(np.int32) if columns else \
        np.zeros((m, 0), np.int32)

  def tell(self, plan: Plan, tokens: np.ndarray, rewards: Sequence[float]) -> dict[str, Any]:
    return {"finite": True, "reward": float(np.mean(rewards))}


def make_strategy(config: ml_collections.ConfigDict, token_types: dict[str, int],
                  compiled: bool):
  name = config.search.strategy
  if name == "nas_rl":
    return NasRl(config.controller, config.seed, token_types, compiled)
  if name == "random":
    return RandomSearch(token_types)
  raise ValueError(f"search.strategy {name!r} has no per-child loop (enas runs its own)")
