"""Local search (White et al., "Local Search is State of the Art for Neural Architecture Search
Benchmarks", 2020): hill climbing over one-token neighbours, with random restarts.

The climb starts at the best of m uniformly random architectures (m: the search's batch).
Its neighbours (every architecture that differs in exactly one token: another op, another
input, one anchor link flipped) are evaluated in a random order; the first that beats the
climb's best becomes its new centre, and the climb goes on from there. When every neighbour
of the centre has been evaluated without beating it (a local optimum), the climb restarts.
Nothing is evaluated twice: a neighbour already evaluated in the search is not proposed
again, and if its reward beats the centre's the climb moves there without training it.

It works on every space because it only sees plans and tokens. Its state (the centre, the
neighbours still to try, what was proposed and its reward) is plain JSON in every checkpoint,
so a resumed search proposes exactly what an uninterrupted one would. A plan that changes
during the search (the macro CNN's growth) restarts the climb. With asynchronous updates a
restart may come before the centre's last neighbours are told.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from nas_tf.spaces.base import Plan, live_slots, token_slots
from nas_tf.strategies.base import Proposer
from nas_tf.strategies.evolution import plan_key
from nas_tf.strategies.random_search import RandomSearch


def neighbours(tokens: Sequence[int], slots: Sequence[int]) -> list[list[int]]:
  """Every token sequence that differs from ``tokens`` in exactly one position."""
  out = []
  for i, n in enumerate(slots):
    for value in range(n):
      if value != tokens[i]:
        out.append([*tokens[:i], value, *tokens[i + 1:]])
  return out


class LocalSearch(Proposer):
  name = "local"

  def __init__(self, token_types: dict[str, int], space=None):
    self.token_types, self.space = dict(token_types), space
    self.random = RandomSearch(token_types)
    self.reset(0)

  @classmethod
  def from_config(cls, config, space, compiled: bool = True) -> "LocalSearch":
    return cls(space.token_types, space)

  def reset(self, seed: int) -> None:
    self.plan = ""                       # the plan the climb is on
    self.centre: dict[str, Any] | None = None  # tokens and reward of the climb's best
    self.queue: list[list[int]] = []     # the centre's neighbours not yet proposed
    self.seen: dict[tuple[int, ...], float | None] = {}  # proposed -> its reward once told
    self.restarts, self.salt = 0, 0      # salt: the neighbours' order, drawn per climb

  def settings(self) -> str:
    return "first-improvement hill climbing over one-token neighbours, random restarts"

  def state(self) -> dict[str, Any]:
    return {"plan": self.plan, "centre": self.centre, "queue": self.queue,
            "seen": [[list(t), r] for t, r in self.seen.items()], "restarts": self.restarts,
            "salt": self.salt}

  def load_state(self, state) -> None:
    self.reset(0)
    if state:
      self.plan, self.centre, self.queue = state["plan"], state["centre"], state["queue"]
      self.restarts, self.salt = state["restarts"], state["salt"]
      self.seen = {tuple(t): r for t, r in state["seen"]}

  def _move(self, tokens: list[int], reward: float, plan: Plan) -> None:
    """The climb's centre becomes ``tokens``: its neighbours, in this climb's random order."""
    self.centre = {"tokens": tokens, "reward": reward}
    candidates = neighbours(tokens, live_slots(self.space, tokens,
                                               token_slots(plan, self.token_types)))
    order = np.random.default_rng([self.salt, *tokens]).permutation(len(candidates))
    self.queue = [candidates[i] for i in order]

  def _next(self, plan: Plan) -> list[int] | None:
    """The queue's next neighbour never proposed; one told before with a better reward than
    the centre's moves the climb there first."""
    while self.queue:
      candidate = self.queue.pop(0)
      known = self.seen.get(tuple(candidate), "new")
      if known == "new":
        return candidate
      if known is not None and known > self.centre["reward"]:
        self._move(candidate, known, plan)
    return None

  def propose(self, plan: Plan, m: int, seed: Sequence[int]) -> np.ndarray:
    rng = np.random.default_rng([int(s) for s in seed])
    if plan_key(plan) != self.plan:  # a new plan: a new climb
      self.plan, self.centre, self.queue = plan_key(plan), None, []
    out = []
    while self.centre is not None and len(out) < m:
      candidate = self._next(plan)
      if candidate is None:
        break
      out.append(candidate)
    out = out or self._restart(plan, m, rng)
    self.seen.update((tuple(t), None) for t in out)
    return np.array(out, np.int32).reshape(len(out), -1)

  def _restart(self, plan: Plan, m: int, rng: np.random.Generator) -> list[list[int]]:
    """No climb yet, or every neighbour of the centre was told and none beat it (a local
    optimum): a new climb, from the best of m random architectures (told next)."""
    self.restarts += self.centre is not None
    self.centre, self.salt = None, int(rng.integers(2**31 - 1))
    return [self.random.unseen(plan, self.seen, rng) for _ in range(m)]

  def tell(self, plan: Plan, tokens: np.ndarray, rewards: Sequence[float]) -> dict[str, Any]:
    if plan_key(plan) == self.plan:  # (a batch of an older plan teaches the climb nothing)
      for t, r in zip(tokens, rewards):
        t, r = [int(x) for x in t], float(r)
        self.seen[tuple(t)] = r
        if self.centre is None or r > self.centre["reward"]:  # first improvement: move
          self._move(t, r, plan)
    return {"finite": True, "reward": float(np.mean(rewards)), "restarts": self.restarts,
            "centre_reward": self.centre["reward"] if self.centre else float("nan")}
