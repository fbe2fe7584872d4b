"""Runs a search of either strategy family in one work directory.

Proposers go through the shared loop (``loop.Search``). A one-shot strategy runs its own loop
(``OneShot.run``) against an ``OneShotContext`` (config, task, checkpoint store, journal, log,
hooks), then the architectures it ``derive``s are scored with ``evaluate`` and recorded
through the same journal as children: ``children.jsonl`` (marked ``shared_weights``),
``best.json``, TensorBoard. Rerunning resumes: the strategy from its last checkpoint, the
derivation at the first architecture not yet recorded.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable

import ml_collections

from nas_tf import config as config_lib, registry
from nas_tf.runtime import hardware
from nas_tf.store import workdir as wd
from nas_tf.store.checkpoints import CheckpointStore
from nas_tf.errors import BudgetSpent
from nas_tf.runner.budget import Budget
from nas_tf.runner.journal import Journal, SearchResult


@dataclasses.dataclass
class OneShotContext:
  config: ml_collections.ConfigDict
  workdir: str
  task: Any
  store: CheckpointStore
  journal: Journal
  log: Callable[[str], None]
  budget: Budget
  after_epoch: Callable[[int], None] | None = None  # test hook

  def epoch_done(self, epoch: int) -> None:
    """Call after each epoch's checkpoint: raises ``BudgetSpent`` once the time budget is
    spent."""
    self.budget.save()
    if self.after_epoch:
      self.after_epoch(epoch)
    self.budget.check()


class OneShotSearch:
  def __init__(self, config: ml_collections.ConfigDict, workdir: str, task,
               log: Callable[[str], None] = print,
               after_epoch: Callable[[int], None] | None = None,
               after_child: Callable[[int], None] | None = None):
    config_lib.validate(config)
    self.config, self.task, self.log, self.workdir = config, task, log, workdir
    if not task.prepared:
      task.prepare()
    self.strategy = registry.strategy_class(config.search.strategy, task.space.name).from_config(
        config, task.space, task)
    self.journal = Journal(workdir, task, self.strategy.num_derived, config.search.keep_weights,
                           log, after_child)
    self.ctx = OneShotContext(config, workdir, task,
                              CheckpointStore(os.path.join(workdir, "checkpoints")),
                              self.journal, log,
                              Budget(workdir, config.search),
                              after_epoch)

  def run(self) -> SearchResult:
    with wd.WorkdirLock(self.workdir), hardware.graph_optimizer_off_without_gpu():
      return self._run()

  def _run(self) -> SearchResult:
    started = time.perf_counter()
    self.ctx.budget.start()  # as the proposer loop: the clock runs from the search's start
    self.journal.open()
    try:
      self.ctx.budget.check()
      self.strategy.run(self.ctx)
    except BudgetSpent as e:
      self.journal.close()
      self.log(f"stopped: {e}, before deriving architectures. Rerun the same command with a "
               "larger --config.search.time_budget to continue where it stopped")
      return SearchResult(None, 0, 0, time.perf_counter() - started, 0.0, stopped=str(e))
    for index, arch in enumerate(self.strategy.derive(self.ctx)):
      if index in self.journal.finished:
        continue
      t0 = time.perf_counter()
      metrics = self.strategy.evaluate(self.ctx, arch)
      self.journal.record({"index": index, "step": None, "id": arch["id"], "arch": arch,
                           "seed": None, "depth": self.task.depth_at(index), "status": "ok",
                           "shared_weights": True, **metrics,
                           "seconds": round(time.perf_counter() - t0, 3)})
    rows, _ = self.journal.close()
    best, metric = self.journal.best, self.task.metric
    plural = "s" if len(rows) != 1 else ""
    self.log(f"done: {len(rows)} derived architecture{plural}; best {metric} {best[metric]:.4f} "
             f"with the shared weights (child {best['index'] + 1}, id {best['id']}); train it "
             f"from scratch: nas-tf train --workdir={self.workdir}")
    return SearchResult(best, len(rows), 0, time.perf_counter() - started,
                        self.journal.child_seconds)


def make_search(config: ml_collections.ConfigDict, workdir: str, task, **hooks):
  """The search for ``config.search.strategy``'s family; ``run()`` starts or resumes it."""
  family = registry.STRATEGIES[config.search.strategy].family
  if family == "one_shot":
    return OneShotSearch(config, workdir, task, **hooks)
  from nas_tf.runner.loop import Search
  hooks.pop("after_epoch", None)
  return Search(config, workdir, task, **hooks)
