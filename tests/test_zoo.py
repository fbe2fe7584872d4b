"""The papers' architectures (``nas-tf zoo``, ``nas-tf train TASK --arch=NAME``): each final
network's size against the paper's reported count, the transcriptions against their sources,
and one trained on real images, exported and served."""

import os

import numpy as np
import pytest

from conftest import CIFAR_MINI, docs_command, run_cli, serve_in_tensorflow_only_process
from nas_tf.products import zoo
from nas_tf.spaces.cell import concatenated
from nas_tf.spaces.published import BY_NAME, PUBLISHED

# The papers' reported parameter counts of their final CIFAR-10 networks, in millions:
# NASNet-A 6 @ 768 (Zoph et al. 2018, Table 1), AmoebaNet-A N=6 F=36 (Real et al. 2019,
# Table 1), PNASNet-5 N=3 F=48 (Liu et al. 2018, Table 1), ENAS micro (Pham et al. 2018,
# Table 2), DARTS first and second order (Liu et al. 2019, Table 1), and ENAS's recurrent
# cell on Penn Treebank (Pham et al. 2018, Table 1: 24M, to the million); ENAS's macro
# network (Pham et al. 2018, Table 2: 21.3M); Zoph & Le's cell with shared embeddings (Zoph &
# Le 2017, Table 2: 25M, and 32M without sharing).
PAPER_MILLIONS = {"nasnet_a": 3.3, "amoebanet_a": 3.2, "pnasnet_5": 3.2, "enas_micro": 4.6,
                  "darts_v1": 3.3, "darts_v2": 3.3, "enas_ptb": 24.0, "enas_macro": 21.3,
                  "nas_rl_ptb": 25.0}
NAS_RL_UNSHARED_MILLIONS = 32.0
# half the last digit the paper gives; else 0.05M
PAPER_ROUNDING = {"enas_ptb": 0.5, "nas_rl_ptb": 0.5}
# Counts derived from the authors' own code, not from nas-tf: quark0/darts train.py's
# printout (utils.count_parameters_in_MB: trainable, no auxiliary head) for DARTS V2 and V1
# at 36 channels and 20 cells; tensorflow/models pnasnet.py's PNASNet-5 at N=3, F=48 without
# its auxiliary head; melodyguan/enas micro_child.py's count_model_params (lines 721-724:
# every variable but the aux_head ones) for cifar10_micro_final.sh's network; and
# general_child.py's arithmetic for cifar10_macro_final.sh's, whose classifier has no bias
# (nas-tf's Dense has one: 10 more).
AUTHORS_COUNTS = {"darts_v2": 3_349_342, "darts_v1": 3_169_414, "pnasnet_5": 3_189_082,
                  "enas_micro": 3_894_372, "enas_macro": 42_559_392 + 10}


def test_every_paper_has_its_row_and_the_listing_shows_each():
  assert {e.name for e in PUBLISHED} == set(PAPER_MILLIONS)
  assert {e.name: e.paper_params for e in PUBLISHED} == PAPER_MILLIONS
  text = zoo.listing()
  for e in PUBLISHED:
    row = next(line for line in text.splitlines() if line.startswith(e.name + " "))
    assert f"{e.params / 1e6:.2f}M" in row and f"{e.paper_params:.1f}M" in row
    assert e.rounds_to_paper() == (abs(e.params / 1e6 - PAPER_MILLIONS[e.name])
                                   <= PAPER_ROUNDING.get(e.name, 0.05))
    assert row.endswith(" *") == bool(e.mismatch)


@pytest.mark.parametrize("name", sorted(PAPER_MILLIONS))
def test_final_network_size_is_the_papers(name):
  entry = BY_NAME[name]
  built = zoo.count_params(entry)
  assert built == entry.params  # what nas-tf zoo prints is what nas-tf builds
  if name in AUTHORS_COUNTS:
    assert built == AUTHORS_COUNTS[name]
  within = abs(built / 1e6 - PAPER_MILLIONS[name]) <= PAPER_ROUNDING.get(name, 0.05)
  # A count off the paper's figure must say why (nas-tf zoo prints it), never pass silently.
  assert within != bool(entry.mismatch), (name, built)


def test_nas_rl_ptb_width_gives_both_of_the_papers_rows_of_its_cell():
  # The paper gives no hidden size; its children have two layers. The entry's one width must
  # give both Table 2 rows of this cell: 25M with shared embeddings and 32M without. One
  # layer (or another gate count per node) has no such width.
  from nas_tf.models import rnn_cell
  entry = BY_NAME["nas_rl_ptb"]
  assert entry.network["num_layers"] == 2 and entry.arch["base_number"] == 8
  untied = rnn_cell.build_language_model(entry.architecture(), zoo.PTB_VOCAB, stateful=False,
                                         tie_weights=False, **entry.network)
  count = sum(int(np.prod(w.shape)) for w in untied.trainable_weights)
  assert abs(count / 1e6 - NAS_RL_UNSHARED_MILLIONS) <= 0.5, count
  assert abs(zoo.count_params(entry) / 1e6 - PAPER_MILLIONS["nas_rl_ptb"]) <= 0.5


def test_nasnet_a_is_6_at_768_and_pnasnet_5_has_9_cells():
  # "NASNet-A (6 @ 768)": the last cell's output is 768 channels wide: 6 states (h[c-2] and
  # the five blocks) of 4 x 32 channels. nasnet_utils marks h[c-1] used, h[c-2] not.
  from nas_tf.models.cell import build_classifier
  nasnet = BY_NAME["nasnet_a"]
  model = build_classifier(nasnet.architecture(), **nasnet.network)
  assert model.get_layer("pool").input.shape[-1] == 768
  assert concatenated(nasnet.arch, "normal") == [0, 2, 3, 4, 5, 6]
  pnas = BY_NAME["pnasnet_5"]
  model = build_classifier(pnas.architecture(), **pnas.network)
  cells = {layer.name.rsplit("_out", 1)[0] for layer in model.layers
           if layer.name.endswith("_out")}
  assert len(cells) == 9 and sum(c.endswith("reduce") for c in cells) == 2


def test_transcriptions_follow_their_sources():
  # tensorflow/models nasnet_utils.py NasNetAReductionCell, comb_iter_3: 'none' on hidden
  # state 3 (block 1) plus avg_pool_3x3 on hidden state 2 (block 0).
  assert BY_NAME["nasnet_a"].arch["reduce"][3] == [3, "identity", 2, "avg_pool_3x3"]
  # tensorflow/tpu amoeba_net model_specs.py: the reduction cell's 1x7_7x1 reads hidden state
  # 0 (h[c-1], our 1), and its normal cell concatenates hidden states 1, 3, 4 and 6.
  assert BY_NAME["amoebanet_a"].arch["reduce"][3] == [4, "sep_conv_3x3", 1,
                                                      "bottleneck_1x7_7x1"]
  assert concatenated(BY_NAME["amoebanet_a"].arch, "normal") == [0, 3, 4, 6]
  # quark0/darts genotypes.py DARTS_V2: the normal cell's last node is skip(0) + dil_conv(2).
  assert BY_NAME["darts_v2"].arch["normal"][3] == [0, "skip_connect", 2, "dil_conv_3x3"]
  # melodyguan/enas cifar10_micro_final.sh: the reduction cell's block 2 reads block 1 (3),
  # so the output concatenates blocks 0, 2, 3 and 4.
  assert concatenated(BY_NAME["enas_micro"].arch, "reduce") == [2, 4, 5, 6]


def general_child_count(arch, channels):
  """Trainable parameters of melodyguan/enas general_child.py's fixed network (whole
  channels), by that code's arithmetic: stem 3x3 conv + BN; per layer a 1x1 conv-BN and the
  kxk conv-BN (_fixed_layer builds every operation as a full conv), then for layer > 0 a
  1x1 conv-BN over the concatenated skips; at each pool layer a factorized reduction (two
  1x1 half-width convs + BN) of every earlier output; the classifier without bias. BN has
  scale and offset."""
  size = {"conv3x3": 3, "conv5x5": 5}
  c, total, outputs = channels, 3 * 3 * 3 * channels + 2 * channels, 1
  for i, layer in enumerate(arch["layers"]):
    if i in arch["reduce_at"]:  # general_child's pool_layers are the layers before these
      total += outputs * (2 * c * c + 4 * c)
      c *= 2
    k = size[layer["operation"]]
    total += c * c + 2 * c + k * k * c * c + 2 * c
    if i:
      total += (len(layer["inputs"]) + 1) * c * c + 2 * c
    outputs += 1
  return total + c * 10


def test_enas_macro_is_the_final_script_as_general_child_builds_it():
  entry = BY_NAME["enas_macro"]
  arch = entry.arch
  assert (len(arch["layers"]), arch["channels"], arch["reduce_at"]) == (24, 96, [8, 16])
  # cifar10_macro_final.sh line 6, "3 0": operation 3 (the README's separable 5x5, a full
  # 5x5 conv in _fixed_layer) and no skip; line 10, "3 1 1 0 1 0": skips from the stem and
  # layers 0 and 2.
  assert arch["layers"][1] == {"operation": "conv5x5", "inputs": []}
  assert arch["layers"][5] == {"operation": "conv5x5", "inputs": [-1, 0, 2]}
  # The count by the authors' arithmetic, plus the 10 biases of nas-tf's classifier.
  assert zoo.count_params(entry) == general_child_count(arch, 96) + 10 == 42_559_402
  paper = zoo.configure(_method("cifar10", "paper"), entry).final
  assert (paper.epochs, paper.batch_size, paper.learning_rate, paper.learning_rate_min) == (
      310, 100, 0.05, 0.001)  # --num_epochs, --batch_size, --child_lr_max, --child_lr_min
  assert (paper.lr_schedule, paper.lr_restart_epochs, paper.lr_restart_mul) == (
      "cosine_restarts", 10, 2.0)  # --child_lr_cosine, --child_lr_T_0, --child_lr_T_mul
  assert (paper.weight_decay, paper.dropout, paper.cutout, paper.width) == (4e-4, 0.5, 0, 1.0)
  smoke = zoo.configure(_method("cifar10", "smoke"), entry)
  assert smoke.final.width * 96 == smoke.enas.channels  # its 24 layers, machine-sized width


def test_cosine_restarts_final_training_follows_enas_schedule():
  from nas_tf import config as config_lib
  from nas_tf.models.schedules import EpochCosineRestarts
  from nas_tf.tasks.cifar10 import Cifar10Task
  import keras
  config = zoo.configure(_method("cifar10", "paper"), BY_NAME["enas_macro"])
  config.data.source = "synthetic"
  task = Cifar10Task(config)
  task.prepare()
  model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
  task.compile_model(model, config_lib.child_settings(config, final=True))
  schedule = model.optimizer._learning_rate  # the schedule (learning_rate is its value)
  per_epoch = -(-task.num_examples() // 100)
  assert isinstance(schedule, EpochCosineRestarts) and schedule.steps_per_epoch == per_epoch
  at = [float(schedule(epoch * per_epoch)) for epoch in (0, 9, 10, 29, 30)]
  # utils.get_train_ops: lr_min + 0.5 (lr_max - lr_min) (1 + cos(pi T_cur / T_i)), the
  # cycle restarting after 10, then 20 epochs.
  expected = [0.001 + 0.5 * 0.049 * (1 + np.cos(np.pi * t / n))
              for t, n in ((0, 10), (9, 10), (0, 20), (19, 20), (0, 40))]
  np.testing.assert_allclose(at, expected, rtol=1e-5)


def test_paper_preset_trains_the_papers_network_and_cpu_a_machine_sized_one():
  nasnet = BY_NAME["nasnet_a"]
  paper = zoo.configure(_method("darts", "paper"), nasnet)
  assert (paper.final.channels, paper.final.layers_per_stage) == (32, 6)
  assert (paper.final.batch_size, paper.final.drop_path, paper.final.clip_norm) == (32, 0.4, 5)
  cpu = zoo.configure(_method("darts", "cpu"), nasnet)
  assert cpu.final.channels == _method("darts", "cpu").final.channels != 32
  assert cpu.space.kind == paper.space.kind == "cell"


def _method(name, preset):
  from nas_tf.presets import config_module
  return config_module(name).get_config(preset)


@pytest.mark.parametrize("args,message", [
    (["train", "cifar10", "--arch=darts_v3"], "did you mean 'darts_v2'"),
    (["train", "ptb", "--arch=darts_v2"], "darts_v2 is a cell architecture"),
    (["train", "nasbench201", "--arch=|nor_conv_3x3~0|+|conv~0|none~1|"],
     "not a NAS-Bench-201 cell"),
    (["train", "nasbench201", "--arch=darts_v2"], "task 'nasbench201' trains nasbench201"),
])
def test_bad_arch_fails_in_one_line(tmp_path, args, message):
  result = run_cli(*args, f"--workdir={tmp_path / 'w'}")
  assert result.returncode == 2 and message in result.stderr
  assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not os.path.exists(CIFAR_MINI), reason="../shared/data/cifar10-mini absent")
def test_train_a_published_cell_on_real_images_then_export_and_serve(tmp_path):
  """docs/zoo.md's commands at smoke size: DARTS V2's cells trained on real CIFAR-10 images,
  exported, and a TensorFlow-only process classifying the real test images above chance."""
  w = str(tmp_path / "w")
  trained = run_cli(*docs_command("docs/zoo.md", "--arch=darts_v2"), f"--workdir={w}",
                    "--config.final.epochs=1")  # smoke's recipe: drop-path, aux head, cutout
  assert trained.returncode == 0, trained.stderr
  assert "published: DARTS second order" in trained.stdout
  from nas_tf.store import workdir as wd
  result = wd.read_json(os.path.join(w, "final", "result.json"))
  assert result["id"] == "darts_v2" and result["arch"]["normal"] == BY_NAME[
      "darts_v2"].arch["normal"]
  settings = result["settings"]
  assert settings["auxiliary_weight"] > 0 and settings["drop_path"] > 0 and settings["cutout"]
  exported = run_cli(*docs_command("docs/zoo.md", "nas-tf export"), f"--workdir={w}",
                     f"--out={tmp_path}/out")
  assert exported.returncode == 0, exported.stderr
  from nas_tf.data import cifar10
  test = cifar10.load(CIFAR_MINI)
  probabilities = serve_in_tensorflow_only_process(str(tmp_path / "out" / "model"),
                                                   test.test_images, tmp_path)
  accuracy = float(np.mean(probabilities.argmax(axis=1) == test.test_labels))
  # Chance is 0.10; over 500 images 0.15 is 3.7 standard deviations above it.
  assert accuracy > 0.15, accuracy
  assert abs(accuracy - result["test_accuracy"]) < 0.01  # the served model is the trained one


def test_a_published_cell_trains_on_a_folder_of_the_users_images(tmp_path):
  # The README's `nas-tf train images --arch=pnasnet_5`: PNASNet's cells, stacked as
  # pnasnet.py stacks them, on 20x24 images of 3 classes.
  from test_images import write_folder
  folder = write_folder(str(tmp_path / "pets"))
  w = str(tmp_path / "w")
  trained = run_cli("train", "images", "--arch=pnasnet_5", "--config=configs/images.py:smoke",
                    f"--config.data.source={folder}", f"--workdir={w}",
                    "--config.final.epochs=1", "--config.child.batch_size=8",
                    "--config.final.channels=4", "--config.final.layers_per_stage=1")
  assert trained.returncode == 0, trained.stderr
  from nas_tf.store import workdir as wd
  result = wd.read_json(os.path.join(w, "final", "result.json"))
  assert result["id"] == "pnasnet_5" and len(result["curve"]) == 1
  assert result["arch"]["network"] == "nasnet" and result["arch"]["same_cell_for_reduction"]
  assert wd.read_json(os.path.join(w, "config.json"))["space"]["kind"] == "cell"
  assert "3 classes" in wd.read_json(os.path.join(w, "data.json"))["summary"]


@pytest.mark.parametrize("name", ["nasnet_a", "pnasnet_5", "enas_micro"])
def test_each_stacking_runs_with_drop_path_and_the_auxiliary_head(name):
  # The final recipe's pieces on each authors' stacking, at a tiny size: one training-mode
  # forward pass gives logits, and the auxiliary head its own.
  from nas_tf.models.cell import CellClassifier, build_classifier
  model = build_classifier(BY_NAME[name].architecture(), channels=4, layers_per_stage=1,
                           drop_path=0.3, auxiliary_weight=0.4)
  assert isinstance(model, CellClassifier)
  for layer in model._flatten_layers():
    if type(layer).__name__ == "DropPath":
      layer.rate.assign(0.3)
  x = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
  logits, auxiliary = model.network(x, training=True)
  assert logits.shape == auxiliary.shape == (4, 10)
  assert np.all(np.isfinite(logits)) and np.all(np.isfinite(auxiliary))


def test_drop_path_grows_with_depth_in_the_authors_stackings_and_not_in_darts():
  # nasnet_utils.py / PNASNet.TF cell.py / ENAS micro_child.py line 199: keep probability
  # 1 - (cell + 1) / cells x (1 - keep); DARTS' model.py drops alike in every cell.
  from nas_tf.models.cell import build_classifier
  from nas_tf.models.layers import DropPath
  depths = {}
  for name in ("nasnet_a", "pnasnet_5", "enas_micro", "darts_v2"):
    model = build_classifier(BY_NAME[name].architecture(), channels=4, layers_per_stage=1,
                             drop_path=0.3)
    by_cell = {}
    for layer in model._flatten_layers():
      if isinstance(layer, DropPath):
        by_cell.setdefault(layer.name.split("_b")[0], set()).add(layer.depth)
    depths[name] = [sorted(d) for d in by_cell.values()]
  assert depths["nasnet_a"] == [[k / 5] for k in range(1, 6)]  # 3N + 2 cells, N = 1
  assert depths["pnasnet_5"] == [[k / 3] for k in range(1, 4)]  # 3N cells, reductions within
  assert depths["enas_micro"] == [[k / 5] for k in range(1, 6)]
  assert all(d == [1.0] for d in depths["darts_v2"]) and len(depths["darts_v2"]) == 5
  layer = DropPath(seed=1, depth=0.25)
  ones = np.ones((20_000, 1, 1, 1), np.float32)
  layer.build(ones.shape)
  layer.rate.assign(0.4)  # keep 1 - 0.4 x 0.25 = 0.9
  out = np.asarray(layer(ones, training=True)).ravel()
  assert abs(np.mean(out == 0) - 0.1) < 0.01
  np.testing.assert_allclose(out[out > 0], 1 / 0.9, rtol=1e-6)


def test_a_published_recurrent_cell_trains_on_ptb_and_shows_as_its_own_space(tmp_path):
  # ENAS's cell under the nas_rl PTB config: trained, and `show` describes it with the ENAS
  # space it comes from, not the config's NAS-RL cell space.
  w = str(tmp_path / "w")
  trained = run_cli("train", "ptb", "--arch=enas_ptb", "--config=configs/ptb.py:smoke",
                    "--config.data.source=synthetic", f"--workdir={w}",
                    "--config.final.epochs=1")
  assert trained.returncode == 0, trained.stderr
  from nas_tf.store import workdir as wd
  result = wd.read_json(os.path.join(w, "final", "result.json"))
  assert result["arch"]["nodes"] == BY_NAME["enas_ptb"].arch["nodes"]
  assert np.isfinite(result["val_perplexity"])
  shown = run_cli("show", f"--workdir={w}")
  assert shown.returncode == 0, shown.stderr
  assert "n11 = highway(relu, n8)" in shown.stdout and "ENAS recurrent cell" in shown.stdout
  listed = run_cli(*docs_command("docs/zoo.md", "nas-tf zoo"))
  assert listed.returncode == 0 and "enas_ptb" in listed.stdout and "24.0M" in listed.stdout


def test_nas_rl_cell_trains_on_ptb_with_the_papers_two_layers_under_paper(tmp_path):
  entry = BY_NAME["nas_rl_ptb"]
  paper = zoo.configure(_method("ptb", "paper"), entry)
  assert (paper.final.units, paper.final.num_layers) == (741, 2)
  w = str(tmp_path / "w")
  trained = run_cli("train", "ptb", "--arch=nas_rl_ptb", "--config=configs/ptb.py:smoke",
                    "--config.data.source=synthetic", f"--workdir={w}",
                    "--config.final.epochs=1")
  assert trained.returncode == 0, trained.stderr
  shown = run_cli("show", f"--workdir={w}")
  assert shown.returncode == 0, shown.stderr
  # tf.contrib's NASCell: c_{t-1} enters at node 8, c_t is node 12's product.
  assert "n8 <- tanh(n8 + c_prev)" in shown.stdout and "c = n8 * n9" in shown.stdout


def test_the_readme_section_is_the_zoo_pages_commands_and_its_counts():
  readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
  for words in ("nas-tf zoo", "--arch=darts_v2"):
    assert docs_command("README.md", words) == docs_command("docs/zoo.md", words)
  names, ours, papers = (line.split("|")[2:-1] for line in readme.splitlines()
                         if line.startswith(("| | nasnet_a", "| nas-tf |", "| paper |")))
  assert [n.strip() for n in names] == [e.name for e in PUBLISHED]
  for entry, count, paper in zip(PUBLISHED, ours, papers):
    assert count.strip() == f"{entry.params / 1e6:.2f}M" + (" *" if entry.mismatch else "")
    assert float(paper.strip().rstrip("M")) == entry.paper_params


def test_enas_networks_auxiliary_head_keeps_its_initial_weights():
  # melodyguan/enas micro_child.py:707-711 adds 0.4 x the head's loss, and lines 721-723
  # leave the aux_head variables out of the optimizer: the loss trains the network below the
  # head, never the head. DARTS' (and NASNet's) heads train.
  import keras
  from nas_tf.models import cell
  rng = np.random.default_rng(0)
  x = rng.normal(size=(4, 32, 32, 3)).astype("float32")
  y = rng.integers(0, 10, size=4)

  def one_step(arch, weight):
    keras.utils.set_random_seed(0)
    model = cell.build_classifier(arch, channels=4, layers_per_stage=1,
                                  auxiliary_weight=weight)
    model.compile(keras.optimizers.SGD(0.5),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = {v.path: v.numpy() for v in model.weights}
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    return {v.path: (before[v.path], v.numpy()) for v in model.weights}

  def is_head(path):
    return path.split("/")[-2].startswith("aux_")

  def moved(weights, head):
    return {path: not np.array_equal(a, b) for path, (a, b) in weights.items()
            if is_head(path) == head and "moving" not in path}
  enas = BY_NAME["enas_micro"].architecture()
  with_head, without = one_step(enas, 0.4), one_step(enas, 0.0)
  assert moved(with_head, head=True) and not any(moved(with_head, head=True).values())
  assert all(moved(with_head, head=False).values())
  # The head's loss reached the trunk: the same step without it ends elsewhere.
  trunk = [p for p in without if not is_head(p) and "moving" not in p]
  assert any(not np.allclose(with_head[p][1], without[p][1]) for p in trunk)
  darts = one_step(dict(enas, network="darts"), 0.4)
  assert all(moved(darts, head=True).values())
