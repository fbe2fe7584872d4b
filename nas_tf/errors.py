"""Errors the CLI turns into one-line messages (kept free of TensorFlow imports)."""

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
