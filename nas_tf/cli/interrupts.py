"""Ctrl-C and SIGTERM for the command line, acted on within seconds at any moment.

Both raise a KeyboardInterrupt in the main thread, and both are remembered, so that one raised
while Python ran a finalizer (whose exceptions Python prints and drops) still stops the search
at the next child or epoch boundary. But Python runs signal handlers only between bytecodes:
inside one long TensorFlow call (a graph's first optimisation, a big step) the handler waits
for the call to return, which took 100 s on a DARTS trace. So the C-level handler also writes
the signal to a pipe (``signal.set_wakeup_fd``) that a watcher thread reads at once; if the
process has not exited ``GRACE_S`` later, the watcher exits it with the same message. That is
as safe as kill -9, which the work directory survives by design (atomic, fsynced writes;
torn lines and ``.tmp`` leftovers repaired at the next start), and it loses only the work in
flight. A second Ctrl-C exits at once.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
import time

from nas_tf import errors

GRACE_S = 4.0  # for the main thread to stop by itself (``docker stop`` allows 10 s)

_RECEIVED = errors.RECEIVED_INTERRUPTS
_SAVED = ["finished work is saved in the work directory"]
_EXITING = threading.Lock()


class Terminated(KeyboardInterrupt):
  """SIGTERM (docker stop, cluster schedulers), handled like Ctrl-C."""


def _interrupt(signum: int) -> KeyboardInterrupt:
  return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _on_signal(signum, frame):
  _RECEIVED.append(_interrupt(signum))
  raise _RECEIVED[-1]


def _watch(read_fd: int) -> None:
  """The watcher thread: the first SIGINT/SIGTERM starts the grace period, a second one (or
  its end) exits the process."""
  first = None
  while True:
    try:
      data = os.read(read_fd, 16)
    except OSError:
      return
    for signum in data:
      if signum not in (signal.SIGINT, signal.SIGTERM):
        continue
      if first is not None:
        exit_interrupted(_interrupt(signum))
      first = _interrupt(signum)
      threading.Thread(target=_exit_later, args=(first,), daemon=True,
                       name="nas-tf-grace").start()


def _exit_later(error: KeyboardInterrupt) -> None:
  time.sleep(GRACE_S)
  exit_interrupted(error)


def install() -> None:
  """Handlers and the watcher (call from the main thread, before TensorFlow loads)."""
  # SIGINT too where the shell started us with it ignored (`nas-tf ... &` without job
  # control), which Python would otherwise keep.
  signal.signal(signal.SIGTERM, _on_signal)
  signal.signal(signal.SIGINT, _on_signal)
  read_fd, write_fd = os.pipe()
  os.set_blocking(write_fd, False)
  signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
  threading.Thread(target=_watch, args=(read_fd,), daemon=True, name="nas-tf-signals").start()


def saving(what: str) -> None:
  """What the exit message says is saved (``finished children are saved in DIR``)."""
  _SAVED[0] = what


def raise_if_received(*_) -> None:
  """The search's child and epoch hook: raises a signal's interrupt a finalizer swallowed."""
  if _RECEIVED:
    raise _RECEIVED[-1]


def exit_interrupted(error: KeyboardInterrupt, saved: str | None = None):
  """The command line's exit on Ctrl-C or SIGTERM: what is saved (``saving``'s words unless
  given), and the command that resumes. Said once, whichever thread gets here first."""
  if not _EXITING.acquire(blocking=False):
    time.sleep(GRACE_S)  # the other thread is printing it and exits the process
  saved = saved or _SAVED[0]
  command = " ".join(shlex.quote(a) for a in sys.argv)
  what = "terminated (SIGTERM)" if isinstance(error, Terminated) else "interrupted"
  try:
    print(f"\n{what}; {saved}. Resume with:\n  {command}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
  finally:
    # Everything is on disk (atomic writes, fsynced); exit now rather than risk an
    # interpreter shutdown that waits on TensorFlow threads interrupted mid-call.
    os._exit(143 if isinstance(error, Terminated) else 130)
