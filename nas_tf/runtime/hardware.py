"""What this machine offers, found without importing TensorFlow (which would claim the GPUs
in this process): visible GPUs, and the preset that fits them."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess


def visible_gpus() -> list[str]:
  """GPU ids from CUDA_VISIBLE_DEVICES, else from ``nvidia-smi -L``; none on a CPU machine."""
  visible = os.environ.get("CUDA_VISIBLE_DEVICES")
  if visible is not None:
    return [g for g in visible.split(",") if g.strip() and g.strip() != "-1"]
  if not shutil.which("nvidia-smi"):
    return []
  try:
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
  except (OSError, subprocess.SubprocessError):
    return []
  return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def auto_preset() -> tuple[str, str, int]:
  """(preset, why, GPU count): ``gpu`` when GPUs are visible, else ``cpu``."""
  gpus = visible_gpus()
  if gpus:
    return "gpu", f"{len(gpus)} GPU(s) visible", len(gpus)
  return "cpu", f"no GPU visible, {os.cpu_count() or 1} CPU cores", 0


def choose_preset(preset: str, presets: dict[str, str], auto: tuple[str, str] | None = None):
  """A config file's preset: ``auto`` resolved for this machine (its ``gpu`` preset, or
  ``paper`` where the file has none) or, for a file that gives ``auto`` = (preset, why), to
  that preset on any machine; ``default`` read as ``paper``. Returns (preset, GPU count, the
  ``about`` block: what was chosen and why; ``nas_tf.presets`` adds the expected duration)."""
  import ml_collections
  if preset not in presets:
    raise ValueError(f"unknown preset {preset!r} ({', '.join(presets)})")
  reason = f"asked for {preset}"
  gpus = len(visible_gpus()) if preset == "gpu" else 0
  if preset == "auto" and auto is not None:
    preset, reason = auto
  elif preset == "auto":
    preset, reason, gpus = auto_preset()
    if preset not in presets:
      preset = "paper"
  preset = "paper" if preset == "default" else preset
  # Run keys: shown in the search's first log line, never compared on resume.
  about = ml_collections.ConfigDict({"preset": preset, "reason": reason,
                                     "expected": "not measured"})
  return preset, gpus, about


def tensorflow_sees_a_gpu() -> bool:
  """Whether TensorFlow in this process has a GPU (imports it, unlike ``visible_gpus``): what
  decides its CPU-only settings (Grappler, supernet switches, ENAS's composed step)."""
  import tensorflow as tf
  return bool(tf.config.list_logical_devices("GPU"))


@contextlib.contextmanager
def graph_optimizer_off_without_gpu():
  """Grappler off on a machine without a GPU, where its passes cost more than they give; on a
  GPU its layout and fusion passes are left to pay. Measured on 2 CPU cores:
  - DARTS' search network (8 cells, C=16, batch 32, first order): the first step 64 s -> 32 s,
    later steps 17.6 s -> 9.9 s (one-shot searches run inside this);
  - stand-alone cell children (``benchmarks/child_trace.py``, each trained inside this by
    ``tasks.training.train_and_save``): see docs/benchmarks.md."""
  import tensorflow as tf
  if tensorflow_sees_a_gpu():
    yield
    return
  options = tf.config.optimizer.get_experimental_options()
  tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
  try:
    yield
  finally:
    tf.config.optimizer.set_experimental_options(
        {"disable_meta_optimizer": options.get("disable_meta_optimizer", False)})
