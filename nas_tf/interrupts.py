"""Ctrl-C and SIGTERM for the command line: both raise a KeyboardInterrupt, and both are
remembered, so that one raised while Python ran a finalizer (whose exceptions Python prints
and drops) still stops the search at the next child or epoch boundary."""

from __future__ import annotations

import signal

_RECEIVED: list[KeyboardInterrupt] = []


class Terminated(KeyboardInterrupt):
  """SIGTERM (docker stop, cluster schedulers), handled like Ctrl-C."""


def _on_signal(signum, frame):
  _RECEIVED.append(Terminated() if signum == signal.SIGTERM else KeyboardInterrupt())
  raise _RECEIVED[-1]


def install() -> None:
  # SIGINT too where the shell started us with it ignored (`nas-tf ... &` without job
  # control), which Python would otherwise keep.
  signal.signal(signal.SIGTERM, _on_signal)
  signal.signal(signal.SIGINT, _on_signal)


def raise_if_received(*_) -> None:
  """The search's child and epoch hook: raises a signal's interrupt a finalizer swallowed."""
  if _RECEIVED:
    raise _RECEIVED[-1]
