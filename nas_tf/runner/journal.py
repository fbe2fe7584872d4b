"""The record of a search, shared by every strategy: ``children.jsonl`` (the record of truth,
one line per finished child), ``best.json``, ``pareto.json`` (the children no other beats on
both the metric and the objective's cost), the kept weights of the best children, progress
lines, TensorBoard scalars, text and pictures, and one HParams session per child."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

from nas_tf import diagrams
from nas_tf.store import workdir as wd
from nas_tf.spaces.base import plan_length
from nas_tf.tasks.objective import pareto_front


@dataclasses.dataclass
class SearchResult:
  best: dict[str, Any] | None
  children: int
  failed: int
  wall_seconds: float
  child_seconds: float  # time inside child build + train + eval
  stopped: str = ""  # why the search stopped before its end (the time budget), if it did


def children(n: int) -> str:
  """"1 child", "2 children"."""
  return "1 child" if n == 1 else f"{n} children"


def format_seconds(seconds: float) -> str:
  seconds = int(seconds)
  return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else \
      f"{seconds // 60}m{seconds % 60:02d}s"


def pareto_record(rows, task, front=None) -> dict[str, Any] | None:
  """``pareto.json``'s content for ``rows`` (None when no child reports the cost); ``front``:
  their front when already known (the journal keeps it as children finish)."""
  o, metric = task.objective, task.metric
  if front is None:
    front = pareto_front(rows, metric, o.cost, task.higher_is_better)
  if not front:
    return None
  keep = list(dict.fromkeys(("index", "id", o.cost, metric, o.rank_key, task.test_metric)))
  return {"metric": metric, "cost": o.cost, "higher_is_better": task.higher_is_better,
          "objective": o.describe(), "budget": o.target if o.kind == "constraint" else None,
          "finished": sum(r["status"] == "ok" for r in rows),
          "front": [{k: r[k] for k in keep if k in r} for r in front]}


def front_picture(rows, record: dict[str, Any], fmt: str = "png") -> bytes:
  title = (f"Pareto front of {children(record['finished'])}: {record['metric']} against "
           f"{record['cost']} (objective {record['objective']})")
  return diagrams.draw_front(rows, record["front"], record["metric"], record["cost"], title,
                             record["budget"], fmt)


def log_picture(writer, tag: str, row: dict[str, Any]) -> None:
  """The child's architecture picture as a TensorBoard image (step = child index)."""
  png = diagrams.draw(diagrams.graph_for(row["arch"]), "png")
  with writer.as_default(step=row["index"]):
    tf.summary.image(tag, tf.io.decode_png(png, channels=3)[None])
  writer.flush()


class Journal:
  """Appends children and keeps everything derived from them up to date."""

  # Per-child HParams metrics besides the task's metric; under their own tags, so that the
  # sessions' single points do not clutter the main charts.
  HPARAM_METRICS = ("reward", "seconds", "objective")

  def __init__(self, workdir: str, task, total_children: int, keep_weights: int,
               log: Callable[[str], None] = print,
               after_child: Callable[[int], None] | None = None):
    self.workdir, self.task, self.space = workdir, task, task.space
    self.metric = task.metric
    self.rank = task.objective.rank_key  # what orders children: the metric, or the objective
    self.total_children, self.keep_weights = total_children, keep_weights
    self.log, self.after_child = log, after_child  # after_child: test hook, once recorded
    self.show_reward = True  # the progress lines' reward (the loop: only where it matters)
    self.children_path = os.path.join(workdir, "children.jsonl")
    self.best_path = os.path.join(workdir, "best.json")
    self.pareto_path = os.path.join(workdir, "pareto.json")
    self.front: list[dict[str, Any]] = []
    self.parallel = 1  # children trained at once (for the time-left estimate)
    self.budget = None  # a search.budget.Budget: its progress ends each child's line
    self.finished: dict[int, dict[str, Any]] = {}
    self.simulated_seconds = 0.0  # lookup tasks: the table's training time of the children
    self.best = None
    self.writer = None

  def open(self) -> None:
    """Finished children and the best of them, rebuilt from children.jsonl (best.json may lag
    it after a kill), then the TensorBoard writers."""
    self.finished = {row["index"]: row for row in wd.read_jsonl(self.children_path)}
    self.best = None
    for row in self.finished.values():
      if self.better(row, self.best):
        self.best = row
    self.front = self._front(self.finished.values())
    self.writer = tf.summary.create_file_writer(os.path.join(self.workdir, "tensorboard"))
    self._write_hparams_config()
    self.child_seconds = sum(r.get("seconds", 0.0) for r in self.finished.values())
    self.simulated_seconds = sum(r.get("simulated_seconds", 0.0)
                                 for r in self.finished.values())
    self.trained_now, self.time_trained_now = 0, 0.0

  def record(self, row: dict[str, Any]) -> None:
    """Appends a finished child's row, then updates best.json, kept weights and logs."""
    wd.append_jsonl(self.children_path, row)
    self.finished[row["index"]] = row
    self.trained_now += 1
    self.time_trained_now += row["seconds"]
    self.child_seconds += row["seconds"]
    self.simulated_seconds += row.get("simulated_seconds", 0.0)
    if self.better(row, self.best):
      self.best = row
      wd.atomic_write_json(self.best_path, row)
    front = self._front([*self.front, row])  # a new front only when the row joins it
    if [r["index"] for r in front] != [r["index"] for r in self.front]:
      self.front = front
      self._write_front(picture=not self.task.simulated)  # tables: once, at the end
    self._prune_weights()
    self._log_child(row)
    if self.after_child:
      self.after_child(row["index"])

  def better(self, row, best) -> bool:
    if row["status"] != "ok":
      return False
    if best is None:
      return True
    key = self.rank
    if row[key] == best[key]:  # a tie: the earlier child, whatever the order
      return row["index"] < best["index"]      # workers finished in (find_child's rule too)
    return (row[key] > best[key]) if self.task.higher_is_better else (row[key] < best[key])

  def best_text(self) -> str:
    """The best child in words; with a lookup task's reported result (e.g. the 200-epoch
    test accuracy), which the strategy never sees."""
    best, metric, extra = self.best, self.metric, self.task.test_metric
    reported = f", {extra} {best[extra]:.4f}" if self.task.simulated and extra in best else ""
    if self.rank != metric:
      reported += f", objective {best[self.rank]:.4f}"
    return (f"best {metric} {best[metric]:.4f} (child {best['index'] + 1}, id {best['id']})"
            f"{reported}")

  def log_update(self, step: int, stats: dict[str, Any], depth, save_seconds: float) -> None:
    """A strategy update's statistics (controller/* scalars and the strategy's own)."""
    with self.writer.as_default(step=step):
      for key in ("reward", "baseline", "loss", "entropy", "grad_norm"):
        if key in stats:
          tf.summary.scalar(f"controller/{key}", stats[key])
      for key, value in stats.items():  # a strategy's own scalars, e.g. pnas/spearman
        if "/" in key:
          tf.summary.scalar(key, value)
      if depth is not None:
        tf.summary.scalar("controller/depth", depth)
      tf.summary.scalar("controller/checkpoint_seconds", save_seconds)
    self.writer.flush()

  def close(self, rows_limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """Writes the final best.json and its picture; returns (rows, failed count)."""
    if self.best is not None:
      wd.atomic_write_json(self.best_path, self.best)
      log_picture(self.writer, "search/best_architecture", self.best)
    if self.front:
      self._write_front(picture=True)
    self.writer.close()
    rows = [self.finished[i] for i in sorted(self.finished)
            if rows_limit is None or i < rows_limit]
    return rows, sum(r["status"] == "failed" for r in rows)

  def outcome_text(self, rows) -> str:
    over = sum(r["status"] == "over_budget" for r in rows)
    failed = sum(r["status"] == "failed" for r in rows)
    return f"{failed} failed" + (f", {over} over the budget" if over else "")

  def _front(self, rows) -> list[dict[str, Any]]:
    return pareto_front(rows, self.metric, self.task.objective.cost, self.task.higher_is_better)

  def _write_front(self, picture: bool) -> None:
    """pareto.json, and the front's picture in TensorBoard (step = children finished)."""
    rows = list(self.finished.values())
    record = pareto_record(rows, self.task, self.front)
    wd.atomic_write_json(self.pareto_path, record)
    if picture:
      with self.writer.as_default(step=len(rows)):
        tf.summary.image("search/pareto_front",
                         tf.io.decode_png(front_picture(rows, record), channels=3)[None])
      self.writer.flush()

  def _prune_weights(self) -> None:
    """Keeps the weights of the ``keep_weights`` best children and deletes those of the
    others and of failed children: paper-scale searches train thousands."""
    ok = [r for r in self.finished.values() if r["status"] == "ok"]
    sign = -1.0 if self.task.higher_is_better else 1.0
    ok.sort(key=lambda r: (sign * r[self.rank], r["index"]))
    keep = {r["index"] for r in ok[:self.keep_weights]}
    for index in self.finished:
      path = wd.child_weights_path(self.workdir, index)
      if index not in keep and os.path.exists(path):
        os.remove(path)

  def _log_child(self, row) -> None:
    metric, index, best = self.metric, row["index"], self.best
    left = max(0, self.total_children - index - 1)
    eta = format_seconds(left * self.time_trained_now / max(self.trained_now, 1) / self.parallel)
    value = row.get(metric)
    if row["status"] == "ok":  # what the strategy optimizes: the metric, or the objective
      result = f"{metric} {value:.4f}" + (
          f" objective {row[self.rank]:.4f}" if self.rank != metric else "") + (
          f" reward {row['reward']:.4g}" if self.show_reward else "")
    else:
      result = f"{row['status'].replace('_', ' ').upper()} ({row['error']})"
    best_text = f"{best[metric]:.4f}" if best else "-"
    budget = f" | {self.budget.progress()}" if self.budget and self.budget.limit else ""
    cost = (f"{row.get('simulated_seconds', 0.0):.0f} simulated s" if self.task.simulated
            else f"{row['seconds']:.1f}s | left ~{eta}")
    self.log(f"[child {index + 1}/{self.total_children}] {result} | best {best_text} | "
             f"{cost}{budget}")
    with self.writer.as_default(step=index):
      tf.summary.scalar("child/reward", row["reward"])
      tf.summary.scalar("child/seconds", row["seconds"])
      if row["status"] == "ok":
        tf.summary.scalar(f"child/{metric}", value)
      for cost in (*self.task.cost_names, "objective"):
        if row.get(cost) is not None:
          tf.summary.scalar(f"child/{cost}", row[cost])
      if best:
        tf.summary.scalar(f"search/best_{metric}", best[metric])
      tf.summary.text("child/architecture", self._arch_text(row))
    self.writer.flush()
    self._log_hparams(row)

  # -- TensorBoard HParams: one session per child, to sort and filter children -------------------
  def _hparams_dir(self, run: str = "") -> str:
    return os.path.join(self.workdir, "tensorboard", "hparams", run)

  def _hparam_values(self, row) -> dict[str, Any]:
    values = {"index": row["index"], "status": row["status"],
              **self.space.hparams(row["arch"])}
    if row.get("params") is not None:
      values["params"] = row["params"]
    return values

  def _cost_metrics(self) -> list[str]:
    return [c for c in self.task.cost_names if c != "params"]  # params: an hparam, to filter by

  def _write_hparams_config(self) -> None:
    depth = self.space.depth_at(0)
    example = self.space.decode([0] * plan_length(self.space.plan(depth)), depth)
    names = list(self._hparam_values({"index": 0, "status": "ok", "params": 0,
                                      "arch": example}))
    metrics = [self.metric, *self.HPARAM_METRICS, *self._cost_metrics()]
    with tf.summary.create_file_writer(self._hparams_dir()).as_default():
      hparams_api.hparams_config(
          hparams=[hparams_api.HParam(name) for name in names],
          metrics=[hparams_api.Metric(f"hparams/{m}", display_name=m) for m in metrics])

  def _log_hparams(self, row) -> None:
    run = wd.child_name(row["index"])
    writer = tf.summary.create_file_writer(self._hparams_dir(run))
    with writer.as_default(step=0):
      hparams_api.hparams(self._hparam_values(row), trial_id=run)
      for m in (self.metric, *self.HPARAM_METRICS, *self._cost_metrics()):
        if row.get(m) is not None:
          tf.summary.scalar(f"hparams/{m}", row[m])
    writer.close()

  def _arch_text(self, row) -> str:
    body = self.space.describe(row["arch"]).replace("\n", "  \n")
    status = row["status"] if row["status"] == "ok" else f"{row['status']}: {row.get('error')}"
    return f"**child {row['index'] + 1}** `{row['id']}` ({status})  \n{body}"
