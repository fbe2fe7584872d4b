"""The search's work directory: everything needed to resume lives here.

    config.json        the resolved config (a rerun that changes an experiment key is refused;
                       run keys may change, see config.RUN_KEYS)
    data.json          the fingerprint of the data the search saw
    .lock              held (flock) by the process using the directory, with its pid and host
    children.jsonl     one line per finished child, appended with flush + fsync
    best.json          the best finished child's line
    checkpoints/       controller weights, optimizer slots, baseline (TF checkpoint) per step,
                       and latest.json, the pointer to the last complete one with the loop's
                       own state (random-generator state, step, children done)
    weights/           the kept weights of the best children
    tensorboard/       event files

Every file that is replaced is written to a temporary name, fsynced and renamed, so a kill at
any moment leaves either the old or the new version, never a torn one.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
from typing import Any, Callable


class WorkdirError(ValueError):
  """A damaged or unusable file of the work directory; the message names it."""


def _fsync_dir(path: str) -> None:
  fd = os.open(path, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def atomic_write_bytes(path: str, data: bytes) -> None:
  tmp = f"{path}.tmp"
  with open(tmp, "wb") as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
  _fsync_dir(os.path.dirname(os.path.abspath(path)))


def atomic_write_text(path: str, text: str) -> None:
  atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str, obj: Any) -> None:
  atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str) -> Any:
  try:
    with open(path) as f:
      return json.load(f)
  except json.JSONDecodeError as e:
    raise WorkdirError(f"{path}: damaged, not valid JSON ({e.msg} at line {e.lineno})") from None
  except UnicodeDecodeError:
    raise WorkdirError(f"{path}: damaged, not text") from None


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
        raise WorkdirError(f"{path}: line {i + 1} is damaged (not valid JSON); only a torn "
                           "last line is repaired by itself: restore the file, or delete "
                           "that line to retrain its child") from None
      with open(path, "r+") as f:  # drop the torn tail
        f.truncate(good_bytes)
        os.fsync(f.fileno())
  return rows


def remove_temporaries(workdir: str) -> list[str]:
  """Deletes what interrupted atomic writes left behind (``*.tmp`` files and checkpoint
  folders, ``weights/*.tmpPID.weights.h5``); call holding the directory's lock."""
  removed = []
  for folder in (workdir, os.path.join(workdir, "checkpoints"), os.path.join(workdir, "weights"),
                 os.path.join(workdir, "final"), os.path.join(workdir, "final", "checkpoints")):
    if not os.path.isdir(folder):
      continue
    for name in os.listdir(folder):
      if name.endswith(".tmp") or (".tmp" in name and name.endswith(".weights.h5")):
        path = os.path.join(folder, name)
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        removed.append(path)
  return removed


def child_number(row: dict[str, Any]) -> int:
  """The child's number in what people read (messages, ``--child``, file names): from 1;
  ``children.jsonl``'s ``index`` counts from 0."""
  return int(row["index"]) + 1


def child_name(index: int) -> str:
  """``child-00007`` for the 7th child (``index`` 6): its weights', pictures' and runs' name."""
  return f"child-{index + 1:05d}"


def child_weights_path(workdir: str, index: int) -> str:
  """Where a child's search-time weights are kept (for ``nas-tf export`` without ``train``)."""
  return os.path.join(workdir, "weights", f"{child_name(index)}.weights.h5")


class ChildNotFound(WorkdirError):
  """``--child`` names no finished child of the work directory."""


def find_child(workdir: str, child: str | None, metric: str,
               higher_is_better: bool) -> dict[str, Any]:
  """The ``children.jsonl`` row of the best finished child, or of ``child``: a child number
  (``12``: the 12th, as progress lines count) or an architecture id or its prefix
  (``3fa9c1``; the best child with that id)."""
  path = os.path.join(workdir, "children.jsonl")
  if not os.path.exists(path):
    raise ChildNotFound(f"{workdir} holds no search (no children.jsonl); run "
                        "'nas-tf search TASK --workdir=...' first")
  rows = read_jsonl(path)
  if child is not None:
    child = str(child).strip()
    if child.isdigit():
      rows = [r for r in rows if child_number(r) == int(child)]
    else:
      rows = [r for r in rows if r["id"].startswith(child.lower())]
    if not rows:
      raise ChildNotFound(f"no child {child!r} in {path} (give a child number, from 1, or "
                          "an architecture id)")
    if all(r["status"] != "ok" for r in rows):
      raise ChildNotFound(f"child {child!r} failed during the search ({rows[0].get('error')}); "
                          "pick another")
  best = best_row(rows, metric, higher_is_better)
  if best is None:
    raise ChildNotFound(f"no child of {workdir} finished successfully")
  return best


def best_row(rows, metric: str, higher_is_better: bool) -> dict[str, Any] | None:
  """The best finished row by ``metric`` (the earliest of equals); None when none finished.
  A published architecture's row has no search metric (None): it ranks last."""
  ok = [r for r in rows if r.get("status") == "ok"]
  sign = 1.0 if higher_is_better else -1.0
  return max(ok, key=lambda r: (-float("inf") if r.get(metric) is None else sign * r[metric],
                                -r["index"]), default=None)


class DirectoryInUse(WorkdirError):
  """A work directory holds a run with other settings, or another process is using it."""


class WorkdirLock:
  """An OS lock (``flock``) on ``W/.lock`` for as long as a command uses the directory: a
  second search or train on it is refused at once, and a lock whose process died is released
  by the OS, so the next run takes it over. Re-entrant within one process."""

  _held: dict[str, list] = {}  # lock path -> [file descriptor, depth]

  def __init__(self, directory: str):
    self.directory = directory
    self.path = os.path.join(os.path.realpath(directory), ".lock")

  def __enter__(self) -> "WorkdirLock":
    held = self._held.get(self.path)
    if held:
      held[1] += 1
      return self
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      owner = os.pread(fd, 200, 0).decode(errors="replace").split()
      os.close(fd)
      pid, host = (owner + ["?", "?"])[:2]
      raise DirectoryInUse(f"work directory {self.directory} is in use by pid {pid} on "
                           f"{host}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    self._held[self.path] = [fd, 1]
    return self

  def __exit__(self, *exc) -> None:
    held = self._held[self.path]
    held[1] -= 1
    if not held[1]:
      del self._held[self.path]
      fcntl.flock(held[0], fcntl.LOCK_UN)
      os.close(held[0])


def claim(directory: str, record: dict[str, Any], overwrite: bool = False,
          name: str = "config.json", run_keys: tuple[str, ...] = (),
          log: Callable[[str], None] | None = None) -> bool:
  """Makes ``directory`` the home of the run described by ``record`` (a JSON dict).

  A directory holding the same record, up to ``run_keys`` (dotted prefixes), is resumed
  (returns True; changed run keys are logged and stored); one that differs in another key is
  refused with the differing keys, unless ``overwrite`` empties it first.
  """
  from nas_tf.config import has_key
  path = os.path.join(directory, name)
  for leftover in remove_temporaries(directory):  # a write a kill or a full disk interrupted
    if log:
      log(f"removed {leftover}, left by an interrupted write")
  if os.path.exists(path) and overwrite:
    for entry in os.listdir(directory):  # keeps the directory (and a lock held on it)
      if entry != ".lock":
        target = os.path.join(directory, entry)
        shutil.rmtree(target) if os.path.isdir(target) else os.remove(target)
  if os.path.exists(path):
    old = read_json(path)
    differing = diff_keys(old, record)
    # Keys a newer nas-tf added (absent from the stored record) do not refuse a resume.
    fixed = [k for k in differing if not is_run_key(k, run_keys) and has_key(old, k)]
    if fixed:
      raise DirectoryInUse(
          f"{directory} holds a run with different settings (differs in: "
          f"{', '.join(fixed)}); rerun with the same settings to resume, use another "
          "directory, or pass --overwrite to start afresh")
    if differing:
      if log:
        log(f"resuming with changed run settings: {', '.join(differing)}")
      atomic_write_json(path, record)
    return True
  os.makedirs(directory, exist_ok=True)
  atomic_write_json(path, record)
  return False


def claim_search(workdir: str, config, task, overwrite: bool = False,
                 log: Callable[[str], None] = print) -> bool:
  """Claims ``workdir`` for a search (call it holding the directory's lock). Resuming
  compares only the experiment keys; run keys may change, and the data path only to the same
  data (by the fingerprint in ``data.json``). Returns whether a search is resumed."""
  from nas_tf import config as config_lib
  config_path, data_path = (os.path.join(workdir, n) for n in ("config.json", "data.json"))
  if not task.prepared:
    task.prepare()
  fingerprint = task.data_fingerprint()
  if os.path.exists(config_path) and not overwrite:
    old_source = read_json(config_path).get("data", {}).get("source")
    stored = read_json(data_path)["fingerprint"] if os.path.exists(data_path) else None
    if stored is not None and stored != fingerprint:
      raise config_lib.ConfigError(f"data.source {config.data.source}: not the data the search "
                                   f"in {workdir} started with (its fingerprint differs)")
    if stored is None and old_source != config.data.source:
      raise config_lib.ConfigError(f"data.source: {workdir} records no data fingerprint, so a "
                                   f"new data path cannot be checked; use {old_source!r}")
  resumed = claim(workdir, config_lib.to_dict(config), overwrite,
                  run_keys=config_lib.RUN_KEYS, log=log)
  if not os.path.exists(data_path):
    atomic_write_json(data_path, {"fingerprint": fingerprint, "summary": task.data_summary})
  return resumed


def is_run_key(key: str, run_keys=()) -> bool:
  return any(key == k or key.startswith(k + ".") for k in run_keys)


def diff_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
  """Dotted keys whose values differ between two nested dicts."""
  keys = []
  for key in sorted(set(old) | set(new)):
    a, b = old.get(key), new.get(key)
    if isinstance(a, dict) and isinstance(b, dict):
      keys += diff_keys(a, b, f"{prefix}{key}.")
    elif a != b:
      keys.append(f"{prefix}{key}")
  return keys
