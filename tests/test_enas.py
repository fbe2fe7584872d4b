"""ENAS micro search (the cell space) and ENAS recurrent cells: supernet equals the
stand-alone child, one trace per search, resume equals an uninterrupted run."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import SYNTHETIC_VOCAB, counted_over, records, tiny_cifar_config
from nas_tf.runtime import hardware
from nas_tf.store import workdir as wd
from nas_tf.errors import ConfigError
from nas_tf.models import cell as cell_models, enas_micro
from nas_tf.runner.run import OneShotSearch
from nas_tf.spaces.cell import CellSpace
from nas_tf.strategies.random_search import RandomSearch
from nas_tf.tasks.cifar10 import Cifar10Task


def randomize(model, seed=0):
  """Non-trivial weights and BN statistics, so that a wrong copy shows."""
  rng = np.random.default_rng(seed)
  for v in model.weights:
    v.assign(rng.uniform(0.5, 1.5, v.shape).astype(np.float32) if "variance" in v.path
             else rng.normal(0.0, 0.3, v.shape).astype(np.float32))


def run_supernet(supernet, step, images, arch, training):
  """The supernet as ENAS steps it: traced (a switch per slot, inside tf.function) or
  composed (eager, of traced pieces)."""
  tensors = supernet.space.as_tensors(arch)
  if step == "traced":
    return tf.function(lambda: supernet(images, *tensors, training=training),
                       autograph=False)().numpy()
  return supernet(images, *tensors, training=training).numpy()


@pytest.mark.parametrize("cell_output,step", [("loose_ends", "traced"), ("all", "traced"),
                                              ("loose_ends", "composed"), ("all", "composed")])
def test_micro_supernet_equals_the_stand_alone_cell_network_with_copied_weights(cell_output,
                                                                                step):
  space = CellSpace("enas", num_blocks=3, cell_output=cell_output)
  supernet = enas_micro.Supernet(space, channels=4, layers_per_stage=1)
  supernet.build_all()
  randomize(supernet)
  images = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype(np.float32)
  for tokens in RandomSearch(space.token_types).propose(space.plan(), 3, [0, 1]):
    arch = space.decode(tokens)
    child = cell_models.build_classifier(arch, layers_per_stage=1, channels=4)
    enas_micro.copy_weights(supernet, child, arch)
    for training in (False, True):  # moving statistics, and batch statistics
      shared = run_supernet(supernet, step, images, arch, training)
      alone = child(images, training=training).numpy()
      np.testing.assert_allclose(shared, alone, rtol=1e-4, atol=1e-4)
    assert enas_micro.child_params(supernet, arch) == child.count_params()


def test_the_micro_auxiliary_head_is_the_authors_fixed_head():
  # micro_child.py lines 293-323, transcribed in NumPy: ReLU, 5x5/3 average pool (VALID),
  # 1x1 conv to 128, batch norm with the batch's statistics, ReLU, a 2x2 "SAME" conv to 768
  # (what remains of 8x8 after the pool), batch norm, ReLU, mean over the pixels, a matrix.
  from nas_tf.models.auxiliary import AuxiliaryHead
  head = AuxiliaryHead(10)
  head.build((None, 8, 8, 6))
  assert not head.trainable_weights and len(head.non_trainable_weights) == 3
  x = np.random.default_rng(0).normal(size=(3, 8, 8, 6)).astype(np.float32)
  project, wide, fc = (w.numpy() for w in (head.project, head.wide, head.fc))

  def bn(t):
    return (t - t.mean(axis=(0, 1, 2))) / np.sqrt(t.var(axis=(0, 1, 2)) + 1e-5)
  r = np.maximum(x, 0)
  pooled = np.stack([np.stack([r[:, 3 * i:3 * i + 5, 3 * j:3 * j + 5].mean(axis=(1, 2))
                               for j in range(2)], 1) for i in range(2)], 1)  # [3, 2, 2, 6]
  a = np.maximum(bn(pooled @ project[0, 0]), 0)
  padded = np.pad(a, ((0, 0), (0, 1), (0, 1), (0, 0)))  # SAME, kernel 2: bottom and right
  conv = sum(padded[:, u:u + 2, v:v + 2] @ wide[u, v] for u in range(2) for v in range(2))
  expected = np.maximum(bn(conv), 0).mean(axis=(1, 2)) @ fc
  np.testing.assert_allclose(head(x).numpy(), expected, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("step", ["composed", "traced"])
def test_the_micro_search_trains_the_cells_through_the_fixed_auxiliary_head(step):
  # The head reads the cell after the second reduction in training steps only; it leaves
  # the logits alone, adds 0.4 x its loss's gradient to the cells' and never moves itself.
  from nas_tf.tasks.shared_steps import _forward
  space = CellSpace("enas", num_blocks=2)
  images = np.random.default_rng(1).normal(size=(4, 32, 32, 3)).astype(np.float32)
  labels = np.array([0, 1, 2, 3])
  arch = space.decode(RandomSearch(space.token_types).propose(space.plan(), 1, [0, 1])[0])
  tensors = space.as_tensors(arch)
  grads, logits = {}, {}
  for weight in (0.0, 0.4):
    keras.utils.set_random_seed(0)
    supernet = enas_micro.Supernet(space, channels=4, layers_per_stage=1,
                                   auxiliary_weight=weight)
    supernet.build_all()
    assert (supernet.auxiliary_position == 4) == bool(weight)  # cells 1 and 3 reduce
    head = [w.numpy() for w in supernet.auxiliary.weights]
    run = (lambda f: f()) if step == "composed" else (lambda f: tf.function(f,
                                                                           autograph=False)())
    stem = supernet.stem_conv.kernel

    def grad_and_logits():
      with tf.GradientTape() as tape:
        logits, loss, objective = _forward(supernet, images, labels, tensors)
      return tape.gradient(objective, stem), logits, loss, objective
    grads[weight], logits[weight], loss, objective = run(grad_and_logits)
    assert (float(objective) > float(loss)) == bool(weight)
    assert supernet(images, *tensors, training=False) is not None
    assert supernet.auxiliary_logits() is None  # not in inference
    supernet(images, *tensors, training=True)  # scoring (batch statistics): no head either
    assert supernet.auxiliary_logits() is None
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(head, supernet.auxiliary.weights))
    assert all("aux_head" not in v.path for v in supernet.trainable_variables)
  np.testing.assert_allclose(logits[0.0].numpy(), logits[0.4].numpy(), rtol=1e-5, atol=1e-5)
  assert not np.allclose(grads[0.0].numpy(), grads[0.4].numpy())


@pytest.mark.parametrize("step", ["composed", "traced"])
def test_the_supernets_gradients_equal_the_stand_alone_childs(step):
  # The stem's gradient has passed through every cell; each chosen op's weights get theirs.
  # The calls in between move the batch-norm statistics (training mode). (Traced with the
  # switch branches as functions, oneDNN's batch norm put the stem's gradient up to 5% off
  # the child's: layers.switch_case inlines them without a GPU. With Grappler on, the
  # traced gradients still came out off now and then, 0.01-0.6%: the search turns it off.)
  space = CellSpace(["sep_conv_3x3", "max_pool_3x3"], num_blocks=2)
  supernet = enas_micro.Supernet(space, channels=4, layers_per_stage=1)
  supernet.build_all()
  rng = np.random.default_rng(1)
  images = rng.normal(size=(8, 32, 32, 3)).astype(np.float32)
  labels = rng.integers(0, 10, 8).astype(np.int32)

  def gradients(model, *arch):
    with tf.GradientTape() as tape:
      logits = model(images, *arch, training=True)
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    return tape.gradient(loss, model.trainable_variables)
  specs = [tf.TensorSpec(shape, dtype) for shape, dtype in space.tensor_specs()]
  traced = tf.function(lambda *arch: gradients(supernet, *arch), autograph=False,
                       input_signature=specs)
  paths = [v.path for v in supernet.trainable_variables]
  for tokens in RandomSearch(space.token_types).propose(space.plan(), 6, [0, 1]):
    arch = space.decode(tokens)
    tensors = space.as_tensors(arch)
    with hardware.graph_optimizer_off_without_gpu():  # as the search runs it
      shared = dict(zip(paths, traced(*tensors) if step == "traced"
                        else gradients(supernet, *tensors)))
    child = cell_models.build_classifier(arch, layers_per_stage=1, channels=4)
    enas_micro.copy_weights(supernet, child, arch)
    alone = dict(zip([v.path for v in child.trainable_variables], gradients(child)))
    checked = ["stem_conv/kernel", "stem_bn/gamma"]
    for name, kind, _, _ in supernet.positions:
      for i, block in enumerate(arch[kind]):
        for slot in range(2):
          checked += [f"{name}_b{i}_{slot}_{block[2 * slot + 1]}/{part}/{weight}"
                      for part, weight in (("dw0", "kernel"), ("pw1", "kernel"),
                                           ("bn1", "gamma")) if block[2 * slot + 1][0] == "s"]
    compared = 0
    for path in checked:
      child_path = path.replace("_sep_conv_3x3/", "_")  # the child's c0_0_normal_b0_1_dw0
      if child_path in alone:  # not where the next cells read around the cell (N=1)
        np.testing.assert_allclose(shared[path], alone[child_path], rtol=1e-4, atol=1e-6,
                                   err_msg=path)
        compared += 1
    assert compared > 2


def test_micro_scores_with_batch_statistics_as_enas_and_macro_with_moving_ones(monkeypatch):
  # ENAS micro (micro_child.py lines 244 and 804) scores with is_training=True; ENAS macro
  # (general_child.py build_valid_rl) with is_training=False. So the micro reward must not
  # depend on the BN moving statistics, and the macro reward must.
  from nas_tf.models import enas_macro
  from nas_tf.spaces.enas_macro import EnasMacroSpace
  from nas_tf.tasks import shared_steps
  scored = []
  monkeypatch.setattr(shared_steps, "correct_count",
                      lambda logits, labels: scored.append(np.asarray(logits)) or 0)
  task = Cifar10Task(tiny_cifar_config())
  rng = np.random.default_rng(3)
  images = rng.normal(size=(16, 32, 32, 3)).astype(np.float32)
  labels = rng.integers(0, 10, 16).astype(np.int32)
  space = CellSpace("enas", num_blocks=2)
  micro = enas_micro.Supernet(space, channels=4, layers_per_stage=1)
  micro.build_all()
  macro_space = EnasMacroSpace(num_layers=3, channels=4, reduce_at=[2])
  macro = enas_macro.Supernet(macro_space)
  arch = space.as_tensors(space.decode(
      RandomSearch(space.token_types).propose(space.plan(), 1, [0, 1])[0]))
  macro_arch = macro_space.as_tensors(macro_space.decode(
      RandomSearch(macro_space.token_types).propose(macro_space.plan(), 1, [0, 1])[0]))
  macro(images, *macro_arch)  # builds it
  for model, tensors, moving_statistics_matter in ((micro, arch, False),
                                                   (macro, macro_arch, True)):
    scored.clear()
    for moving in (0.0, 3.0):
      randomize(model, 0)  # the same trainable weights both times
      for v in model.weights:
        if "moving" in v.path:
          v.assign(np.full(v.shape, moving + (1.0 if "variance" in v.path else 0.0),
                           np.float32))
      task.shared_eval_step(model, images, labels, *tensors)
    same = np.allclose(scored[0], scored[1], atol=1e-5)
    assert same != moving_statistics_matter, type(model).__module__


def test_cell_tensors_mark_the_output_blocks():
  space = CellSpace("enas", num_blocks=3)
  arch = space.decode(space.encode({
      "normal": [[0, "identity", 1, "sep_conv_3x3"], [2, "max_pool_3x3", 0, "identity"],
                 [1, "avg_pool_3x3", 1, "sep_conv_5x5"]],
      "reduce": [[1, "sep_conv_5x5", 0, "identity"], [2, "identity", 2, "identity"],
                 [3, "max_pool_3x3", 0, "identity"]]}))
  normal, normal_out, reduce, reduce_out = space.as_tensors(arch)
  np.testing.assert_array_equal(normal[0], [0, 0, 1, 1])
  np.testing.assert_array_equal(normal_out, [0, 1, 1])  # b0 is read by b1
  np.testing.assert_array_equal(reduce_out, [0, 0, 1])


def killed_and_resumed(run, workdir):
  """``run(workdir, after_epoch=...)`` stopped after its first epoch, then rerun: returns the
  rerun's (search, result, epoch lines)."""
  class Stop(Exception):
    pass

  def stop(epoch):
    raise Stop()
  with pytest.raises(Stop):
    run(workdir, after_epoch=stop)
  return run(workdir)


def micro_config(**overrides):
  return tiny_cifar_config(1, **{
      # Two ops keep the trace short (each op is a switch branch per slot and cell; the
      # supernet's every op is checked against the stand-alone network below).
      "search.strategy": "enas", "space.kind": "cell", "space.num_blocks": 2,
      "space.ops": "identity,max_pool_3x3",
      "child.layers_per_stage": 1, "child.channels": 4, "enas.epochs": 2,
      "enas.controller.steps": 2, "enas.controller.batch": 2, "enas.derive_samples": 3,
      **overrides})


def run_micro(workdir, **hooks):
  config = micro_config()
  lines = []
  search = OneShotSearch(config, workdir, Cifar10Task(config), log=lines.append, **hooks)
  result = search.run()
  return search, result, [line.split(" | ")[0] for line in lines if "[enas epoch" in line]


def test_enas_micro_search_traces_once_resumes_exactly_and_its_cell_trains(tmp_path):
  search, result, epochs = run_micro(str(tmp_path / "a"))
  # Composed (the default without a GPU): every minibatch a new cell pair, each piece (op,
  # stride, input shape) traced once, shared by every slot and cell pair that runs it.
  supernet = search.strategy.supernet
  assert search.strategy.composed and len(epochs) == 2
  assert search.strategy.traces == len(supernet.pieces) <= 1 + 3 * len(supernet.positions)
  resumed, _, epochs_b = killed_and_resumed(run_micro, str(tmp_path / "b"))
  assert epochs_b == epochs[1:]
  for a, b in zip(search.strategy.supernet.weights, resumed.strategy.supernet.weights,
                  strict=True):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert records(str(tmp_path / "b")) == records(str(tmp_path / "a"))
  rows = wd.read_jsonl(os.path.join(str(tmp_path / "b"), "children.jsonl"))
  # Scored on the whole validation split: right answers over its 32 images.
  assert all(r["arch"]["space"] == "cell" and counted_over(r["val_accuracy"], 32) for r in rows)
  config = micro_config()
  task = Cifar10Task(config)
  task.prepare()
  metrics = task.train_child(result.best["arch"], seed=0)
  assert metrics["params"] == result.best["params"]


def test_enas_micro_traced_step_is_traced_once_for_every_cell_pair(tmp_path):
  config = micro_config(**{"enas.step": "traced", "enas.epochs": 1})
  lines = []
  search = OneShotSearch(config, str(tmp_path), Cifar10Task(config), log=lines.append)
  search.run()
  assert not search.strategy.composed and search.strategy.traces == 1
  assert any(line.endswith("| 1 trace(s)") for line in lines)


def test_enas_step_must_be_known_and_composed_needs_a_supernet_that_composes(tmp_path):
  from test_strategies import enas_config
  with pytest.raises(ConfigError, match="enas.step must be one of auto, traced, composed"):
    config = micro_config(**{"enas.step": "fast"})
    OneShotSearch(config, str(tmp_path), Cifar10Task(config), log=lambda _: None)
  config = enas_config(**{"enas.step": "composed"})  # the macro supernet: traced only
  with pytest.raises(ConfigError, match="enas.step=composed: the enas_macro supernet"):
    OneShotSearch(config, str(tmp_path), Cifar10Task(config), log=lambda _: None)


def test_enas_micro_rejects_ops_its_supernet_lacks():
  config = micro_config(**{"space.ops": "pnas"})
  with pytest.raises(ConfigError, match="conv_7x1_1x7"):
    OneShotSearch(config, "/nonexistent-unused", Cifar10Task(config), log=lambda _: None)


# -- ENAS recurrent cells ------------------------------------------------------------------------

def test_enas_rnn_space_decodes_pointers_and_loose_ends():
  from nas_tf.spaces.enas_rnn import ACTIVATIONS, EnasRnnSpace
  space = EnasRnnSpace(num_nodes=4, activations=ACTIVATIONS)  # the paper's four
  # n0 tanh; n1 reads n0 (relu); n2 reads n0 (identity); n3 reads n2 (sigmoid)
  arch = space.decode([0, 0, 1, 0, 2, 2, 3])
  assert [n["input"] for n in arch["nodes"]] == [-1, 0, 0, 2]
  assert space.describe(arch).splitlines()[-1] == "h = mean(n1, n3)"
  inputs, activations, outputs = space.as_tensors(arch)
  np.testing.assert_array_equal(outputs, [0, 1, 0, 1])
  np.testing.assert_array_equal(activations, [0, 1, 2, 3])
  with pytest.raises(ValueError, match="earlier node"):
    space.decode([0, 1, 1, 0, 2, 2, 3])
  # The authors' code's two (the default): the same tokens mean the same activations, and
  # identity and sigmoid are not in it.
  two = EnasRnnSpace(num_nodes=4)
  assert two.activations == ("tanh", "relu") and two.token_types == {"activation": 2}
  assert two.decode([0, 0, 1, 0, 0, 2, 1])["nodes"] == space.decode([0, 0, 1, 0, 0, 2, 1])["nodes"]
  with pytest.raises(ValueError, match="activation tokens must be < 2"):
    two.decode([0, 0, 1, 0, 2, 2, 3])
  with pytest.raises(ValueError, match="first k of tanh, relu, identity, sigmoid"):
    EnasRnnSpace(4, activations="tanh,sigmoid")


@pytest.mark.parametrize("activations,layer_norm", [("tanh,relu", False), ("tanh,relu", True),
                                                    ("tanh,relu,identity,sigmoid", True)])
def test_enas_rnn_supernet_equals_the_stand_alone_language_model_with_copied_weights(
    activations, layer_norm):
  from nas_tf.models import enas_rnn
  from nas_tf.spaces.enas_rnn import EnasRnnSpace
  space = EnasRnnSpace(num_nodes=4, activations=activations)
  supernet = enas_rnn.Supernet(space, vocab_size=30, units=8, batch_size=3,
                               layer_norm=layer_norm)
  supernet.build_all()
  randomize(supernet)
  tokens = np.random.default_rng(2).integers(0, 30, size=(3, 6)).astype(np.int32)
  for t in RandomSearch(space.token_types).propose(space.plan(), 4, [0, 1]):
    arch = space.decode(t)
    model = enas_rnn.build_language_model(arch, 30, 8, stateful=False, layer_norm=layer_norm)
    enas_rnn.copy_weights(supernet, model, arch)
    shared, _ = supernet(tokens, *space.as_tensors(arch), training=False)
    np.testing.assert_allclose(shared.numpy(), model(tokens).numpy(), rtol=1e-4, atol=1e-4)


def test_enas_cell_computes_the_authors_un_normalized_highway():
  """melodyguan/enas ptb_enas_child.py ``_rhn_fixed`` (lines 266-330): node 0 is
  h + sigmoid(c) * (f(z) - h) with [z, c] = [x, h] w_prev, node i the same from its input's
  state with w_skip; h_t is the mean of the loose ends. Recomputed here in NumPy, with no
  normalization anywhere (enas.layer_norm False, the default)."""
  import keras

  from nas_tf.models import enas_rnn
  from nas_tf.spaces.enas_rnn import EnasRnnSpace
  arch = EnasRnnSpace(num_nodes=3).decode([1, 0, 0, 0, 1])  # relu; 1<-0 tanh; 2<-0 relu
  cell = enas_rnn.EnasCell(arch, units=4)
  rng = np.random.default_rng(0)
  x, h = rng.normal(size=(2, 3)).astype(np.float32), rng.normal(size=(2, 4)).astype(np.float32)
  out, _ = cell(keras.ops.convert_to_tensor(x), [keras.ops.convert_to_tensor(h)])
  sigmoid, relu = (lambda v: 1 / (1 + np.exp(-v))), (lambda v: np.maximum(v, 0))

  def node(z, f, carry):
    return carry + sigmoid(z[:, 4:]) * (f(z[:, :4]) - carry)

  kx, kh = cell.kernel_x.numpy(), cell.kernel_h.numpy()
  k1, k2 = (k.numpy() for k in cell.node_kernels)
  n0 = node(x @ kx + h @ kh, relu, h)
  n1, n2 = node(n0 @ k1, np.tanh, n0), node(n0 @ k2, relu, n0)
  np.testing.assert_allclose(out.numpy(), (n1 + n2) / 2, rtol=1e-5, atol=1e-6)


def test_enas_rnn_rewards_start_from_the_carried_training_state():
  # ptb_enas_child.py: valid_rl runs _model from start_h, the state the training carried
  # (lines 248-252, 404-411), and does not carry its own; derived cells are evaluated from a
  # reset state.
  import tensorflow as tf
  from nas_tf.models import enas_rnn
  from nas_tf.spaces.enas_rnn import EnasRnnSpace
  from nas_tf.tasks.ptb import PtbTask
  space = EnasRnnSpace(num_nodes=3)
  supernet = enas_rnn.Supernet(space, vocab_size=30, units=8, batch_size=3)
  supernet.build_all()
  randomize(supernet)
  carried = np.random.default_rng(4).normal(size=(3, 8)).astype(np.float32)
  supernet.train_state.assign(carried)
  tokens = np.random.default_rng(2).integers(0, 30, size=(3, 6)).astype(np.int32)
  targets = np.roll(tokens, -1, axis=1)
  arch = space.as_tensors(space.decode(
      RandomSearch(space.token_types).propose(space.plan(), 1, [0, 1])[0]))
  task = PtbTask.__new__(PtbTask)
  reward_loss, count = task.shared_reward_step(supernet, tokens, targets, *arch)
  logits, _ = supernet(tokens, *arch, initial_state=tf.constant(carried), training=False)
  expected = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits))
  assert float(reward_loss) == pytest.approx(float(expected), rel=1e-5) and int(count) == 18
  np.testing.assert_array_equal(supernet.train_state.numpy(), carried)  # not carried on
  eval_loss, _ = task.shared_eval_step(supernet, tokens, targets, *arch)
  assert float(eval_loss) != pytest.approx(float(reward_loss), rel=1e-3)  # from zeros


def rnn_config(**overrides):
  from conftest import tiny_ptb_config
  c = tiny_ptb_config()
  c.search.strategy = "enas"
  # 4 epochs: embedding dropout zeroes a dropped word wherever it recurs in its window, and
  # a 50-word vocabulary recurs often; with the authors' recurrent controller (its distance
  # prior favours chains) the derived cells scored 47.8-51.0 perplexity after 3, 44.0-47.1
  # after 4.
  c.enas.epochs, c.enas.controller.steps, c.enas.controller.batch = 4, 2, 2
  c.enas.derive_samples = 3
  c.child.recurrent_dropout, c.child.embedding_dropout, c.child.dropout = 0.2, 0.1, 0.2
  for key, value in overrides.items():
    c[key] = value
  return c


def test_enas_rnn_search_traces_once_resumes_exactly_and_its_cell_trains(tmp_path):
  from nas_tf.tasks.ptb import PtbTask

  def run(workdir, **hooks):
    config = rnn_config()
    lines = []
    search = OneShotSearch(config, workdir, PtbTask(config), log=lines.append, **hooks)
    result = search.run()
    return search, result, [line.split(" | ")[0] for line in lines if "[enas epoch" in line]
  search, result, epochs = run(str(tmp_path / "a"))
  assert search.strategy.traces == 1 and len(epochs) == 4
  assert "train perplexity" in epochs[0]
  resumed, _, epochs_b = killed_and_resumed(run, str(tmp_path / "b"))
  assert epochs_b == epochs[1:]
  assert records(str(tmp_path / "b")) == records(str(tmp_path / "a"))
  rows = wd.read_jsonl(os.path.join(str(tmp_path / "a"), "children.jsonl"))
  for r in rows:
    # Better than a uniform guess over the vocabulary: the shared weights learned something.
    assert r["arch"]["space"] == "enas_rnn" and 1 < r["val_perplexity"] < SYNTHETIC_VOCAB
    assert np.isclose(r["reward"], 80.0 / r["val_perplexity"])
  task = PtbTask(rnn_config())
  task.prepare()
  metrics = task.train_child(result.best["arch"], seed=0)
  assert metrics["params"] == result.best["params"]
  assert 1 < metrics["val_perplexity"] < SYNTHETIC_VOCAB
  assert metrics["val_perplexity"] == pytest.approx(min(metrics["val_curve"]), abs=1e-3)


PTB_MINI = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "ptb-mini")


@pytest.mark.skipif(not os.path.isdir(PTB_MINI), reason="../shared/data/ptb-mini absent")
def test_enas_rnn_cli_searches_and_trains_on_real_ptb(tmp_path):
  # docs/enas.md's command, smaller. (Export and serving of a PTB language model and its
  # cell: tests/test_export.py.)
  from conftest import docs_command, run_cli
  w = str(tmp_path / "w")
  searched = run_cli(*docs_command("docs/enas.md", "search ptb --method=enas"),
                     "--config.data.max_train_tokens=20000", "--config.enas.epochs=2",
                     "--config.enas.derive_samples=2", "--config.final.epochs=1",
                     f"--workdir={w}")
  assert searched.returncode == 0, searched.stderr
  best = wd.read_json(os.path.join(w, "best.json"))
  assert best["arch"]["space"] == "enas_rnn" and best["val_perplexity"] < 5521 / 3
  trained = run_cli("train", f"--workdir={w}")
  assert trained.returncode == 0, trained.stderr
  result = wd.read_json(os.path.join(w, "final", "result.json"))
  # Below a uniform guess over the 5,521 words of ptb-mini's vocabulary.
  assert result["arch"] == best["arch"] and result["test_perplexity"] < 5521 / 2


def test_a_found_enas_cell_trains_under_a_nas_rl_config():
  """train_child describes an architecture with its own space, not the config's."""
  from conftest import tiny_ptb_config
  from nas_tf.spaces.enas_rnn import ACTIVATIONS, EnasRnnSpace
  from nas_tf.tasks.ptb import PtbTask
  arch = EnasRnnSpace(3, activations=ACTIVATIONS).decode([0, 0, 1, 1, 2])
  task = PtbTask(tiny_ptb_config())  # search.strategy nas_rl: the NAS-RL tree space
  task.prepare()
  metrics = task.train_child(arch, seed=0)
  assert metrics["formula"].endswith("h = mean(n2)")
  assert 1 < metrics["val_perplexity"] < SYNTHETIC_VOCAB


def test_enas_reward_statistics_overrides_the_supernets_rule(tmp_path):
  with pytest.raises(ConfigError, match=r"enas.reward_statistics must be one of auto, batch, "
                                        r"moving, got 'train'"):
    config = micro_config(**{"enas.reward_statistics": "train"})
    OneShotSearch(config, str(tmp_path), Cifar10Task(config), log=lambda _: None)
  rules = {}
  for setting in ("auto", "moving"):
    config = micro_config(**{"enas.reward_statistics": setting})
    search = OneShotSearch(config, str(tmp_path / setting), Cifar10Task(config),
                           log=lambda _: None)
    rules[setting] = search.strategy.supernet.scores_with_batch_statistics
  assert rules == {"auto": True, "moving": False}  # micro's own rule: batch statistics
