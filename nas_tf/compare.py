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
from nas_tf import workdir as wd
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
  sign = 1 if higher else -1
  best = max(ok, key=lambda r: (sign * r[metric], -r["index"])) if ok else None
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
