"""What a new user meets first: help, the default data source, a quiet start, a default that
fits the machine, and searches that stop on a time budget and continue."""

import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import controller_state, load_config, records, run_cli, tiny_cifar_config
from nas_tf.runtime import hardware, quiet
from nas_tf.store import workdir as wd
from nas_tf.data import DataError, cifar10

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--config.data.source=synthetic", "--config.search.num_children=4",
        "--config.search.batch_size=2", "--config.child.epochs=1",
        "--config.data.max_train_examples=64", "--config.data.max_val_examples=32",
        "--config.search.start_depth=1", "--config.space.num_filters=(4,8)"]


def nas_tf(*args, env=None):  # TensorFlow's own log level: what a user gets
  return run_cli(*args, env=env, tf_log_level=None)


# -- help ----------------------------------------------------------------------------------

def test_help_lists_commands_tasks_presets_keys_and_examples():
  result = nas_tf("--help")
  assert result.returncode == 0
  for text in ("search", "train", "export", "show", "cifar10", "ptb", "auto", "paper",
               "smoke", "search.time_budget", "executor.kind", "examples:"):
    assert text in result.stdout, text
  search = nas_tf("search", "--help")
  assert search.returncode == 0 and "usage: nas-tf search TASK" in search.stdout
  assert "Rerunning the same command resumes it" in search.stdout
  version = nas_tf("--version")
  assert version.returncode == 0 and version.stdout.strip() == "nas-tf 0.1.0"


@pytest.mark.parametrize("args, message", [
    (["search", "cifr10"], "unknown task 'cifr10' (known: cifar10, images, ptb, text, nasbench201, nasbench_macro); did you mean 'cifar10'?"),
    (["serch", "cifar10"], "did you mean 'search'?"),
    # The task's typo, not the preset that cannot resolve without it.
    (["search", "cifar-10", "--config=smoke"], "unknown task 'cifar-10' (known: cifar10, "
                                               "images, ptb, text, nasbench201, "
                                               "nasbench_macro); did you mean 'cifar10'?"),
    (["search", "cifar10", "--config=smoke", "--config.child.epochs=three"],
     "--config.child.epochs=three: expected an integer"),
    (["search", "cifar10", "--config=smoke", "--config.child.learning_rate=fast"],
     "--config.child.learning_rate=fast: expected a number"),
    (["search", "cifar10", "--config=smoke", "--config.child.nesterov=maybe"],
     "--config.child.nesterov=maybe: expected true or false"),
    (["search", "cifar10", "--config=smoke", "--config.data.source=synthetic",
      "--config.space.num_filters=abc"], "space.num_filters must hold numbers"),
])
def test_typos_get_the_closest_name(args, message):
  result = nas_tf(*args)
  assert result.returncode == 2 and message in result.stderr
  assert len(result.stderr.strip().splitlines()) == 1


# -- TensorFlow's start-up noise -------------------------------------------------------------

# A whole search printing nothing on stderr, at TensorFlow's own log level:
# test_the_command_stops_on_its_budget_with_exit_0_and_continues.

def test_the_stderr_filter_drops_start_up_lines_and_keeps_the_rest():
  code = ("import os, sys\n"
          "from nas_tf.runtime import quiet\n"
          "quiet.install()\n"
          "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are "
          "written to STDERR\\n')\n"
          "os.write(2, b'E0000 00:00:1.2 1 cuda_platform.cc:52] failed call to cuInit: 303\\n')\n"
          "os.write(2, b'a real C++ error\\n')\n"
          "print('ours', file=sys.stderr)\n")
  result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
  assert sorted(result.stderr.splitlines()) == ["a real C++ error", "ours"]


# -- the default data source ----------------------------------------------------------------

@pytest.mark.parametrize("verbose", [False, True])
def test_the_python_api_drops_tensorflows_start_up_lines_as_the_cli_does(tmp_path, verbose):
  # nas_tf.search in a plain script, at TensorFlow's own log level: its start-up lines
  # (absl's notice, CUDA probing, oneDNN) are the noise the CLI drops; verbose=True keeps
  # them, which shows that this machine's TensorFlow prints them at all.
  code = ("import nas_tf\n"
          f"result = nas_tf.search('nasbench201', workdir={str(tmp_path / 'w')!r}, "
          f"preset='small', overrides={{'search.time_budget': '300s'}}, verbose={verbose}, "
          "log=lambda line: None)\n"
          "print('children', result.outcome.children)\n")
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env=env)
  assert result.returncode == 0, result.stderr
  assert re.search(r"^children [1-9]", result.stdout, re.M), result.stdout
  noise = [line for line in result.stderr.splitlines() if quiet.NOISE.match(line)]
  assert bool(noise) == verbose, result.stderr


def test_tfds_branch_trains_a_child_from_mocked_tensorflow_datasets(tmp_path):
  import tensorflow_datasets as tfds
  from nas_tf.runner.loop import Search
  from nas_tf.tasks.cifar10 import Cifar10Task
  config = tiny_cifar_config(2, **{"data.source": "tfds", "data.max_train_examples": 0,
                                   "data.max_val_examples": 0})
  with tfds.testing.mock_data(num_examples=80):
    arrays = cifar10.load("tfds")
    assert arrays.train_images.shape == (80, 32, 32, 3) and arrays.train_images.dtype == np.uint8
    assert arrays.test_labels.shape == (80,) and arrays.train_labels.max() < 10
    Search(config, str(tmp_path), Cifar10Task(config), log=lambda _: None).run()
  rows = wd.read_jsonl(os.path.join(str(tmp_path), "children.jsonl"))
  assert [r["status"] for r in rows] == ["ok", "ok"]


def test_tfds_without_the_dataset_or_network_says_so_in_one_line(tmp_path, monkeypatch):
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
  monkeypatch.setattr(cifar10, "_reachable", lambda url: "Name or service not known")
  with pytest.raises(DataError) as error:
    cifar10.load("tfds")
  message = str(error.value)
  assert "www.cs.toronto.edu cannot be reached (Name or service not known)" in message
  assert "--config.data.source=/path/to/cifar-10-python.tar.gz" in message
  assert "\n" not in message


def test_tfds_with_a_missing_module_names_the_module(monkeypatch):
  import tensorflow_datasets as tfds

  def broken(*args, **kwargs):
    raise ModuleNotFoundError("No module named 'importlib_resources'", name="importlib_resources")
  monkeypatch.setattr(tfds, "load", broken)
  with pytest.raises(DataError, match="missing module 'importlib_resources'.*reinstall"):
    cifar10.load("tfds")


@pytest.mark.skipif(cifar10._reachable(cifar10.TFDS_DOWNLOAD, timeout=3) is None,
                    reason="the network is reachable: the command would download CIFAR-10")
def test_the_readme_first_screen_installs_searches_offline_and_tests(tmp_path):
  # README.md's first block: an install, a search with no data flag that runs offline (the
  # table ships in the package), and the test command that .ci/run calls.
  import re
  text = open(os.path.join(ROOT, "README.md")).read()
  first = re.search(r"^```sh[^\n]*\n(.*?)^```", text, re.M | re.S).group(1)
  install, search, test = (line.split("#")[0].strip() for line in first.splitlines())
  assert install == "pip install ." and test == "./run.sh test"
  assert re.search(r"^NAS_TF_REQUIRE_SHARED_DATA=1 \./run\.sh test$",
                   open(os.path.join(ROOT, ".ci", "run")).read(), re.M)
  no_network = {"TFDS_DATA_DIR": str(tmp_path / "tfds"), "HTTPS_PROXY": "http://0.0.0.0:9",
                "HTTP_PROXY": "http://0.0.0.0:9"}
  result = run_cli(*search.split()[1:], cwd=str(tmp_path), env=no_network, tf_log_level=None)
  assert result.returncode == 0, result.stderr
  best = wd.read_json(str(tmp_path / "runs" / "nasbench201" / "best.json"))
  # A cell of the benchmark's 15,625, with its published 200-epoch test accuracy (at most
  # the benchmark's optimum, 94.37%).
  assert best["arch"]["arch_str"].count("~") == 6 and 0.5 < best["final_test_accuracy"] <= 0.9437


def test_the_first_command_offline_fails_in_one_line_naming_network_and_local_file(tmp_path):
  result = nas_tf("search", "cifar10", f"--workdir={tmp_path}/w",
                  env={"TFDS_DATA_DIR": str(tmp_path / "tfds")})
  assert result.returncode == 2
  assert result.stdout.startswith("preset cpu (no GPU visible")
  assert "cannot be reached" in result.stderr and "cifar-10-python.tar.gz" in result.stderr
  assert "ModuleNotFoundError" not in result.stderr
  assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# -- a default that fits the machine ----------------------------------------------------------

def test_auto_picks_cpu_without_gpus_and_gpu_with_them(monkeypatch):
  monkeypatch.setattr(hardware, "visible_gpus", lambda: [])
  from nas_tf import presets
  config = presets.resolve("cifar10", None)  # no --config: the task's auto preset
  assert config.about.preset == "cpu" and config.about.reason.startswith("no GPU visible")
  assert config.search.num_children == 64
  assert config.about.expected == presets.expected("cifar10", "nas_rl", "cpu")
  monkeypatch.setattr(hardware, "visible_gpus", lambda: ["0", "1"])
  config = load_config("auto")
  assert config.about.preset == "gpu" and config.about.reason == "2 GPU(s) visible"
  assert config.search.num_children == 1600 and config.executor.kind == "processes"
  default, paper = load_config("default").to_dict(), load_config("paper").to_dict()
  assert default.pop("about")["preset"] == paper.pop("about")["preset"] == "paper"
  assert default == paper
  assert load_config("paper").search.num_children == 12_800


# -- time budgets ------------------------------------------------------------------------------

def test_a_time_budget_stops_at_a_child_and_a_larger_one_continues_exactly(tmp_path,
                                                                          monkeypatch):
  from nas_tf.runner.budget import Budget
  from nas_tf.runner.loop import Search
  from nas_tf.tasks.cifar10 import Cifar10Task
  # The clock starts when it is first read, before the first child: set-up time on a loaded
  # machine (once over 1 s, with two test processes) must not spend the 1 s budget.
  elapsed = Budget.elapsed

  def elapsed_from_the_first_look(self):
    if not getattr(self, "armed", False):
      self.armed, self.started = True, time.monotonic()
    return elapsed(self)
  monkeypatch.setattr(Budget, "elapsed", elapsed_from_the_first_look)
  # And a child takes over the 1 s budget on any machine (an idle one trains it in 0.8 s).
  train_child = Cifar10Task.train_child

  def slow_train_child(self, *args, **kwargs):
    time.sleep(1.05)
    return train_child(self, *args, **kwargs)
  monkeypatch.setattr(Cifar10Task, "train_child", slow_train_child)

  def search(workdir, budget):
    config = tiny_cifar_config(4, **{"search.time_budget": budget})
    lines = []
    s = Search(config, workdir, Cifar10Task(config), log=lines.append)
    return s, s.run(), lines
  full, _, _ = search(str(tmp_path / "full"), "")
  workdir = str(tmp_path / "budget")
  _, stopped, lines = search(workdir, "1s")  # spent while the first child trains (seconds)
  assert stopped.stopped.startswith("time budget spent") and stopped.children == 1
  assert any(line.startswith("stopped: time budget spent") and "larger" in line
             for line in lines)
  assert wd.read_json(os.path.join(workdir, "clock.json"))["seconds"] >= 1.0
  again, _, _ = search(workdir, "1s")  # the same budget: nothing more
  assert len(wd.read_jsonl(os.path.join(workdir, "children.jsonl"))) == 1
  resumed, result, lines = search(workdir, "1h")
  assert not result.stopped and result.children == 4
  assert any("of 1h00m budget" in line for line in lines if line.startswith("[child"))
  assert records(workdir) == records(str(tmp_path / "full"))
  for got, want in zip(controller_state(resumed), controller_state(full), strict=True):
    np.testing.assert_array_equal(got, want)


def test_the_command_stops_on_its_budget_with_exit_0_and_continues(tmp_path):
  args = ["search", "cifar10", f"--config={ROOT}/configs/cifar10.py:smoke", *TINY,
          f"--workdir={tmp_path}/w"]
  first = nas_tf(*args, "--config.search.time_budget=1s")
  assert first.returncode == 0, first.stderr
  assert "stopped: time budget spent" in first.stdout
  rest = nas_tf(*args, "--config.search.time_budget=2h")
  assert rest.returncode == 0, rest.stderr
  # No TensorFlow start-up lines (oneDNN, CUDA, absl) at TensorFlow's own log level.
  assert first.stderr == "" and rest.stderr == ""
  assert "resuming with changed run settings: search.time_budget" in rest.stdout
  assert "done: 4 children" in rest.stdout


def test_bad_budgets_fail_fast(tmp_path):
  result = nas_tf("search", "cifar10", f"--config={ROOT}/configs/cifar10.py:smoke",
                  "--config.data.source=synthetic", "--config.search.time_budget=soon",
                  f"--workdir={tmp_path}/w")
  assert result.returncode == 2
  assert "search.time_budget must be a duration like 90s, 45m, 8h or 2d" in result.stderr
