"""A search survives kills and failing children (exact resume, failure rewards, atomic saves)."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import controller_state, records, tiny_cifar_config
from nas_tf.store import workdir as wd
from nas_tf.store.checkpoints import CheckpointStore
from nas_tf.errors import SearchError
from nas_tf.runner.loop import Search
from nas_tf.tasks.cifar10 import Cifar10Task

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Crash(BaseException):
  """An abrupt stop: not an Exception, so nothing in the search catches it."""


def make_search(config, workdir, **kwargs):
  os.makedirs(workdir, exist_ok=True)
  return Search(config, workdir, Cifar10Task(config), log=lambda _: None, **kwargs)


def wait_for_children(proc, jsonl, count, timeout=240):
  """Polls until a search subprocess has recorded ``count`` children (or has exited)."""
  deadline = time.time() + timeout
  while time.time() < deadline and proc.poll() is None:
    if os.path.exists(jsonl) and len(open(jsonl).readlines()) >= count:
      return
    time.sleep(0.05)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("full"))
  search = make_search(tiny_cifar_config(6), workdir)
  search.run()
  return records(workdir), controller_state(search)


def assert_same_as(uninterrupted, workdir, search):
  expected_rows, expected_state = uninterrupted
  assert records(workdir) == expected_rows  # same architectures and rewards, none duplicated
  for got, want in zip(controller_state(search), expected_state, strict=True):
    np.testing.assert_array_equal(got, want)  # bit for bit


def test_resume_after_crash_between_children_is_exact(tmp_path, uninterrupted):
  workdir = str(tmp_path)
  config = tiny_cifar_config(6)

  def crash_after(index):
    if index == 2:  # first child of the second batch is recorded; its batch is not updated
      raise Crash()
  with pytest.raises(Crash):
    make_search(config, workdir, after_child=crash_after).run()
  assert len(records(workdir)) == 3
  trained = []
  resumed = make_search(config, workdir, after_child=trained.append)
  resumed.run()
  assert trained == [3, 4, 5]  # child 2 was reused, not trained again
  assert_same_as(uninterrupted, workdir, resumed)


def test_resume_after_crash_inside_a_child_retrains_it_from_its_seed(tmp_path, uninterrupted,
                                                                     monkeypatch):
  workdir = str(tmp_path)
  config = tiny_cifar_config(6)
  search = make_search(config, workdir)
  real = search.task.train_child
  calls = []

  def dies_in_child_4(arch, seed, **kwargs):
    calls.append(seed)
    if len(calls) == 5:
      raise Crash()
    return real(arch, seed, **kwargs)
  monkeypatch.setattr(search.task, "train_child", dies_in_child_4)
  with pytest.raises(Crash):
    search.run()
  assert len(records(workdir)) == 4
  resumed = make_search(config, workdir)
  resumed.run()
  assert_same_as(uninterrupted, workdir, resumed)


def test_torn_last_line_is_dropped_and_the_child_retrained(tmp_path, uninterrupted):
  workdir = str(tmp_path)
  config = tiny_cifar_config(6)

  def crash_after(index):
    if index == 3:
      raise Crash()
  with pytest.raises(Crash):
    make_search(config, workdir, after_child=crash_after).run()
  path = os.path.join(workdir, "children.jsonl")
  with open(path) as f:
    lines = f.readlines()
  with open(path, "w") as f:  # a kill in the middle of appending child 3's line
    f.writelines(lines[:3] + [lines[3][:40]])
  assert len(wd.read_jsonl(path)) == 3
  assert open(path).read().endswith("\n")  # the torn tail is gone from the file too
  resumed = make_search(config, workdir)
  resumed.run()
  assert_same_as(uninterrupted, workdir, resumed)


def test_kill_9_then_rerun_matches_uninterrupted_run(tmp_path):
  args = ["search", "cifar10", f"--config={ROOT}/configs/cifar10.py:smoke",
          "--config.data.source=synthetic", "--config.search.num_children=6",
          "--config.search.batch_size=2", "--config.search.start_depth=1",
          "--config.search.depth_every=2", "--config.search.depth_step=1",
          "--config.data.max_train_examples=64", "--config.data.max_val_examples=32",
          "--config.space.num_filters=(4,8)", "--config.child.epochs=1"]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  cmd = [sys.executable, "-m", "nas_tf", *args]
  full, killed = str(tmp_path / "full"), str(tmp_path / "killed")
  subprocess.run(cmd + [f"--workdir={full}"], env=env, check=True, capture_output=True)
  proc = subprocess.Popen(cmd + [f"--workdir={killed}"], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  jsonl = os.path.join(killed, "children.jsonl")
  wait_for_children(proc, jsonl, 3)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert len(wd.read_jsonl(jsonl)) < 6, "the search finished before it could be killed"
  rerun = subprocess.run(cmd + [f"--workdir={killed}"], env=env, capture_output=True, text=True)
  assert rerun.returncode == 0, rerun.stderr
  assert "resuming after child" in rerun.stdout
  assert records(killed) == records(full)
  a = tf.train.load_checkpoint(os.path.join(full, "checkpoints", "step-00000003", "ckpt"))
  b = tf.train.load_checkpoint(os.path.join(killed, "checkpoints", "step-00000003", "ckpt"))
  names = [n for n in a.get_variable_to_shape_map() if "OBJECT_GRAPH" not in n]
  assert len(names) > 20
  for name in names:
    np.testing.assert_array_equal(a.get_tensor(name), b.get_tensor(name), err_msg=name)


def test_failing_children_are_recorded_and_the_search_goes_on(tmp_path, monkeypatch):
  config = tiny_cifar_config(6)
  config.search.failure_reward = -0.5
  search = make_search(config, str(tmp_path))
  task = search.task
  real_build, real_train = task.build_model, task.train_child

  def build(arch):
    if task._calls == 1:
      raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor\nmore")
    return real_build(arch)

  def train(arch, seed, **kwargs):
    task._calls = getattr(task, "_calls", -1) + 1
    c = task.config.child
    c.learning_rate, c.timeout_s = 0.05, 0.0
    if task._calls == 0:
      raise RuntimeError("boom")
    if task._calls == 2:
      c.learning_rate = 1e30  # the loss overflows
    if task._calls == 3:
      c.timeout_s = 1e-6
    return real_train(arch, seed, **kwargs)
  monkeypatch.setattr(task, "build_model", build)
  monkeypatch.setattr(task, "train_child", train)
  result = search.run()
  rows = wd.read_jsonl(os.path.join(str(tmp_path), "children.jsonl"))
  assert [r["status"] for r in rows] == ["failed"] * 4 + ["ok"] * 2
  errors = [r["error"] for r in rows[:4]]
  assert errors[0] == "RuntimeError: boom"
  assert errors[1].startswith("ResourceExhaustedError: OOM when allocating tensor")
  assert "non-finite training loss" in errors[2]
  assert "time limit" in errors[3]
  assert all(r["reward"] == -0.5 and r["val_accuracy"] is None for r in rows[:4])
  assert result.children == 6 and result.failed == 4


def test_too_many_consecutive_failures_stop_the_search(tmp_path, monkeypatch):
  config = tiny_cifar_config(6)
  config.search.max_consecutive_failures = 3
  search = make_search(config, str(tmp_path))

  def broken(arch, seed, **kwargs):
    raise ValueError("bad child")
  monkeypatch.setattr(search.task, "train_child", broken)
  with pytest.raises(SearchError, match="3 children failed in a row.*bad child"):
    search.run()
  latest = wd.read_json(os.path.join(str(tmp_path), "checkpoints", "latest.json"))
  assert latest["state"]["children"] == 2  # the checkpoint before the stop is intact


def test_non_finite_controller_update_is_not_applied(tmp_path):
  search = make_search(tiny_cifar_config(2), str(tmp_path))
  plan = search.task.space.plan(2)
  tokens, _ = search.strategy.controller.sample(plan, 2, [0, 0])
  before = controller_state(search)
  stats = search.strategy.reinforce.update(plan, tokens, [np.nan, 1.0])
  assert not stats["finite"]
  for got, want in zip(controller_state(search), before):
    np.testing.assert_array_equal(got, want)


def test_save_interrupted_before_rename_leaves_previous_checkpoint(tmp_path, monkeypatch):
  variable = tf.Variable([1.0, 2.0])
  checkpoint = tf.train.Checkpoint(v=variable)
  store = CheckpointStore(str(tmp_path))
  store.save(1, checkpoint, {"step": 1})
  variable.assign([7.0, 7.0])
  real_replace = os.replace

  def fail_on_directory_rename(src, dst):
    if src.endswith(".tmp") and os.path.isdir(src):
      raise Crash()
    return real_replace(src, dst)
  monkeypatch.setattr(os, "replace", fail_on_directory_rename)
  with pytest.raises(Crash):
    store.save(2, checkpoint, {"step": 2})
  monkeypatch.setattr(os, "replace", real_replace)
  assert store.latest()["step"] == 1
  assert store.restore(checkpoint) == {"step": 1}
  np.testing.assert_array_equal(variable.numpy(), [1.0, 2.0])
  store.save(2, checkpoint, {"step": 2})  # and the next save succeeds over the leftovers
  assert store.latest()["step"] == 2


def test_ctrl_c_keeps_finished_children_and_prints_the_resume_command(tmp_path):
  workdir = str(tmp_path / "w")
  cmd = [sys.executable, "-m", "nas_tf", "search", "cifar10",
         f"--config={ROOT}/configs/cifar10.py:smoke", "--config.data.source=synthetic",
         "--config.search.num_children=40", "--config.search.batch_size=2",
         "--config.search.start_depth=1", "--config.data.max_train_examples=64",
         "--config.data.max_val_examples=32", "--config.space.num_filters=(4,8)",
         "--config.child.epochs=1", f"--workdir={workdir}"]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  jsonl = os.path.join(workdir, "children.jsonl")
  wait_for_children(proc, jsonl, 3)
  proc.send_signal(signal.SIGINT)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 130, err
  assert "interrupted; finished children are saved" in err
  assert "--workdir=" + workdir in err  # the command to rerun
  finished = len(wd.read_jsonl(jsonl))
  assert 3 <= finished < 40
