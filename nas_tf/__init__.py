"""nas-tf: Neural Architecture Search with reinforcement learning in TensorFlow 2 / Keras 3."""

__version__ = "0.1.0"


def search(*args, **kwargs):
  """A search from Python (``nas_tf.api.search``): the package's one facade, imported only
  when called, so that ``import nas_tf`` stays light. TensorFlow's start-up lines are
  dropped as the CLI drops them (``verbose=True`` keeps them)."""
  if not kwargs.get("verbose"):
    from nas_tf.runtime import quiet
    quiet.install_for_api()
  from nas_tf.api import search as run
  return run(*args, **kwargs)


def __getattr__(name):
  """``nas_tf.LayerChoice``, ``nas_tf.InputChoice`` and ``nas_tf.cell_op``
  (``nas_tf.models.choices``), imported on first use: they are Keras layers, and
  ``import nas_tf`` imports no Keras."""
  if name in ("LayerChoice", "InputChoice", "cell_op"):
    from nas_tf.models import choices
    return getattr(choices, name)
  raise AttributeError(f"module 'nas_tf' has no attribute {name!r}")
