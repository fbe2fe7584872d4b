"""The cell space (ENAS micro / PNAS / DARTS), its Keras networks, and the controller's
pointer decisions."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import CIFAR_MINI, counted_over, docs_command, load_config, run_cli
from nas_tf import config as config_lib
from nas_tf.store import workdir as wd
from nas_tf.models import cell as cell_models
from nas_tf.spaces.base import Pointer, plan_length
from nas_tf.spaces.cell import OP_SETS, CellSpace, output_blocks
from nas_tf.strategies.controller import Controller
from nas_tf.strategies.random_search import RandomSearch
from nas_tf.strategies.reinforce import Reinforce

HAND_MADE = {"space": "cell", "ops": list(OP_SETS["enas"]), "num_blocks": 3,
             "cell_output": "loose_ends", "same_cell_for_reduction": False,
             "normal": [[0, "identity", 1, "sep_conv_3x3"], [2, "avg_pool_3x3", 0, "identity"],
                        [1, "max_pool_3x3", 1, "sep_conv_5x5"]],
             "reduce": [[1, "sep_conv_3x3", 0, "max_pool_3x3"], [2, "identity", 2, "identity"],
                        [3, "avg_pool_3x3", 1, "identity"]]}


@pytest.mark.parametrize("ops", list(OP_SETS))
@pytest.mark.parametrize("same", [False, True])
def test_sampled_cells_are_valid_and_round_trip(ops, same):
  space = CellSpace(ops, num_blocks=4, same_cell_for_reduction=same)
  plan = space.plan()
  assert plan_length(plan) == 4 * 4 * (1 if same else 2)
  controller = Controller(space.token_types, units=8, seed=1, compiled=False)
  samples = [*RandomSearch(space.token_types).propose(plan, 50, [0, 1]),
             *controller.sample(plan, 20, [2, 3])[0]]
  for tokens in samples:
    arch = space.decode(tokens)
    assert space.decode(space.encode(arch)) == arch
    for name in ("normal", "reduce"):
      for i, (in1, op1, in2, op2) in enumerate(arch[name]):
        assert 0 <= in1 < 2 + i and 0 <= in2 < 2 + i  # only earlier nodes
        assert op1 in OP_SETS[ops] and op2 in OP_SETS[ops]
    if same:
      assert arch["reduce"] == arch["normal"]
  with pytest.raises(ValueError, match="earlier nodes"):
    space.decode([2] + [0] * (plan_length(plan) - 1))


def test_loose_ends_are_the_blocks_nothing_reads():
  assert output_blocks(HAND_MADE["normal"], "loose_ends") == [1, 2]  # b0 is read by b1
  assert output_blocks(HAND_MADE["reduce"], "loose_ends") == [2]  # b0 by b1, b1 by b2
  assert output_blocks(HAND_MADE["reduce"], "all") == [0, 1, 2]
  text = CellSpace.describe(HAND_MADE)
  assert "b1 = avg_pool_3x3(b0) + identity(h[c-2])" in text and "out = concat(b1, b2)" in text


def test_parameter_count_of_a_small_network_equals_a_hand_count():
  # One block, identity(h[c-2]) + avg_pool(h[c-1]): only the stem, the cells' input
  # projections, the stride-2 identities (factorized reductions) and the classifier have
  # weights. C = 4, N = 1: cells normal(4) reduce(8) normal(8) reduce(16) normal(16).
  arch = {**HAND_MADE, "num_blocks": 1, "normal": [[0, "identity", 1, "avg_pool_3x3"]],
          "reduce": [[0, "identity", 1, "avg_pool_3x3"]]}
  model = cell_models.build_classifier(arch, layers_per_stage=1, channels=4)

  def proj(cin, cout):  # ReLU-conv1x1-BN, or a factorized reduction: the same count
    return cin * cout + 4 * cout  # BN: gamma, beta, moving mean, moving variance
  stem = 3 * 3 * 3 * 12 + 4 * 12
  cells = [proj(12, 4) + proj(12, 4),                    # normal, 4 channels
           proj(12, 8) + proj(4, 8) + proj(8, 8),        # reduce, + identity stride 2
           proj(4, 8) + proj(8, 8),                      # normal after a reduction
           proj(8, 16) + proj(8, 16) + proj(16, 16),     # reduce
           proj(8, 16) + proj(16, 16)]                   # normal
  assert model.count_params() == stem + sum(cells) + 16 * 10 + 10


def test_the_reduction_cell_halves_the_size_and_doubles_the_channels():
  model = cell_models.build_classifier(HAND_MADE, layers_per_stage=1, channels=6)
  normal = model.get_layer("c0_0_normal_out").output.shape
  reduce = model.get_layer("c0_1_reduce_out").output.shape
  assert tuple(normal[1:]) == (32, 32, 2 * 6)   # two loose ends of 6 channels
  assert tuple(reduce[1:]) == (16, 16, 1 * 12)  # one loose end of 12
  after = model.get_layer("c1_0_normal_out").output.shape
  assert tuple(after[1:]) == (16, 16, 2 * 12)


@pytest.mark.parametrize("ops", ["pnas", "darts"])
def test_every_op_runs_in_both_cell_types(ops):
  space = CellSpace(ops, num_blocks=len(OP_SETS[ops]))
  # Block i uses op i on both inputs: every op at stride 1 and 2.
  blocks = [[i % 2, op, (i + 1) % 2, op] for i, op in enumerate(OP_SETS[ops])]
  arch = space.decode(space.encode({"normal": blocks, "reduce": blocks}))
  model = cell_models.build_classifier(arch, layers_per_stage=1, channels=4)
  out = model(np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32"))
  assert out.shape == (2, 10) and np.all(np.isfinite(out))
  # Each op is built as its name says (kernel, dilation, stride; the delta test checks the
  # alignment): slot j of block i reads input (i + j) % 2, a cell input, at stride 2 in the
  # reduction cell.
  expected = {  # op -> (layer suffix, class, kernel size, dilation)
      "sep_conv_3x3": ("dw0", "DepthwiseConv2D", (3, 3), (1, 1)),
      "sep_conv_5x5": ("dw0", "DepthwiseConv2D", (5, 5), (1, 1)),
      "sep_conv_7x7": ("dw0", "DepthwiseConv2D", (7, 7), (1, 1)),
      "dil_conv_3x3": ("dw", "DepthwiseConv2D", (3, 3), (2, 2)),
      "dil_conv_5x5": ("dw", "DepthwiseConv2D", (5, 5), (2, 2)),
      "conv_7x1_1x7": ("1x7", "Conv2D", (1, 7), (1, 1)),
      "avg_pool_3x3": ("pool", "AveragePooling2D", (3, 3), None),
      "max_pool_3x3": ("pool", "MaxPooling2D", (3, 3), None),
      # Stride 2: a factorized reduction (its strided 1x1 convs: layers.conv2d).
      "identity": ("conv_a", "StridedPointwiseConv2D", (1, 1), (1, 1)),
      "skip_connect": ("conv_a", "StridedPointwiseConv2D", (1, 1), (1, 1)),
  }
  for i, op in enumerate(OP_SETS[ops]):
    if op == "none":
      continue
    suffix, kind, kernel, dilation = expected[op]
    layer = model.get_layer(f"c0_1_reduce_b{i}_0_{suffix}")
    assert type(layer).__name__ == kind, (op, type(layer).__name__)
    size = layer.pool_size if kind.endswith("Pooling2D") else layer.kernel_size
    assert tuple(size) == kernel, (op, size)
    if dilation:
      assert tuple(layer.dilation_rate) == dilation, op
    if op == "conv_7x1_1x7":
      assert tuple(model.get_layer(f"c0_1_reduce_b{i}_0_7x1").kernel_size) == (7, 1)
    if not op.startswith("dil_"):  # (a dilated conv is subsampled after the conv)
      assert 2 in tuple(layer.strides), (op, layer.strides)


@pytest.mark.parametrize("size", [32, 31])
def test_every_op_at_stride_2_puts_a_delta_on_the_same_output_pixel(size):
  # The ops of a reduction block are summed, so each must map input pixel p to the output
  # pixel a "same" stride-2 conv centres on p: on an even size TF centres on odd pixels, on
  # an odd size on even ones. A dilated conv subsampled at the wrong pixels is shifted by one
  # (and a delta on the pixel it skips vanishes).
  ops = sorted((set(OP_SETS["pnas"]) | set(OP_SETS["darts"]) | set(OP_SETS["nasnet"])) - {"none"})
  image = keras.Input((size, size, 3))
  model = keras.Model(image, [cell_models.apply_op(op, image, 6, 2, f"op{k}", 0.0)
                              for k, op in enumerate(ops)])
  for w in model.weights:  # positive weights: no ReLU can hide a pixel the delta reaches
    w.assign(np.abs(np.random.default_rng(0).normal(size=w.shape)).astype("float32") + 0.1)
  centre = 7
  pixel = 2 * centre + (1 if size % 2 == 0 else 0)
  delta = np.zeros((1, size, size, 3), "float32")
  delta[0, pixel, pixel, :] = 1.0
  for op, hit, rest in zip(ops, model(delta), model(np.zeros_like(delta))):
    reached = np.abs(np.asarray(hit) - np.asarray(rest)).sum(axis=(0, 3)) > 1e-6
    rows, cols = np.nonzero(reached)
    assert rows.size, f"{op}: the delta at pixel {pixel} reached no output pixel"
    # The reached pixels are symmetric about the centre: the op is not shifted.
    assert rows.min() + rows.max() == 2 * centre and cols.min() + cols.max() == 2 * centre, (
        op, sorted(set(rows)), sorted(set(cols)))


def test_drop_path_skips_only_stride_1_identities():
  # DARTS model.py:53-57 drops every op but an Identity module; a stride-2 skip_connect is a
  # FactorizedReduce there, so reduction cells drop it too.
  blocks = [[0, "skip_connect", 1, "sep_conv_3x3"], [2, "skip_connect", 1, "skip_connect"]]
  arch = {"space": "cell", "ops": list(OP_SETS["darts"]), "num_blocks": 2,
          "cell_output": "all", "same_cell_for_reduction": False,
          "normal": blocks, "reduce": blocks}
  model = cell_models.build_classifier(arch, layers_per_stage=1, channels=4, drop_path=0.2)
  dropped = {layer.name for layer in model.layers if isinstance(layer, cell_models.DropPath)}
  # Normal cell: only the sep_conv. Reduction cell: also the skips of its inputs (stride 2),
  # not the skip of block 0 (stride 1).
  assert {n for n in dropped if n.startswith("c0_0_normal")} == {"c0_0_normal_b0_1_drop"}
  assert {n for n in dropped if n.startswith("c0_1_reduce")} == {
      "c0_1_reduce_b0_0_drop", "c0_1_reduce_b0_1_drop", "c0_1_reduce_b1_1_drop"}


def test_pointer_log_probabilities_match_sampling_and_sum_to_one():
  space = CellSpace("enas", num_blocks=3)
  plan = space.plan()
  controller = Controller(space.token_types, units=16, seed=3, compiled=False)
  tokens, sampled = controller.sample(plan, 6, [4, 5])
  recomputed, _ = controller.log_prob(plan, tokens)
  np.testing.assert_allclose(sampled, recomputed.numpy(), rtol=1e-5, atol=1e-5)
  probs = controller.distributions(plan, tokens)  # one per pointer and op; none per mark
  assert len(probs) == plan_length(plan)
  widths = [d.k for d in plan if isinstance(d, Pointer)]
  assert sorted({p.shape[1] for p in probs}) == sorted(set(widths) | {len(OP_SETS["enas"])})
  for p in probs:
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-5)


def test_reinforce_raises_the_probability_of_a_rewarded_pointer():
  space = CellSpace("enas", num_blocks=3, same_cell_for_reduction=True)
  plan = space.plan()
  controller = Controller(space.token_types, units=16, seed=0, compiled=True)
  reinforce = Reinforce(controller, learning_rate=0.05, baseline_decay=0.5)
  target = 8  # block 2's first input (a Pointer(4)): reward picking h[c-2]

  def prob_of_target():
    tokens, _ = controller.sample(plan, 64, [9, 9])
    return float(np.mean(controller.distributions(plan, tokens)[target][:, 0]))
  before = prob_of_target()
  for step in range(40):
    tokens, _ = controller.sample(plan, 8, [step, 1])
    reinforce.update(plan, tokens, (tokens[:, target] == 0).astype(np.float32))
  after = prob_of_target()
  assert before == pytest.approx(0.25, abs=0.1)
  assert after > 0.7, (before, after)


def test_drop_path_the_auxiliary_loss_and_cutout():
  layer = cell_models.DropPath(seed=1)
  x = tf.ones([64, 2, 2, 1])
  layer.build(x.shape)
  np.testing.assert_array_equal(layer(x, training=True), x)  # rate 0
  layer.rate.assign(0.5)
  dropped = layer(x, training=True).numpy()[:, 0, 0, 0]
  assert set(np.unique(dropped)) <= {0.0, 2.0} and 10 < np.sum(dropped == 0) < 54
  np.testing.assert_array_equal(layer(x, training=False), x)

  model = cell_models.build_classifier(HAND_MADE, layers_per_stage=1, channels=4,
                                       drop_path=0.3, auxiliary_weight=0.4)
  schedule = cell_models.DropPathSchedule(0.3, epochs=3)
  schedule.set_model(model)
  schedule.on_epoch_begin(2)
  rates = [float(l.rate.numpy()) for l in model._flatten_layers()
           if isinstance(l, cell_models.DropPath)]
  assert len(rates) > 4 and rates == pytest.approx([0.2] * len(rates))
  images = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
  labels = np.array([0, 1, 2, 3])
  logits, aux = model.network(images, training=False)
  model(images, training=False)
  main = model.compute_loss(images, labels, logits, training=False)
  model._auxiliary_logits = aux
  total = model.compute_loss(images, labels, logits, training=True)
  ce = keras.losses.sparse_categorical_crossentropy(labels, aux, from_logits=True)
  assert float(total) == pytest.approx(float(main) + 0.4 * float(np.mean(ce)), rel=1e-5)

  from nas_tf.data import cifar10, pipeline
  flat = tf.fill([3, 32, 32, 3], 200.0)
  cut = pipeline._cutout(flat, 16, tf.constant([5, 6], tf.int64)).numpy()
  masked = np.all(cut == np.asarray(cifar10.MEAN, np.float32), axis=-1)
  assert all(0 < m.sum() <= 256 for m in masked)  # a 16x16 square, clipped at the border


def test_space_kind_cell_configs_are_checked():
  c = load_config("smoke")
  c.data.source = "synthetic"
  c.space.kind = "cell"
  config_lib.validate(c)
  c.space.ops = "nasnet"  # the published NASNet-A and AmoebaNet-A cells' ops
  config_lib.validate(c)
  c.space.ops = "amoebanet"
  with pytest.raises(config_lib.ConfigError, match="unknown op set 'amoebanet'"):
    config_lib.validate(c)
  c.space.ops = "enas"
  c.space.kind = "tree"
  with pytest.raises(config_lib.ConfigError,
                     match="space.kind must be one of cnn, cell, enas_macro, nasbench201, user "
                           "for the cifar10 task, got 'tree'"):
    config_lib.validate(c)
  c.space.kind = "cell"
  c.search.strategy = "enas"  # ENAS micro
  config_lib.validate(c)


@pytest.mark.skipif(not os.path.exists(CIFAR_MINI), reason="../shared/data/cifar10-mini absent")
def test_cell_search_on_real_cifar_learns(tmp_path):
  """docs/cell-space.md's search, smaller, on real images. (The final recipe on real images,
  drop-path, the auxiliary head and cutout, then export and serving: tests/test_zoo.py.)"""
  w = str(tmp_path / "w")
  small = [*docs_command("docs/cell-space.md", "--config.space.kind=cell"), f"--workdir={w}",
           "--config.data.max_train_examples=512", "--config.space.num_blocks=2",
           "--config.search.num_children=2", "--config.search.batch_size=2",
           "--config.child.epochs=2", "--config.child.channels=6"]
  searched = run_cli(*small)
  assert searched.returncode == 0, searched.stderr
  best = wd.read_json(os.path.join(w, "best.json"))
  assert best["arch"]["space"] == "cell" and best["val_accuracy"] > 0.13  # chance 0.10
  assert counted_over(best["val_accuracy"], 416)  # a tenth of cifar10-mini's 4,160 held out
