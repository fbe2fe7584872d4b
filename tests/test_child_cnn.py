import keras
import numpy as np

from nas_tf.models.cnn_macro import build_cnn
from nas_tf.models.layers import pad_and_concat


def layer(kh, kw, filters, stride=1, inputs=()):
  return {"filter_height": kh, "filter_width": kw, "filters": filters, "stride": stride,
          "inputs": list(inputs)}


def test_zero_padded_concat_of_mismatched_maps():
  a = keras.Input((8, 8, 2))
  b = keras.Input((5, 3, 4))
  out = pad_and_concat([a, b], "t")
  model = keras.Model([a, b], out)
  result = model([np.ones((1, 8, 8, 2), np.float32), np.ones((1, 5, 3, 4), np.float32)]).numpy()
  assert result.shape == (1, 8, 8, 6)
  padded = result[0, :, :, 2:]
  # 5 -> 8 rows: 1 above, 2 below; 3 -> 8 columns: 2 left, 3 right
  assert (padded[1:6, 2:5] == 1).all()
  padded[1:6, 2:5] = 0
  assert (padded == 0).all()
  assert (result[0, :, :, :2] == 1).all()


def test_three_rules():
  arch = {"layers": [layer(3, 3, 8), layer(3, 3, 8, inputs=[0]), layer(1, 1, 8),
                     layer(3, 3, 8, stride=2, inputs=[1])]}
  model = build_cnn(arch)
  by_name = {l.name: l for l in model.layers}
  # rule 1: layers 0 and 2 have no inputs and read the image
  for i in (0, 2):
    assert by_name[f"l{i}_conv"].input is model.inputs[0]
  # rule 2: outputs that feed nothing (layers 2 and 3) join the final concat, padded
  final = by_name["final_concat"]
  sources = {t._keras_history.operation.name for t in final.input}
  assert sources == {"l2_relu", "final_pad1"}
  assert final.output.shape[1:] == (32, 32, 16)
  # rule 3: global average pooling and a 10-way classifier
  assert model.output.shape == (None, 10)
  assert isinstance(by_name["pool"], keras.layers.GlobalAveragePooling2D)


def test_parameter_count_matches_hand_computation():
  arch = {"layers": [layer(3, 5, 24), layer(1, 7, 36, stride=2, inputs=[0]),
                     layer(3, 3, 48, inputs=[0, 1])]}
  model = build_cnn(arch)
  conv0 = 3 * 5 * 3 * 24
  conv1 = 1 * 7 * 24 * 36
  conv2 = 3 * 3 * (24 + 36) * 48
  bn = 4 * (24 + 36 + 48)          # gamma, beta, moving mean and variance
  dense = 48 * 10 + 10             # only layer 2 feeds nothing
  assert model.count_params() == conv0 + conv1 + conv2 + bn + dense


def test_child_trains_one_step():
  arch = {"layers": [layer(3, 3, 8), layer(3, 3, 8, stride=3, inputs=[0])]}
  model = build_cnn(arch)
  model.compile(optimizer="sgd",
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  x = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype(np.float32)
  loss = model.train_on_batch(x, np.arange(4))
  assert np.isfinite(loss)
