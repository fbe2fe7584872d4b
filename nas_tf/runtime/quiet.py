"""TensorFlow's start-up lines, dropped from stderr (``nas-tf --verbose`` keeps them).

On a CPU machine every process that loads TensorFlow prints lines that look like failures:
absl's "All log messages before absl::InitializeLog() ..." notice, CUDA probing
(``cudart_stub``, ``failed call to cuInit``), oneDNN and CPU-instruction notices. Most are
written by C++ before any setting can silence them, so the filter works on file descriptor 2:
it becomes a pipe, and a thread copies every other line to the real stderr. Python's own
``sys.stderr`` writes straight to the real stderr, so nas-tf's messages never wait on the
thread. Worker processes inherit the filtered descriptor.
"""

from __future__ import annotations

import atexit
import io
import os
import re
import sys
import threading

NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IWE]0000 00:00:"  # C++ log lines written before absl's logging starts
    r"|.*(cudart_stub\.cc|cuda_platform\.cc|cuda_executor\.cc|cuda_diagnostics\.cc)"
    r"|.*oneDNN custom operations are on"
    r"|.*This TensorFlow binary is optimized to use available CPU instructions"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|Instructions for updating:"
    r"|Use output_signature instead"
    r"|\tFailed to flush \d+ events to |\tCould not flush events file)")  # after a W line

_installed = False


def install() -> None:
  """Filters fd 2 for the rest of this process (idempotent); call before TensorFlow loads."""
  global _installed
  if _installed:
    return
  _installed = True
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # C++ INFO and WARNING lines
  sys.stderr.flush()
  real = os.dup(2)
  sys.stderr = io.TextIOWrapper(io.FileIO(real, "w", closefd=False), line_buffering=True,
                                errors="backslashreplace")
  read_end, write_end = os.pipe()
  os.dup2(write_end, 2)
  os.close(write_end)

  def copy() -> None:
    with io.FileIO(read_end, "r") as pipe:
      for line in io.BufferedReader(pipe):
        if not NOISE.match(line.decode(errors="replace")):
          os.write(real, line)

  thread = threading.Thread(target=copy, name="nas-tf-stderr", daemon=True)
  thread.start()

  def drain() -> None:  # what C++ wrote last still reaches the terminal
    os.close(2)
    thread.join(timeout=2.0)
  atexit.register(drain)


def install_for_api() -> None:
  """The same filter for the Python API (``nas_tf.search``), where it is safe: TensorFlow not
  loaded yet (its first lines are the noise) and ``sys.stderr`` the process's descriptor 2 (a
  notebook's stderr is not, and TensorFlow's C++ lines never reach the notebook anyway)."""
  if "tensorflow" in sys.modules:
    return
  try:
    if sys.stderr.fileno() != 2:
      return
  except (AttributeError, OSError, ValueError):  # io.StringIO, ipykernel's stream
    return
  install()


def quiet_python_loggers() -> None:
  """TensorFlow's and absl's Python warnings (retracing notices, deprecations) off."""
  import logging
  for name in ("tensorflow", "absl", "jax", "ray"):
    logging.getLogger(name).setLevel(logging.ERROR)
