"""REINFORCE with a moving-average baseline (Williams 1992; Zoph & Le 2017, section 3.2).

loss = -1/m sum_k (R_k - b) log P(a_k) - entropy_weight * mean_k H(a_k)
       + skip_weight * mean_k KL_k

b is an exponential moving average of earlier rewards (initialised with the first batch's
mean, so the first update does not push every sampled architecture up). With
``baseline_per_architecture`` (ENAS: melodyguan/enas ``general_controller.py`` build_trainer,
run once per sampled architecture) b starts at 0 and moves after *every* architecture, its
own reward included: b_k = decay b_{k-1} + (1 - decay) R_k and R_k - b_k is its advantage. ENAS's variant
(``entropy_in_reward``) adds entropy_weight * H(a_k) to the reward R_k instead of the loss,
and ``skip_weight`` adds its skip penalty KL_k (see ``Controller``; 0 = off).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from nas_tf.strategies.controller import Controller
from nas_tf.spaces.base import Plan, plan_length


class Reinforce:
  """Owns the controller's optimizer and baseline; ``update`` is one policy-gradient step."""

  def __init__(self, controller: Controller, learning_rate: float = 6e-4,
               baseline_decay: float = 0.95, entropy_weight: float = 0.0,
               clip_norm: float | None = None, compiled: bool = True,
               entropy_in_reward: bool = False, skip_weight: float = 0.0,
               baseline_per_architecture: bool = False, adam_beta1: float = 0.9,
               adam_epsilon: float = 1e-7):
    """``adam_beta1``, ``adam_epsilon``: the optimizer's (Keras' defaults; ENAS's controllers
    use 0.0 and 1e-3, melodyguan/enas ``src/utils.py`` line 218)."""
    if not 0.0 <= baseline_decay < 1.0:
      raise ValueError(f"reinforce: baseline_decay must be in [0, 1), got {baseline_decay}")
    self.controller = controller
    self.optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=adam_beta1,
                                           epsilon=adam_epsilon)
    self.optimizer.build(controller.trainable_variables)
    self.baseline = tf.Variable(0.0, trainable=False, name="baseline")
    self.baseline_ready = tf.Variable(False, trainable=False, name="baseline_ready")
    self.baseline_decay = float(baseline_decay)
    self.entropy_weight = float(entropy_weight)
    self.entropy_in_reward, self.skip_weight = bool(entropy_in_reward), float(skip_weight)
    self.baseline_per_architecture = bool(baseline_per_architecture)
    self.clip_norm = clip_norm
    self.compiled = bool(compiled)  # trace the step per plan (see Controller) or run eagerly
    self._steps = {}

  def _step_fn(self, plan: Plan, batch_size: int):
    key = (plan, batch_size)
    if key not in self._steps:
      def step(tokens, rewards):
        with tf.GradientTape() as tape:
          log_prob, entropy, skip_kl = self.controller.score(plan, tokens)
          if self.entropy_in_reward:  # ENAS: a bonus on the reward, not a loss term
            rewards = rewards + self.entropy_weight * tf.stop_gradient(entropy)
          mean_reward = tf.reduce_mean(rewards)
          decay = self.baseline_decay
          if self.baseline_per_architecture:
            baselines = tf.scan(lambda b, r: decay * b + (1.0 - decay) * r, rewards,
                                initializer=tf.identity(self.baseline))
            baseline, next_baseline = tf.reduce_mean(baselines), baselines[-1]
          else:
            baselines = baseline = tf.where(self.baseline_ready, self.baseline, mean_reward)
            next_baseline = decay * baseline + (1.0 - decay) * mean_reward
          advantage = rewards - baselines
          entropy_term = 0.0 if self.entropy_in_reward else self.entropy_weight
          loss = (-tf.reduce_mean(advantage * log_prob)
                  - entropy_term * tf.reduce_mean(entropy)
                  + self.skip_weight * tf.reduce_mean(skip_kl))
        # Weights a space never uses (the anchor attention in the cell space) get no gradient.
        pairs = [(g, v) for g, v in zip(tape.gradient(loss, self.controller.trainable_variables),
                                         self.controller.trainable_variables) if g is not None]
        grads, variables = [g for g, _ in pairs], [v for _, v in pairs]
        grad_norm = tf.linalg.global_norm(grads)
        finite = tf.math.is_finite(loss) & tf.math.is_finite(grad_norm)
        if self.clip_norm:
          grads, _ = tf.clip_by_global_norm(grads, self.clip_norm, use_norm=grad_norm)

        def apply():
          self.optimizer.apply_gradients(zip(grads, variables))
          self.baseline.assign(next_baseline)
          self.baseline_ready.assign(True)
          return tf.constant(True)

        # A non-finite step is reported, never applied: the controller stays as it was.
        tf.cond(finite, apply, lambda: tf.constant(False))
        return {"loss": loss, "entropy": tf.reduce_mean(entropy), "grad_norm": grad_norm,
                "baseline": baseline, "reward": mean_reward, "finite": finite,
                "skip_penalty": tf.reduce_mean(skip_kl)}
      length = plan_length(plan)
      # autograph off: the unroll's loops run over a static plan and need no conversion,
      # and converting them dominated the trace time (seconds per depth). One trace per
      # batch size (a search uses one or two): with a static batch, the gradients of the
      # unroll's elementwise ops need no broadcast-shape arithmetic (trace 7.5 s -> 4.7 s
      # on ENAS micro's smoke plan).
      self._steps[key] = tf.function(step, autograph=False, input_signature=[
          tf.TensorSpec([batch_size, length], tf.int32),
          tf.TensorSpec([batch_size], tf.float32)]) if self.compiled else step
    return self._steps[key]

  def update(self, plan: Plan, tokens, rewards) -> dict[str, float]:
    """One REINFORCE step on m architectures (tokens [m, T]) and their rewards [m]."""
    tokens = np.asarray(tokens)
    stats = self._step_fn(plan, len(tokens))(tf.constant(tokens, tf.int32),
                                             tf.constant(np.asarray(rewards), tf.float32))
    return {k: (bool(v) if k == "finite" else float(v)) for k, v in stats.items()}
