"""NAS-Bench-201's network in Keras (nas_tf/models/nasbench201.py) against the authors' code.

The parameter counts are D-X-Y/AutoDL-Projects' ``TinyNetwork(16, 5, genotype, 10)``
(``xautodl/models/cell_infers/tiny_network.py``) counted with PyTorch on 2026-12-06
(``sum(p.numel() for p in net.parameters())``: trainable weights, no BN statistics). The same
run copied the weights into the Keras network and compared logits on random images: equal to
float32 round-off (relative 2e-7) for each cell below. PyTorch is not a test dependency, so
CI checks the counts, and the all-none count by hand.
"""

import numpy as np
import pytest

from nas_tf.models.nasbench201 import build_network

AUTHORS_COUNTS = {
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": 73_306,
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "nor_conv_3x3~2|": 1_531_546,
    "|nor_conv_1x1~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|skip_connect~2|":
        344_346,
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|"
    "skip_connect~2|": 129_306,
    # Cells whose convs reach the output only through none edges: PyTorch still builds and
    # runs them (none is x * 0), and counts them.
    "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|": 316_346,
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|none~2|": 344_346,
}


def trainable(model) -> int:
  return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("arch_str, count", AUTHORS_COUNTS.items())
def test_parameter_counts_are_the_authors_networks(arch_str, count):
  assert trainable(build_network(arch_str)) == count


def test_the_cell_free_network_counts_by_hand():
  # Stem 3x3x3x16 + BN; block 16->32: two 3x3 convs + BNs and the 1x1 shortcut conv; block
  # 32->64 alike; the last BN; the classifier 64x10 + 10.
  by_hand = (432 + 32) + (4608 + 64 + 9216 + 64 + 512) + (18432 + 128 + 36864 + 128 + 2048) \
      + 128 + 650
  assert by_hand == AUTHORS_COUNTS["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]


def test_stride_two_convs_pad_every_side_as_pytorch():
  # A 3x3 stride-2 conv of ones. With PyTorch's padding 1 output row i reads input rows
  # 2i-1..2i+1, so a pixel at (3, 3) reaches outputs (1, 1) and (2, 2); Keras' "same" pads
  # only the bottom and right (rows 2i..2i+2), and output (2, 2) would read rows 4-6.
  import keras
  model = build_network("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", channels=1,
                        cells_per_stage=0)
  pad, conv = model.get_layer("reduce1_a_pad"), model.get_layer("reduce1_a_conv")
  assert pad.padding == ((1, 1), (1, 1)) and conv.padding == "valid" and conv.strides == (2, 2)
  conv.set_weights([np.ones((3, 3, 1, 2), np.float32)])
  image = np.zeros((1, 32, 32, 1), np.float32)
  image[0, 3, 3] = 1.0
  out = keras.Sequential([pad, conv])(image).numpy()[0, :, :, 0]
  assert out.shape == (16, 16) and out[1, 1] == 1.0 and out[2, 2] == 1.0
  assert out.sum() == 4.0  # outputs (1, 1), (1, 2), (2, 1), (2, 2)


def test_an_unknown_op_or_key_is_refused():
  with pytest.raises(ValueError):
    build_network("|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|")
  with pytest.raises(ValueError):
    build_network("|none~0|+|none~0|")


# -- trained on images: nas-tf train nasbench201 --arch=ARCH_STR ------------------------------

def test_the_trainable_classifier_is_the_benchmarks_network_at_paper_size():
  from nas_tf.models.nasbench201 import build_classifier
  from nas_tf.spaces.published import nasbench201_cell
  for arch_str, count in AUTHORS_COUNTS.items():
    entry = nasbench201_cell(arch_str)
    model = build_classifier(entry.architecture(), (32, 32, 3), 10, 5e-4, **entry.network)
    assert trainable(model) == count, arch_str


def test_weight_decay_reaches_every_weight_as_torch_sgd_decays_every_parameter():
  # funcs_nasbench.py line 98 hands net.parameters() to SGD(weight_decay=5e-4): each
  # parameter's gradient gains 5e-4 * p, batch norms' scale and shift and the classifier's
  # bias included. The regularization losses' gradient must be exactly that.
  import tensorflow as tf
  from nas_tf.models.nasbench201 import build_classifier
  from nas_tf.spaces.published import nasbench201_cell
  arch = nasbench201_cell("|nor_conv_1x1~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_3x3~0|"
                          "none~1|skip_connect~2|").architecture()
  model = build_classifier(arch, (32, 32, 3), 10, 5e-4, layers_per_stage=1, channels=4)
  rng = np.random.default_rng(0)
  for v in model.trainable_weights:  # BN's gamma 1 and beta 0 would hide a missing decay
    v.assign(rng.normal(size=v.shape).astype(np.float32))
  with tf.GradientTape() as tape:
    penalty = tf.add_n(model.losses)
  grads = tape.gradient(penalty, model.trainable_weights)
  names = {v.path.split("/")[-1] for v in model.trainable_weights}
  assert {"gamma", "beta", "bias", "kernel"} <= names
  for v, g in zip(model.trainable_weights, grads):
    assert g is not None, v.path
    np.testing.assert_allclose(g.numpy(), 5e-4 * v.numpy(), rtol=1e-5, err_msg=v.path)


def test_learning_rate_is_the_benchmarks_cosine_per_epoch():
  # xautodl CosineAnnealingLR.get_lr (optimizers.py) set to epoch e before it trains
  # (funcs_nasbench.py line 120): 0.1 (1 + cos(pi e / 200)) / 2, constant within the epoch.
  # Worked out by hand: epoch 0 at 0.1; 50 at 0.05 (1 + 0.7071068) = 0.0853553; 100 at 0.05;
  # 199 at 0.05 (1 - 0.9998766) = 6.1685e-6 (never 0, unlike DARTS' cosine_epochs).
  from nas_tf.models.schedules import learning_rate_schedule
  schedule = learning_rate_schedule(0.1, "cosine_epochs_nb201", total_steps=200 * 3,
                                    steps_per_epoch=3)
  pinned = {0: 0.1, 50: 0.0853553, 100: 0.05, 199: 6.1685e-6}
  for epoch, rate in pinned.items():
    for step in range(3 * epoch, 3 * epoch + 3):
      assert float(schedule(step)) == pytest.approx(rate, rel=2e-4), (epoch, step)


def test_cifar10_searches_the_cells_by_training_them(tmp_path):
  import json
  import os

  from conftest import run_cli
  from nas_tf.models.nasbench201 import build_classifier
  w = str(tmp_path / "w")
  out = run_cli("search", "cifar10", "--config=smoke", "--config.space.kind=nasbench201",
                "--config.data.source=synthetic", "--config.search.num_children=2",
                "--config.child.epochs=1", f"--workdir={w}")
  assert out.returncode == 0, out.stderr
  rows = [json.loads(line) for line in open(os.path.join(w, "children.jsonl"))]
  assert [r["status"] for r in rows] == ["ok", "ok"]
  for row in rows:  # the smoke preset's network of the cell (N=1, C=8), trained
    built = build_classifier(row["arch"], (32, 32, 3), 10, 1e-4, layers_per_stage=1, channels=8)
    assert row["params"] == built.count_params() and row["arch"]["arch_str"].count("~") == 6
