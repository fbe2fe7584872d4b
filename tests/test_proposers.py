"""Local search and predictor-guided evolution: their proposals follow their rules, on small
known landscapes, and PNAS's surrogate that guides the second refits as a fresh one fits."""

import numpy as np
import pytest

from nas_tf.spaces.base import Choice
from nas_tf.strategies import guided_evolution
from nas_tf.strategies.guided_evolution import GuidedEvolution, ranks
from nas_tf.strategies.local_search import LocalSearch, neighbours
from nas_tf.strategies.surrogate import Surrogate, position_ids

PLAN = tuple(Choice("op") for _ in range(4))
TYPES = {"op": 4}


def landscape(tokens) -> float:
  """Two peaks: the global one at (3, 3, 3, 3), a lower local one at (0, 0, 0, 0)."""
  t = np.asarray(tokens)
  return float(max(10 - np.abs(t - 3).sum(), 8 - 3 * np.abs(t).sum()))


def drive(strategy, children, m=1):
  """The loop's propose/tell cycle; the proposals and their rewards, in order."""
  out = []
  for step in range(children // m):
    tokens = strategy.propose(PLAN, m, [7, step])
    rewards = [landscape(t) for t in tokens]
    strategy.tell(PLAN, tokens, rewards)
    out += [(tuple(int(x) for x in t), r) for t, r in zip(tokens, rewards)]
  return out


def test_local_search_climbs_neighbour_by_neighbour_and_restarts_at_a_local_optimum():
  search, told, optima = LocalSearch(TYPES), {}, []
  restart = search._restart

  def checked_restart(plan, m, rng):  # the centre it leaves must be a local optimum
    if search.centre is not None:
      optima.append(tuple(search.centre["tokens"]))
    return restart(plan, m, rng)
  search._restart = checked_restart
  proposed = []
  for step in range(200):
    centre = search.centre and list(search.centre["tokens"])
    (tokens,) = search.propose(PLAN, 1, [7, step])
    tokens, reward = tuple(int(x) for x in tokens), landscape(tokens)
    assert tokens not in told  # never the same one twice
    if len(optima) == search.restarts and centre is not None and search.centre is not None:
      # Within a climb: a neighbour of the centre (or of a told better one it moved to).
      assert tokens in set(map(tuple, neighbours(search.centre["tokens"], [4] * 4)))
    search.tell(PLAN, np.array([tokens]), [reward])
    told[tokens] = reward
    proposed.append(reward)
  assert len(optima) == search.restarts >= 1
  for optimum in optima:
    around = [tuple(n) for n in neighbours(list(optimum), [4] * 4)]
    assert all(n in told and told[n] <= told[optimum] for n in around)
  assert max(proposed) == 10.0  # it found the global peak


def test_local_search_state_resumes_the_same_proposals():
  whole = drive(LocalSearch(TYPES), 60)
  first = LocalSearch(TYPES)
  head = drive(first, 25)
  again = LocalSearch(TYPES)
  again.load_state(first.state())
  tail = [(tuple(int(x) for x in t), landscape(t)) for step in range(25, 60)
          for t in [again.propose(PLAN, 1, [7, step])[0]]
          if again.tell(PLAN, np.array([t]), [landscape(t)])]
  assert head + tail == whole


def test_guided_proposes_the_predictors_best_candidates_in_its_order(monkeypatch):
  # With a known predictor (the sum of the tokens), the proposals after the random start are
  # the unseen one-token mutations of the best children, highest prediction first.
  class Known:
    slots = [4] * 4

    def __init__(self, *args, **kwargs):
      pass

    def fit(self, cells, targets, seed=None):
      assert list(targets) == list(ranks(fitted_rewards[:len(cells)]))

    def predict(self, cells):
      return np.array([float(sum(c)) for c in cells])

  from nas_tf.strategies import surrogate as surrogate_lib
  monkeypatch.setattr(surrogate_lib, "Surrogate", Known)
  guided = GuidedEvolution(TYPES, initial=4, refit_every=3, candidates=50, parents=2)
  fitted_rewards = []
  proposed = []
  for step in range(10):
    tokens = guided.propose(PLAN, 1, [3, step])
    reward = landscape(tokens[0])
    fitted_rewards.append(reward)
    proposed.append(tuple(int(x) for x in tokens[0]))
    guided.tell(PLAN, tokens, [reward])
  assert guided.fits == 2 and len(set(proposed)) == 10
  for after_fit in (proposed[4:7], proposed[7:10]):
    sums = [sum(t) for t in after_fit]
    assert sums == sorted(sums, reverse=True)  # the predictor's order


def test_guided_beats_random_on_a_learnable_landscape():
  guided = GuidedEvolution(TYPES, initial=8, refit_every=4, epochs=60)
  rewards = [r for _, r in drive(guided, 40)]
  # Random search's mean reward on this landscape is about 4.5 (all 256 cells).
  everything = [landscape(t) for t in np.ndindex(4, 4, 4, 4)]
  assert np.mean(rewards[-16:]) > np.mean(everything) + 3
  assert max(rewards) == 10.0


def test_ranks_are_in_unit_range_and_share_ties():
  np.testing.assert_allclose(ranks([0.5, 0.1, 0.9, 0.5]), [0.5, 0.0, 1.0, 0.5])


def test_a_refitted_surrogate_equals_a_fresh_one_and_positions_have_their_own_ids():
  np.testing.assert_array_equal(position_ids([[0, 2, 1]], [2, 3, 2]), [[1, 5, 7]])
  rng = np.random.default_rng(0)
  cells = rng.integers(0, 4, size=(60, 4))
  targets = rng.random(60)
  reused = Surrogate(kinds=("mlp",), slots=[4] * 4, ensemble=2, epochs=10, units=8)
  reused.fit(cells[:30], targets[:30], seed=1)
  reused.fit(cells, targets, seed=2)
  fresh = Surrogate(kinds=("mlp",), slots=[4] * 4, ensemble=2, epochs=10, units=8)
  fresh.fit(cells, targets, seed=2)
  np.testing.assert_array_equal(reused.predict(cells), fresh.predict(cells))
  other = Surrogate(kinds=("mlp",), slots=[4] * 4, ensemble=2, epochs=10, units=8)
  other.fit(cells, targets, seed=3)  # another fit seed: other folds and batches
  assert not np.array_equal(other.predict(cells), fresh.predict(cells))


@pytest.mark.parametrize("settings,message", [({"initial": 1}, "initial must be at least 2"),
                                              ({"inital": 5}, "unknown settings")])
def test_guided_bad_settings_fail_in_one_line(settings, message):
  with pytest.raises(ValueError, match=message):
    GuidedEvolution(TYPES, **settings)
  assert guided_evolution.DEFAULTS["initial"] == 10
