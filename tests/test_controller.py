import numpy as np
import pytest

from nas_tf.strategies.controller import Controller
from nas_tf.strategies.reinforce import Reinforce
from nas_tf.spaces.base import Anchor, Choice, Mark
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


def test_enas_baseline_moves_after_every_architecture_its_own_reward_included(space):
  # melodyguan/enas general_controller.py build_trainer (run once per sampled architecture,
  # main.py's train_steps * num_aggregate loop): b -= (1 - bl_dec) (b - R), then the loss
  # uses R - b with that updated b. It starts at 0.
  controller = Controller(space.token_types, seed=2)
  trainer = Reinforce(controller, learning_rate=1e-6, baseline_decay=0.9,
                      baseline_per_architecture=True)
  plan = space.plan(2)
  tokens, _ = controller.sample(plan, 3, seed=[0, 0])
  rewards = [0.5, 0.1, 0.8]
  log_prob = np.asarray(controller.log_prob(plan, tokens)[0])
  b, baselines = 0.0, []
  for r in rewards:
    b = 0.9 * b + 0.1 * r
    baselines.append(b)
  stats = trainer.update(plan, tokens, rewards)
  expected = -np.mean((np.array(rewards) - baselines) * log_prob)
  assert stats["loss"] == pytest.approx(expected, rel=1e-5)
  assert float(trainer.baseline.numpy()) == pytest.approx(baselines[-1])
  # The next step continues from there, architecture by architecture.
  trainer.update(plan, tokens[:1], [1.0])
  assert float(trainer.baseline.numpy()) == pytest.approx(0.9 * baselines[-1] + 0.1)


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


def test_enas_temperature_and_tanh_constant_shape_the_logits_as_specified(space):
  import tensorflow as tf
  from nas_tf.strategies.controller import _dense, _lstm_step
  plan = (Choice("filter_height"),)
  plain = Controller(space.token_types, units=16, num_layers=1, init_range=0.5, seed=3)
  enas = Controller(space.token_types, units=16, num_layers=1, init_range=0.5, seed=3,
                    temperature=5.0, tanh_constant=2.5)
  # The first decision's raw logits, from the (shared) weights by hand.
  h, _ = _lstm_step(plain.cells[0], plain.go, [tf.zeros([1, 16]), tf.zeros([1, 16])])
  raw = _dense(plain.heads["filter_height"], h).numpy()[0]
  tokens = np.zeros((1, 1), np.int32)
  for controller, logits in ((plain, raw), (enas, 2.5 * np.tanh(raw / 5.0))):
    expected = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(controller.distributions(plan, tokens)[0][0], expected,
                               rtol=1e-5)
  # ENAS's links come from two logits (-q, q) with q within +-c: P in [sigmoid(-2c), sigmoid(2c)].
  bounded = Controller(space.token_types, units=16, num_layers=1, init_range=3.0, seed=1,
                       tanh_constant=1.5, enas_links=True)
  links = space.plan(6)
  tokens, _ = bounded.sample(links, 64, seed=[1, 2])
  p = np.concatenate([q.ravel() for d, q in zip([d for d in links if not (
      isinstance(d, Anchor) and d.layer == 0)], bounded.distributions(links, tokens))
      if isinstance(d, Anchor)])
  sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
  assert p.min() >= sigmoid(-3.0) - 1e-6 and p.max() <= sigmoid(3.0) + 1e-6
  assert p.max() - p.min() > 0.3  # the large init really spreads the link scores


def test_the_skip_penalty_pulls_the_link_rate_to_its_target(space):
  plan = space.plan(6)
  controller = Controller(space.token_types, units=16, num_layers=1, init_range=0.1, seed=0,
                          tanh_constant=2.5, temperature=5.0, enas_links=True,
                          skip_target=0.4)
  reinforce = Reinforce(controller, learning_rate=0.02, skip_weight=0.8,
                        entropy_in_reward=True, entropy_weight=1e-4)

  def link_rate(tokens):
    anchors = [d for d in plan if not (isinstance(d, Anchor) and d.layer == 0)]
    return float(np.mean(np.concatenate([q.ravel() for d, q in zip(
        anchors, controller.distributions(plan, tokens)) if isinstance(d, Anchor)])))
  tokens, _ = controller.sample(plan, 20, seed=[0, 0])
  before = link_rate(tokens)
  for step in range(60):  # a constant reward: only the penalty has a gradient
    tokens, _ = controller.sample(plan, 20, seed=[step, 1])
    stats = reinforce.update(plan, tokens, np.full(20, 0.5))
  assert abs(before - 0.4) > 0.05
  assert abs(link_rate(tokens) - 0.4) < 0.02
  assert stats["skip_penalty"] < 0.01


# -- ENAS's three controllers against a transcription of the authors' samplers -----------------

def enas_controller(preset, task):
  """The ENAS strategy's controller (NasRl as strategies/enas.py builds it) and its plan."""
  from conftest import load_config
  from nas_tf import registry
  from nas_tf.strategies.nas_rl import NasRl
  config = load_config(preset, task)
  config.search.strategy = "enas"  # cifar10's: ENAS's macro space (--method=enas)
  space = registry.build_space(config)
  nas_rl = NasRl(config.enas.controller, config.seed, space.token_types, compiled=False,
                 head_bias=space.controller_head_bias())
  return config, space, nas_rl


def trained_a_little(nas_rl, plan, steps=3):
  """A few REINFORCE steps on random rewards, so weights and biases are off their init."""
  rng = np.random.default_rng(0)
  for step in range(steps):
    tokens = nas_rl.propose(plan, 4, [step, 7])
    nas_rl.tell(plan, tokens, rng.uniform(0.1, 0.9, size=4))


@pytest.mark.parametrize("task", ["enas_micro", "cifar10", "enas_ptb"])
def test_enas_controllers_log_prob_and_entropy_equal_the_authors_samplers(task):
  import enas_controllers_reference as ref
  config, space, nas_rl = enas_controller("paper", task)
  plan = space.plan()
  trained_a_little(nas_rl, plan)
  tokens = nas_rl.propose(plan, 3, [11, 12])
  log_prob, entropy, _ = nas_rl.controller.score(plan, tokens)
  c, w = config.enas.controller, ref.weights(nas_rl.controller)
  for k, sequence in enumerate(tokens.tolist()):
    if task == "enas_micro":
      expected = ref.micro(w, sequence, space.num_blocks, space.ops, c.tanh_constant,
                           c.op_tanh_reduce)
    elif task == "cifar10":
      expected = ref.macro(w, sequence, space.num_layers, c.tanh_constant)
    else:
      expected = ref.recurrent(w, sequence, space.num_nodes, c.tanh_constant, c.temperature)
    np.testing.assert_allclose([log_prob[k], entropy[k]], expected, rtol=2e-5, atol=2e-5)


def test_enas_micro_starts_with_the_authors_op_priors():
  # micro_controller.py:100-109, 182-185: logits 1.1 / 2.5 * tanh(h w + [10, 10, 0, 0, 0])
  # (+0.25 for the separable convs, -0.25 for the rest in the normal cell): by hand,
  # p(sep) = e^0.69 / (2 e^0.69 + 3 e^-0.25) = 0.315 and p(other) = 0.123 in the normal cell,
  # e^0.44 / (2 e^0.44 + 3) = 0.254 and 0.164 in the reduction cell (h w ~ 0 at the init).
  import enas_controllers_reference as ref
  _, space, nas_rl = enas_controller("paper", "enas_micro")
  head = nas_rl.controller.heads["cell_op"]
  to_ours = [space.ops.index(op) for op in ref.ENAS_MICRO_OPS]
  np.testing.assert_array_equal(head.bias.numpy()[to_ours], ref.B_SOFT_INIT)
  plan = space.plan()
  tokens = nas_rl.propose(plan, 200, [0, 1])
  probs = nas_rl.controller.distributions(plan, tokens)
  ops = [p for d, p in zip([d for d in plan if not isinstance(d, Mark)], probs)
         if isinstance(d, Choice)]
  is_sep = np.array([op.startswith("sep_conv") for op in space.ops])
  half = len(ops) // 2
  for cell, (sep, other) in (("normal", (0.315, 0.123)), ("reduce", (0.254, 0.164))):
    p = np.concatenate(ops[:half] if cell == "normal" else ops[half:]).mean(axis=0)
    np.testing.assert_allclose(p[is_sep], sep, atol=0.01, err_msg=cell)
    np.testing.assert_allclose(p[~is_sep], other, atol=0.01, err_msg=cell)


def test_enas_recurrent_controller_prefers_near_inputs_from_the_start():
  # ptb_enas_controller.py:126-127: logits - (i - j)^2 / 6; at the init the attention is ~0,
  # so node 11 picks node 10 with e^(-1/6) / sum_d e^(-d^2/6), d = 1..11: 0.507.
  _, space, nas_rl = enas_controller("paper", "enas_ptb")
  plan = space.plan()
  tokens = nas_rl.propose(plan, 200, [0, 1])
  last_pointer = nas_rl.controller.distributions(plan, tokens)[-2].mean(axis=0)
  d = np.arange(11, 0, -1)
  np.testing.assert_allclose(last_pointer, np.exp(-d ** 2 / 6) / np.exp(-d ** 2 / 6).sum(),
                             atol=0.01)
  assert last_pointer[-1] == pytest.approx(0.507, abs=0.01)


def test_a_pointer_to_a_cell_input_feeds_zeros():
  # micro_controller.py:138: the cell inputs' anchors are zeros, so what follows a pick of
  # h[c-2] or h[c-1] does not depend on which was picked; picking a block's output does.
  _, space, nas_rl = enas_controller("paper", "enas_micro")
  plan = space.plan()
  tokens = nas_rl.propose(plan, 1, [0, 1]).repeat(3, axis=0)
  position = 4 * 2  # block 2's first input (0, 1: cell inputs; 2, 3: blocks 0, 1)
  tokens[:, position] = [0, 1, 2]
  probs = nas_rl.controller.distributions(plan, tokens)
  after = np.concatenate([p for p in probs[position + 1:]], axis=1)
  assert np.abs(after[0] - after[1]).max() < 1e-7
  assert np.abs(after[0] - after[2]).max() > 1e-5  # small weights: small, not nothing


@pytest.mark.parametrize("task", ["enas_micro", "cifar10", "enas_ptb"])
def test_enas_controllers_adam_has_beta1_0_and_epsilon_1e3(task):
  # src/utils.py:218: tf.train.AdamOptimizer(lr, beta1=0.0, epsilon=1e-3), whose update is
  # lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t), m = beta1 m + (1 - beta1) g,
  # v = beta2 v + (1 - beta2) g^2, w -= lr_t m / (sqrt(v) + epsilon). Once v has settled a
  # gradient g moves a weight by lr g / (|g| + 1e-3): 0.09 lr for g = 1e-4, where Keras'
  # defaults (beta1 0.9, epsilon 1e-7) move it by about lr.
  import tensorflow as tf
  _, _, nas_rl = enas_controller("paper", task)
  optimizer = nas_rl.reinforce.optimizer
  assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (0.0, 0.999, 1e-3)
  lr, g = 0.01, np.array([1e-4, -1.0])
  tf_variable = tf.Variable([0.0, 0.0])
  optimizer = type(optimizer).from_config({**optimizer.get_config(), "learning_rate": lr})
  w, m, v = np.zeros(2), np.zeros(2), np.zeros(2)
  for t in range(1, 5001):
    optimizer.apply_gradients([(tf.constant(g, tf.float32), tf_variable)])
    m = 0.0 * m + 1.0 * g
    v = 0.999 * v + 0.001 * g ** 2
    step = lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.0 ** t) * m / (np.sqrt(v) + 1e-3)
    w -= step
    if t in (1, 2, 3):
      np.testing.assert_allclose(tf_variable.numpy(), w, rtol=1e-4)
  np.testing.assert_allclose(step / lr, [0.0906, -0.999], rtol=2e-3)
