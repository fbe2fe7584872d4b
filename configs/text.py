"""A word-level language-model search on your own text (``nas-tf search text``): the Penn
Treebank config (same presets, cells and strategies) with ``data.source`` a folder holding
``train.txt``, ``valid.txt`` and ``test.txt`` (one sentence per line).

    nas-tf search text --config=configs/text.py:smoke --config.data.source=FOLDER
"""

from nas_tf.usage import config_module

_ptb = config_module("ptb")
PRESETS, EXPECTED = _ptb.PRESETS, _ptb.EXPECTED


def get_config(preset: str = "auto"):
  c = _ptb.get_config(preset)
  c.task = "text"
  c.data.source = ""  # required: a folder with train.txt, valid.txt, test.txt
  return c
