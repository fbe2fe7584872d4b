"""Performance estimation: tasks (data, child models, child training, one-shot hooks),
child training (``training``) and where children train (``executors``)."""

from nas_tf.registry import TASKS  # noqa: F401  (task names, without importing any task)
