"""Export round trips: a process that imports only TensorFlow serves each SavedModel and gets
the Keras model's outputs; final training resumes; export prefers final weights."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import serve_in_tensorflow_only_process, tiny_cifar_config, tiny_ptb_config
from nas_tf.products import export as export_lib
from nas_tf.store import workdir as wd
from nas_tf.products.final import train_final
from nas_tf.runner.loop import Search
from nas_tf.tasks.cifar10 import Cifar10Task
from nas_tf.tasks.ptb import PtbTask

def search(config, workdir, task_class):
  task = task_class(config)
  Search(config, workdir, task, log=lambda _: None).run()
  return task


def test_cnn_export_serves_uint8_images_in_a_tensorflow_only_process(tmp_path):
  workdir, out = str(tmp_path / "w"), str(tmp_path / "out")
  task = search(tiny_cifar_config(3), workdir, Cifar10Task)
  manifest = export_lib.export(workdir, out, Cifar10Task(task.config))
  best = wd.read_json(os.path.join(workdir, "best.json"))
  assert manifest["child"] == best["index"] and manifest["weights"] == "search"
  assert wd.read_json(os.path.join(out, "architecture.json")) == best["arch"]
  images = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
  served = serve_in_tensorflow_only_process(os.path.join(out, "model"), images, tmp_path)
  weights, _, width = export_lib.weights_for(workdir, best)
  settings = task.settings(final=True)
  settings.width = width
  keras_model = task.serving_models(best["arch"], weights, settings)["model"][0]
  expected = keras_model.predict(images, verbose=0)
  assert served.shape == (5, 10)
  np.testing.assert_allclose(served, expected, atol=1e-5)
  np.testing.assert_allclose(served.sum(axis=1), 1.0, atol=1e-5)
  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  shown = subprocess.run([cli, "show", "--dir", os.path.join(out, "model"), "--all"],
                         capture_output=True, text=True, check=True)
  assert "signature_def['serving_default']" in shown.stdout
  assert "DT_UINT8" in shown.stdout


def test_ptb_export_serves_the_language_model_and_the_cell_alone(tmp_path):
  workdir, out = str(tmp_path / "w"), str(tmp_path / "out")
  config = tiny_ptb_config(children=2)
  task = search(config, workdir, PtbTask)
  manifest = export_lib.export(workdir, out, task)
  assert set(manifest["models"]) == {"language_model", "cell"}
  vocab = open(os.path.join(out, "vocab.txt")).read().splitlines()
  assert vocab == task.corpus.vocab
  best = wd.read_json(os.path.join(workdir, "best.json"))
  weights, _, _ = export_lib.weights_for(workdir, best)
  models = task.serving_models(best["arch"], weights, task.settings())
  lm, cell = models["language_model"][0], models["cell"][0]

  tokens = np.random.default_rng(0).integers(0, len(vocab), (3, 7)).astype(np.int32)
  served = serve_in_tensorflow_only_process(os.path.join(out, "language_model"), tokens,
                                            tmp_path)
  assert served.shape == (3, 7, len(vocab))
  np.testing.assert_allclose(served, lm.predict(tokens, verbose=0), atol=1e-5)
  np.testing.assert_allclose(np.exp(served).sum(-1), 1.0, atol=1e-4)

  inputs = np.random.default_rng(1).normal(size=(2, 5, config.child.units)).astype(np.float32)
  served = serve_in_tensorflow_only_process(os.path.join(out, "cell"), inputs, tmp_path)
  assert served.shape == (2, 5, config.child.units)
  np.testing.assert_allclose(served, cell.predict(inputs, verbose=0), atol=1e-5)


def test_weights_of_children_outside_the_best_are_pruned(tmp_path):
  workdir = str(tmp_path / "w")
  config = tiny_cifar_config(4)
  config.search.keep_weights = 2
  search(config, workdir, Cifar10Task)
  rows = wd.read_jsonl(os.path.join(workdir, "children.jsonl"))
  ranked = sorted(rows, key=lambda r: (-r["val_accuracy"], r["index"]))
  kept = sorted(os.listdir(os.path.join(workdir, "weights")))
  assert kept == sorted(f"child-{r['index'] + 1:05d}.weights.h5" for r in ranked[:2])
  with pytest.raises(export_lib.ExportError, match="were not kept.*nas-tf train"):
    export_lib.export(workdir, str(tmp_path / "out"), Cifar10Task(config),
                      child=str(ranked[-1]["index"] + 1))


class Interrupt(Exception):
  pass


def test_final_training_resumes_after_an_interruption_and_export_uses_its_weights(tmp_path):
  workdir = str(tmp_path / "w")
  config = tiny_cifar_config(2)
  config.final.epochs = 3
  search(config, workdir, Cifar10Task)

  def stop_after_second_epoch(epoch):
    if epoch == 1:
      raise Interrupt()
  with pytest.raises(Interrupt):
    train_final(config, workdir, Cifar10Task(config), log=lambda _: None,
                after_epoch=stop_after_second_epoch)
  latest = wd.read_json(os.path.join(workdir, "final", "checkpoints", "latest.json"))
  assert latest["state"]["epoch"] == 2
  epochs_run, lines = [], []
  result = train_final(config, workdir, Cifar10Task(config), log=lines.append,
                       after_epoch=epochs_run.append)
  assert epochs_run == [2]  # only the third epoch ran again
  assert any("resuming the final training" in line for line in lines)
  assert len(result["curve"]) == 3 and result["curve"][:2] == latest["state"]["curve"]
  # The resumed training equals an uninterrupted one: same curve, same test accuracy.
  import shutil
  whole = str(tmp_path / "whole")
  shutil.copytree(workdir, whole, ignore=shutil.ignore_patterns("final"))
  uninterrupted = train_final(config, whole, Cifar10Task(config), log=lambda _: None)
  assert uninterrupted["curve"] == result["curve"]
  assert uninterrupted["test_accuracy"] == result["test_accuracy"]
  assert wd.read_json(os.path.join(workdir, "final", "result.json")) == result
  # Done: a rerun only reports. Export now takes the final weights.
  again = train_final(config, workdir, Cifar10Task(config), log=lambda _: None,
                      after_epoch=epochs_run.append)
  assert again == result and epochs_run == [2]
  manifest = export_lib.export(workdir, str(tmp_path / "out"), Cifar10Task(config))
  assert manifest["weights"] == "final" and manifest["test_accuracy"] == result["test_accuracy"]
