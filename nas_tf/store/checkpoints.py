"""Atomic TensorFlow checkpoints of a search's state, two kept, with fallbacks.

Each ``step-N/`` folder holds the TF checkpoint and its loop state (``state.json``), written
under a temporary name, fsynced and renamed; then ``latest.json`` points to it. A damaged
``latest.json``, or one naming a deleted folder, falls back to the newest kept checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any, Callable

from nas_tf.errors import DiskFull, disk_full
from nas_tf.store.workdir import WorkdirError, _fsync_dir, atomic_write_json, read_json


class CheckpointStore:
  """Atomic TF checkpoints: ``step-N/`` directories plus the ``latest.json`` pointer."""

  def __init__(self, directory: str, keep: int = 2,
               warn: Callable[[str], None] | None = None):
    self.directory = directory
    self.keep = keep
    self.pointer = os.path.join(directory, "latest.json")
    self.warn = warn or (lambda message: print(f"nas-tf: warning: {message}", file=sys.stderr))

  def save(self, step: int, checkpoint, state: dict[str, Any]) -> str:
    """``checkpoint``: a ``tf.train.Checkpoint`` (this module never imports TensorFlow)."""
    os.makedirs(self.directory, exist_ok=True)
    name = f"step-{step:08d}"
    final = os.path.join(self.directory, name)
    tmp = f"{final}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
      os.makedirs(tmp)
      checkpoint.write(os.path.join(tmp, "ckpt"))
      with open(os.path.join(tmp, "state.json"), "w") as f:  # restore(step=...) reads it
        json.dump(state, f)
      for file in os.listdir(tmp):
        with open(os.path.join(tmp, file), "rb") as f:
          os.fsync(f.fileno())
      _fsync_dir(tmp)
    except Exception as e:  # the previous checkpoint stays the latest
      shutil.rmtree(tmp, ignore_errors=True)
      if disk_full(e):
        raise DiskFull(f"disk full while writing the checkpoint {final}") from None
      raise
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    _fsync_dir(self.directory)
    atomic_write_json(self.pointer, {"checkpoint": name, "step": step, "state": state})
    self._prune(keep_name=name)
    return final

  def _prune(self, keep_name: str) -> None:
    names = sorted(n for n in os.listdir(self.directory)
                   if n.startswith("step-") and not n.endswith(".tmp"))
    for name in names[:-self.keep]:
      if name != keep_name:
        shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)

  def latest(self) -> dict[str, Any] | None:
    """The pointer to the last complete checkpoint; when ``latest.json`` is damaged or names a
    checkpoint that is gone, the newest kept checkpoint that has its state."""
    try:
      if os.path.exists(self.pointer):
        latest = read_json(self.pointer)
        if os.path.exists(os.path.join(self.directory, latest["checkpoint"], "ckpt.index")):
          return latest
        problem = f"names {latest['checkpoint']}, which is gone"
      else:
        problem = "is missing"
    except (WorkdirError, KeyError, TypeError):
      problem = "is damaged"
    candidates = self.kept()
    if not candidates and problem == "is missing":
      return None  # a fresh search
    if not candidates:
      raise WorkdirError(f"{self.pointer} {problem}, and no earlier checkpoint with its state "
                         "is kept; use --overwrite to start afresh")
    self.warn(f"{self.pointer} {problem}; resuming from {candidates[0]['checkpoint']}")
    atomic_write_json(self.pointer, candidates[0])  # repaired, so the warning is said once
    return candidates[0]

  def kept(self) -> list[dict[str, Any]]:
    """Complete checkpoints with their state (``state.json``), newest first."""
    found = []
    names = os.listdir(self.directory) if os.path.isdir(self.directory) else []
    for name in sorted(names, reverse=True):
      folder = os.path.join(self.directory, name)
      if not name.startswith("step-") or name.endswith(".tmp"):
        continue
      try:
        state = read_json(os.path.join(folder, "state.json"))
      except (OSError, WorkdirError):
        continue
      if os.path.exists(os.path.join(folder, "ckpt.index")):
        found.append({"checkpoint": name, "step": int(name[5:]), "state": state})
    return found

  def restore(self, checkpoint, step: int | None = None) -> dict[str, Any] | None:
    """Restores the last complete checkpoint (or the kept one of ``step``) into
    ``checkpoint``; returns its loop state."""
    if step is not None:
      name = f"step-{step:08d}"
      state_path = os.path.join(self.directory, name, "state.json")
      if not os.path.exists(state_path):
        raise FileNotFoundError(f"{self.directory}: the checkpoint of step {step} is not kept")
      state = read_json(state_path)
    else:
      latest = self.latest()
      if latest is None:
        return None
      name, state = latest["checkpoint"], latest["state"]
    try:
      checkpoint.read(os.path.join(self.directory, name, "ckpt")).assert_consumed()
    except Exception as e:  # tf.errors.* on a truncated or foreign checkpoint
      raise WorkdirError(f"{os.path.join(self.directory, name)}: cannot restore the checkpoint "
                         f"({type(e).__name__}: {str(e).strip().splitlines()[0][:200]})") from None
    return state
