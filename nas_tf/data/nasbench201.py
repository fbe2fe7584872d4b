"""``nas-tf build-table nasbench201 PATH``: the NAS-Bench-201 CSV that ``nasbench201`` reads
(``data.source``; docs/tabular.md), made from the official benchmark file with the NATS-Bench
API (``pip install nats_bench``; the topology file, e.g. ``NATS-tss-v1_0-3ffb9-simple``). The
package's own table has these columns for all 15,625 cells; build it yourself for a newer
export of the benchmark or to check the bundled copy.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys

# (dataset as NATS-Bench names it, hp, the info's key) of each column.
COLUMNS = {
    "c10valid12_valid_acc": ("cifar10-valid", "12", "valid-accuracy"),
    "c10_12_test_acc": ("cifar10", "12", "test-accuracy"),
    "c100_12_valid_acc": ("cifar100", "12", "valid-accuracy"),
    "c100_12_test_acc": ("cifar100", "12", "test-accuracy"),
    "in16_12_valid_acc": ("ImageNet16-120", "12", "valid-accuracy"),
    "in16_12_test_acc": ("ImageNet16-120", "12", "test-accuracy"),
    "c10valid200_train_acc": ("cifar10-valid", "200", "train-accuracy"),
    "c10valid200_valid_acc": ("cifar10-valid", "200", "valid-accuracy"),
    "c10valid200_test_acc": ("cifar10-valid", "200", "test-accuracy"),
    "c10_200_test_acc_trainval": ("cifar10", "200", "test-accuracy"),  # trained on train+valid
    "c100_200_test_acc": ("cifar100", "200", "test-accuracy"),
    "in16_200_test_acc": ("ImageNet16-120", "200", "test-accuracy"),
    "c10valid_train_per_epoch_s": ("cifar10-valid", "12", "train-per-time"),
    "c10valid_valid_per_time_s": ("cifar10-valid", "12", "valid-per-time"),
}
CELLS = 15_625


def rows(api, log=print):
  """One dict per cell, in the benchmark's index order."""
  count = len(api)
  if count != CELLS:
    log(f"note: the benchmark file has {count:,} cells, not {CELLS:,}")
  for index in range(count):
    infos = {}
    row = {"index": index, "arch_str": api.arch(index)}
    for column, (dataset, hp, key) in COLUMNS.items():
      if (dataset, hp) not in infos:
        infos[dataset, hp] = api.get_more_info(index, dataset, hp=hp, is_random=False)
      row[column] = infos[dataset, hp][key]
    # The simulated cost of one 12-epoch query: 12 epochs of training and one validation.
    row["approx_12ep_cost_s"] = (12 * row["c10valid_train_per_epoch_s"]
                                 + row["c10valid_valid_per_time_s"])
    if index and index % 1000 == 0:
      log(f"{index:,} of {count:,} cells")
    yield row


def write(api, out: str, log=print) -> int:
  """Writes the CSV (atomically); returns the number of cells."""
  fields = ["index", "arch_str", *COLUMNS, "approx_12ep_cost_s"]
  partial = f"{out}.partial"
  n = 0
  with open(partial, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=fields)
    writer.writeheader()
    for row in rows(api, log):
      writer.writerow(row)
      n += 1
  os.replace(partial, out)
  return n


def main(argv: list[str]) -> int:
  parser = argparse.ArgumentParser(prog="nas-tf build-table",
                                   description=__doc__.splitlines()[0])
  parser.add_argument("benchmark", choices=["nasbench201"])
  parser.add_argument("path", help="the NATS-Bench topology file or folder")
  parser.add_argument("--out", default="nb201_cifar10_cifar100_imagenet16.csv")
  args = parser.parse_args(argv)
  try:
    import nats_bench
  except ImportError:
    print("nas-tf: error: build-table needs the NATS-Bench API: pip install nats_bench",
          file=sys.stderr)
    return 2
  if not os.path.exists(args.path):
    print(f"nas-tf: error: {args.path}: no such file or folder (the NATS-Bench topology "
          "file, e.g. NATS-tss-v1_0-3ffb9-simple)", file=sys.stderr)
    return 2
  api = nats_bench.create(args.path, "tss", fast_mode=True, verbose=False)
  n = write(api, args.out)
  print(f"wrote {args.out}: {n:,} cells (nas-tf search nasbench201 "
        f"--config.data.source={args.out})")
  return 0
