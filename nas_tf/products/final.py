"""Final training of a found architecture (``nas-tf train``): from scratch, with the task's
``final.*`` settings, checkpointed every epoch, then scored on the test split.

Everything goes to ``WORKDIR/final/``: ``run.json`` (the config and child it trains; a rerun
with the same ones resumes), ``checkpoints/`` (model and optimizer after each epoch),
``tensorboard/``, ``model.weights.h5`` and ``result.json``.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import keras
import ml_collections
import tensorflow as tf

from nas_tf import config as config_lib
from nas_tf.store import workdir as wd
from nas_tf.store.checkpoints import CheckpointStore
from nas_tf.tasks import training


def final_dir(workdir: str) -> str:
  return os.path.join(workdir, "final")


class _EpochCheckpoint(keras.callbacks.Callback):
  """Saves model + optimizer (so the learning-rate schedule and momentum resume too) and the
  validation curve after every epoch, and prints a progress line."""

  def __init__(self, store: CheckpointStore, checkpoint: tf.train.Checkpoint,
               state: dict[str, Any], task, epochs: int, log: Callable[[str], None],
               after_epoch: Callable[[int], None] | None):
    super().__init__()
    self.store, self.checkpoint, self.state, self.task = store, checkpoint, state, task
    self.epochs, self.log, self.after_epoch = epochs, log, after_epoch
    self._started = time.perf_counter()

  def on_epoch_begin(self, epoch, logs=None):
    self._started = time.perf_counter()

  def on_epoch_end(self, epoch, logs=None):
    value = self.task.epoch_metric(logs or {})
    self.state["epoch"] = epoch + 1
    self.state["curve"].append(round(value, 5))
    self.state["seconds"] += time.perf_counter() - self._started
    self.store.save(epoch + 1, self.checkpoint, self.state)
    self.log(f"[final epoch {epoch + 1}/{self.epochs}] {self.task.metric} {value:.4f} | "
             f"loss {float((logs or {}).get('loss', float('nan'))):.4f} | "
             f"{time.perf_counter() - self._started:.1f}s")
    if self.after_epoch:
      self.after_epoch(epoch)


def train_final(config: ml_collections.ConfigDict, workdir: str, task, child: str | None = None,
                overwrite: bool = False, log: Callable[[str], None] = print,
                after_epoch: Callable[[int], None] | None = None) -> dict[str, Any]:
  """Trains the best child (or ``child``) of the search in ``workdir`` from scratch; returns
  and writes ``final/result.json``. Rerunning resumes from the last finished epoch."""
  with wd.WorkdirLock(workdir):
    return _train_final(config, workdir, task, child, overwrite, log, after_epoch)


def _train_final(config, workdir, task, child, overwrite, log, after_epoch) -> dict[str, Any]:
  row = wd.find_child(workdir, child, task.metric, task.higher_is_better)
  out = final_dir(workdir)
  result_path = os.path.join(out, "result.json")
  wd.claim(out, {"config": config_lib.to_dict(config), "child": row["index"], "id": row["id"]},
           overwrite, name="run.json",
           run_keys=tuple(f"config.{k}" for k in config_lib.RUN_KEYS), log=log)
  if os.path.exists(result_path):
    result = wd.read_json(result_path)
    log(f"final training of child {wd.child_number(row)} already done: {_summary(task, result)}")
    return result
  if not task.prepared:
    task.prepare()
  c = task.settings(final=True)
  keras.utils.set_random_seed(config.seed)
  with training.child_context(c):
    model = task.build_model(row["arch"], c)
    task.compile_model(model, c)
    model.optimizer.build(model.trainable_variables)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    store = CheckpointStore(os.path.join(out, "checkpoints"))
    state = store.restore(checkpoint) or {"epoch": 0, "curve": [], "seconds": 0.0}
    if state["epoch"]:
      log(f"resuming the final training of child {wd.child_number(row)} after epoch "
          f"{state['epoch']}/"
          f"{c.epochs}")
    else:
      found = (f"published: {row['published']}" if row.get("published") else
               f"search {task.metric} {row[task.metric]:.4f}")
      log(f"final training of child {wd.child_number(row)} (id {row['id']}, {found}): {c.epochs} "
          f"epochs, {model.count_params():,} parameters")
    if state["epoch"] < c.epochs:
      train, val = task.build_inputs(config.seed, c, first_epoch=state["epoch"])
      callbacks = [_EpochCheckpoint(store, checkpoint, state, task, c.epochs, log, after_epoch),
                   keras.callbacks.TensorBoard(os.path.join(out, "tensorboard"),
                                               write_graph=False)]
      task.fit(model, train, val, c, callbacks, initial_epoch=state["epoch"])
    test = task.evaluate_test(model, c)
  weights = os.path.join(out, "model.weights.h5")
  training.save_weights(model, weights)
  curve = state["curve"]
  best_val = max(curve) if task.higher_is_better else min(curve)
  result = {"child": row["index"], "id": row["id"], "arch": row["arch"],
            "search_" + task.metric: row[task.metric], task.metric: best_val,
            "last_" + task.metric: curve[-1],
            task.test_metric: None if test != test else round(test, 5),  # None: no test split
            "curve": curve, "epochs": c.epochs, "params": int(model.count_params()),
            "width": c.get("width", 1.0), "settings": c.to_dict(),
            "train_seconds": round(state["seconds"], 2), "weights": "model.weights.h5"}
  wd.atomic_write_json(result_path, result)
  log(f"final training done: {_summary(task, result)}; {result_path}")
  return result


def _summary(task, result: dict[str, Any]) -> str:
  test = result[task.test_metric]
  tested = f"{task.test_metric} {test:.4f}" if test is not None else "no test split"
  return (f"{tested}, best {task.metric} "
          f"{result[task.metric]:.4f} over {result['epochs']} epochs")
