"""DARTS (Liu, Simonyan & Yang, ICLR 2019): the cell space relaxed to a supernet of mixed ops
(``nas_tf.models.darts``), the architecture alpha learned by gradient descent.

Each step, as quark0/darts ``train_search.py`` and ``architect.py``, on the two halves of
the whole training set (train and validation splits together, as its train_portion 0.5):
1. alpha: Adam (lr 3e-4, betas 0.5/0.999, L2 1e-3 added to the gradient as torch's
   ``weight_decay``) on a minibatch of the second half, the gradient ``darts.order`` 1:
   d/dalpha L_val(w, alpha), or 2: the unrolled d/dalpha L_val(w - xi dL_train/dw, alpha)
   (its Hessian-vector term the paper's finite difference, eps = 0.01 / |dL_val/dw'|);
2. w: SGD (momentum 0.9, L2 3e-4 added to the clipped gradient, torch's semantics) on a
   minibatch of the first half, gradient norm clipped at 5, the rate cosine-annealed per
   epoch from 0.025 to 0.001 (``learning_rate_at``); the unrolled step's xi is that rate.

Both are one ``tf.function`` with a fixed input signature: traced once for the whole
search (``traces`` counts it). Each epoch ends with a checkpoint (w, BN statistics, alpha,
momentum, Adam's slots; the data order is a function of the epoch) and TensorBoard logs of
softmax(alpha) and the derived genotype: per node, the two incoming edges whose strongest
non-``none`` op weighs most, with that op (a cell of the shared cell space). Your own
LayerChoice and InputChoice decisions are relaxed the same way (``darts_user.py``, the
registry's class for that space).
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from nas_tf.runtime import seeds
from nas_tf.errors import SearchError
from nas_tf.models import darts as supernet
from nas_tf.models.darts import derive_cell, softmax
from nas_tf.models.layers import correct_count
from nas_tf.strategies.base import OneShot

KINDS = ("normal", "reduce")


class Darts(OneShot):
  name = "darts"
  num_derived = 1

  def __init__(self, config, space, task):
    d = self.settings = config.darts
    self.config, self.space, self.task = config, space, task
    keras.utils.set_random_seed(config.seed)
    self.model, self.alphas = self._supernet()
    self.weights = list(self.model.trainable_variables)
    self.momentum = [tf.Variable(tf.zeros_like(w), trainable=False) for w in self.weights]
    self.learning_rate = tf.Variable(d.learning_rate, dtype=tf.float32, trainable=False)
    self.alpha_optimizer = keras.optimizers.Adam(d.arch_learning_rate, beta_1=0.5,
                                                 beta_2=0.999, epsilon=1e-8)
    self.alpha_optimizer.build(self.alphas)
    self.checkpoint = tf.train.Checkpoint(model_variables=list(self.model.weights),
                                          alphas=self.alphas, momentum=self.momentum,
                                          alpha_optimizer=self.alpha_optimizer)
    images, labels = task.input_spec()
    self.traces = 0  # how often the search step was traced
    self.steps = 0   # search steps run by this process
    self._step = tf.function(self._step_fn, autograph=False,
                             input_signature=[images, labels, images, labels])
    # The forward and backward passes, each its own function, traced once and called by the
    # step as often as it needs (the second order step makes five passes of three kinds).
    # Not inlined: each is also built and optimized once.
    self._pass = {wrt: tf.function(functools.partial(self._pass_fn, wrt), autograph=False,
                                   input_signature=[images, labels],
                                   experimental_attributes={"_noinline": True})
                  for wrt in ("alpha", "weights", "both")}
    self._eval_step = tf.function(self._eval_fn, autograph=False,
                                  input_signature=[images, labels])

  @classmethod
  def from_config(cls, config, space, task) -> "Darts":
    return cls(config, space, task)

  def _supernet(self) -> tuple[keras.Model, list[tf.Variable]]:
    """The search network and its alphas: DARTS' cells, one alpha [1, edges, ops] per kind."""
    space, d = self.space, self.settings
    if getattr(space, "name", "") != "cell" or space.same_cell_for_reduction \
        or space.cell_output != "all":
      raise ValueError("darts searches the cell space with a normal and a reduction cell and "
                       "the output of all nodes (space.same_cell_for_reduction and "
                       "space.cell_output: auto)")
    self.ops, self.nodes = space.ops, space.num_blocks
    model = supernet.build_supernet(self.ops, self.nodes, self.task.input_shape,
                                    self.task.num_classes, d.channels, d.layers_per_stage)
    shape = (1, supernet.num_edges(self.nodes), len(self.ops))
    rng = np.random.default_rng([self.config.seed, 7])
    # DARTS' initialization: 1e-3 * N(0, 1).
    return model, [tf.Variable(1e-3 * rng.standard_normal(shape), dtype=tf.float32,
                               name=f"alpha_{kind}") for kind in KINDS]

  # -- the compute ---------------------------------------------------------------------------
  probabilities = False  # whether ``forward`` ends in a softmax (a user's model may)

  def forward(self, images, training: bool = True):
    """The supernet's logits (or, ``probabilities``, class probabilities)."""
    return self.model([images, self.alphas[0], self.alphas[1]], training=training)

  def loss(self, images, labels, training: bool = True):
    outputs = self.forward(images, training=training)
    if self.probabilities:
      losses = keras.losses.sparse_categorical_crossentropy(labels, outputs)
    else:
      losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, outputs)
    return tf.reduce_mean(losses), outputs

  def _pass_fn(self, wrt: str, images, labels):
    """The training-mode loss on a batch, its logits and its gradients towards ``wrt``:
    alpha, the weights, or both (alpha's first). The tape watches only those: a plain one
    would also trace the alpha pass's weight gradients, for Grappler to prune."""
    sources = {"alpha": self.alphas, "weights": self.weights,
               "both": self.alphas + self.weights}[wrt]
    with tf.GradientTape(watch_accessed_variables=False) as tape:
      tape.watch([v if isinstance(v, tf.Variable) else v.value for v in sources])  # Keras'
      loss, logits = self.loss(images, labels)
    return loss, logits, tape.gradient(loss, sources)

  def alpha_gradients(self, images, labels):
    loss, _, grads = self._pass["alpha"](images, labels)
    return loss, grads

  def _alpha_gradients_at(self, images, labels, base, direction, scale):
    for w, b, v in zip(self.weights, base, direction):
      w.assign(b + scale * v)
    return self.alpha_gradients(images, labels)[1]

  def hessian_vector(self, images, labels, vector, epsilon):
    """(d/dalpha L(w + eps v) - d/dalpha L(w - eps v)) / 2 eps: the paper's finite-difference
    estimate of d2L/(dalpha dw) . v on (images, labels); w is restored afterwards."""
    base = [tf.identity(w) for w in self.weights]
    plus = self._alpha_gradients_at(images, labels, base, vector, epsilon)
    minus = self._alpha_gradients_at(images, labels, base, vector, -epsilon)
    for w, b in zip(self.weights, base):
      w.assign(b)
    return [(p - m) / (2.0 * epsilon) for p, m in zip(plus, minus)]

  def unrolled_alpha_gradients(self, train_x, train_y, val_x, val_y):
    """d/dalpha L_val(w', alpha), w' = w - xi (momentum + dL_train/dw + wd w) (DARTS'
    virtual step), minus xi times the Hessian-vector term."""
    d = self.settings
    _, _, grads = self._pass["weights"](train_x, train_y)
    base = [tf.identity(w) for w in self.weights]
    for w, g, m, b in zip(self.weights, grads, self.momentum, base):
      w.assign(b - self.learning_rate * (d.momentum * m + g + d.weight_decay * b))
    val_loss, _, grads = self._pass["both"](val_x, val_y)
    d_alpha, d_w = grads[:len(self.alphas)], grads[len(self.alphas):]
    for w, b in zip(self.weights, base):  # back to w: the Hessian is taken there
      w.assign(b)
    epsilon = 0.01 / tf.linalg.global_norm(d_w)
    implicit = self.hessian_vector(train_x, train_y, d_w, epsilon)
    return val_loss, [a - self.learning_rate * h for a, h in zip(d_alpha, implicit)]

  def _step_fn(self, train_x, train_y, val_x, val_y):
    self.traces += 1  # Python side effect: once per trace
    d = self.settings
    if d.order == 2:
      val_loss, d_alpha = self.unrolled_alpha_gradients(train_x, train_y, val_x, val_y)
    else:
      val_loss, d_alpha = self.alpha_gradients(val_x, val_y)
    d_alpha = [g + d.arch_weight_decay * a for g, a in zip(d_alpha, self.alphas)]
    self.alpha_optimizer.apply_gradients(zip(d_alpha, self.alphas))
    loss, logits, grads = self._pass["weights"](train_x, train_y)
    if d.clip_norm:
      grads, _ = tf.clip_by_global_norm(grads, d.clip_norm)
    for w, g, m in zip(self.weights, grads, self.momentum):
      # torch's SGD with weight decay: m = momentum m + (g + wd w); w -= lr m, one fused op.
      tf.raw_ops.ResourceApplyMomentum(var=w.handle, accum=m.handle, lr=self.learning_rate,
                                       grad=g + d.weight_decay * w, momentum=d.momentum)
    return loss, val_loss, correct_count(logits, train_y)

  def _eval_fn(self, images, labels):
    return correct_count(self.loss(images, labels, training=False)[1], labels)

  # -- the search ----------------------------------------------------------------------------
  def learning_rate_at(self, epoch: int) -> float:
    """Epoch e's rate (0-based): train_search.py steps its scheduler before each epoch (lines
    108-110), so e trains at the cosine of (e + 1) / E, the last epoch at the minimum."""
    d = self.settings
    return d.learning_rate_min + 0.5 * (d.learning_rate - d.learning_rate_min) * (
        1.0 + math.cos(math.pi * (epoch + 1) / d.epochs))

  def alpha_weights(self) -> dict[str, np.ndarray]:
    """softmax(alpha) per cell kind, [edges, ops]."""
    return {kind: softmax(a.numpy()[0]) for kind, a in zip(KINDS, self.alphas)}

  def genotype(self, weights: dict[str, np.ndarray] | None = None) -> dict[str, list]:
    weights = weights or self.alpha_weights()
    return {kind: derive_cell(weights[kind], self.ops, self.nodes) for kind in KINDS}

  def run(self, ctx) -> None:
    d, seed = self.settings, self.config.seed
    state = ctx.store.restore(self.checkpoint) or {"epoch": 0}
    if state["epoch"]:
      ctx.log(f"resuming DARTS after epoch {state['epoch']}/{d.epochs}")
    ctx.log(f"search {self.task.name} (darts, order {d.order}): {d.epochs} epochs, "
            f"{self._network_summary()}, batch {d.batch_size}, {self.task.data_summary} (w on the "
            f"first half of train + validation, alpha on the second), work directory "
            f"{ctx.workdir}")
    while state["epoch"] < d.epochs:
      epoch, started = state["epoch"], time.perf_counter()
      self.learning_rate.assign(self.learning_rate_at(epoch))
      # train_search.py splits the *whole* training set (train_portion 0.5 of 50k, lines
      # 89-100): w on the first half, alpha on the second, both augmented.
      halves = [self.task.shared_data("train+val", d.batch_size,
                                      seeds.child_seed(seed, 2 * epoch + k), part=(k, 2))
                for k in range(2)]
      losses, val_losses, correct, seen = [], [], 0.0, 0
      for (train_x, train_y), (val_x, val_y) in zip(*halves):
        loss, val_loss, right = self._step(train_x, tf.cast(train_y, tf.int32), val_x,
                                           tf.cast(val_y, tf.int32))
        self.steps += 1
        losses.append(float(loss))
        val_losses.append(float(val_loss))
        correct, seen = correct + float(right), seen + int(train_y.shape[0])
      if not (np.all(np.isfinite(losses)) and np.all(np.isfinite(val_losses))):
        raise SearchError(f"DARTS epoch {epoch + 1}: non-finite loss; the last good checkpoint "
                          "is kept")
      state["epoch"] = epoch + 1
      ctx.store.save(state["epoch"], self.checkpoint, state)
      self._log_epoch(ctx, epoch, float(np.mean(losses)), float(np.mean(val_losses)),
                      correct / max(seen, 1), time.perf_counter() - started)
      ctx.epoch_done(epoch)

  def _network_summary(self) -> str:
    d = self.settings
    return (f"{3 * d.layers_per_stage + 2} cells of {supernet.num_edges(self.nodes)} mixed "
            f"edges x {len(self.ops)} ops, {d.channels} channels")

  def _describe(self, weights) -> tuple[str, str]:
    """The architecture ``weights`` derive: in full (TensorBoard) and in a few words."""
    genotype = self.genotype(weights)
    normal = "; ".join(f"{op1}({a})+{op2}({b})" for a, op1, b, op2 in genotype["normal"])
    return self.space.describe({**genotype, "cell_output": "all"}), f"normal cell {normal}"

  def _alpha_tables(self, weights) -> dict[str, str]:
    from nas_tf.diagrams import alpha_table
    return {f"alpha_{kind}": alpha_table("edge", self._edge_names(), self.ops, w)
            for kind, w in weights.items()}

  def _log_epoch(self, ctx, epoch: int, loss: float, val_loss: float, accuracy: float,
                 seconds: float) -> None:
    weights = self.alpha_weights()
    text, short = self._describe(weights)
    picture = self._alpha_picture(weights)
    with ctx.journal.writer.as_default(step=epoch + 1):
      tf.summary.scalar("darts/train_loss", loss)
      tf.summary.scalar("darts/alpha_loss", val_loss)
      tf.summary.scalar("darts/train_accuracy", accuracy)
      tf.summary.scalar("darts/epoch_seconds", seconds)
      tf.summary.scalar("darts/learning_rate", float(self.learning_rate.numpy()))
      tf.summary.text("darts/genotype", f"```\n{text}\n```")
      for tag, table in self._alpha_tables(weights).items():
        tf.summary.text(f"darts/{tag}", table)
      if picture is not None:
        tf.summary.image("darts/alpha", picture[None])
    ctx.journal.writer.flush()
    ctx.log(f"[darts epoch {epoch + 1}/{self.settings.epochs}] train loss {loss:.4f}, "
            f"accuracy {accuracy:.4f}, alpha loss {val_loss:.4f} | {short} | "
            f"{seconds:.1f}s | {self.traces} trace(s)")

  def _edge_names(self) -> list[str]:
    return [f"{('h[c-2]', 'h[c-1]')[j] if j < 2 else f'n{j - 2}'}->n{node}"
            for node in range(self.nodes) for j in range(2 + node)]  # edge_offset's order

  def _alpha_picture(self, weights: dict[str, np.ndarray]) -> tf.Tensor | None:
    """softmax(alpha) of both cells as heat maps (edges x ops), an RGBA image tensor."""
    from nas_tf.diagrams import heat_maps
    png = heat_maps({f"{kind} cell: softmax(alpha)": w for kind, w in weights.items()},
                    self._edge_names(), list(self.ops))
    return tf.image.decode_png(png, channels=4)

  # -- derivation ----------------------------------------------------------------------------
  def derive(self, ctx) -> list[dict[str, Any]]:
    return [self.space.decode(self.space.encode(self.genotype()))]

  def evaluate(self, ctx, arch: dict[str, Any]) -> dict[str, Any]:
    """The supernet's accuracy (alpha-weighted, BN moving statistics) on the second half of
    the training set, alpha's half: DARTS' own figure (train_search.py's infer on
    valid_queue); the derived cell is trained by ``train``."""
    correct = total = 0.0
    for images, labels in self.task.shared_data("train+val", self.config.child.eval_batch_size,
                                                part=(1, 2), training=False):
      correct += float(self._eval_step(images, tf.cast(labels, tf.int32)))
      total += int(labels.shape[0])
    accuracy = correct / max(total, 1.0)
    alphas = {kind: np.round(w, 5).tolist() for kind, w in self.alpha_weights().items()}
    return {self.task.metric: accuracy, "reward": accuracy, "derived": True,
            "alpha_softmax": alphas}

