"""``nas-tf compare DIR...``: one table of several work directories, the summary people
otherwise read off NNI's web UI: the method, task and preset of each search, its children,
its best child (metric, parameters), the search's wall time (simulated seconds for a lookup
task) and, once ``nas-tf train`` ran, the final test metric. Read from the files a search
writes (``config.json``, ``children.jsonl``, ``clock.json``, ``final/result.json``), so it
also reads a search still running. Best first, by each task's metric."""

from __future__ import annotations

import os
from typing import Any

from nas_tf import registry
from nas_tf.store import workdir as wd
from nas_tf.runner.journal import format_seconds


class NotASearch(wd.WorkdirError):
  """A directory that holds no search."""


def method_name(config: dict[str, Any]) -> str:
  """The ``--method`` that means this config's strategy and space (the strategy otherwise)."""
  strategy, kind = config["search"]["strategy"], config.get("space", {}).get("kind")
  names = [name for name, entry in registry.METHODS.items() if entry.strategy == strategy
           and (entry.kind is None or kind is None or entry.kind == kind)]
  exact = [name for name in names if registry.METHODS[name].kind == kind]
  return (exact or names or [strategy])[0]


def summary(workdir: str) -> dict[str, Any]:
  """One row of the table: what ``workdir``'s files say."""
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    raise NotASearch(f"{workdir}: no search here (no config.json)")
  config = wd.read_json(path)
  task_name = config["task"]
  try:
    task = registry.task_class(task_name)
    metric, higher = task.metric, task.higher_is_better
    simulated = bool(getattr(task, "simulated", False))
  except Exception:  # a custom task whose module is not importable here
    metric, higher, simulated = None, True, False
  children = os.path.join(workdir, "children.jsonl")
  rows = wd.read_jsonl(children) if os.path.exists(children) else []
  ok = [r for r in rows if r.get("status") == "ok"]
  metric = metric or next((k for k in ("val_accuracy", "val_perplexity") if ok and k in ok[0]),
                          "reward")
  best = wd.best_row(ok, metric, higher)
  if simulated:
    seconds, clock = sum(r.get("simulated_seconds", 0.0) for r in rows), "simulated"
  else:
    clock_path = os.path.join(workdir, "clock.json")
    seconds = wd.read_json(clock_path)["seconds"] if os.path.exists(clock_path) else None
    clock = "wall"
  final_path = os.path.join(workdir, "final", "result.json")
  final = wd.read_json(final_path) if os.path.exists(final_path) else {}
  test_key = next((k for k in final if k.startswith("test_")), None)
  return {"workdir": workdir, "method": method_name(config), "task": task_name,
          "preset": config.get("about", {}).get("preset", "-"), "children": len(ok),
          "failed": len(rows) - len(ok), "metric": metric, "higher": higher,
          "best": best[metric] if best else None, "params": best.get("params") if best else None,
          "seconds": seconds, "clock": clock,
          "final": (test_key, final[test_key]) if test_key else None}


def table(workdirs: list[str]) -> str:
  """The markdown table of ``workdirs``, best first within each metric."""
  if not workdirs:
    raise NotASearch("name the work directories (nas-tf compare DIR DIR ...)")
  rows = [summary(w) for w in workdirs]
  rows.sort(key=lambda r: (r["metric"], r["best"] is None,
                           -(r["best"] or 0) if r["higher"] else (r["best"] or 0)))
  lines = ["| work directory | method | task | preset | children (failed) | best | "
           "parameters | search time | final test |", "|" + " --- |" * 9]
  for r in rows:
    best = f"{r['metric']} {r['best']:.4f}" if r["best"] is not None else "none finished ok"
    params = f"{r['params']:,}" if r["params"] is not None else "-"
    seconds = (f"{format_seconds(r['seconds'])}" + (" simulated" if r["clock"] == "simulated"
                                                     else "")) if r["seconds"] is not None \
        else "-"
    final = f"{r['final'][0]} {r['final'][1]:.4f}" if r["final"] else "not trained"
    lines.append(f"| {r['workdir']} | {r['method']} | {r['task']} | {r['preset']} | "
                 f"{r['children']} ({r['failed']}) | {best} | {params} | {seconds} | {final} |")
  return "\n".join(lines)


def run(workdirs: list[str], logdir: str | None, fail) -> int:
  """``nas-tf compare DIR... [--out=LOGDIR]``; a directory without a search, or a damaged
  file, in one line."""
  from nas_tf.cli.usage import clean_message
  try:
    print(table(workdirs))
    if logdir:
      count = write_tensorboard(workdirs, logdir)
      print(f"HParams of {count} children in one experiment: tensorboard --logdir {logdir}")
    return 0
  except (ValueError, KeyError) as e:
    fail(f"compare: {clean_message(e)}")


# -- one TensorBoard logdir for several searches ---------------------------------------------------
# Each search writes its own HParams experiment (tensorboard/hparams/); TensorBoard pointed at
# their parent takes one of them, arbitrarily, and drops the others' columns and metrics
# (backend_context._find_experiment_tag). So compare --out copies every child's session into
# one logdir under a single experiment: the union of columns, plus search, method and task.
MARKER = "compare.json"


def labels(workdirs: list[str]) -> list[str]:
  """Short, distinct run names: the work directories relative to their common parent."""
  paths = [os.path.abspath(w) for w in workdirs]
  if len(set(paths)) != len(paths):
    raise NotASearch("a work directory is named twice")
  if len(paths) == 1:
    return [os.path.basename(paths[0])]
  common = os.path.commonpath(paths)
  return [os.path.relpath(p, common) if p != common else os.path.basename(p) for p in paths]


def read_sessions(workdir: str) -> list[tuple[str, dict[str, Any], dict[str, float]]]:
  """(child run, hparams, metrics) of every child session ``workdir``'s journal wrote."""
  import tensorflow as tf
  from tensorboard.compat.proto import event_pb2
  from tensorboard.plugins.hparams import metadata
  root = os.path.join(workdir, "tensorboard", "hparams")
  found = []
  runs = sorted(os.listdir(root)) if os.path.isdir(root) else []
  for run in (r for r in runs if os.path.isdir(os.path.join(root, r))):
    hparams, metrics = None, {}
    for name in sorted(os.listdir(os.path.join(root, run))):
      for record in tf.data.TFRecordDataset(os.path.join(root, run, name)):
        for value in event_pb2.Event.FromString(record.numpy()).summary.value:
          if value.tag == metadata.SESSION_START_INFO_TAG:
            info = metadata.parse_session_start_info_plugin_data(
                value.metadata.plugin_data.content)
            hparams = {k: getattr(v, v.WhichOneof("kind")) for k, v in info.hparams.items()}
          elif value.tag.startswith("hparams/"):
            metrics[value.tag] = float(tf.make_ndarray(value.tensor))
    if hparams is not None:
      found.append((run, hparams, metrics))
  return found


def write_tensorboard(workdirs: list[str], logdir: str) -> int:
  """Writes ``workdirs``' children as one HParams experiment in ``logdir``; returns how many
  children it holds. A logdir that this command wrote before is replaced."""
  import shutil
  import tensorflow as tf
  from tensorboard.plugins.hparams import api as hparams_api
  if os.path.isdir(logdir) and os.listdir(logdir):
    if not os.path.exists(os.path.join(logdir, MARKER)):
      raise NotASearch(f"--out={logdir} is not empty and was not written by nas-tf compare")
    shutil.rmtree(logdir)
  sessions, names, tags = [], {"search": None, "method": None, "task": None}, {}
  for workdir, label in zip(workdirs, labels(workdirs)):
    row = summary(workdir)
    for run, hparams, metrics in read_sessions(workdir):
      hparams = {"search": label, "method": row["method"], "task": row["task"], **hparams}
      names.update(dict.fromkeys(hparams))
      tags.update(dict.fromkeys(metrics))
      sessions.append((f"{label}/{run}", hparams, metrics))
  with tf.summary.create_file_writer(logdir).as_default():
    hparams_api.hparams_config(
        hparams=[hparams_api.HParam(name) for name in names],
        metrics=[hparams_api.Metric(tag, display_name=tag.split("/", 1)[1]) for tag in tags])
  for run, hparams, metrics in sessions:
    writer = tf.summary.create_file_writer(os.path.join(logdir, run))
    with writer.as_default(step=0):
      hparams_api.hparams(hparams, trial_id=run)
      for tag, value in metrics.items():
        tf.summary.scalar(tag, value)
    writer.close()
  wd.atomic_write_json(os.path.join(logdir, MARKER), {"workdirs": [os.path.abspath(w) for w in workdirs],
                                                "children": len(sessions)})
  return len(sessions)
