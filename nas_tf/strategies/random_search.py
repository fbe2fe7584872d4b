"""Random search: every decision uniform and independent over the same space, with the same
budget, logs and work directory as the other strategies: the baseline every method must
beat. Its only state is the search's sampling random state, which the loop checkpoints."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from nas_tf.spaces.base import Plan, token_slots
from nas_tf.strategies.base import Proposer


class RandomSearch(Proposer):
  """Each token type's values equally likely, each anchor link present with probability
  1/2, each pointer's targets equally likely."""

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
    for decision in plan:  # one draw per decision (an anchor's links together)
      slots = token_slots((decision,), self.token_types)
      if slots:
        columns.append(rng.integers(0, slots[0], size=(m, len(slots))))
    return np.concatenate(columns, axis=1).astype(np.int32) if columns else \
        np.zeros((m, 0), np.int32)

  def unseen(self, plan: Plan, seen, rng: np.random.Generator) -> list[int]:
    """One architecture whose tokens are not in ``seen`` (any, once 100 draws found none):
    the restarts and random starts of local search and guided evolution."""
    for _ in range(100):
      tokens = [int(t) for t in self.propose(plan, 1, rng.integers(0, 2**31 - 1, size=2))[0]]
      if tuple(tokens) not in seen:
        break
    return tokens

  def distinct(self, plan: Plan, count: int, rng: np.random.Generator) -> list[list[int]]:
    """``count`` distinct architectures in the order drawn (fewer only where 100 rounds of
    draws found no more): the candidates of training-free search and of AREA."""
    found: dict[tuple[int, ...], None] = {}
    for _ in range(100):
      for tokens in self.propose(plan, count, rng.integers(0, 2**31 - 1, size=2)):
        found.setdefault(tuple(int(t) for t in tokens))
        if len(found) == count:
          return [list(t) for t in found]
    return [list(t) for t in found]

  def tell(self, plan: Plan, tokens: np.ndarray, rewards: Sequence[float]) -> dict[str, Any]:
    return {"finite": True, "reward": float(np.mean(rewards))}
