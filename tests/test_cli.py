"""The ``nas-tf`` command as a user meets it (subprocesses, like a shell)."""

import os
import re

import pytest

import numpy as np

from conftest import CIFAR_MINI, serve_in_tensorflow_only_process
from conftest import run_cli as nas_tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Presets resolve from any folder (the tests run in a temporary one).
SMOKE = "--config=smoke"
PTB = ["search", "ptb", "--config=smoke"]

BAD_INPUTS = [
    (["search", "mnist"], "unknown task 'mnist'"),
    (["frobnicate", "cifar10"], "unknown command 'frobnicate'"),
    (["search"], "'search' takes exactly one task"),
    (["search", "cifar10", SMOKE, "--config.search.strategy=hill_climbing"],
     "search.strategy must be one of nas_rl, random"),
    (["search", "cifar10", SMOKE, "--config.search.strategy=dart"], "did you mean 'darts'?"),
    (["search", "cifar10", SMOKE, "--config.executor.kind=slurm"], "executor.kind must be one of"),
    (["search", "cifar10", SMOKE, "--config.child.epochs=0"], "child.epochs must be an integer >= 1"),
    (["search", "cifar10", SMOKE, "--config.child.batch_size=-4"], "child.batch_size must be an integer >= 1"),
    (["search", "cifar10", SMOKE, "--config.search.batch_size=0"], "search.batch_size must be an integer >= 1"),
    (["search", "cifar10", SMOKE, "--config.data.val_fraction=1.5"], "data.val_fraction must be in (0, 1)"),
    (["search", "cifar10", SMOKE, "--config.space.num_filters=()"], "space.num_filters must not be empty"),
    (["search", "cifar10", SMOKE, "--config.child.nonsense=3"], "--config.child.nonsense: unknown key"),
    (["search", "cifar10", SMOKE, "--config.search.num_childern=3"],
     "--config.search.num_childern: unknown key; did you mean 'search.num_children'?"),
    (["search", "cifar10", SMOKE, "--config.child.lr_schedule=cosin"],
     "child.lr_schedule must be one of cosine, cosine_epochs, cosine_epochs_nb201, "
     "cosine_restarts, exponential, step, constant, got 'cosin'; did you mean 'cosine'?"),
    (["search", "cifar10", SMOKE, "--config.space.kind=cel"], "did you mean 'cell'?"),
    ([*PTB, "--config.space.base_number=3"], "space.base_number must be a power of two"),
    ([*PTB, "--config.child.lr_schedule=cosine_restarts"],
     "child.lr_schedule=cosine_restarts: this config has no child.lr_restart_epochs"),
    ([*PTB, "--config.data.source=/no/ptb"], "/no/ptb: no such folder"),
    (["search", "cifar10", "--config=ptb:smoke"], "the config is for task 'ptb'"),
    (["search", "cifar10", "--config=smok"],
     "--config=smok: neither a preset of configs/cifar10.py (auto, paper, default, gpu, cpu, "
     "smoke), a bundled config nor a file; did you mean 'smoke'?"),
    (["search", "cifar10", "--config=cifar10:smokex"],
     "configs/cifar10.py has no preset 'smokex' (presets: auto"),
    (["search", "cifar10", "--config=configs/mine.py"], "--config: configs/mine.py: no such file"),
    (["search", "cifar10", SMOKE, "--config.data.source=/no/such/cifar.tar.gz"],
     "/no/such/cifar.tar.gz: no such file"),
    ([*PTB, "--config.search.strategy=darts"],
     "search.strategy=darts: DARTS does not search ptb; it searches cifar10, images with "
     "space.kind=cell or user (--method=darts sets both)"),
    (["search", "ptb", "--method=pnas"],
     "--method=pnas: not offered for the ptb task (it searches cifar10, images)"),
    (["search", "cifar10", "--method=dart"], "--method: unknown method 'dart' (known: nas_rl"),
    ([*PTB, "--config.search.strategy=enas", "--config.enas.num_nodes=0"],
     "enas.num_nodes must be an integer in [1, 64]"),
    (["search", "cifar10", SMOKE, "--config.child.precision=fp8"], "child.precision must be"),
    (["search", "cifar10", SMOKE, "--config.executor.children_per_gpu=0"],
     "executor.children_per_gpu must be an integer in [1, 64]"),
    (["show", "--child=3"], "w holds no search (no config.json)"),
    (["train"], "w holds no search (no config.json)"),
    (["train", "--config.final.epochs=3"], "w holds no search (no config.json)"),
    (["export"], "'export' needs --out=DIR"),
    (["export", "cifar10"], "'export' takes no positional arguments"),
]


@pytest.mark.parametrize("args, message", BAD_INPUTS, ids=[" ".join(a[0][-1:]) or "x" for a in BAD_INPUTS])
def test_bad_input_fails_fast_with_one_line_and_exit_2(tmp_path, args, message):
  result = nas_tf(*args, f"--workdir={tmp_path}/w", cwd=str(tmp_path))
  assert result.returncode == 2, result.stderr
  assert message in result.stderr
  assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # one line, no traceback
  assert not re.search(r"\b[A-Z]\w*(Error|Exception)\b", result.stderr)  # no class names
  assert not os.path.exists(tmp_path / "w" / "children.jsonl")


def test_rerun_with_other_config_is_refused_and_finished_search_reports(tmp_path):
  base = ["search", "cifar10", SMOKE, "--config.data.source=synthetic",
          "--config.search.num_children=1", "--config.child.epochs=1",
          "--config.data.max_train_examples=32", "--config.data.max_val_examples=16",
          "--config.search.start_depth=1", f"--workdir={tmp_path}/w"]
  first = nas_tf(*base, cwd=str(tmp_path))
  assert first.returncode == 0, first.stderr
  assert "[child 1/1]" in first.stdout
  again = nas_tf(*base, cwd=str(tmp_path))
  assert again.returncode == 0 and "done: 1 child (0 failed)" in again.stdout
  assert "[child" not in again.stdout  # nothing retrained
  other = nas_tf(*base, "--config.seed=5", "--config.child.epochs=2", cwd=str(tmp_path))
  assert other.returncode == 2
  assert "differs in: child.epochs, seed" in other.stderr
  assert len(other.stderr.strip().splitlines()) == 1, other.stderr


@pytest.mark.skipif(not os.path.exists(CIFAR_MINI), reason="../shared/data/cifar10-mini absent")
def test_smoke_search_on_real_cifar_learns(tmp_path):
  import json
  result = nas_tf("search", "cifar10", SMOKE, f"--config.data.source={CIFAR_MINI}",
                  "--config.search.num_children=2", "--config.search.batch_size=2",
                  f"--workdir={tmp_path}/w", cwd=str(tmp_path))
  assert result.returncode == 0, result.stderr
  best = json.load(open(tmp_path / "w" / "best.json"))
  assert best["val_accuracy"] > 0.15  # chance is 0.10

  # Take the model away: a TensorFlow-only process serves it on the real test images.
  from nas_tf.data import cifar10
  exported = nas_tf("export", f"--workdir={tmp_path}/w", f"--out={tmp_path}/out",
                    cwd=str(tmp_path))
  assert exported.returncode == 0, exported.stderr
  test = cifar10.load(CIFAR_MINI)
  probabilities = serve_in_tensorflow_only_process(str(tmp_path / "out" / "model"),
                                                   test.test_images, tmp_path)
  accuracy = float(np.mean(probabilities.argmax(1) == test.test_labels))
  print(f"served test accuracy {accuracy:.3f} on {len(test.test_labels)} images")
  assert accuracy > 0.13  # chance 0.10; 500 images give a standard error of 0.013

  shown = nas_tf("show", f"--workdir={tmp_path}/w", cwd=str(tmp_path))
  assert shown.returncode == 0, shown.stderr
  png = tmp_path / "w" / "pictures" / f"child-{best['index'] + 1:05d}.png"
  assert png.stat().st_size > 1000 and png.with_suffix(".svg").exists()
