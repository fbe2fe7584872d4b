"""Asynchronous updates (``search.async_updates``), the paper's asynchronous replicas: keep the
executor full with children sampled from the current strategy, and update as soon as m
results (of one depth) are in, while the others keep training. Each row records its
``staleness`` in controller steps.

Resume: finished children not yet used by an update are used by the next one; children in
flight at the last checkpoint are retrained with their architecture and seed; other
unfinished children are sampled afresh.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import numpy as np

from nas_tf.runtime import seeds
from nas_tf.errors import SearchError


class RetryChild(Exception):
  """Raised by ``_finish_child`` for a child whose worker died: submit it again."""


def retry_job(row: dict[str, Any]) -> tuple[int, int, int, dict[str, Any]]:
  return row["index"], row["step"], row["depth"], row["arch"]


def run_async(search, state: dict[str, Any]) -> None:
  """``search``: a ``nas_tf.runner.loop.Search``."""
  s, finished, space = search.config.search, search.journal.finished, search.space
  capacity = search.executor.capacity
  used = set(state.get("used", []))
  in_flight_at_save = {int(k): v for k, v in state.get("in_flight", {}).items()}
  queue = [(i, v["step"], v["depth"], space.decode(v["tokens"], v["depth"]))
           for i, v in sorted(in_flight_at_save.items()) if i not in finished]
  pending = [row for i, row in sorted(finished.items())
             if i not in used and i < s.num_children]
  next_index, rng = state["children"], seeds.generator(state["rng"])
  in_flight: dict[Any, tuple[dict[str, Any], float]] = {}
  taken = {i for i, *_ in queue} | set(finished)
  while True:
    while (len(in_flight) < capacity and (queue or next_index < s.num_children)
           and not search.budget.spent()):
      if queue:
        job = queue.pop(0)
      else:
        index, next_index = next_index, next_index + 1
        if index in taken:
          continue
        depth = search.task.depth_at(index)
        proposed = search._propose(space.plan(depth), 1, rng)
        if len(proposed) == 0:  # a strategy that runs out (PNAS) needs synchronous updates
          raise SearchError(f"strategy {search.config.search.strategy} proposed no "
                            "architecture")
        tokens = proposed[0]
        job = (index, state["step"], depth, space.decode(tokens, depth))
      future, info = search._start_child(*job)
      in_flight[future] = info
    if in_flight:
      done, _ = concurrent.futures.wait(in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
      for future in sorted(done, key=lambda f: in_flight[f][0]["index"]):
        row, started = in_flight.pop(future)
        try:
          row = search._finish_child(future, row, started, controller_step=state["step"])
        except RetryChild:
          queue.insert(0, retry_job(row))
          continue
        search._count_failure(state, row)
        pending.append(row)
    if not in_flight and search.budget.spent():
      search.budget.check()  # unused results are used by the first update after resuming
    last = not in_flight and not queue and next_index >= s.num_children
    for depth in sorted({r["depth"] for r in pending}, key=lambda d: (d is None, d)):
      group = sorted((r for r in pending if r["depth"] == depth), key=lambda r: r["index"])
      while len(group) >= s.batch_size or (last and group):
        batch, group = group[:s.batch_size], group[s.batch_size:]
        tokens = np.array([r["arch"]["tokens"] for r in batch], np.int32)
        used.update(r["index"] for r in batch)
        pending = [r for r in pending if r["index"] not in used]
        state.update(children=next_index, rng=rng.bit_generator.state, used=sorted(used),
                     in_flight={str(r["index"]): {"tokens": r["arch"]["tokens"],
                                                  "depth": r["depth"], "step": r["step"]}
                                for r, _ in in_flight.values()})
        search._update(state, space.plan(depth), tokens, [r["reward"] for r in batch], depth)
    if last and not pending:
      return
