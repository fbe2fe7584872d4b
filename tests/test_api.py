"""nas_tf.search from Python: the README's example (run, then resumed), and a custom task's
search through worker processes."""

import os
import re

import numpy as np
import pytest

from conftest import ROOT
from nas_tf.store import workdir as wd


def readme_example() -> str:
  """docs/python-api.md's first example (tests/test_docs.py leaves it to this test)."""
  text = open(os.path.join(ROOT, "docs", "python-api.md")).read()
  return re.search(r"```python tested-in: tests/test_api.py[^\n]*\n(.*?)```", text, re.S).group(1)


def test_the_readme_python_example_runs_and_resumes(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  lines = []
  namespace = {"print": lambda *a, **k: lines.append(" ".join(map(str, a)))}
  exec(readme_example(), namespace)
  result = namespace["result"]
  rows = wd.read_jsonl(os.path.join(result.workdir, "children.jsonl"))
  assert len(rows) == 2 and result.best["id"] in {r["id"] for r in rows}
  assert namespace["probabilities"].shape == (4, 3)
  assert open(os.path.join("exported", "classes.txt")).read().split() == ["0", "1", "2"]
  assert [f for f in os.listdir(result.workdir) if f.startswith("data-")]  # the arrays' file
  # Again with the same work directory: the search resumes (nothing is retrained).
  namespace = {"print": lambda *a, **k: lines.append(" ".join(map(str, a)))}
  exec(readme_example(), namespace)
  assert wd.read_jsonl(os.path.join(result.workdir, "children.jsonl")) == rows


def test_a_custom_regression_task_searches_through_worker_processes(tmp_path):
  import nas_tf
  from custom_task import Brightness
  result = nas_tf.search(Brightness, strategy="random", workdir=str(tmp_path / "w"),
                         preset="smoke", log=lambda _: None,
                         overrides={"search.num_children": 3, "search.batch_size": 3,
                                    "child.epochs": 2, "executor.kind": "processes",
                                    "executor.workers": 2})
  rows = wd.read_jsonl(os.path.join(str(tmp_path / "w"), "children.jsonl"))
  assert [r["status"] for r in rows] == ["ok"] * 3
  assert all(np.isfinite(r["val_mean_absolute_error"]) for r in rows)
  best = result.best
  assert best["val_mean_absolute_error"] == min(r["val_mean_absolute_error"] for r in rows)
  assert best["reward"] == -best["val_mean_absolute_error"]
  manifest = result.export(str(tmp_path / "out"))  # search-time weights, float32 in
  assert manifest["weights"] == "search" and os.path.isdir(tmp_path / "out" / "model")


def test_in_memory_data_reaches_worker_processes_without_a_path(tmp_path):
  """A tf.data.Dataset given from Python is written to the work directory once, and the
  worker processes train on it (Ray's get it from the object store: test_ray_cluster.py)."""
  import nas_tf
  import tensorflow as tf
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, 64)
  images = np.clip(rng.normal(70 + 100 * labels[:, None, None, None], 20, (64, 10, 10, 3)),
                   0, 255).astype(np.uint8)
  dataset = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels}).batch(16)
  result = nas_tf.search("images", data=dataset, workdir=str(tmp_path / "w"), preset="smoke",
                         log=lambda _: None,
                         overrides={"search.num_children": 2, "search.batch_size": 2,
                                    "child.epochs": 1, "child.batch_size": 8,
                                    "executor.kind": "processes", "executor.workers": 2})
  rows = wd.read_jsonl(os.path.join(str(tmp_path / "w"), "children.jsonl"))
  assert [r["status"] for r in rows] == ["ok", "ok"]
  assert result.config.data.source.startswith(os.path.join(str(tmp_path / "w"), "data-"))
  assert result.task.input_shape == (10, 10, 3) and result.task.num_classes == 2


@pytest.mark.parametrize("kwargs, message", [
    # As --config.KEY: an unknown key names the nearest one, a value of another type says
    # which type the key takes; nothing runs.
    (dict(overrides={"child.epoch": 1}), "overrides: unknown key 'child.epoch'; did you mean "
                                         "'child.epochs'?"),
    (dict(overrides={"child.epochs": "three"}), "overrides: child.epochs='three': expected int"),
    # Two arguments that set one key differently.
    (dict(method="random", strategy="evolution"), "strategy='evolution' and method='random' "
                                                  "(strategy 'random') disagree on "
                                                  "search.strategy: give one"),
    (dict(method="enas_micro", space="cnn"), "space='cnn' and method='enas_micro' (space "
                                             "'cell') disagree on space.kind"),
    (dict(strategy="random", overrides={"search.strategy": "evolution"}),
     "strategy='random' and overrides['search.strategy']='evolution' disagree"),
    (dict(method="random", config="CONFIG"), "config= is a whole config: give it, or method= "
                                             "and preset=, not both"),
    (dict(overrides=["child.epochs", 1]), "overrides: expected a dict of dotted keys, got list"),
])
def test_the_python_api_is_as_strict_as_the_cli(tmp_path, kwargs, message):
  import nas_tf
  from conftest import load_config
  from nas_tf.config import ConfigError
  if kwargs.get("config") == "CONFIG":
    kwargs["config"] = load_config("smoke")
  with pytest.raises(ConfigError) as info:
    nas_tf.search("cifar10", data="synthetic", workdir=str(tmp_path / "w"), preset="smoke",
                  **{k: v for k, v in kwargs.items()})
  assert message in str(info.value) and len(str(info.value).splitlines()) == 1
  assert not os.path.exists(tmp_path / "w")  # refused before anything was written
