"""Presets from anywhere, one flag per method, and honest durations (``nas_tf.presets``)."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import CIFAR_MINI, ROOT
from nas_tf import config as config_lib, presets, registry


def test_a_bare_preset_resolves_from_any_folder(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert not os.path.exists("configs")
  config = presets.resolve("cifar10", "smoke")
  assert config.task == "cifar10" and config.search.num_children == 8
  assert config.about.preset == "smoke" and config.about.reason == "asked for smoke"
  # images and text: the cifar10 and ptb configs with their own data keys
  images = presets.resolve("images", "smoke", "darts")
  assert images.task == "images" and images.data.source == "" and "image_size" in images.data
  assert images.search.strategy == "darts" and images.space.kind == "cell"
  assert images.darts.to_dict() == presets.resolve("cifar10", "smoke", "darts").darts.to_dict()
  text = presets.resolve("text", "smoke", "enas")
  assert text.task == "text" and text.search.strategy == "enas"


@pytest.mark.parametrize("method", list(registry.METHODS))
def test_every_method_sets_its_strategy_and_space_on_every_task_it_offers(method):
  entry = registry.METHODS[method]
  for task in registry.method_tasks(method):
    config = presets.resolve(task, "smoke", method)
    config.data.source = "synthetic"
    config_lib.validate(config)  # its space exists for the task
    assert config.search.strategy == entry.strategy
    if "kind" in config.get("space", {}) and entry.kind:
      assert config.space.kind == entry.kind
  for task in set(registry.TASKS) - set(registry.method_tasks(method)):
    with pytest.raises(config_lib.ConfigError, match=f"--method={method}: not offered for "
                                                     f"the {task} task"):
      presets.resolve(task, "smoke", method)


def test_enas_micro_is_for_images_and_enas_on_text_is_the_recurrent_cell():
  assert registry.method_tasks("enas_micro") == ["cifar10", "images"]
  assert registry.build_space(_synthetic(presets.resolve("ptb", "smoke", "enas"))).name == \
      "enas_rnn"
  assert registry.build_space(_synthetic(presets.resolve("cifar10", "smoke", "enas"))).name \
      == "enas_macro"


def _synthetic(config):
  config.data.source = "synthetic"
  return config


def test_the_expected_duration_is_measured_or_the_papers_or_says_not_measured(monkeypatch):
  monkeypatch.setattr(presets, "measured", lambda: {
      "cifar10/darts/smoke": {"seconds": 150.0, "machine": "2 CPU cores"}})
  assert presets.expected("cifar10", "darts", "smoke") == \
      "about 2 min on 2 CPU cores (measured)"
  assert presets.expected("cifar10", "darts", "paper") == \
      presets.config_module("darts").EXPECTED["paper"]
  # Never another preset's or another method's figure.
  assert presets.expected("cifar10", "pnas", "smoke") == \
      "not measured for --method=pnas on cifar10 at preset smoke"
  assert presets.expected("cifar10", "darts", "cpu") == \
      "not measured for --method=darts on cifar10 at preset cpu"
  # cifar10's paper figure is NAS-RL's 22,400 GPU-days, not PNAS's.
  assert "22,400 GPU-days" in presets.expected("cifar10", "nas_rl", "paper")
  assert presets.expected("cifar10", "pnas", "paper").startswith("not measured")


def test_the_shipped_table_names_only_pairs_that_exist():
  assert len(presets.measured()) >= 20  # benchmarks/durations.py's smoke run, every pair
  for key, row in presets.measured().items():
    task, method, preset = key.split("/")
    assert task in registry.method_tasks(method), key
    assert preset in presets.presets(presets.method_config_name(task, method)), key
    assert row["seconds"] > 0 and row["machine"], key


@pytest.mark.skipif(not os.path.exists(CIFAR_MINI), reason="../shared/data/cifar10-mini absent")
def test_a_wheel_install_finds_its_presets_outside_the_repository(tmp_path):
  # The package as pip installs it from a wheel (not editable), run from a folder that has no
  # configs/: the bundled configs travel inside it as nas_tf.configs.
  source = tmp_path / "source"
  tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
  for name in tracked:
    if name.startswith(("nas_tf/", "configs/")) or name in ("pyproject.toml", "README.md"):
      os.makedirs(source / os.path.dirname(name), exist_ok=True)
      shutil.copy(os.path.join(ROOT, name), source / name)
  target = tmp_path / "site"
  subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                  "--no-build-isolation", "--target", str(target), str(source)], check=True,
                 capture_output=True)
  assert os.path.exists(target / "nas_tf" / "configs" / "darts.py")
  elsewhere = tmp_path / "elsewhere"
  elsewhere.mkdir()
  env = {**os.environ, "PYTHONPATH": str(target), "TF_CPP_MIN_LOG_LEVEL": "3"}
  where = subprocess.run([sys.executable, "-c", "import nas_tf, nas_tf.presets as p; "
                          "print(nas_tf.__file__); print(p.config_dir())"], cwd=elsewhere,
                         env=env, capture_output=True, text=True, check=True).stdout.split()
  assert all(path.startswith(str(target)) for path in where), where
  result = subprocess.run(
      [sys.executable, "-m", "nas_tf", "search", "cifar10", "--config=smoke",
       f"--config.data.source={CIFAR_MINI}", "--config.search.num_children=1",
       "--config.child.epochs=1", "--config.data.max_train_examples=64",
       "--config.data.max_val_examples=32", "--workdir=w"],
      cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr
  assert result.stdout.startswith("preset smoke (asked for smoke)")
  assert "done: 1 child (0 failed)" in result.stdout
