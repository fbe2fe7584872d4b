"""ENAS over your own space: the NAS-RL controller samples your LayerChoice and InputChoice
decisions and the switched supernet of your ``build_model(hp)`` (``models/switched.py``)
trains their shared weights; ENAS's loop, settings, checkpoints and logs (``enas.py``).

As under DARTS, only the structural decisions are searched: each ``hp`` decision keeps the
value the supernet was built with (its default), in the controller's view of the space and
in the derived children, and one whose values change the weights' shapes is refused.
"""

from __future__ import annotations

import keras

from nas_tf.models import relaxed, switched
from nas_tf.spaces.user import UserSpace
from nas_tf.strategies.enas import Enas


class UserEnas(Enas):

  def __init__(self, config, space, task):
    keras.utils.set_random_seed(config.seed)  # the shared weights' draw: same seed, same run
    model, relaxation, hp = relaxed.build_supernet(
        space.build_fn, input_shape=task.input_shape, relaxation=switched.SwitchRelaxation())
    if not relaxation.values:
      raise relaxed.SpaceError(f"enas: {space.build} has no nas_tf.LayerChoice or InputChoice "
                               "to switch (its hp decisions are searched by the multi-trial "
                               "methods: random, evolution, nas_rl, ...)")
    self.held = relaxed.held_decisions(space.build_fn, space.decisions, relaxation, model, hp,
                                       task.input_shape, "enas")
    # The controller's view: the switched decisions, every other one at its one value.
    decisions = {name: values if name in relaxation.values else
                 [self.held.get(name, hp.values.get(name, values[0]))]
                 for name, values in space.decisions.items()}
    view = UserSpace(space.build, decisions)
    view.prebuilt = (model, relaxation)
    super().__init__(config, view, task)
