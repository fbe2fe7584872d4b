"""Ctrl-C and SIGTERM for the command line: both raise a KeyboardInterrupt, and both are
remembered, so that one raised while Python ran a finalizer (whose exceptions Python prints
and drops) still stops the search at the next child or epoch boundary."""

from __future__ import annotations

import os
import shlex
import signal
import sys

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


def exit_interrupted(saved: str, error: KeyboardInterrupt):
  """The command line's exit on Ctrl-C or SIGTERM: what is saved, and the command that
  resumes."""
  command = " ".join(shlex.quote(a) for a in sys.argv)
  what = "terminated (SIGTERM)" if isinstance(error, Terminated) else "interrupted"
  print(f"\n{what}; {saved}. Resume with:\n  {command}", file=sys.stderr)
  sys.stdout.flush()
  sys.stderr.flush()
  # Everything is on disk (atomic writes, fsynced); exit now rather than risk an interpreter
  # shutdown that waits on TensorFlow threads interrupted mid-call.
  os._exit(143 if isinstance(error, Terminated) else 130)
