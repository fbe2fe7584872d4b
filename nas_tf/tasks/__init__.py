"""Search tasks: each binds a search space, its data and its child training."""

from __future__ import annotations


def get_task(name: str):
  """The task class for ``name`` (imported lazily so each task's deps load only when used)."""
  if name == "cifar10":
    from nas_tf.tasks.cifar10 import Cifar10Task
    return Cifar10Task
  if name == "ptb":
    from nas_tf.tasks.ptb import PtbTask
    return PtbTask
  raise ValueError(f"unknown task {name!r} (known: {', '.join(TASKS)})")


TASKS = ("cifar10", "ptb")
