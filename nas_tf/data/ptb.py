"""Penn Treebank word-level data: the standard ``ptb.{train,valid,test}.txt`` files.

The vocabulary is built from the training file, with ``<eos>`` at every line end; words not
in it map to ``<unk>``. Plain numpy (no TensorFlow import), like the CIFAR readers.
(tensorflow-datasets has no PTB builder.)
"""

from __future__ import annotations

import collections
import dataclasses
import os

import numpy as np

from nas_tf.data import DataError

EOS, UNK = "<eos>", "<unk>"
SPLITS = ("train", "valid", "test")


@dataclasses.dataclass
class Corpus:
  vocab: list[str]  # id -> word
  train: np.ndarray  # int32 token ids
  valid: np.ndarray
  test: np.ndarray


def _words(path: str) -> list[str]:
  try:
    with open(path, encoding="utf-8") as f:
      lines = f.readlines()
  except UnicodeDecodeError as e:
    raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
  except OSError as e:
    raise DataError(f"{path}: cannot read ({e.strerror})") from None
  words = []
  for line in lines:
    words.extend(line.split())
    words.append(EOS)
  if len(words) - len(lines) == 0:
    raise DataError(f"{path}: no words; expected one sentence per line")
  return words


def build_vocab(words: list[str]) -> list[str]:
  """Words by decreasing frequency (ties alphabetical): ids are stable across runs."""
  counts = collections.Counter(words)
  counts.setdefault(UNK, 0)
  return sorted(counts, key=lambda w: (-counts[w], w))


def load(source: str) -> Corpus:
  """Reads ``ptb.{train,valid,test}.txt`` (or any corpus's ``{train,valid,test}.txt``)
  from the folder ``source``, or ``synthetic``."""
  if source == "synthetic":
    return synthetic()
  folder = os.path.expanduser(source)
  if not os.path.isdir(folder):
    raise DataError(f"{source}: no such folder (expected a folder holding train.txt, "
                    "valid.txt and test.txt, or PTB's ptb.train.txt, ..., or 'synthetic')")
  # PTB's names when any ptb.*.txt is there, else any corpus's train.txt, valid.txt, ...
  ptb_names = any(os.path.isfile(os.path.join(folder, f"ptb.{s}.txt")) for s in SPLITS)
  prefix = "ptb." if ptb_names else ""
  paths = {s: os.path.join(folder, f"{prefix}{s}.txt") for s in SPLITS}
  missing = [os.path.basename(p) for p in paths.values() if not os.path.isfile(p)]
  if missing:
    raise DataError(f"{source}: missing {', '.join(missing)}")
  words = {s: _words(p) for s, p in paths.items()}
  vocab = build_vocab(words["train"])
  index = {w: i for i, w in enumerate(vocab)}
  unk = index[UNK]
  ids = {s: np.array([index.get(w, unk) for w in ws], np.int32) for s, ws in words.items()}
  return Corpus(vocab, ids["train"], ids["valid"], ids["test"])


def synthetic(vocab_size: int = 50, length: int = 20_000, seed: int = 0) -> Corpus:
  """A token stream from a random sparse Markov chain: learnable, so perplexity can fall."""
  rng = np.random.default_rng(seed)
  successors = rng.integers(0, vocab_size, size=(vocab_size, 3))

  def stream(n):
    out = np.empty(n, np.int32)
    out[0] = 0
    for i in range(1, n):
      out[i] = successors[out[i - 1], rng.integers(0, 3)]
    return out
  vocab = [EOS, UNK] + [f"w{i}" for i in range(vocab_size - 2)]
  return Corpus(vocab, stream(length), stream(length // 10), stream(length // 10))


def batchify(ids: np.ndarray, batch_size: int, bptt: int) -> tuple[np.ndarray, np.ndarray]:
  """Zaremba et al.'s layout: the stream is cut into ``batch_size`` parallel rows and read
  ``bptt`` steps at a time, so batch k+1 continues batch k row by row (the RNN state is
  carried across batches). Returns inputs and targets [num_batches, batch_size, bptt]."""
  per_row = (len(ids) - 1) // batch_size
  num_batches = per_row // bptt
  if num_batches < 1:
    raise DataError(f"{len(ids)} tokens are too few for batch size {batch_size} x "
                    f"{bptt} steps")
  used = num_batches * bptt
  rows = ids[:batch_size * per_row + 1]
  x = np.stack([rows[r * per_row:r * per_row + used] for r in range(batch_size)])
  y = np.stack([rows[r * per_row + 1:r * per_row + used + 1] for r in range(batch_size)])
  split = lambda a: a.reshape(batch_size, num_batches, bptt).transpose(1, 0, 2)  # noqa: E731
  return split(x), split(y)
