"""``nas-tf show``: a child's architecture picture, or with ``--pareto`` the search's Pareto
front (metric against the objective's cost), as PNG and SVG files and in TensorBoard."""

from __future__ import annotations

import os

from nas_tf.store import workdir as wd


def architecture(workdir: str, row, task, out: str | None) -> int:
  from nas_tf import diagrams, registry
  out = out or os.path.join(workdir, "pictures")
  os.makedirs(out, exist_ok=True)
  paths = diagrams.render(row["arch"], os.path.join(out, wd.child_name(row["index"])))
  print(registry.space_class(row["arch"]["space"]).describe(row["arch"]))  # its own space
  scored = (row.get("published") if row[task.metric] is None
            else f"{task.metric} {row[task.metric]:.4f}")
  print(f"child {wd.child_number(row)} ({scored}): {paths['png']}, {paths['svg']}")
  import tensorflow as tf

  from nas_tf.runner.journal import log_picture
  writer = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard"))
  log_picture(writer, "show/architecture", row)
  writer.close()
  return 0


def pareto(workdir: str, task, out: str | None) -> int:
  """Prints the front as a table and writes ``pareto.png`` / ``pareto.svg`` (recomputed from
  children.jsonl, so also for a search still running)."""
  from nas_tf.runner.journal import children, front_picture, pareto_record
  from nas_tf.tasks.objective import format_cost
  rows = wd.read_jsonl(os.path.join(workdir, "children.jsonl"))
  record = pareto_record(rows, task)
  if record is None:
    raise wd.ChildNotFound(f"no finished child of {workdir} reports "
                           f"{task.objective.cost}; there is no Pareto front to draw")
  out = out or os.path.join(workdir, "pictures")
  os.makedirs(out, exist_ok=True)
  paths = {}
  for fmt in ("png", "svg"):
    paths[fmt] = os.path.join(out, f"pareto.{fmt}")
    with open(paths[fmt], "wb") as f:
      f.write(front_picture(rows, record, fmt))
  metric, cost = record["metric"], record["cost"]
  print(f"Pareto front of {children(record['finished'])} (objective {record['objective']}):")
  print(f"{'child':>6} {cost:>14} {metric:>16}  id")
  for point in record["front"]:
    print(f"{point['index'] + 1:>6} {format_cost(point[cost]):>14} {point[metric]:>16.4f}  "
          f"{point['id']}")
  print(f"pictures: {paths['png']}, {paths['svg']}")
  return 0
