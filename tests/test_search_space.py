import json

import pytest

from nas_tf.spaces.base import Anchor, Choice, plan_length
from nas_tf.spaces.cnn_macro import CNNSearchSpace


def test_plan_has_choices_then_an_anchor_per_layer():
  space = CNNSearchSpace(search_strides=True)
  plan = space.plan(3)
  assert plan[:5] == (Choice("filter_height"), Choice("filter_width"), Choice("filters"),
                      Choice("stride"), Anchor(0))
  assert plan_length(plan) == 3 * 4 + (0 + 1 + 2)


def test_decode_encode_round_trip_and_json():
  space = CNNSearchSpace()
  layers = [{"filter_height": 3, "filter_width": 5, "filters": 36, "stride": 1, "inputs": []},
            {"filter_height": 1, "filter_width": 7, "filters": 64, "stride": 1, "inputs": [0]},
            {"filter_height": 7, "filter_width": 3, "filters": 24, "stride": 1, "inputs": [0, 1]}]
  tokens = space.encode(layers)
  arch = space.decode(tokens, 3)
  assert arch["layers"] == layers
  assert json.loads(json.dumps(arch)) == arch


def test_id_is_stable_and_depends_on_tokens():
  space = CNNSearchSpace()
  a = space.decode([1, 2, 3, 0, 0, 0, 0], 2)
  assert a["id"] == space.decode([1, 2, 3, 0, 0, 0, 0], 2)["id"]
  assert a["id"] != space.decode([1, 2, 3, 0, 0, 0, 1], 2)["id"]


def test_bad_space_and_tokens_are_rejected():
  with pytest.raises(ValueError, match="num_filters must not be empty"):
    CNNSearchSpace(num_filters=())
  with pytest.raises(ValueError, match="expected"):
    CNNSearchSpace().decode([0, 0], 2)
