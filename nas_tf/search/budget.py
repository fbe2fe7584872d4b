"""``search.time_budget``: wall-clock seconds a search may run, summed over all its runs (kept
in ``W/clock.json``), so that rerunning with a larger budget continues where it stopped."""

from __future__ import annotations

import os
import time

from nas_tf import config as config_lib
from nas_tf import workdir as wd
from nas_tf.errors import BudgetSpent
from nas_tf.search.journal import format_seconds


class Budget:
  def __init__(self, workdir: str, time_budget):
    self.limit = config_lib.parse_duration(time_budget or "")
    self.path = os.path.join(workdir, "clock.json")
    self.before = wd.read_json(self.path)["seconds"] if os.path.exists(self.path) else 0.0
    self.started = time.monotonic()

  def elapsed(self) -> float:
    return self.before + time.monotonic() - self.started

  def spent(self) -> bool:
    return self.limit is not None and self.elapsed() >= self.limit

  def save(self) -> None:
    wd.atomic_write_json(self.path, {"seconds": round(self.elapsed(), 3)})

  def check(self) -> None:
    """Raises ``BudgetSpent`` once the budget is spent (call at a boundary)."""
    if self.spent():
      self.save()
      raise BudgetSpent(f"time budget spent ({self.progress()})")

  def progress(self) -> str:
    if self.limit is None:
      return f"{format_seconds(self.elapsed())} elapsed"
    return f"{format_seconds(self.elapsed())} of {format_seconds(self.limit)} budget"
