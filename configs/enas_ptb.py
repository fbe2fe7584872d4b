"""ENAS's recurrent-cell search on Penn Treebank (Pham et al. 2018, section 2.1), as
melodyguan/enas' ``scripts/ptb_search.sh`` runs it.

    nas-tf search ptb --config=configs/enas_ptb.py:paper --config.data.source=DIR

``paper``: ``configs/ptb.py``'s ENAS block (the script's schedule, clipping, weight decay and
controller) with the script's language model: 720 units, batch 20 of 35-step windows, and
its variational dropouts as keep probabilities e/x/h/o = 0.75/0.25/0.75/0.25 (embedding
words, cell input, every node's input, cell output). ``tests/test_paper_settings.py``
checks every value against the script. Its final training (``nas-tf train``) is
``ptb_final.sh``'s. ``cpu`` and ``smoke`` are PTB's presets with ENAS, their final training
with ``ptb_final.sh``'s optimizer: the cell has no normalization (``enas.layer_norm``), as
the authors', and at the NAS-RL cells' rate 1.0 it learns ten times slower (docs/enas.md).
"""

from nas_tf.presets import method_config
from nas_tf.spaces.published_recurrent import ENAS_PTB_RECIPE

PRESETS = {
    "auto": "the default: paper when GPUs are visible, else cpu",
    "paper": "ENAS's ptb_search.sh: 100 epochs of a 12-node cell supernet with 720 units",
    "cpu": "10 epochs of a 4-node supernet with 64 units",
    "smoke": "4 epochs of a 4-node supernet with 64 units",
}
# Durations that are not this machine's: the papers' figures (the machine-sized presets' are
# measured by benchmarks/durations.py into nas_tf/durations.json).
EXPECTED = {
    "paper": "about half a GPU-day (the paper: 10 hours on one GPU; not measured here)",
}


# ptb_final.sh's optimizer, which every preset's final training uses.
OPTIMIZER = ("learning_rate", "lr_schedule", "lr_decay_rate", "lr_decay_start",
             "learning_rate_min", "clip_norm", "weight_decay")


def get_config(preset: str = "auto"):
  preset, c = method_config("ptb", preset, PRESETS)
  c.search.strategy = "enas"
  for key in OPTIMIZER:
    c.final[key] = ENAS_PTB_RECIPE[key]
  if preset == "paper":
    c.child.units = 720                  # --child_lstm_hidden_size=720
    c.child.num_layers = 1               # --child_num_layers=1
    c.child.batch_size = 20              # --batch_size=20
    c.child.bptt = 35                    # --child_bptt_steps=35
    c.child.embedding_dropout = 0.25     # --child_lstm_e_keep=0.75
    c.child.dropout = 0.75               # --child_lstm_x_keep=0.25 and --child_lstm_o_keep=0.25
    c.child.recurrent_dropout = 0.25     # --child_lstm_h_keep=0.75
    # The found cell's final training (nas-tf train): ptb_final.sh's, 748 units.
    for key, value in {**ENAS_PTB_RECIPE, "units": 748, "num_layers": 1}.items():
      c.final[key] = value
  return c
