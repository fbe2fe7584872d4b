import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import SHARED, serve_in_tensorflow_only_process, tiny_ptb_config
from nas_tf.store import workdir as wd
from nas_tf.data import DataError, ptb
from nas_tf.runner.loop import Search
from nas_tf.tasks.ptb import PtbTask

PTB_MINI = os.path.join(SHARED, "ptb-mini")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_ptb(folder, train=" the cat sat \n the dog sat \n", valid=" the cat ran \n",
              test=" a dog \n"):
  os.makedirs(folder, exist_ok=True)
  for split, text in (("train", train), ("valid", valid), ("test", test)):
    with open(os.path.join(folder, f"ptb.{split}.txt"), "w") as f:
      f.write(text)
  return folder


def test_reader_builds_vocab_from_train_with_eos_and_unk(tmp_path):
  corpus = ptb.load(write_ptb(str(tmp_path)))
  assert set(corpus.vocab) == {"the", "cat", "sat", "dog", "<eos>", "<unk>"}
  words = [corpus.vocab[i] for i in corpus.train]
  assert words == ["the", "cat", "sat", "<eos>", "the", "dog", "sat", "<eos>"]
  assert [corpus.vocab[i] for i in corpus.valid] == ["the", "cat", "<unk>", "<eos>"]
  assert [corpus.vocab[i] for i in corpus.test] == ["<unk>", "dog", "<eos>"]


@pytest.mark.parametrize("breaks, message", [
    (lambda d: os.remove(os.path.join(d, "ptb.valid.txt")), "missing ptb.valid.txt"),
    (lambda d: open(os.path.join(d, "ptb.train.txt"), "wb").write(b"\xff\xfe\x00bad"),
     "ptb.train.txt: not UTF-8 text"),
    (lambda d: open(os.path.join(d, "ptb.test.txt"), "w").write("\n\n"), "ptb.test.txt: no words"),
])
def test_bad_files_fail_with_clear_message(tmp_path, breaks, message):
  folder = write_ptb(str(tmp_path))
  breaks(folder)
  with pytest.raises(DataError, match=message):
    ptb.load(folder)
  with pytest.raises(DataError, match="no such folder"):
    ptb.load(str(tmp_path / "nope"))


def test_batchify_carries_rows_across_batches():
  ids = np.arange(101, dtype=np.int32)
  x, y = ptb.batchify(ids, batch_size=2, bptt=10)
  assert x.shape == (5, 2, 10)
  np.testing.assert_array_equal(y, x + 1)           # targets are the next tokens
  np.testing.assert_array_equal(x[1, :, 0], x[0, :, -1] + 1)  # batch k+1 continues batch k


def test_search_records_perplexity_and_keeps_the_lowest_as_best(tmp_path):
  config = tiny_ptb_config(children=3)
  result = Search(config, str(tmp_path), PtbTask(config), log=lambda _: None).run()
  rows = wd.read_jsonl(os.path.join(str(tmp_path), "children.jsonl"))
  assert len(rows) == 3 and all(r["status"] == "ok" for r in rows)
  for r in rows:
    assert "val_accuracy" not in r
    assert np.isclose(r["reward"], 80.0 / r["val_perplexity"] ** 2)
    assert r["formula"].endswith("h = n2")
  best = wd.read_json(os.path.join(str(tmp_path), "best.json"))
  assert best["val_perplexity"] == min(r["val_perplexity"] for r in rows)
  assert result.best["id"] == best["id"]


@pytest.mark.skipif(not os.path.isdir(PTB_MINI), reason="../shared/data/ptb-mini absent")
def test_cli_search_on_real_ptb_learns(tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run(
      [sys.executable, "-m", "nas_tf", "search", "ptb", f"--config={ROOT}/configs/ptb.py:smoke",
       f"--config.data.source={PTB_MINI}", "--config.search.num_children=2",
       "--config.search.batch_size=2", "--config.child.epochs=1",
       "--config.data.max_train_tokens=20000", f"--workdir={tmp_path}/w"],
      env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  best = json.load(open(tmp_path / "w" / "best.json"))
  assert best["val_perplexity"] < 5521 / 3  # far below the vocabulary size (uniform guess)

  # The exported language model serves real test text without nas_tf, and so does the cell.
  out = tmp_path / "out"
  exported = subprocess.run([sys.executable, "-m", "nas_tf", "export", f"--workdir={tmp_path}/w",
                             f"--out={out}"], env=env, capture_output=True, text=True, timeout=300)
  assert exported.returncode == 0, exported.stderr
  corpus = ptb.load(PTB_MINI)
  tokens = corpus.test[:4 * 51].reshape(4, 51).astype(np.int32)
  log_probs = serve_in_tensorflow_only_process(str(out / "language_model"), tokens[:, :-1],
                                               tmp_path)
  nll = -np.take_along_axis(log_probs, tokens[:, 1:, None], axis=-1).mean()
  print(f"served test perplexity {np.exp(nll):.1f}")
  assert np.exp(nll) < 5521 / 3
  units = json.load(open(tmp_path / "w" / "config.json"))["child"]["units"]
  states = serve_in_tensorflow_only_process(
      str(out / "cell"), np.ones((2, 3, units), np.float32), tmp_path)
  assert states.shape == (2, 3, units) and np.all(np.isfinite(states))


def test_the_text_task_searches_any_folder_of_train_valid_test_txt(tmp_path):
  from conftest import run_cli
  folder = tmp_path / "corpus"
  folder.mkdir()
  rng = np.random.default_rng(0)
  words = [f"w{k}" for k in range(30)]
  for split, lines in (("train", 300), ("valid", 60), ("test", 60)):
    text = "\n".join(" ".join(rng.choice(words, 8)) for _ in range(lines))
    (folder / f"{split}.txt").write_text(text + "\n")
  assert ptb.load(str(folder)).vocab[0] == "<eos>"  # train.txt names, not ptb.train.txt
  w = tmp_path / "w"
  result = run_cli("search", "text", "--config=configs/text.py:smoke",
                   f"--config.data.source={folder}", "--config.search.num_children=2",
                   "--config.search.batch_size=2", "--config.child.epochs=1",
                   "--config.child.units=16", "--config.child.batch_size=8",
                   "--config.child.bptt=10", f"--workdir={w}")
  assert result.returncode == 0, result.stderr
  rows = wd.read_jsonl(str(w / "children.jsonl"))
  assert [r["status"] for r in rows] == ["ok", "ok"]
  for r in rows:  # the reward is c / perplexity^2 of the best of the last epochs
    assert r["val_perplexity"] == pytest.approx(min(r["val_curve"]), abs=1e-3)
    assert r["val_perplexity"] > 1
    assert r["reward"] == pytest.approx(80.0 / r["val_perplexity"] ** 2)
  missing = run_cli("search", "text", "--config=configs/text.py:smoke",
                    f"--config.data.source={tmp_path}", f"--workdir={tmp_path / 'v'}")
  assert missing.returncode == 2 and "missing train.txt" in missing.stderr
