"""Lookup tasks: a tabular benchmark's published results stand in for training. A "child" costs
no training: its metrics are the table's row for its architecture, and the table's training
time is its ``simulated_seconds``, which ``search.time_budget`` counts instead of wall time.

``nasbench201``  NAS-Bench-201 (Dong & Yang, ICLR 2020), one CSV row per cell. Fitness is the
                 12-epoch validation accuracy of ``data.dataset``; the 200-epoch accuracies are
                 reported, never shown to the strategy.
``nasbench_macro`` NAS-Bench-Macro (Su et al., CVPR 2021), a JSON object per 8-digit key. The
                 benchmark has no validation split: the fitness is the first run's test
                 accuracy and the reported number the mean over its three runs. It publishes no
                 training times, so each query costs ``data.seconds_per_child``.

The file formats are documented in docs/tabular.md. Both tables ship inside the package,
gzip-compressed with their licences (``nas_tf/data/tables/``): ``data.source=bundled``, the
default, reads them; a path reads another copy (``.gz`` or not).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import math
import os
from typing import Any

import numpy as np

from nas_tf.errors import DataError
from nas_tf.spaces.tabular import nb201_ops
from nas_tf.tasks.base import Task

# data.dataset -> (fitness, 200-epoch validation, 200-epoch test) columns of the NB201 table.
NB201_COLUMNS = {
    "cifar10": ("c10valid12_valid_acc", "c10valid200_valid_acc", "c10_200_test_acc_trainval"),
    "cifar100": ("c100_12_valid_acc", None, "c100_200_test_acc"),
    "imagenet16": ("in16_12_valid_acc", None, "in16_200_test_acc"),
}
NB201_COST = "approx_12ep_cost_s"  # 12 training epochs + one validation pass, cifar10-valid


def _number(value, where: str) -> float:
  try:
    number = float(value)
  except (TypeError, ValueError):
    number = float("nan")
  if not math.isfinite(number):
    raise DataError(f"{where}: not a finite number: {value!r}")
  return number


class LookupTask(Task):
  simulated = True
  metric = "val_accuracy"
  test_metric = "final_test_accuracy"

  def __init__(self, config):
    super().__init__(config)
    self.table: dict[str, dict[str, float]] | None = None
    self._fingerprint = ""

  @property
  def prepared(self) -> bool:
    return self.table is not None

  def data_fingerprint(self) -> str:
    return self._fingerprint

  BUNDLED = ""  # the table's file in nas_tf/data/tables/

  def table_path(self) -> str:
    """``data.source``'s file: the bundled table for ``bundled``."""
    source = str(self.config.data.source)
    if source == "bundled":
      import importlib.resources
      return str(importlib.resources.files("nas_tf.data") / "tables" / self.BUNDLED)
    return os.path.expanduser(source)

  def prepare(self) -> None:
    path = self.table_path()
    if not os.path.isfile(path):
      raise DataError(f"data.source: {path}: no such file (the {self.name} table; see "
                      "docs/tabular.md)")
    with open(path, "rb") as f:
      raw = f.read()
    if path.endswith(".gz"):
      try:
        raw = gzip.decompress(raw)
      except (OSError, EOFError) as e:
        raise DataError(f"data.source: {path}: not a complete gzip file ({e})") from None
    # Of the table itself: a compressed and a plain copy of one table are the same data.
    self._fingerprint = hashlib.sha256(raw).hexdigest()
    try:
      text = raw.decode("utf-8")
    except UnicodeDecodeError:
      raise DataError(f"data.source: {path}: not a UTF-8 text file") from None
    self.table = self._parse(text, path)
    if not self.table:
      raise DataError(f"data.source: {path}: the table has no architectures")

  def _parse(self, text: str, path: str) -> dict[str, dict[str, float]]:
    raise NotImplementedError

  @property
  def reward_text(self) -> str:
    return f"reward {self.metric}^{self.exponent:g}"

  def key(self, arch: dict[str, Any]) -> str:
    raise NotImplementedError

  def train_child(self, arch: dict[str, Any], seed: int,
                  weights_path: str | None = None) -> dict[str, Any]:
    """The table's row for ``arch`` (a KeyError, recorded as a failed child, when absent)."""
    key = self.key(arch)
    if key not in self.table:
      raise KeyError(f"{key} is not in the table {self.table_path()}")
    row = dict(self.table[key])
    # Over a hard budget: no simulated training time is charged, as none would be spent.
    self.objective.check({c: row[c] for c in self.cost_names if c in row})
    row["reward"] = self.reward_of(row[self.metric])
    return row

  def reward_of(self, value: float) -> float:
    return float(value) ** self.exponent

  # reward.exponent = 0: sharp enough to separate the best cells, yet not so sharp that low
  # accuracies' rewards vanish under Adam's epsilon (benchmarks/tabular.py, docs/tabular.md).
  AUTO_EXPONENT = 20.0

  @property
  def exponent(self) -> float:
    return float(self.config.reward.exponent) or self.auto_exponent()

  def auto_exponent(self) -> float:
    return self.AUTO_EXPONENT


class NasBench201Task(LookupTask):
  name = "nasbench201"
  BUNDLED = "nasbench201.csv.gz"  # nb201_cifar10_cifar100_imagenet16.csv (docs/tabular.md)
  # Measured best per dataset (12-epoch accuracies around 0.85, 0.65, 0.40).
  DATASET_EXPONENT = {"cifar10": 20.0, "cifar100": 10.0, "imagenet16": 3.0}

  def auto_exponent(self) -> float:
    return self.DATASET_EXPONENT.get(self.config.data.dataset, self.AUTO_EXPONENT)

  @property
  def data_summary(self) -> str:
    fitness = NB201_COLUMNS[self.config.data.dataset][0]
    return (f"NAS-Bench-201 table, {len(self.table):,} cells, {self.config.data.dataset} "
            f"(fitness {fitness}, simulated cost {NB201_COST}), {self.reward_text}")

  def key(self, arch: dict[str, Any]) -> str:
    return arch["arch_str"]

  # The proxies score the benchmark's networks on CIFAR-10 images (zero_cost.images),
  # normalized as each paper's loader: zero-cost-nas's foresight/dataset.py divides by the
  # std (0.2023, 0.1994, 0.2010); NASWOT's (D-X-Y's get_datasets) by CIFAR-10's own.
  ZERO_COST_STATS = (np.array([0.4914, 0.4822, 0.4465]) * 255.0,
                     np.array([0.2023, 0.1994, 0.2010]) * 255.0)

  def proxy_data(self, family: str = "zero_cost"):
    from nas_tf.data import cifar10
    source = self.config.get("zero_cost", {}).get("images")
    if self.config.data.dataset != "cifar10":
      raise DataError(f"zero-cost proxies on NAS-Bench-201 score CIFAR-10 networks; "
                      f"data.dataset is {self.config.data.dataset}")
    if not source:
      raise DataError("zero_cost.images must name CIFAR-10's training images (a "
                      "cifar-10-python.tar.gz or its folder): a table has none")
    if getattr(self, "_images", (None,))[0] != source:
      self._images = (source, cifar10.load(source))
    arrays = self._images[1]
    stats = self.ZERO_COST_STATS if family == "zero_cost" else (cifar10.MEAN, cifar10.STD)
    return arrays.train_images, arrays.train_labels, stats

  def proxy_network(self, arch: dict[str, Any], family: str):
    from nas_tf.models import nasbench201
    if family == "naswot":  # the benchmark's TinyNetwork, num_classes=1 (nasspace.py)
      return nasbench201.build_network(arch, num_classes=1)
    return nasbench201.build_network(arch, num_classes=10, variant="zero_cost")

  def proxy_options(self, proxy: str) -> dict[str, Any]:
    from nas_tf.models import nasbench201
    return {"synflow": {"keep_batch_norm": nasbench201.synflow_keeps_batch_norm},
            "naswot": {"times_counted": nasbench201.naswot_times_counted}}.get(proxy, {})

  def _parse(self, text: str, path: str) -> dict[str, dict[str, float]]:
    dataset = self.config.data.dataset
    if dataset not in NB201_COLUMNS:
      raise DataError(f"data.dataset must be one of {', '.join(NB201_COLUMNS)}, got {dataset!r}")
    fitness, final_val, final_test = NB201_COLUMNS[dataset]
    reader = csv.DictReader(text.splitlines())
    needed = ["arch_str", fitness, final_test, NB201_COST] + ([final_val] if final_val else [])
    missing = [c for c in needed if c not in (reader.fieldnames or [])]
    if missing:
      raise DataError(f"data.source: {path}: not a NAS-Bench-201 table: no column "
                      f"{', '.join(missing)}")
    table = {}
    for line, record in enumerate(reader, start=2):
      where = f"{path}:{line}"
      try:
        nb201_ops(record["arch_str"])
      except (ValueError, AttributeError) as e:
        raise DataError(f"{where}: bad arch_str: {e}") from None
      row = {"val_accuracy": _number(record[fitness], where) / 100.0,
             "final_test_accuracy": _number(record[final_test], where) / 100.0,
             "simulated_seconds": _number(record[NB201_COST], where)}
      if final_val:
        row["final_val_accuracy"] = _number(record[final_val], where) / 100.0
      table[record["arch_str"]] = row
    return table


class NasBenchMacroTask(LookupTask):
  name = "nasbench_macro"
  BUNDLED = "nasbench_macro.json.gz"  # nas-bench-macro_cifar10.json
  cost_names = ("params", "flops")  # the table's columns (its FLOPs are its own count)
  metric = "run1_test_accuracy"  # the benchmark has no validation split (see the module doc)

  @property
  def data_summary(self) -> str:
    return (f"NAS-Bench-Macro table, {len(self.table):,} networks (fitness: the first run's "
            f"test accuracy; {self.config.data.seconds_per_child:g} simulated s per query), "
            f"{self.reward_text}")

  def key(self, arch: dict[str, Any]) -> str:
    return arch["key"]

  def _parse(self, text: str, path: str) -> dict[str, dict[str, float]]:
    seconds = float(self.config.data.seconds_per_child)
    try:
      data = json.loads(text)
    except json.JSONDecodeError as e:
      raise DataError(f"data.source: {path}: not JSON ({e})") from None
    if not isinstance(data, dict):
      raise DataError(f"data.source: {path}: expected an object of 8-digit keys")
    table = {}
    for key, value in data.items():
      where = f"{path}: {key!r}"
      if len(key) != 8 or set(key) - set("012"):
        raise DataError(f"{where}: a key must be 8 digits of 0, 1, 2")
      runs = value.get("test_acc") if isinstance(value, dict) else None
      if not isinstance(runs, list) or not runs or "mean_acc" not in value:
        raise DataError(f"{where}: expected test_acc (a list of runs) and mean_acc")
      table[key] = {"run1_test_accuracy": _number(runs[0], where) / 100.0,
                    "final_test_accuracy": _number(value["mean_acc"], where) / 100.0,
                    "simulated_seconds": seconds}
      for extra in ("params", "flops"):
        if extra in value:
          table[key][extra] = int(_number(value[extra], where))
    return table
