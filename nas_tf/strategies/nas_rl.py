"""NAS-RL (Zoph & Le 2017): the controller LSTM samples architectures and REINFORCE with a
moving-average baseline improves it from the children's rewards.

``controller.warm_start=PROXY`` is Abdelfattah et al.'s zero-cost warm-up (ICLR 2021,
section 5) for this controller: before the first child, it learns from
``controller.warm_start_samples`` of its own samples scored untrained by the proxy, each
rewarded by its score's rank among those scored so far (a fraction in (0, 1]: a proxy's
scale means nothing, its order does; their RL tool is unpublished, so this rule is nas-tf's).
The baseline then starts afresh for the children's rewards; the weights and Adam's moments
keep what the warm-up taught.
"""

from __future__ import annotations

from typing import Any, Sequence

import ml_collections
import numpy as np

from nas_tf.spaces.base import Plan
from nas_tf.strategies.base import Proposer
from nas_tf.strategies.controller import Controller
from nas_tf.strategies.reinforce import Reinforce

# Tracing the controller's graph for one depth costs seconds; an eager update costs about
# half a second. "auto" traces when a depth is kept for at least this many updates.
COMPILE_MIN_UPDATES_PER_DEPTH = 20


def controller_compiled(config: ml_collections.ConfigDict) -> bool:
  """Whether the controller runs as traced graphs. The search records the choice in its
  checkpoint, so a resumed or extended search keeps it (and its numbers)."""
  mode = config.controller.compile
  if mode == "auto":
    s = config.search
    updates_per_depth = (s.depth_every / s.batch_size if s.get("depth_step")
                         else s.num_children / s.batch_size)
    return updates_per_depth >= COMPILE_MIN_UPDATES_PER_DEPTH
  return mode == "graph"


class NasRl(Proposer):
  name = "nas_rl"
  uses_reward_scale = True

  def __init__(self, c: ml_collections.ConfigDict, seed: int, token_types: dict[str, int],
               compiled: bool, head_bias: dict[str, Any] | None = None, space=None):
    """``c``: the ``controller.*`` settings; ``head_bias``: the space's initial head biases
    (``SearchSpace.controller_head_bias``: a space built under ``op_priors``)."""
    self.c, self.token_types = c, dict(token_types)
    self.warm_start, self.space, self.seed = c.get("warm_start", ""), space, seed
    self.warmed, self.depth = False, None
    self.score = None  # the warm-up's scores of untrained networks, from the search loop
    self.head_bias = dict(head_bias or {})
    self.controller = self._controller(seed, compiled)
    self.reinforce = Reinforce(self.controller, c.learning_rate, c.baseline_decay,
                               c.entropy_weight, c.clip_norm or None, compiled=compiled,
                               entropy_in_reward=c.get("entropy_in_reward", False),
                               skip_weight=c.get("skip_weight", 0.0),
                               baseline_per_architecture=c.get("baseline_per_architecture",
                                                               False),
                               adam_beta1=c.get("adam_beta1", 0.9),
                               adam_epsilon=c.get("adam_epsilon", 1e-7))

  def _controller(self, seed: int, compiled: bool) -> Controller:
    c = self.c
    return Controller(self.token_types, c.units, c.num_layers, c.init_range, seed=seed,
                      compiled=compiled, temperature=c.get("temperature", 0.0),
                      tanh_constant=c.get("tanh_constant", 0.0),
                      enas_links=c.get("enas_links", False),
                      skip_target=c.get("skip_target", 0.0),
                      op_tanh_reduce=c.get("op_tanh_reduce", 1.0),
                      biases=c.get("biases", True), head_bias=self.head_bias,
                      sampled_entropy=c.get("sampled_entropy", False))

  @classmethod
  def from_config(cls, config, space, compiled: bool = True) -> "NasRl":
    from nas_tf.strategies.zero_cost import check_warm_start
    check_warm_start("controller.warm_start", config.controller.get("warm_start", ""), config)
    return cls(config.controller, config.seed, space.token_types, compiled,
               space.controller_head_bias(), space)

  def proxies(self) -> list[str]:
    return [self.warm_start] if self.warm_start else []

  def state(self) -> dict[str, Any]:
    return {"warmed": self.warmed}

  def load_state(self, state) -> None:
    self.warmed = bool((state or {}).get("warmed", False))

  def plan_depth(self, depth):
    self.depth = depth
    return depth

  def trackables(self) -> dict[str, Any]:
    return {"controller": self.controller, "optimizer": self.reinforce.optimizer,
            "baseline": self.reinforce.baseline, "baseline_ready": self.reinforce.baseline_ready}

  def settings(self) -> str:
    c = self.c
    warm = (f", warmed up on {c.warm_start_samples} samples scored by {self.warm_start}"
            if self.warm_start else "")
    return (f"controller {c.num_layers}x{c.units}, Adam lr {c.learning_rate:g}, baseline decay "
            f"{c.baseline_decay:g}, entropy weight {c.entropy_weight:g}{warm}")

  def reset(self, seed: int) -> None:
    fresh = self._controller(seed, compiled=False)
    for mine, theirs in zip(self.controller.weights, fresh.weights):
      mine.assign(theirs)
    for variable in self.reinforce.optimizer.variables:  # steps and moments, not the rate
      if variable.name != "learning_rate":
        variable.assign(np.zeros(variable.shape, variable.dtype))
    self.reinforce.baseline.assign(0.0)
    self.reinforce.baseline_ready.assign(False)
    self.warmed, self.seed = False, seed

  def propose(self, plan: Plan, m: int, seed: Sequence[int]) -> np.ndarray:
    if self.warm_start and not self.warmed:
      self._warm_up(plan, m)
    tokens, _ = self.controller.sample(plan, m, seed)
    return tokens

  def _warm_up(self, plan: Plan, m: int) -> None:
    """Batches of m samples (the search's update size) until ``warm_start_samples``."""
    from nas_tf.strategies.zero_cost import ranking
    rng = np.random.default_rng([self.seed, 20210])  # the same warm-up on every resume
    seen: list[dict[str, Any]] = []
    total = self.c.warm_start_samples
    while len(seen) < total:
      tokens, _ = self.controller.sample(plan, m, rng.integers(0, 2**31 - 1, size=2))
      seen += [self.score(self.space.decode(t, self.depth)) for t in tokens]
      order = ranking(self.warm_start, seen)  # best first; ties: the earlier first
      rank = {k: len(seen) - place for place, k in enumerate(order)}
      self.reinforce.update(plan, tokens, [rank[k] / len(seen)
                                           for k in range(len(seen) - m, len(seen))])
      if len(seen) % max(m, 10 * m) < m or len(seen) >= total:
        self.log(f"warm-up: {len(seen)}/{total} samples scored untrained ({self.warm_start})")
    self.reinforce.baseline.assign(0.0)  # the children's rewards are on another scale
    self.reinforce.baseline_ready.assign(False)
    self.warmed = True

  def tell(self, plan: Plan, tokens: np.ndarray, rewards: Sequence[float]) -> dict[str, Any]:
    return self.reinforce.update(plan, tokens, rewards)
