"""Child training: one child network trained and its validation curve turned into a
reward."""

from __future__ import annotations

import contextlib
import errno
import math
import os
import shutil
import time
from typing import Sequence

import keras
import numpy as np

from nas_tf.runtime import hardware
from nas_tf.errors import DiskFull
from nas_tf.models.optimizers import L2SGD, MomentumSGD
from nas_tf.models.schedules import learning_rate_schedule
from nas_tf.tasks.compiling import build_compiled_state


class ChildFailure(RuntimeError):
  """A child that cannot produce a reward (non-finite loss, over its time limit, ...)."""


class _Guard(keras.callbacks.Callback):
  """Stops a child at once on a non-finite loss or when its time limit has passed, and times
  every train and eval batch (the first batch of each also pays for tracing the graph)."""

  def __init__(self, deadline: float | None):
    super().__init__()
    self.deadline = deadline
    self.batch_seconds = {"train": [], "test": []}
    self.build_seconds = 0.0  # building the compiled state before fit, counted as tracing
    self._start = 0.0

  def _begin(self, batch, logs=None):
    self._start = time.perf_counter()

  def _end(self, kind):
    self.batch_seconds[kind].append(time.perf_counter() - self._start)

  on_train_batch_begin = on_test_batch_begin = _begin

  def on_test_batch_end(self, batch, logs=None):
    self._end("test")

  def on_train_batch_end(self, batch, logs=None):
    self._end("train")
    loss = (logs or {}).get("loss")
    if loss is not None and not math.isfinite(float(loss)):
      raise ChildFailure(f"non-finite training loss ({loss}) at batch {batch}")
    if self.deadline is not None and time.monotonic() > self.deadline:
      raise ChildFailure("over its time limit (child.timeout_s)")

  def timing(self) -> dict[str, float]:
    return split_timing(self.batch_seconds, self.build_seconds)


def split_timing(batch_seconds: dict[str, list[float]], build_seconds: float) -> dict[str, float]:
  """Seconds in train/eval steps, and in tracing: ``build_seconds`` plus the first batch of
  each kind beyond the median of its later batches."""
  steps, trace = 0.0, build_seconds
  for times in batch_seconds.values():
    if times:
      later = sorted(times[1:])  # the median of the later batches (with two, the second)
      typical = later[len(later) // 2] if later else 0.0
      extra = max(0.0, times[0] - typical)
      trace += extra
      steps += sum(times) - extra
  return {"step_seconds": steps, "trace_seconds": trace}


def _fit(model: keras.Model, train_ds, val_ds, epochs: int, timeout_s: float | None,
         callbacks: Sequence[keras.callbacks.Callback] = (), initial_epoch: int = 0,
         steps_per_epoch: int | None = None):
  """``model.fit`` under the guard (non-finite loss, time limit, batch timing)."""
  guard = _Guard(time.monotonic() + timeout_s if timeout_s else None)
  guard.build_seconds = build_compiled_state(model, train_ds)
  history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=0, shuffle=False,
                      callbacks=[guard, *callbacks], initial_epoch=initial_epoch,
                      steps_per_epoch=steps_per_epoch)
  return history, guard


PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored")


@contextlib.contextmanager
def child_context(c):
  """Build, compile and train a child inside this: ``c.precision`` (a Keras mixed-precision
  policy; logits stay float32 and Keras scales the float16 loss) and ``c.strategy``
  (``mirrored``: tf.distribute.MirroredStrategy over the visible GPUs, the global batch
  split across replicas; on one device, no strategy)."""
  previous = keras.mixed_precision.global_policy().name
  keras.mixed_precision.set_global_policy(c.get("precision", "float32"))
  try:
    if c.get("strategy", "default") == "mirrored" and _replicas() > 1:
      import tensorflow as tf
      with tf.distribute.MirroredStrategy().scope():
        yield
    else:
      yield
  finally:
    keras.mixed_precision.set_global_policy(previous)


def _replicas() -> int:
  """The devices MirroredStrategy would mirror over: the GPUs, else the CPUs. With one, the
  strategy computes the same steps as none, and costs ~18 s of start-up per final training
  on a CPU machine (measured: a smoke DARTS V2 final training, 70 s -> 52 s)."""
  import tensorflow as tf
  return len(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU"))


def save_weights(model: keras.Model, path: str | None) -> None:
  """Writes the model's weights to ``path`` (a ``.weights.h5`` file) atomically: a crash
  leaves the previous file or none, never a torn one."""
  if not path:
    return
  folder = os.path.dirname(path) or "."
  os.makedirs(folder, exist_ok=True)
  # Checked first: h5py failing mid-write on a full disk has crashed the whole process.
  # The values, plus room for HDF5's metadata (measured: well under 256 KiB for children).
  needed = int(1.5 * sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize
                         for w in model.weights)) + (256 << 10)
  free = shutil.disk_usage(folder).free
  if free < needed:
    raise DiskFull(f"disk full: {free / 2**20:.1f} MiB free in {folder}, the child's weights "
                   f"need about {needed / 2**20:.1f} MiB")
  tmp = path[:-len(".weights.h5")] + f".tmp{os.getpid()}.weights.h5"
  try:
    model.save_weights(tmp)
    os.replace(tmp, path)
  except OSError as e:
    if os.path.exists(tmp):
      os.remove(tmp)
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
      raise DiskFull(f"disk full while writing {path} ({e.strerror})") from None
    raise


def train_and_save(task, arch, seed: int, weights_path: str | None):
  """A search child: seeded build, compile and fit with ``task``'s methods and the
  ``child.*`` settings, then its weights saved. Returns (model, validation curve, the
  cost and timing columns of children.jsonl); raises OverBudget before training a child
  over a hard budget."""
  c = task.config.child
  started = time.perf_counter()
  keras.utils.set_random_seed(seed)
  # Grappler off on a CPU: a cell child's trace 23-40% shorter, its steps within noise.
  with child_context(c), hardware.graph_optimizer_off_without_gpu():
    train, val = task.build_inputs(seed)
    model = task.build_model(arch)
    costs = task.child_costs(model, arch)  # untrained: a hard budget skips the training
    task.objective.check(costs)
    task.compile_model(model, c)
    built = time.perf_counter()
    curve, timing = task.fit(model, train, val, c)
    trained = time.perf_counter()
  save_weights(model, weights_path)
  return model, curve, {**costs, **timing_fields(started, built, trained, timing)}


def timing_fields(started: float, built: float, trained: float,
                  timing: dict[str, float]) -> dict[str, float]:
  """The per-child timing columns of children.jsonl (perf_counter marks + guard timing)."""
  return {"build_seconds": round(built - started, 4), "fit_seconds": round(trained - built, 4),
          "step_seconds": round(timing["step_seconds"], 4),
          "trace_seconds": round(timing["trace_seconds"], 4)}


def reward_from_curve(curve: Sequence[float], window: int = 5, exponent: float = 3.0) -> float:
  """(max of the last ``window`` validation accuracies) ** exponent (the paper's reward)."""
  if not curve:
    raise ChildFailure("no validation accuracy was measured")
  best = max(curve[-window:])
  if not math.isfinite(best):
    raise ChildFailure(f"non-finite validation accuracy {best}")
  return float(best) ** exponent


def compile_classifier(model: keras.Model, learning_rate: float, momentum: float,
                       nesterov: bool, total_steps: int, schedule: str = "cosine",
                       jit_compile: bool = False, clip_norm: float = 0.0,
                       steps_per_epoch: int = 1, restarts=(0.0, 10, 2.0)) -> None:
  """SGD with ``schedule`` (``restarts``: see ``learning_rate_schedule``); ``clip_norm`` > 0
  clips the global gradient norm (DARTS' grad_clip)."""
  lr = learning_rate_schedule(learning_rate, schedule, total_steps, steps_per_epoch, restarts)
  model.compile(optimizer=MomentumSGD(lr, momentum=momentum, nesterov=nesterov,
                                      global_clipnorm=clip_norm or None),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"], jit_compile=jit_compile)


def fit_classifier(model: keras.Model, train_ds, val_ds, epochs: int,
                   timeout_s: float | None = None, callbacks=(), initial_epoch: int = 0,
                   steps_per_epoch: int | None = None) -> tuple[list[float], dict[str, float]]:
  """Trains up to epoch ``epochs``, validating after each.

  Returns the validation accuracies of the epochs run and the time spent in steps and in
  tracing.
  """
  history, guard = _fit(model, train_ds, val_ds, epochs, timeout_s, callbacks, initial_epoch,
                        steps_per_epoch)
  curve = [float(a) for a in history.history.get("val_accuracy", [])]
  losses = history.history.get("loss", [])
  if losses and not math.isfinite(losses[-1]):
    raise ChildFailure(f"non-finite training loss ({losses[-1]})")
  return curve, guard.timing()


def fit_curve(model: keras.Model, train_ds, val_ds, epochs: int, metric: str,
              timeout_s: float | None = None) -> tuple[list[float], dict[str, float]]:
  """Trains ``epochs`` epochs; returns the validation history's ``metric`` per epoch and the
  step timing (a custom task's default ``fit``)."""
  history, guard = _fit(model, train_ds, val_ds, epochs, timeout_s)
  if metric not in history.history:
    raise ChildFailure(f"the validation history has no {metric!r} (has "
                       f"{', '.join(history.history)})")
  curve = [float(v) for v in history.history[metric]]
  if not all(math.isfinite(v) for v in curve):
    raise ChildFailure(f"non-finite {metric}: {curve}")
  return curve, guard.timing()


class ResetStates(keras.callbacks.Callback):
  """Stateful RNNs carry their state across batches; each epoch and each evaluation starts
  from zeros."""

  def _reset(self, *_args, **_kwargs):
    for layer in self.model.layers:
      if isinstance(layer, keras.layers.RNN) and layer.stateful:
        layer.reset_state()

  on_epoch_begin = on_test_begin = on_test_end = _reset


def compile_language_model(model: keras.Model, learning_rate: float, clip_norm: float,
                           total_steps: int, schedule: str = "cosine",
                           jit_compile: bool = False, weight_decay: float = 0.0,
                           steps_per_epoch: int = 1, exponential=(1.0, 0, 0.0)) -> None:
  """Plain SGD with global-norm gradient clipping (Zaremba et al. 2014); ``weight_decay`` x w
  joins the gradient before the clipping (``L2SGD``); ``exponential``: see
  ``learning_rate_schedule``."""
  lr = learning_rate_schedule(learning_rate, schedule, total_steps, steps_per_epoch,
                              exponential=exponential)
  model.compile(optimizer=L2SGD(lr, l2=weight_decay, global_clipnorm=clip_norm or None),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                jit_compile=jit_compile)


def fit_language_model(model: keras.Model, train_ds, val_ds, epochs: int,
                       timeout_s: float | None = None, callbacks=(),
                       initial_epoch: int = 0) -> tuple[list[float], dict[str, float]]:
  """Truncated BPTT over ordered batches; returns validation perplexities per epoch."""
  history, guard = _fit(model, train_ds, val_ds, epochs, timeout_s,
                        [ResetStates(), *callbacks], initial_epoch)
  losses = history.history.get("val_loss", [])
  if not losses or not all(math.isfinite(v) for v in losses):
    raise ChildFailure(f"non-finite validation loss {losses}")
  return [perplexity(v) for v in losses], guard.timing()


def perplexity(mean_loss: float) -> float:
  return math.exp(min(float(mean_loss), 700.0))


def perplexity_reward(curve: Sequence[float], constant: float = 80.0, window: int = 1) -> float:
  """c / (validation perplexity)^2 with the best perplexity of the last ``window`` epochs."""
  if not curve:
    raise ChildFailure("no validation perplexity was measured")
  return float(constant) / min(curve[-window:]) ** 2
