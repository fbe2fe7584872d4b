"""``nas-tf score TASK``: architectures scored untrained by zero-cost proxies and NASWOT, one
JSON line each in ``--out``. The architectures come from ``--archs=FILE`` (one a line: an
``arch_str`` for NAS-Bench-201, tokens otherwise) or ``--random=N`` (drawn from ``--seed``);
``--proxies`` picks among them (default: all, and the parameter count). Rerunning the same
command skips the architectures ``--out`` already holds."""

from __future__ import annotations

import os
import re
from typing import Any

from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("archs", None, "score: a file of architectures, one a line (an arch_str "
                    "for nasbench201, tokens otherwise).")
flags.DEFINE_integer("random", None, "score: this many random architectures (from --seed).")
flags.DEFINE_integer("seed", None, "score: the seed of --random and of the networks' "
                     "initialization (default: the config's seed).")
flags.DEFINE_string("proxies", None, "score: proxies to compute, comma-separated (default: "
                    "all).")


class ScoreError(ValueError):
  """Bad use of ``nas-tf score``: one line."""


def architecture(space, line: str, where: str) -> dict[str, Any]:
  """An architecture of ``space`` from one line of an --archs file."""
  from nas_tf.spaces.tabular import NB201_OPS, nb201_ops
  text = line.strip()
  try:
    if space.name == "nasbench201":
      return space.decode([NB201_OPS.index(op) for op in nb201_ops(text)])
    tokens = [int(t) for t in re.split(r"[\s,]+", text.strip("[]")) if t]
    return space.decode(tokens, depth_of(space, len(tokens)))
  except (ValueError, KeyError, IndexError, AttributeError) as e:
    raise ScoreError(f"{where}: not a {space.name} architecture ({e})") from None


def depth_of(space, length: int) -> int | None:
  """The depth whose plan has ``length`` tokens (None for a fixed-depth space)."""
  from nas_tf.spaces.base import plan_length
  try:
    if plan_length(space.plan(None)) == length:
      return None
  except (TypeError, ValueError):
    pass
  for depth in range(1, 1001):
    if plan_length(space.plan(depth)) == length:
      return depth
  raise ValueError(f"no depth of this space has {length} tokens")


def architectures(space, seed: int) -> list[dict[str, Any]]:
  if (FLAGS.archs is None) == (FLAGS.random is None):
    raise ScoreError("name the architectures: --archs=FILE or --random=N")
  if FLAGS.random is not None:
    import numpy as np

    from nas_tf.strategies.random_search import RandomSearch
    if FLAGS.random < 1:
      raise ScoreError(f"--random={FLAGS.random}: a number of architectures, at least 1")
    sampler = RandomSearch(space.token_types)
    archs = []
    for index in range(FLAGS.random):
      depth = space.depth_at(index)
      tokens = sampler.propose(space.plan(depth), 1, [seed, index])[0]
      archs.append(space.decode([int(t) for t in tokens], depth))
    return archs
  if not os.path.isfile(FLAGS.archs):
    raise ScoreError(f"--archs={FLAGS.archs}: no such file")
  with open(FLAGS.archs) as f:
    return [architecture(space, line, f"{FLAGS.archs}:{n}")
            for n, line in enumerate(f, start=1) if line.strip()]


def command(task_name: str, config) -> int:
  from nas_tf import config as config_lib, registry
  from nas_tf.cli import interrupts
  from nas_tf.proxies.measures import PROXIES
  from nas_tf.proxies.score import ScoreFile, Scorer, parse_proxies
  if not FLAGS.out:
    raise ScoreError("'score' needs --out=FILE (one JSON line per architecture)")
  if "zero_cost" not in config:  # only the tasks whose networks the proxies score carry it
    raise ScoreError("zero-cost proxies score image classifiers nas-tf builds (cifar10, "
                     f"images, nasbench201), not {task_name}'s")
  config_lib.validate(config)
  seed = config.seed if FLAGS.seed is None else FLAGS.seed
  try:
    proxies = parse_proxies(FLAGS.proxies or ",".join((*PROXIES, "params")))
  except ValueError as e:
    raise ScoreError(f"--proxies: {e}") from None
  task = registry.task_class(task_name)(config)
  archs = architectures(task.space, seed)
  task.prepare()  # bad data fails here
  z = config.zero_cost
  scores = ScoreFile(FLAGS.out, proxies,
                     lambda: Scorer(task, proxies, z.init, seed, z.batch_size,
                                    z.naswot_batch_size))
  todo = [a for a in archs if not scores.has(a)]
  if todo:
    scores.start()  # bad images or batch sizes fail before the first score
  interrupts.saving(f"scored architectures are saved in {FLAGS.out}")
  print(f"scoring {len(todo)} of {len(archs)} architectures ({len(archs) - len(todo)} in "
        f"{FLAGS.out}) with {', '.join(proxies)}", flush=True)
  for k, arch in enumerate(todo, start=1):
    row = scores(arch)
    shown = ", ".join(f"{p} {row[p]:.4g}" if isinstance(row[p], float) else f"{p} {row[p]}"
                      for p in proxies)
    print(f"[{k}/{len(todo)}] {arch['id']}: {shown} ({row['seconds']:.1f} s)", flush=True)
  print(f"done: {len(archs)} architectures in {FLAGS.out}")
  return 0


def run(words: list[str], config, fail) -> int:
  """The command line's ``score``: bad use and bad data in one line (exit 2)."""
  from nas_tf.cli import interrupts
  from nas_tf.errors import ConfigError, DataError
  if len(words) != 1:
    fail(f"'score' takes exactly one task, got {words or 'none'}")
  try:
    return command(words[0], config)
  except KeyboardInterrupt as e:
    return interrupts.exit_interrupted(e)
  except (ScoreError, ConfigError, DataError, ValueError) as e:
    from nas_tf.cli.usage import clean_message
    fail(f"score: {clean_message(e)}")
