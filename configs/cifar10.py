"""CIFAR-10 CNN search (Zoph & Le 2017, section 4.1).

Presets, chosen with ``--config=configs/cifar10.py:PRESET``; override any key with
``--config.a.b=value``.
"""

import ml_collections

from nas_tf import config as config_lib
from nas_tf.runtime import hardware

PRESETS = {
    "auto": "the default: gpu when GPUs are visible, else cpu",
    "paper": "the paper: 12,800 children x 50 epochs on 45k images, m=8 (weeks on 800 GPUs)",
    "default": "the same as paper (its earlier name)",
    "gpu": "a day's search on the visible GPUs (unmeasured estimate): 20-epoch children",
    "cpu": "64 children on 2,000 images, 3 epochs each",
    "smoke": "8 small children on 1,000 images, 3 epochs each",
}
# Durations that are not this machine's: the papers' figures (the machine-sized presets' are
# measured by benchmarks/durations.py into nas_tf/durations.json).
EXPECTED = {
    "paper": "about 22,400 GPU-days in the paper",
    "gpu": "about a day (an estimate: not yet measured on a GPU)",
}


def get_config(preset: str = "auto") -> ml_collections.ConfigDict:
  preset, gpus, about = hardware.choose_preset(preset, PRESETS)
  c = ml_collections.ConfigDict()
  c.task = "cifar10"
  c.seed = 0
  c.about = about  # what was chosen, why, and how long it should take

  c.data = ml_collections.ConfigDict()
  c.data.source = "tfds"         # 'tfds', 'synthetic', cifar-10-python.tar.gz or its folder
  c.data.val_fraction = 0.1      # 45k/5k
  c.data.max_train_examples = 0  # 0 = all
  c.data.max_val_examples = 0
  c.data.augment = True

  c.space = ml_collections.ConfigDict()
  c.space.kind = "cnn"           # cnn: NAS-RL's macro CNN; cell: normal + reduction cells;
  # user: your build_model(hp), named by space.build = "module:function" (docs/your-space.md)
  c.space.build = ""
  # Its decisions (JSON), found when the search starts and kept here: resume, show, train and
  # worker processes then use the same list without calling build_model again.
  c.space.decisions = ""
  # enas_macro: ENAS's macro space (enas.num_layers etc.), what ENAS searches by default
  c.space.filter_heights = (1, 3, 5, 7)
  c.space.filter_widths = (1, 3, 5, 7)
  c.space.num_filters = (24, 36, 48, 64)
  c.space.strides = (1, 2, 3)
  c.space.search_strides = False
  # space.kind=cell (Zoph et al. 2018; ENAS micro, PNAS, DARTS): B blocks per cell.
  # "auto": the paper of search.strategy (PNAS: pnas ops, one cell for
  # both; DARTS: darts ops, output "all", 4 nodes; otherwise ENAS micro's).
  c.space.ops = "auto"           # op set: enas, pnas, darts, or op names "a,b,..."
  c.space.num_blocks = 0         # B; 0 = auto: 5, DARTS 4 (PNAS grows cells to B blocks)
  c.space.cell_output = "auto"   # loose_ends or all (DARTS)
  c.space.same_cell_for_reduction = "auto"  # auto, true or false (one cell for both)

  c.controller = config_lib.controller_block()
  # Zero-cost warm-up (nas_rl.py): the controller first learns from this many of its samples
  # scored untrained by warm_start (naswot, synflow, ...; '' = off), then trains children.
  c.controller.warm_start = ""
  c.controller.warm_start_samples = 100
  # search.strategy=evolution: Real et al. 2019 searched 20k children with P=100, S=25.
  c.evolution = config_lib.evolution_block(population=100, sample_size=25)
  c.guided = config_lib.guided_block()  # search.strategy=guided
  # --method=zero_cost and nas-tf score: training-free scores (docs/zero_cost.md).
  c.zero_cost = config_lib.zero_cost_block()

  c.search = ml_collections.ConfigDict()
  # nas_rl, random, evolution (same space, same budget), pnas or darts (cells), or enas
  c.search.strategy = "nas_rl"
  c.search.num_children = 12_800
  c.search.batch_size = 8        # m: children per controller update
  c.search.start_depth = 6
  c.search.depth_step = 2
  c.search.depth_every = 1_600
  c.search.failure_reward = 0.0
  c.search.max_consecutive_failures = 10
  c.search.async_updates = False  # True: update once m new results are in, others still training
  c.search.keep_weights = 5      # the best N children keep their trained weights (for export)
  c.search.time_budget = ""      # e.g. 90s, 45m, 8h, 2d: stop cleanly at a child boundary
  # What the search optimizes: the metric, or it under a size/latency budget (docs/objectives.md).
  c.search.objective = config_lib.objective_block()

  c.child = ml_collections.ConfigDict()
  c.child.epochs = 50
  # NAS-RL's children (Zoph & Le 2017, section 4.1) train as Huang et al. 2016 train DenseNet:
  # batch 64, the rate /10 at 50% and 75% of the epochs (configs/enas_macro.py: ENAS's 128).
  c.child.batch_size = 64
  c.child.eval_batch_size = 500
  c.child.learning_rate = 0.1
  c.child.lr_schedule = "step"
  # Also cosine (per step), cosine_epochs (DARTS', per epoch, ending at 0), cosine_epochs_nb201
  # (NAS-Bench-201's, per epoch, starting at the full rate) and constant.
  # cosine_restarts (ENAS's final training): from learning_rate down to learning_rate_min in
  # cycles of lr_restart_epochs x lr_restart_mul^i epochs.
  c.child.learning_rate_min = 0.0
  c.child.lr_restart_epochs = 10
  c.child.lr_restart_mul = 2.0
  c.child.momentum = 0.9
  c.child.nesterov = True
  c.child.weight_decay = 1e-4
  c.child.jit_compile = False    # XLA
  c.child.precision = "float32"  # or mixed_float16 (GPU), mixed_bfloat16 (TPU, recent CPUs)
  c.child.strategy = "default"   # "mirrored": one child over all visible GPUs
  c.child.timeout_s = 0.0        # 0 = no limit
  # Cell networks (space.kind=cell): N cells per stage, C channels in the first stage.
  c.child.layers_per_stage = 2
  c.child.channels = 16
  c.child.drop_path = 0.0        # maximum drop-path rate, reached linearly at the last epoch
  c.child.auxiliary_weight = 0.0  # weight of the auxiliary head's loss (0 = no head)
  c.child.cutout = 0             # side of the cutout square, pixels (0 = off)
  c.child.clip_norm = 0.0        # global gradient-norm clipping (0 = off)
  c.child.dropout = 0.0          # before the classifier (ENAS macro children)

  # PNAS (search.strategy=pnas, space.kind=cell; Liu et al. 2018): round b trains the top
  # `beam` b-block cells ranked by a surrogate fitted on every child so far (round 1: every
  # 1-block cell, 136 with the pnas ops, or a random `beam` of them); paper: K=256, B=5.
  c.pnas = ml_collections.ConfigDict()
  c.pnas.beam = 256              # K: cells trained per round
  c.pnas.max_blocks = 0          # B of the last round (0 = space.num_blocks)
  c.pnas.predictors = ("lstm", "mlp")  # the surrogate ensemble's members, in turn
  c.pnas.ensemble = 5            # members, each fitted without one fold of the data
  c.pnas.epochs = 40
  c.pnas.units = 64              # embedding and hidden width
  c.pnas.learning_rate = 0.01    # Adam, L1 loss

  # DARTS (search.strategy=darts, space.kind=cell; Liu et al. 2019, quark0/darts): a supernet
  # of mixed ops, weights by SGD on half the training images, alpha by Adam on the other half.
  c.darts = ml_collections.ConfigDict()
  c.darts.order = 1              # 1: first-order; 2: the unrolled second-order gradient
  c.darts.epochs = 50
  c.darts.layers_per_stage = 2   # N: 3N+2 cells (8, reductions at 1/3 and 2/3)
  c.darts.channels = 16
  c.darts.batch_size = 64
  c.darts.learning_rate = 0.025  # SGD, cosine-annealed per epoch to learning_rate_min
  c.darts.learning_rate_min = 0.001
  c.darts.momentum = 0.9
  c.darts.weight_decay = 3e-4    # added to the gradient (torch's weight_decay)
  c.darts.clip_norm = 5.0
  c.darts.arch_learning_rate = 3e-4  # Adam, betas (0.5, 0.999)
  c.darts.arch_weight_decay = 1e-3

  # ENAS (search.strategy=enas; Pham et al. 2018), as melodyguan/enas'
  # scripts/cifar10_macro_search.sh runs it: one supernet of shared weights, per epoch one pass
  # over the training split (a fresh architecture per minibatch, with child.batch_size) then
  # controller.steps REINFORCE steps rewarded by validation-minibatch accuracy.
  # configs/enas_micro.py: the micro (cell) search's script.
  c.enas = ml_collections.ConfigDict()
  c.enas.num_layers = 12
  c.enas.channels = 36
  c.enas.reduce_at = ()          # layers preceded by a 2x pooling; () = at L/3 and 2L/3
  c.enas.epochs = 310            # 10 + 20 + 40 + 80 + 160: five cosine cycles
  c.enas.learning_rate = 0.05    # SGD, Nesterov momentum 0.9, cosine with warm restarts:
  c.enas.learning_rate_min = 0.0005
  c.enas.lr_restart_epochs = 10  # T0 (0: one cosine decay over the search)
  c.enas.lr_restart_mul = 2.0    # Tmul
  c.enas.weight_decay = 5e-4     # gradient 5e-4 w: the script's l2_reg 2.5e-4 sum(w^2)
  c.enas.clip_norm = 0.0         # ENAS's "norm" clipping appends the unclipped gradient
  c.enas.dropout = 0.1           # before the classifier (keep 0.9)
  # The micro search's auxiliary head (configs/enas_micro.py: 0.4); the macro search has none.
  c.enas.auxiliary_weight = 0.0
  # The shared step: "traced" (one graph, a switch per slot, for every architecture),
  # "composed" (eager, of pieces traced once each: models/pieces.py; the micro supernet), or
  # "auto": composed where the supernet composes and there is no GPU (it starts in seconds:
  # strategies/enas.py), else traced.
  c.enas.step = "auto"
  # Batch norm when the controller's reward is scored: "batch" statistics (training mode,
  # dropout included: ENAS micro, micro_child.py lines 244 and 804), "moving" averages (ENAS
  # macro, general_child.py build_valid_rl), or "auto": the supernet's paper (your own
  # space: moving).
  c.enas.reward_statistics = "auto"
  # ENAS's controller as the macro script sets it: a 64-unit LSTM, +-0.1 init, Adam 1e-3,
  # logits 1.5 * tanh(logits), links sampled from ENAS's two logits with a KL penalty
  # (weight 0.8) toward a 0.4 link rate, the entropy bonus on the reward, the baseline moved
  # per architecture, 20 architectures aggregated per step. The paper's text: Adam 3.5e-4,
  # 2.5 * tanh(logits / 5) (--config.enas.controller.learning_rate=3.5e-4 ...).
  c.enas.controller = config_lib.controller_block(
      **config_lib.ENAS_CONTROLLER, units=64, learning_rate=1e-3, baseline_decay=0.99,
      entropy_weight=1e-4, temperature=0.0, tanh_constant=1.5, enas_links=True,
      skip_target=0.4, skip_weight=0.8, sampled_entropy=True)
  c.enas.controller.steps = 50   # REINFORCE steps per epoch
  c.enas.controller.batch = 20   # architectures aggregated per REINFORCE step
  c.enas.derive_samples = 100    # architectures sampled and scored at the end

  # Final training of the found architecture (nas-tf train): overrides child.* keys.
  c.final = ml_collections.ConfigDict()
  c.final.strategy = "mirrored"  # over all visible GPUs (no strategy on one device)
  c.final.epochs = 300
  c.final.width = 1.0            # filter multiplier (the paper's "more filters" variants)
  c.final.lr_schedule = "cosine"
  c.final.timeout_s = 0.0
  # Cell networks: ENAS micro's final network (N=6, 20 channels) with the final-training
  # recipe of DARTS/ENAS/PNAS: drop-path, auxiliary head (0.4), cutout 16.
  c.final.layers_per_stage = 6
  c.final.channels = 20
  c.final.drop_path = 0.2
  c.final.auxiliary_weight = 0.4
  c.final.cutout = 16
  c.final.dropout = 0.5          # ENAS macro's final network: keep 0.5 before the classifier

  c.reward = ml_collections.ConfigDict()
  c.reward.window = 5            # max validation accuracy over the last 5 epochs ...
  c.reward.exponent = 3.0        # ... cubed

  c.executor = config_lib.executor_block()

  if preset == "paper":
    pass
  elif preset == "gpu":
    gpus = max(gpus, 1)
    c.executor.kind = "processes"  # one worker per child slot, each pinned to its GPU
    c.executor.children_per_gpu = 2  # small children leave a GPU idle between steps
    c.executor.recycle_every = 50
    c.search.num_children = 800 * gpus
    c.search.depth_every = 200 * gpus
    c.child.epochs = 20
    c.child.timeout_s = 3600.0
    c.final.epochs = 300
  elif preset == "cpu":
    c.data.max_train_examples = 2_000
    c.data.max_val_examples = 500
    c.space.num_filters = (24, 36)
    c.search.num_children = 64
    c.search.batch_size = 4
    c.evolution = config_lib.evolution_block(population=16, sample_size=4)
    c.guided = config_lib.guided_block(initial=16, refit_every=8)
    c.search.start_depth = 3
    c.search.depth_every = 32
    c.search.depth_step = 1
    c.child.epochs = 3
    c.child.batch_size = 64
    c.final.epochs = 20
    c.space.num_blocks = 3         # space.kind=cell: B=5 children took ~75 s each here
    c.child.layers_per_stage = 1
    c.child.channels = 8
    c.final.layers_per_stage = 2
    c.final.channels = 16
    c.pnas.beam = 16
    c.darts.epochs = 10
    c.darts.layers_per_stage = 1
    c.darts.channels = 8
    c.enas.num_layers = 6
    c.enas.channels = 24
    c.enas.epochs = 20
    c.enas.controller.steps = 20
    c.enas.controller.batch = 4
    c.enas.derive_samples = 32
  elif preset == "smoke":
    c.executor.recycle_every = 0  # 8 children: not worth a worker's start-up
    c.data.max_train_examples = 1_000
    c.data.max_val_examples = 500
    c.space.filter_heights = (1, 3, 5)
    c.space.filter_widths = (1, 3, 5)
    c.space.num_filters = (24, 36)
    c.search.num_children = 8
    c.search.batch_size = 4
    c.evolution = config_lib.evolution_block(population=4, sample_size=2)
    c.guided = config_lib.guided_block(initial=4, refit_every=4)
    c.search.start_depth = 2
    c.search.depth_every = 4
    c.search.depth_step = 2
    c.child.epochs = 3
    c.child.batch_size = 32
    c.child.learning_rate = 0.05
    c.final.epochs = 5
    c.space.num_blocks = 3
    c.child.layers_per_stage = 1
    c.child.channels = 8
    c.final.layers_per_stage = 1
    c.final.channels = 8
    c.final.drop_path = 0.1
    c.pnas.beam = 4                # 2 rounds of 4: the 8 children
    c.pnas.max_blocks = 2
    c.darts.epochs = 2
    c.darts.layers_per_stage = 1
    c.darts.channels = 4
    c.darts.batch_size = 32
    c.enas.num_layers = 4
    c.enas.channels = 16
    c.enas.epochs = 10
    c.enas.controller.steps = 10
    c.enas.controller.batch = 2
    c.enas.derive_samples = 8
  return c
