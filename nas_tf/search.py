"""The search loop shared by every task: sample m children, train them, update, checkpoint.

Resume is exact because everything random is derived from saved state: the controller's
sampling seed comes from a numpy generator whose state is checkpointed after every update,
and each child's seed is a function of the search seed and the child's index. After a kill,
the last checkpoint re-samples the batch that was in flight; children of that batch already
in ``children.jsonl`` are reused, never retrained.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import os
import time
from typing import Any, Callable

import ml_collections
import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

from nas_tf import config as config_lib
from nas_tf import workdir as wd
from nas_tf.errors import SearchError
from nas_tf.executors import make_executor
from nas_tf.strategies import make_strategy


def depth_at(config: ml_collections.ConfigDict, child_index: int) -> int:
  """Depth schedule: start_depth, + depth_step every depth_every children."""
  s = config.search
  return s.start_depth + s.depth_step * (child_index // s.depth_every)


# Tracing the controller's graph for one depth costs seconds; an eager update costs about
# half a second. "auto" traces when a depth is kept for at least this many updates.
COMPILE_MIN_UPDATES_PER_DEPTH = 20


def controller_compiled(config: ml_collections.ConfigDict) -> bool:
  """Whether the controller runs as traced graphs; a function of the config alone, so a
  resumed search makes the same choice (and the same numbers) as the original run."""
  mode = config.controller.compile
  if mode == "auto":
    s = config.search
    updates_per_depth = (s.depth_every / s.batch_size if s.get("depth_step")
                         else s.num_children / s.batch_size)
    return updates_per_depth >= COMPILE_MIN_UPDATES_PER_DEPTH
  return mode == "graph"


def child_seed(search_seed: int, child_index: int) -> int:
  return int(np.random.SeedSequence([search_seed, child_index]).generate_state(1)[0] % (2**31 - 1))


def child_weights_path(workdir: str, index: int) -> str:
  """Where a child's search-time weights are kept (for ``nas-tf export`` without ``train``)."""
  return os.path.join(workdir, "weights", f"child-{index:05d}.weights.h5")


def _one_line(error: BaseException) -> str:
  text = str(error).strip().splitlines()
  return f"{type(error).__name__}: {text[0] if text else ''}"[:500]


def _format_seconds(seconds: float) -> str:
  seconds = int(seconds)
  return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else \
      f"{seconds // 60}m{seconds % 60:02d}s"


def log_picture(writer, tag: str, row: dict[str, Any]) -> None:
  """The child's architecture picture as a TensorBoard image (step = child index)."""
  from nas_tf import diagrams
  png = diagrams.draw(diagrams.graph_for(row["arch"]), "png")
  with writer.as_default(step=row["index"]):
    tf.summary.image(tag, tf.io.decode_png(png, channels=3)[None])
  writer.flush()


@dataclasses.dataclass
class SearchResult:
  best: dict[str, Any] | None
  children: int
  failed: int
  wall_seconds: float
  child_seconds: float  # time inside child build + train + eval


class Search:
  """One search in one work directory; ``run`` starts it or resumes it."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, task,
               log: Callable[[str], None] = print,
               after_child: Callable[[int], None] | None = None):
    self._init_workdir(config, workdir, task, log, after_child)
    self.strategy = make_strategy(config, task.space.token_types, controller_compiled(config))
    self.executor = make_executor(config, task)
    self.checkpoint = tf.train.Checkpoint(**self.strategy.trackables())

  def _init_workdir(self, config, workdir, task, log, after_child) -> None:
    """What every strategy's loop shares: config, task, the work directory's files, logs."""
    config_lib.validate(config)
    self.config, self.task, self.log = config, task, log
    self.space = task.space
    self.total_children = config.search.num_children
    self.after_child = after_child  # test hook: called with a child's index once recorded
    self.workdir = workdir
    self.children_path = os.path.join(workdir, "children.jsonl")
    self.best_path = os.path.join(workdir, "best.json")
    self.store = wd.CheckpointStore(os.path.join(workdir, "checkpoints"))

  @property
  def controller(self):  # nas_rl only
    return self.strategy.controller

  @property
  def reinforce(self):  # nas_rl only
    return self.strategy.reinforce

  # -- state -------------------------------------------------------------------------------------
  def _fresh_state(self) -> dict[str, Any]:
    rng = np.random.Generator(np.random.PCG64(self.config.seed))
    return {"step": 0, "children": 0, "rng": rng.bit_generator.state,
            "consecutive_failures": 0}

  def _save(self, state: dict[str, Any]) -> float:
    started = time.perf_counter()
    self.store.save(state["step"], self.checkpoint, state)
    return time.perf_counter() - started

  # -- children ----------------------------------------------------------------------------------
  def _start_child(self, index: int, step: int, depth: int, arch: dict[str, Any]):
    seed = child_seed(self.config.seed, index)
    row = {"index": index, "step": step, "id": arch["id"], "arch": arch, "seed": seed,
           "depth": depth}
    future = self.executor.submit(arch, seed, child_weights_path(self.workdir, index))
    return future, (row, time.perf_counter())

  def _finish_child(self, future, row: dict[str, Any], started: float,
                    controller_step: int | None = None) -> dict[str, Any]:
    """Turns a finished future into the child's row (a failure reward when it raised) and
    appends it to children.jsonl."""
    try:
      metrics = future.result()
      if not math.isfinite(metrics["reward"]):
        raise FloatingPointError(f"non-finite reward {metrics['reward']}")
      row.update(status="ok", **metrics)
    except (KeyboardInterrupt, SystemExit):
      raise
    except Exception as e:  # any child failure becomes a recorded failure reward
      row.update(status="failed", reward=float(self.config.search.failure_reward),
                 error=_one_line(e), **{self.task.metric: None})
    row["seconds"] = round(time.perf_counter() - started, 3)
    if controller_step is not None:  # asynchronous updates: how old its controller was
      row["staleness"] = controller_step - row["step"]
    wd.append_jsonl(self.children_path, row)
    self._record(row)
    return row

  def _load_finished(self) -> None:
    """Finished children and the best of them, rebuilt from children.jsonl (the record of
    truth: best.json may lag it after a kill)."""
    self.finished = {row["index"]: row for row in wd.read_jsonl(self.children_path)}
    self.best = None
    for row in self.finished.values():
      if self._better(row, self.best):
        self.best = row

  def _open_logs(self) -> None:
    self.writer = tf.summary.create_file_writer(os.path.join(self.workdir, "tensorboard"))
    self._write_hparams_config()
    self.child_seconds = sum(r.get("seconds", 0.0) for r in self.finished.values())
    self.trained_now, self.time_trained_now = 0, 0.0

  def _record(self, row: dict[str, Any]) -> None:
    """Bookkeeping once a child's row is in children.jsonl: best.json, kept weights, logs."""
    self.finished[row["index"]] = row
    self.trained_now += 1
    self.time_trained_now += row["seconds"]
    self.child_seconds += row["seconds"]
    if self._better(row, self.best):
      self.best = row
      wd.atomic_write_json(self.best_path, row)
    self._prune_weights(self.finished)
    self._log_child(self.writer, row, self.best, self.trained_now, self.time_trained_now)
    if self.after_child:
      self.after_child(row["index"])

  def _count_failure(self, state: dict[str, Any], row: dict[str, Any]) -> None:
    state["consecutive_failures"] = (state["consecutive_failures"] + 1
                                     if row["status"] == "failed" else 0)
    if state["consecutive_failures"] >= self.config.search.max_consecutive_failures:
      raise SearchError(f"{state['consecutive_failures']} children failed in a row "
                        f"(search.max_consecutive_failures); last error: {row['error']}")

  def _train_all(self, jobs: list[tuple[int, int, int, dict[str, Any]]]) -> None:
    """Trains (index, step, depth, arch) jobs, up to the executor's capacity at once."""
    queue, in_flight = list(jobs), {}
    while queue or in_flight:
      while queue and len(in_flight) < self.executor.capacity:
        future, info = self._start_child(*queue.pop(0))
        in_flight[future] = info
      done, _ = concurrent.futures.wait(in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
      for future in sorted(done, key=lambda f: in_flight[f][0]["index"]):
        self._finish_child(future, *in_flight.pop(future))

  def _update(self, state: dict[str, Any], plan, tokens, rewards) -> dict[str, Any]:
    stats = self.strategy.tell(plan, tokens, rewards)
    if not stats["finite"]:
      raise SearchError(f"non-finite controller update at step {state['step']} "
                        f"(loss {stats['loss']}, gradient norm {stats['grad_norm']}); "
                        "the last good checkpoint is kept")
    state["step"] += 1
    return stats

  def _log_update(self, state, stats, depth, save_seconds) -> None:
    with self.writer.as_default(step=state["step"]):
      for key in ("reward", "baseline", "loss", "entropy", "grad_norm"):
        if key in stats:
          tf.summary.scalar(f"controller/{key}", stats[key])
      if depth is not None:
        tf.summary.scalar("controller/depth", depth)
      tf.summary.scalar("controller/checkpoint_seconds", save_seconds)
    self.writer.flush()

  # -- the loop ----------------------------------------------------------------------------------
  def run(self) -> SearchResult:
    try:
      return self._run()
    finally:
      self.executor.close()

  def _run(self) -> SearchResult:
    started = time.perf_counter()
    s = self.config.search
    state = self.store.restore(self.checkpoint) or self._fresh_state()
    self._load_finished()
    metric = self.task.metric
    if state["step"]:
      self.log(f"resuming at child {state['children']}/{s.num_children} "
               f"(controller step {state['step']})")
    if not self.task.prepared:
      self.task.prepare()
    mode = "asynchronous" if s.get("async_updates") else "synchronous"
    self.log(f"search {self.task.name} ({s.strategy}, {mode}): {s.num_children} children, "
             f"m={s.batch_size}, {self.executor.capacity} at once, {self.task.data_summary}, "
             f"work directory {self.workdir}")
    self._open_logs()
    if s.get("async_updates"):
      self._run_async(state)
    else:
      self._run_sync(state)
    best = self.best
    if best is not None:
      wd.atomic_write_json(self.best_path, best)
      log_picture(self.writer, "search/best_architecture", best)
    self.writer.close()
    rows = [self.finished[i] for i in sorted(self.finished) if i < s.num_children]
    failed = sum(r["status"] == "failed" for r in rows)
    if best is not None:
      self.log(f"done: {len(rows)} children ({failed} failed); best {metric} "
               f"{best[metric]:.4f} (child {best['index']}, id {best['id']}); "
               f"{self.best_path}")
    else:
      self.log(f"done: {len(rows)} children, none finished ok")
    return SearchResult(best, len(rows), failed, time.perf_counter() - started,
                        self.child_seconds)

  def _rng(self, state):
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state["rng"]
    return rng

  def _run_sync(self, state: dict[str, Any]) -> None:
    """Batches of m children sampled from one controller, trained (in parallel when the
    executor allows), then one update: exactly the paper's synchronous REINFORCE."""
    s, finished = self.config.search, self.finished
    while state["children"] < s.num_children:
      first = state["children"]
      depth = self.task.depth_at(first)
      m = min(s.batch_size, s.num_children - first)
      plan = self.space.plan(depth)
      rng = self._rng(state)
      tokens = self.strategy.propose(plan, m, rng.integers(0, 2**31 - 1, size=2))
      archs = [self.space.decode(tokens[k], depth) for k in range(m)]
      for k, arch in enumerate(archs):
        row = finished.get(first + k)
        if row is not None and row["id"] != arch["id"]:
          raise SearchError(f"{self.children_path}: child {first + k} has architecture "
                            f"{row['id']} but resuming sampled {arch['id']}; the work "
                            "directory does not match this search")
      self._train_all([(first + k, state["step"], depth, arch) for k, arch in enumerate(archs)
                       if first + k not in finished])
      # Counted for reused rows too: the checkpointed count stops at the last update.
      for k in range(m):
        self._count_failure(state, finished[first + k])
      stats = self._update(state, plan, tokens,
                           [finished[first + k]["reward"] for k in range(m)])
      state["children"] = first + m
      state["rng"] = rng.bit_generator.state
      self._log_update(state, stats, depth, self._save(state))

  def _run_async(self, state: dict[str, Any]) -> None:
    """The paper's asynchronous replicas: keep the executor full with children sampled from
    the current controller, and update as soon as m results (of one depth) are in, while the
    others keep training. Each row records its ``staleness`` in controller steps.

    Resume: finished children not yet used by an update are used by the next one; children
    in flight at the last checkpoint are retrained with their architecture and seed; other
    unfinished children are sampled afresh."""
    s, finished = self.config.search, self.finished
    used = set(state.get("used", []))
    in_flight_at_save = {int(k): v for k, v in state.get("in_flight", {}).items()}
    queue = [(i, v["step"], v["depth"], self.space.decode(v["tokens"], v["depth"]))
             for i, v in sorted(in_flight_at_save.items()) if i not in finished]
    pending = [row for i, row in sorted(finished.items())
               if i not in used and i < s.num_children]
    next_index, rng = state["children"], self._rng(state)
    in_flight: dict[Any, tuple[dict[str, Any], float]] = {}
    taken = {i for i, *_ in queue} | set(finished)
    while True:
      while len(in_flight) < self.executor.capacity and (queue or next_index < s.num_children):
        if queue:
          job = queue.pop(0)
        else:
          index, next_index = next_index, next_index + 1
          if index in taken:
            continue
          depth = self.task.depth_at(index)
          plan = self.space.plan(depth)
          tokens = self.strategy.propose(plan, 1, rng.integers(0, 2**31 - 1, size=2))[0]
          job = (index, state["step"], depth, self.space.decode(tokens, depth))
        future, info = self._start_child(*job)
        in_flight[future] = info
      if in_flight:
        done, _ = concurrent.futures.wait(in_flight,
                                          return_when=concurrent.futures.FIRST_COMPLETED)
        for future in sorted(done, key=lambda f: in_flight[f][0]["index"]):
          row = self._finish_child(future, *in_flight.pop(future), controller_step=state["step"])
          self._count_failure(state, row)
          pending.append(row)
      last = not in_flight and not queue and next_index >= s.num_children
      for depth in sorted({r["depth"] for r in pending}, key=lambda d: (d is None, d)):
        group = sorted((r for r in pending if r["depth"] == depth), key=lambda r: r["index"])
        while len(group) >= s.batch_size or (last and group):
          batch, group = group[:s.batch_size], group[s.batch_size:]
          plan = self.space.plan(depth)
          tokens = np.array([r["arch"]["tokens"] for r in batch], np.int32)
          stats = self._update(state, plan, tokens, [r["reward"] for r in batch])
          used.update(r["index"] for r in batch)
          pending = [r for r in pending if r["index"] not in used]
          state.update(children=next_index, rng=rng.bit_generator.state, used=sorted(used),
                       in_flight={str(r["index"]): {"tokens": r["arch"]["tokens"],
                                                    "depth": r["depth"], "step": r["step"]}
                                  for r, _ in in_flight.values()})
          self._log_update(state, stats, depth, self._save(state))
      if last and not pending:
        return

  def _prune_weights(self, finished: dict[int, dict[str, Any]]) -> None:
    """Keeps the weights of the ``search.keep_weights`` best children and deletes those of
    the others and of failed children: paper-scale searches train thousands."""
    ok = [r for r in finished.values() if r["status"] == "ok"]
    sign = -1.0 if self.task.higher_is_better else 1.0
    ok.sort(key=lambda r: (sign * r[self.task.metric], r["index"]))
    keep = {r["index"] for r in ok[:self.config.search.keep_weights]}
    for index in finished:
      path = child_weights_path(self.workdir, index)
      if index not in keep and os.path.exists(path):
        os.remove(path)

  def _better(self, row, best) -> bool:
    if row["status"] != "ok":
      return False
    if best is None:
      return True
    metric = self.task.metric
    return (row[metric] > best[metric]) if self.task.higher_is_better else \
        (row[metric] < best[metric])

  def _log_child(self, writer, row, best, trained_now, time_trained_now):
    metric = self.task.metric
    index = row["index"]
    left = self.total_children - index - 1
    parallel = getattr(getattr(self, "executor", None), "capacity", 1)
    eta = _format_seconds(left * time_trained_now / max(trained_now, 1) / parallel)
    value = row.get(metric)
    result = (f"{metric} {value:.4f} reward {row['reward']:.4f}" if row["status"] == "ok"
              else f"FAILED ({row['error']})")
    best_text = f"{best[metric]:.4f}" if best else "-"
    self.log(f"[child {index + 1}/{self.total_children}] {result} | best {best_text} | "
             f"{row['seconds']:.1f}s | left ~{eta}")
    with writer.as_default(step=index):
      tf.summary.scalar("child/reward", row["reward"])
      tf.summary.scalar("child/seconds", row["seconds"])
      if row["status"] == "ok":
        tf.summary.scalar(f"child/{metric}", value)
        tf.summary.scalar("child/params", row["params"])
      if best:
        tf.summary.scalar(f"search/best_{metric}", best[metric])
      tf.summary.text("child/architecture", self._arch_text(row))
    writer.flush()
    self._log_hparams(row)

  # -- TensorBoard HParams: one session per child, to sort and filter children -------------------
  HPARAM_METRICS = ("reward", "seconds")

  def _hparams_dir(self, run: str = "") -> str:
    return os.path.join(self.workdir, "tensorboard", "hparams", run)

  def _hparam_values(self, row) -> dict[str, Any]:
    values = {"index": row["index"], "status": row["status"],
              **self.space.hparams(row["arch"])}
    if row.get("params") is not None:
      values["params"] = row["params"]
    return values

  def _write_hparams_config(self) -> None:
    depth = self.task.depth_at(0)
    plan = self.space.plan(depth)
    from nas_tf.search_space import plan_length
    example = self.space.decode([0] * plan_length(plan), depth)
    names = list(self._hparam_values({"index": 0, "status": "ok", "params": 0,
                                      "arch": example}))
    metrics = [self.task.metric, *self.HPARAM_METRICS]
    with tf.summary.create_file_writer(self._hparams_dir()).as_default():
      hparams_api.hparams_config(
          hparams=[hparams_api.HParam(name) for name in names],
          metrics=[hparams_api.Metric(f"child/{m}", display_name=m) for m in metrics])

  def _log_hparams(self, row) -> None:
    run = f"child-{row['index']:05d}"
    writer = tf.summary.create_file_writer(self._hparams_dir(run))
    with writer.as_default(step=0):
      hparams_api.hparams(self._hparam_values(row), trial_id=run)
      for m in (self.task.metric, *self.HPARAM_METRICS):
        if row.get(m) is not None:
          tf.summary.scalar(f"child/{m}", row[m])
    writer.close()

  def _arch_text(self, row) -> str:
    body = self.space.describe(row["arch"]).replace("\n", "  \n")
    status = row["status"] if row["status"] == "ok" else f"failed: {row.get('error')}"
    return f"**child {row['index']}** `{row['id']}` ({status})  \n{body}"
