"""Where children train. The search loop hands an executor (architecture, seed) and gets the
child's metrics back, or an exception that it records as a failed child.

``local`` runs one child at a time on this machine: in this process, or, with
``executor.recycle_every = N``, in a worker process that is replaced every N children.
TensorFlow keeps every traced training graph alive after ``clear_session`` (about 3-10 MB
per child here; keras-team/keras#17458), so only a fresh process gives that memory back on
searches of thousands of children. A worker that dies (killed for memory) fails its child.
"""

from __future__ import annotations

import concurrent.futures
import gc
import json
import multiprocessing
from typing import Any

import ml_collections

_WORKER_TASK = None  # the task object inside a worker process


class WorkerDied(RuntimeError):
  pass


class InProcess:
  def __init__(self, task):
    self.task = task

  def run(self, arch: dict[str, Any], seed: int,
          weights_path: str | None = None) -> dict[str, Any]:
    import keras
    try:
      return self.task.train_child(arch, seed, weights_path=weights_path)
    finally:
      keras.backend.clear_session()
      gc.collect()

  def close(self) -> None:
    pass


def _init_worker(config_json: str) -> None:
  global _WORKER_TASK
  from nas_tf.tasks import get_task
  config = ml_collections.ConfigDict(json.loads(config_json))
  _WORKER_TASK = get_task(config.task)(config)
  _WORKER_TASK.prepare()


def _train_in_worker(arch: dict[str, Any], seed: int,
                     weights_path: str | None) -> dict[str, Any]:
  return InProcess(_WORKER_TASK).run(arch, seed, weights_path)


class RecycledWorker:
  """Children in a spawned worker process, replaced every ``every`` children."""

  def __init__(self, config: ml_collections.ConfigDict, every: int):
    self.config_json = config.to_json()
    self.every = int(every)
    self._pool = None

  def run(self, arch: dict[str, Any], seed: int,
          weights_path: str | None = None) -> dict[str, Any]:
    if self._pool is None:
      self._pool = concurrent.futures.ProcessPoolExecutor(
          max_workers=1, mp_context=multiprocessing.get_context("spawn"),
          initializer=_init_worker, initargs=(self.config_json,),
          max_tasks_per_child=self.every)
    try:
      return self._pool.submit(_train_in_worker, arch, seed, weights_path).result()
    except concurrent.futures.process.BrokenProcessPool:
      self.close()
      raise WorkerDied("the worker process died (killed for memory?)") from None

  def close(self) -> None:
    if self._pool is not None:
      self._pool.shutdown(wait=False, cancel_futures=True)
      self._pool = None


def make_executor(config: ml_collections.ConfigDict, task):
  every = config.executor.get("recycle_every", 0)
  return RecycledWorker(config, every) if every else InProcess(task)
