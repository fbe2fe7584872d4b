"""ENAS (Pham et al. 2018): shared weights, searched by the NAS-RL controller.

Every architecture of the space is a path through one supernet (``nas_tf.models``) that runs
any architecture from tensors, so the training step is traced once for the whole search.
Each epoch: (a) one pass over the training split, a freshly sampled architecture per
minibatch; (b) ``enas.controller.steps`` REINFORCE steps (the same ``Controller`` and
``Reinforce`` as NAS-RL, with ENAS's settings), each rewarded by the sampled architectures'
scores on a validation minibatch under the shared weights. The per-step compute (loss,
score, data, input shapes) comes from the task's one-shot hooks. After the last epoch,
``enas.derive_samples`` architectures are sampled and scored on the whole validation split.
"""

from __future__ import annotations

import time
from typing import Any

import keras
import ml_collections
import numpy as np
import tensorflow as tf

from nas_tf import registry
from nas_tf.runtime import hardware, seeds
from nas_tf.errors import ConfigError, SearchError
from nas_tf.models.optimizers import MomentumSGD
from nas_tf.models.schedules import EpochCosineRestarts, EpochExponentialDecay
from nas_tf.strategies.base import OneShot
from nas_tf.strategies.nas_rl import NasRl


class Enas(OneShot):
  name = "enas"

  def __init__(self, config: ml_collections.ConfigDict, space, task):
    e = config.enas
    self.config, self.space, self.task = config, space, task
    self.num_derived = e.derive_samples
    self.nas_rl = NasRl(e.controller, config.seed, space.token_types,
                        compiled=e.controller.compile != "eager",
                        head_bias=space.controller_head_bias())
    self.controller = self.nas_rl.controller
    self.plan = space.plan()
    models = registry.supernet_for(space.name)
    keras.utils.set_random_seed(config.seed)  # the supernet's initial weights: same seed, same run
    try:
      self.supernet = models.make_supernet(space, config, task)
    except ValueError as e:  # e.g. an op the supernet lacks
      raise ConfigError(str(e)) from None
    self.params = lambda arch: models.child_params(self.supernet, arch)
    statistics = e.get("reward_statistics", "auto")
    if statistics != "auto":  # the reward's batch norm (tasks/cifar10.py shared_eval_step)
      self.supernet.scores_with_batch_statistics = statistics == "batch"
    self._val = None
    self._traces = 0  # how often the shared-weights training step was traced
    self.composed = self._composes(e.get("step", "auto"))
    images, labels = task.input_spec()
    arch_spec = [tf.TensorSpec(shape, dtype) for shape, dtype in space.tensor_specs()]

    def step(fn):  # autograph off: the layer loop is static Python
      return fn if self.composed else tf.function(
          fn, autograph=False, input_signature=[images, labels, *arch_spec])
    self._train_step, self._eval_step = step(self._train_step_fn), step(self._eval_step_fn)
    # The controller's reward: the task's own scoring where it has one (PTB: from the
    # training's carried state, as ENAS's valid_rl), else the evaluation step.
    reward = getattr(task, "shared_reward_step", None)
    self._reward_step = self._eval_step if reward is None else step(
        lambda images, labels, *arch: reward(self.supernet, images, labels, *arch))
    self.steps_per_epoch = task.shared_steps(config.child.batch_size)
    if e.get("lr_restart_epochs", 0):  # ENAS's CIFAR-10 scripts: cosine with warm restarts
      lr = EpochCosineRestarts(e.learning_rate, e.learning_rate_min, e.lr_restart_epochs,
                               e.lr_restart_mul, self.steps_per_epoch)
    elif e.get("lr_decay_rate", 0):  # ENAS's PTB script: x rate per epoch from an epoch on
      lr = EpochExponentialDecay(e.learning_rate, e.lr_decay_rate, e.lr_decay_start,
                                 e.learning_rate_min, self.steps_per_epoch)
    else:
      lr = keras.optimizers.schedules.CosineDecay(e.learning_rate,
                                                  max(1, self.steps_per_epoch * e.epochs))
    momentum = e.get("momentum", 0.9)  # ENAS-RNN: plain SGD
    self.optimizer = MomentumSGD(lr, momentum=momentum, nesterov=momentum > 0,
                                 global_clipnorm=e.clip_norm or None)
    self.optimizer.build(self.supernet.trainable_variables)
    # Every variable by position: tf.train.Checkpoint does not see Keras 3 layers kept in
    # lists, so the BN moving statistics would be missing (trainable weights reach it only
    # through the optimizer).
    self.checkpoint = tf.train.Checkpoint(supernet=self.supernet,
                                          supernet_variables=list(self.supernet.weights),
                                          supernet_optimizer=self.optimizer,
                                          **self.nas_rl.trackables())

  @classmethod
  def from_config(cls, config, space, task) -> "Enas":
    return cls(config, space, task)

  def _composes(self, step: str) -> bool:
    """Whether the shared steps run composed (``enas.step``). Auto: where the supernet
    composes and TensorFlow sees no GPU. On the smoke preset (2-core CPU) the first epoch
    is 1.45-1.52x a later one composed, 6.3-6.5x traced; the composed step dispatches its
    pieces from Python, 1.57x the traced step's time there, 1.28x at the cpu preset's batch
    of 64 (which sets traced), 0.95x at the paper's supernet (``benchmarks/enas_startup.py``).
    On a GPU, where dispatch may cost more than the trace saves, traced until measured."""
    composes = hasattr(self.supernet, "pieces")
    if step == "composed" and not composes:
      raise ConfigError(f"enas.step=composed: the {self.space.name} supernet is traced only; "
                        "use enas.step=traced or auto")
    return composes and (step == "composed"
                         or step == "auto" and not hardware.tensorflow_sees_a_gpu())

  @property
  def traces(self) -> int:
    """Traces of the shared step (traced), or of its pieces (composed): each once."""
    return self.supernet.pieces.traces if self.composed else self._traces

  def _train_step_fn(self, images, labels, *arch):
    self._traces += 1  # Python side effect: runs once per trace, not per step
    return self.task.shared_train_step(self.supernet, self.optimizer, images, labels,
                                       self.config.enas.weight_decay, *arch)

  def _eval_step_fn(self, images, labels, *arch):
    return self.task.shared_eval_step(self.supernet, images, labels, *arch)

  def _reseed(self, epoch: int) -> None:
    """Dropout masks drawn from (seed, epoch): a search resumed at an epoch boundary draws
    the masks of an uninterrupted one."""
    generators = [getattr(layer, "seed_generator", None)
                  for layer in self.supernet._flatten_layers()]
    generators = [g for g in generators if isinstance(g, keras.random.SeedGenerator)]
    for k, generator in enumerate(generators):
      generator.state.assign(np.array([self.config.seed, 1_000 * epoch + k]).astype(
          generator.state.dtype))

  def _arch_tensors(self, tokens):
    return self.space.as_tensors(self.space.decode(tokens))

  # -- the search --------------------------------------------------------------------------------
  def run(self, ctx) -> None:
    e, c = self.config.enas, self.config.child
    state = ctx.store.restore(self.checkpoint) or {
        "epoch": 0, "rng": seeds.generator(seed=self.config.seed).bit_generator.state}
    rng = seeds.generator(state["rng"])
    if state["epoch"]:
      ctx.log(f"resuming ENAS after epoch {state['epoch']}/{e.epochs}")
    ctx.log(f"search {self.task.name} (enas): {e.epochs} epochs of shared-weight training, "
            f"{self.supernet.describe()}, {self.task.data_summary}, work directory "
            f"{ctx.workdir}")
    while state["epoch"] < e.epochs:
      epoch, epoch_started = state["epoch"], time.perf_counter()
      # (a) shared weights: one pass, a fresh architecture for every minibatch
      train = self.task.shared_data("train", c.batch_size, seeds.child_seed(self.config.seed,
                                                                            epoch))
      tokens, _ = self.controller.sample(self.plan, self.steps_per_epoch,
                                         rng.integers(0, 2**31 - 1, size=2))
      if hasattr(self.supernet, "reset_states"):  # a language model: carried state, masks
        self.supernet.reset_states(epoch)
      else:
        self._reseed(epoch)
      losses, score, seen = [], 0.0, 0
      for step, (inputs, labels) in enumerate(train):
        loss, right, count = self._train_step(inputs, tf.cast(labels, tf.int32),
                                              *self._arch_tensors(tokens[step]))
        losses.append(float(loss))
        score, seen = score + float(right), seen + int(count)
      if not np.all(np.isfinite(losses)):
        raise SearchError(f"ENAS epoch {epoch + 1}: non-finite shared-weights loss; the last "
                          "good checkpoint is kept")
      # (b) controller: REINFORCE on shuffled validation minibatches (a fresh one per
      # architecture, as ENAS's aggregated steps) under the shared weights
      val_iter = iter(self.task.shared_data(
          "val", c.batch_size, seeds.child_seed(self.config.seed, 1_000_000 + epoch)).repeat())
      stats_all = []
      for _ in range(e.controller.steps):
        tokens_c, _ = self.controller.sample(self.plan, e.controller.batch,
                                             rng.integers(0, 2**31 - 1, size=2))
        rewards = []
        for t in tokens_c:
          inputs, labels = next(val_iter)
          right, count = self._reward_step(inputs, tf.cast(labels, tf.int32),
                                           *self._arch_tensors(t))
          rewards.append(self.task.shared_result(float(right), int(count))["reward"])
        stats = self.nas_rl.tell(self.plan, tokens_c, rewards)
        if not stats["finite"]:
          raise SearchError(f"non-finite controller update in ENAS epoch {epoch + 1}")
        stats_all.append(stats)
      state["epoch"] = epoch + 1
      state["rng"] = rng.bit_generator.state
      ctx.store.save(state["epoch"], self.checkpoint, state)
      self._log_epoch(ctx, epoch, losses, self.task.shared_result(score, seen), stats_all,
                      time.perf_counter() - epoch_started)
      ctx.epoch_done(epoch)

  def _log_epoch(self, ctx, epoch, losses, train, stats_all, seconds) -> None:
    e, metric = self.config.enas, self.task.metric
    train_metric = train[metric]
    # A perplexity can pass float32's range (TensorBoard's scalars) while the loss is finite.
    float32 = lambda x: float(np.clip(x, -np.finfo(np.float32).max,  # noqa: E731
                                      np.finfo(np.float32).max))
    with ctx.journal.writer.as_default(step=epoch + 1):
      tf.summary.scalar("enas/train_loss", float(np.mean(losses)))
      tf.summary.scalar(f"enas/train_{metric.removeprefix('val_')}", float32(train_metric))
      tf.summary.scalar("enas/epoch_seconds", seconds)
      for key in ("reward", "baseline", "loss", "entropy", "grad_norm"):
        if stats_all:
          tf.summary.scalar(f"controller/{key}",
                            float32(np.mean([s[key] for s in stats_all])))
    ctx.journal.writer.flush()
    reward = np.mean([s["reward"] for s in stats_all]) if stats_all else float("nan")
    ctx.log(f"[enas epoch {epoch + 1}/{e.epochs}] shared loss {np.mean(losses):.4f}, "
            f"train {metric.removeprefix('val_')} {train_metric:.4f}, controller reward "
            f"{reward:.4g} | "
            f"{seconds:.1f}s | {self.traces} "
            f"{'traced pieces' if self.composed else 'trace(s)'}")

  # -- derivation --------------------------------------------------------------------------------
  def derive(self, ctx) -> list[dict[str, Any]]:
    """``enas.derive_samples`` architectures sampled from the trained controller."""
    e = self.config.enas
    rng = np.random.Generator(np.random.PCG64([self.config.seed, e.epochs]))
    tokens, _ = self.controller.sample(self.plan, e.derive_samples,
                                       rng.integers(0, 2**31 - 1, size=2))
    return [self.space.decode(t) for t in tokens]

  def evaluate(self, ctx, arch: dict[str, Any]) -> dict[str, Any]:
    """The metric on the whole validation split with the shared weights."""
    arch_tensors = self.space.as_tensors(arch)
    if not hasattr(self.supernet, "reset_states"):
      self._reseed(self.config.enas.epochs)  # micro scores in training mode: its dropout too
    if self._val is None:  # built once: its cache keeps the normalized images
      c = self.config.child
      self._val = self.task.shared_data("val", c.get("eval_batch_size", c.batch_size))
    score, total = 0.0, 0
    for inputs, labels in self._val:
      right, count = self._eval_step(inputs, tf.cast(labels, tf.int32), *arch_tensors)
      score, total = score + float(right), total + int(count)
    return {**self.task.shared_result(score, total), "params": self.params(arch)}
