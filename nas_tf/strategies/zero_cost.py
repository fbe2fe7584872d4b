"""Training-free search (Mellor et al., ICML 2021, Algorithm 1; Abdelfattah et al., ICLR 2021):
sample N architectures at random, score each untrained (NASWOT by default, or a zero-cost
proxy, or the vote of synflow, jacob_cov and snip), and train only the best k, the task's
usual way (on a tabular task, look them up).

The scores come from the search loop (``score``: architecture -> {proxy: value}), which
computes them through ``nas_tf.proxies`` and keeps them in the work directory's
``scores.jsonl``, so a resumed search rescores nothing. An undefined score (jacob_cov's nan)
ranks last.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from nas_tf.spaces.base import Plan
from nas_tf.strategies.base import Proposer
from nas_tf.strategies.random_search import RandomSearch

VOTE = ("synflow", "jacob_cov", "snip")  # the notebook's vote


def proxies_of(proxy: str) -> list[str]:
  return list(VOTE) if proxy == "vote" else [proxy]


def ranking(proxy: str, rows: Sequence[dict[str, Any]]) -> list[int]:
  """Candidates' indices, best first (ties: the earlier sampled first)."""
  from nas_tf.proxies.measures import pairwise_vote
  def value(row, name):
    v = row.get(name)
    return -math.inf if v is None or not math.isfinite(v) else float(v)
  if proxy == "vote":
    table = [[value(row, name) for row in rows] for name in VOTE]
    keys = pairwise_vote(table).astype(float)
  else:
    keys = np.array([value(row, proxy) for row in rows])
  return sorted(range(len(rows)), key=lambda k: (-keys[k], k))


def check_warm_start(key: str, proxy: str, config) -> None:
  """A warm start's proxy (AREA's ``evolution.warm_start``, NAS-RL's
  ``controller.warm_start``): a known one, on a task with networks to score."""
  from nas_tf.config import ConfigError
  from nas_tf.proxies.measures import PROXIES
  if proxy and (proxy not in PROXIES or "zero_cost" not in config):
    raise ConfigError(f"{key}={proxy!r}: " + (
        f"one of {', '.join(PROXIES)} (or '' for none)" if proxy not in PROXIES else
        "training-free scores need an image task's networks (cifar10, images, nasbench201)"))


class ZeroCost(Proposer):
  name = "zero_cost"

  def __init__(self, space, proxy: str, samples: int, train_top: int):
    from nas_tf.proxies.measures import PROXIES
    if proxy not in (*PROXIES, "vote"):
      from nas_tf.config import ConfigError
      raise ConfigError(f"zero_cost.proxy={proxy!r}: one of {', '.join((*PROXIES, 'vote'))}")
    self.space, self.proxy, self.samples, self.train_top = space, proxy, samples, train_top
    self.sampler = RandomSearch(space.token_types)
    self.score: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # the loop sets it
    self.depth = None
    self.reset(0)

  @classmethod
  def from_config(cls, config, space, compiled: bool = True) -> "ZeroCost":
    z = config.zero_cost
    return cls(space, z.proxy, z.samples, z.train_top)

  def reset(self, seed: int) -> None:
    self.ranked: list[list[int]] | None = None
    self.given = 0

  def max_children(self) -> int:
    return min(self.train_top, self.samples)

  def proxies(self) -> list[str]:
    return proxies_of(self.proxy)

  def plan_depth(self, depth: int | None) -> int | None:
    self.depth = depth  # the candidates are decoded at the depth of the first child
    return depth

  def candidates(self, plan: Plan, seed: Sequence[int]) -> list[list[int]]:
    """``samples`` distinct architectures (fewer only where the space has fewer)."""
    return self.sampler.distinct(plan, self.samples,
                                 np.random.default_rng([int(s) for s in seed]))

  def propose(self, plan: Plan, m: int, seed: Sequence[int]) -> np.ndarray:
    if self.ranked is None:
      if self.score is None:
        raise RuntimeError("ZeroCost needs the search loop's scores (its score attribute)")
      tokens = self.candidates(plan, seed)
      rows = []
      for k, t in enumerate(tokens, start=1):
        rows.append(self.score(self.space.decode(t, self.depth)))
        if k % max(1, len(tokens) // 10) == 0 or k == len(tokens):
          self.log(f"scored {k}/{len(tokens)} candidates untrained ({self.proxy})")
      if not any(math.isfinite(r.get(p) or math.nan) for r in rows
                 for p in proxies_of(self.proxy)):
        from nas_tf.config import ConfigError
        raise ConfigError(f"zero_cost.proxy={self.proxy}: no candidate has a score "
                          f"(naswot needs ReLUs, jacob_cov a non-degenerate Jacobian): "
                          "choose another proxy")
      order = ranking(self.proxy, rows)
      self.ranked = [tokens[k] for k in order]  # all of them: a larger k extends the search
      best = rows[order[0]]
      shown = ", ".join(f"{p} {best.get(p)}" for p in proxies_of(self.proxy))
      self.log(f"training the best {self.max_children()} of {len(tokens)} (best: {shown})")
    picked = self.ranked[self.given:min(self.given + m, self.max_children())]
    self.given += len(picked)
    width = len(self.ranked[0]) if self.ranked else 0
    return np.asarray(picked, np.int32).reshape(len(picked), width)

  def tell(self, plan: Plan, tokens: np.ndarray, rewards: Sequence[float]) -> dict[str, Any]:
    return {"finite": True, "reward": float(np.mean(rewards)) if len(rewards) else 0.0}

  def state(self) -> Any:
    return {"ranked": self.ranked, "given": self.given}

  def load_state(self, state: Any) -> None:
    if state:
      self.ranked, self.given = state["ranked"], state["given"]

  def settings(self) -> str:
    return (f"{self.samples} candidates scored untrained by {self.proxy}, the best "
            f"{self.max_children()} trained")
