"""ENAS's macro search on CIFAR-10 (Pham et al. 2018, section 2.2), as melodyguan/enas'
``scripts/cifar10_macro_search.sh`` runs it.

    nas-tf search cifar10 --method=enas --config=paper

``paper``: ``configs/cifar10.py``'s ENAS block (12 layers of 36 channels, 310 epochs of
shared weights, cosine with warm restarts, the macro controller) at the script's batch 128;
``configs/cifar10.py`` itself trains NAS-RL's children at the paper's batch 64.
``tests/test_paper_settings.py`` checks every value against the script. ``cpu`` and
``smoke`` are CIFAR-10's presets with ENAS's strategy on the macro space.
"""

from nas_tf.presets import method_config

PRESETS = {
    "auto": "the default: paper when GPUs are visible, else cpu",
    "paper": "ENAS's cifar10_macro_search.sh: 310 epochs of a 12-layer supernet, batch 128",
    "gpu": "CIFAR-10's gpu preset searched by ENAS, at the script's batch 128",
    "cpu": "20 epochs of a 6-layer supernet on 2,000 images",
    "smoke": "10 epochs of a 4-layer supernet on 1,000 images",
}
# Durations that are not this machine's: the papers' figures (the machine-sized presets' are
# measured by benchmarks/durations.py into nas_tf/durations.json).
EXPECTED = {
    "paper": "about half a GPU-day for the search (the paper: 0.32 GPU-days; not measured here)",
}


def get_config(preset: str = "auto"):
  preset, c = method_config("cifar10", preset, PRESETS)
  c.search.strategy = "enas"
  c.space.kind = "enas_macro"
  if preset in ("paper", "gpu"):
    c.child.batch_size = 128  # --batch_size=128
  return c
