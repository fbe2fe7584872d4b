"""ENAS for CNNs (Pham et al. 2018, section 2.3, the macro space): shared weights.

Every architecture of the space is a path through one supernet that holds one set of
weights per (layer, operation). A sampled architecture is fed to the supernet as two
tensors (the operation index per layer and the skip-connection matrix), so switching
architectures between minibatches re-uses one traced training step: a child costs one
minibatch, not one model build.

The space: ``num_layers`` layers of ``channels`` channels. Layer i applies one of six
operations to layer i-1's output (the stem's for layer 0), then averages the result with the
outputs of the earlier layers its anchor point selects. Before each layer listed in
``reduce_at`` every earlier output is average-pooled by 2 (the fixed reductions). Global
average pooling and a dense classifier close the network. The controller is the NAS-RL
``Controller`` over this space's plan, trained by the same ``Reinforce`` step.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import keras
import ml_collections
import numpy as np
import tensorflow as tf

from nas_tf import workdir as wd
from nas_tf.child_cnn import batch_norm
from nas_tf.data import pipeline
from nas_tf.errors import SearchError
from nas_tf.search import Search, SearchResult, child_seed, log_picture
from nas_tf.search_space import Anchor, Choice, Plan, architecture_id, plan_length
from nas_tf.strategies import NasRl

OPERATIONS = ("conv3x3", "conv5x5", "sep3x3", "sep5x5", "maxpool3x3", "avgpool3x3")


class EnasMacroSpace:
  """``{"space": "enas_macro", "layers": [{"operation": "sep5x5", "inputs": [0, 2]}, ...],
  "channels": 36, "reduce_at": [4, 8]}``; ``inputs`` are the skip connections (layer i-1
  always feeds layer i's operation)."""

  name = "enas_macro"

  def __init__(self, num_layers: int = 12, channels: int = 36,
               reduce_at: Sequence[int] | None = None):
    if num_layers < 1:
      raise ValueError(f"enas.num_layers must be >= 1, got {num_layers}")
    self.num_layers, self.channels = int(num_layers), int(channels)
    if reduce_at is None:
      reduce_at = sorted({num_layers // 3, 2 * num_layers // 3} - {0})
    self.reduce_at = tuple(int(r) for r in reduce_at)
    if any(not 0 < r < num_layers for r in self.reduce_at):
      raise ValueError(f"enas.reduce_at must be layers in 1..{num_layers - 1}, got "
                       f"{list(self.reduce_at)}")
    self.vocab = {"operation": OPERATIONS}

  @property
  def token_types(self) -> dict[str, int]:
    return {"operation": len(OPERATIONS)}

  def plan(self, depth: int | None = None) -> Plan:
    """Per layer: its operation, then its anchor point (``depth`` is ignored: fixed L)."""
    decisions = []
    for layer in range(self.num_layers):
      decisions += [Choice("operation"), Anchor(layer)]
    return tuple(decisions)

  def decode(self, tokens: Sequence[int], depth: int | None = None) -> dict[str, Any]:
    tokens = [int(t) for t in tokens]
    if len(tokens) != plan_length(self.plan()):
      raise ValueError(f"expected {plan_length(self.plan())} tokens, got {len(tokens)}")
    layers, pos = [], 0
    for layer in range(self.num_layers):
      operation = OPERATIONS[tokens[pos]]
      inputs = [j for j in range(layer) if tokens[pos + 1 + j]]
      layers.append({"operation": operation, "inputs": inputs})
      pos += 1 + layer
    return {"space": self.name, "id": architecture_id(self.name, tokens), "tokens": tokens,
            "channels": self.channels, "reduce_at": list(self.reduce_at), "layers": layers}

  @staticmethod
  def describe(arch: dict[str, Any]) -> str:
    lines = []
    for i, layer in enumerate(arch["layers"]):
      skips = f" + skip from {','.join(map(str, layer['inputs']))}" if layer["inputs"] else ""
      reduce = "reduce, " if i in arch["reduce_at"] else ""
      lines.append(f"L{i}: {reduce}{layer['operation']}{skips}")
    return "\n".join(lines)

  @staticmethod
  def hparams(arch: dict[str, Any]) -> dict[str, Any]:
    ops = [layer["operation"] for layer in arch["layers"]]
    return {"depth": len(ops), **{f"count_{op}": ops.count(op) for op in OPERATIONS},
            "skip_connections": sum(len(layer["inputs"]) for layer in arch["layers"]),
            "operations": ",".join(ops)}

  def as_tensors(self, arch: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(operation index per layer [L], skip matrix [L, L] with 1 where j feeds i)."""
    ops = np.array([OPERATIONS.index(layer["operation"]) for layer in arch["layers"]], np.int32)
    skips = np.zeros((self.num_layers, self.num_layers), np.float32)
    for i, layer in enumerate(arch["layers"]):
      skips[i, layer["inputs"]] = 1.0
    return ops, skips


# -- the operations, shared by the supernet and stand-alone children -------------------------------

def make_operation(kind: str, channels: int, name: str) -> list[keras.layers.Layer]:
  """The layers of one operation, applied in order."""
  if kind.startswith(("conv", "sep")):
    size = int(kind[-1])
    conv = keras.layers.Conv2D if kind.startswith("conv") else keras.layers.SeparableConv2D
    return [conv(channels, size, padding="same", use_bias=False, name=f"{name}_conv"),
            batch_norm(f"{name}_bn"),
            keras.layers.ReLU(name=f"{name}_relu")]
  if kind == "maxpool3x3":
    return [keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")]
  if kind == "avgpool3x3":
    return [keras.layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_pool")]
  raise ValueError(f"unknown ENAS operation {kind!r} (known: {', '.join(OPERATIONS)})")


def _apply(layers, x, training):
  for layer in layers:
    x = layer(x, training=training) if isinstance(layer, keras.layers.BatchNormalization) \
        else layer(x)
  return x


def _stem(channels: int) -> list[keras.layers.Layer]:
  return [keras.layers.Conv2D(channels, 3, padding="same", use_bias=False, name="stem_conv"),
          batch_norm("stem_bn")]


def _reduce(x):
  return tf.nn.avg_pool2d(x, 2, 2, "VALID")


class Supernet(keras.Model):
  """All operations of all layers; ``call(images, ops, skips)`` runs the architecture given
  by the tensors ``ops`` [L] (int32) and ``skips`` [L, L] (float32)."""

  def __init__(self, space: EnasMacroSpace, num_classes: int = 10, **kwargs):
    super().__init__(**kwargs)
    self.space = space
    c = space.channels
    self.stem = _stem(c)
    self.operations = [[make_operation(kind, c, f"l{i}_{kind}") for kind in OPERATIONS]
                       for i in range(space.num_layers)]
    self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
    self.classifier = keras.layers.Dense(num_classes, name="logits")

  def build_all(self, input_shape=(32, 32, 3)) -> None:
    """Creates every weight eagerly (variables cannot be created inside a switch branch)."""
    x = _apply(self.stem, tf.zeros((1, *input_shape)), False)
    for i in range(self.space.num_layers):
      if i in self.space.reduce_at:
        x = _reduce(x)
      for op in self.operations[i]:
        _apply(op, x, False)
    self.classifier(self.pool(x))
    self.built = True

  def call(self, images, ops, skips, training=False):
    x = _apply(self.stem, images, training)
    outputs = []
    for i in range(self.space.num_layers):
      if i in self.space.reduce_at:
        x = _reduce(x)
        outputs = [_reduce(o) for o in outputs]
      branches = [lambda op=op, x=x: _apply(op, x, training) for op in self.operations[i]]
      y = tf.switch_case(ops[i], branches)
      if i:
        weights = skips[i, :i]
        y = (y + tf.einsum("j,jnhwc->nhwc", weights, tf.stack(outputs))) / (
            1.0 + tf.reduce_sum(weights))
      outputs.append(y)
      x = y
    return self.classifier(self.pool(x))


def build_child(arch: dict[str, Any], input_shape=(32, 32, 3), num_classes: int = 10,
                weight_decay: float = 0.0, width: float = 1.0,
                name: str | None = None) -> keras.Model:
  """The architecture as a stand-alone functional Keras model (logits), for training from
  scratch and export; layer names match the supernet's, so its weights can be copied in."""
  channels = max(1, int(round(arch["channels"] * width)))
  reduce_at = set(arch["reduce_at"])
  image = keras.Input(input_shape, name="image")
  x = image
  for layer in _stem(channels):
    x = layer(x)
  outputs = []
  for i, spec in enumerate(arch["layers"]):
    if i in reduce_at:
      pool = lambda t, k: keras.layers.AveragePooling2D(2, name=f"l{i}_reduce{k}")(t)  # noqa
      x = pool(x, "x")
      outputs = [pool(o, j) for j, o in enumerate(outputs)]
    layers = make_operation(spec["operation"], channels, f"l{i}_{spec['operation']}")
    if weight_decay:  # set before the layers build their weights
      for layer in layers:
        for attr in ("kernel_regularizer", "depthwise_regularizer", "pointwise_regularizer"):
          if hasattr(layer, attr):
            setattr(layer, attr, keras.regularizers.L2(weight_decay))
    y = x
    for layer in layers:
      y = layer(y)
    if spec["inputs"]:
      skips = [outputs[j] for j in spec["inputs"]]
      y = keras.layers.Average(name=f"l{i}_skip_average")([y] + skips)
    outputs.append(y)
    x = y
  x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
  logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
  return keras.Model(image, logits, name=name or f"enas_child_{arch.get('id', '')}")


def copy_shared_weights(supernet: Supernet, child: keras.Model, arch: dict[str, Any]) -> None:
  """Loads the supernet's weights of ``arch``'s operations into a stand-alone child."""
  for layer in supernet.stem:
    child.get_layer(layer.name).set_weights(layer.get_weights())
  for i, spec in enumerate(arch["layers"]):
    for layer in supernet.operations[i][OPERATIONS.index(spec["operation"])]:
      child.get_layer(layer.name).set_weights(layer.get_weights())
  child.get_layer("logits").set_weights(supernet.classifier.get_weights())


# -- the search loop -------------------------------------------------------------------------

class EnasSearch(Search):
  """ENAS in one work directory, with the NAS-RL loop's contract: ``children.jsonl`` (the
  derived architectures, scored with the shared weights), ``best.json``, checkpoints after
  every epoch (supernet, its optimizer, controller, Adam slots, baseline, random state),
  TensorBoard. Rerunning resumes at the last finished epoch."""

  def __init__(self, config, workdir: str, task, log=print, after_epoch=None):
    self._init_workdir(config, workdir, task, log, after_child=None)
    e = config.enas
    self.after_epoch = after_epoch  # test hook
    self.space = EnasMacroSpace(e.num_layers, e.channels, list(e.reduce_at) or None)
    self.total_children = e.derive_samples
    controller = ml_collections.ConfigDict(config.controller.to_dict())
    controller.learning_rate = e.controller_learning_rate
    controller.entropy_weight = e.entropy_weight
    controller.baseline_decay = e.baseline_decay
    self.strategy = NasRl(controller, config.seed, self.space.token_types,
                          compiled=config.controller.compile != "eager")
    self.plan = self.space.plan()
    self.supernet = Supernet(self.space)
    self.supernet.build_all()
    self.traces = 0  # how often the shared-weights training step was traced
    # autograph off: the layer loop is static Python; one trace serves every architecture.
    self._train_step = tf.function(self._train_step_fn, autograph=False, input_signature=[
        tf.TensorSpec([None, 32, 32, 3], tf.float32), tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([self.space.num_layers], tf.int32),
        tf.TensorSpec([self.space.num_layers, self.space.num_layers], tf.float32)])
    self._eval_step = tf.function(self._eval_step_fn, autograph=False, input_signature=[
        tf.TensorSpec([None, 32, 32, 3], tf.float32), tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([self.space.num_layers], tf.int32),
        tf.TensorSpec([self.space.num_layers, self.space.num_layers], tf.float32)])
    self.optimizer = None

  # -- steps ---------------------------------------------------------------------------------------
  def _build_optimizer(self, steps_per_epoch: int) -> None:
    e = self.config.enas
    lr = keras.optimizers.schedules.CosineDecay(e.learning_rate,
                                                max(1, steps_per_epoch * e.epochs))
    self.optimizer = keras.optimizers.SGD(lr, momentum=0.9, nesterov=True,
                                          global_clipnorm=e.clip_norm or None)
    self.optimizer.build(self.supernet.trainable_variables)
    self.checkpoint = tf.train.Checkpoint(supernet=self.supernet, supernet_optimizer=self.optimizer,
                                          **self.strategy.trackables())

  def _train_step_fn(self, images, labels, ops, skips):
    self.traces += 1  # Python side effect: runs once per trace, not per step
    variables = self.supernet.trainable_variables
    with tf.GradientTape() as tape:
      logits = self.supernet(images, ops, skips, training=True)
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
      decay = tf.add_n([tf.reduce_sum(tf.square(v)) for v in variables if "kernel" in v.name])
      total = loss + self.config.enas.weight_decay * decay
    grads = tape.gradient(total, variables)
    self.optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
    correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1, tf.int32), labels), tf.float32))
    return loss, correct

  def _eval_step_fn(self, images, labels, ops, skips):
    # Batch statistics, as ENAS does: an operation's moving BN averages see only the few
    # minibatches it was sampled for, and would score every architecture as near chance.
    logits = self.supernet(images, ops, skips, training=True)
    return tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1, tf.int32), labels), tf.float32))

  def accuracy(self, arch: dict[str, Any], dataset) -> float:
    """The architecture's accuracy on ``dataset`` under the shared weights."""
    ops, skips = self.space.as_tensors(arch)
    correct = total = 0.0
    for images, labels in dataset:
      correct += float(self._eval_step(images, tf.cast(labels, tf.int32), ops, skips))
      total += int(labels.shape[0])
    return correct / max(total, 1.0)

  def params(self, arch: dict[str, Any]) -> int:
    """Parameters of the stand-alone child of ``arch`` (stem, chosen operations, classifier)."""
    count = lambda layers: sum(int(np.prod(w.shape)) for l in layers for w in l.weights)  # noqa
    chosen = [layer for i, spec in enumerate(arch["layers"])
              for layer in self.supernet.operations[i][OPERATIONS.index(spec["operation"])]]
    return count(self.supernet.stem) + count(chosen) + count([self.supernet.classifier])

  # -- the loop ------------------------------------------------------------------------------------
  def _run(self) -> SearchResult:
    started = time.perf_counter()
    e, c = self.config.enas, self.config.child
    if not self.task.prepared:
      self.task.prepare()
    split = self.task._split
    steps_per_epoch = -(-len(split.train_labels) // c.batch_size)
    self._build_optimizer(steps_per_epoch)
    fresh_rng = np.random.Generator(np.random.PCG64(self.config.seed))
    state = self.store.restore(self.checkpoint) or {"epoch": 0,
                                                    "rng": fresh_rng.bit_generator.state}
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state["rng"]
    if state["epoch"]:
      self.log(f"resuming ENAS at epoch {state['epoch']}/{e.epochs}")
    self.log(f"search {self.task.name} (enas): {e.epochs} epochs of shared-weight training, "
             f"{self.space.num_layers} layers x {self.space.channels} channels, "
             f"{self.task.data_summary}, work directory {self.workdir}")
    self._load_finished()
    self._open_logs()
    writer = self.writer
    val = pipeline.eval_dataset(split.val_images, split.val_labels, c.eval_batch_size)
    val_minibatches = pipeline.eval_dataset(split.val_images, split.val_labels, c.batch_size)
    while state["epoch"] < e.epochs:
      epoch, epoch_started = state["epoch"], time.perf_counter()
      # (a) shared weights: one pass, a fresh architecture for every minibatch
      train = pipeline.train_dataset(split.train_images, split.train_labels, c.batch_size,
                                     child_seed(self.config.seed, epoch),
                                     augment=self.config.data.augment)
      tokens, _ = self.strategy.controller.sample(self.plan, steps_per_epoch,
                                                  rng.integers(0, 2**31 - 1, size=2))
      losses, correct, seen = [], 0.0, 0
      for step, (images, labels) in enumerate(train):
        ops, skips = self.space.as_tensors(self.space.decode(tokens[step]))
        loss, right = self._train_step(images, tf.cast(labels, tf.int32), ops, skips)
        losses.append(float(loss))
        correct, seen = correct + float(right), seen + int(labels.shape[0])
      if not np.all(np.isfinite(losses)):
        raise SearchError(f"ENAS epoch {epoch}: non-finite shared-weights loss; the last "
                          "good checkpoint is kept")
      # (b) controller: REINFORCE on validation minibatches under the shared weights
      val_iter = iter(val_minibatches.repeat())
      stats_all = []
      for _ in range(e.controller_steps):
        tokens_c, _ = self.strategy.controller.sample(self.plan, e.controller_batch,
                                                      rng.integers(0, 2**31 - 1, size=2))
        images, labels = next(val_iter)
        labels = tf.cast(labels, tf.int32)
        rewards = []
        for k in range(e.controller_batch):
          ops, skips = self.space.as_tensors(self.space.decode(tokens_c[k]))
          rewards.append(float(self._eval_step(images, labels, ops, skips)) / int(labels.shape[0]))
        stats = self.strategy.tell(self.plan, tokens_c, rewards)
        if not stats["finite"]:
          raise SearchError(f"non-finite controller update in ENAS epoch {epoch}")
        stats_all.append(stats)
      state["epoch"] = epoch + 1
      state["rng"] = rng.bit_generator.state
      self.store.save(state["epoch"], self.checkpoint, state)
      seconds = time.perf_counter() - epoch_started
      with writer.as_default(step=epoch + 1):
        tf.summary.scalar("enas/train_loss", float(np.mean(losses)))
        tf.summary.scalar("enas/train_accuracy", correct / max(seen, 1))
        tf.summary.scalar("enas/epoch_seconds", seconds)
        for key in ("reward", "baseline", "loss", "entropy", "grad_norm"):
          if stats_all:
            tf.summary.scalar(f"controller/{key}", float(np.mean([s[key] for s in stats_all])))
      writer.flush()
      reward = np.mean([s["reward"] for s in stats_all]) if stats_all else float("nan")
      self.log(f"[enas epoch {epoch + 1}/{e.epochs}] shared loss {np.mean(losses):.4f}, "
               f"train accuracy {correct / max(seen, 1):.4f}, controller reward {reward:.4f} | "
               f"{seconds:.1f}s | {self.traces} trace(s)")
      if self.after_epoch:
        self.after_epoch(epoch)
    # Derivation: sample architectures, score each on the whole validation split.
    derive_rng = np.random.Generator(np.random.PCG64([self.config.seed, e.epochs]))
    tokens, _ = self.strategy.controller.sample(self.plan, e.derive_samples,
                                                derive_rng.integers(0, 2**31 - 1, size=2))
    for index in range(e.derive_samples):
      arch = self.space.decode(tokens[index])
      if index not in self.finished:
        t0 = time.perf_counter()
        accuracy = self.accuracy(arch, val)
        row = {"index": index, "step": e.epochs, "id": arch["id"], "arch": arch, "seed": None,
               "depth": self.space.num_layers, "status": "ok", "val_accuracy": accuracy,
               "reward": accuracy, "params": self.params(arch), "shared_weights": True,
               "seconds": round(time.perf_counter() - t0, 3)}
        wd.append_jsonl(self.children_path, row)
        self._record(row)
    best = self.best
    if best is not None:
      wd.atomic_write_json(self.best_path, best)
      log_picture(writer, "search/best_architecture", best)
    writer.close()
    self.log(f"done: {len(self.finished)} derived architectures; best val_accuracy "
             f"{best['val_accuracy']:.4f} with the shared weights (child {best['index']}, id "
             f"{best['id']}); train it from scratch: nas-tf train --workdir={self.workdir}")
    return SearchResult(best, len(self.finished), 0, time.perf_counter() - started,
                        self.child_seconds)

  def run(self) -> SearchResult:
    return self._run()  # no executor: the supernet trains in this process
