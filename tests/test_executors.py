"""Children in parallel: worker processes, Ray tasks, asynchronous controller updates."""

import os
import subprocess
import threading
import time

import pytest

from conftest import tiny_cifar_config
from nas_tf.store import workdir as wd
from nas_tf.tasks.executors import worker_environments
from nas_tf.runner.loop import Search
from nas_tf.tasks.cifar10 import Cifar10Task


def run_search(config, workdir, **kwargs):
  os.makedirs(workdir, exist_ok=True)
  return Search(config, workdir, Cifar10Task(config), log=lambda _: None, **kwargs).run()


def rows_of(workdir):
  return wd.read_jsonl(os.path.join(workdir, "children.jsonl"))


def test_worker_environments_pin_gpus_or_split_threads():
  gpu = worker_environments(4, ["0", "1"], children_per_gpu=2, threads=3)
  assert [e["CUDA_VISIBLE_DEVICES"] for e in gpu] == ["0", "0", "1", "1"]
  assert all(e["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" for e in gpu)
  cpu = worker_environments(2, [], children_per_gpu=1, threads=1)
  assert [e["CUDA_VISIBLE_DEVICES"] for e in cpu] == ["-1", "-1"]
  assert all(e["TF_NUM_INTRAOP_THREADS"] == "1" for e in cpu)


def test_processes_executor_trains_children_on_two_workers(tmp_path):
  config = tiny_cifar_config(4, **{"executor.kind": "processes", "executor.workers": 2,
                                   "executor.threads_per_worker": 1})
  result = run_search(config, str(tmp_path))
  rows = rows_of(str(tmp_path))
  assert sorted(r["index"] for r in rows) == [0, 1, 2, 3]
  assert all(r["status"] == "ok" for r in rows) and result.children == 4
  workers = {r["worker"] for r in rows}
  assert len(workers) == 2 and all(f":{os.getpid()}" not in w for w in workers)


def test_async_updates_keep_workers_busy_record_staleness_and_resume(tmp_path):
  config = tiny_cifar_config(6, **{"executor.kind": "processes", "executor.workers": 2,
                                   "executor.threads_per_worker": 1,
                                   "search.async_updates": True})

  class Crash(Exception):
    pass

  def crash_after_fourth(index):
    if len(rows_of(str(tmp_path))) == 4:
      raise Crash()
  with pytest.raises(Crash):
    run_search(config, str(tmp_path), after_child=crash_after_fourth)
  result = run_search(config, str(tmp_path))
  rows = rows_of(str(tmp_path))
  # every child exactly once: nothing finished was lost or trained again
  assert sorted(r["index"] for r in rows) == list(range(6))
  assert result.children == 6
  latest = wd.read_json(os.path.join(str(tmp_path), "checkpoints", "latest.json"))
  assert latest["state"]["step"] == 3 and sorted(latest["state"]["used"]) == list(range(6))
  # Staleness: controller updates between a child's proposal and its result; none can
  # finish after the last (third) update, and the first two had no update to miss.
  assert all(0 <= r["staleness"] <= 3 - r["step"] for r in rows)
  assert all(r["staleness"] == 0 for r in rows if r["index"] < 2)


@pytest.fixture
def ray_cluster():
  ray = pytest.importorskip("ray")
  yield ray
  if ray.is_initialized():
    ray.shutdown()


def test_killed_ray_worker_is_retried_and_every_child_is_accounted_for(tmp_path, ray_cluster):
  config = tiny_cifar_config(4, **{"executor.kind": "ray", "executor.workers": 2,
                                   "child.epochs": 3})
  killed = []

  def kill_one_worker_mid_child():
    deadline = time.time() + 240
    while time.time() < deadline and not killed:
      out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
      for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if args.startswith("ray::nas_tf_child"):
          time.sleep(1.0)  # let it get into training
          subprocess.run(["kill", "-9", pid])
          killed.append(int(pid))
          break
      time.sleep(0.2)
  killer = threading.Thread(target=kill_one_worker_mid_child, daemon=True)
  killer.start()
  result = run_search(config, str(tmp_path))
  killer.join(timeout=5)
  assert killed, "no Ray worker was running a child"
  rows = rows_of(str(tmp_path))
  assert sorted(r["index"] for r in rows) == [0, 1, 2, 3]  # each child once: retried or failed
  assert result.children == 4
  assert all(r["status"] == "ok" or "died" in r["error"] or "Worker" in r["error"]
             for r in rows)
  assert all(str(killed[0]) != r.get("worker", ":").split(":")[1] for r in rows)
