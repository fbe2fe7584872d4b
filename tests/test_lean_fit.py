"""Search children train in tasks/lean_fit.py's loop: the same numbers as Keras' model.fit,
each step traced once."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny_cifar_config
from nas_tf.runtime import hardware
from nas_tf.data import pipeline
from nas_tf.strategies.random_search import RandomSearch
from nas_tf.tasks import lean_fit, training
from nas_tf.tasks.cifar10 import Cifar10Task

CELL = {"space": "cell", "cell_output": "loose_ends",
        "normal": [[0, "sep_conv_3x3", 1, "avg_pool_3x3"], [2, "sep_conv_5x5", 0, "identity"]],
        "reduce": [[0, "max_pool_3x3", 1, "sep_conv_3x3"], [1, "identity", 2, "avg_pool_3x3"]]}


def cell_task(**overrides):
  # 72 training images in batches of 32 and 40 validation images in batches of 16: each
  # epoch ends on a partial batch of either kind.
  c = tiny_cifar_config(**{"space.kind": "cell", "space.num_blocks": 2,
                           "data.max_train_examples": 72, "data.max_val_examples": 40,
                           "child.eval_batch_size": 16, "child.epochs": 2, **overrides})
  task = Cifar10Task(c)
  task.prepare()
  return task


def trained(task, arch, loop: str):
  """(validation curve, weights) of ``arch`` trained by ``loop`` as train_and_save does."""
  c = task.config.child
  keras.utils.set_random_seed(5)
  with hardware.graph_optimizer_off_without_gpu():
    train, val = task.build_inputs(5)
    model = task.build_model(arch)
    task.compile_model(model, c)
    steps = pipeline.steps_per_epoch(task.num_examples(), c.batch_size)
    if loop == "fit":
      curve, _ = training.fit_classifier(model, train, val, c.epochs, steps_per_epoch=steps)
    else:
      assert lean_fit.unsupported(model) is None
      curve, _ = lean_fit.fit(model, train, val, c.epochs, steps)
  return curve, [w.numpy() for w in model.weights]


@pytest.mark.parametrize("kind", ["cell", "cnn"])
def test_a_child_trains_bit_for_bit_as_in_model_fit(kind):
  # Weight decay, Nesterov momentum, a cosine schedule, clipping and (cells) batch norm and
  # drop-path's schedule: every weight, moving statistic and validation accuracy equal.
  if kind == "cell":
    task = cell_task(**{"child.clip_norm": 0.5, "child.drop_path": 0.3})
    arch = CELL
  else:
    task = Cifar10Task(tiny_cifar_config(**{"data.max_train_examples": 72,
                                            "child.epochs": 2}))
    task.prepare()
    plan = task.space.plan(2)
    arch = task.space.decode(RandomSearch(task.space.token_types).propose(plan, 1, [0, 1])[0], 2)
  fit_curve, fit_weights = trained(task, arch, "fit")
  lean_curve, lean_weights = trained(task, arch, "lean")
  assert lean_curve == fit_curve and len(lean_curve) == 2
  assert len(lean_weights) == len(fit_weights)
  for a, b in zip(lean_weights, fit_weights):
    np.testing.assert_array_equal(a, b)
  keras.utils.set_random_seed(5)
  untrained = task.build_model(arch).get_weights()
  assert sum(not np.array_equal(a, b) for a, b in zip(untrained, lean_weights)) > 10


def test_each_step_is_traced_once_whatever_the_batch_size():
  task = cell_task()
  model = task.build_model(CELL)
  task.compile_model(model, task.config.child)
  model.optimizer.build(model.trainable_variables)
  train_step, eval_step = lean_fit._steps(model)
  for n in (8, 5, 3):
    images = tf.random.normal([n, 32, 32, 3])
    labels = tf.zeros([n], tf.int32)
    loss, correct = train_step(images, labels)
    assert np.isfinite(float(loss)) and 0 <= float(correct) <= n
    assert 0 <= float(eval_step(images, labels)) <= n
  assert train_step.experimental_get_tracing_count() == 1
  assert eval_step.experimental_get_tracing_count() == 1


def test_a_non_finite_loss_and_the_time_limit_fail_the_child():
  task = cell_task()
  c = task.config.child
  train, val = task.build_inputs(0)
  model = task.build_model(CELL)
  task.compile_model(model, c)
  kernel = model.get_layer("logits").kernel
  kernel.assign(np.full(kernel.shape, np.nan, np.float32))
  with pytest.raises(training.ChildFailure, match="non-finite training loss"):
    lean_fit.fit(model, train, val, 1, 2)
  model = task.build_model(CELL)
  task.compile_model(model, c)
  with pytest.raises(training.ChildFailure, match="time limit"):
    lean_fit.fit(model, train, val, 1, 2, timeout_s=1e-9)


def test_what_the_loop_leaves_to_model_fit():
  task = cell_task(**{"child.auxiliary_weight": 0.4})
  model = task.build_model(CELL)
  task.compile_model(model, task.config.child)
  assert "auxiliary head" in lean_fit.unsupported(model)
  plain = cell_task().build_model(CELL)
  task.compile_model(plain, task.config.child)
  assert lean_fit.unsupported(plain) is None
  keras.mixed_precision.set_global_policy("mixed_bfloat16")
  try:
    assert "mixed-precision" in lean_fit.unsupported(plain)
  finally:
    keras.mixed_precision.set_global_policy("float32")


def test_search_children_train_in_the_loop_and_final_training_in_fit(monkeypatch):
  task = cell_task(**{"child.epochs": 1})
  calls = []
  lean = lean_fit.fit
  monkeypatch.setattr(lean_fit, "fit", lambda *a, **k: (calls.append(1), lean(*a, **k))[1])
  row = task.train_child(CELL, seed=1)
  assert calls == [1] and len(row["val_curve"]) == 1
  assert row["trace_seconds"] > 0 and row["step_seconds"] > 0
  c = task.config.child
  model = task.build_model(CELL)
  task.compile_model(model, c)
  train, val = task.build_inputs(1)
  curve, _ = task.fit(model, train, val, c, callbacks=[keras.callbacks.History()])
  assert calls == [1] and len(curve) == 1  # callbacks (final training's): model.fit
