"""Random search: every decision uniform and independent over the same space, with the same
budget, logs and work directory as the other strategies: the baseline every method must
beat. Its only state is the search's sampling random state, which the loop checkpoints."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from nas_tf.spaces.base import Anchor, Choice, Plan
from nas_tf.strategies.base import Proposer


class RandomSearch(Proposer):
  """Each token type's values equally likely, each anchor link present with probability
  1/2."""

  name = "random"

  def __init__(self, token_types: dict[str, int]):
    self.token_types = dict(token_types)

  @classmethod
  def from_config(cls, config, space, compiled: bool = True) -> "RandomSearch":
    return cls(space.token_types)

  def reset(self, seed: int) -> None:
    pass  # no state of its own: the loop's random state drives it

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
