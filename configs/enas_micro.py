"""ENAS's micro (cell) search on CIFAR-10 (Pham et al. 2018, section 2.3), as melodyguan/enas'
``scripts/cifar10_micro_search.sh`` runs it.

    nas-tf search cifar10 --config=configs/enas_micro.py:paper

``paper``: the search network of 8 cells (N=2) with 20 channels, 150 epochs of shared
weights at batch 160 (cosine with warm restarts, 10 + 20 + 40 + 80 epochs, 0.05 to 0.0005),
weight decay 2e-4 as a gradient (the script's l2_reg 1e-4 sum(w^2)), dropout 0.1 before the
classifier, and the micro controller: Adam 3.5e-3 (beta1 0, epsilon 1e-3), 1.1 * tanh(logits)
for inputs and 0.44 * tanh for ops (op_tanh_reduce 2.5), ENAS's op priors, 30 steps of 10
architectures per epoch (the controller's settings hold under every preset). The final
network follows ``cifar10_micro_final.sh`` where nas-tf's cell network has the option (N=5,
36 channels, 630 epochs at batch 144, weight decay 4e-4, drop-path 0.4, auxiliary head).
``tests/test_paper_settings.py`` checks every value against the scripts. ``cpu`` and
``smoke`` are CIFAR-10's presets with ENAS's strategy on the cell space.
"""

from nas_tf.presets import method_config

PRESETS = {
    "auto": "the default: paper when GPUs are visible, else cpu",
    "paper": "ENAS's cifar10_micro_search.sh (150 epochs of an 8-cell supernet) and "
             "cifar10_micro_final.sh's network (17 cells of 36 channels, 630 epochs)",
    "cpu": "20 epochs of a 5-cell supernet on 2,000 images",
    "smoke": "10 epochs of a tiny supernet on 1,000 images",
}
# Durations that are not this machine's: the papers' figures (the machine-sized presets' are
# measured by benchmarks/durations.py into nas_tf/durations.json).
EXPECTED = {
    "paper": "about half a GPU-day for the search (the paper: 0.45 GPU-days), days for the "
             "final training (not measured here)",
}


def get_config(preset: str = "auto"):
  preset, c = method_config("cifar10", preset, PRESETS)
  c.search.strategy = "enas"
  c.space.kind = "cell"
  # The micro controller, under every preset (its cost does not grow with the preset).
  c.enas.controller.learning_rate = 3.5e-3  # --controller_lr=0.0035
  c.enas.controller.tanh_constant = 1.1     # --controller_tanh_constant=1.10
  c.enas.controller.op_tanh_reduce = 2.5    # --controller_op_tanh_reduce=2.5
  c.enas.controller.skip_weight = 0.0  # no skip penalty in the micro script (main.py:78)
  c.enas.controller.skip_target = 0.0
  c.enas.controller.sampled_entropy = False  # the full entropy (micro_controller.py:193)
  c.enas.controller.op_priors = True   # micro_controller.py:100-109, 184-185
  # --child_use_aux_heads: 0.4 x the auxiliary head's loss (micro_child.py:707-711), the head
  # itself never trained (lines 721-723; models/auxiliary.py).
  c.enas.auxiliary_weight = 0.4
  if preset == "cpu":
    # Its 20 epochs of many short steps: the traced step's 10 s more start-up (measured on 2
    # CPU cores) is repaid by its steps at 0.78x the composed one's (benchmarks/enas_startup.py
    # --preset=cpu; the smoke preset, shorter, starts composed: enas.step's auto).
    c.enas.step = "traced"
  if preset == "paper":
    c.child.batch_size = 160             # --batch_size=160
    c.child.layers_per_stage = 2         # --child_num_layers=6: 8 cells, pools at 2 and 5
    c.child.channels = 20                # --child_out_filters=20
    c.enas.epochs = 150                  # --num_epochs=150
    c.enas.weight_decay = 2e-4           # --child_l2_reg=1e-4 (on sum(w^2): gradient 2e-4 w)
    c.enas.controller.steps = 30         # --controller_train_steps=30
    c.enas.controller.batch = 10         # --controller_num_aggregate=10
    # cifar10_micro_final.sh, where the cell network has the option
    c.final.layers_per_stage = 5         # --child_num_layers=15: 17 cells, pools at 5 and 11
    c.final.channels = 36                # --child_out_filters=36
    c.final.epochs = 630                 # --num_epochs=630
    c.final.batch_size = 144             # --batch_size=144
    c.final.learning_rate = 0.05         # --child_lr_max=0.05
    c.final.weight_decay = 4e-4          # --child_l2_reg=2e-4
    c.final.drop_path = 0.4              # --child_drop_path_keep_prob=0.60
    c.final.auxiliary_weight = 0.4       # --child_use_aux_heads (micro_child.py: 0.4 * aux)
    c.final.cutout = 0                   # no --child_cutout_size
  return c
