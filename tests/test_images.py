"""Searching your own images: class-folder trees, .npz and tfds sources, the bad-input table,
and a found model that exports and serves with the data's own shape and class names."""

import os
import re

import numpy as np
import pytest

from conftest import CIFAR_MINI, docs_command, run_cli, serve_in_tensorflow_only_process
from nas_tf.store import workdir as wd
from nas_tf.data import DataError, images as image_data

CLASSES = ("cat", "dog", "fish")


def write_folder(root, per_class=14, size=(20, 24), mode="RGB", seed=0, grey_file=None):
  """Class subfolders of PNGs whose colour depends on the class (so a child can learn)."""
  from PIL import Image
  rng = np.random.default_rng(seed)
  for k, name in enumerate(CLASSES):
    os.makedirs(os.path.join(root, name), exist_ok=True)
    for i in range(per_class):
      pixels = np.clip(rng.normal(60 + 70 * k, 30, (*size, 3)), 0, 255).astype(np.uint8)
      image = Image.fromarray(pixels)
      image.convert(mode).save(os.path.join(root, name, f"{i:03d}.png"))
  if grey_file:
    Image.fromarray(np.zeros(size, np.uint8)).save(os.path.join(root, CLASSES[0], grey_file))
  return root


def small(source, w, *extra):
  return ["--config=configs/images.py:smoke", f"--config.data.source={source}",
          f"--workdir={w}", "--config.search.num_children=2", "--config.search.batch_size=2",
          "--config.child.epochs=1", "--config.child.batch_size=8",
          "--config.final.epochs=1", *extra]


def test_a_folder_of_images_searches_trains_exports_and_serves(tmp_path):
  # docs/tasks-and-data.md's commands, on a folder of three classes.
  folder = write_folder(str(tmp_path / "pets"))
  w = str(tmp_path / "w")
  searched = run_cli(*docs_command("docs/tasks-and-data.md", "search images"),
                     *small(folder, w))
  assert searched.returncode == 0, searched.stderr
  best = wd.read_json(os.path.join(w, "best.json"))
  assert best["status"] == "ok" and best["val_accuracy"] == max(best["val_curve"][-5:])
  assert best["reward"] == pytest.approx(best["val_accuracy"] ** 3)
  trained = run_cli("train", f"--workdir={w}")
  assert trained.returncode == 0, trained.stderr
  assert "no test split" in trained.stdout + trained.stderr
  out = tmp_path / "out"
  exported = run_cli(*docs_command("docs/tasks-and-data.md", "nas-tf export"),
                     f"--workdir={w}", f"--out={out}")
  assert exported.returncode == 0, exported.stderr
  assert open(out / "classes.txt").read().split() == list(CLASSES)
  pixels = np.random.default_rng(1).integers(0, 256, (2, 20, 24, 3), dtype=np.uint8)
  probabilities = serve_in_tensorflow_only_process(str(out / "model"), pixels, tmp_path)
  assert probabilities.shape == (2, 3) and np.allclose(probabilities.sum(-1), 1, atol=1e-5)


def test_folder_npz_and_tfds_sources_load_with_the_data_s_shape_and_classes(tmp_path):
  folder = write_folder(str(tmp_path / "f" / "train"), per_class=4, mode="L")
  write_folder(str(tmp_path / "f" / "test"), per_class=2, mode="L", seed=1)
  arrays = image_data.load(str(tmp_path / "f"))
  assert arrays.train_images.shape == (12, 20, 24, 1) and arrays.test_images.shape[0] == 6
  assert arrays.class_names == list(CLASSES)
  resized = image_data.load(folder, image_size=16)
  assert resized.train_images.shape == (12, 16, 16, 1)
  x = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
  np.savez(tmp_path / "d.npz", x_train=x, y_train=np.arange(10) % 4, x_test=x[:3],
           y_test=np.array([0, 1, 3]))
  arrays = image_data.load(str(tmp_path / "d.npz"))
  assert arrays.class_names == ["0", "1", "2", "3"] and arrays.test_labels.tolist() == [0, 1, 3]
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=200):  # every class twice or more
    mnist = image_data.load("tfds:mnist")
  assert mnist.train_images.shape[1:] == (28, 28, 1) and len(mnist.class_names) == 10


def test_a_search_reads_an_npz_through_the_images_task(tmp_path):
  from conftest import load_config
  from nas_tf.runner.loop import Search
  from nas_tf.tasks.images import ImagesTask
  rng = np.random.default_rng(0)
  y = rng.integers(0, 2, 48)
  x = np.clip(rng.normal(80 + 90 * y[:, None, None], 20, (48, 12, 12)), 0, 255).astype(np.uint8)
  np.savez(tmp_path / "d.npz", x_train=x, y_train=y, class_names=np.array(["dark", "light"]))
  config = load_config("smoke", task="images")
  config.data.source = str(tmp_path / "d.npz")
  config.search.num_children, config.search.batch_size = 1, 1
  config.child.epochs, config.child.batch_size = 1, 8
  task = ImagesTask(config)
  Search(config, str(tmp_path / "w"), task, log=lambda _: None).run()
  assert task.input_shape == (12, 12, 1) and task.num_classes == 2
  assert wd.read_jsonl(str(tmp_path / "w" / "children.jsonl"))[0]["status"] == "ok"


def bad_npz(tmp_path, **arrays):
  np.savez(tmp_path / "bad.npz", **arrays)
  return str(tmp_path / "bad.npz")


@pytest.mark.parametrize("case, message", [
    ("one_class", "found 1 class folder"),
    ("corrupt", "unreadable or corrupt image(s): dog/broken.png"),
    ("mixed_channels", "mixed channel counts"),
    ("labels_out_of_range", "labels out of range"),
    ("empty_split", "the training split is empty"),
    ("missing", "no such file or folder"),
])
def test_bad_images_fail_before_training_with_one_line(tmp_path, case, message):
  x = np.zeros((4, 8, 8, 3), np.uint8)
  if case == "one_class":
    source = str(tmp_path / "one")
    os.makedirs(os.path.join(source, "only"))
  elif case == "corrupt":
    source = write_folder(str(tmp_path / "c"), per_class=2)
    with open(os.path.join(source, "dog", "broken.png"), "wb") as f:
      f.write(b"not a png")
  elif case == "mixed_channels":
    source = write_folder(str(tmp_path / "m"), per_class=2, grey_file="grey.png")
  elif case == "labels_out_of_range":
    source = bad_npz(tmp_path, x_train=x, y_train=np.array([0, 1, 1, 0]), x_test=x[:1],
                     y_test=np.array([5]), class_names=np.array(["a", "b"]))
  elif case == "empty_split":
    source = bad_npz(tmp_path, x_train=x[:0], y_train=np.zeros(0, np.int64))
  else:
    source = str(tmp_path / "nowhere")
  with pytest.raises(DataError, match=re.escape(message)):
    image_data.load(source)
  result = run_cli("search", "images", *small(source, str(tmp_path / "w")))
  assert result.returncode == 2, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and message in lines[0] and source in lines[0], lines


def test_non_finite_out_of_range_and_single_image_classes_are_refused_tiny_images_warned(
    tmp_path, capsys):
  rng = np.random.default_rng(0)
  floats = rng.uniform(0, 1, (6, 8, 8, 3)).astype(np.float32)
  labels = np.array([0, 0, 0, 1, 1, 1])
  nan = floats.copy()
  nan[2, 3, 3, 1] = np.nan
  for x, y, message in (
      (nan, labels, "1 of 1152 pixel values are NaN or infinite"),
      (floats * 300, labels, "pixel values span [0.0"),
      (floats - 0.5, labels, "images must lie in [0, 1] (floats) or [0, 255]"),
      (rng.integers(-5, 5, (6, 8, 8)), labels, "pixel values span [-5, 4]"),
      (floats, np.array([0, 0, 0, 0, 0, 1]), "every class needs 2 or more training images; "
                                             "'1' 1")):
    with pytest.raises(DataError, match=re.escape(message)):
      image_data.load(bad_npz(tmp_path, x_train=x, y_train=y))
  scaled = image_data.load(bad_npz(tmp_path, x_train=floats, y_train=labels))
  assert scaled.train_images.dtype == np.uint8 and scaled.train_images.max() > 200
  capsys.readouterr()
  image_data.load(bad_npz(tmp_path, x_train=np.full((4, 1, 1), 9, np.uint8),
                          y_train=np.array([0, 0, 1, 1])))
  assert "the images are 1x1" in capsys.readouterr().err
  # Before: NaN images were cast to uint8 with numpy's warning and the child recorded "ok".
  result = run_cli("search", "images", *small(bad_npz(tmp_path, x_train=nan, y_train=labels),
                                               str(tmp_path / "w")))
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2 and len(lines) == 1 and "NaN or infinite" in lines[0], lines


@pytest.mark.skipif(not os.path.exists(CIFAR_MINI), reason="../shared/data/cifar10-mini absent")
@pytest.mark.parametrize("form", ["folder", "npz"])
def test_real_cifar_images_as_a_class_folder_tree_and_as_npz(tmp_path, form):
  """cifar10-mini written out in the user's formats searches as the images task."""
  from PIL import Image
  from nas_tf.data import cifar10
  arrays = cifar10.load(CIFAR_MINI)
  x, y = arrays.train_images[:600], arrays.train_labels[:600]
  if form == "folder":
    source = str(tmp_path / "cifar")
    for i, (image, label) in enumerate(zip(x, y)):
      os.makedirs(os.path.join(source, f"class{label}"), exist_ok=True)
      Image.fromarray(image).save(os.path.join(source, f"class{label}", f"{i}.png"))
  else:
    source = str(tmp_path / "cifar.npz")
    np.savez(source, x_train=x, y_train=y, x_test=arrays.test_images[:200],
             y_test=arrays.test_labels[:200])
  w = str(tmp_path / "w")
  searched = run_cli("search", "images", *small(source, w, "--config.child.epochs=2"))
  assert searched.returncode == 0, searched.stderr
  best = wd.read_json(os.path.join(w, "best.json"))
  print(f"{form}: best val_accuracy {best['val_accuracy']:.4f}")
  assert best["val_accuracy"] > 0.1  # chance: 0.10


def test_a_tfds_dataset_other_than_cifar10_searches_from_python(tmp_path):
  """tfds:mnist (mocked offline: tfds.testing.mock_data) through nas_tf.search: 28x28x1
  inputs and mnist's 10 class names, from the dataset's metadata."""
  import nas_tf
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=64):
    result = nas_tf.search("images", data="tfds:mnist", workdir=str(tmp_path / "w"),
                           preset="smoke", log=lambda _: None,
                           overrides={"search.num_children": 1, "search.batch_size": 1,
                                      "child.epochs": 1, "child.batch_size": 8})
  assert result.task.input_shape == (28, 28, 1)
  assert result.task.class_names == [str(k) for k in range(10)]
  assert result.best["status"] == "ok"
