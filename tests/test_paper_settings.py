"""Each method's ``paper`` settings against its authors' scripts, value by value.

Every row names the file and line of the reference it comes from, so a reviewer checks this
table against the references, not the code: quark0/darts (``cnn/``), melodyguan/enas
(``scripts/``, ``src/``), tensorflow/models ``research/slim/nets/nasnet/pnasnet.py`` and
chenxi116/PNASNet.TF, D-X-Y/AutoDL-Projects (``exps/NAS-Bench-201-algos/``). The behaviour
behind a value (a schedule, a data split) is tested where the method is.
"""

import math

import numpy as np
import pytest

from conftest import load_config
from nas_tf.spaces.cell import OP_SETS, CellSpace

DARTS = [
    # key, value, source
    ("search.strategy", "darts", "the method"),
    ("space.kind", "cell", "the method"),
    ("darts.order", 2, "README.md:45 `python train_search.py --unrolled`"),
    ("darts.batch_size", 64, "cnn/train_search.py:23 --batch_size 64"),
    ("darts.learning_rate", 0.025, "cnn/train_search.py:24 --learning_rate 0.025"),
    ("darts.learning_rate_min", 0.001, "cnn/train_search.py:25 --learning_rate_min 0.001"),
    ("darts.momentum", 0.9, "cnn/train_search.py:26 --momentum 0.9"),
    ("darts.weight_decay", 3e-4, "cnn/train_search.py:27 --weight_decay 3e-4"),
    ("darts.epochs", 50, "cnn/train_search.py:30 --epochs 50"),
    ("darts.channels", 16, "cnn/train_search.py:31 --init_channels 16"),
    ("darts.layers_per_stage", 2, "cnn/train_search.py:32 --layers 8 (model_search.py:"
                                  "reductions at layers//3 and 2*layers//3)"),
    ("darts.clip_norm", 5.0, "cnn/train_search.py:39 --grad_clip 5"),
    ("darts.arch_learning_rate", 3e-4, "cnn/train_search.py:42 --arch_learning_rate 3e-4"),
    ("darts.arch_weight_decay", 1e-3, "cnn/train_search.py:43 --arch_weight_decay 1e-3"),
    ("final.batch_size", 96, "cnn/train.py:22 --batch_size 96"),
    ("final.learning_rate", 0.025, "cnn/train.py:23 --learning_rate 0.025"),
    ("final.momentum", 0.9, "cnn/train.py:24 --momentum 0.9"),
    ("final.nesterov", False, "cnn/train.py:79-83 torch.optim.SGD without nesterov"),
    ("final.weight_decay", 3e-4, "cnn/train.py:25 --weight_decay 3e-4"),
    ("final.epochs", 600, "cnn/train.py:28 --epochs 600"),
    ("final.channels", 36, "cnn/train.py:29 --init_channels 36"),
    ("final.layers_per_stage", 6, "cnn/train.py:30 --layers 20 (model.py:129)"),
    ("final.auxiliary_weight", 0.4, "cnn/train.py:33 and README.md:64 --auxiliary"),
    ("final.cutout", 16, "cnn/train.py:35 and README.md:64 --cutout"),
    ("final.drop_path", 0.2, "cnn/train.py:36 --drop_path_prob 0.2"),
    ("final.clip_norm", 5.0, "cnn/train.py:40 --grad_clip 5"),
    ("final.lr_schedule", "cosine_epochs", "cnn/train.py:95-98 CosineAnnealingLR stepped "
                                           "before each epoch"),
]

# What src/cifar10/main.py and src/ptb/main.py give every ENAS controller.
ENAS_CONTROLLER = [
    ("enas.controller.num_layers", 1, "src/cifar10/main.py:154, src/ptb/main.py:146 "
                                      "lstm_num_layers=1"),
    ("enas.controller.init_range", 0.1, "general_controller.py:84, micro_controller.py:86, "
                                        "ptb_enas_controller.py:70 uniform(-0.1, 0.1)"),
    ("enas.controller.adam_beta1", 0.0, "src/utils.py:218 AdamOptimizer(beta1=0.0), "
                                        "src/cifar10/main.py:166 optim_algo='adam'"),
    ("enas.controller.adam_epsilon", 1e-3, "src/utils.py:218-219 AdamOptimizer(epsilon=1e-3)"),
    ("enas.controller.biases", False, "src/common_ops.py:5-14 lstm: matmul by w, no bias; "
                                      "general_controller.py:100, ptb_enas_controller.py:85 "
                                      "w_soft without b"),
    ("enas.controller.entropy_in_reward", True, "general_controller.py:279-280, "
                                                "micro_controller.py:237-238, "
                                                "ptb_enas_controller.py:183-184"),
    ("enas.controller.clip_norm", 0.0, "src/cifar10/main.py:144-169 passes no clip_mode"),
]

ENAS_MACRO = [
    ("enas.controller.units", 64, "src/cifar10/main.py:153 lstm_size=64"),
    ("enas.controller.num_layers", 1, "src/cifar10/main.py:154 lstm_num_layers=1"),
    ("enas.controller.init_range", 0.1, "src/cifar10/general_controller.py:84 "
                                        "random_uniform_initializer(-0.1, 0.1)"),
    ("enas.controller.baseline_decay", 0.99, "src/cifar10/main.py:72 controller_bl_dec 0.99"),
    ("enas.controller.baseline_per_architecture", True,
     "src/cifar10/general_controller.py:283-290 (one update per sampled architecture)"),
    ("enas.controller.entropy_weight", 1e-4,
     "scripts/cifar10_macro_search.sh --controller_entropy_weight=0.0001"),
    ("enas.controller.skip_target", 0.4,
     "scripts/cifar10_macro_search.sh --controller_skip_target=0.4"),
    ("enas.controller.skip_weight", 0.8,
     "scripts/cifar10_macro_search.sh --controller_skip_weight=0.8"),
    ("enas.controller.batch", 20,
     "scripts/cifar10_macro_search.sh --controller_num_aggregate=20"),
    ("enas.controller.steps", 50, "scripts/cifar10_macro_search.sh --controller_train_steps=50"),
    ("enas.num_layers", 12, "scripts/cifar10_macro_search.sh --child_num_layers=12"),
    ("enas.channels", 36, "scripts/cifar10_macro_search.sh --child_out_filters=36"),
    ("enas.learning_rate", 0.05, "scripts/cifar10_macro_search.sh --child_lr_max=0.05"),
    ("child.batch_size", 128, "scripts/cifar10_macro_search.sh --batch_size=128"),
    ("enas.epochs", 310, "scripts/cifar10_macro_search.sh --num_epochs=310"),
    ("enas.learning_rate_min", 0.0005, "scripts/cifar10_macro_search.sh --child_lr_min=0.0005"),
    ("enas.lr_restart_epochs", 10, "scripts/cifar10_macro_search.sh --child_lr_T_0=10"),
    ("enas.lr_restart_mul", 2.0, "scripts/cifar10_macro_search.sh --child_lr_T_mul=2"),
    ("enas.weight_decay", 5e-4, "scripts/cifar10_macro_search.sh --child_l2_reg=0.00025, "
                                "added as l2_reg * sum(w^2) (src/utils.py:119-124)"),
    ("enas.clip_norm", 0.0, "src/cifar10/main.py:127 clip_mode='norm', whose loop appends the "
                            "unclipped gradient (src/utils.py:149)"),
    ("enas.dropout", 0.1, "scripts/cifar10_macro_search.sh --child_keep_prob=0.90 "
                          "(general_child.py:233)"),
    ("enas.auxiliary_weight", 0.0, "cifar10_macro_search.sh passes --child_use_aux_heads, "
                                   "but general_child.py never reads it"),
    ("final.dropout", 0.5, "scripts/cifar10_macro_final.sh --child_keep_prob=0.50"),
    ("enas.controller.learning_rate", 1e-3, "scripts/cifar10_macro_search.sh "
                                            "--controller_lr=0.001"),
    ("enas.controller.tanh_constant", 1.5, "scripts/cifar10_macro_search.sh "
                                           "--controller_tanh_constant=1.5"),
    ("enas.controller.temperature", 0.0, "src/cifar10/main.py:75 controller_temperature None"),
    ("enas.controller.op_tanh_reduce", 1.0, "general_controller.py never reads "
                                            "--controller_op_tanh_reduce"),
    ("enas.controller.sampled_entropy", True, "general_controller.py:168, 240-241 "
                                              "log_prob * exp(-log_prob) of the sample"),
    ("enas.controller.op_priors", False, "general_controller.py:99-101 w_soft, no bias"),
    ("enas.controller.enas_links", True, "general_controller.py:220 logits [-q, q]"),
] + ENAS_CONTROLLER

ENAS_MICRO = [
    ("search.strategy", "enas", "the method"),
    ("space.kind", "cell", "the micro space"),
    ("child.batch_size", 160, "scripts/cifar10_micro_search.sh --batch_size=160"),
    ("child.layers_per_stage", 2, "scripts/cifar10_micro_search.sh --child_num_layers=6 "
                                  "(micro_child.py:109-110, 263: 8 cells, pools at 2 and 5)"),
    ("child.channels", 20, "scripts/cifar10_micro_search.sh --child_out_filters=20"),
    ("enas.epochs", 150, "scripts/cifar10_micro_search.sh --num_epochs=150"),
    ("enas.weight_decay", 2e-4, "scripts/cifar10_micro_search.sh --child_l2_reg=1e-4"),
    ("enas.dropout", 0.1, "scripts/cifar10_micro_search.sh --child_keep_prob=0.90"),
    ("enas.auxiliary_weight", 0.4, "scripts/cifar10_micro_search.sh --child_use_aux_heads, "
                                   "micro_child.py:707-711 loss + 0.4 * aux_loss"),
    ("enas.learning_rate", 0.05, "scripts/cifar10_micro_search.sh --child_lr_max=0.05"),
    ("enas.learning_rate_min", 0.0005, "scripts/cifar10_micro_search.sh --child_lr_min=0.0005"),
    ("enas.lr_restart_epochs", 10, "scripts/cifar10_micro_search.sh --child_lr_T_0=10"),
    ("enas.lr_restart_mul", 2.0, "scripts/cifar10_micro_search.sh --child_lr_T_mul=2"),
    ("enas.controller.learning_rate", 3.5e-3, "scripts/cifar10_micro_search.sh "
                                              "--controller_lr=0.0035"),
    ("enas.controller.tanh_constant", 1.1, "scripts/cifar10_micro_search.sh "
                                           "--controller_tanh_constant=1.10"),
    ("enas.controller.op_tanh_reduce", 2.5, "scripts/cifar10_micro_search.sh "
                                            "--controller_op_tanh_reduce=2.5 "
                                            "(micro_controller.py:182)"),
    ("enas.controller.steps", 30, "scripts/cifar10_micro_search.sh --controller_train_steps=30"),
    ("enas.controller.batch", 10, "scripts/cifar10_micro_search.sh "
                                  "--controller_num_aggregate=10"),
    ("enas.controller.entropy_weight", 1e-4, "scripts/cifar10_micro_search.sh "
                                             "--controller_entropy_weight=0.0001"),
    ("enas.controller.skip_weight", 0.0, "src/cifar10/main.py:78 (the script sets none)"),
    ("enas.controller.baseline_per_architecture", True,
     "src/cifar10/micro_controller.py build_trainer (one update per architecture)"),
    ("enas.controller.units", 64, "src/cifar10/main.py:153 lstm_size=64"),
    ("enas.controller.baseline_decay", 0.99, "src/cifar10/main.py:72 controller_bl_dec 0.99"),
    ("enas.controller.temperature", 0.0, "src/cifar10/main.py:75 controller_temperature None"),
    ("enas.controller.sampled_entropy", False, "micro_controller.py:169-170, 193-194 "
                                               "softmax_cross_entropy(logits, softmax(logits))"),
    ("enas.controller.op_priors", True, "micro_controller.py:100-109 b_soft [10, 10, 0, 0, 0], "
                                        "b_soft_no_learn; :184-185 the normal cell's"),
    ("final.layers_per_stage", 5, "scripts/cifar10_micro_final.sh --child_num_layers=15"),
    ("final.channels", 36, "scripts/cifar10_micro_final.sh --child_out_filters=36"),
    ("final.epochs", 630, "scripts/cifar10_micro_final.sh --num_epochs=630"),
    ("final.batch_size", 144, "scripts/cifar10_micro_final.sh --batch_size=144"),
    ("final.learning_rate", 0.05, "scripts/cifar10_micro_final.sh --child_lr_max=0.05"),
    ("final.weight_decay", 4e-4, "scripts/cifar10_micro_final.sh --child_l2_reg=2e-4"),
    ("final.drop_path", 0.4, "scripts/cifar10_micro_final.sh --child_drop_path_keep_prob=0.60"),
    ("final.auxiliary_weight", 0.4, "micro_child.py:711 train_loss = loss + 0.4 * aux_loss"),
] + ENAS_CONTROLLER

# ptb_enas_child.py:189 sums the 35 steps' token losses (over the batch's mean); nas-tf's
# loss is the mean per token, so a rate, a clipping bound and an L2 gradient on the sum are
# 35x, 1/35x and 1/35x on the mean: the same updates.
ENAS_RNN = [
    ("search.strategy", "enas", "the method"),
    ("enas.num_nodes", 12, "scripts/ptb_search.sh --child_rhn_depth=12"),
    ("enas.epochs", 100, "scripts/ptb_search.sh --num_epochs=100"),
    ("enas.learning_rate", 0.25 * 35, "scripts/ptb_search.sh --child_lr=0.25 (on the sum)"),
    ("enas.lr_decay_rate", 0.95, "scripts/ptb_search.sh --child_lr_dec_rate=0.95"),
    ("enas.lr_decay_start", 12, "scripts/ptb_search.sh --child_lr_dec_start=12"),
    ("enas.learning_rate_min", 0.0005 * 35, "scripts/ptb_search.sh --child_lr_dec_min=0.0005"),
    ("enas.momentum", 0.0, "scripts/ptb_search.sh --child_optim_algo=sgd"),
    ("enas.clip_norm", 10.0 / 35, "scripts/ptb_search.sh --child_grad_bound=10.0, "
                                  "src/ptb/main.py:133 clip_mode='global'"),
    ("enas.weight_decay", 2e-7 / 35, "scripts/ptb_search.sh --child_l2_reg=1e-7 on sum(w^2)"),
    ("enas.reward_constant", 80.0, "src/ptb/ptb_enas_controller.py:181 80 / valid_ppl"),
    ("child.units", 720, "scripts/ptb_search.sh --child_lstm_hidden_size=720"),
    ("child.num_layers", 1, "scripts/ptb_search.sh --child_num_layers=1"),
    ("child.batch_size", 20, "scripts/ptb_search.sh --batch_size=20"),
    ("child.bptt", 35, "scripts/ptb_search.sh --child_bptt_steps=35"),
    ("child.embedding_dropout", 0.25, "scripts/ptb_search.sh --child_lstm_e_keep=0.75"),
    ("child.dropout", 0.75, "scripts/ptb_search.sh --child_lstm_x_keep=0.25, "
                            "--child_lstm_o_keep=0.25"),
    ("child.recurrent_dropout", 0.25, "scripts/ptb_search.sh --child_lstm_h_keep=0.75"),
    ("enas.controller.learning_rate", 1e-3, "scripts/ptb_search.sh --controller_lr=0.001"),
    ("enas.controller.entropy_weight", 1e-3,
     "scripts/ptb_search.sh --controller_entropy_weight=0.001"),
    ("enas.controller.baseline_decay", 0.99, "src/ptb/main.py:72 controller_bl_dec 0.99"),
    ("enas.controller.baseline_per_architecture", True,
     "src/ptb/ptb_enas_controller.py:188-194 (one update per sampled cell)"),
    ("enas.controller.tanh_constant", 2.5, "scripts/ptb_search.sh --controller_tanh_constant=2.5"),
    ("enas.controller.temperature", 5.0, "scripts/ptb_search.sh --controller_temperature=5.0"),
    ("enas.controller.steps", 100, "scripts/ptb_search.sh --controller_train_steps=100"),
    ("enas.controller.batch", 10, "scripts/ptb_search.sh --controller_num_aggregate=10"),
    ("enas.controller.units", 100, "src/ptb/main.py:145 lstm_size=100"),
    ("enas.controller.sampled_entropy", True, "ptb_enas_controller.py:138, 161 "
                                              "log_prob * exp(-log_prob) of the sample"),
    ("enas.controller.op_priors", False, "ptb_enas_controller.py:85 w_soft, no bias"),
    ("enas.activations", "tanh,relu", "ptb_enas_controller.py:25 num_funcs=2 (tanh, relu: "
                                      "ptb_enas_child.py:351-352), src/ptb/main.py:143-159 "
                                      "never sets it"),
    ("enas.layer_norm", False, "ptb_enas_child.py:266-330 _rhn_fixed, the final cell: no "
                               "normalization (the search's batch norm: docs/enas.md (1))"),
] + ENAS_CONTROLLER

# ENAS PTB final training under `paper` (nas_tf/spaces/published_recurrent.py ENAS_PTB_RECIPE):
# melodyguan/enas scripts/ptb_final.sh, whose loss sums the 35 steps (ptb_enas_child.py:189).
ENAS_RNN_FINAL = [
    ("final.batch_size", 64, "scripts/ptb_final.sh:12 --batch_size=64"),
    ("final.bptt", 35, "scripts/ptb_final.sh:13 --child_bptt_steps=35"),
    ("final.epochs", 2000, "scripts/ptb_final.sh:14 --num_epochs=2000"),
    ("final.num_layers", 1, "scripts/ptb_final.sh:17 --child_num_layers=1"),
    ("final.units", 748, "scripts/ptb_final.sh:18 --child_lstm_hidden_size=748"),
    ("final.embedding_dropout", 1 - 0.79, "scripts/ptb_final.sh:19 --child_lstm_e_keep=0.79"),
    ("final.dropout", 1 - 0.25, "scripts/ptb_final.sh:20 --child_lstm_x_keep=0.25"),
    ("final.recurrent_dropout", 1 - 0.75, "scripts/ptb_final.sh:21 --child_lstm_h_keep=0.75"),
    ("final.output_dropout", 1 - 0.24, "scripts/ptb_final.sh:22 --child_lstm_o_keep=0.24"),
    ("final.clip_norm", 0.25 / 35, "scripts/ptb_final.sh:24 --child_grad_bound=0.25 (on the "
                                   "sum), src/ptb/main.py:133 clip_mode='global'"),
    ("final.learning_rate", 20.0 * 35, "scripts/ptb_final.sh:25 --child_lr=20.0 (on the sum)"),
    ("final.slowness_reg", 1e-3, "scripts/ptb_final.sh:26 --child_rnn_slowness_reg=1e-3 "
                                 "(divided by the steps as the loss is)"),
    ("final.weight_decay", 2 * 5e-7 / 35, "scripts/ptb_final.sh:27 --child_l2_reg=5e-7 on "
                                          "sum(w^2), src/utils.py get_train_ops"),
    ("final.lr_schedule", "exponential", "scripts/ptb_final.sh:29 --child_lr_dec_every=1"),
    ("final.lr_decay_start", 14, "scripts/ptb_final.sh:28 --child_lr_dec_start=14"),
    ("final.lr_decay_rate", 0.9991, "scripts/ptb_final.sh:30 --child_lr_dec_rate=0.9991"),
    ("final.learning_rate_min", 0.001 * 35, "scripts/ptb_final.sh:31 --child_lr_dec_min=0.001"),
    ("child.tie_weights", True, "ptb_enas_child.py _get_log_probs: w_emb is the softmax"),
]


# NAS-RL's CNN children (Zoph & Le 2017, section 4.1, which publishes no code): 50 epochs,
# the reward the last 5 epochs' best accuracy cubed, momentum SGD at 0.1 with weight decay
# 1e-4, momentum 0.9, Nesterov; the rest "the same with those used in Huang et al. (2016a)",
# DenseNet (Huang et al. 2017, section 4.2): batch 64, the rate /10 at 50% and 75%.
NAS_RL_CHILD = [
    ("search.strategy", "nas_rl", "the method"),
    ("child.epochs", 50, "Zoph & Le 2017, 4.1: each child trained for 50 epochs"),
    ("reward.window", 5, "Zoph & Le 2017, 4.1: max validation accuracy of the last 5 epochs"),
    ("reward.exponent", 3.0, "Zoph & Le 2017, 4.1: ... cubed"),
    ("child.learning_rate", 0.1, "Zoph & Le 2017, 4.1: learning rate of 0.1"),
    ("child.weight_decay", 1e-4, "Zoph & Le 2017, 4.1: weight decay of 1e-4"),
    ("child.momentum", 0.9, "Zoph & Le 2017, 4.1: momentum of 0.9"),
    ("child.nesterov", True, "Zoph & Le 2017, 4.1: Nesterov Momentum"),
    ("child.batch_size", 64, "Huang et al. 2017, 4.2: batch size 64"),
    ("child.lr_schedule", "step", "Huang et al. 2017, 4.2: divided by 10 at 50% and 75% of "
                                  "the training epochs"),
]


def value_at(config, key):
  node = config
  for part in key.split("."):
    node = node[part]
  return node


def check(config, rows):
  wrong = [(key, value_at(config, key), value, source) for key, value, source in rows
           if value_at(config, key) != (tuple(value) if isinstance(value, list) else value)]
  assert not wrong, "\n".join(f"{k} = {got!r}, the reference has {want!r} ({src})"
                              for k, got, want, src in wrong)


def test_darts_paper_preset_is_train_search_py_and_train_py():
  check(load_config("paper", "darts"), DARTS)


def test_darts_space_is_model_search_py():
  config = load_config("paper", "darts")
  space = CellSpace.from_config(config)
  # genotypes.py PRIMITIVES; model_search.py steps=4, multiplier=4 (all nodes concatenated)
  assert space.ops == OP_SETS["darts"] == ("none", "skip_connect", "avg_pool_3x3",
                                           "max_pool_3x3", "sep_conv_3x3", "sep_conv_5x5",
                                           "dil_conv_3x3", "dil_conv_5x5")
  assert space.num_blocks == 4 and space.cell_output == "all"
  assert not space.same_cell_for_reduction


def test_darts_search_learning_rate_is_stepped_before_each_epoch():
  # train_search.py:108-110: scheduler.step() then get_lr() at the start of every epoch, so
  # epoch e trains at the cosine of (e + 1) / E (torch 0.3's closed form), the last at the
  # minimum.
  from nas_tf.strategies.darts import Darts
  darts = Darts.__new__(Darts)
  darts.settings = load_config("paper", "darts").darts
  # Values of the script's schedule at chosen epochs, worked out by hand from
  # eta_min + (eta_max - eta_min)(1 + cos(pi t / 50)) / 2 with t = e + 1: epoch 0 at
  # 0.001 + 0.012 (1 + cos(pi/50)) = 0.0249763, epoch 24 at cos(pi/2) = 0: 0.001 + 0.012,
  # epoch 11 at cos(0.24 pi) = 0.728969, epoch 37 at cos(0.76 pi) = -0.728969, epoch 49 at
  # cos(pi) = -1: the minimum.
  pinned = {0: 0.0249763207, 11: 0.0217476235, 24: 0.013, 37: 0.0042523765, 49: 0.001}
  for epoch, rate in pinned.items():
    assert darts.learning_rate_at(epoch) == pytest.approx(rate, rel=1e-8), epoch


def test_darts_final_schedule_is_cosine_annealing_stepped_per_epoch():
  # train.py:95-98: CosineAnnealingLR(optimizer, epochs) (eta_min 0) stepped before each
  # epoch: constant within an epoch, epoch e at 0.025 (1 + cos(pi (e + 1) / E)) / 2.
  from nas_tf.models.schedules import learning_rate_schedule
  schedule = learning_rate_schedule(0.025, "cosine_epochs", total_steps=4 * 10,
                                    steps_per_epoch=4)
  rates = np.array([float(schedule(step)) for step in range(40)])
  expected = np.repeat([0.0125 * (1 + math.cos(math.pi * (e + 1) / 10)) for e in range(10)], 4)
  np.testing.assert_allclose(rates, expected, rtol=1e-5, atol=1e-9)


def test_pnas_cell_concatenates_every_block():
  # chenxi116/PNASNet.TF cell.py:191 and tensorflow/models pnasnet.py PNasNetNormalCell:
  # used_hiddenstates = [1, 1, 0, 0, 0, 0, 0] marks only the two cell inputs as used, so all
  # five blocks are concatenated, though block 3 reads block 2 (hiddenstate index 4).
  config = load_config("paper")
  config.space.kind, config.search.strategy = "cell", "pnas"
  space = CellSpace.from_config(config)
  assert space.cell_output == "all" and space.same_cell_for_reduction
  assert space.num_blocks == 5 and space.ops == OP_SETS["pnas"]


def test_enas_macro_settings_are_the_macro_search_script():
  check(load_config("paper", "enas_macro"), ENAS_MACRO)


def test_enas_rnn_settings_are_ptb_search_sh():
  check(load_config("paper", "enas_ptb"), ENAS_RNN)


def test_enas_ptb_paper_final_training_is_ptb_final_sh():
  # A searched cell's final training under the paper preset, and ENAS's published cell's.
  from nas_tf.products import zoo
  check(load_config("paper", "enas_ptb"), ENAS_RNN_FINAL)
  check(zoo.configure(load_config("paper", "enas_ptb"), zoo.find("enas_ptb")), ENAS_RNN_FINAL)


def test_enas_ptb_final_model_and_optimizer_follow_the_recipe():
  # The recipe reaches the trained network: its dropouts, the slowness penalty, the L2 term
  # and the exponential schedule (at a small width; the paper's is 748).
  from conftest import tiny_ptb_config
  from nas_tf import registry
  from nas_tf.products import zoo
  from nas_tf.models.optimizers import L2SGD
  config = tiny_ptb_config()
  config.about.preset = "paper"
  config = zoo.configure(config, zoo.find("enas_ptb"))
  config.final.units, config.final.batch_size, config.final.epochs = 16, 8, 20
  task = registry.task_class("ptb")(config)
  task.prepare()
  c = task.settings(final=True)
  model = task.build_model(zoo.find("enas_ptb").architecture(), c)
  task.compile_model(model, c)
  rates = {layer.name: layer.rate for layer in model.layers if hasattr(layer, "rate")}
  assert rates == {"embedding_dropout": 1 - 0.79, "dropout_input": 0.75,
                   "dropout_rnn_0": 0.76, "slowness": 1e-3}
  optimizer = model.optimizer
  assert isinstance(optimizer, L2SGD) and optimizer.l2 == 2 * 5e-7 / 35
  assert optimizer.global_clipnorm == 0.25 / 35
  per_epoch = len(task._batches(task._train_ids, c)[0])
  at = [float(optimizer._learning_rate(per_epoch * e)) for e in (0, 14, 15, 19)]
  np.testing.assert_allclose(at, [700, 700, 700 * 0.9991, 700 * 0.9991 ** 5], rtol=1e-6)


@pytest.mark.parametrize("preset", ["smoke", "cpu"])
def test_smaller_enas_ptb_presets_train_the_found_cell_with_ptb_final_sh_optimizer(preset):
  # The cell has no normalization (as the authors'); it needs their rate and bound, not the
  # NAS-RL cells' rate 1.0 (docs/enas.md: test perplexity 2,908 against 404 after 3 epochs).
  keys = ("learning_rate", "lr_schedule", "lr_decay_rate", "lr_decay_start",
          "learning_rate_min", "clip_norm", "weight_decay")
  check(load_config(preset, "enas_ptb"),
        [row for row in ENAS_RNN_FINAL if row[0] in {f"final.{k}" for k in keys}]
        + [("enas.layer_norm", False, "as under paper")])


def test_nas_rl_children_train_as_the_paper_says():
  check(load_config("paper", "cifar10"), NAS_RL_CHILD)


def test_nas_rl_step_schedule_drops_at_half_and_three_quarters():
  # The paper's 50 epochs: 0.1 for epochs 1-25, 0.01 for 26-38, 0.001 from 39 (1-based;
  # 37.5 epochs is 75%, so the second drop starts the 39th).
  from nas_tf.models.schedules import learning_rate_schedule
  schedule = learning_rate_schedule(0.1, "step", total_steps=50 * 7, steps_per_epoch=7)
  at = {epoch: float(schedule(7 * (epoch - 1))) for epoch in (1, 25, 26, 38, 39, 50)}
  np.testing.assert_allclose(list(at.values()), [0.1, 0.1, 0.01, 0.01, 0.001, 0.001],
                             rtol=1e-6)
  assert float(schedule(7 * 25 - 1)) == pytest.approx(0.1)  # the last step of epoch 25


def test_enas_rnn_learning_rate_decays_per_epoch_from_epoch_12():
  # src/utils.py get_train_ops: exponential_decay(lr, max(step - dec_start, 0), dec_every,
  # rate, staircase=True), floored at lr_dec_min; start and every in epochs of batches.
  from nas_tf.models.schedules import EpochExponentialDecay
  schedule = EpochExponentialDecay(0.25, 0.95, 12, 0.0005, steps_per_epoch=4)
  rates = [float(schedule(4 * epoch + 3)) for epoch in range(200)]
  expected = [max(0.25 * 0.95 ** max(epoch - 12, 0), 0.0005) for epoch in range(200)]
  np.testing.assert_allclose(rates, expected, rtol=1e-5)


@pytest.mark.parametrize("units,scale", [(64, 0.1), (300, 0.1), (400, 0.05), (720, 0.04)])
def test_enas_rnn_init_range_follows_the_hidden_size(units, scale):
  # ptb_enas_child.py:506-514
  from nas_tf.models.enas_rnn import init
  config = init(units).get_config()
  assert (config["minval"], config["maxval"]) == (-scale, scale)


def test_enas_rnn_supernet_keys_its_kernels_by_input_and_activation():
  # ptb_enas_child.py:518-530 (_build_params, search): w_prev [2 * num_funcs * H, 2H] and
  # layer i's w_skip [num_funcs * i * H, 2H]; lines 369-371 pick rows (prev_idx * num_funcs
  # + func_idx) * H: a cell that changes only a node's activation reads other weights.
  import tensorflow as tf
  from nas_tf.models import enas_rnn
  from nas_tf.spaces.enas_rnn import ACTIVATIONS, EnasRnnSpace
  space, units, vocab = EnasRnnSpace(num_nodes=4, activations=ACTIVATIONS), 6, 20
  supernet = enas_rnn.Supernet(space, vocab_size=vocab, units=units, batch_size=2)
  supernet.build_all()
  f = len(ACTIVATIONS)
  assert supernet.kernel_x.shape == supernet.kernel_h.shape == (f, units, 2 * units)
  assert [tuple(k.shape) for k in supernet.node_kernels] == [
      (f * i, units, 2 * units) for i in range(1, 4)]
  tokens = np.arange(8, dtype=np.int32).reshape(2, 4)

  def output(activation_of_node_2):
    nodes = [{"input": -1, "activation": "tanh"}, {"input": 0, "activation": "relu"},
             {"input": 1, "activation": activation_of_node_2},
             {"input": 0, "activation": "tanh"}]
    arch = space.as_tensors({"nodes": nodes})
    return supernet(tokens, *arch, training=False)[0].numpy()
  before = {a: output(a) for a in ACTIVATIONS}
  row = 1 * f + ACTIVATIONS.index("sigmoid")  # node 2 reading node 1 through sigmoid
  kernel = supernet.node_kernels[1]
  kernel.assign(tf.tensor_scatter_nd_update(kernel, [[row]], [tf.ones((units, 2 * units))]))
  for a in ACTIVATIONS:
    changed = not np.allclose(output(a), before[a])
    assert changed == (a == "sigmoid"), a


def test_enas_micro_paper_preset_is_the_micro_scripts():
  check(load_config("paper", "enas_micro"), ENAS_MICRO)


def test_enas_cosine_restarts_as_get_train_ops():
  # src/utils.py get_train_ops with lr_cosine: per epoch, T_curr = epoch - last_reset,
  # T_i doubling at each reset: cycles of 10, 20, 40, ... epochs.
  from nas_tf.models.schedules import EpochCosineRestarts
  schedule = EpochCosineRestarts(0.05, 0.0005, 10, 2.0, steps_per_epoch=3)
  last_reset, t_i, expected = 0, 10, []
  for epoch in range(310):
    if epoch - last_reset >= t_i:
      last_reset, t_i = epoch, t_i * 2
    expected.append(0.0005 + 0.5 * (0.05 - 0.0005) *
                    (1 + math.cos(math.pi * (epoch - last_reset) / t_i)))
  rates = [float(schedule(3 * epoch + 1)) for epoch in range(310)]
  np.testing.assert_allclose(rates, expected, rtol=1e-5)
  assert rates[10] == pytest.approx(0.05) and rates[30] == pytest.approx(0.05)


def test_ops_logits_use_the_reduced_tanh_constant():
  # micro_controller.py:182: op logits use tanh_constant / op_tanh_reduce, pointers the full
  # constant.
  import tensorflow as tf
  from nas_tf.strategies.controller import Controller
  controller = Controller({"op": 3}, units=4, tanh_constant=1.1, op_tanh_reduce=2.5)
  logits = tf.constant([[10.0, -10.0, 0.0]])
  np.testing.assert_allclose(controller.shape_logits(logits, op=True).numpy(),
                             [[0.44 * math.tanh(10), -0.44 * math.tanh(10), 0.0]], rtol=1e-6)
  np.testing.assert_allclose(controller.shape_logits(logits).numpy(),
                             [[1.1 * math.tanh(10), -1.1 * math.tanh(10), 0.0]], rtol=1e-6)


@pytest.mark.parametrize("name,task", [("darts", "cifar10"), ("enas_micro", "cifar10"),
                                       ("enas_ptb", "ptb")])
def test_every_preset_of_the_method_configs_is_valid(name, task):
  from nas_tf import config as config_lib, registry
  from nas_tf.presets import config_module
  module = config_module(name)
  for preset in module.PRESETS:
    config = module.get_config(preset)
    config.data.source = "synthetic"
    config_lib.validate(config)
    assert config.task == task and config.about.preset in module.PRESETS
    assert registry.build_space(config).name == ("enas_rnn" if task == "ptb" else "cell")


NAS_BENCH_201 = [
    ("search.time_budget", "12000s", "scripts-search/NAS-Bench-201-algos/R-EA.sh:36 and "
                                     "REINFORCE.sh:34 --time_budget 12000"),
    ("search.budget_rule", "nas_bench_201", "exps/NAS-Bench-201-algos/R_EA.py:217, "
                                            "RANDOM.py:99 (the crossing child is dropped)"),
    ("evolution.population", 10, "scripts-search/NAS-Bench-201-algos/R-EA.sh:37 "
                                 "--ea_population 10"),
]


_200E = "AutoDL-Projects configs/nas-benchmark/hyper-opts/200E.config"
NAS_BENCH_201_TRAINING = [  # what nas-tf train nasbench201 --arch=ARCH --config=paper trains
    ("task", "cifar10", "the images the benchmark's cifar10 column was measured on"),
    ("space.kind", "nasbench201", "the benchmark's network"),
    ("final.layers_per_stage", 5, "scripts-search/NAS-Bench-201/train-models.sh:40 "
                                  "--num_cells 5"),
    ("final.channels", 16, "scripts-search/NAS-Bench-201/train-models.sh:40 --channel 16"),
    ("final.lr_schedule", "cosine_epochs_nb201", f"{_200E}:2-3,5 cos, eta_min 0, no warmup"),
    ("final.epochs", 200, f"{_200E}:4"),
    ("final.learning_rate", 0.1, f"{_200E}:7"),
    ("final.weight_decay", 5e-4, f"{_200E}:8"),
    ("final.momentum", 0.9, f"{_200E}:9"),
    ("final.nesterov", True, f"{_200E}:10"),
    ("final.batch_size", 256, f"{_200E}:12"),
    ("final.drop_path", 0.0, "tiny_network.py has no drop-path"),
    ("final.auxiliary_weight", 0.0, "tiny_network.py has no auxiliary head"),
    ("final.cutout", 0, "get_dataset_with_transform.py:117-122: flip and crop only"),
    ("data.augment", True, "get_dataset_with_transform.py:118-119: flip, 4-pixel crop"),
]


def test_nas_bench_201_cells_train_as_the_benchmark_trained_them():
  from nas_tf.cli import arguments
  cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|" \
         "nor_conv_3x3~2|"
  _, config = arguments.command_config(["nas-tf", "train", "nasbench201", f"--arch={cell}",
                                        "--config=paper"])
  check(config, NAS_BENCH_201_TRAINING)


def test_nas_bench_201_protocol_is_the_benchmark_scripts():
  check(load_config("paper", "nasbench201"), NAS_BENCH_201)
  check(load_config("small", "nasbench201"), NAS_BENCH_201)


@pytest.mark.parametrize("task,method,preset,name", [("cifar10", "darts", "smoke", "darts"),
                                                     ("cifar10", "enas", "paper", "enas_macro"),
                                                     ("cifar10", "enas_micro", "paper",
                                                      "enas_micro"),
                                                     ("ptb", "enas", "paper", "enas_ptb")])
def test_one_flag_per_method_reaches_its_authors_config(tmp_path, task, method, preset, name):
  # --method=M: the method's config file and preset resolve through the CLI (from any
  # folder), which then stops at the (here absent) data in one line, before any training.
  from conftest import run_cli
  from nas_tf import presets
  absent = tmp_path / "absent"
  result = run_cli("search", task, f"--method={method}", f"--config={preset}",
                   f"--config.data.source={absent}", f"--workdir={tmp_path / 'w'}",
                   cwd=str(tmp_path))
  assert result.returncode == 2, result.stderr
  assert str(absent) in result.stderr and len(result.stderr.strip().splitlines()) == 1
  # The first line: the method's own duration (its paper's figure at paper, else measured).
  expected = presets.expected(task, method, preset)
  assert result.stdout.startswith(f"preset {preset} (asked for {preset}); expected duration: "
                                  f"{expected}"), result.stdout
  if preset == "paper":
    assert expected == presets.config_module(name).EXPECTED["paper"]
  # The same config as naming the file: the method's settings, nothing else changed.
  by_method = presets.resolve(task, preset, method)
  by_file = presets.resolve(task, f"{name}:{preset}")
  assert by_method.to_dict() == by_file.to_dict()


@pytest.mark.parametrize("preset", ["smoke", "cpu"])
@pytest.mark.parametrize("task,rows", [("enas_macro", ENAS_CONTROLLER), ("enas_micro", ENAS_CONTROLLER
                                       + [r for r in ENAS_MICRO if (r[0].startswith(
                                           "enas.controller.") or r[0] ==
                                           "enas.auxiliary_weight") and r[0] not in (
                                           "enas.controller.steps", "enas.controller.batch")]),
                                       ("ptb", ENAS_CONTROLLER + [
                                           r for r in ENAS_RNN if r[0] in (
                                               "enas.controller.units", "enas.activations",
                                               "enas.controller.sampled_entropy")])])
def test_smaller_presets_keep_the_enas_controllers(preset, task, rows):
  # A controller costs the same at every preset: the smaller ones differ from `paper` only in
  # the controller's steps and batch, never in how it samples or learns.
  check(load_config(preset, task), rows)


def test_batch_norm_epsilon_is_each_methods_authors():
  # 1e-5: ENAS src/cifar10/image_ops.py:92 batch_norm(epsilon=1e-5), DARTS' torch
  # BatchNorm2d default (cnn/operations.py, model_search.py), NASNet's CIFAR arg scope
  # (tensorflow/models research/slim/nets/nasnet/nasnet.py nasnet_cifar_arg_scope
  # batch_norm_epsilon=1e-5), which the published cells train with. NAS-RL published no code:
  # Keras' default 1e-3.
  import keras
  from nas_tf.models import cell, cnn_macro, darts_network, enas_macro
  from nas_tf.spaces.cnn_macro import CNNSearchSpace
  from nas_tf.spaces.published import BY_NAME
  from nas_tf.strategies.random_search import RandomSearch

  def epsilons(model):
    return {layer.epsilon for layer in model._flatten_layers()
            if isinstance(layer, keras.layers.BatchNormalization)}
  darts_search = darts_network.SearchNetwork(OP_SETS["darts"], 4, layers_per_stage=1,
                                             channels=4)
  alpha = np.zeros((1, 14, len(OP_SETS["darts"])), np.float32)  # 4 nodes: 14 edges
  darts_search([np.zeros((1, 32, 32, 3), np.float32), alpha, alpha])
  assert epsilons(darts_search) == {1e-5} and len(list(darts_search._flatten_layers())) > 20
  assert epsilons(cell.build_classifier(BY_NAME["darts_v2"].architecture(), channels=4,
                                        layers_per_stage=1, auxiliary_weight=0.4)) == {1e-5}
  macro = BY_NAME["enas_macro"].architecture()
  assert epsilons(enas_macro.build_child(dict(macro, channels=4))) == {1e-5}
  space = CNNSearchSpace()
  nas_rl = space.decode(RandomSearch(space.token_types).propose(space.plan(3), 1, [0, 1])[0], 3)
  assert epsilons(cnn_macro.build_cnn(nas_rl)) == {1e-3}
