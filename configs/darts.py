"""DARTS (Liu, Simonyan & Yang, ICLR 2019) on CIFAR-10, as its authors' scripts run it.

    nas-tf search cifar10 --config=configs/darts.py:paper

``paper``: the search of quark0/darts ``cnn/train_search.py --unrolled`` (its README's
command: second order, DARTS V2; ``--config.darts.order=1`` is V1) and the final training of
``cnn/train.py`` with the README's ``--auxiliary --cutout``: 600 epochs of a 20-cell
network with 36 initial channels. ``tests/test_paper_settings.py`` checks every value
against the line of the script it comes from. ``cpu`` and ``smoke`` are CIFAR-10's presets
with DARTS' strategy and space.
"""

from nas_tf.presets import method_config

PRESETS = {
    "auto": "the default: paper when GPUs are visible, else cpu",
    "paper": "DARTS' train_search.py --unrolled (second order, 50 epochs, 8 cells of 16 "
             "channels) and train.py --auxiliary --cutout (600 epochs, 20 cells of 36)",
    "cpu": "10 search epochs of 5 cells on 2,000 images, 20 final epochs",
    "smoke": "2 search epochs of 5 tiny cells on 1,000 images, 5 final epochs",
}
# Durations that are not this machine's: the papers' figures (the machine-sized presets' are
# measured by benchmarks/durations.py into nas_tf/durations.json).
EXPECTED = {
    "paper": "about a GPU-day for the search (the paper's figure for second order) and "
             "1-2 GPU-days for the final training (not measured here)",
}


def get_config(preset: str = "auto"):
  preset, c = method_config("cifar10", preset, PRESETS)
  c.search.strategy = "darts"
  c.space.kind = "cell"
  if preset == "paper":
    c.darts.order = 2                      # the README's train_search.py --unrolled
    # cnn/train.py (with --auxiliary --cutout, as its README runs it): the final network.
    c.final.epochs = 600
    c.final.batch_size = 96
    c.final.learning_rate = 0.025
    c.final.lr_schedule = "cosine_epochs"  # CosineAnnealingLR stepped before each epoch
    c.final.momentum = 0.9
    c.final.nesterov = False
    c.final.weight_decay = 3e-4
    c.final.clip_norm = 5.0
    c.final.channels = 36
    c.final.layers_per_stage = 6           # --layers 20: 3 stages of 6 and 2 reductions
    c.final.cutout = 16
    c.final.drop_path = 0.2
    c.final.auxiliary_weight = 0.4
  return c
