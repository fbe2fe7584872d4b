"""Predictor-guided evolution, after BANANAS (White et al., AAAI 2021): mutate many
candidates, and train those a learned predictor ranks best.

The first ``guided.initial`` children are uniformly random. Then, every ``guided.refit_every``
children, PNAS's surrogate (``surrogate.py``: an ensemble of small Keras models, each fitted
on all but one fold) is fitted on every finished child's tokens, its target the child's
rank by reward (so that any reward's scale reads the same); ``guided.candidates`` one-token
mutations of the ``guided.parents`` best children are drawn, and the children proposed until
the next fit are those candidates in the order of their predicted rank. Nothing is proposed
twice. Not BANANAS itself: its path encoding is NAS-Bench-201's alone, and its acquisition
(Thompson sampling over the ensemble) is the ensemble's mean here.

It works on every space because it only sees plans and tokens; a plan that changes during
the search (the macro CNN's growth) starts it over on the new plan. Its state is plain JSON
in every checkpoint; the surrogate is fitted again from that state when needed, with the
same result (its fit is seeded and deterministic), so a resumed search proposes what an
uninterrupted one would.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from nas_tf import config as config_lib
from nas_tf.spaces.base import Plan, token_slots
from nas_tf.strategies.base import Proposer
from nas_tf.strategies.evolution import mutate, plan_key
from nas_tf.strategies.random_search import RandomSearch

DEFAULTS = {**config_lib.guided_block().to_dict(), "predictors": ("mlp",)}


def ranks(rewards: Sequence[float]) -> np.ndarray:
  """Rewards as ranks in [0, 1] (the best 1; equal rewards share their mean rank)."""
  r = np.asarray(rewards, np.float64)
  order = np.argsort(r, kind="stable")
  rank = np.empty(len(r))
  rank[order] = np.arange(len(r))
  for value in np.unique(r):  # ties: the mean rank
    rank[r == value] = rank[r == value].mean()
  return rank / max(1, len(r) - 1)


class GuidedEvolution(Proposer):
  name = "guided"

  def __init__(self, token_types: dict[str, int], seed: int = 0, **settings):
    unknown = set(settings) - set(DEFAULTS)
    if unknown:
      raise ValueError(f"guided: unknown settings {sorted(unknown)} (known: "
                       f"{', '.join(DEFAULTS)})")
    self.token_types, self.seed = dict(token_types), int(seed)
    self.settings_ = {**DEFAULTS, **settings}
    if self.settings_["initial"] < 2 or self.settings_["refit_every"] < 1:
      raise ValueError("guided: initial must be at least 2 and refit_every at least 1")
    self.random = RandomSearch(token_types)
    self.surrogate = None
    self.reset(self.seed)

  @classmethod
  def from_config(cls, config, space, compiled: bool = True) -> "GuidedEvolution":
    block = config.get("guided", None)
    settings = block.to_dict() if block is not None else {}
    if "predictors" in settings:
      settings["predictors"] = tuple(settings["predictors"])
    return cls(space.token_types, config.get("seed", 0), **settings)

  def settings(self) -> str:
    s = self.settings_
    return (f"{s['initial']} random, then every {s['refit_every']} children the predictor "
            f"({'+'.join(s['predictors'])} x{s['ensemble']}) ranks {s['candidates']} "
            f"mutations of the best {s['parents']}")

  def reset(self, seed: int) -> None:
    self.seed = int(seed)
    self.plan, self.history, self.queue = "", [], []
    self.seen: set[tuple[int, ...]] = set()
    self.since_fit, self.fits = 0, 0

  def state(self) -> dict[str, Any]:
    return {"plan": self.plan, "history": self.history, "queue": self.queue,
            "seen": sorted(list(t) for t in self.seen), "since_fit": self.since_fit,
            "fits": self.fits}

  def load_state(self, state) -> None:
    self.reset(self.seed)
    if state:
      self.plan, self.history, self.queue = state["plan"], state["history"], state["queue"]
      self.since_fit, self.fits = state["since_fit"], state["fits"]
      self.seen = {tuple(t) for t in state["seen"]}

  def _refit(self, plan: Plan, rng: np.random.Generator) -> None:
    """Fits the surrogate on the history; the queue becomes the candidates, best first."""
    from nas_tf.strategies.surrogate import Surrogate  # TensorFlow, only once it is needed
    s, slots = self.settings_, token_slots(plan, self.token_types)
    if self.surrogate is None or self.surrogate.slots != slots:
      # The members' first weights are the same in every search (seed 0), so a resumed
      # search, in a new process, fits the same surrogate as an uninterrupted one.
      self.surrogate = Surrogate(kinds=s["predictors"], ensemble=s["ensemble"],
                                 epochs=s["epochs"], units=s["units"], slots=slots, seed=0)
    tokens = [h["tokens"] for h in self.history]
    self.surrogate.fit(tokens, ranks([h["reward"] for h in self.history]),
                       seed=self.seed * 7919 + self.fits)  # a fit's own folds and batches
    self.fits, self.since_fit = self.fits + 1, 0
    best = sorted(range(len(tokens)), key=lambda i: -self.history[i]["reward"])
    parents = [tokens[i] for i in best[:s["parents"]]]
    candidates = {}
    for _ in range(s["candidates"]):
      child = mutate(parents[rng.integers(len(parents))], slots, rng)
      if tuple(child) not in self.seen:
        candidates.setdefault(tuple(int(t) for t in child), None)
    pool = [list(c) for c in candidates]
    if pool:
      predicted = self.surrogate.predict(pool)
      self.queue = [pool[i] for i in np.argsort(-predicted, kind="stable")]
    else:
      self.queue = []

  def propose(self, plan: Plan, m: int, seed: Sequence[int]) -> np.ndarray:
    rng = np.random.default_rng([int(s) for s in seed])
    if plan_key(plan) != self.plan:  # a new plan: start over on it
      self.plan, self.history, self.queue, self.since_fit = plan_key(plan), [], [], 0
    out = []
    while len(out) < m:
      if len(self.history) + len(out) < self.settings_["initial"]:
        out.append(self.random.unseen(plan, self.seen, rng))
      else:
        if not out and (not self.queue or self.since_fit >= self.settings_["refit_every"]):
          self._refit(plan, rng)
        while self.queue and tuple(self.queue[0]) in self.seen:
          self.queue.pop(0)
        out.append(self.queue.pop(0) if self.queue else self.random.unseen(plan, self.seen, rng))
      self.seen.add(tuple(out[-1]))
    return np.array(out, np.int32).reshape(len(out), -1)

  def tell(self, plan: Plan, tokens: np.ndarray, rewards: Sequence[float]) -> dict[str, Any]:
    if plan_key(plan) == self.plan:
      for t, r in zip(tokens, rewards):
        self.history.append({"tokens": [int(x) for x in t], "reward": float(r)})
      self.since_fit += len(rewards)
    return {"finite": True, "reward": float(np.mean(rewards)), "fits": self.fits}
