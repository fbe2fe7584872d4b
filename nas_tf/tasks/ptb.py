"""Penn Treebank recurrent-cell search: the NAS-RL cell tree, a language-model child,
reward c / perplexity^2."""

from __future__ import annotations

import time
from typing import Any

import ml_collections

from nas_tf.data import ptb
from nas_tf.search_space import RNNCellSearchSpace


class PtbTask:
  name = "ptb"
  metric = "val_perplexity"
  higher_is_better = False

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.space = RNNCellSearchSpace(config.space.base_number)
    self.corpus = None

  @property
  def prepared(self) -> bool:
    return self.corpus is not None

  def prepare(self) -> None:
    d, c = self.config.data, self.config.child
    self.corpus = ptb.load(d.source)
    train = self.corpus.train[:d.max_train_tokens] if d.max_train_tokens else self.corpus.train
    valid = self.corpus.valid[:d.max_valid_tokens] if d.max_valid_tokens else self.corpus.valid
    self._train = ptb.batchify(train, c.batch_size, c.bptt)
    self._valid = ptb.batchify(valid, c.batch_size, c.bptt)

  @property
  def data_summary(self) -> str:
    n = lambda b: b[0].size  # noqa: E731
    return (f"vocabulary {len(self.corpus.vocab)}, {n(self._train)} train / "
            f"{n(self._valid)} validation tokens")

  def depth_at(self, child_index: int) -> None:
    return None  # the cell's size is fixed by space.base_number

  def build_inputs(self):
    import tensorflow as tf
    train = tf.data.Dataset.from_tensor_slices(self._train)
    valid = tf.data.Dataset.from_tensor_slices(self._valid)
    return train.prefetch(2), valid.cache()

  def build_model(self, arch: dict[str, Any]):
    from nas_tf import child_rnn
    c = self.config.child
    return child_rnn.build_language_model(arch, len(self.corpus.vocab), c.units, c.num_layers,
                                          batch_size=c.batch_size, dropout=c.dropout,
                                          tie_weights=c.tie_weights)

  def train_child(self, arch: dict[str, Any], seed: int) -> dict[str, Any]:
    import keras
    from nas_tf import child_trainer
    c = self.config.child
    started = time.perf_counter()
    keras.utils.set_random_seed(seed)
    train, valid = self.build_inputs()
    model = self.build_model(arch)
    child_trainer.compile_language_model(model, c.learning_rate, c.clip_norm,
                                         len(self._train[0]) * c.epochs, c.lr_schedule,
                                         c.jit_compile)
    built = time.perf_counter()
    curve, timing = child_trainer.fit_language_model(model, train, valid, c.epochs,
                                                     c.timeout_s or None)
    trained = time.perf_counter()
    r = self.config.reward
    return {"val_perplexity": min(curve[-r.window:]),
            "reward": child_trainer.perplexity_reward(curve, r.constant, r.window),
            "val_curve": [round(p, 3) for p in curve], "params": int(model.count_params()),
            "formula": self.space.describe(arch),
            **child_trainer.timing_fields(started, built, trained, timing)}
