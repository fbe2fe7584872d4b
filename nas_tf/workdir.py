"""The search's work directory: everything needed to resume lives here.

    config.json        the resolved config (a rerun with another config is refused)
    children.jsonl     one line per finished child, appended with flush + fsync
    best.json          the best finished child's line
    checkpoints/       controller weights, optimizer slots, baseline (TF checkpoint) per step,
                       and latest.json, the pointer to the last complete one with the loop's
                       own state (random-generator state, step, children done)
    tensorboard/       event files

Every file that is replaced is written to a temporary name, fsynced and renamed, so a kill at
any moment leaves either the old or the new version, never a torn one.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any


def _fsync_dir(path: str) -> None:
  fd = os.open(path, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def atomic_write_text(path: str, text: str) -> None:
  tmp = f"{path}.tmp"
  with open(tmp, "w") as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
  _fsync_dir(os.path.dirname(os.path.abspath(path)))


def atomic_write_json(path: str, obj: Any) -> None:
  atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str) -> Any:
  with open(path) as f:
    return json.load(f)


def append_jsonl(path: str, row: dict[str, Any]) -> None:
  with open(path, "a") as f:
    f.write(json.dumps(row, sort_keys=True) + "\n")
    f.flush()
    os.fsync(f.fileno())


def read_jsonl(path: str) -> list[dict[str, Any]]:
  """Rows of a JSONL file. A torn last line (a kill mid-append) is dropped from the file too,
  so the next append starts on a fresh line; a bad line elsewhere is an error."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    lines = f.readlines()
  rows, good_bytes = [], 0
  for i, line in enumerate(lines):
    try:
      if not line.endswith("\n"):
        raise ValueError("no newline")
      rows.append(json.loads(line))
      good_bytes += len(line.encode())
    except ValueError:
      if i != len(lines) - 1:
        raise ValueError(f"{path}: line {i + 1} is not valid JSON") from None
      with open(path, "r+") as f:  # drop the torn tail
        f.truncate(good_bytes)
        os.fsync(f.fileno())
  return rows


class CheckpointStore:
  """Atomic TF checkpoints: ``step-N/`` directories plus the ``latest.json`` pointer."""

  def __init__(self, directory: str, keep: int = 2):
    self.directory = directory
    self.keep = keep
    self.pointer = os.path.join(directory, "latest.json")

  def save(self, step: int, checkpoint, state: dict[str, Any]) -> str:
    """``checkpoint``: a ``tf.train.Checkpoint`` (this module never imports TensorFlow)."""
    os.makedirs(self.directory, exist_ok=True)
    name = f"step-{step:08d}"
    final = os.path.join(self.directory, name)
    tmp = f"{final}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    checkpoint.write(os.path.join(tmp, "ckpt"))
    for file in os.listdir(tmp):
      with open(os.path.join(tmp, file), "rb") as f:
        os.fsync(f.fileno())
    _fsync_dir(tmp)
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
    if not os.path.exists(self.pointer):
      return None
    return read_json(self.pointer)

  def restore(self, checkpoint) -> dict[str, Any] | None:
    """Restores the last complete checkpoint into ``checkpoint``; returns its loop state."""
    latest = self.latest()
    if latest is None:
      return None
    checkpoint.read(os.path.join(self.directory, latest["checkpoint"], "ckpt")).assert_consumed()
    return latest["state"]



class ChildNotFound(ValueError):
  """``--child`` names no finished child of the work directory."""


def find_child(workdir: str, child: str | None, metric: str,
               higher_is_better: bool) -> dict[str, Any]:
  """The ``children.jsonl`` row of the best finished child, or of ``child``: a child index
  (``12``) or an architecture id or its prefix (``3fa9c1``; the best child with that id)."""
  path = os.path.join(workdir, "children.jsonl")
  if not os.path.exists(path):
    raise ChildNotFound(f"{workdir} holds no search (no children.jsonl); run "
                        "'nas-tf search TASK --workdir=...' first")
  rows = read_jsonl(path)
  if child is not None:
    child = str(child).strip()
    if child.isdigit():
      rows = [r for r in rows if r["index"] == int(child)]
    else:
      rows = [r for r in rows if r["id"].startswith(child.lower())]
    if not rows:
      raise ChildNotFound(f"no child {child!r} in {path} (give a child index or an "
                          "architecture id)")
    if all(r["status"] != "ok" for r in rows):
      raise ChildNotFound(f"child {child!r} failed during the search ({rows[0].get('error')}); "
                          "pick another")
  ok = [r for r in rows if r["status"] == "ok"]
  if not ok:
    raise ChildNotFound(f"no child of {workdir} finished successfully")
  sign = 1.0 if higher_is_better else -1.0
  return max(ok, key=lambda r: (sign * r[metric], -r["index"]))


class DirectoryInUse(ValueError):
  """A work directory holds a run with other settings."""


def claim(directory: str, record: dict[str, Any], overwrite: bool = False,
          name: str = "config.json") -> bool:
  """Makes ``directory`` the home of the run described by ``record`` (a JSON dict).

  A directory holding the same record is resumed (returns True); one holding another record
  is refused with the differing keys, unless ``overwrite`` empties it first.
  """
  from nas_tf.config import diff_keys
  path = os.path.join(directory, name)
  if os.path.exists(path) and overwrite:
    shutil.rmtree(directory)
  if os.path.exists(path):
    differing = diff_keys(read_json(path), record)
    if differing:
      raise DirectoryInUse(
          f"{directory} holds a run with different settings (differs in: "
          f"{', '.join(differing)}); rerun with the same settings to resume, use another "
          "directory, or pass --overwrite to start afresh")
    return True
  os.makedirs(directory, exist_ok=True)
  atomic_write_json(path, record)
  return False
