"""The papers' recurrent cells (``published.py`` lists them with their networks), each
transcribed from its authors' code into a space of nas-tf's."""

from __future__ import annotations

from typing import Any


# Zoph & Le's recurrent cell as tf.contrib.rnn.NASCell computes it (tensorflow
# contrib/rnn/python/ops/rnn_cell.py, NASCell.call), in the rnn_cell space's tree of base 8:
# leaf i combines W_i x and U_i h; nodes 8-11 pair the leaves, 12-13 those, 14 is h_t.
# c_{t-1} is injected into node 8 with add and tanh ("Inject the cell"), and node 12's
# pre-activation (l2_0 * l2_1) is c_t ("create new cell").
_NAS_RL_LEAVES = [("add", "sigmoid"), ("add", "relu"), ("add", "sigmoid"), ("elem_mult", "relu"),
                  ("add", "tanh"), ("add", "sigmoid"), ("add", "tanh"), ("add", "sigmoid")]
_NAS_RL_INNER = [("elem_mult", "tanh"), ("add", "tanh"), ("elem_mult", "tanh"),
                 ("add", "sigmoid"), ("elem_mult", "identity"), ("add", "tanh"),
                 ("elem_mult", "tanh")]


def _nas_rl_cell() -> dict[str, Any]:
  from nas_tf.spaces.rnn_cell import ACTIVATIONS, COMBINATIONS, RNNCellSearchSpace
  pairs = _NAS_RL_LEAVES + _NAS_RL_INNER + [("add", "tanh")]  # the last: the inject
  tokens = [t for c, a in pairs for t in (COMBINATIONS.index(c), ACTIVATIONS.index(a))]
  arch = RNNCellSearchSpace(8).decode(tokens + [8, 12])  # inject at node 8, c_t from 12
  arch.pop("id")
  return arch


NAS_RL_CELL = _nas_rl_cell()


# melodyguan/enas scripts/ptb_final.sh line 5: node 0's activation, then per node its input
# and activation (ptb_enas_child.py _rhn_fixed), 12 nodes (--child_rhn_depth=12).
ENAS_PTB_TOKENS = [int(t) for t in "0 0 0 1 1 2 1 2 0 2 0 5 1 1 0 6 1 8 1 8 1 8 1".split()]


def _enas_rnn(tokens) -> dict[str, Any]:
  from nas_tf.spaces.enas_rnn import EnasRnnSpace
  arch = EnasRnnSpace(len(tokens) // 2 + 1).decode(tokens)
  arch.pop("id")
  return arch


ENAS_PTB = _enas_rnn(ENAS_PTB_TOKENS)

# ptb_final.sh's training (lines 9-37; ptb_enas_child.py and utils.get_train_ops). ENAS's
# loss sums a window's 35 token losses (ptb_enas_child.py line 189); nas-tf's is their mean,
# so the learning rate, its floor and the L2 gradient are 35 times the script's, the gradient
# bound 35 times smaller, and the slowness penalty is divided by the steps as the loss is
# (models/rnn_cell.py SlownessPenalty): the same updates.
_STEPS = 35
ENAS_PTB_RECIPE = {
    "epochs": 2000, "batch_size": 64, "bptt": _STEPS,   # --num_epochs, --batch_size
    "learning_rate": 20.0 * _STEPS,                      # --child_lr=20.0, plain sgd
    "lr_schedule": "exponential", "lr_decay_rate": 0.9991,  # --child_lr_dec_rate, every epoch
    "lr_decay_start": 14, "learning_rate_min": 0.001 * _STEPS,  # --child_lr_dec_start, _min
    "clip_norm": 0.25 / _STEPS,                          # --child_grad_bound=0.25, global
    "weight_decay": 2 * 5e-7 / _STEPS,                   # --child_l2_reg=5e-7 on sum(w^2)
    "embedding_dropout": 1 - 0.79,                       # --child_lstm_e_keep=0.79
    "dropout": 1 - 0.25,                                 # --child_lstm_x_keep=0.25
    "recurrent_dropout": 1 - 0.75,                       # --child_lstm_h_keep=0.75
    "output_dropout": 1 - 0.24,                          # --child_lstm_o_keep=0.24
    "slowness_reg": 1e-3,                                # --child_rnn_slowness_reg=1e-3
}
