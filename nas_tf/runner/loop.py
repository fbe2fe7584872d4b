"""The loop that drives every proposer strategy: ask for m children, train them (through the
task and an executor), tell the strategy their rewards, checkpoint.

Resume is exact because everything random derives from saved state: the proposer's sampling
seed from a numpy generator checkpointed with the strategy, each child's seed from the
search seed and its index. After a kill, the last checkpoint re-samples the batches since it
was written; children in ``children.jsonl`` are reused, never retrained, and their rewards
replay the updates. So a checkpoint follows an update only when the last is
``CHECKPOINT_INTERVAL_S`` old, and the end. A larger ``search.num_children`` extends a search
as if it had started with that number.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import time
from typing import Any, Callable

import ml_collections
import numpy as np
import tensorflow as tf

from nas_tf import config as config_lib, registry
from nas_tf.proxies.score import search_scores
from nas_tf.runtime import seeds
from nas_tf.store import workdir as wd
from nas_tf.store.checkpoints import CheckpointStore
from nas_tf.errors import (BudgetSpent, InfrastructureError, SearchError, WorkerDied,
                           disguised_interrupt, disk_full, disk_full_message, one_line)
from nas_tf.runner.asynchronous import RetryChild, retry_job, run_async
from nas_tf.runner.budget import Budget
from nas_tf.runner.journal import Journal, SearchResult, children, format_seconds
from nas_tf.strategies.nas_rl import controller_compiled
from nas_tf.tasks.objective import OverBudget
from nas_tf.tasks.executors import make_executor

# NAS_TF_CHECKPOINT_INTERVAL_S=0: a checkpoint after every update.
CHECKPOINT_INTERVAL_S = float(os.environ.get("NAS_TF_CHECKPOINT_INTERVAL_S", 5.0))


class Search:
  """A proposer's search in one work directory; ``run`` starts it or resumes it."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, task,
               log: Callable[[str], None] = print,
               after_child: Callable[[int], None] | None = None):
    config_lib.validate(config)
    self.config, self.task, self.log, self.workdir = config, task, log, workdir
    self.space = task.space
    self.store = CheckpointStore(os.path.join(workdir, "checkpoints"))
    s = config.search
    self.journal = Journal(workdir, task, s.num_children, s.keep_weights, log, after_child)
    simulated = (lambda: self.journal.simulated_seconds) if task.simulated else None
    self.budget = self.journal.budget = Budget(workdir, s, simulated)
    latest = self.store.latest()
    # Decided once per search: a resumed or extended search keeps the first run's choice.
    saved = (latest or {}).get("state", {}).get("compiled")
    self.compiled = controller_compiled(config) if saved is None else saved
    self.strategy = registry.strategy_class(s.strategy).from_config(config, self.space,
                                                                    self.compiled)
    self.strategy.log = log
    if s.num_children > (self.strategy.max_children() or s.num_children):  # zero_cost's k
      s.num_children = self.journal.total_children = self.strategy.max_children()
    if getattr(self.strategy, "proxies", list)():  # untrained networks' scores (zero_cost, AREA)
      self.strategy.score = search_scores(config, task, workdir, self.strategy.proxies())
    self.journal.show_reward = self.strategy.uses_reward_scale
    self.executor = make_executor(config, task)
    self.retries: dict[int, int] = {}  # child index -> times its worker died
    self.journal.parallel = self.executor.capacity
    self.checkpoint = tf.train.Checkpoint(**self.strategy.trackables())
    self.last_save, self.unsaved = time.monotonic(), False

  # -- state -------------------------------------------------------------------------------------
  def _fresh_state(self) -> dict[str, Any]:
    return {"step": 0, "children": 0, "consecutive_failures": 0, "compiled": self.compiled,
            "rng": seeds.generator(seed=self.config.seed).bit_generator.state,
            "strategy": self.strategy.state()}

  def _save(self, state: dict[str, Any]) -> float:
    started = time.perf_counter()
    state["strategy"] = self.strategy.state()
    self.store.save(state["step"], self.checkpoint, state)
    self.last_save, self.unsaved = time.monotonic(), False
    return time.perf_counter() - started

  def _save_if_due(self, state: dict[str, Any]) -> float:
    """Saves when the last checkpoint is old; asynchronous updates (whose in-flight
    children are part of the state) and batches cut short by num_children always save."""
    if (self.config.search.get("async_updates") or state.get("partial_batch")
        or time.monotonic() - self.last_save >= CHECKPOINT_INTERVAL_S):
      return self._save(state)
    self.unsaved = True
    return 0.0

  # -- children ----------------------------------------------------------------------------------
  def _start_child(self, index: int, step: int, depth: int, arch: dict[str, Any]):
    row = {"index": index, "step": step, "id": arch["id"], "arch": arch,
           "seed": seeds.child_seed(self.config.seed, index), "depth": depth}
    # The clock starts before submit: the in-process executor trains inside it.
    started = time.perf_counter()
    future = self.executor.submit(arch, row["seed"], wd.child_weights_path(self.workdir, index))
    return future, (row, started)

  def _finish_child(self, future, row: dict[str, Any], started: float,
                    controller_step: int | None = None) -> dict[str, Any]:
    """Turns a finished future into the child's recorded row (failed when it raised)."""
    try:
      metrics = future.result()
      if not math.isfinite(metrics["reward"]):
        raise FloatingPointError(f"non-finite reward {metrics['reward']}")
      row.update(status="ok", **metrics)
      self.task.objective.apply(row, self.task.reward_of)
      self.budget.check_crossing(row)  # NAS-Bench-201's rule: as if it never ran
    except (KeyboardInterrupt, SystemExit, BudgetSpent):
      raise
    except OverBudget as e:  # a hard budget's verdict: recorded, never trained
      self.task.objective.over_budget_row(row, e, self.config.search.failure_reward)
    except WorkerDied as e:  # the machine's failure, not the child's: train it again
      self.retries[row["index"]] = self.retries.get(row["index"], 0) + 1
      if self.retries[row["index"]] > self.config.executor.get("max_retries", 2):
        raise InfrastructureError(f"child {row['index'] + 1}: {e}, "
                                  f"{self.retries[row['index']]} times") from None
      self.log(f"[child {row['index'] + 1}] {e}; training it again")
      raise RetryChild() from None
    except (InfrastructureError, MemoryError) as e:  # stop; a rerun trains the child again
      raise InfrastructureError(f"child {row['index'] + 1}: {one_line(e)}") from None
    except Exception as e:  # any child failure becomes a recorded failure reward
      if interrupt := disguised_interrupt(e):  # Ctrl-C, not the child: train it again
        raise interrupt from None
      if disk_full(e):  # TensorBoard's writer inside fit: the machine's failure, not the child's
        raise InfrastructureError(f"child {row['index'] + 1}: {disk_full_message(e)}") from None
      row.update(status="failed", reward=float(self.config.search.failure_reward),
                 error=one_line(e), **{self.task.metric: None})
    row["seconds"] = round(time.perf_counter() - started, 3)
    if controller_step is not None:  # asynchronous updates: how old its controller was
      row["staleness"] = controller_step - row["step"]
    self.journal.record(row)
    self.budget.save()
    return row

  def _count_failure(self, state: dict[str, Any], row: dict[str, Any]) -> None:
    state["consecutive_failures"] = (state["consecutive_failures"] + 1
                                     if row["status"] == "failed" else 0)
    if state["consecutive_failures"] >= self.config.search.max_consecutive_failures:
      raise SearchError(f"{children(state['consecutive_failures'])} failed in a row "
                        f"(search.max_consecutive_failures); last error: {row['error']}")

  def _train_all(self, jobs: list[tuple[int, int, int, dict[str, Any]]]) -> None:
    """Trains (index, step, depth, arch) jobs, up to the executor's capacity at once."""
    queue, in_flight = list(jobs), {}
    while queue or in_flight:
      while queue and len(in_flight) < self.executor.capacity and not self.budget.spent():
        future, info = self._start_child(*queue.pop(0))
        in_flight[future] = info
      if not in_flight:
        break
      done, _ = concurrent.futures.wait(in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
      for future in sorted(done, key=lambda f: in_flight[f][0]["index"]):
        row, started = in_flight.pop(future)
        try:
          self._finish_child(future, row, started)
        except RetryChild:
          queue.insert(0, retry_job(row))
    if queue:
      self.budget.check()  # children left untrained: only a spent budget stops them

  def _update(self, state: dict[str, Any], plan, tokens, rewards, depth) -> None:
    stats = self.strategy.tell(plan, tokens, rewards)
    if not stats["finite"]:
      raise SearchError(f"non-finite controller update at step {state['step']} "
                        f"(loss {stats['loss']}, gradient norm {stats['grad_norm']}); "
                        "the last good checkpoint is kept")
    state["step"] += 1
    state["compiled"] = self.compiled
    self.journal.log_update(state["step"], stats, depth, self._save_if_due(state))

  def _propose(self, plan, m: int, rng) -> np.ndarray:
    return np.asarray(self.strategy.propose(plan, m, rng.integers(0, 2**31 - 1, size=2)))

  # -- the loop ----------------------------------------------------------------------------------
  def run(self) -> SearchResult:
    with wd.WorkdirLock(self.workdir):
      try:
        return self._run()
      finally:
        self.executor.close()

  def _run(self) -> SearchResult:
    started = time.perf_counter()
    self.budget.start()
    s = self.config.search
    for path in wd.remove_temporaries(self.workdir):  # also when driven without claim_search
      self.log(f"removed {path}, left by an interrupted write")
    state = self._restore()
    if not self.task.prepared:
      self.task.prepare()
    self.journal.open()
    if state["step"] or state["children"] or self.journal.finished:
      replayed = len(self.journal.finished) - state["children"]
      replay = (f"; {replayed} finished after it replay from children.jsonl"
                if replayed > 0 else "")
      self.log(f"resuming after child {len(self.journal.finished)}/{s.num_children} "
               f"(checkpoint after child {state['children']}, step {state['step']}{replay})")
    mode = "asynchronous" if s.get("async_updates") else "synchronous"
    budget = (f", time budget {format_seconds(self.budget.limit)} "
              f"({format_seconds(self.budget.elapsed())} spent)" if self.budget.limit else "")
    budget += "" if self.task.objective.kind == "metric" else \
        f", objective {self.task.objective.describe()}"
    self.log(f"search {self.task.name} ({s.strategy}, {mode}): {children(s.num_children)}, "
             f"m={s.batch_size}, {self.executor.capacity} at once, {self.task.data_summary}"
             f"{budget}, work directory {self.workdir}")
    if getattr(self.executor, "where", ""):  # e.g. the Ray cluster and what was checked
      self.log(f"children run {self.executor.where}")
    settings = self.strategy.settings()
    if settings:
      self.log(f"{s.strategy} settings: {settings}")
    stopped = ""
    try:
      if s.get("async_updates"):
        run_async(self, state)
      else:
        self._run_sync(state)
    except BudgetSpent as e:
      stopped = str(e)
    except (SearchError, InfrastructureError):  # the state is the last update's: keep it
      if self.unsaved:
        try:
          self._save(state)
        except (OSError, InfrastructureError):  # a full disk: children.jsonl replays the rest
          pass
      raise
    if self.unsaved:
      self._save(state)
    self.budget.save()
    rows, failed = self.journal.close(rows_limit=s.num_children)
    best = self.journal.best
    protocol = bool(stopped) and self.budget.clock is not None  # a table's budget is its end
    found = (f"{self.journal.best_text()}; {self.journal.best_path}" if best
             else "none finished ok")
    if stopped and not protocol:
      self.log(f"stopped: {stopped} after {len(rows)} of {children(s.num_children)}; {found}. "
               "Rerun the same command with a larger --config.search.time_budget to "
               "continue where it stopped")
    else:
      within = (f" in the simulated time budget of {format_seconds(self.budget.limit)}"
                if protocol else "")
      self.log(f"done: {children(len(rows))} ({self.journal.outcome_text(rows)}){within}; {found}")
    return SearchResult(best, len(rows), failed, time.perf_counter() - started,
                        self.journal.child_seconds, stopped="" if protocol else stopped)

  def _run_sync(self, state: dict[str, Any]) -> None:
    """Batches of m children sampled from one strategy state, trained (in parallel when the
    executor allows), then one update: exactly the paper's synchronous REINFORCE."""
    s, finished = self.config.search, self.journal.finished
    while state["children"] < s.num_children:
      first = state["children"]
      depth = self.strategy.plan_depth(self.task.depth_at(first))
      plan = self.space.plan(depth)
      rng = seeds.generator(state["rng"])
      tokens = self._propose(plan, s.batch_size, rng)
      m = len(tokens)
      if m == 0:  # nothing left to propose (PNAS after its last round)
        break
      archs = [self.space.decode(tokens[k], depth) for k in range(m)]
      for k, arch in enumerate(archs):
        row = finished.get(first + k)
        if row is not None and row["id"] != arch["id"]:
          raise SearchError(f"{self.journal.children_path}: child {first + k + 1} has architecture "
                            f"{row['id']} but resuming sampled {arch['id']}; the work "
                            "directory does not match this search")
      wanted = min(m, s.num_children - first)
      self._train_all([(first + k, state["step"], depth, archs[k]) for k in range(wanted)
                       if first + k not in finished])
      # Counted for reused rows too: the checkpointed count stops at the last update.
      for k in range(wanted):
        self._count_failure(state, finished[first + k])
      state["children"] = first + wanted
      state["rng"] = rng.bit_generator.state
      # A batch cut short by num_children; extending the search undoes its update (below).
      state["partial_batch"] = wanted < m
      self._update(state, plan, tokens[:wanted],
                   [finished[first + k]["reward"] for k in range(wanted)], depth)

  def _restore(self) -> dict[str, Any]:
    """The last checkpoint, or, extending a search past a batch ``num_children`` cut short,
    one before it: the batch is sampled again in full (its finished children reused)."""
    latest = self.store.latest()
    state = (latest or {}).get("state", {})
    if state.get("partial_batch") and self.config.search.num_children > state["children"]:
      self.log(f"extending the search from {state['children']} to "
               f"{children(self.config.search.num_children)}")
      earlier = [k["step"] for k in self.store.kept() if k["step"] < state["step"]]  # any
      state = (self.store.restore(self.checkpoint, step=earlier[0]) if earlier
               else self._fresh_state())
    else:
      state = self.store.restore(self.checkpoint) or self._fresh_state()
    self.strategy.load_state(state.get("strategy"))
    return state
