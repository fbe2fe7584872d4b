"""Penn Treebank recurrent-cell search (Zoph & Le 2017, section 4.2).

Presets, chosen with ``--config=configs/ptb.py:PRESET``; override any key with
``--config.a.b=value``.
"""

import ml_collections

from nas_tf import config as config_lib
from nas_tf.runtime import hardware

PRESETS = {
    "auto": "the default: paper when GPUs are visible, else cpu",
    "paper": "the paper's cell space (base number 8), 35 epochs per child: GPU scale",
    "default": "the same as paper (its earlier name)",
    "cpu": "24 small cells (base number 2), 2 epochs each",
    "smoke": "8 small cells (base number 2), 2 epochs each",
}
# Durations that are not this machine's: the papers' figures (the machine-sized presets' are
# measured by benchmarks/durations.py into nas_tf/durations.json).
EXPECTED = {
    "paper": "GPU-days (the paper's cell search ran on 400 GPUs)",
}


def get_config(preset: str = "auto") -> ml_collections.ConfigDict:
  preset, _, about = hardware.choose_preset(preset, PRESETS)
  c = ml_collections.ConfigDict()
  c.task = "ptb"
  c.seed = 0
  c.about = about  # what was chosen, why, and how long it should take

  c.data = ml_collections.ConfigDict()
  c.data.source = "data/ptb"      # folder with ptb.{train,valid,test}.txt, or 'synthetic'
  c.data.max_train_tokens = 0     # 0 = all
  c.data.max_valid_tokens = 0

  c.space = ml_collections.ConfigDict()
  c.space.base_number = 8         # leaves of the cell tree

  c.controller = config_lib.controller_block()
  c.evolution = config_lib.evolution_block(population=50, sample_size=10)  # search.strategy=evolution
  c.guided = config_lib.guided_block()  # search.strategy=guided

  c.search = ml_collections.ConfigDict()
  c.search.strategy = "nas_rl"
  c.search.num_children = 2_000
  c.search.batch_size = 8
  c.search.failure_reward = 0.0
  c.search.max_consecutive_failures = 10
  c.search.async_updates = False  # True: update once m new results are in, others still training
  c.search.keep_weights = 5      # the best N children keep their trained weights (for export)
  c.search.time_budget = ""      # e.g. 90s, 45m, 8h, 2d: stop cleanly at a child boundary
  # What the search optimizes: the metric, or it under a size/latency budget (docs/objectives.md).
  c.search.objective = config_lib.objective_block()

  c.child = ml_collections.ConfigDict()
  c.child.units = 200             # embedding and hidden size (equal, for weight tying)
  c.child.num_layers = 2
  c.child.dropout = 0.2           # variational: one mask per sequence
  c.child.tie_weights = True
  c.child.epochs = 35
  c.child.batch_size = 20
  c.child.bptt = 35               # truncated backpropagation through time
  c.child.learning_rate = 1.0     # SGD as in Zaremba et al. 2014
  c.child.lr_schedule = "cosine"  # or exponential: x lr_decay_rate per epoch from an epoch on
  c.child.lr_decay_rate = 1.0
  c.child.lr_decay_start = 0
  c.child.learning_rate_min = 0.0
  c.child.clip_norm = 5.0
  c.child.weight_decay = 0.0      # weight_decay x w joins the gradient before the clipping
  c.child.jit_compile = False    # XLA
  c.child.precision = "float32"  # or mixed_float16 (GPU), mixed_bfloat16 (TPU, recent CPUs)
  c.child.strategy = "default"   # "mirrored": one child over all visible GPUs
  c.child.timeout_s = 0.0
  # ENAS cells (search.strategy=enas): variational dropout of every node's input, and
  # dropout of whole word types in the embedding (ENAS's h and e masks).
  c.child.recurrent_dropout = 0.0
  c.child.embedding_dropout = 0.0
  # ENAS's final script: the last layer's output dropout apart from the others' (unset: the
  # same as child.dropout), and its penalty on the output's steps (rnn_slowness_reg).
  c.child.output_dropout = ml_collections.config_dict.placeholder(float)
  c.child.slowness_reg = 0.0

  # Final training of the found cell (nas-tf train): overrides child.* keys.
  c.final = ml_collections.ConfigDict()
  c.final.strategy = "mirrored"  # over all visible GPUs (no strategy on one device)
  c.final.epochs = 40
  c.final.dropout = 0.5
  c.final.timeout_s = 0.0

  c.reward = ml_collections.ConfigDict()
  c.reward.constant = 80.0        # reward = c / perplexity^2 (the paper's appendix)
  c.reward.window = 1             # best perplexity of the last N epochs

  c.executor = config_lib.executor_block()

  # ENAS (search.strategy=enas; Pham et al. 2018, section 2.1): a supernet of the ENAS cell
  # (a DAG of num_nodes highway nodes, W_ij for every pair) trained with truncated BPTT, a
  # freshly sampled cell per minibatch; then controller steps rewarded by c / perplexity
  # on a validation minibatch. The child.* settings size the supernet's language model.
  # The values are melodyguan/enas' scripts/ptb_search.sh, whose loss sums the 35 steps'
  # token losses (ptb_enas_child.py line 189): on the mean per token used here its learning
  # rate 0.25, clipping 10 and l2_reg 1e-7 are 35 times larger, smaller and smaller.
  # configs/enas_ptb.py: its language model too (720 units, its dropouts).
  c.enas = ml_collections.ConfigDict()
  c.enas.num_nodes = 12          # --child_rhn_depth=12
  c.enas.epochs = 100            # --num_epochs=100
  c.enas.learning_rate = 0.25 * 35  # plain SGD (momentum 0), --child_lr=0.25 on the sum
  c.enas.lr_decay_rate = 0.95    # x0.95 per epoch ...
  c.enas.lr_decay_start = 12     # ... from epoch 12 (--child_lr_dec_start=12)
  c.enas.learning_rate_min = 0.0005 * 35  # --child_lr_dec_min=0.0005
  c.enas.momentum = 0.0
  c.enas.weight_decay = 2e-7 / 35  # a gradient: --child_l2_reg=1e-7 on sum(w^2) and the sum
  c.enas.clip_norm = 10.0 / 35   # --child_grad_bound=10.0, global norm
  c.enas.reward_constant = 80.0  # reward = c / validation perplexity
  # ENAS's code samples tanh and ReLU only (ptb_enas_controller.py num_funcs=2); the paper
  # also names identity and sigmoid: tanh,relu,identity,sigmoid.
  c.enas.activations = "tanh,relu"
  # Layer-normalize each node's pre-activation (search and final cell alike). The authors'
  # final cell has none (their search cell a batch norm); identity among the activations
  # overflows without it (docs/enas.md).
  c.enas.layer_norm = False
  c.enas.controller = config_lib.controller_block(
      **config_lib.ENAS_CONTROLLER, units=100, learning_rate=1e-3, baseline_decay=0.99,
      entropy_weight=1e-3, temperature=5.0, tanh_constant=2.5, sampled_entropy=True)
  c.enas.controller.steps = 100  # REINFORCE steps per epoch (ENAS's ptb_search.sh)
  c.enas.controller.batch = 10   # architectures aggregated per REINFORCE step
  c.enas.derive_samples = 100    # cells sampled and scored at the end

  if preset in ("smoke", "cpu"):
    c.executor.recycle_every = 0  # 8 children: not worth a worker's start-up
    c.space.base_number = 2
    c.search.num_children = 8 if preset == "smoke" else 24
    c.search.batch_size = 4
    c.evolution = config_lib.evolution_block(population=4 if preset == "smoke" else 8,
                                             sample_size=2)
    c.guided = config_lib.guided_block(initial=4 if preset == "smoke" else 8, refit_every=4)
    c.child.units = 64
    c.child.num_layers = 1
    c.child.dropout = 0.0
    c.child.epochs = 2
    c.final.epochs = 3
    c.final.dropout = 0.0
    c.enas.num_nodes = 4
    c.enas.epochs = 4 if preset == "smoke" else 10
    c.enas.controller.steps = 10
    c.enas.controller.batch = 2
    c.enas.derive_samples = 8 if preset == "smoke" else 16
  return c
