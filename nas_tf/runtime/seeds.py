"""Seeds derived from the search's seed, so that every random choice can be replayed on
resume."""

from __future__ import annotations

import numpy as np


def child_seed(search_seed: int, child_index: int) -> int:
  """The training seed of child ``child_index`` (also used per epoch by one-shot methods)."""
  return int(np.random.SeedSequence([search_seed, child_index]).generate_state(1)[0] % (2**31 - 1))


def generator(state: dict | None = None, seed: int | None = None) -> np.random.Generator:
  """A PCG64 generator from a saved ``bit_generator.state`` or from ``seed``."""
  if state is None:
    return np.random.Generator(np.random.PCG64(seed))
  rng = np.random.Generator(np.random.PCG64())
  rng.bit_generator.state = state
  return rng
