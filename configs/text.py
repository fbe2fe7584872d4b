"""A word-level language-model search on your own text (``nas-tf search text``): the Penn
Treebank config (same presets, cells and methods) with ``data.source`` a folder holding
``train.txt``, ``valid.txt`` and ``test.txt`` (one sentence per line).

    nas-tf search text --config=smoke --config.data.source=FOLDER
"""

from nas_tf.presets import config_module

PRESETS = {
    "auto": "the default: paper when GPUs are visible, else cpu",
    "paper": "NAS-RL's Penn Treebank settings on your text: cells of base number 8, 35 "
             "epochs per child",
    "default": "the same as paper (its earlier name)",
    "cpu": "24 small cells (base number 2) on your text, 2 epochs each",
    "smoke": "8 small cells (base number 2) on your text, 2 epochs each",
}


def adapt(c):
  """A Penn Treebank config (``configs/ptb.py`` or ``enas_ptb.py``) for your text."""
  c.task = "text"
  c.data.source = ""  # required: a folder with train.txt, valid.txt, test.txt
  return c


def get_config(preset: str = "auto"):
  return adapt(config_module("ptb").get_config(preset))
