"""``search.time_budget``: the seconds a search may run, summed over all its runs, so that
rerunning with a larger budget continues where it stopped.

Wall-clock seconds are kept in ``W/clock.json``. A lookup task's search (``task.simulated``)
counts its children's ``simulated_seconds`` instead, from the journal: the benchmark's
training times, not the milliseconds a lookup takes.
"""

from __future__ import annotations

import os
import time
from typing import Callable

from nas_tf import config as config_lib
from nas_tf.store import workdir as wd
from nas_tf.errors import BudgetSpent
from nas_tf.runner.journal import format_seconds


def crosses(rule: str, limit: float | None, spent: float, cost: float) -> bool:
  """Whether NAS-Bench-201's rule (``rule = nas_bench_201``; its R_EA.py line 217, RANDOM.py
  line 99) leaves out a lookup child that would take the simulated clock from ``spent`` past
  ``limit``. NATS-Bench's (``nats_bench``; regularized_ea.py line 156) keeps it: it started
  under the budget."""
  return rule == "nas_bench_201" and limit is not None and spent + cost > limit


class Budget:
  def __init__(self, workdir: str, search, clock: Callable[[], float] | None = None):
    """``search``: the ``search.*`` block (``time_budget``; ``budget_rule``: what becomes of a
    simulated child that takes the clock past the budget, ``check_crossing``). ``clock``:
    simulated seconds spent so far (None: wall-clock seconds)."""
    self.limit = config_lib.parse_duration(search.get("time_budget", "") or "")
    self.clock, self.rule = clock, search.get("budget_rule", "nats_bench")
    self.path = os.path.join(workdir, "clock.json")
    self.before = wd.read_json(self.path)["seconds"] if os.path.exists(self.path) else 0.0
    self.started = time.monotonic()

  def start(self) -> None:
    """The clock runs from here (the search's start, not its construction)."""
    self.started = time.monotonic()

  def elapsed(self) -> float:
    if self.clock is not None:
      return self.clock()
    return self.before + time.monotonic() - self.started

  def spent(self) -> bool:
    return self.limit is not None and self.elapsed() >= self.limit

  def save(self) -> None:
    if self.clock is None:  # a simulated clock is rebuilt from children.jsonl
      wd.atomic_write_json(self.path, {"seconds": round(self.elapsed(), 3)})

  def check(self) -> None:
    """Raises ``BudgetSpent`` once the budget is spent (call at a boundary)."""
    if self.spent():
      self.save()
      raise BudgetSpent(f"time budget spent ({self.progress()})")

  def check_crossing(self, row) -> None:
    """Ends the search without ``row`` when the rule ``crosses`` leaves it out (a rerun with a
    larger budget looks it up again)."""
    if self.clock is None:
      return
    spent, cost = self.clock(), row.get("simulated_seconds", 0.0)
    if crosses(self.rule, self.limit, spent, cost):
      after = spent + cost
      raise BudgetSpent(f"time budget spent (child {row['index'] + 1} would take the simulated "
                        f"clock to {format_seconds(after)} of {format_seconds(self.limit)}; "
                        "search.budget_rule=nas_bench_201 leaves it out)")

  def progress(self) -> str:
    kind = " simulated" if self.clock is not None else ""
    if self.limit is None:
      return f"{format_seconds(self.elapsed())}{kind} elapsed"
    return f"{format_seconds(self.elapsed())} of {format_seconds(self.limit)}{kind} budget"
