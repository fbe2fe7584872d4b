import glob
import os

import numpy as np

from conftest import tiny_cifar_config
from nas_tf.runner.loop import Search
from nas_tf.spaces.cnn_macro import depth_at
from nas_tf.tasks.cifar10 import Cifar10Task
from nas_tf.store import workdir as wd


def run_search(config, workdir, **kwargs):
  os.makedirs(workdir, exist_ok=True)
  return Search(config, workdir, Cifar10Task(config), log=lambda _: None, **kwargs).run()


def test_three_child_search_writes_the_work_directory(tmp_path):
  workdir = str(tmp_path / "w")
  result = run_search(tiny_cifar_config(3), workdir)
  rows = wd.read_jsonl(os.path.join(workdir, "children.jsonl"))
  assert [r["index"] for r in rows] == [0, 1, 2]
  for r in rows:
    assert r["status"] == "ok"
    assert set(r) >= {"id", "arch", "status", "reward", "val_accuracy", "params", "seconds"}
    assert np.isclose(r["reward"], r["val_accuracy"] ** 3)
    assert r["params"] > 0
  assert [r["depth"] for r in rows] == [1, 1, 2]  # the depth schedule
  best = wd.read_json(os.path.join(workdir, "best.json"))
  assert best["val_accuracy"] == max(r["val_accuracy"] for r in rows)
  assert result.best["id"] == best["id"] and result.children == 3
  latest = wd.read_json(os.path.join(workdir, "checkpoints", "latest.json"))
  assert latest["state"]["step"] == 2 and latest["state"]["children"] == 3
  events = glob.glob(os.path.join(workdir, "tensorboard", "events.out.tfevents.*"))
  assert events
  tags = _tags(events)
  assert {"controller/reward", "controller/baseline", "controller/loss", "controller/entropy",
          "child/val_accuracy", "child/params", "child/seconds", "search/best_val_accuracy",
          "child/architecture"} <= tags


def test_depth_schedule():
  c = tiny_cifar_config()
  c.search.start_depth, c.search.depth_step, c.search.depth_every = 6, 2, 1600
  assert [depth_at(c, i) for i in (0, 1599, 1600, 3200)] == [6, 6, 8, 10]


def _tags(files):
  from tensorboard.backend.event_processing import event_file_loader
  tags = set()
  for f in files:
    for event in event_file_loader.EventFileLoader(f).Load():
      for value in event.summary.value:
        tags.add(value.tag)
  return tags


def test_children_in_recycled_worker_processes_match_in_process(tmp_path):
  in_process = tiny_cifar_config(4)
  run_search(in_process, str(tmp_path / "a"))
  recycled = tiny_cifar_config(4, **{"executor.recycle_every": 2})  # 2 workers, 2 children each
  run_search(recycled, str(tmp_path / "b"))
  rows = lambda d: [(r["id"], r["status"], r["reward"]) for r in  # noqa: E731
                    wd.read_jsonl(os.path.join(str(tmp_path / d), "children.jsonl"))]
  assert rows("b") == rows("a")
  assert all(status == "ok" for _, status, _ in rows("b"))


def test_the_best_of_tied_children_is_the_earliest_whatever_order_they_finish_in(tmp_path):
  # With 2 workers, children 3 and 2 may be recorded in either order; both 0.5: best is 2.
  from nas_tf.runner.journal import Journal

  class Task:
    metric, higher_is_better = "val_accuracy", True
  journal = Journal.__new__(Journal)
  journal.metric, journal.rank, journal.task = "val_accuracy", "val_accuracy", Task()
  rows = [{"index": i, "status": "ok", "val_accuracy": acc}
          for i, acc in ((3, 0.5), (2, 0.5), (1, 0.25))]
  best = None
  for row in rows:
    if journal.better(row, best):
      best = row
  assert best["index"] == 2
  assert not journal.better({"index": 4, "status": "ok", "val_accuracy": 0.5}, best)


def test_progress_lines_show_the_reward_only_where_its_scale_drives_the_strategy(tmp_path):
  # NAS-RL's REINFORCE weighs children by reward (accuracy cubed): its lines show it. Random
  # search and evolution use only the order: their lines show the metric alone; one child
  # is "1 child".
  import re
  for strategy, shows_reward in (("nas_rl", True), ("random", False), ("evolution", False)):
    config = tiny_cifar_config(1, **{"search.strategy": strategy, "search.batch_size": 1})
    if strategy == "evolution":
      config.evolution.population, config.evolution.sample_size = 2, 1
    lines = []
    workdir = str(tmp_path / strategy)
    os.makedirs(workdir)
    Search(config, workdir, Cifar10Task(config), log=lines.append).run()
    child = next(line for line in lines if line.startswith("[child 1/1]"))
    assert re.match(r"\[child 1/1\] val_accuracy \d\.\d{4}( reward [\d.e-]+)? \|", child), child
    assert (" reward " in child) == shows_reward, child
    assert any(line.startswith("done: 1 child (") for line in lines), lines
    assert not any("1 children" in line for line in lines), lines
