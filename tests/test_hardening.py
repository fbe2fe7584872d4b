"""Nothing lost, nothing orphaned, one line for every bad file: the machine's failures are not
the child's, processes die with their search, damaged files recover or say which, and every
run with one seed is the same run."""

import contextlib
import errno
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import SHARED, counted_over, records, tiny_cifar_config
from conftest import run_cli as nas_tf
from nas_tf.store import workdir as wd
from nas_tf.errors import InfrastructureError
from nas_tf.runner.loop import Search
from nas_tf.tasks import training
from nas_tf.tasks.cifar10 import Cifar10Task

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = f"--config={ROOT}/configs/cifar10.py:smoke"
TINY = ["--config.data.source=synthetic", "--config.search.batch_size=2",
        "--config.child.epochs=1", "--config.data.max_train_examples=64",
        "--config.data.max_val_examples=32", "--config.search.start_depth=1",
        "--config.space.num_filters=(4,8)"]


def run(config, workdir, **kwargs):
  search = Search(config, workdir, Cifar10Task(config), log=lambda _: None, **kwargs)
  search.run()
  return search


@pytest.fixture(scope="module")
def four_children(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("full"))
  run(tiny_cifar_config(4), workdir)
  return workdir


# -- the machine's failures are not the child's -------------------------------------------------

def test_a_full_disk_stops_the_search_and_the_child_is_trained_after(tmp_path, monkeypatch,
                                                                     four_children):
  workdir = str(tmp_path)
  real = shutil.disk_usage
  saves = []

  def full_at_the_third_child(path):
    saves.append(path)
    usage = real(path)
    return usage._replace(free=1024) if len(saves) == 3 else usage
  monkeypatch.setattr(training.shutil, "disk_usage", full_at_the_third_child)
  with pytest.raises(InfrastructureError, match="child 3: DiskFull: disk full: 0.0 MiB free"):
    run(tiny_cifar_config(4), workdir)
  assert len(records(workdir)) == 2  # child 3 is not a failed child
  assert wd.read_json(os.path.join(workdir, "checkpoints", "latest.json"))["state"]["step"] == 1
  assert not glob.glob(os.path.join(workdir, "weights", "*tmp*"))
  monkeypatch.setattr(training.shutil, "disk_usage", real)  # space freed
  open(os.path.join(workdir, "weights", "child-00009.tmp123.weights.h5"), "w").close()
  open(os.path.join(workdir, "best.json.tmp"), "w").close()
  run(tiny_cifar_config(4), workdir)
  assert records(workdir) == records(four_children)
  assert not glob.glob(os.path.join(workdir, "**", "*tmp*"), recursive=True)


def test_a_full_disk_inside_a_child_s_tensorflow_writer_is_not_the_child_s_failure(
    tmp_path, monkeypatch):
  import tensorflow as tf
  from nas_tf.tasks import executors
  real, trained = executors.train_in_this_process, []

  def full_at_the_second_child(*args, **kwargs):
    trained.append(1)
    if len(trained) == 2:  # as Keras' TensorBoard callback raises it from inside fit
      raise tf.errors.ResourceExhaustedError(
          None, None, "/w/tensorboard/events.out.tfevents.1; No space left on device")
    return real(*args, **kwargs)
  monkeypatch.setattr(executors, "train_in_this_process", full_at_the_second_child)
  with pytest.raises(InfrastructureError,
                     match=r"child 2: disk full \(/w/tensorboard/events.out.tfevents.1\)"):
    run(tiny_cifar_config(2), str(tmp_path))
  assert [r[3] for r in records(str(tmp_path))] == ["ok"]  # child 2 is not a failed child


def test_a_ctrl_c_disguised_as_another_error_inside_a_child_is_not_the_child_s_failure(
    tmp_path, monkeypatch):
  from nas_tf import errors
  from nas_tf.tasks import executors
  real, trained = executors.train_in_this_process, []

  def interrupted_at_the_second_child(*args, **kwargs):
    trained.append(1)
    if len(trained) == 2:  # the handler ran inside C++ code, which raised its own error
      errors.RECEIVED_INTERRUPTS.append(KeyboardInterrupt())
      raise TypeError("affine_transform(): incompatible function arguments")
    return real(*args, **kwargs)
  monkeypatch.setattr(executors, "train_in_this_process", interrupted_at_the_second_child)
  monkeypatch.setattr(errors, "RECEIVED_INTERRUPTS", [])
  with pytest.raises(KeyboardInterrupt):
    run(tiny_cifar_config(2), str(tmp_path))
  assert [r[3] for r in records(str(tmp_path))] == ["ok"]  # child 2 is trained again on resume


@contextlib.contextmanager
def tmpfs(path, size):
  """A real tmpfs of ``size`` at ``path`` (CI runs as root; elsewhere the test skips)."""
  os.makedirs(path, exist_ok=True)
  mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path],
                           capture_output=True, text=True)
  if mounted.returncode:
    pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
  try:
    yield path
  finally:
    subprocess.run(["umount", "-l", path], check=False)


def test_tensorflow_s_checkpoint_and_summary_writers_on_a_full_tmpfs(tmp_path):
  import tensorflow as tf
  from nas_tf.store.checkpoints import CheckpointStore
  from nas_tf.errors import DiskFull, disk_full, disk_full_message
  with tmpfs(str(tmp_path / "fs"), "256k") as fs:
    store = CheckpointStore(os.path.join(fs, "checkpoints"))
    small = tf.Variable(np.arange(10, dtype=np.float32))
    store.save(1, tf.train.Checkpoint(v=small), {"step": 1})
    big = tf.train.Checkpoint(v=small, w=tf.Variable(np.zeros((300, 1000), np.float32)))
    with pytest.raises(DiskFull, match="disk full while writing the checkpoint .*step-00000002"):
      store.save(2, big, {"step": 2})
    assert sorted(os.listdir(store.directory)) == ["latest.json", "step-00000001"]
    small.assign(np.zeros(10, np.float32))
    assert store.restore(tf.train.Checkpoint(v=small)) == {"step": 1}
    assert small.numpy()[9] == 9
  # TensorFlow's summary writer says it in its error's text only (as measured on a tmpfs):
  error = tf.errors.ResourceExhaustedError(None, None, (
      "{{function_node __wrapped__WriteSummary_device_/job:localhost/replica:0/task:0/device:"
      "CPU:0}} /w/tensorboard/events.out.tfevents.1.v2; No space left on device\n\tFailed to "
      "flush 11 events to /w/tensorboard/events.out.tfevents.1.v2 [Op:WriteSummary]"))
  assert disk_full(error)
  assert disk_full_message(error) == "disk full (/w/tensorboard/events.out.tfevents.1.v2)"


def test_a_search_whose_checkpoint_meets_a_full_tmpfs_says_one_line_and_resumes(tmp_path):
  table = os.path.join(SHARED, "nasbench", "nb201_cifar10_cifar100_imagenet16.csv")
  if not os.path.exists(table):
    pytest.skip("../shared/data/nasbench absent")
  args = ["search", "nasbench201", "--config=smoke", f"--config.data.source={table}",
          "--config.search.num_children=6"]
  env = {"NAS_TF_CHECKPOINT_INTERVAL_S": "0"}  # a checkpoint after every update
  whole = nas_tf(*args, f"--workdir={tmp_path}/whole", env=env)
  assert whole.returncode == 0, whole.stderr
  with tmpfs(str(tmp_path / "fs"), "512k") as fs:  # the controller's checkpoint is 272 KB
    workdir = os.path.join(fs, "w")
    full = nas_tf(*args, f"--workdir={workdir}", env=env)
    lines = full.stderr.strip().splitlines()
    assert full.returncode == 1 and len(lines) == 1, full.stderr
    assert "disk full while writing the checkpoint" in lines[0] and "rerun to resume" in lines[0]
    assert 1 <= len(records(workdir)) < 6
    subprocess.run(["mount", "-o", "remount,size=8m", fs], check=True)  # space freed
    again = nas_tf(*args, f"--workdir={workdir}", env=env)
    assert again.returncode == 0, again.stderr
    assert records(workdir) == records(f"{tmp_path}/whole")
    assert not glob.glob(os.path.join(workdir, "**", "*.tmp*"), recursive=True)


def test_a_failed_weights_write_leaves_no_temporary_file(tmp_path):
  import keras

  class Full(keras.Model):
    def save_weights(self, path, *args, **kwargs):
      open(path, "w").write("partial")
      raise OSError(errno.ENOSPC, "No space left on device")
  inputs = keras.Input((2,))
  model = Full(inputs, keras.layers.Dense(1)(inputs))
  with pytest.raises(InfrastructureError, match="disk full while writing"):
    training.save_weights(model, str(tmp_path / "child-00001.weights.h5"))
  assert os.listdir(str(tmp_path)) == []


def test_a_dead_worker_retries_its_child_instead_of_failing_it(tmp_path, monkeypatch,
                                                               four_children):
  from nas_tf.errors import WorkerDied
  workdir = str(tmp_path)
  search = Search(tiny_cifar_config(4), workdir, Cifar10Task(tiny_cifar_config(4)),
                  log=lambda _: None)
  real, calls = search.task.train_child, []

  def dies_once(arch, seed, **kwargs):
    calls.append(seed)
    if len(calls) == 2:
      raise WorkerDied("the worker process died (killed for memory?)")
    return real(arch, seed, **kwargs)
  monkeypatch.setattr(search.task, "train_child", dies_once)
  search.run()
  assert len(calls) == 5 and calls[1] == calls[2]  # the same child, trained again
  assert records(workdir) == records(four_children)


# -- processes die with their search --------------------------------------------------------------

def children_of(pid):
  found = []
  for stat in glob.glob("/proc/[0-9]*/stat"):
    try:
      fields = open(stat).read().rsplit(")", 1)[1].split()
    except OSError:
      continue
    if int(fields[1]) == pid:
      found.append(int(stat.split("/")[2]))
  return found


def alive(pid):
  try:
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
  except OSError:
    return False


def start_search_with_workers(tmp_path, workers=2):
  workdir = str(tmp_path / "w")
  proc = subprocess.Popen(
      [sys.executable, "-m", "nas_tf", "search", "cifar10", SMOKE, *TINY,
       "--config.search.num_children=40", "--config.executor.kind=processes",
       f"--config.executor.workers={workers}", f"--workdir={workdir}"],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  jsonl = os.path.join(workdir, "children.jsonl")
  deadline = time.time() + 240
  while time.time() < deadline and proc.poll() is None:
    if os.path.exists(jsonl) and open(jsonl).read().count("\n") >= 1:
      break
    time.sleep(0.1)
  workers_now = [p for p in children_of(proc.pid) if alive(p)]
  assert len(workers_now) >= workers, "the workers did not start"
  return proc, workers_now, workdir


def assert_gone(pids, within=15.0):
  deadline = time.time() + within
  while time.time() < deadline and any(alive(p) for p in pids):
    time.sleep(0.2)
  assert not [p for p in pids if alive(p)], "worker processes outlived their search"


def test_workers_die_with_a_killed_search(tmp_path):
  proc, workers, _ = start_search_with_workers(tmp_path)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert_gone(workers)


def test_sigterm_stops_like_ctrl_c_and_prints_the_resume_command(tmp_path):
  proc, workers, workdir = start_search_with_workers(tmp_path)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 143, err
  assert "terminated (SIGTERM); finished children are saved" in err
  assert f"--workdir={workdir}" in err
  assert_gone(workers)


SPIN = """
import time
from nas_tf.cli import interrupts
interrupts.install()
interrupts.saving("nothing to save")
import tensorflow as tf
@tf.function
def spin():  # one TensorFlow call of minutes: Python's own handler waits for it to return
  return tf.while_loop(lambda i, x: i < 10**10, lambda i, x: (i + 1, x * 1.0000001),
                       (tf.constant(0, tf.int64), tf.constant(1.0)))
print("spinning", flush=True)
try:
  spin()
  print("spun", flush=True)
except KeyboardInterrupt as e:
  interrupts.exit_interrupted(e)
"""


def test_a_signal_inside_one_long_tensorflow_call_exits_within_ten_seconds():
  proc = subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT)
  try:
    assert proc.stdout.readline().strip() == "spinning"
    time.sleep(1.0)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGTERM)  # Ctrl-C's SIGINT takes the same path
    out, err = proc.communicate(timeout=10)
    assert time.perf_counter() - sent < 10
  finally:
    proc.kill()
  assert proc.returncode == 143 and "spun" not in out, err
  assert "terminated (SIGTERM); nothing to save. Resume with:" in err


SWALLOWED = """
import os, signal
from nas_tf.cli import main as cli, interrupts
interrupts.install()
interrupts.saving("nothing to save")
try:
  try:
    os.kill(os.getpid(), signal.SIGINT)
  except KeyboardInterrupt:  # as pybind11 does mid-conversion: the interrupt becomes a TypeError
    raise TypeError("affine_transform(): incompatible function arguments") from None
except Exception as e:
  cli._report(e, bad_input=(), stopped=())
print("reported", flush=True)
"""


def test_an_interrupt_that_c_code_turned_into_another_error_still_exits_as_interrupted():
  # CI once saw Ctrl-C land inside matplotlib's drawing and exit 1 with a TypeError.
  proc = subprocess.run([sys.executable, "-c", SWALLOWED], capture_output=True, text=True,
                        cwd=ROOT, timeout=120)
  assert proc.returncode == 130, proc.stderr
  assert "interrupted; nothing to save. Resume with:" in proc.stderr
  assert "TypeError" not in proc.stderr and "reported" not in proc.stdout


# -- damaged files --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def searched(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("searched") / "w")
  # A checkpoint after every update (step-1 and step-2), however fast the children are.
  env = {**os.environ, "NAS_TF_CHECKPOINT_INTERVAL_S": "0"}
  result = nas_tf("search", "cifar10", SMOKE, *TINY, "--config.search.num_children=4",
                  f"--workdir={workdir}", env=env)
  assert result.returncode == 0, result.stderr
  return workdir


@pytest.fixture
def finished_search(searched, tmp_path):
  """A copy of one finished 4-child search (made once per module: each costs seconds)."""
  workdir = str(tmp_path / "w")
  shutil.copytree(searched, workdir)
  return workdir


def rerun(workdir, *extra):
  return nas_tf("search", "cifar10", SMOKE, *TINY, "--config.search.num_children=4",
                f"--workdir={workdir}", *extra)


@pytest.mark.parametrize("damage", ["garbage", "empty", "newest deleted"])
def test_a_damaged_checkpoint_pointer_falls_back_to_the_previous_checkpoint(finished_search,
                                                                            damage):
  checkpoints = os.path.join(finished_search, "checkpoints")
  if damage == "newest deleted":
    shutil.rmtree(os.path.join(checkpoints, "step-00000002"))
  else:
    open(os.path.join(checkpoints, "latest.json"), "w").write("" if damage == "empty" else "{{x")
  before = records(finished_search)
  result = rerun(finished_search)
  assert result.returncode == 0, result.stderr
  newest_kept = "step-00000001" if damage == "newest deleted" else "step-00000002"
  assert f"warning: {checkpoints}/latest.json " in result.stderr
  assert f"resuming from {newest_kept}" in result.stderr
  assert records(finished_search) == before  # children 2 and 3 reused, not retrained
  latest = wd.read_json(os.path.join(checkpoints, "latest.json"))
  assert latest["state"]["step"] == 2 and latest["state"]["children"] == 4


def damage_middle_line(workdir):
  path = os.path.join(workdir, "children.jsonl")
  lines = open(path).readlines()
  lines[1] = lines[1][:30] + "\n"
  open(path, "w").writelines(lines)
  return path


def damage_config(workdir):
  open(os.path.join(workdir, "config.json"), "w").write('{"task": "cifar10", ')
  return os.path.join(workdir, "config.json")


def damage_weights(workdir):
  best = wd.read_json(os.path.join(workdir, "best.json"))
  path = wd.child_weights_path(workdir, best["index"])
  open(path, "r+b").truncate(100)
  return path


@pytest.mark.parametrize("damage, command", [
    (damage_middle_line, "search"), (damage_config, "search"), (damage_config, "train"),
    (damage_weights, "export")])
def test_a_damaged_file_stops_with_one_line_naming_it(finished_search, tmp_path, damage,
                                                      command):
  path = damage(finished_search)
  if command == "search":
    result = rerun(finished_search)
  else:
    result = nas_tf(command, f"--workdir={finished_search}", f"--out={tmp_path}/out")
  assert result.returncode == 2, result.stderr
  assert path in result.stderr and "damaged" in result.stderr
  assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_bad_data_and_paths_stop_with_one_line(tmp_path, cifar_tarball):
  tarball, _ = cifar_tarball
  truncated = str(tmp_path / "cut.tar.gz")
  open(truncated, "wb").write(open(tarball, "rb").read()[:5000])
  afile = tmp_path / "afile"
  afile.write_text("x")
  cases = [
      ([SMOKE, f"--config.data.source={truncated}"], f"{truncated}: truncated or damaged"),
      ([f"--config={tmp_path}/nope.py:smoke"], f"--config: {tmp_path}/nope.py: no such file"),
      ([SMOKE, "--config.data.source=synthetic", f"--workdir={afile}"], "is a file, not a dir"),
  ]
  for args, message in cases:
    result = nas_tf("search", "cifar10", *args, f"--workdir={tmp_path}/w") if "--workdir" \
        not in " ".join(args) else nas_tf("search", "cifar10", *args)
    assert result.returncode == 2, (args, result.stderr)
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_an_unreadable_data_folder_says_permission_denied(tmp_path):
  import shutil
  import tempfile
  from conftest import write_cifar_folder
  from nas_tf.data import DataError, cifar10
  # Root reads every folder: as root, a forked child drops to nobody to read it, from a
  # parent folder nobody may enter (tmp_path's parents are root's alone).
  parent = tempfile.mkdtemp(dir="/tmp") if os.geteuid() == 0 else str(tmp_path)
  os.chmod(parent, 0o755)
  folder, _ = write_cifar_folder(parent)
  os.chmod(folder, 0)
  try:
    if os.geteuid() != 0:
      with pytest.raises(DataError, match="permission denied"):
        cifar10.load(folder)
      return
    read, write = os.pipe()
    if os.fork() == 0:  # the child: nobody, then the reader; it reports its error's text
      try:
        os.setgid(65534)
        os.setuid(65534)
        cifar10.load(folder)
        message = "read it"
      except BaseException as e:  # noqa: BLE001 -- reported to the parent
        message = str(e)
      os.write(write, message.encode())
      os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
      message = pipe.read()
    os.wait()
    assert message == f"{folder}: permission denied (cannot list the folder)", message
  finally:
    os.chmod(folder, 0o755)
    if parent != str(tmp_path):
      shutil.rmtree(parent)


# -- values that pass a type check but cannot work -----------------------------------------------

@pytest.mark.parametrize("override, message", [
    ("--config.child.batch_size=100000000", "child.batch_size 100000000 is larger than the "
                                            "training split (64 images)"),
    ("--config.child.timeout_s=-1", "child.timeout_s must be >= 0"),
    ("--config.reward.exponent=nan", "reward.exponent must be a finite number"),
    ("--config.child.learning_rate=inf", "child.learning_rate must be a finite number"),
    ("--config.child.momentum=1.5", "child.momentum must be in [0, 1)"),
    ("--config.child.epoch=3", "--config.child.epoch: unknown key; did you mean 'child.epochs'?"),
])
def test_values_that_cannot_work_fail_fast(tmp_path, override, message):
  result = nas_tf("search", "cifar10", SMOKE, *TINY, override, f"--workdir={tmp_path}/w")
  assert result.returncode == 2 and message in result.stderr, result.stderr
  assert len(result.stderr.strip().splitlines()) == 1, result.stderr
  assert "\\n" not in result.stderr


# -- one seed, one run ------------------------------------------------------------------------------

def test_a_resumed_final_training_equals_an_uninterrupted_one(tmp_path, four_children):
  from nas_tf.products.final import train_final
  config = tiny_cifar_config(4)
  config.final.epochs = 3

  class Stop(Exception):
    pass

  def stop_after_epoch_1(epoch):
    if epoch == 1:
      raise Stop()
  results = []
  for interrupted in (False, True):
    workdir = str(tmp_path / f"w{interrupted}")
    shutil.copytree(four_children, workdir)
    if interrupted:
      with pytest.raises(Stop):
        train_final(config, workdir, Cifar10Task(config), log=lambda _: None,
                    after_epoch=stop_after_epoch_1)
    results.append(train_final(config, workdir, Cifar10Task(config), log=lambda _: None))
  full, resumed = results
  assert resumed["curve"] == full["curve"] and len(full["curve"]) == 3
  assert resumed["test_accuracy"] == full["test_accuracy"]


@pytest.mark.parametrize("strategy", ["nas_rl", "random"])
def test_the_same_seed_gives_the_same_search(tmp_path, strategy, four_children):
  config = tiny_cifar_config(4, **{"search.strategy": strategy})
  run(config, str(tmp_path / "a"))
  if strategy == "nas_rl":  # the module's first nas_rl run is the other
    assert records(str(tmp_path / "a")) == records(four_children)
  else:
    run(config, str(tmp_path / "b"))
    assert records(str(tmp_path / "a")) == records(str(tmp_path / "b"))


def enas_config():
  return tiny_cifar_config(1, **{"search.strategy": "enas", "enas.num_layers": 3,
                                 "enas.channels": 4, "enas.reduce_at": (2,), "enas.epochs": 2,
                                 "enas.controller.steps": 2, "enas.controller.batch": 2,
                                 "enas.derive_samples": 3})


def enas_run(workdir, lines=None, time_budget=""):
  from nas_tf.runner.run import OneShotSearch
  config = enas_config()
  config.search.time_budget = time_budget
  lines = [] if lines is None else lines
  search = OneShotSearch(config, workdir, Cifar10Task(config), log=lines.append)
  result = search.run()
  state = [v.numpy() for v in search.strategy.supernet.weights]
  return [line.split(" | ")[0] for line in lines if line.startswith("[enas epoch")], state, result


def test_enas_is_reproducible_and_resumes_exactly(tmp_path):
  """Run c computes its first epoch on its own, stopped there by its time budget, and
  resumes for the second: equal to run a, so two runs with one seed are the same run, and so
  is a resumed one; the work directory holds the derived architectures, and the best one
  trains from scratch as a child."""
  epochs_a, weights_a, _ = enas_run(str(tmp_path / "a"))
  assert len(epochs_a) == 2
  c = str(tmp_path / "c")
  _, _, stopped = enas_run(c, time_budget="0.5s")  # checked at epoch boundaries
  assert stopped.stopped.startswith("time budget spent") and stopped.best is None
  assert wd.read_json(os.path.join(c, "checkpoints", "latest.json"))["state"]["epoch"] == 1
  assert not os.path.exists(os.path.join(c, "children.jsonl"))
  lines = []
  epochs_c, weights_c, resumed = enas_run(c, lines, time_budget="1h")
  assert not resumed.stopped and resumed.children == 3
  assert any("resuming ENAS after epoch 1/2" in line for line in lines)
  assert epochs_c == epochs_a[1:]  # losses, accuracies, rewards
  for a, b in zip(weights_a, weights_c, strict=True):
    np.testing.assert_array_equal(a, b)
  assert records(c) == records(str(tmp_path / "a"))
  rows = wd.read_jsonl(os.path.join(c, "children.jsonl"))
  n_val = enas_config().data.max_val_examples  # scored on the whole validation split
  assert [r["index"] for r in rows] == [0, 1, 2]
  assert all(r["arch"]["space"] == "enas_macro" and counted_over(r["val_accuracy"], n_val)
             for r in rows)
  best = wd.read_json(os.path.join(c, "best.json"))
  assert best["val_accuracy"] == max(r["val_accuracy"] for r in rows)
  task = Cifar10Task(enas_config())
  task.prepare()
  metrics = task.train_child(best["arch"], seed=0)
  assert metrics["params"] == best["params"] and counted_over(metrics["val_accuracy"], n_val)
  assert metrics["val_accuracy"] == pytest.approx(max(metrics["val_curve"][-5:]), abs=1e-5)
  assert metrics["reward"] == pytest.approx(metrics["val_accuracy"] ** 3)
