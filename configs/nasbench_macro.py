"""NAS-Bench-Macro lookup search (Su et al., CVPR 2021): all 6,561 macro chains' published
results. The benchmark has no validation split (the search signal is the first run's test
accuracy, the reported number the three runs' mean) and no training times (each query costs
``data.seconds_per_child`` simulated seconds). ``data.source`` is the JSON table: ``bundled``
(the package's copy) or a path (format: docs/tabular.md).

The presets and every other key are those of ``configs/nasbench201.py``.
"""

import ml_collections

from nas_tf.presets import config_module

_nasbench201 = config_module("nasbench201")
PRESETS = {
    "auto": "the default: small (lookups need no accelerator, so on any machine)",
    "small": "12,000 simulated seconds (120 queries) with NAS-RL settings for hundreds of "
             "children: m=1, Adam 0.01, baseline decay 0.9",
    "paper": "the same budget with Zoph & Le's exact controller settings (m=8, Adam 6e-4, "
             "baseline decay 0.95, reward accuracy^3)",
    "smoke": "small's settings for 1,200 simulated seconds (12 queries)",
}


def get_config(preset: str = "auto") -> ml_collections.ConfigDict:
  c = _nasbench201.get_config(preset, task="nasbench_macro")
  del c.data["dataset"]
  c.data.source = "bundled"      # the package's copy, or a path to nas-bench-macro_cifar10.json
  c.data.seconds_per_child = 100.0  # simulated cost of a query (no published training times)
  if c.about.preset != "smoke":
    c.search.time_budget = "12000s"  # 120 children at 100 s each
  return c
