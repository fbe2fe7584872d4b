import numpy as np
import pytest

from nas_tf.strategies.controller import Controller
from nas_tf.strategies.reinforce import Reinforce
from nas_tf.spaces.base import Anchor, Choice
from nas_tf.spaces.cnn_macro import CNNSearchSpace


@pytest.fixture(scope="module")
def space():
  return CNNSearchSpace(search_strides=True)


def test_weights_uniform_in_init_range(space):
  controller = Controller(space.token_types, units=35, num_layers=2)
  values = np.concatenate([v.numpy().ravel() for v in controller.trainable_variables])
  assert np.abs(values).max() <= 0.08
  assert values.std() > 0.03  # really spread over the range, not constant
  assert len(controller.cells) == 2


def test_probabilities_sum_to_one_and_respect_the_space(space):
  controller = Controller(space.token_types)
  plan = space.plan(4)
  tokens, _ = controller.sample(plan, 5, seed=[3, 4])
  probs = controller.distributions(plan, tokens)
  decisions = [d for d in plan if not (isinstance(d, Anchor) and d.layer == 0)]
  assert len(probs) == len(decisions)
  for decision, p in zip(decisions, probs):
    if isinstance(decision, Choice):
      assert p.shape == (5, space.token_types[decision.token_type])
      np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    else:  # one link probability per earlier layer
      assert p.shape == (5, decision.layer)
      assert ((p > 0) & (p < 1)).all()
  # every sampled token is a valid index for its decision
  pos = 0
  for decision in plan:
    if isinstance(decision, Choice):
      assert 0 <= tokens[:, pos].min() and tokens[:, pos].max() < space.token_types[decision.token_type]
      pos += 1
    else:
      assert set(np.unique(tokens[:, pos:pos + decision.layer])) <= {0, 1}
      pos += decision.layer


def test_sampled_log_prob_equals_recomputed(space):
  controller = Controller(space.token_types)
  plan = space.plan(5)
  tokens, log_prob = controller.sample(plan, 6, seed=[1, 2])
  recomputed, entropy = controller.log_prob(plan, tokens)
  np.testing.assert_allclose(log_prob, recomputed.numpy(), rtol=1e-5)
  assert (entropy.numpy() > 0).all()


def test_sampling_is_reproducible_from_the_seed(space):
  controller = Controller(space.token_types)
  plan = space.plan(4)
  a, _ = controller.sample(plan, 8, seed=[5, 6])
  b, _ = controller.sample(plan, 8, seed=[5, 6])
  c, _ = controller.sample(plan, 8, seed=[5, 7])
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


def test_reinforce_raises_probability_of_rewarded_architecture(space):
  controller = Controller(space.token_types, seed=1)
  trainer = Reinforce(controller, learning_rate=0.01, baseline_decay=0.9)
  plan = space.plan(3)
  target, _ = controller.sample(plan, 1, seed=[0, 1])
  before = float(controller.log_prob(plan, target)[0][0])
  for step in range(20):
    others, _ = controller.sample(plan, 3, seed=[step, 99])
    stats = trainer.update(plan, np.concatenate([target, others]), [1.0, 0.0, 0.0, 0.0])
    assert stats["finite"]
  after = float(controller.log_prob(plan, target)[0][0])
  assert after > before + 1.0


def test_baseline_is_moving_average_of_rewards(space):
  controller = Controller(space.token_types)
  trainer = Reinforce(controller, baseline_decay=0.5)
  plan = space.plan(2)
  tokens, _ = controller.sample(plan, 2, seed=[0, 0])
  first = trainer.update(plan, tokens, [0.2, 0.4])
  assert first["baseline"] == pytest.approx(0.3)  # initialised with the first batch's mean
  second = trainer.update(plan, tokens, [1.0, 1.0])
  assert second["baseline"] == pytest.approx(0.3)  # the update uses earlier rewards only
  assert float(trainer.baseline.numpy()) == pytest.approx(0.5 * 0.3 + 0.5 * 1.0)


def test_lstm_step_matches_keras_cell():
  import keras
  from nas_tf.strategies.controller import _lstm_step
  cell = keras.layers.LSTMCell(7, bias_initializer="random_normal", unit_forget_bias=False)
  cell.build((None, 5))
  rng = np.random.default_rng(0)
  x, h, c = (rng.normal(size=(3, n)).astype(np.float32) for n in (5, 7, 7))
  expected, (eh, ec) = cell(x, [h, c])
  got, (gh, gc) = _lstm_step(cell, x, [h, c])
  np.testing.assert_allclose(got, expected, atol=1e-6)
  np.testing.assert_allclose(gc, ec, atol=1e-6)
