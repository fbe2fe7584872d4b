"""``nas-tf export``: a found child as TensorFlow SavedModels that serve without nas_tf.

The weights are the final training's (``final/model.weights.h5``) when ``nas-tf train`` ran
for that child, else the child's search-time weights (``weights/child-N.weights.h5``, kept
for the ``search.keep_weights`` best children). Each SavedModel has a ``serving_default``
signature; ``architecture.json`` and ``export.json`` (what was exported, from which weights)
sit beside them.

  CIFAR-10  OUT/model           uint8 images [N, 32, 32, 3] -> class probabilities [N, 10]
  PTB       OUT/language_model  token ids [N, T] -> next-token log-probabilities [N, T, V]
            OUT/cell            RNN(found cell): inputs [N, T, D] -> outputs [N, T, H]
            OUT/vocab.txt       one word per line; line k is token id k
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import keras
import tensorflow as tf
from keras import ops

from nas_tf import workdir as wd
from nas_tf.final import final_dir
from nas_tf.search import child_weights_path


class ExportError(RuntimeError):
  pass


@keras.saving.register_keras_serializable(package="nas_tf")
class Standardize(keras.layers.Layer):
  """uint8 (or float) images -> (x - mean) / std per channel, the training normalization."""

  def __init__(self, mean, std, **kwargs):
    super().__init__(**kwargs)
    self.mean, self.std = [float(m) for m in mean], [float(s) for s in std]

  def call(self, images):
    x = ops.cast(images, "float32")
    return (x - ops.array(self.mean, "float32")) / ops.array(self.std, "float32")

  def get_config(self):
    return {**super().get_config(), "mean": self.mean, "std": self.std}


def weights_for(workdir: str, row: dict[str, Any]) -> tuple[str, str, float]:
  """(weights file, "final" or "search", width multiplier) for a child row."""
  result_path = os.path.join(final_dir(workdir), "result.json")
  if os.path.exists(result_path):
    result = wd.read_json(result_path)
    if result["child"] == row["index"]:
      return os.path.join(final_dir(workdir), result["weights"]), "final", result["width"]
  path = child_weights_path(workdir, row["index"])
  if not os.path.exists(path):
    raise ExportError(f"the weights of child {row['index']} were not kept (only the "
                      "search.keep_weights best children keep theirs); train it first: "
                      f"nas-tf train --workdir={workdir} --child={row['index']}")
  return path, "search", 1.0


def save(model: keras.Model, path: str, input_spec: tf.TensorSpec) -> None:
  """Keras 3's SavedModel export: a ``serve`` endpoint and the ``serving_default``
  signature."""
  shutil.rmtree(path, ignore_errors=True)
  model.export(path, format="tf_saved_model", verbose=False, input_signature=[input_spec])


def cnn_serving_model(task, arch: dict[str, Any], weights: str, width: float) -> keras.Model:
  """uint8 images -> class probabilities, with the child's trained weights."""
  from nas_tf.data import cifar10
  c = task.settings(final=True)
  c.width = width
  child = task.build_model(arch, c)
  child.load_weights(weights)
  images = keras.Input(cifar10.IMAGE_SHAPE, dtype="uint8", name="images")
  x = Standardize(cifar10.MEAN, cifar10.STD, name="standardize")(images)
  probabilities = keras.layers.Softmax(name="probabilities")(child(x))
  return keras.Model(images, probabilities, name="nas_tf_cnn")


def language_models(task, arch: dict[str, Any], weights: str, settings) -> tuple[keras.Model,
                                                                                 keras.Model]:
  """(token ids -> log-probabilities, the first layer's cell alone in ``keras.layers.RNN``),
  stateless and without dropout, with the trained weights."""
  from nas_tf.child_rnn import NASCell
  trained = task.build_model(arch, settings)  # same layout as the trained (stateful) model
  trained.load_weights(weights)
  lm = task.build_model(arch, settings, stateful=False)
  lm.set_weights(trained.get_weights())
  tokens = keras.Input((None,), dtype="int32", name="tokens")
  log_probs = keras.layers.Activation("log_softmax", name="log_probabilities")(lm(tokens))
  language_model = keras.Model(tokens, log_probs, name="nas_tf_language_model")
  units = settings.units
  inputs = keras.Input((None, units), name="inputs")
  rnn = keras.layers.RNN(NASCell(arch, units, name="cell"), return_sequences=True, name="rnn")
  cell_model = keras.Model(inputs, rnn(inputs), name="nas_tf_cell")
  rnn.cell.set_weights(trained.get_layer("rnn_0").cell.get_weights())
  return language_model, cell_model


def export(workdir: str, out: str, task, child: str | None = None) -> dict[str, Any]:
  """Writes the SavedModels of ``child`` (default: the best) into ``out``; returns the
  manifest also written to ``out/export.json``."""
  row = wd.find_child(workdir, child, task.metric, task.higher_is_better)
  weights, source, width = weights_for(workdir, row)
  if not task.prepared and task.name == "ptb":
    task.prepare()  # the vocabulary
  os.makedirs(out, exist_ok=True)
  arch = row["arch"]
  manifest = {"task": task.name, "child": row["index"], "id": row["id"], "weights": source,
              task.metric: row[task.metric], "signature": "serving_default", "models": {}}
  if task.name == "cifar10":
    model = cnn_serving_model(task, arch, weights, width)
    save(model, os.path.join(out, "model"), tf.TensorSpec([None, 32, 32, 3], tf.uint8))
    manifest["models"]["model"] = {"input": "uint8 images [N, 32, 32, 3]",
                                   "output": "class probabilities [N, 10]"}
  elif task.name == "ptb":
    settings = task.settings(final=source == "final")
    lm, cell = language_models(task, arch, weights, settings)
    save(lm, os.path.join(out, "language_model"), tf.TensorSpec([None, None], tf.int32))
    save(cell, os.path.join(out, "cell"), tf.TensorSpec([None, None, settings.units],
                                                        tf.float32))
    with open(os.path.join(out, "vocab.txt"), "w") as f:
      f.write("\n".join(task.corpus.vocab) + "\n")
    v, u = len(task.corpus.vocab), settings.units
    manifest["models"]["language_model"] = {
        "input": "int32 token ids [N, T]", "output": f"log-probabilities [N, T, {v}]"}
    manifest["models"]["cell"] = {"input": f"float32 [N, T, {u}]",
                                  "output": f"float32 [N, T, {u}]"}
    manifest["vocab"] = "vocab.txt"
  else:
    raise ExportError(f"no export for task {task.name!r}")
  if source == "final":
    result = wd.read_json(os.path.join(final_dir(workdir), "result.json"))
    manifest[task.test_metric] = result[task.test_metric]
  wd.atomic_write_json(os.path.join(out, "architecture.json"), arch)
  wd.atomic_write_json(os.path.join(out, "export.json"), manifest)
  return manifest
