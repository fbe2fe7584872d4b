"""Strategies: uniform random sampling, and ENAS's shared weights."""

import os

import numpy as np

from conftest import tiny_cifar_config
from nas_tf.models import enas_macro as enas_models
from nas_tf.store import workdir as wd
from nas_tf.runner.loop import Search
from nas_tf.runner.run import OneShotSearch
from nas_tf.spaces.cnn_macro import CNNSearchSpace
from nas_tf.spaces.enas_macro import EnasMacroSpace
from nas_tf.strategies.random_search import RandomSearch
from nas_tf.tasks.cifar10 import Cifar10Task


def test_random_search_samples_each_token_uniformly():
  space = CNNSearchSpace((1, 3, 5, 7), (1, 3, 5, 7), (24, 36, 48, 64))
  plan = space.plan(3)
  tokens = RandomSearch(space.token_types).propose(plan, 8000, [1, 2])
  assert tokens.shape == (8000, 3 * 3 + 0 + 1 + 2)
  # Chi-square test of the first layer's filter-height token against uniform over 4 values.
  counts = np.bincount(tokens[:, 0], minlength=4)
  chi2 = float(((counts - 2000.0) ** 2 / 2000.0).sum())
  assert chi2 < 16.27  # the 0.999 quantile of chi-square with 3 degrees of freedom
  links = tokens[:, -2:]  # the last layer's anchor links: each on with probability 1/2
  assert np.all(np.abs(links.mean(axis=0) - 0.5) < 0.03)
  again = RandomSearch(space.token_types).propose(plan, 8000, [1, 2])
  np.testing.assert_array_equal(tokens, again)  # seeded: resume reproduces it


def test_random_strategy_search_writes_the_same_work_directory(tmp_path):
  config = tiny_cifar_config(4, **{"search.strategy": "random"})
  result = Search(config, str(tmp_path), Cifar10Task(config), log=lambda _: None).run()
  rows = wd.read_jsonl(os.path.join(str(tmp_path), "children.jsonl"))
  assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
  assert result.best["id"] == wd.read_json(os.path.join(str(tmp_path), "best.json"))["id"]
  assert wd.read_json(os.path.join(str(tmp_path), "checkpoints", "latest.json"))["state"]["step"] == 2


def small_space():
  return EnasMacroSpace(num_layers=4, channels=8, reduce_at=[2])


def test_supernet_equals_the_stand_alone_child_with_copied_weights():
  space = small_space()
  supernet = enas_models.Supernet(space)
  supernet.build_all()
  rng = np.random.default_rng(0)
  for variable in supernet.weights:  # non-trivial BN statistics too
    variable.assign(rng.normal(0.0, 0.3, variable.shape).astype(np.float32)
                    if "variance" not in variable.name else
                    rng.uniform(0.5, 1.5, variable.shape).astype(np.float32))
  images = rng.normal(size=(3, 32, 32, 3)).astype(np.float32)
  for tokens in RandomSearch(space.token_types).propose(space.plan(), 5, [0, 1]):
    arch = space.decode(tokens)
    child = enas_models.build_child(arch, form="search")
    enas_models.copy_shared_weights(supernet, child, arch)
    assert {v.path for v in child.weights} <= {v.path for v in supernet.weights}
    ops, skips = space.as_tensors(arch)
    shared = supernet(images, ops, skips, training=False).numpy()
    alone = child(images, training=False).numpy()
    np.testing.assert_allclose(shared, alone, rtol=1e-4, atol=1e-4)


def test_the_traced_supernets_gradients_equal_the_eager_ones_as_batch_statistics_move():
  # Eager, each switch runs only its taken branch: the plain gradient. Traced without a GPU,
  # the branches are inlined (layers.switch_case): as branch functions, oneDNN's fused batch
  # norm differentiated differently (the stem kernel's gradient off by up to 1.6% here).
  import tensorflow as tf
  from nas_tf.runtime.hardware import graph_optimizer_off_without_gpu
  space = small_space()
  supernet = enas_models.Supernet(space)
  supernet.build_all()
  rng = np.random.default_rng(1)
  images = rng.normal(size=(8, 32, 32, 3)).astype(np.float32)
  labels = rng.integers(0, 10, 8).astype(np.int32)

  def gradients(ops, skips):
    with tf.GradientTape() as tape:
      logits = supernet(images, ops, skips, training=True)  # moves the BN statistics
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    return tape.gradient(loss, supernet.trainable_variables[0])  # the stem's kernel
  specs = [tf.TensorSpec(shape, dtype) for shape, dtype in space.tensor_specs()]
  traced = tf.function(gradients, autograph=False, input_signature=specs)
  for tokens in RandomSearch(space.token_types).propose(space.plan(), 8, [0, 1]):
    ops, skips = space.as_tensors(space.decode(tokens))
    eager = gradients(ops, skips).numpy()
    with graph_optimizer_off_without_gpu():  # as the search runs it
      np.testing.assert_allclose(traced(ops, skips).numpy(), eager, rtol=1e-4,
                                 atol=1e-5 * np.abs(eager).max())


def test_enas_final_child_concatenates_skips_and_doubles_channels_at_reductions():
  space = small_space()  # 4 layers of 8 channels, a reduction before layer 2
  # L1: skip from the stem; L2: conv5x5; L3: skips from the stem and L1 (not L2, its input).
  tokens = [0, 2, 1, 1, 0, 0, 3, 1, 0, 1]
  arch = space.decode(tokens)
  assert [layer["inputs"] for layer in arch["layers"]] == [[], [-1], [], [-1, 1]]
  assert "L3: sep5x5 + skip from stem,L1" in space.describe(arch)
  child = enas_models.build_child(arch)
  assert child.get_layer("l1_skip_concat").output.shape[-1] == 16  # skip + op, concatenated
  assert child.get_layer("l1_skip_conv").output.shape[-1] == 8
  assert child.get_layer("l3_skip_concat").output.shape[1:] == (16, 16, 48)  # doubled
  assert child.get_layer("l2_reduce_stem").output.shape[1:] == (16, 16, 16)
  with_pool = enas_models.build_child(arch, form="search")
  assert with_pool.get_layer("l3_skip_sum").output.shape[1:] == (16, 16, 8)
  supernet = enas_models.Supernet(space)
  supernet.build_all()
  assert enas_models.child_params(supernet, arch) == child.count_params()


def enas_config(**overrides):
  config = tiny_cifar_config(1, **{"search.strategy": "enas", "enas.num_layers": 3,
                                   "enas.channels": 4, "enas.reduce_at": (2,),
                                   "enas.epochs": 2, "enas.controller.steps": 2,
                                   "enas.controller.batch": 2, "enas.derive_samples": 3,
                                   **overrides})
  return config


def test_switching_architectures_every_minibatch_does_not_retrace(tmp_path):
  config = enas_config(**{"enas.epochs": 1, "data.max_train_examples": 256,
                          "child.batch_size": 16})
  search = OneShotSearch(config, str(tmp_path), Cifar10Task(config), log=lambda _: None)
  search.run()  # 16 minibatches, each with a freshly sampled architecture
  assert search.strategy.traces == 1


