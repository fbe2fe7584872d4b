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
