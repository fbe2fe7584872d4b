"""``nas-tf score``: architectures scored untrained, one JSON line each, resumable; bad use in
one line."""

import json
import os

import pytest

from conftest import run_cli, write_cifar_folder
from nas_tf.models.nasbench201 import build_network
from nas_tf.proxies import measures


def lines(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def cifar_folder(tmp_path_factory):
  folder, _ = write_cifar_folder(str(tmp_path_factory.mktemp("cifar")), per_batch=40)
  return folder


def test_score_writes_one_line_per_architecture_and_resumes(tmp_path, cifar_folder):
  out = str(tmp_path / "scores.jsonl")
  args = ["score", "nasbench201", "--proxies=naswot,synflow,params", f"--out={out}",
          f"--config.zero_cost.images={cifar_folder}", "--config.zero_cost.naswot_batch_size=16",
          "--seed=3"]
  first = run_cli(*args, "--random=2")
  assert first.returncode == 0, first.stderr
  rows = lines(out)
  assert len(rows) == 2 and all(r["arch_str"].startswith("|") for r in rows)
  assert {"naswot", "synflow", "params", "seconds", "id"} <= set(rows[0])
  # The parameter count is the zero-cost copy's, as the authors' baseline counts it.
  assert rows[0]["params"] == sum(
      int(w.shape.num_elements()) for w in
      build_network(rows[0]["arch_str"], variant="zero_cost").trainable_weights)
  again = run_cli(*args, "--random=3")  # the same seed draws the same first two
  assert again.returncode == 0, again.stderr
  assert "scoring 1 of 3 architectures (2 in" in again.stdout
  assert lines(out)[:2] == rows and len(lines(out)) == 3
  # A file of arch strings scores the same cells to the same values (order-free seeds).
  archs = tmp_path / "archs.txt"
  archs.write_text("\n".join(r["arch_str"] for r in reversed(rows)) + "\n")
  other = str(tmp_path / "other.jsonl")
  from_file = run_cli(*args[:-4], f"--out={other}", *args[-3:], f"--archs={archs}")
  assert from_file.returncode == 0, from_file.stderr
  by_id = {r["id"]: r for r in lines(other)}
  for row in rows:
    for proxy in ("naswot", "synflow", "params"):
      assert by_id[row["id"]][proxy] == pytest.approx(row[proxy], rel=1e-6)


def test_score_on_the_image_task_s_own_space(tmp_path):
  out = str(tmp_path / "scores.jsonl")
  result = run_cli("score", "cifar10", "--config=smoke", "--config.data.source=synthetic",
                   "--random=2", "--proxies=naswot,grad_norm,jacob_cov", f"--out={out}",
                   "--config.zero_cost.batch_size=8", "--config.zero_cost.naswot_batch_size=8",
                   "--config.space.num_filters=(4,8)")
  assert result.returncode == 0, result.stderr
  rows = lines(out)
  assert len(rows) == 2 and all(isinstance(r["tokens"], list) for r in rows)
  assert all(isinstance(r["naswot"], float) and r["grad_norm"] > 0 for r in rows)


@pytest.mark.parametrize("extra, message", [
    ((), "name the architectures: --archs=FILE or --random=N"),
    (("--random=2", "--proxies=naswot,synflw"), "--proxies: unknown proxy 'synflw'"),
    (("--random=2",), "zero_cost.images must name CIFAR-10's training images"),
    (("--random=0", "--config.zero_cost.images=x"), "--random=0: a number of architectures"),
    (("--archs=nowhere.txt",), "--archs=nowhere.txt: no such file"),
])
def test_bad_score_use_fails_in_one_line(tmp_path, extra, message):
  result = run_cli("score", "nasbench201", f"--out={tmp_path / 'o.jsonl'}", *extra)
  assert result.returncode == 2, result.stderr
  (line,) = result.stderr.strip().splitlines()
  assert message in line


def test_a_bad_line_of_the_archs_file_is_named(tmp_path, cifar_folder):
  archs = tmp_path / "archs.txt"
  archs.write_text("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|\n|conv~0|\n")
  result = run_cli("score", "nasbench201", f"--archs={archs}", f"--out={tmp_path / 'o'}",
                   f"--config.zero_cost.images={cifar_folder}")
  assert result.returncode == 2
  assert f"{archs}:2: not a nasbench201 architecture" in result.stderr.strip().splitlines()[-1]


def test_text_tasks_have_no_images_to_score(tmp_path):
  result = run_cli("score", "ptb", "--config=smoke", "--config.data.source=synthetic",
                   "--random=1", f"--out={tmp_path / 'o'}")
  assert result.returncode == 2
  assert ("zero-cost proxies score image classifiers nas-tf builds (cifar10, images, "
          "nasbench201), not ptb's") in result.stderr
