import keras
import numpy as np
import pytest
import tensorflow as tf

from nas_tf.models.rnn_cell import NASCell, build_language_model
from nas_tf.spaces.base import plan_length
from nas_tf.spaces.rnn_cell import RNNCellSearchSpace

SIMPLE_RNN = {"base_number": 1, "nodes": [{"combination": "add", "activation": "tanh"}],
              "inject": None, "cell_node": 0}
# An LSTM-shaped tree (the paper's Figure 5 at base number 4): gates from leaves, c injected.
LSTM_LIKE = {
    "base_number": 4,
    "nodes": [{"combination": "add", "activation": "sigmoid"},
              {"combination": "add", "activation": "tanh"},
              {"combination": "add", "activation": "sigmoid"},
              {"combination": "add", "activation": "tanh"},
              {"combination": "elem_mult", "activation": "identity"},
              {"combination": "elem_mult", "activation": "identity"},
              {"combination": "add", "activation": "tanh"}],
    "inject": {"combination": "add", "activation": "identity", "node": 4},
    "cell_node": 4,
}


def sequence(n=3, t=5, d=6, seed=0):
  return np.random.default_rng(seed).normal(size=(n, t, d)).astype(np.float32)


def test_space_plan_and_decode():
  space = RNNCellSearchSpace(8)
  plan = space.plan()
  assert plan_length(plan) == 2 * 15 + 2 + 2
  arch = space.decode(list(range(2)) * 16 + [3, 14])
  assert len(arch["nodes"]) == 15 and arch["inject"]["node"] == 3 and arch["cell_node"] == 14
  assert "h = n14" in space.describe(arch)
  with pytest.raises(ValueError, match="power of two"):
    RNNCellSearchSpace(6)


def test_tanh_leaf_matches_simple_rnn_cell():
  x = sequence()
  ours = keras.layers.RNN(NASCell(SIMPLE_RNN, 4), return_sequences=True)
  reference = keras.layers.RNN(keras.layers.SimpleRNNCell(4, bias_initializer="random_normal"),
                               return_sequences=True)
  expected = reference(x)
  ours.build(x.shape)
  ours.cell.set_weights(reference.cell.get_weights())  # kernel, recurrent kernel, bias
  np.testing.assert_allclose(ours(x), expected, atol=1e-5)


def test_fused_weights_one_matmul_for_x_and_one_for_h():
  layer = keras.layers.RNN(NASCell(LSTM_LIKE, 8))
  layer.build((None, None, 6))
  shapes = sorted(tuple(w.shape) for w in layer.cell.weights)
  assert shapes == [(6, 32), (8, 32), (32,)]


def test_lstm_like_tree_runs_and_every_weight_gets_gradient():
  x = sequence()
  layer = keras.layers.RNN(NASCell(LSTM_LIKE, 8, bias_initializer="random_normal"),
                           return_sequences=True, return_state=True)
  with tf.GradientTape() as tape:
    out, h, c = layer(x)
    loss = tf.reduce_sum(out ** 2) + tf.reduce_sum(c ** 2)
  assert out.shape == (3, 5, 8) and c.shape == (3, 8)
  grads = tape.gradient(loss, layer.trainable_weights)
  assert len(grads) == 3
  for g, w in zip(grads, layer.trainable_weights):
    assert g is not None and float(tf.reduce_max(tf.abs(g))) > 0, w.name


def test_config_round_trip_gives_same_outputs():
  x = sequence()
  cell = NASCell(LSTM_LIKE, 8)
  layer = keras.layers.RNN(cell, return_sequences=True)
  expected = layer(x)
  clone = keras.layers.RNN.from_config(layer.get_config())
  clone.build(x.shape)
  clone.set_weights(layer.get_weights())
  assert clone.cell.arch == cell.arch
  np.testing.assert_allclose(clone(x), expected, atol=1e-6)


def test_compiles_under_xla():
  x = sequence()
  layer = keras.layers.RNN(NASCell(LSTM_LIKE, 8), return_sequences=True)
  eager = layer(x)
  xla = tf.function(lambda v: layer(v), jit_compile=True)(tf.constant(x))
  np.testing.assert_allclose(xla, eager, atol=1e-5)


def test_language_model_shapes_tying_and_one_training_step():
  model = build_language_model(LSTM_LIKE, vocab_size=30, units=8, num_layers=2, batch_size=4,
                               dropout=0.3)
  tokens = np.random.default_rng(0).integers(0, 30, size=(4, 7)).astype(np.int32)
  assert model(tokens).shape == (4, 7, 30)
  names = [w.path for w in model.weights]
  assert not any("logits/kernel" in n for n in names)  # tied to the embedding
  model.compile(optimizer=keras.optimizers.SGD(1.0, global_clipnorm=5.0),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  assert np.isfinite(model.train_on_batch(tokens, tokens))


def test_the_papers_cell_equals_tf_contrib_nascell():
  """Zoph & Le's found cell, transcribed into the base-8 tree (spaces/published.py), computes
  what tf.contrib.rnn.NASCell computed (its call(), written out below with numpy; no biases,
  NASCell's default), one step from random x, h and c."""
  from nas_tf.spaces.published_recurrent import NAS_RL_CELL
  rng = np.random.default_rng(0)
  units, width, batch = 5, 3, 4
  x, h, c = (rng.normal(size=(batch, n)).astype("float32") for n in (width, units, units))
  w = rng.normal(size=(width, 8 * units)).astype("float32") * 0.5
  u = rng.normal(size=(units, 8 * units)).astype("float32") * 0.5
  cell = NASCell(NAS_RL_CELL, units)
  cell.build((batch, width))
  cell.kernel.assign(w)
  cell.recurrent_kernel.assign(u)
  out, (h_new, c_new) = cell(x, [h, c])

  def sigmoid(v):
    return 1 / (1 + np.exp(-v))
  relu, tanh = (lambda v: np.maximum(v, 0)), np.tanh
  i, m = np.split(x @ w, 8, axis=1), np.split(h @ u, 8, axis=1)
  layer1 = [sigmoid(i[0] + m[0]), relu(i[1] + m[1]), sigmoid(i[2] + m[2]), relu(i[3] * m[3]),
            tanh(i[4] + m[4]), sigmoid(i[5] + m[5]), tanh(i[6] + m[6]), sigmoid(i[7] + m[7])]
  l2_0 = tanh(tanh(layer1[0] * layer1[1]) + c)  # with the cell injected
  l2_1, l2_2 = tanh(layer1[2] + layer1[3]), tanh(layer1[4] * layer1[5])
  l2_3 = sigmoid(layer1[6] + layer1[7])
  new_c = l2_0 * l2_1
  new_m = tanh(new_c * tanh(l2_2 + l2_3))
  np.testing.assert_allclose(np.asarray(out), new_m, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(np.asarray(h_new), new_m, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(np.asarray(c_new), new_c, rtol=1e-5, atol=1e-6)


def test_slowness_penalty_joins_the_training_loss_as_enas_computes_it():
  # ptb_enas_child.py:487-490 and 202-204: rate x sum over the window of (h[t+1] - h[t])^2
  # of the last outputs, divided by the batch; nas-tf's per-token loss also by the steps.
  model = build_language_model(LSTM_LIKE, vocab_size=30, units=8, num_layers=1,
                               stateful=False, slowness_reg=0.3)
  tokens = np.random.default_rng(0).integers(0, 30, size=(4, 7)).astype(np.int32)
  outputs = keras.Model(model.input, model.get_layer("rnn_0").output)(tokens)
  h = np.asarray(outputs)
  expected = 0.3 * np.sum((h[:, 1:] - h[:, :-1]) ** 2) / (4 * 7)
  model(tokens, training=True)
  (penalty,) = model.losses
  np.testing.assert_allclose(float(penalty), expected, rtol=1e-5)
  model(tokens, training=False)
  assert not model.losses  # evaluation scores the plain loss
  cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  model.compile(optimizer=keras.optimizers.SGD(0.0), loss=cross_entropy)
  plain = float(cross_entropy(tokens, model(tokens)))
  np.testing.assert_allclose(model.train_on_batch(tokens, tokens), plain + expected, rtol=1e-5)


def test_l2_sgd_adds_the_l2_gradient_before_clipping_dense_and_sparse():
  # ENAS's get_train_ops: loss + l2_reg sum(w^2), gradients clipped by their global norm,
  # then SGD: the embedding's sparse gradient and a dense one, against numpy.
  from nas_tf.models.optimizers import L2SGD
  rng = np.random.default_rng(1)
  table = tf.Variable(rng.normal(size=(5, 3)).astype(np.float32))
  kernel = tf.Variable(rng.normal(size=(3, 2)).astype(np.float32))
  ids = tf.constant([0, 3, 3])
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(tf.matmul(tf.gather(table, ids), kernel) ** 2)
  grads = tape.gradient(loss, [table, kernel])
  assert isinstance(grads[0], tf.IndexedSlices)
  dense = [tf.convert_to_tensor(g).numpy() for g in grads]
  before = [table.numpy(), kernel.numpy()]
  optimizer = L2SGD(0.1, l2=0.5, global_clipnorm=1.0)
  optimizer.apply_gradients(zip(grads, [table, kernel]))
  total = [g + 0.5 * w for g, w in zip(dense, before)]
  norm = np.sqrt(sum(np.sum(g ** 2) for g in total))
  assert norm > 1.0  # the clipping acts
  for variable, w, g in zip([table, kernel], before, total):
    np.testing.assert_allclose(variable.numpy(), w - 0.1 * g / norm, rtol=1e-5, atol=1e-6)


def test_word_dropout_draws_enas_mask_and_drops_a_dropped_word_later_in_its_sequence():
  # ptb_enas_child.py:423-436: mask = floor(u + keep) / keep per position, and a position
  # whose word was dropped earlier in the same sequence is zeroed too.
  from nas_tf.models.rnn_cell import WordDropout
  layer = WordDropout(0.5, vocab_size=6, seed=3)
  tokens = np.array([[1, 2, 1, 3, 2, 1, 4, 1]] * 400, np.int32)
  out = np.asarray(layer([tokens, np.ones((400, 8, 1), np.float32)], training=True))[..., 0]
  assert set(np.unique(out)) <= {0.0, 2.0}
  for row, words in zip(out, tokens):
    for t in range(8):
      if any(words[s] == words[t] and row[s] == 0 for s in range(t)):
        assert row[t] == 0
  # The first occurrence keeps with probability 1/2; the fourth 1 only if all four drew keep.
  assert abs(np.mean(out[:, 0] > 0) - 0.5) < 0.08
  assert abs(np.mean(out[:, 7] > 0) - 0.5 ** 4) < 0.05
  assert np.array_equal(np.asarray(layer([tokens, np.ones((400, 8, 1))], training=False)),
                        np.ones((400, 8, 1)))
