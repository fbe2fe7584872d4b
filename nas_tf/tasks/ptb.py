"""Penn Treebank recurrent-cell search: the NAS-RL cell tree, a language-model child,
reward c / perplexity^2."""

from __future__ import annotations

from typing import Any

import ml_collections

from nas_tf import config as config_lib
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
    self._train_ids, self._valid_ids = train, valid
    self._train = ptb.batchify(train, c.batch_size, c.bptt)
    self._valid = ptb.batchify(valid, c.batch_size, c.bptt)

  @property
  def data_summary(self) -> str:
    n = lambda b: b[0].size  # noqa: E731
    return (f"vocabulary {len(self.corpus.vocab)}, {n(self._train)} train / "
            f"{n(self._valid)} validation tokens")

  def depth_at(self, child_index: int) -> None:
    return None  # the cell's size is fixed by space.base_number

  def settings(self, final: bool = False) -> ml_collections.ConfigDict:
    return config_lib.child_settings(self.config, final)

  @staticmethod
  def _batches(ids, c):
    return ptb.batchify(ids, c.batch_size, c.bptt)

  def build_inputs(self, seed: int = 0, c: ml_collections.ConfigDict | None = None):
    """Ordered [batch, bptt] windows (the order carries the state; ``seed`` is unused)."""
    import tensorflow as tf
    c = c or self.config.child
    same = c.batch_size == self.config.child.batch_size and c.bptt == self.config.child.bptt
    train_ids = self._train if same else self._batches(self._train_ids, c)
    valid_ids = self._valid if same else self._batches(self._valid_ids, c)
    train = tf.data.Dataset.from_tensor_slices(train_ids)
    valid = tf.data.Dataset.from_tensor_slices(valid_ids)
    return train.prefetch(2), valid.cache()

  def build_model(self, arch: dict[str, Any], c: ml_collections.ConfigDict | None = None,
                  stateful: bool = True):
    from nas_tf import child_rnn
    c = c or self.config.child
    return child_rnn.build_language_model(
        arch, len(self.corpus.vocab), c.units, c.num_layers,
        batch_size=c.batch_size if stateful else None, dropout=c.dropout if stateful else 0.0,
        tie_weights=c.tie_weights, stateful=stateful)

  def compile_model(self, model, c: ml_collections.ConfigDict) -> None:
    from nas_tf import child_trainer
    steps = len(self._batches(self._train_ids, c)[0]) * c.epochs
    child_trainer.compile_language_model(model, c.learning_rate, c.clip_norm, steps,
                                         c.lr_schedule, c.jit_compile)

  def fit(self, model, train, valid, c: ml_collections.ConfigDict, callbacks=(),
          initial_epoch: int = 0):
    """Trains; returns the validation perplexity of each epoch run now, and step timing."""
    from nas_tf import child_trainer
    return child_trainer.fit_language_model(model, train, valid, c.epochs, c.timeout_s or None,
                                            callbacks, initial_epoch)

  @staticmethod
  def epoch_metric(logs: dict[str, float]) -> float:
    from nas_tf import child_trainer
    return child_trainer.perplexity(logs["val_loss"])

  test_metric = "test_perplexity"

  def evaluate_test(self, model, c: ml_collections.ConfigDict) -> float:
    """Perplexity on ptb.test.txt, carrying the state across the whole stream."""
    import tensorflow as tf
    from nas_tf import child_trainer
    test = tf.data.Dataset.from_tensor_slices(self._batches(self.corpus.test, c))
    loss = model.evaluate(test, verbose=0, return_dict=True,
                          callbacks=[child_trainer.ResetStates()])["loss"]
    return child_trainer.perplexity(loss)

  def train_child(self, arch: dict[str, Any], seed: int,
                  weights_path: str | None = None) -> dict[str, Any]:
    from nas_tf import child_trainer
    model, curve, timing = child_trainer.train_and_save(self, arch, seed, weights_path)
    r = self.config.reward
    return {"val_perplexity": min(curve[-r.window:]),
            "reward": child_trainer.perplexity_reward(curve, r.constant, r.window),
            "val_curve": [round(p, 3) for p in curve], "params": int(model.count_params()),
            "formula": self.space.describe(arch),
            **timing}
