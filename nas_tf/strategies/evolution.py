"""Regularized evolution (Real et al., AAAI 2019): aging evolution with tournament selection.

The population holds the last P finished children. Until it is full, proposals are uniform
random architectures; after that each proposal samples S members (with replacement, as the
paper's Algorithm 1), takes the fittest, and
mutates exactly one of its decisions (any token kind: an op, a filter size, an anchor link,
a cell index). Every finished child joins the population and the *oldest* member dies,
whatever its fitness: that aging is what "regularized" means.

It works on every space because it only sees plans and tokens. When a space's plan changes
during a search (the macro CNN grows by two layers every 1,600 children), a parent from the
older plan keeps the tokens of the decisions both plans share and draws the new ones at
random. The population is the only state besides the loop's random state; it is saved in
every checkpoint, so a resumed search proposes exactly what an uninterrupted one would.

``evolution.warm_start=PROXY`` is AREA (Mellor et al., ICML 2021, section 5): the first
population is not random but the best P of 2P random candidates by a training-free score
(``naswot``, or a zero-cost proxy), scored untrained by the search loop.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from nas_tf.spaces.base import Plan, decision_width, live_slots, token_slots
from nas_tf.strategies.base import Proposer
from nas_tf.strategies.random_search import RandomSearch


def plan_key(plan: Plan) -> str:
  """A plan as a string (stored with each member)."""
  return "|".join(map(repr, plan))


def mutate(tokens: Sequence[int], slots: Sequence[int], rng: np.random.Generator) -> np.ndarray:
  """``tokens`` with exactly one position changed to another valid value (unchanged only
  when no position has a second value); ``slots``: the values of each position."""
  tokens = np.array(tokens, dtype=np.int32)
  mutable = [i for i, n in enumerate(slots) if n > 1]
  if mutable:
    i = mutable[rng.integers(len(mutable))]
    tokens[i] = (tokens[i] + rng.integers(1, slots[i])) % slots[i]
  return tokens


class RegularizedEvolution(Proposer):
  name = "evolution"

  def __init__(self, token_types: dict[str, int], population_size: int, sample_size: int,
               warm_start: str = "", space=None):
    if population_size < 2 or not 1 <= sample_size <= population_size:
      raise ValueError(f"evolution: need population >= 2 and 1 <= sample_size <= population, "
                       f"got {population_size} and {sample_size}")
    self.token_types = dict(token_types)
    self.population_size, self.sample_size = int(population_size), int(sample_size)
    self.random = RandomSearch(token_types)
    self.population: list[dict[str, Any]] = []  # oldest first: tokens, reward, plan
    self.warm_start, self.space = warm_start, space
    self.warm: list[list[int]] | None = None  # AREA: the first population, best first
    self.warm_given = 0
    self.score = None  # AREA: the search loop's scores of untrained networks
    self.depth = None

  @classmethod
  def from_config(cls, config, space, compiled: bool = True) -> "RegularizedEvolution":
    e = config.evolution
    warm = e.get("warm_start", "")
    from nas_tf.strategies.zero_cost import check_warm_start
    check_warm_start("evolution.warm_start", warm, config)
    return cls(space.token_types, e.population, e.sample_size, warm, space)

  def proxies(self) -> list[str]:
    return [self.warm_start] if self.warm_start else []

  def settings(self) -> str:
    warm = (f", first population the best {self.population_size} of "
            f"{2 * self.population_size} by {self.warm_start} (AREA)" if self.warm_start else "")
    return f"population {self.population_size}, sample size {self.sample_size}{warm}"

  def state(self) -> dict[str, Any]:
    return {"population": [dict(m) for m in self.population], "warm": self.warm,
            "warm_given": self.warm_given}

  def load_state(self, state) -> None:
    self.population = [dict(m) for m in (state or {}).get("population", [])]
    self.warm, self.warm_given = (state or {}).get("warm"), (state or {}).get("warm_given", 0)

  def reset(self, seed: int) -> None:
    self.population, self.warm, self.warm_given = [], None, 0

  def plan_depth(self, depth):
    self.depth = depth
    return depth

  def _warm_population(self, plan: Plan, rng: np.random.Generator) -> list[list[int]]:
    """AREA: 2P distinct random candidates, best first by the proxy."""
    from nas_tf.strategies.zero_cost import ranking
    candidates = self.random.distinct(plan, 2 * self.population_size, rng)
    rows = [self.score(self.space.decode(t, self.depth)) for t in candidates]
    self.log(f"AREA: {len(candidates)} candidates scored untrained ({self.warm_start})")
    return [candidates[k] for k in ranking(self.warm_start, rows)[:self.population_size]]

  def mutate(self, tokens: Sequence[int], plan: Plan, rng: np.random.Generator) -> np.ndarray:
    return mutate(tokens, live_slots(self.space, tokens, token_slots(plan, self.token_types)),
                  rng)

  def _adapt(self, member: dict[str, Any], plan: Plan, rng: np.random.Generator) -> np.ndarray:
    """A member's tokens for ``plan``: its own when sampled from the same plan; else the
    decisions the two plans share (in order) are kept and the rest drawn at random."""
    if member["plan"] == plan_key(plan):
      return np.array(member["tokens"], dtype=np.int32)
    fresh = self.random.propose(plan, 1, rng.integers(0, 2**31 - 1, size=2))[0]
    old = member["plan"].split("|") if member["plan"] else []
    position = 0
    for decision, theirs in zip(plan, old):
      if repr(decision) != theirs:
        break
      position += decision_width(decision)
    fresh[:position] = member["tokens"][:position]
    return fresh

  def propose(self, plan: Plan, m: int, seed: Sequence[int]) -> np.ndarray:
    rng = np.random.default_rng([int(s) for s in seed])
    if len(self.population) < self.population_size:
      if not self.warm_start:
        return self.random.propose(plan, m, rng.integers(0, 2**31 - 1, size=2))
      if self.warm is None:
        self.warm, self.warm_given = self._warm_population(plan, rng), 0
      if self.warm_given < len(self.warm):
        picked = self.warm[self.warm_given:self.warm_given + m]
        self.warm_given += len(picked)
        return np.asarray(picked, np.int32)
      return self.random.propose(plan, m, rng.integers(0, 2**31 - 1, size=2))
    children = []
    for _ in range(m):
      # S members drawn *with* replacement, as Real et al.'s Algorithm 1 and NAS-Bench-201's
      # R_EA.py (random.choice S times); the fittest wins, ties to the first drawn
      # (Python's max, as there).
      picks = rng.integers(len(self.population), size=self.sample_size)
      parent = self.population[max(picks, key=lambda i: self.population[i]["reward"])]
      children.append(self.mutate(self._adapt(parent, plan, rng), plan, rng))
    return np.stack(children).astype(np.int32)

  def tell(self, plan: Plan, tokens: np.ndarray, rewards: Sequence[float]) -> dict[str, Any]:
    key = plan_key(plan)
    for t, r in zip(tokens, rewards):
      self.population.append({"tokens": [int(x) for x in t], "reward": float(r), "plan": key})
    del self.population[:max(0, len(self.population) - self.population_size)]
    return {"finite": True, "reward": float(np.mean(rewards))}
