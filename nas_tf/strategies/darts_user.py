"""DARTS over your own space: the supernet is your ``build_model(hp)`` with its
``nas_tf.LayerChoice`` and ``InputChoice`` decisions relaxed (``models/relaxed.py``), and
the search step, its settings, checkpoints and logs are DARTS' (``darts.py``).

Only the structural decisions are relaxed. An ``hp`` decision keeps the value the supernet
was built with (its default) and the derived child keeps it too; one whose values change
the weights' shapes is refused. The network is yours, so ``darts.channels`` and
``darts.layers_per_stage`` do not apply; a model you compiled is searched with DARTS' own
optimizers and its loss (a softmax output is read as probabilities).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nas_tf.models import relaxed
from nas_tf.models.user import outputs_probabilities
from nas_tf.strategies.darts import Darts


class UserDarts(Darts):

  def _supernet(self):
    space, task = self.space, self.task
    model, self.relaxation, hp = relaxed.build_supernet(space.build_fn, seed=self.config.seed,
                                                        input_shape=task.input_shape)
    if not self.relaxation.alphas:
      raise relaxed.SpaceError(f"darts: {space.build} has no nas_tf.LayerChoice or InputChoice "
                               "to relax (its hp decisions are searched by the multi-trial "
                               "methods: random, evolution, nas_rl, ...)")
    self.held = relaxed.held_decisions(space.build_fn, space.decisions, self.relaxation, model,
                                       hp, task.input_shape, "darts")
    self.probabilities = outputs_probabilities(model)
    return model, list(self.relaxation.alphas.values())

  def forward(self, images, training: bool = True):
    return self.model(images, training=training)

  def _network_summary(self) -> str:
    held = ", ".join(f"{k}={v!r}" for k, v in self.held.items())
    return (f"{self.space.build} with {len(self.alphas)} relaxed decisions, "
            f"{self.model.count_params():,} weights" + (f" (held: {held})" if held else ""))

  def alpha_weights(self) -> dict[str, np.ndarray]:
    return self.relaxation.weights()

  def chosen(self, weights=None) -> dict[str, Any]:
    """Every decision's value in the derived child: the relaxed ones derived, the held ones
    as held, any other (unreached) its first value."""
    derived = {**self.held, **self.relaxation.derive(weights)}
    return {name: derived.get(name, values[0]) for name, values in self.space.decisions.items()}

  def _describe(self, weights) -> tuple[str, str]:
    chosen = self.chosen(weights)
    arch = {"build": self.space.build, "values": chosen}
    feeds = self.relaxation.feeds  # a DARTS node in a few words: its inputs and their ops
    fed = {edge for edges in feeds.values() for edge in edges}
    short = "; ".join(
        f"{k}=" + "+".join(f"{i}:{chosen[feeds[k][int(i)]]}" for i in chosen[k].split(","))
        if k in feeds else f"{k}={chosen[k]}" for k in self.relaxation.values if k not in fed)
    return self.space.describe(arch), short

  def _alpha_tables(self, weights) -> dict[str, str]:
    from nas_tf.diagrams import alpha_table
    tables = {}
    for name, w in weights.items():  # one table per candidate list
      labels = tuple(self.relaxation.values[name])
      tables.setdefault(labels, []).append((name, w))
    return {f"alpha_{k}": alpha_table("decision", [n for n, _ in rows], labels,
                                      [w for _, w in rows])
            for k, (labels, rows) in enumerate(tables.items())}

  def _alpha_picture(self, weights):
    return None

  def derive(self, ctx) -> list[dict[str, Any]]:
    return [self.space.decode(self.space.encode({"values": self.chosen()}))]
