"""Scoring architectures untrained, as the authors' scripts feed their proxies.

- The minibatch: random training images, normalized as the task says (``task.proxy_data``:
  an image task as its children see them, a table as each paper's data loader).
  zero-cost-nas draws a new minibatch of 64 for every network (``nasbench2_pred.py``: ``iter``
  of a shuffling loader per network), with the training augmentation (a 4-pixel-padded random
  crop and a horizontal flip: ``foresight/dataset.py``); NASWOT reseeds before every
  network, so all of them see the same 128 images, un-augmented (its scripts' ``--augtype
  none`` drops the crop and the flip: ``datasets/data.py``, ``scorehook.sh``).
- The network: the task's (``task.proxy_network(arch, family)``, ``family`` "zero_cost" or
  "naswot": the copy each paper's code scored; ``task.proxy_options(proxy)``, what that
  copy implies for a proxy), initialized as ``zero_cost.init`` says, from a
  seed of the search seed and the architecture, so that a score never depends on the order
  architectures are scored in. The six zero-cost proxies share one initialized network per
  architecture, as ``find_measures`` copies one network for each.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Sequence

import numpy as np

from nas_tf.proxies import init as init_lib
from nas_tf.proxies.measures import MEASURES, PROXIES

BASELINES = ("params",)  # besides the proxies: what costs nothing either
NASWOT_FAMILY = ("naswot",)


def parse_proxies(text: str | Sequence[str]) -> list[str]:
  names = [p.strip() for p in text.split(",")] if isinstance(text, str) else list(text)
  names = [p for p in names if p]
  unknown = [p for p in names if p not in (*PROXIES, *BASELINES)]
  if unknown or not names:
    raise ValueError(f"unknown proxy {unknown[0]!r} (known: {', '.join(PROXIES + BASELINES)})"
                     if unknown else "no proxy named")
  return names


def arch_seed(seed: int, arch_id: str) -> int:
  """A seed of the search seed and the architecture alone."""
  digest = hashlib.sha256(f"{seed}:{arch_id}".encode()).digest()
  return int.from_bytes(digest[:4], "little")


def minibatch(images: np.ndarray, labels: np.ndarray, size: int, seed: int,
              stats: tuple[Sequence[float], Sequence[float]],
              augment: bool = True) -> tuple[np.ndarray, np.ndarray]:
  """``size`` random training images, augmented (pad 4, random crop, random flip) unless
  not ``augment``, and normalized by ``stats`` (per-channel mean and std, pixel units)."""
  if size > len(labels):
    raise ValueError(f"a minibatch of {size} needs at least {size} training images, the task "
                     f"has {len(labels)}")
  rng = np.random.default_rng(seed)
  picked = rng.choice(len(labels), size, replace=False)
  batch = images[picked].astype(np.float32)
  if augment:
    height, width = batch.shape[1:3]
    padded = np.pad(batch, ((0, 0), (4, 4), (4, 4), (0, 0)))
    rows, cols = rng.integers(0, 9, size), rng.integers(0, 9, size)
    flips = rng.random(size) < 0.5
    for k in range(size):
      crop = padded[k, rows[k]:rows[k] + height, cols[k]:cols[k] + width]
      batch[k] = crop[:, ::-1] if flips[k] else crop
  mean, std = (np.asarray(s, np.float32) for s in stats)
  return (batch - mean) / std, labels[picked].astype(np.int32)


class Scorer:
  """Scores architectures of ``task`` with ``proxies`` (see the module's docstring)."""

  def __init__(self, task, proxies: Sequence[str], init: str, seed: int,
               batch_size: int = 64, naswot_batch_size: int = 128):
    if init not in init_lib.INITS:
      raise ValueError(f"zero_cost.init={init!r}: one of {', '.join(init_lib.INITS)}")
    self.task, self.proxies, self.init, self.seed = task, list(proxies), init, seed
    self.batch_size, self.naswot_batch_size = batch_size, naswot_batch_size
    families = {"naswot" if p in NASWOT_FAMILY else "zero_cost" for p in self.proxies}
    self.data = {family: task.proxy_data(family) for family in sorted(families)}
    for name, size in (("zero_cost.batch_size", batch_size),
                       ("zero_cost.naswot_batch_size", naswot_batch_size)):
      count = len(next(iter(self.data.values()))[1])
      if size > count:
        raise ValueError(f"{name} {size} is larger than the {count} training images")
    self._naswot_batch = None

  def _network(self, arch: dict[str, Any], family: str):
    model = self.task.proxy_network(arch, family)
    return init_lib.initialize(model, self.init, arch_seed(self.seed, arch["id"]))

  def score(self, arch: dict[str, Any]) -> dict[str, Any]:
    """Every proxy's value (nan where it is undefined) and the seconds spent."""
    started = time.perf_counter()
    values: dict[str, Any] = {}
    shared = None  # the six zero-cost proxies' network and minibatch
    for proxy in self.proxies:
      if proxy in NASWOT_FAMILY:
        if self._naswot_batch is None:
          images, labels, stats = self.data["naswot"]
          self._naswot_batch = minibatch(images, labels, self.naswot_batch_size, self.seed,
                                         stats, augment=False)
        model = self._network(arch, "naswot")
        values[proxy] = MEASURES[proxy](model, self._naswot_batch[0],
                                        **self.task.proxy_options(proxy))
        continue
      if shared is None:
        model = self._network(arch, "zero_cost")
        images, labels, stats = self.data["zero_cost"]
        batch = minibatch(images, labels, self.batch_size, arch_seed(self.seed + 1, arch["id"]),
                          stats)
        shared = model, batch
      model, (images, labels) = shared
      if proxy == "params":
        values[proxy] = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        continue
      values[proxy] = MEASURES[proxy](model, images, labels, **self.task.proxy_options(proxy))
    values["seconds"] = round(time.perf_counter() - started, 3)
    return values


def row_of(arch: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
  """One JSON line: the architecture (``arch_str`` for NAS-Bench-201, tokens otherwise), its
  id, each proxy's value (an undefined one null: JSON has no NaN) and the seconds spent."""
  key = {"arch_str": arch["arch_str"]} if "arch_str" in arch else {"tokens": arch["tokens"]}
  clean = {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
           for k, v in values.items()}
  return {**key, "id": arch["id"], **clean}


class ScoreFile:
  """Scores kept in a JSONL file: an architecture scored before (by id, with every proxy
  asked for) is read back, not scored again; each new one is appended as it finishes."""

  def __init__(self, path: str, proxies: Sequence[str], make_scorer):
    from nas_tf.store import workdir as wd
    self.path, self.proxies, self._make, self._scorer = path, list(proxies), make_scorer, None
    self.rows = {row["id"]: row for row in wd.read_jsonl(path)}

  def start(self) -> None:
    """Makes the scorer now (its images load; bad ones fail here)."""
    self._scorer = self._scorer or self._make()

  def has(self, arch: dict[str, Any]) -> bool:
    row = self.rows.get(arch["id"])
    return row is not None and all(p in row for p in self.proxies)

  def __call__(self, arch: dict[str, Any]) -> dict[str, Any]:
    from nas_tf.store import workdir as wd
    row = self.rows.get(arch["id"])
    if not self.has(arch):
      self.start()  # the images load at the first score
      row = self.rows[arch["id"]] = row_of(arch, self._scorer.score(arch))
      wd.append_jsonl(self.path, row)
    return row


def search_scores(config, task, workdir: str, proxies: Sequence[str]) -> ScoreFile:
  """A search's scores: WORKDIR/scores.jsonl, the config's ``zero_cost`` settings."""
  import os
  z = config.zero_cost
  return ScoreFile(os.path.join(workdir, "scores.jsonl"), proxies,
                   lambda: Scorer(task, proxies, z.init, config.seed, z.batch_size,
                                  z.naswot_batch_size))
