"""Where children train. The search loop submits (architecture, seed, weights path) and gets
a ``concurrent.futures.Future`` of the child's metrics; an exception in it becomes a failed
child. ``capacity`` says how many children may be in flight at once.

``executor.kind``:
  local      one child at a time on this machine: in this process, or with
             ``executor.recycle_every = N`` in a worker process replaced every N children.
             TensorFlow keeps every traced training graph alive after ``clear_session``
             (about 3-10 MB per child; keras-team/keras#17458): only a fresh process gives
             that memory back on searches of thousands of children.
  processes  ``executor.workers`` worker processes on this machine, each pinned to one GPU
             (``CUDA_VISIBLE_DEVICES``; ``executor.children_per_gpu`` workers share a GPU, with
             memory growth on) or, without GPUs, to its share of the CPU threads.
  ray        children as Ray tasks on an existing cluster (``executor.address``) or on a local
             one started here with ``executor.workers`` CPUs (``nas_tf.tasks.ray_executor``).

Every metrics dict comes back with ``worker`` ("host:pid") so ``children.jsonl`` records
where each child ran.
"""

from __future__ import annotations

import concurrent.futures
import gc
import json
import multiprocessing
import os
import socket
from typing import Any

import ml_collections

from nas_tf.errors import WorkerDied
from nas_tf.runtime.hardware import visible_gpus

_WORKER_TASKS: dict[str, Any] = {}  # config json -> task object, inside a worker process


def worker_id() -> str:
  return f"{socket.gethostname()}:{os.getpid()}"


def train_in_this_process(task, arch: dict[str, Any], seed: int,
                          weights_path: str | None) -> dict[str, Any]:
  if task.simulated:  # a table lookup: no model to clear
    return {**task.train_child(arch, seed, weights_path=weights_path), "worker": worker_id()}
  import keras
  try:
    metrics = task.train_child(arch, seed, weights_path=weights_path)
    return {**metrics, "worker": worker_id()}
  finally:
    keras.backend.clear_session()
    gc.collect()


def _task_for(config_json: str):
  """The task of this config in this process, prepared once (data loaded once per worker)."""
  if config_json not in _WORKER_TASKS:
    from nas_tf import registry
    config = ml_collections.ConfigDict(json.loads(config_json))
    task = registry.task_class(config.task)(config)
    task.prepare()
    _WORKER_TASKS[config_json] = task
  return _WORKER_TASKS[config_json]


def _done(value=None, error: BaseException | None = None) -> concurrent.futures.Future:
  future = concurrent.futures.Future()
  if error is not None:
    future.set_exception(error)
  else:
    future.set_result(value)
  return future


class InProcess:
  capacity = 1

  def __init__(self, task):
    self.task = task

  def submit(self, arch: dict[str, Any], seed: int,
             weights_path: str | None = None) -> concurrent.futures.Future:
    try:
      return _done(train_in_this_process(self.task, arch, seed, weights_path))
    except (KeyboardInterrupt, SystemExit):
      raise
    except Exception as e:  # the search records it as a failed child
      return _done(error=e)

  def close(self) -> None:
    pass


# -- worker processes ------------------------------------------------------------------------------

def _die_with_parent(parent: int, every: float = 1.0) -> None:
  """A worker whose search process is gone (``kill -9`` included) exits within ``every``
  seconds, instead of holding its memory under PID 1."""
  import threading
  import time

  def watch():
    while os.getppid() == parent:
      time.sleep(every)
    os._exit(1)
  threading.Thread(target=watch, name="nas-tf-parent-watch", daemon=True).start()


def _init_worker(config_json: str, env: dict[str, str]) -> None:
  _die_with_parent(int(env.get("NAS_TF_PARENT", os.getppid())))
  # Before TensorFlow is imported in this process: which GPU, how many threads.
  os.environ.update(env)
  _task_for(config_json)


def _train_in_worker(config_json: str, arch: dict[str, Any], seed: int,
                     weights_path: str | None) -> dict[str, Any]:
  return train_in_this_process(_task_for(config_json), arch, seed, weights_path)


class _Slot:
  """One spawned worker process (a one-worker pool), replaced after ``recycle_every``
  children when set, or when it dies."""

  def __init__(self, config_json: str, env: dict[str, str], recycle_every: int):
    self.config_json, self.env, self.recycle_every = config_json, env, recycle_every
    self.pool = None
    self.busy = False

  def submit(self, arch, seed, weights_path) -> concurrent.futures.Future:
    if self.pool is None:
      env = {**self.env, "NAS_TF_PARENT": str(os.getpid())}
      self.pool = concurrent.futures.ProcessPoolExecutor(
          max_workers=1, mp_context=multiprocessing.get_context("spawn"),
          initializer=_init_worker, initargs=(self.config_json, env),
          max_tasks_per_child=self.recycle_every or None)
    self.busy = True
    outer = concurrent.futures.Future()
    inner = self.pool.submit(_train_in_worker, self.config_json, arch, seed, weights_path)

    def relay(done: concurrent.futures.Future):
      self.busy = False
      error = done.exception()
      if isinstance(error, concurrent.futures.process.BrokenProcessPool):
        self.close()
        outer.set_exception(WorkerDied("the worker process died (killed for memory?)"))
      elif error is not None:
        outer.set_exception(error)
      else:
        outer.set_result(done.result())
    inner.add_done_callback(relay)
    return outer

  def close(self) -> None:
    """Stops the worker at once, also in the middle of a child (Ctrl-C, SIGTERM)."""
    if self.pool is not None:
      processes = list((getattr(self.pool, "_processes", None) or {}).values())
      self.pool.shutdown(wait=False, cancel_futures=True)
      for process in processes:
        if process.is_alive():
          process.terminate()
      self.pool = None


def worker_environments(workers: int, gpus: list[str], children_per_gpu: int,
                        threads: int) -> list[dict[str, str]]:
  """One environment per worker: a GPU each (``children_per_gpu`` workers per GPU, memory
  growth on so they can share it), or no GPU and ``threads`` CPU threads each."""
  envs = []
  for k in range(workers):
    env = {"TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": "1",
           "OMP_NUM_THREADS": str(threads)}
    if gpus:
      env["CUDA_VISIBLE_DEVICES"] = gpus[(k // children_per_gpu) % len(gpus)]
      env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    else:
      env["CUDA_VISIBLE_DEVICES"] = "-1"
    envs.append(env)
  return envs


class WorkerProcesses:
  """``len(envs)`` worker processes, one child each at a time."""

  def __init__(self, config: ml_collections.ConfigDict, envs: list[dict[str, str]],
               recycle_every: int = 0):
    config_json = config.to_json()
    self.slots = [_Slot(config_json, env, recycle_every) for env in envs]
    self.capacity = len(self.slots)

  def submit(self, arch, seed, weights_path=None) -> concurrent.futures.Future:
    for slot in self.slots:
      if not slot.busy:
        return slot.submit(arch, seed, weights_path)
    raise RuntimeError(f"all {self.capacity} workers are busy (the search submits at most "
                       "capacity children at once)")

  def close(self) -> None:
    for slot in self.slots:
      slot.close()


def make_local(config: ml_collections.ConfigDict, task):
  every = config.executor.get("recycle_every", 0)
  return WorkerProcesses(config, [{}], every) if every else InProcess(task)


def make_processes(config: ml_collections.ConfigDict, task):
  e = config.executor
  gpus = visible_gpus()
  workers = e.workers or (len(gpus) * e.children_per_gpu if gpus else 1)
  threads = e.threads_per_worker or max(1, (os.cpu_count() or 1) // workers)
  return WorkerProcesses(config, worker_environments(workers, gpus, e.children_per_gpu,
                                                     threads), e.get("recycle_every", 0))


def make_executor(config: ml_collections.ConfigDict, task):
  """The executor ``executor.kind`` names (``registry.EXECUTORS``)."""
  from nas_tf import registry
  return registry.executor_factory(config.executor.kind)(config, task)
