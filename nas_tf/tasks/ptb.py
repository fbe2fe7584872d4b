"""Penn Treebank recurrent-cell search: the NAS-RL cell tree, a language-model child,
reward c / perplexity^2."""

from __future__ import annotations

import hashlib
from typing import Any

import ml_collections
import numpy as np

from nas_tf import config as config_lib, registry
from nas_tf.config import ConfigError
from nas_tf.data import ptb
from nas_tf.tasks.base import Task
from nas_tf.tasks.objective import COSTS


class PtbTask(Task):
  name = "ptb"
  metric = "val_perplexity"
  higher_is_better = False
  test_metric = "test_perplexity"
  serving_needs_data = True  # the vocabulary
  cost_names = COSTS  # flops and latency_ms per token (one step of the language model)

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config)
    self.corpus = None

  @property
  def prepared(self) -> bool:
    return self.corpus is not None

  def prepare(self) -> None:
    d, c = self.config.data, self.config.child
    self.corpus = ptb.load(d.source)
    train = self.corpus.train[:d.max_train_tokens] if d.max_train_tokens else self.corpus.train
    valid = self.corpus.valid[:d.max_valid_tokens] if d.max_valid_tokens else self.corpus.valid
    self._train_ids, self._valid_ids = train, valid
    blocks = ("child", "final") if "final" in self.config else ("child",)
    for block in blocks:  # the final training's batches are checked now, not after the search
      f = config_lib.child_settings(self.config, final=block == "final")
      for split, ids in (("training", train), ("validation", valid)):
        if f.batch_size * f.bptt + 1 > len(ids):  # batchify needs one row of bptt steps
          raise ConfigError(f"{block}.batch_size x {block}.bptt ({f.batch_size} x {f.bptt}) "
                            f"is more than the {split} split's {len(ids)} tokens")
    self._train = ptb.batchify(train, c.batch_size, c.bptt)
    self._valid = ptb.batchify(valid, c.batch_size, c.bptt)

  @property
  def data_summary(self) -> str:
    n = lambda b: b[0].size  # noqa: E731
    return (f"vocabulary {len(self.corpus.vocab)}, {n(self._train)} train / "
            f"{n(self._valid)} validation tokens")

  def data_fingerprint(self) -> str:
    digest = hashlib.sha1("\n".join(self.corpus.vocab).encode())
    for ids in (self.corpus.train, self.corpus.valid, self.corpus.test):
      digest.update(np.asarray(ids, np.int64).tobytes())
    return digest.hexdigest()

  @staticmethod
  def _batches(ids, c):
    return ptb.batchify(ids, c.batch_size, c.bptt)

  def build_inputs(self, seed: int = 0, c: ml_collections.ConfigDict | None = None,
                   first_epoch: int = 0):
    """Ordered [batch, bptt] windows, the same every epoch (the order carries the state;
    ``seed`` and ``first_epoch`` change nothing)."""
    import tensorflow as tf

    from nas_tf.data import pipeline
    c = c or self.config.child
    same = c.batch_size == self.config.child.batch_size and c.bptt == self.config.child.bptt
    train_ids = self._train if same else self._batches(self._train_ids, c)
    valid_ids = self._valid if same else self._batches(self._valid_ids, c)
    train = tf.data.Dataset.from_tensor_slices(train_ids)
    valid = tf.data.Dataset.from_tensor_slices(valid_ids)
    return pipeline.configure(train.prefetch(2)), pipeline.configure(valid.cache())

  def build_model(self, arch: dict[str, Any], c: ml_collections.ConfigDict | None = None,
                  stateful: bool = True):
    c = c or self.config.child
    models = self.models(arch)
    # Options of this space's cells (ENAS: recurrent and embedding dropout).
    options = {k: c[k] for k in getattr(models, "OPTIONS", ()) if k in c and stateful}
    # What the cell computes (ENAS: its layer norm) is one setting for search and final.
    enas = self.config.get("enas") or {}
    options.update({k: enas[k] for k in getattr(models, "CELL_OPTIONS", ()) if k in enas})
    if stateful:  # training-only terms of every language model (ENAS's final script)
      options.update(output_dropout=c.get("output_dropout"),
                     slowness_reg=c.get("slowness_reg", 0.0))
    return models.build_language_model(
        arch, len(self.corpus.vocab), c.units, c.num_layers,
        batch_size=c.batch_size if stateful else None, dropout=c.dropout if stateful else 0.0,
        tie_weights=c.tie_weights, stateful=stateful, **options)

  def compile_model(self, model, c: ml_collections.ConfigDict) -> None:
    from nas_tf.tasks import training
    per_epoch = len(self._batches(self._train_ids, c)[0])
    training.compile_language_model(
        model, c.learning_rate, c.clip_norm, per_epoch * c.epochs, c.lr_schedule, c.jit_compile,
        weight_decay=c.get("weight_decay", 0.0), steps_per_epoch=per_epoch,
        exponential=(c.get("lr_decay_rate", 1.0), c.get("lr_decay_start", 0),
                     c.get("learning_rate_min", 0.0)))

  def fit(self, model, train, valid, c: ml_collections.ConfigDict, callbacks=(),
          initial_epoch: int = 0):
    """Trains; returns the validation perplexity of each epoch run now, and step timing."""
    from nas_tf.tasks import training
    return training.fit_language_model(model, train, valid, c.epochs, c.timeout_s or None,
                                            callbacks, initial_epoch)

  @staticmethod
  def epoch_metric(logs: dict[str, float]) -> float:
    from nas_tf.tasks import training
    return training.perplexity(logs["val_loss"])

  def evaluate_test(self, model, c: ml_collections.ConfigDict) -> float:
    """Perplexity on ptb.test.txt, carrying the state across the whole stream."""
    import tensorflow as tf

    from nas_tf.data import pipeline
    from nas_tf.tasks import training
    test = pipeline.configure(tf.data.Dataset.from_tensor_slices(self._batches(self.corpus.test,
                                                                               c)))
    loss = model.evaluate(test, verbose=0, return_dict=True,
                          callbacks=[training.ResetStates()])["loss"]
    return training.perplexity(loss)

  def train_child(self, arch: dict[str, Any], seed: int,
                  weights_path: str | None = None) -> dict[str, Any]:
    from nas_tf.tasks import training
    _, curve, fields = training.train_and_save(self, arch, seed, weights_path)
    r = self.config.reward
    return {"val_perplexity": min(curve[-r.window:]),
            "reward": training.perplexity_reward(curve, r.constant, r.window),
            "val_curve": [round(p, 3) for p in curve],
            "formula": registry.space_class(arch["space"]).describe(arch),  # its own space
            **fields}

  def reward_of(self, value: float) -> float:
    return float(self.config.reward.constant) / float(value) ** 2

  def child_costs(self, model, arch: dict[str, Any]) -> dict[str, Any]:
    """Per token: the stateless language model's step at batch 1 (the trained model's
    state is fixed to the training batch)."""
    import tensorflow as tf

    from nas_tf.tasks import costs
    step = self.build_model(arch, stateful=False)
    return costs.measure(step, tf.TensorSpec([1, 1], tf.int32), self.objective.latency_calls,
                         params_of=model)

  # -- the one-shot hooks (ENAS) ------------------------------------------------------------------
  def input_spec(self):
    """(tokens, targets) TensorSpecs of a minibatch of [batch, bptt] windows."""
    import tensorflow as tf
    return (tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None], tf.int32))

  def shared_steps(self, batch_size: int) -> int:
    return len(ptb.batchify(self._train_ids, batch_size, self.config.child.bptt)[0])

  def shared_data(self, split: str, batch_size: int, seed: int | None = None):
    """[batch, bptt] windows of ``split``: training windows in stream order (the state is
    carried across them); validation windows in order, or with a ``seed`` shuffled (reward
    minibatches, each scored from the training's carried state: ``shared_reward_step``)."""
    import tensorflow as tf

    from nas_tf.data import pipeline
    ids = self._train_ids if split == "train" else self._valid_ids
    windows = tf.data.Dataset.from_tensor_slices(ptb.batchify(ids, batch_size,
                                                              self.config.child.bptt))
    if split != "train" and seed is not None:
      windows = windows.shuffle(len(windows), seed=seed, reshuffle_each_iteration=True)
    return pipeline.configure(windows)

  def shared_train_step(self, model, optimizer, tokens, targets, weight_decay: float, *arch):
    """One step of truncated BPTT from the carried state, which it then advances; returns
    (mean loss, summed token losses, tokens)."""
    import tensorflow as tf
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
      logits, last = model(tokens, *arch, initial_state=model.train_state, training=True)
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits))
      decay = tf.add_n([tf.reduce_sum(tf.square(v)) for v in variables if "kernel" in v.path])
      total = loss + 0.5 * weight_decay * decay
    grads = tape.gradient(total, variables)
    optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
    model.train_state.assign(tf.stop_gradient(last))
    count = tf.size(targets)
    return loss, loss * tf.cast(count, tf.float32), count

  def shared_reward_step(self, model, tokens, targets, *arch):
    """A controller reward window: (summed token losses, tokens) from the training's carried
    state, without dropout, leaving that state as it was (ENAS's valid_rl starts from the
    training's start_h and does not carry: ptb_enas_child.py lines 248-252, 404-411)."""
    import tensorflow as tf
    logits, _ = model(tokens, *arch, initial_state=model.train_state, training=False)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
    return tf.reduce_sum(losses), tf.size(targets)

  def shared_eval_step(self, model, tokens, targets, *arch):
    """(summed token losses, tokens) of a window from a zero state, without dropout."""
    import tensorflow as tf
    logits, _ = model(tokens, *arch, training=False)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
    return tf.reduce_sum(losses), tf.size(targets)

  def shared_result(self, score: float, count: int) -> dict[str, float]:
    """Perplexity of summed token losses, and ENAS's reward c / perplexity."""
    from nas_tf.tasks import training
    perplexity = training.perplexity(score / max(count, 1))
    return {self.metric: perplexity,
            "reward": self.config.enas.get("reward_constant", 80.0) / perplexity}

  def serving_models(self, arch: dict[str, Any], weights: str, settings) -> dict[str, Any]:
    """The language model (token ids -> log-probabilities) and the first layer's cell alone
    in ``keras.layers.RNN``, stateless and without dropout, with the trained weights."""
    import keras
    import tensorflow as tf
    trained = self.build_model(arch, settings)  # same layout as the trained (stateful) model
    trained.load_weights(weights)
    lm = self.build_model(arch, settings, stateful=False)
    lm.set_weights(trained.get_weights())
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    log_probs = keras.layers.Activation("log_softmax", name="log_probabilities")(lm(tokens))
    language_model = keras.Model(tokens, log_probs, name="nas_tf_language_model")
    units, v = settings.units, len(self.corpus.vocab)
    inputs = keras.Input((None, units), name="inputs")
    cell = self.models(arch).make_cell(arch, units, name="cell")
    rnn = keras.layers.RNN(cell, return_sequences=True, name="rnn")
    cell_model = keras.Model(inputs, rnn(inputs), name="nas_tf_cell")
    rnn.cell.set_weights(trained.get_layer("rnn_0").cell.get_weights())
    return {"language_model": (language_model, tf.TensorSpec([None, None], tf.int32,
                                                             name="tokens"),
                               {"input": "tokens: int32 token ids [N, T]",
                                "output": f"log-probabilities [N, T, {v}]"}),
            "cell": (cell_model, tf.TensorSpec([None, None, units], tf.float32,
                                                 name="inputs"),
                     {"input": f"inputs: float32 [N, T, {units}]",
                      "output": f"float32 [N, T, {units}]"})}

  def serving_files(self) -> dict[str, str]:
    """Files written beside the SavedModels: the vocabulary (line k is token id k)."""
    return {"vocab.txt": "\n".join(self.corpus.vocab) + "\n"}



class TextTask(PtbTask):
  """A word-level language-model search on any folder with ``train.txt``, ``valid.txt`` and
  ``test.txt`` (one sentence per line): PTB's task, under its own name."""
  name = "text"
