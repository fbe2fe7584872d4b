"""Keras learning-rate schedules of the reference scripts: child and final training
(``child.lr_schedule``) and ENAS's shared weights."""

from __future__ import annotations

import math

import keras

from nas_tf.config import LR_SCHEDULES  # the names the config check accepts


def epoch_of(step, steps_per_epoch: int):
  """The (0-based) epoch of an optimizer step, as a float tensor."""
  return keras.ops.floor_divide(keras.ops.cast(step, "float32"), steps_per_epoch)


@keras.saving.register_keras_serializable(package="nas_tf")
class EpochCosine(keras.optimizers.schedules.LearningRateSchedule):
  """torch's CosineAnnealingLR stepped at the start of every epoch, as DARTS' train.py
  (lines 95-98): constant within an epoch, epoch e (0-based) at
  lr * (1 + cos(pi (e + 1) / E)) / 2, so the last epoch trains at 0. ``lag=0``:
  NAS-Bench-201's (xautodl ``CosineAnnealingLR``, set to epoch e before it trains,
  ``funcs_nasbench.py`` line 120): epoch e at lr * (1 + cos(pi e / E)) / 2, the first at lr."""

  def __init__(self, learning_rate: float, epochs: int, steps_per_epoch: int, lag: int = 1):
    self.learning_rate, self.epochs = float(learning_rate), max(1, int(epochs))
    self.steps_per_epoch, self.lag = max(1, int(steps_per_epoch)), int(lag)

  def __call__(self, step):
    epoch = epoch_of(step, self.steps_per_epoch)
    done = keras.ops.minimum(epoch + float(self.lag), float(self.epochs)) / self.epochs
    return 0.5 * self.learning_rate * (1.0 + keras.ops.cos(math.pi * done))

  def get_config(self):
    return {"learning_rate": self.learning_rate, "epochs": self.epochs,
            "steps_per_epoch": self.steps_per_epoch, "lag": self.lag}


def learning_rate_schedule(learning_rate: float, schedule: str, total_steps: int,
                           steps_per_epoch: int = 1, restarts=(0.0, 10, 2.0),
                           exponential=(1.0, 0, 0.0)):
  """``restarts``: (minimum, first cycle's epochs, cycle growth) of ``cosine_restarts``;
  ``exponential``: (rate per epoch, first decayed epoch, minimum) of ``exponential``."""
  if schedule == "exponential":  # ENAS's PTB scripts (EpochExponentialDecay)
    rate, start, minimum = exponential
    return EpochExponentialDecay(learning_rate, rate, start, minimum, steps_per_epoch)
  if schedule == "cosine_restarts":  # ENAS's final training (cifar10_macro_final.sh)
    minimum, restart_epochs, mul = restarts
    return EpochCosineRestarts(learning_rate, minimum, restart_epochs, mul, steps_per_epoch)
  if schedule == "cosine":
    return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, total_steps))
  if schedule in ("cosine_epochs", "cosine_epochs_nb201"):
    return EpochCosine(learning_rate, total_steps // max(1, steps_per_epoch), steps_per_epoch,
                       lag=int(schedule == "cosine_epochs"))
  if schedule == "step":
    return EpochStep(learning_rate, total_steps // max(1, steps_per_epoch), steps_per_epoch)
  if schedule == "constant":
    return learning_rate
  raise ValueError(f"unknown learning-rate schedule {schedule!r} ({', '.join(LR_SCHEDULES)})")


@keras.saving.register_keras_serializable(package="nas_tf")
class EpochStep(keras.optimizers.schedules.LearningRateSchedule):
  """Huang et al. 2016 (DenseNet, section 4.2), whose CIFAR-10 training NAS-RL's children
  follow (Zoph & Le 2017, section 4.1): the rate divided by 10 at 50% and again at 75% of
  the epochs; epoch e (0-based) of E trains at lr * 0.1^([e >= E/2] + [e >= 3E/4])."""

  def __init__(self, learning_rate: float, epochs: int, steps_per_epoch: int):
    self.learning_rate, self.epochs = float(learning_rate), max(1, int(epochs))
    self.steps_per_epoch = max(1, int(steps_per_epoch))

  def __call__(self, step):
    ops = keras.ops
    epoch = epoch_of(step, self.steps_per_epoch)
    drops = (ops.cast(epoch >= 0.5 * self.epochs, "float32")
             + ops.cast(epoch >= 0.75 * self.epochs, "float32"))
    return self.learning_rate * ops.power(0.1, drops)

  def get_config(self):
    return {"learning_rate": self.learning_rate, "epochs": self.epochs,
            "steps_per_epoch": self.steps_per_epoch}


@keras.saving.register_keras_serializable(package="nas_tf")
class EpochCosineRestarts(keras.optimizers.schedules.LearningRateSchedule):
  """ENAS's cosine with warm restarts (melodyguan/enas ``src/utils.py`` get_train_ops,
  ``lr_cosine``): constant within an epoch; cycle i lasts restart_epochs * mul^i epochs and
  runs from ``learning_rate`` down towards ``minimum`` (10 + 20 + 40 + ... with T0=10,
  Tmul=2)."""

  def __init__(self, learning_rate: float, minimum: float, restart_epochs: int, mul: float,
               steps_per_epoch: int):
    self.learning_rate, self.minimum = float(learning_rate), float(minimum)
    self.restart_epochs, self.mul = max(1, int(restart_epochs)), float(mul)
    self.steps_per_epoch = max(1, int(steps_per_epoch))

  def __call__(self, step):
    ops = keras.ops
    epoch = epoch_of(step, self.steps_per_epoch)
    t0 = float(self.restart_epochs)
    if self.mul == 1.0:
      cycle = ops.floor(epoch / t0)
      start = cycle * t0
    else:  # the cycle whose start t0 (mul^i - 1) / (mul - 1) is the last <= epoch
      cycle = ops.floor(ops.log(1.0 + epoch * (self.mul - 1.0) / t0 + 1e-6) / math.log(self.mul))
      start = t0 * (ops.power(self.mul, cycle) - 1.0) / (self.mul - 1.0)
    length = t0 * ops.power(self.mul, cycle)
    return self.minimum + 0.5 * (self.learning_rate - self.minimum) * (
        1.0 + ops.cos(math.pi * (epoch - start) / length))

  def get_config(self):
    return {"learning_rate": self.learning_rate, "minimum": self.minimum,
            "restart_epochs": self.restart_epochs, "mul": self.mul,
            "steps_per_epoch": self.steps_per_epoch}


@keras.saving.register_keras_serializable(package="nas_tf")
class EpochExponentialDecay(keras.optimizers.schedules.LearningRateSchedule):
  """ENAS-RNN's staircase decay (``src/utils.py`` get_train_ops without lr_cosine, with
  ptb_search.sh's lr_dec_start 12, lr_dec_every 1): epoch e trains at
  max(learning_rate * rate^max(e - start, 0), minimum)."""

  def __init__(self, learning_rate: float, rate: float, start: int, minimum: float,
               steps_per_epoch: int):
    self.learning_rate, self.rate = float(learning_rate), float(rate)
    self.start, self.minimum = int(start), float(minimum)
    self.steps_per_epoch = max(1, int(steps_per_epoch))

  def __call__(self, step):
    ops = keras.ops
    epoch = epoch_of(step, self.steps_per_epoch)
    decays = ops.maximum(epoch - self.start, 0.0)
    return ops.maximum(self.learning_rate * ops.power(self.rate, decays), self.minimum)

  def get_config(self):
    return {"learning_rate": self.learning_rate, "rate": self.rate, "start": self.start,
            "minimum": self.minimum, "steps_per_epoch": self.steps_per_epoch}
