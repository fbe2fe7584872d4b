"""A word-level language-model search on your own text (``nas-tf search text``): the Penn
Treebank config (same presets, cells and strategies) with ``data.source`` a folder holding
``train.txt``, ``valid.txt`` and ``test.txt`` (one sentence per line).

    nas-tf search text --config=configs/text.py:smoke --config.data.source=FOLDER
"""

import importlib.util
import os

_spec = importlib.util.spec_from_file_location(
    "nas_tf_config_ptb", os.path.join(os.path.dirname(os.path.abspath(__file__)), "ptb.py"))
_ptb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ptb)
PRESETS, EXPECTED = _ptb.PRESETS, _ptb.EXPECTED


def get_config(preset: str = "auto"):
  c = _ptb.get_config(preset)
  c.task = "text"
  c.data.source = ""  # required: a folder with train.txt, valid.txt, test.txt
  return c
