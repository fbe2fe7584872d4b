"""The start-up benchmarks (docs/benchmarks.md), run at tiny size on a CIFAR-10 tarball of
the real format: each must exit 0 and print figures that add up, so a change that breaks
them shows here rather than in the next session that needs their numbers."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_benchmark(name, *args, succeeds=True):
  """The benchmark's stdout; with ``succeeds=False``, its finished process (it must fail)."""
  out = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", name), *args],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
  assert (out.returncode == 0) == succeeds, out.stdout[-3000:] + out.stderr[-3000:]
  return out.stdout if succeeds else out


def test_darts_startup_times_each_order_from_the_process_start(cifar_tarball):
  path, _ = cifar_tarball
  out = run_benchmark("darts_startup.py", "--orders=1,2", "--layers_per_stage=1",
                      "--channels=4", "--batch_size=4", "--steps=2", f"--data={path}")
  assert f"data {path}" in out
  rows = [line.split() for line in out.splitlines() if re.match(r"\s+[12] ", line)]
  assert [row[0] for row in rows] == ["1", "2"], out
  for _, params, nodes, build, trace, first, to_step1, later, ratio, peak in rows:
    # the same network in both orders; second order's step holds more passes
    assert params == rows[0][1] and int(params.replace(",", "")) > 1000
    # process start to step 1 is the build, the trace and the first step, nothing else
    assert abs(float(build) + float(trace) + float(first) - float(to_step1)) <= 0.2, out
    # the ratio is of unrounded seconds; the printed later step is rounded to 0.01 s
    assert abs(float(to_step1) / float(ratio.rstrip("x")) - float(later)) <= 0.006 + 0.01 * float(
        later), out
    assert float(peak) > 0.1
  assert int(rows[1][2].replace(",", "")) > int(rows[0][2].replace(",", ""))
  # --data is what the step trains on: a path that is not there stops the run
  missing = run_benchmark("darts_startup.py", "--orders=1", "--layers_per_stage=1",
                          "--channels=4", "--batch_size=4", f"--data={path}.absent",
                          succeeds=False)
  assert f"{path}.absent: no such file or folder" in missing.stderr, missing.stderr[-2000:]


def test_enas_startup_reports_both_modes_epochs_and_steps(cifar_tarball):
  path, _ = cifar_tarball
  out = run_benchmark("enas_startup.py", f"--data={path}", "--epochs=2", "--rounds=1",
                      "--steps=2")
  for mode in ("traced", "composed"):
    row = re.search(rf"\| {mode} \| ([\d., ]+) \| ([\d.]+) \|", out)
    assert row, out
    epochs = [float(x) for x in row.group(1).split(",")]
    assert len(epochs) == 2 and min(epochs) > 0, out
    # first epoch over the later ones' median: with two epochs, over the second
    # (seconds printed to 0.1 s, the ratio of the unrounded ones to 0.01)
    first_over_later = epochs[0] / epochs[1]
    slack = 0.005 + first_over_later * (0.05 / epochs[0] + 0.05 / epochs[1])
    assert abs(first_over_later - float(row.group(2))) <= slack, out
  steps = re.search(r"traced ([\d.]+) s, composed ([\d.]+) s, composed / traced ([\d.]+)", out)
  assert steps, out
  traced, composed, ratio = map(float, steps.groups())
  slack = 0.005 + ratio * (0.0005 / traced + 0.0005 / composed)
  assert abs(composed / traced - ratio) <= slack, out
  pieces = re.search(r"\((\d+) pieces traced\)", out)
  assert pieces and int(pieces.group(1)) > 0, out
