"""The work directory across runs: one process at a time, run keys that may change on resume,
extending a search, and directories written by earlier versions."""

import os
import shutil
import signal
import socket
import subprocess
import sys

import ml_collections
import numpy as np
import pytest

from conftest import controller_state, records, tiny_cifar_config
from conftest import run_cli as nas_tf
from nas_tf.store import workdir as wd
from nas_tf.errors import ConfigError
from nas_tf.runner.loop import Search
from nas_tf.tasks.cifar10 import Cifar10Task

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "workdir-v0.1.0")


def run(config, workdir, log=lambda _: None):
  task = Cifar10Task(config)
  task.prepare()
  with wd.WorkdirLock(workdir):
    wd.claim_search(workdir, config, task, log=log)
    search = Search(config, workdir, task, log=log)
    search.run()
  return search


# -- one process at a time ---------------------------------------------------------------------

HOLD_LOCK = ("import sys, time\n"
             "from nas_tf.store import workdir as wd\n"
             "with wd.WorkdirLock(sys.argv[1]):\n"
             "  print('locked', flush=True)\n"
             "  time.sleep(600)\n")


def test_a_second_search_or_train_on_a_directory_in_use_is_refused(tmp_path):
  workdir = str(tmp_path / "w")
  holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, workdir], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == "locked"
    expected = f"work directory {workdir} is in use by pid {holder.pid} on {socket.gethostname()}"
    search = nas_tf("search", "cifar10", f"--config={ROOT}/configs/cifar10.py:smoke",
                    "--config.data.source=synthetic", f"--workdir={workdir}")
    assert search.returncode == 2 and expected in search.stderr, search.stderr
    assert len(search.stderr.strip().splitlines()) == 1
    assert not os.path.exists(os.path.join(workdir, "config.json"))
    # train, on a directory that holds a finished search
    shutil.copytree(FIXTURE, workdir, dirs_exist_ok=True)
    train = nas_tf("train", f"--workdir={workdir}")
    assert train.returncode == 2 and expected in train.stderr, train.stderr
  finally:
    holder.kill()
    holder.wait()
  # The holder died without unlocking: the OS released its lock, the next run takes it.
  with wd.WorkdirLock(workdir):
    assert open(os.path.join(workdir, ".lock")).read().split()[0] == str(os.getpid())


def test_the_lock_is_reentrant_within_a_process_and_released_after(tmp_path):
  workdir = str(tmp_path / "w")
  with wd.WorkdirLock(workdir):
    with wd.WorkdirLock(workdir):
      pass
    assert wd.WorkdirLock._held  # still held by the outer block
  assert not wd.WorkdirLock._held
  holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, workdir], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == "locked"  # we really let go
    with pytest.raises(wd.DirectoryInUse, match=f"in use by pid {holder.pid}"):
      wd.WorkdirLock(workdir).__enter__()
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait()


# -- experiment keys and run keys ------------------------------------------------------------------

def test_run_keys_may_change_on_resume_and_experiment_keys_may_not(tmp_path, cifar_tarball):
  workdir = str(tmp_path / "w")
  tarball, _ = cifar_tarball
  config = tiny_cifar_config(2, **{"data.source": tarball})
  run(config, workdir)
  lines = []
  moved = str(tmp_path / "elsewhere.tar.gz")
  shutil.copy(tarball, moved)
  config.data.source = moved                        # the same data, somewhere else
  config.executor.kind, config.executor.workers = "processes", 2
  task = Cifar10Task(config)
  task.prepare()
  assert wd.claim_search(workdir, config, task, log=lines.append)
  assert lines == ["resuming with changed run settings: data.source, executor.kind, "
                   "executor.workers"]
  assert wd.read_json(os.path.join(workdir, "config.json"))["executor"]["kind"] == "processes"
  other = tiny_cifar_config(2, **{"data.source": "synthetic"})  # other data
  task = Cifar10Task(other)
  task.prepare()
  with pytest.raises(ConfigError, match="not the data the search .* started with"):
    wd.claim_search(workdir, other, task)
  config.child.epochs = 2
  with pytest.raises(wd.DirectoryInUse, match=r"differs in: child.epochs\)"):
    wd.claim_search(workdir, config, Cifar10Task(config))


def test_extending_a_search_equals_starting_it_with_the_larger_number(tmp_path):
  full_dir, extended_dir = str(tmp_path / "full"), str(tmp_path / "extended")
  full = run(tiny_cifar_config(4), full_dir)
  run(tiny_cifar_config(3), extended_dir)  # 3 of 4: the second batch is cut short
  assert len(records(extended_dir)) == 3
  lines = []
  extended = run(tiny_cifar_config(4), extended_dir, log=lines.append)
  assert "extending the search from 3 to 4 children" in lines
  assert "resuming with changed run settings: search.num_children" in lines
  assert records(extended_dir) == records(full_dir)
  for got, want in zip(controller_state(extended), controller_state(full), strict=True):
    np.testing.assert_array_equal(got, want)  # bit for bit
  latest = wd.read_json(os.path.join(extended_dir, "checkpoints", "latest.json"))
  assert latest["state"]["step"] == 2 and latest["state"]["children"] == 4


# -- what a search records ------------------------------------------------------------------------

def test_in_process_children_record_their_training_time(tmp_path):
  config = tiny_cifar_config(2)
  assert config.executor.recycle_every == 0  # the in-process executor
  lines = []
  result = Search(config, str(tmp_path), Cifar10Task(config), log=lines.append).run()
  rows = wd.read_jsonl(os.path.join(str(tmp_path), "children.jsonl"))
  assert all(r["seconds"] > 0 and r["seconds"] >= r["fit_seconds"] for r in rows)
  assert result.child_seconds == pytest.approx(sum(r["seconds"] for r in rows))
  assert not any("| 0.0s |" in line for line in lines if line.startswith("[child"))


def test_a_work_directory_of_v0_1_0_resumes(tmp_path):
  workdir = str(tmp_path / "old")
  shutil.copytree(FIXTURE, workdir)
  before = wd.read_jsonl(os.path.join(workdir, "children.jsonl"))
  assert len(before) == 5
  config = ml_collections.ConfigDict(wd.read_json(os.path.join(workdir, "config.json")))
  lines = []
  search = run(config, workdir, log=lines.append)
  assert any(line.startswith("resuming after child 5/6 (checkpoint after child 4, step 2; 1 finished "
                             "after it replay") for line in lines)
  after = wd.read_jsonl(os.path.join(workdir, "children.jsonl"))
  assert after[:5] == before  # nothing retrained, nothing rewritten
  assert [r["index"] for r in after] == list(range(6)) and after[5]["status"] == "ok"
  latest = wd.read_json(os.path.join(workdir, "checkpoints", "latest.json"))
  assert latest["state"]["step"] == 3 and latest["state"]["children"] == 6
  assert os.path.exists(os.path.join(workdir, "data.json"))
  assert search.strategy.controller is not None


def test_keys_added_by_a_newer_version_do_not_refuse_a_resume(tmp_path):
  wd.claim(str(tmp_path), {"seed": 1, "space": {"kind": "cnn"}})
  # A newer nas-tf adds keys (absent from the stored record): the search resumes.
  assert wd.claim(str(tmp_path), {"seed": 1, "space": {"kind": "cnn", "ops": "enas"},
                                  "evolution": {"population": 10}})
  with pytest.raises(wd.DirectoryInUse, match=r"differs in: space.kind\)"):
    wd.claim(str(tmp_path), {"seed": 1, "space": {"kind": "cell", "ops": "enas"},
                             "evolution": {"population": 10}})


def test_claiming_a_directory_removes_what_interrupted_writes_left_for_every_kind_of_run(
    tmp_path):
  """One-shot searches and final trainings claim their directory without the proposer loop:
  a DARTS checkpoint that a full disk cut short (checkpoints/step-N.tmp/) used to stay."""
  leftovers = ["checkpoints/step-00000002.tmp/ckpt.index", "final/checkpoints/step-3.tmp/x",
               "weights/child-00004.tmp99.weights.h5", "best.json.tmp"]
  for path in leftovers:
    os.makedirs(os.path.dirname(str(tmp_path / "w" / path)), exist_ok=True)
    (tmp_path / "w" / path).write_text("partial")
  (tmp_path / "w" / "checkpoints" / "step-00000001").mkdir()
  said = []
  wd.claim(str(tmp_path / "w"), {"a": 1}, log=said.append)
  for left in ("checkpoints/step-00000002.tmp", "final/checkpoints/step-3.tmp",
               "weights/child-00004.tmp99.weights.h5", "best.json.tmp"):
    assert not (tmp_path / "w" / left).exists(), left
  assert (tmp_path / "w" / "checkpoints" / "step-00000001").is_dir()
  assert len(said) == 4 and all("left by an interrupted write" in s for s in said)
