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

from nas_tf.errors import DiskFull, disk_full
from nas_tf.store import workdir as wd
from nas_tf.products.final import final_dir


class ExportError(RuntimeError):
  pass


def weights_for(workdir: str, row: dict[str, Any]) -> tuple[str, str, float]:
  """(weights file, "final" or "search", width multiplier) for a child row."""
  result_path = os.path.join(final_dir(workdir), "result.json")
  if os.path.exists(result_path):
    result = wd.read_json(result_path)
    if result["child"] == row["index"]:
      return os.path.join(final_dir(workdir), result["weights"]), "final", result["width"]
  path = wd.child_weights_path(workdir, row["index"])
  if not os.path.exists(path):
    raise ExportError(f"the weights of child {wd.child_number(row)} were not kept (only the "
                      "search.keep_weights best children keep theirs); train it first: "
                      f"nas-tf train --workdir={workdir} --child={wd.child_number(row)}")
  return path, "search", 1.0


def save(model: keras.Model, path: str, input_spec: tf.TensorSpec) -> None:
  """Keras 3's SavedModel export: a ``serve`` endpoint and the ``serving_default``
  signature."""
  tmp = f"{path}.tmp"  # a kill or a full disk mid-export leaves the previous export whole
  shutil.rmtree(tmp, ignore_errors=True)
  try:
    model.export(tmp, format="tf_saved_model", verbose=False, input_signature=[input_spec])
  except Exception as e:
    shutil.rmtree(tmp, ignore_errors=True)
    if disk_full(e):
      raise DiskFull(f"disk full while exporting {path}") from None
    raise
  shutil.rmtree(path, ignore_errors=True)
  os.replace(tmp, path)


def export(workdir: str, out: str, task, child: str | None = None) -> dict[str, Any]:
  """Writes the SavedModels of ``child`` (default: the best) into ``out``; returns the
  manifest also written to ``out/export.json``."""
  row = wd.find_child(workdir, child, task.metric, task.higher_is_better)
  weights, source, width = weights_for(workdir, row)
  if task.serving_needs_data and not task.prepared:
    task.prepare()  # e.g. the vocabulary
  os.makedirs(out, exist_ok=True)
  wd.remove_temporaries(out)  # what an interrupted export left (model.tmp/)
  arch = row["arch"]
  settings = task.settings(final=source == "final")
  settings.width = width
  manifest = {"task": task.name, "child": row["index"], "id": row["id"], "weights": source,
              task.metric: row[task.metric], "signature": "serving_default", "models": {}}
  try:
    models = task.serving_models(arch, weights, settings)
  except (OSError, ValueError) as e:  # h5py: truncated, empty or foreign file
    raise wd.WorkdirError(f"{weights}: damaged weights file ("
                          f"{str(e).strip().splitlines()[0][:200]}); retrain it: nas-tf train "
                          f"--workdir={workdir} --child={wd.child_number(row)}") from None
  for name, (model, input_spec, description) in models.items():
    save(model, os.path.join(out, name), input_spec)
    manifest["models"][name] = description
  for name, text in task.serving_files().items():
    with open(os.path.join(out, name), "w") as f:
      f.write(text)
    manifest[name.split(".")[0]] = name
  if source == "final":
    result = wd.read_json(os.path.join(final_dir(workdir), "result.json"))
    manifest[task.test_metric] = result[task.test_metric]
  wd.atomic_write_json(os.path.join(out, "architecture.json"), arch)
  wd.atomic_write_json(os.path.join(out, "export.json"), manifest)
  return manifest
