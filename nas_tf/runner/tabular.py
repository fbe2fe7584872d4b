"""Many short searches of a lookup task in memory, for ``benchmarks/tabular.py``.

``simulate`` asks a proposer for architectures and tells it their rewards exactly as the
search loop (``nas_tf.runner.loop``) does for a lookup task: the same random stream, batches,
budget rule (a child starts while the simulated clock is under the budget; a batch cut short
by the budget is not learned from) and failure rewards. It skips the work directory, the
journal and the checkpoints, which cost more than the lookups, so that hundreds of searches
run in minutes; ``tests/test_tabular.py`` checks that it picks the same children as the loop.
"""

from __future__ import annotations

from typing import Any

from nas_tf import config as config_lib
from nas_tf.runtime import seeds
from nas_tf.runner.budget import crosses
from nas_tf.tasks.objective import OverBudget


def simulate(strategy, task, seed: int, batch_size: int, num_children: int,
             time_budget=None, failure_reward: float = 0.0,
             budget_rule: str = "nats_bench") -> list[dict[str, Any]]:
  """The rows of one search: ``index``, ``id``, ``status``, ``reward`` and the table's
  metrics. ``strategy`` is used as it is: ``reset`` it between searches. ``budget_rule``:
  ``nas_bench_201`` drops the child that would take the clock past the budget and ends the
  search, ``nats_bench`` keeps it, as the loop does."""
  limit = config_lib.parse_duration(time_budget or "")
  space, rng = task.space, seeds.generator(seed=seed)
  rows, spent = [], 0.0
  while len(rows) < num_children:
    plan = space.plan(None)
    tokens = strategy.propose(plan, batch_size, rng.integers(0, 2**31 - 1, size=2))
    wanted = min(len(tokens), num_children - len(rows))
    rewards = []
    for k in range(wanted):
      if limit is not None and spent >= limit:
        return rows
      arch = space.decode(tokens[k])
      row = {"index": len(rows), "id": arch["id"], "arch": arch}
      try:
        row.update(status="ok", **task.train_child(arch, 0))
        task.objective.apply(row, task.reward_of)
      except KeyError as e:  # not in the table: a failed child, as in the loop
        row.update(status="failed", reward=failure_reward, error=str(e))
      except OverBudget as e:  # never trained: no simulated time
        task.objective.over_budget_row(row, e, failure_reward)
      if row["status"] == "ok" and crosses(budget_rule, limit, spent,
                                           row.get("simulated_seconds", 0.0)):
        return rows  # dropped, and the search ends, as the loop's Budget.check_crossing
      spent += row.get("simulated_seconds", 0.0)
      rows.append(row)
      rewards.append(row["reward"])
    strategy.tell(plan, tokens[:wanted], rewards)
  return rows


def chosen(rows: list[dict[str, Any]], metric: str) -> dict[str, Any] | None:
  """The search's pick: the child with the best fitness (the first of equals); ``metric``:
  the objective's ``rank_key``."""
  ok = [r for r in rows if r["status"] == "ok"]
  return max(ok, key=lambda r: (r[metric], -r["index"])) if ok else None
