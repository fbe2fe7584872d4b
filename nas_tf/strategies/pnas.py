"""Progressive neural architecture search (Liu et al., ECCV 2018): cells grown one block per
round, the next round's cells chosen by a learned surrogate.

Round 1 trains every 1-block cell (136 with PNAS's 8 ops; at most ``pnas.beam``, a seeded
random subset when there are more). Round b+1 expands each of round b's cells by one block
in every way, ranks the candidates with a surrogate (``surrogate.py``) fitted on every child
trained so far, and trains the top ``pnas.beam``. The last round's cells have
``pnas.max_blocks`` blocks; the search's answer is its best child, as for every strategy.

A block's two (input, op) pairs are unordered: (in1, op1, in2, op2) and (in2, op2, in1, op1)
are the same block, enumerated once with (in1, op1) <= (in2, op2). One cell serves both
normal and reduction positions (the space's ``same_cell_for_reduction``).

It is a ``Proposer`` of the shared loop: children train through the task and executor and
land in ``children.jsonl``. Its checkpointed state is the round, its beam (with the
surrogate's predictions) and every (cell, reward) told; the surrogate itself is refitted
from those when a round ends, deterministically, so a resumed search (which replays the
rewards from ``children.jsonl``) derives the same beam.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from nas_tf.spaces.base import Plan
from nas_tf.spaces.cell import CellSpace
from nas_tf.strategies.base import Proposer


def blocks_at(position: int, num_ops: int) -> list[list[int]]:
  """Every block at ``position`` (its inputs among the 2 cell inputs and the ``position``
  earlier blocks) once up to swapping its two (input, op) pairs, as [in1, in2, op1, op2]."""
  pairs = [(i, o) for i in range(2 + position) for o in range(num_ops)]
  return [[a[0], b[0], a[1], b[1]] for k, a in enumerate(pairs) for b in pairs[k:]]


def expand(cell: Sequence[int], num_ops: int) -> list[list[int]]:
  """``cell`` (b blocks of tokens) with one more block, in every way."""
  return [list(cell) + block for block in blocks_at(len(cell) // 4, num_ops)]


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
  """Spearman's rank correlation (average ranks for ties); nan for fewer than 2 values or a
  constant side."""
  def ranks(v):
    v = np.asarray(v, np.float64)
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v))
    r[order] = np.arange(len(v))
    for value in np.unique(v):  # ties share their mean rank
      tied = v == value
      r[tied] = r[tied].mean()
    return r
  if len(a) < 2:
    return float("nan")
  ra, rb = ranks(a), ranks(b)
  if ra.std() == 0 or rb.std() == 0:
    return float("nan")
  return float(np.corrcoef(ra, rb)[0, 1])


class Pnas(Proposer):
  name = "pnas"

  def __init__(self, space: CellSpace, beam: int, max_blocks: int, surrogate: dict[str, Any],
               seed: int = 0, reward_exponent: float = 1.0):
    """``reward_exponent``: the task's reward is the metric to this power (NAS-RL's cube);
    the surrogate regresses the metric itself, the validation accuracy, as the paper."""
    if not isinstance(space, CellSpace):
      raise ValueError("pnas searches the cell space (--config.space.kind=cell)")
    if not space.same_cell_for_reduction:
      raise ValueError("pnas searches one cell for normal and reduction positions "
                       "(space.same_cell_for_reduction must be auto or true)")
    max_blocks = max_blocks or space.num_blocks
    if beam < 1 or not 1 <= max_blocks <= space.num_blocks:
      raise ValueError(f"pnas: need beam >= 1 and max_blocks in 1..space.num_blocks "
                       f"({space.num_blocks}), got {beam} and {max_blocks}")
    self.space, self.beam_size, self.max_blocks = space, int(beam), int(max_blocks)
    self.num_ops, self.seed = len(space.ops), int(seed)
    self.reward_exponent = float(reward_exponent)
    self.surrogate_settings = dict(surrogate)
    self.load_state(None)

  @classmethod
  def from_config(cls, config, space, compiled: bool = True) -> "Pnas":
    if config.search.get("async_updates"):
      raise ValueError("pnas chooses a round's cells once the previous round is told; "
                       "use synchronous updates (search.async_updates=false)")
    p = config.pnas
    surrogate = {"kinds": tuple(p.predictors), "ensemble": p.ensemble, "epochs": p.epochs,
                 "units": p.units, "learning_rate": p.learning_rate}
    exponent = config.get("reward", {}).get("exponent", 1.0)
    exponent = exponent if isinstance(exponent, (int, float)) and exponent > 0 else 1.0
    return cls(space, p.beam, p.max_blocks, surrogate, config.seed, exponent)

  def settings(self) -> str:
    s = self.surrogate_settings
    return (f"beam {self.beam_size}, up to {self.max_blocks} blocks, {len(self.space.ops)} ops; "
            f"surrogate: {s['ensemble']} x {'/'.join(s['kinds'])}, {s['epochs']} epochs")

  # -- state ---------------------------------------------------------------------------------
  def state(self) -> dict[str, Any]:
    return {"blocks": self.blocks, "beam": self.beam, "predicted": self.predicted,
            "next": self.next, "told": self.told, "history": self.history,
            "rounds": self.rounds}

  def load_state(self, state) -> None:
    state = state or {}
    self.blocks = int(state.get("blocks", 0))   # the current round's cell size (0: not begun)
    self.beam = [list(t) for t in state.get("beam", [])]
    self.predicted = state.get("predicted")      # the surrogate's scores of the beam
    self.next, self.told = int(state.get("next", 0)), int(state.get("told", 0))
    self.history = [dict(h) for h in state.get("history", [])]  # every cell told, with reward
    self.rounds = [dict(r) for r in state.get("rounds", [])]

  # -- rounds --------------------------------------------------------------------------------
  def _begin(self) -> None:
    every = cells = blocks_at(0, self.num_ops)
    if len(every) > self.beam_size:  # no data yet: a seeded random subset
      rng = np.random.default_rng([self.seed, 1])
      cells = [every[i] for i in sorted(rng.choice(len(every), self.beam_size, replace=False))]
    self._new_round(1, cells, None, len(every), 0.0)

  def _grow(self) -> None:
    from nas_tf.strategies.surrogate import Surrogate  # TensorFlow, only once a round ends
    started = time.perf_counter()
    surrogate = Surrogate(self.num_ops, self.max_blocks, seed=self.seed,
                          **self.surrogate_settings)
    # The metric back from the reward (accuracy^3 -> accuracy; failures at 0 stay 0).
    metric = [np.sign(h["reward"]) * abs(h["reward"]) ** (1.0 / self.reward_exponent)
              for h in self.history]
    surrogate.fit([h["tokens"] for h in self.history], metric)
    candidates = [c for cell in self.beam for c in expand(cell, self.num_ops)]
    scores = surrogate.predict(candidates)
    # The top K by predicted reward; ties keep the candidates' order.
    top = np.argsort(-scores, kind="stable")[:self.beam_size]
    self._new_round(self.blocks + 1, [candidates[i] for i in top],
                    [float(scores[i]) for i in top], len(candidates),
                    time.perf_counter() - started)

  def _new_round(self, blocks: int, cells, predicted, candidates: int, seconds: float) -> None:
    self.blocks, self.beam, self.predicted = blocks, cells, predicted
    self.next = self.told = 0
    self.rounds.append({"blocks": blocks, "candidates": candidates, "trained": len(cells),
                        "surrogate_seconds": round(seconds, 3)})
    fit = f" ranked by the surrogate in {seconds:.1f} s" if predicted is not None else ""
    self.log(f"pnas round {blocks}/{self.max_blocks}: {candidates:,} candidate "
             f"{blocks}-block cells{fit}; training {len(cells)}")

  def _round_ready(self) -> None:
    """Begins the first round, or the next one once every cell of this one is told."""
    if self.blocks == 0:
      self._begin()
    elif self.told == len(self.beam) and self.blocks < self.max_blocks:
      self._grow()

  def plan_depth(self, depth: int | None) -> int:
    self._round_ready()
    return self.blocks

  # -- the Proposer interface ----------------------------------------------------------------
  def propose(self, plan: Plan, m: int, seed: Sequence[int]) -> np.ndarray:
    self._round_ready()
    cells = self.beam[self.next:self.next + m]
    self.next += len(cells)
    return np.asarray(cells, np.int32).reshape(len(cells), 4 * self.blocks)

  def tell(self, plan: Plan, tokens: np.ndarray, rewards: Sequence[float]) -> dict[str, Any]:
    for t, r in zip(tokens, rewards):
      self.history.append({"tokens": [int(x) for x in t], "reward": float(r)})
    self.told += len(tokens)
    stats = {"finite": True, "reward": float(np.mean(rewards)), "pnas/round": self.blocks,
             "pnas/best_reward": max(h["reward"] for h in self.history)}
    if self.told == len(self.beam):  # the round is done: how well the surrogate ranked it
      record = self.rounds[-1]
      stats["pnas/candidates"] = record["candidates"]
      actual = [h["reward"] for h in self.history[-len(self.beam):]]
      if self.predicted is not None:
        rho = spearman(self.predicted, actual)
        if np.isfinite(rho):  # nan for a 1-cell round or constant rewards
          record["spearman"] = stats["pnas/spearman"] = rho
      record["best_reward"] = max(actual)
      rho = (f", surrogate's Spearman rho {record['spearman']:.3f} on them"
             if "spearman" in record else "")
      self.log(f"pnas round {self.blocks} done: best reward {record['best_reward']:.4g}{rho}")
    return stats
