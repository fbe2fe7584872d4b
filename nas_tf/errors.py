"""Errors the CLI turns into one-line messages (kept free of TensorFlow imports)."""

import errno
import re

from nas_tf.config import ConfigError  # noqa: F401  (re-exported)
from nas_tf.data import DataError  # noqa: F401  (re-exported)


class SearchError(RuntimeError):
  """The search cannot go on (too many failing children, a non-finite controller update)."""


class BudgetSpent(Exception):
  """``search.time_budget`` is spent: the search stops at a child (or epoch) boundary with its
  checkpoint intact; rerunning with a larger budget continues it."""


class InfrastructureError(RuntimeError):
  """A failure of the machine, not of the architecture (disk full, a worker that died, the
  host out of memory): the search stops cleanly, or retries the child, and never feeds the
  strategy a failure reward for it."""


class DiskFull(InfrastructureError):
  pass


class WorkerDied(InfrastructureError):
  """A worker process died under a child (killed for memory, preempted): the child is
  retried."""


# Ctrl-C and SIGTERM received by the command line's handlers (nas_tf.cli.interrupts appends).
RECEIVED_INTERRUPTS: list[KeyboardInterrupt] = []


def disguised_interrupt(error: BaseException) -> KeyboardInterrupt | None:
  """The interrupt behind ``error`` when one was received: C++ code that caught it mid-call
  raises another error in its place (pybind11's argument conversion gives a TypeError, as
  matplotlib's ``affine_transform()`` did in CI), which would pass for a failing child."""
  if isinstance(error, KeyboardInterrupt):
    return error
  return RECEIVED_INTERRUPTS[-1] if RECEIVED_INTERRUPTS else None


# What a full disk says where no OSError carries its errno: TensorFlow's checkpoint, summary
# and SavedModel writers (ResourceExhaustedError, e.g. "<path>; No space left on device
# [Op:SaveV2]") and h5py.
_FULL = re.compile(r"(?:(\S+); )?(No space left on device|Disk quota exceeded)")


def disk_full(error: BaseException) -> bool:
  """Whether ``error`` is a full disk (or quota), whichever library raised it."""
  if isinstance(error, DiskFull):
    return True
  if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
    return True
  return bool(_FULL.search(str(error)))


def disk_full_message(error: BaseException) -> str:
  """``disk full (PATH)``: one line, the file that could not be written where known."""
  if isinstance(error, DiskFull):
    return str(error)
  if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
    return f"disk full ({error.filename or error.strerror})"
  match = _FULL.search(str(error))
  return f"disk full ({match.group(1) or match.group(2)})" if match else "disk full"


def one_line(error: BaseException) -> str:
  """``Type: first line`` of an exception, at most 500 characters (a failed child's record)."""
  text = str(error).strip().splitlines()
  return f"{type(error).__name__}: {text[0] if text else ''}"[:500]
