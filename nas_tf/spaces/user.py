"""Your own search space: a function ``build_model(hp)`` that returns a Keras model and
draws its decisions from ``hp`` with Keras Tuner's signatures (``hp.Choice``, ``hp.Int``,
``hp.Boolean``, ``hp.Float`` with a step, ``hp.Fixed``, ``hp.get``), so a Keras Tuner build
function runs after changing its import.

Every strategy needs a fixed list of decisions, and a build function declares its decisions
as it runs (``units_2`` exists only when ``num_layers`` is 3). ``UserSpace`` finds them by
calling the function with random values until ``PROBES_WITHOUT_NEW`` calls in a row add no
decision (at most ``MAX_PROBES``), in the order they first appear. An architecture is one
token per decision; a decision the build does not reach keeps its token and has no effect.
Only finite choices exist here: a range without a step is refused, in one line.

This module imports neither TensorFlow nor Keras; the build function does.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from nas_tf.config import ConfigError
from nas_tf.spaces.base import Choice, Graph, Plan, SearchSpace, architecture_id, \
    layer_stack_graph

PROBES_WITHOUT_NEW = 8
MAX_PROBES = 64


class SpaceError(ConfigError):
  """A build function's decision that nas-tf cannot search (one line, exit 2)."""


def _steps(name: str, low, high, step, sampling: str, kind: str) -> list:
  """The values of a range: ``low``, ``low + step``, ... (linear) or ``low * step^k`` (log),
  up to ``high`` included, as Keras Tuner enumerates a stepped range."""
  if sampling not in ("linear", "log"):
    raise SpaceError(f"hp.{kind}({name!r}): sampling {sampling!r} is not searched here "
                     "(linear or log)")
  if step is None:
    if kind == "Int" and sampling == "linear":
      step = 1
    else:
      raise SpaceError(f"hp.{kind}({name!r}, {low}, {high}): a continuous range; give step= "
                       "(or list the values with hp.Choice)")
  if high < low or step <= 0 or (sampling == "log" and (low <= 0 or step <= 1)):
    raise SpaceError(f"hp.{kind}({name!r}, {low}, {high}, step={step}, sampling={sampling!r}):"
                     " an empty or endless range")
  values, k = [], 0
  while True:
    value = low + k * step if sampling == "linear" else low * step ** k
    if value > high + 1e-9 * max(1.0, abs(high)):
      break
    values.append(int(round(value)) if kind == "Int" else float(value))
    k += 1
  return values


class HyperParameters:
  """What ``build_model(hp)`` receives: each call returns the value of that decision in the
  architecture being built (``values``), or, for a decision it does not set, the default
  (Keras Tuner's: ``default``, else the first value). Calls are recorded in ``space``."""

  def __init__(self, values: dict[str, Any] | None = None, draw: Callable | None = None,
               relax=None):
    self.values: dict[str, Any] = dict(values or {})
    self.space: dict[str, list] = {}  # decision -> its values, in the order first asked
    self._draw = draw  # probing: a new decision's value drawn from its values
    # One-shot search (``models/relaxed.py``): LayerChoice and InputChoice become mixtures or
    # switches over all their candidates, made by this object.
    self.relax = relax

  def _decide(self, name: str, values: Sequence, default=None):
    if not isinstance(name, str) or not name:
      raise SpaceError(f"a decision needs a name (a non-empty string), got {name!r}")
    values = list(values)
    if not values:
      raise SpaceError(f"hp decision {name!r} has no values")
    if name in self.space and self.space[name] != values:
      raise SpaceError(f"hp decision {name!r} is declared twice with different values "
                       f"({self.space[name]} and {values})")
    self.space.setdefault(name, values)
    if name not in self.values:
      if self._draw is not None:
        self.values[name] = values[self._draw(len(values))]
      else:
        self.values[name] = values[0] if default is None else default
    return self.values[name]

  def Choice(self, name, values, ordered=None, default=None, parent_name=None,
             parent_values=None):
    for v in values:
      if not isinstance(v, (int, float, str, bool)):
        raise SpaceError(f"hp.Choice({name!r}): values must be int, float, str or bool, got "
                         f"{type(v).__name__} (put a layer in nas_tf.LayerChoice)")
    return self._decide(name, values, default)

  def Int(self, name, min_value, max_value, step=None, sampling="linear", default=None,
          parent_name=None, parent_values=None):
    return self._decide(name, _steps(name, int(min_value), int(max_value), step,
                                     sampling or "linear", "Int"), default)

  def Float(self, name, min_value, max_value, step=None, sampling="linear", default=None,
            parent_name=None, parent_values=None):
    return self._decide(name, _steps(name, float(min_value), float(max_value), step,
                                     sampling or "linear", "Float"), default)

  def Boolean(self, name, default=False, parent_name=None, parent_values=None):
    return self._decide(name, [False, True], bool(default))

  def Fixed(self, name, value, parent_name=None, parent_values=None):
    return self._decide(name, [value])

  def get(self, name: str):
    if name not in self.values:
      raise KeyError(f"hp.get({name!r}): no decision of that name has been declared")
    return self.values[name]


_BUILDING: list[HyperParameters] = []  # the hp of the build running now (LayerChoice's)


@contextlib.contextmanager
def building(hp: HyperParameters) -> Iterator[HyperParameters]:
  """The decisions ``nas_tf.LayerChoice`` and ``InputChoice`` take while a build runs."""
  _BUILDING.append(hp)
  try:
    yield hp
  finally:
    _BUILDING.pop()


def relaxing() -> bool:
  """Whether DARTS' supernet of mixtures is being built (``nas_tf.cell_op``'s batch norms
  then leave out scale and shift, as DARTS' search network's; ENAS's switched supernet
  runs the children's own ops)."""
  return bool(_BUILDING) and getattr(_BUILDING[-1].relax, "search_ops", False)


def current() -> HyperParameters:
  if not _BUILDING:
    raise SpaceError("nas_tf.LayerChoice and InputChoice work inside a build_model(hp) that "
                     "nas-tf calls (nas-tf search --space=..., nas_tf.search(build_model))")
  return _BUILDING[-1]


def load_build(target) -> Callable:
  """The build function: a callable, or ``"module:function"`` (what worker processes
  import); ValueError with one line when it cannot be found."""
  if callable(target):
    return target
  module, _, name = str(target).partition(":")
  if not module or not name:
    raise SpaceError(f"space.build={target!r}: expected 'module:function'")
  import importlib
  import os
  import sys
  top = os.path.join(os.getcwd(), module.split(".")[0])
  if (os.path.exists(top + ".py") or os.path.isdir(top)) and \
      os.getcwd() not in sys.path:  # my_module.py in this folder, as `python -m` finds it
    sys.path.insert(0, os.getcwd())
  try:
    found = importlib.import_module(module)
  except ImportError as e:
    raise SpaceError(f"space.build={target!r}: cannot import {module!r} ({e})") from None
  for part in name.split("."):
    found = getattr(found, part, None)
    if found is None:
      raise SpaceError(f"space.build={target!r}: {module} has no {name!r}")
  if not callable(found):
    raise SpaceError(f"space.build={target!r}: {name} is not a function")
  return found


def build_target(build: Callable) -> str:
  """``"module:function"`` of a build function (how the config names it)."""
  if "<" in build.__qualname__:  # a lambda or a function defined inside another
    raise SpaceError(f"{build.__qualname__}: a build function must be defined at a module's "
                     "top level (nas-tf imports it by name)")
  return f"{build.__module__}:{build.__qualname__}"


def read_by(build: Callable, hp: HyperParameters) -> str:
  """Runs ``build(hp)``, whose calls record the decisions it reads in ``hp.space``; returns
  the error of a build that fails for these values ("" when it succeeds)."""
  try:
    with building(hp):
      build(hp)
  except SpaceError:
    raise
  except Exception as e:  # a build that fails for some values: those children will fail
    return f"{type(e).__name__}: {e}"
  return ""


def discover(build: Callable, seed: int = 0, reads: list | None = None) -> dict[str, list]:
  """Every decision ``build`` declares, with its values: the union over calls with random
  values, until PROBES_WITHOUT_NEW calls in a row find nothing new. ``reads`` collects the
  decisions each call read."""
  rng = np.random.default_rng(seed)
  found: dict[str, list] = {}
  quiet, failure = 0, ""
  for probe in range(MAX_PROBES):
    hp = HyperParameters(draw=lambda n: int(rng.integers(n)) if probe else 0)
    failure = read_by(build, hp) or failure
    if reads is not None:
      reads.append(set(hp.space))
    new = [name for name in hp.space if name not in found]
    for name in hp.space:
      if name in found and found[name] != hp.space[name]:
        raise SpaceError(f"hp decision {name!r} changes its values between builds "
                         f"({found[name]} and {hp.space[name]}); give it one list")
      found.setdefault(name, hp.space[name])
    quiet = 0 if new else quiet + 1
    if quiet >= PROBES_WITHOUT_NEW:
      break
  if not found:
    raise SpaceError("the build function declares no decision (no hp.Choice, hp.Int, "
                     "hp.Boolean, ... call): nothing to search" +
                     (f"; it failed with {failure}" if failure else ""))
  return found


class UserSpace(SearchSpace):
  """The decisions of a build function; architectures look like ``{"space": "user",
  "values": {decision: value}, "build": "module:function", ...}``."""

  name = "user"

  def __init__(self, build, decisions: dict[str, list] | None = None, seed: int = 0):
    self.build_fn = load_build(build)
    self.build = build if isinstance(build, str) else build_target(build)
    reads: list[set] = []
    self.decisions = dict(decisions or discover(self.build_fn, seed, reads))
    self.vocab = {f"hp:{name}": tuple(values) for name, values in self.decisions.items()}
    # Whether some build leaves a decision unread (None: not known, decisions given).
    self.conditional = (any(r != set(self.decisions) for r in reads) if reads else None)
    self._live: dict[tuple[int, ...], list[bool]] = {}

  @classmethod
  def from_config(cls, config) -> "UserSpace":
    build = config.space.get("build", "")
    if not build:
      raise SpaceError("space.kind=user needs space.build='module:function' (your "
                       "build_model(hp))")
    found = config.space.get("decisions", "")
    space = cls(build, json.loads(found) if found else None, seed=config.get("seed", 0))
    if not found and "decisions" in config.space:  # kept with the search's config
      config.space.decisions = json.dumps(space.decisions)
    return space

  def plan(self, depth: int | None = None) -> Plan:
    return tuple(Choice(token_type) for token_type in self.vocab)

  def decode(self, tokens: Sequence[int], depth: int | None = None) -> dict[str, Any]:
    tokens = self._check_length(tokens, None, "this build function's decisions")
    values = {name: self.decisions[name][t] for name, t in zip(self.decisions, tokens)}
    return {"space": self.name, "id": architecture_id(self.build, tokens), "tokens": tokens,
            "values": values, "build": self.build}

  def encode(self, arch: dict[str, Any]) -> list[int]:
    return [self.decisions[name].index(arch["values"][name]) for name in self.decisions]

  def live(self, tokens: Sequence[int]) -> list[bool] | None:
    """The decisions the build of ``tokens`` reads (found by building it once; None where
    every discovery build read them all)."""
    if self.conditional is False:
      return None
    key = tuple(int(t) for t in tokens)
    if key not in self._live:
      hp = HyperParameters(self.decode(key)["values"])
      read_by(self.build_fn, hp)
      self._live[key] = [name in hp.space for name in self.decisions]
    return self._live[key]

  def tensor_specs(self) -> list[tuple[tuple[int, ...], str]]:
    """One int32 per decision: ENAS's switched supernet's inputs (``models/switched.py``)."""
    return [((), "int32")] * len(self.decisions)

  def as_tensors(self, arch: dict[str, Any]) -> list[np.ndarray]:
    return [np.int32(t) for t in self.encode(arch)]

  @staticmethod
  def describe(arch: dict[str, Any]) -> str:
    return "\n".join([arch["build"], *(f"{k} = {v!r}" for k, v in arch["values"].items())])

  @staticmethod
  def hparams(arch: dict[str, Any]) -> dict[str, Any]:
    return dict(arch["values"])

  @staticmethod
  def graph(arch: dict[str, Any]) -> Graph:
    labels = [f"{k} = {v}" for k, v in arch["values"].items()]
    return layer_stack_graph(labels, [[None if i == 0 else i - 1] for i in range(len(labels))],
                             [len(labels) - 1], "model", arch["build"])
