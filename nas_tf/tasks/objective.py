"""What a proposer's search optimizes (``search.objective``), for every task and strategy that
the shared loop drives:

``metric``      the task's metric alone (every paper's reward).
``constraint``  the metric under a hard budget on a cost: a child whose cost is over
                ``target`` is recorded with status ``over_budget`` and the failure reward,
                and never trained (costs are measured on the built network).
``soft``        MnasNet's trade-off (Tan et al. 2019, eq. 2): the metric scaled by
                (cost / target) ^ weight, with the paper's weight -0.07; the task's reward is
                then computed from that value, so rewards rank children as the trade-off does.

Costs (``nas_tf.tasks.costs``): ``params``, ``flops`` and ``latency_ms``; a table reports
only the columns it has. One-shot strategies train a supernet for the metric alone.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from nas_tf import registry
from nas_tf.config import ConfigError

KINDS = ("metric", "constraint", "soft")
COSTS = ("params", "flops", "latency_ms")
MNASNET_WEIGHT = -0.07  # the soft constraint's w (MnasNet, section 3)


def format_cost(value: float) -> str:
  """1,634,378 for counts, 2.291 for milliseconds."""
  return f"{int(value):,}" if float(value).is_integer() else f"{value:,.4g}"


class OverBudget(Exception):
  """A child whose cost is over the hard budget: recorded, never trained. Its costs travel
  in ``args`` so that worker processes pickle them back to the search."""

  def __init__(self, message: str, costs: dict[str, Any]):
    super().__init__(message, costs)

  @property
  def costs(self) -> dict[str, Any]:
    return self.args[1]

  def __str__(self) -> str:
    return self.args[0]


@dataclasses.dataclass(frozen=True)
class Objective:
  metric: str
  higher_is_better: bool = True
  kind: str = "metric"
  cost: str = "params"
  target: float = 0.0
  weight: float = MNASNET_WEIGHT
  latency_calls: int = 30  # timed calls per child for latency_ms (0: not measured)

  @classmethod
  def from_config(cls, config, task) -> "Objective":
    """``config.search.objective`` for ``task`` (ConfigError: a bad kind, cost or target, a
    cost the task does not report, or a one-shot strategy)."""
    o = dict(config.search.get("objective") or {})
    kind, cost = str(o.get("kind", "metric")), str(o.get("cost", "params"))
    if kind not in KINDS:
      raise ConfigError(f"search.objective.kind must be one of {', '.join(KINDS)}, "
                        f"got {kind!r}")
    if cost not in COSTS:
      raise ConfigError(f"search.objective.cost must be one of {', '.join(COSTS)}, "
                        f"got {cost!r}")
    objective = cls(task.metric, task.higher_is_better, kind, cost,
                    float(o.get("target", 0.0)), float(o.get("weight", MNASNET_WEIGHT)),
                    int(o.get("latency_calls", 30)))
    if cost == "latency_ms" and kind != "metric" and objective.latency_calls < 1:
      raise ConfigError("search.objective.latency_calls must be >= 1 to budget latency_ms")
    if kind == "metric":
      return objective
    if not objective.target > 0:
      raise ConfigError(f"search.objective.target must be > 0 for kind={kind} (the "
                        f"{'budget' if kind == 'constraint' else 'target'} of {cost})")
    if cost not in task.cost_names:
      reported = ", ".join(task.cost_names) or "none"
      raise ConfigError(f"search.objective.cost: {task.name} does not report {cost} "
                        f"(it reports: {reported})")
    strategy = registry.STRATEGIES.get(config.search.strategy)
    if strategy is not None and strategy.family == "one_shot":
      raise ConfigError(f"search.objective.kind={kind}: {strategy.label} trains a supernet "
                        "for the metric alone; use a proposer (nas_rl, random, evolution, "
                        "local, guided, pnas)")
    return objective

  @property
  def rank_key(self) -> str:
    """The row's key that orders children (best child, Pareto front's metric axis)."""
    return "objective" if self.kind == "soft" else self.metric

  def describe(self) -> str:
    if self.kind == "constraint":
      return f"{self.metric} with {self.cost} <= {format_cost(self.target)}"
    if self.kind == "soft":
      return f"{self.metric} x ({self.cost}/{format_cost(self.target)})^{self.weight:g}"
    return self.metric

  def check(self, costs: dict[str, Any]) -> None:
    """Raises OverBudget when ``costs`` break the hard budget."""
    if self.kind == "constraint" and costs.get(self.cost) is not None \
        and costs[self.cost] > self.target:
      raise OverBudget(f"{self.cost} {format_cost(costs[self.cost])} > "
                       f"{format_cost(self.target)}", costs)

  def apply(self, row: dict[str, Any], reward_of) -> None:
    """Under the soft objective: the row's ``objective`` value and the reward of it
    (``reward_of``: the task's reward of a metric value)."""
    if self.kind != "soft":
      return
    factor = (float(row[self.cost]) / self.target) ** self.weight
    value = row[self.metric] * factor if self.higher_is_better else row[self.metric] / factor
    row["objective"] = value
    row["reward"] = float(reward_of(value))

  def over_budget_row(self, row: dict[str, Any], error: OverBudget,
                      failure_reward: float) -> None:
    """Fills the row of a child the hard budget kept from training."""
    row.update(status="over_budget", reward=float(failure_reward), error=str(error),
               **{self.metric: None}, **error.costs)


def pareto_front(rows, metric: str, cost: str, higher_is_better: bool = True):
  """The finished children no other beats on both ``metric`` and ``cost`` (lower cost is
  better; among equal points the earlier child), by increasing cost."""
  sign = 1.0 if higher_is_better else -1.0
  points = sorted((r for r in rows if r["status"] == "ok" and r.get(cost) is not None
                   and r.get(metric) is not None),
                  key=lambda r: (r[cost], -sign * r[metric], r["index"]))
  front, best = [], None
  for row in points:
    if best is None or sign * row[metric] > best:
      front.append(row)
      best = sign * row[metric]
  return front
