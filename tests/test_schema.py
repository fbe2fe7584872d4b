"""One schema for every number (nas_tf/schema.py): every numeric key of every bundled config and
preset is declared, and NaN, -1 and 1e9 are refused in one line unless the schema says why
such a value is fine."""

import contextlib
import copy
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from nas_tf import config as config_lib, presets, registry, schema

BAD_VALUES = {"nan": math.nan, "negative": -1, "huge": 10**12}


def every_bundled_config():
  """(label, config) for each task x method x preset the package ships (each bundled file's
  presets, the task files' adapt() of the method files included)."""
  seen = set()
  for task in registry.TASKS:
    for method in (None, *registry.METHODS):
      if method is not None and task not in registry.method_tasks(method):
        continue
      name = presets.method_config_name(task, method)
      if name not in presets.bundled_names():
        continue
      for preset in presets.presets(name) or [None]:
        if (task, name, method, preset) not in seen:
          seen.add((task, name, method, preset))
          config = presets.bundled(task, name, preset, method)
          config.data.source = config.data.source or "your-images"  # images asks for it
          yield f"{task}:{name}:{preset}:{method}", config


CONFIGS = list(every_bundled_config())


def numeric_keys(config):
  return sorted({key for key, _ in config_lib._numbers(config)})


@contextlib.contextmanager
def with_value(config, key, value):
  """``config`` with ``value`` at ``key`` (a list's every entry) while inside, or None where
  the config's type lock refuses it (NaN in an integer key: the flag parser's one line)."""
  *path, last = key.split(".")
  node = config
  for part in path:
    node = node[part]
  current = node[last]
  if isinstance(current, (list, tuple)):
    value = type(current)([value] * len(current))
  elif isinstance(current, int) and isinstance(value, float):
    yield None
    return
  node[last] = value
  try:
    yield config
  finally:
    node[last] = current


def test_the_bundled_configs_cover_every_task_method_and_preset():
  names = {label.split(":")[1] for label, _ in CONFIGS}
  assert names == set(presets.bundled_names()), names ^ set(presets.bundled_names())
  assert len(CONFIGS) >= 40 and all(config_lib.validate(c) is None for _, c in CONFIGS)


def test_every_numeric_key_of_every_bundled_config_is_declared():
  undeclared = sorted({f"{key} ({label})" for label, c in CONFIGS for key in numeric_keys(c)
                       if key not in schema.SCHEMA})
  assert not undeclared, undeclared


def test_every_unbounded_range_says_why():
  for key, spec in schema.SCHEMA.items():
    assert spec.high is not None or spec.huge or spec.data, key
    assert spec.low is not None or spec.negative, key
    assert spec.zero == "" or spec.accepts(0), key  # "0 = off" only where 0 is accepted


@pytest.mark.parametrize("kind", list(BAD_VALUES))
def test_nan_negative_and_huge_values_of_every_key_are_refused_in_one_line(kind):
  value, refused, allowed = BAD_VALUES[kind], 0, set()
  for label, config in CONFIGS:
    for key in numeric_keys(config):
      spec = schema.SCHEMA[key]
      reason = {"negative": spec.negative, "huge": spec.huge or spec.data}.get(kind)
      if reason:
        allowed.add(key)
        continue
      with with_value(config, key, value) as changed:
        if changed is None:
          allowed.add(key)
          continue
        try:
          config_lib.validate(changed)
          pytest.fail(f"{label}: {key}={value} was accepted")
        except config_lib.ConfigError as error:
          message = str(error)
      assert key in message and "\n" not in message, (label, key, message)
      refused += 1
  assert refused > {"nan": 1000, "negative": 1500, "huge": 400}[kind], refused
  if kind == "nan":  # only integer keys escape, refused by the flag parser (below)
    assert all(isinstance(config_lib.value_at(c, k), int) or isinstance(
        config_lib.value_at(c, k), (list, tuple)) for _, c in CONFIGS for k in numeric_keys(c)
        if k in allowed and config_lib.has_key(c, k))


def test_the_issue_s_unchecked_darts_values_are_refused():
  config = dict(CONFIGS)["cifar10:darts:smoke:darts"]
  for key, value, message in (("darts.momentum", 1.0, "darts.momentum must be in [0, 1)"),
                              ("darts.learning_rate_min", 1.0, "at most darts.learning_rate"),
                              ("darts.weight_decay", 2.0, "darts.weight_decay must be in")):
    with with_value(config, key, value), pytest.raises(config_lib.ConfigError,
                                                       match=re.escape(message)):
      config_lib.validate(config)


def test_batches_larger_than_their_split_are_refused_with_the_counts(tmp_path):
  from nas_tf.tasks.cifar10 import Cifar10Task
  from nas_tf.tasks.ptb import PtbTask
  darts = copy.deepcopy(dict(CONFIGS)["cifar10:darts:smoke:darts"])
  darts.data.source, darts.data.max_train_examples, darts.data.max_val_examples = \
      "synthetic", 0, 0
  for key, value, message in (
      ("darts.batch_size", 600, "darts.batch_size 600 is larger than each half of the 1000 "
                                "training images (500)"),
      ("child.batch_size", 10**9, "child.batch_size 1000000000 is larger than the training "
                                  "split (900 images)"),
      ("final.cutout", 64, "final.cutout 64 erases the whole 32-pixel images wherever it "
                           "falls")):
    with with_value(darts, key, value), pytest.raises(config_lib.ConfigError,
                                                      match=re.escape(message)):
      Cifar10Task(darts).prepare()
  ptb = copy.deepcopy(dict(CONFIGS)["ptb:ptb:smoke:None"])
  for name in ("train", "valid", "test"):
    (tmp_path / f"ptb.{name}.txt").write_text(" the cat sat on the mat \n" * 200)
  ptb.data.source = str(tmp_path)
  ptb.data.max_train_tokens = ptb.data.max_valid_tokens = 0
  with pytest.raises(config_lib.ConfigError, match=r"final.batch_size x final.bptt \(1000000000"
                     r" x 35\) is more than the training split's 1400 tokens"):
    with ptb.unlocked():
      ptb.final.batch_size = 10**9  # the final training's own batches, checked up front
    PtbTask(ptb).prepare()


def test_the_command_line_refuses_nan_in_an_integer_key_and_a_huge_batch_in_one_line(tmp_path):
  env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
  for override, message in (("--config.child.epochs=nan", "--config.child.epochs=nan"),
                            ("--config.child.batch_size=1000000000", "child.batch_size "
                             "1000000000 is larger than the training split")):
    result = subprocess.run([sys.executable, "-m", "nas_tf", "search", "cifar10",
                             "--config=smoke", "--config.data.source=synthetic", override,
                             f"--workdir={tmp_path}/w"], capture_output=True, text=True,
                            env=env, timeout=300)
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(errors) == 1 and message in errors[0], result.stderr
    assert not os.path.exists(tmp_path / "w" / "children.jsonl")


def test_a_custom_task_s_own_keys_need_only_be_finite():
  assert schema.check("custom.anything", -5) is None
  assert "must be a finite number" in schema.check("custom.anything", np.inf)
