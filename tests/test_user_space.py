"""Your own search space (nas_tf/spaces/user.py, models/user.py): build_model(hp) with Keras
Tuner's hp calls, searched by the proposer strategies."""

import json
import os

import numpy as np
import pytest

from nas_tf.spaces.user import HyperParameters, SpaceError, UserSpace, discover


def test_hp_calls_enumerate_keras_tuners_ranges():
  hp = HyperParameters()
  assert hp.Int("units", min_value=32, max_value=512, step=32) == 32  # the first value
  assert hp.space["units"] == list(range(32, 513, 32)) and len(hp.space["units"]) == 16
  assert hp.Int("layers", 1, 3) == 1 and hp.space["layers"] == [1, 2, 3]  # step 1
  assert hp.Int("filters", 16, 128, step=2, sampling="log") == 16
  assert hp.space["filters"] == [16, 32, 64, 128]  # a log step multiplies
  assert hp.Float("rate", 0.0, 0.5, step=0.25) == 0.0 and hp.space["rate"] == [0.0, 0.25, 0.5]
  assert hp.space["rate"] == [0.0, 0.25, 0.5]
  hp.Float("lr", 1e-4, 1e-2, step=10, sampling="log")
  np.testing.assert_allclose(hp.space["lr"], [1e-4, 1e-3, 1e-2])
  assert hp.Boolean("dropout") is False and hp.space["dropout"] == [False, True]
  assert hp.Choice("act", ["relu", "tanh"], default="tanh") == "tanh"  # Keras Tuner's default
  assert hp.Fixed("classes", 10) == 10 and hp.get("act") == "tanh"
  given = HyperParameters({"units": 64, "dropout": True})
  assert given.Int("units", 32, 512, step=32) == 64 and given.Boolean("dropout") is True


@pytest.mark.parametrize("call, message", [
    (lambda hp: hp.Float("lr", 1e-4, 1e-2, sampling="log"), "a continuous range; give step="),
    (lambda hp: hp.Float("rate", 0.0, 0.5), "a continuous range; give step="),
    (lambda hp: hp.Int("n", 5, 1), "an empty or endless range"),
    (lambda hp: hp.Choice("layer", [object()]), "put a layer in nas_tf.LayerChoice"),
    (lambda hp: hp.Int("u", 1, 4, sampling="reverse_log"), "is not searched here"),
])
def test_decisions_nas_tf_cannot_search_are_refused_in_one_line(call, message):
  with pytest.raises(SpaceError, match=message) as refused:
    call(HyperParameters())
  assert "\n" not in str(refused.value)


def test_the_guides_conditional_decisions_are_all_found_in_order():
  from user_spaces import guide_layers
  decisions = discover(guide_layers)
  # units_1 and units_2 exist only with 2 or 3 layers: random builds find them.
  assert list(decisions) == ["num_layers", "units_0", "activation", "dropout", "lr", "units_1",
                             "units_2"]
  assert decisions["units_2"] == list(range(32, 513, 32))
  space = UserSpace(guide_layers)
  assert space.token_types == {f"hp:{name}": len(v) for name, v in decisions.items()}
  arch = space.decode([2, 3, 1, 1, 0, 4, 5])
  assert arch["values"] == {"num_layers": 3, "units_0": 128, "activation": "tanh",
                            "dropout": True, "lr": pytest.approx(1e-4), "units_1": 160,
                            "units_2": 192}
  assert space.encode(arch) == [2, 3, 1, 1, 0, 4, 5] and arch["build"] == \
      "user_spaces:guide_layers"


def test_a_child_is_the_build_functions_model_of_its_values():
  from nas_tf.models.user import build_classifier
  from user_spaces import guide_layers
  space = UserSpace(guide_layers)
  arch = space.decode([2, 3, 1, 1, 2, 4, 5])  # 3 layers of 128, 160 and 192 units, tanh
  model = build_classifier(arch, (28, 28, 1), 10)
  dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
  assert [d.units for d in dense] == [128, 160, 192, 10]
  assert dense[0].activation.__name__ == "tanh"
  assert any(type(layer).__name__ == "Dropout" for layer in model.layers)
  # Its compile kept, for integer labels: the sparse twin of its categorical cross-entropy.
  assert model.loss == "sparse_categorical_crossentropy"
  assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(1e-2)


def test_a_continuous_range_fails_the_search_in_one_line(tmp_path):
  from conftest import run_cli
  out = run_cli("search", "cifar10", "--space=user_spaces:guide_continuous",
                "--config.data.source=synthetic", f"--workdir={tmp_path}/w",
                cwd=os.path.dirname(os.path.abspath(__file__)))
  assert out.returncode == 2, out.stderr
  assert "hp.Float('lr', 0.0001, 0.01): a continuous range; give step=" in out.stderr
  assert len(out.stderr.strip().splitlines()) == 1


def tiny_data(n=60, classes=10, seed=0):
  import keras
  rng = np.random.default_rng(seed)
  x = rng.random((n, 28, 28, 1)).astype("float32")
  y = keras.utils.to_categorical(rng.integers(0, classes, n), classes)  # one-hot, as the guide
  return x, y


@pytest.mark.parametrize("strategy", ["random", "evolution", "nas_rl", "local", "guided"])
def test_the_guides_build_function_is_searched_by_each_strategy(tmp_path, strategy):
  import nas_tf
  from user_spaces import guide_first
  result = nas_tf.search(guide_first, data=tiny_data(), validation_data=tiny_data(30, seed=1),
                         strategy=strategy, preset="smoke", workdir=str(tmp_path),
                         overrides={"search.num_children": 2, "child.epochs": 1}, log=print)
  rows = [json.loads(line) for line in open(os.path.join(str(tmp_path), "children.jsonl"))]
  assert [r["status"] for r in rows] == ["ok", "ok"]
  for row in rows:  # each child trained as its values say: Flatten, Dense(units), Dense(10)
    units = row["arch"]["values"]["units"]
    assert row["params"] == 28 * 28 * units + units + units * 10 + 10
  assert result.best["arch"]["values"]["units"] in range(32, 513, 32)


def test_a_build_that_raises_is_a_failed_child_and_the_search_goes_on(tmp_path):
  from conftest import run_cli
  out = run_cli("search", "cifar10", "--space=user_spaces:fails_at_64", "--config=smoke",
                "--config.data.source=synthetic", "--config.search.strategy=random",
                "--config.search.num_children=6", "--config.child.epochs=1",
                f"--workdir={tmp_path}/w", cwd=os.path.dirname(os.path.abspath(__file__)))
  assert out.returncode == 0, out.stderr
  rows = [json.loads(line) for line in open(f"{tmp_path}/w/children.jsonl")]
  failed = [r for r in rows if r["status"] != "ok"]
  assert {r["arch"]["values"]["units"] for r in failed} == {64}
  assert all(r["arch"]["values"]["units"] == 16 for r in rows if r["status"] == "ok")
  assert failed and "64 units are not supported here" in failed[0]["error"]


# -- LayerChoice and InputChoice: a child is its choices and nothing else ----------------------

def test_layer_and_input_choices_are_decisions_of_the_space():
  from user_spaces import choices
  assert discover(choices) == {"op": ["conv3", "conv5", "pool"],
                               "inputs": ["0,1", "0,2", "1,2"]}
  from nas_tf.models.choices import candidate_labels
  import keras
  labels, _ = candidate_labels([keras.layers.Dense(2), keras.layers.Dense(3),
                                keras.layers.ReLU()])
  assert labels == ["Dense_1", "Dense_2", "ReLU"]  # numbered where a class repeats


def test_a_child_holds_only_its_chosen_candidate_and_inputs():
  from nas_tf.models.user import build_classifier
  from user_spaces import choices
  space = UserSpace(choices)
  model = build_classifier(space.decode([1, 2]), (8, 8, 4), 3)  # conv5, inputs b0 + b1
  kinds = [type(layer).__name__ for layer in model.layers]
  assert kinds.count("Conv2D") == 2 and "MaxPooling2D" not in kinds
  assert [layer.kernel_size for layer in model.layers if type(layer).__name__ == "Conv2D"] == \
      [(1, 1), (5, 5)]
  # By hand: b0 4x4+4, conv5 5x5x4x4+4, the classifier 4x3+3.
  assert model.count_params() == 20 + 404 + 15
  x = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32")
  b0, conv5 = model.get_layer("b0"), [l for l in model.layers if l.name != "b0" and
                                      type(l).__name__ == "Conv2D"][0]
  head = [l for l in model.layers if type(l).__name__ == "Dense"][0]
  expected = head(np.mean(b0(x) + conv5(b0(x)), axis=(1, 2)))
  np.testing.assert_allclose(model(x), expected, rtol=1e-5, atol=1e-6)


def test_a_subclassed_model_takes_its_layer_choice():
  from nas_tf.models.user import build_classifier
  from user_spaces import subclassed
  space = UserSpace(subclassed)
  assert space.decisions == {"width": ["Dense_1", "Dense_2"]}
  model = build_classifier(space.decode([1]), (2, 2, 1), 3)
  assert model.count_params() == (4 * 16 + 16) + (16 * 3 + 3)


def test_choices_outside_a_build_say_so_in_one_line():
  import keras
  import nas_tf
  with pytest.raises(SpaceError, match="inside a build_model"):
    nas_tf.LayerChoice([keras.layers.Dense(2)], name="x")


def test_a_build_function_nas_tf_cannot_import_by_name_is_refused():
  from nas_tf.spaces.user import build_target
  with pytest.raises(SpaceError, match="defined at a module's top level"):
    build_target(lambda hp: None)


def test_naswot_reads_layers_that_end_in_a_relu():
  # A Dense(3, activation="relu") on the identity: its codes are the inputs' signs, as the
  # three-unit ReLU layer of test_zero_cost.py (K = [[3,1,1],[1,3,1],[1,1,3]], det 20).
  import math
  import keras
  from nas_tf.proxies import measures
  model = keras.Sequential([keras.Input((3,)),
                            keras.layers.Dense(3, activation="relu", kernel_initializer="identity"),
                            keras.layers.Dense(1)])
  x = np.array([[1.0, -1.0, 2.0], [1.0, 1.0, -1.0], [-1.0, -1.0, -1.0]], np.float32)
  assert measures.naswot(model, x) == pytest.approx(math.log(20.0), rel=1e-9)
  assert math.isnan(measures.naswot(keras.Sequential([keras.Input((3,)),
                                                       keras.layers.Dense(1)]), x))


def test_proxies_read_your_model_as_logits():
  # The guide's model ends in a softmax; the proxies' view is the same network without it.
  import keras
  from nas_tf.models.user import build_classifier, proxy_view
  model = build_classifier({"build": "user_spaces:guide_first", "values": {"units": 64}},
                           (28, 28, 1))
  view = proxy_view(model)
  x = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
  np.testing.assert_allclose(keras.ops.softmax(view(x)).numpy(), model(x).numpy(), atol=1e-6)
  assert not np.allclose(view(x).numpy(), model(x).numpy())
  subclassed = build_classifier({"build": "user_spaces:subclassed", "values": {"width": "Dense_1"}},
                                (28, 28, 1))
  with pytest.raises(SpaceError, match="returns a subclassed model"):
    proxy_view(subclassed)


def test_training_free_search_scores_your_space_and_trains_the_best(tmp_path):
  from conftest import run_cli
  out = run_cli("search", "cifar10", "--method=zero_cost", "--space=user_spaces:guide_first",
                "--config=smoke", "--config.data.source=synthetic",
                "--config.zero_cost.samples=4", "--config.zero_cost.train_top=1",
                "--config.zero_cost.naswot_batch_size=16", "--config.child.epochs=1",
                f"--workdir={tmp_path}/w", cwd=os.path.dirname(os.path.abspath(__file__)))
  assert out.returncode == 0, out.stderr[-2000:]
  scores = [json.loads(line) for line in open(f"{tmp_path}/w/scores.jsonl")]
  rows = [json.loads(line) for line in open(f"{tmp_path}/w/children.jsonl")]
  assert len(scores) == 4 and len(rows) == 1 and rows[0]["status"] == "ok"
  assert "[child 1/1]" in out.stdout  # the progress counts the k it trains
  best = max(scores, key=lambda r: r["naswot"])
  assert rows[0]["id"] == best["id"]
  # More hidden units, more ReLU codes: NASWOT ranks the widths in order here.
  units = {r["id"]: 32 * (r["tokens"][0] + 1) for r in scores}
  assert sorted(scores, key=lambda r: r["naswot"]) == sorted(scores, key=lambda r: units[r["id"]])


def test_mutations_and_neighbours_change_only_what_the_build_reads():
  # Keras Tuner's guide builds units_1 and units_2 only with 2 and 3 layers: with one layer,
  # changing them would train the parent's network again. Evolution's mutations and local
  # search's neighbours leave them alone there, and change them with three layers.
  from nas_tf.spaces.base import token_slots
  from nas_tf.strategies.evolution import RegularizedEvolution
  from nas_tf.strategies.local_search import LocalSearch
  space = UserSpace("user_spaces:guide_layers")
  names, plan = list(space.decisions), space.plan()
  assert space.conditional is True
  one_layer = [0] * len(names)  # num_layers 1, units 32, relu, no dropout, lr 1e-4
  three = list(one_layer)
  three[names.index("num_layers")] = 2
  assert space.live(one_layer) == [n not in ("units_1", "units_2") for n in names]
  assert all(space.live(three))
  evolution = RegularizedEvolution(space.token_types, 4, 2, space=space)
  rng = np.random.default_rng(0)
  for parent, dead in ((one_layer, {"units_1", "units_2"}), (three, set())):
    changed = {names[int(np.flatnonzero(evolution.mutate(parent, plan, rng) != parent)[0])]
               for _ in range(300)}
    assert changed == set(names) - dead
  local = LocalSearch(space.token_types, space)
  local._move(one_layer, 0.5, plan)
  moved = {names[i] for t in local.queue for i in np.flatnonzero(np.array(t) != one_layer)}
  assert moved == set(names) - {"units_1", "units_2"}
  slots = token_slots(plan, space.token_types)
  assert len(local.queue) == sum(n - 1 for n, name in zip(slots, names)
                                 if name not in ("units_1", "units_2"))
  # Where no build leaves a decision unread, no child is built to find out.
  assert UserSpace("user_spaces:guide_first").conditional is False
  assert UserSpace("user_spaces:guide_first").live([3]) is None
