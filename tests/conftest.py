import os
import pickle
import subprocess
import sys
import tarfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
CIFAR_MINI = os.path.join(SHARED, "cifar10-mini", "cifar-10-python.tar.gz")
# The real-data tests skip cleanly without ../shared/data; CI always has it, so there
# (.ci/run sets NAS_TF_REQUIRE_SHARED_DATA=1) its absence fails the run instead.
SHARED_DATA = (CIFAR_MINI, os.path.join(SHARED, "ptb-mini"), os.path.join(SHARED, "nasbench"))


def pytest_configure(config):
  # TensorFlow's thread pools sized to this test process's share of the cores (pytest-xdist
  # runs one process per core; TF's default pools, every core each, oversubscribe: measured
  # on 2 cores, test_enas + test_darts + test_pnas 221 s -> 206 s). Set before any test
  # module imports TensorFlow; subprocesses inherit it.
  workers = getattr(config, "workerinput", {}).get(
      "workercount", getattr(config.option, "numprocesses", None))
  workers = workers if isinstance(workers, int) and workers > 0 else 1
  threads = str(max(1, (os.cpu_count() or 1) // workers))
  os.environ.setdefault("TF_NUM_INTRAOP_THREADS", threads)
  os.environ.setdefault("TF_NUM_INTEROP_THREADS", threads)


def pytest_sessionstart(session):
  missing = [p for p in SHARED_DATA if not os.path.exists(p)]
  if os.environ.get("NAS_TF_REQUIRE_SHARED_DATA") == "1" and missing:
    raise pytest.UsageError(f"NAS_TF_REQUIRE_SHARED_DATA=1 but {', '.join(missing)} "
                            "missing: the real-data tests would be skipped")


def write_cifar_folder(root, per_batch=20, seed=0):
  """Writes a tiny cifar-10-batches-py folder in the real pickle format; returns the images."""
  rng = np.random.default_rng(seed)
  folder = os.path.join(root, "cifar-10-batches-py")
  os.makedirs(folder, exist_ok=True)
  written = {}
  for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
    images = rng.integers(0, 256, size=(per_batch, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=per_batch).tolist()
    data = images.transpose(0, 3, 1, 2).reshape(per_batch, 3072)  # channel-major rows
    with open(os.path.join(folder, name), "wb") as f:
      pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                   b"filenames": [b"x.png"] * per_batch}, f)
    written[name] = (images, labels)
  with open(os.path.join(folder, "batches.meta"), "wb") as f:
    pickle.dump({b"label_names": [b"c%d" % i for i in range(10)]}, f)
  return folder, written


@pytest.fixture
def cifar_tarball(tmp_path):
  folder, written = write_cifar_folder(str(tmp_path / "src"))
  path = str(tmp_path / "cifar-10-python.tar.gz")
  with tarfile.open(path, "w:gz") as tar:
    tar.add(folder, arcname="cifar-10-batches-py")
  return path, written


def load_config(preset="smoke", task="cifar10"):
  import importlib.util
  path = os.path.join(os.path.dirname(__file__), "..", "configs", f"{task}.py")
  spec = importlib.util.spec_from_file_location(f"config_{task}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(preset)


def tiny_cifar_config(num_children=3, **overrides):
  """A seconds-long synthetic CNN search."""
  c = load_config("smoke")
  c.data.source = "synthetic"
  c.data.max_train_examples = 64
  c.data.max_val_examples = 32
  c.space.filter_heights = (1, 3)
  c.space.filter_widths = (1, 3)
  c.space.num_filters = (4, 8)
  c.search.num_children = num_children
  c.search.batch_size = 2
  c.search.start_depth = 1
  c.search.depth_every = 2
  c.search.depth_step = 1
  c.child.epochs = 1
  c.child.batch_size = 32
  for key, value in overrides.items():
    node = c
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return c


def tiny_ptb_config(source="synthetic", children=2):
  """A seconds-long synthetic recurrent-cell search."""
  c = load_config("smoke", task="ptb")
  c.data.source = source
  c.search.num_children = children
  c.search.batch_size = 2
  c.child.units = 16
  c.child.epochs = 1
  c.child.batch_size = 8
  c.child.bptt = 10
  c.data.max_train_tokens = 2000
  c.data.max_valid_tokens = 400
  return c


# Loads a SavedModel in a fresh interpreter that has never imported nas_tf, calls its
# serving_default signature on a saved input and writes the output.
SERVE = """
import sys
import numpy as np
import tensorflow as tf
path, x_path, y_path = sys.argv[1:]
loaded = tf.saved_model.load(path)
fn = loaded.signatures["serving_default"]
(name,) = fn.structured_input_signature[1]
outputs = fn(**{name: tf.constant(np.load(x_path))})
(y,) = outputs.values()
assert not any(m.startswith("nas_tf") for m in sys.modules), "nas_tf was imported"
np.save(y_path, y.numpy())
"""


def serve_in_tensorflow_only_process(saved_model, x, tmp_path):
  x_path, y_path = str(tmp_path / "x.npy"), str(tmp_path / "y.npy")
  np.save(x_path, x)
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ""}
  subprocess.run([sys.executable, "-c", SERVE, saved_model, x_path, y_path], check=True,
                 env=env, cwd=str(tmp_path), capture_output=True, timeout=300)
  return np.load(y_path)


def docs_command(page: str, containing: str) -> list[str]:
  """The arguments after ``nas-tf`` of the first command in ``page``'s code blocks that
  contains ``containing``, its ``data/...`` paths the shared data: a test that runs a
  documented command (the block says ``tested-in``) runs it as written, plus its own flags."""
  import re
  import shlex
  text = open(os.path.join(ROOT, page)).read()
  code = "\n".join(re.findall(r"^```\w*[^\n]*\n(.*?)^```", text, re.M | re.S))
  for line in code.replace("\\\n", " ").splitlines():
    line = line.split(" #")[0].strip()
    if line.startswith("nas-tf ") and containing in line:
      return [a.replace("data/cifar-10-python.tar.gz", CIFAR_MINI).replace(
          "data/ptb", os.path.join(SHARED, "ptb-mini")) for a in shlex.split(line)[1:]]
  raise AssertionError(f"{page}: no command with {containing!r}")


def run_cli(*args, cwd=ROOT, env=None, tf_log_level="3", **kwargs):
  """``python -m nas_tf ARGS`` as a user runs it; ``tf_log_level=None`` leaves TensorFlow's
  C++ logging at its default (to see what nas-tf itself filters); an ``env`` value of None
  removes that variable."""
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"} | (
      {"TF_CPP_MIN_LOG_LEVEL": tf_log_level} if tf_log_level else {}) | (env or {})
  env = {k: v for k, v in env.items() if v is not None}
  return subprocess.run([sys.executable, "-m", "nas_tf", *args], cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=300, **kwargs)


def counted_over(accuracy, n):
  """Whether ``accuracy`` is a count of right answers over ``n`` examples (k / n): a mean of
  batch means, a fraction of the wrong split, or a made-up value would not be."""
  return 0 <= accuracy <= 1 and abs(accuracy * n - round(accuracy * n)) < 1e-3


# The synthetic PTB stream's vocabulary (nas_tf.data.ptb.synthetic): a model that learned
# nothing scores about this perplexity, one that learned anything less.
SYNTHETIC_VOCAB = 50


def records(workdir):
  """(index, id, reward, status) of each child in children.jsonl: what resume must keep."""
  from nas_tf.store import workdir as wd
  return [(r["index"], r["id"], r["reward"], r["status"])
          for r in wd.read_jsonl(os.path.join(workdir, "children.jsonl"))]


def kill_then_resume(config, workdir, make_task, at: int) -> None:
  """A search killed (KeyboardInterrupt) once child ``at`` is recorded, then rerun to its end
  in the same work directory; ``make_task(config)`` gives each run a fresh task."""
  import pytest

  from nas_tf.runner.loop import Search

  def kill(index):
    if index == at:
      raise KeyboardInterrupt
  with pytest.raises(KeyboardInterrupt):
    Search(config, workdir, make_task(config), log=lambda s: None, after_child=kill).run()
  assert len(records(workdir)) == at + 1
  Search(config, workdir, make_task(config), log=lambda s: None).run()


def one_shot_search(config, workdir, **hooks):
  """(search, outcome) of a one-shot search of the cifar10 task (DARTS, ENAS) in ``workdir``."""
  from nas_tf.runner.run import OneShotSearch
  from nas_tf.tasks.cifar10 import Cifar10Task
  search = OneShotSearch(config, workdir, Cifar10Task(config), log=lambda _: None, **hooks)
  return search, search.run()


def killed_after_first_epoch(config, workdir):
  """A one-shot search killed (KeyboardInterrupt) after its first epoch, then resumed to its
  end in the same work directory: the resumed (search, outcome)."""
  import pytest

  def kill(epoch):
    if epoch == 0:
      raise KeyboardInterrupt
  with pytest.raises(KeyboardInterrupt):
    one_shot_search(config, workdir, after_epoch=kill)
  return one_shot_search(config, workdir)


def controller_state(search):
  """Every number of a nas_rl search's controller: weights, Adam slots, baseline."""
  return ([v.numpy() for v in search.strategy.controller.weights]
          + [v.numpy() for v in search.strategy.reinforce.optimizer.variables]
          + [search.strategy.reinforce.baseline.numpy()])

