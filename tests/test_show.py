"""Architecture pictures and the TensorBoard HParams sessions of a search."""

import glob
import os

import numpy as np
from PIL import Image

from conftest import run_cli, tiny_cifar_config
from nas_tf import diagrams
from nas_tf.store import workdir as wd
from nas_tf.runner.loop import Search
from nas_tf.spaces.base import plan_length
from nas_tf.spaces.cnn_macro import CNNSearchSpace
from nas_tf.spaces.rnn_cell import RNNCellSearchSpace
from nas_tf.tasks.cifar10 import Cifar10Task


def random_arch(space, depth, seed=0):
  tokens = np.random.default_rng(seed).integers(0, 2, plan_length(space.plan(depth)))
  return space.decode(tokens, depth)


def test_cnn_picture_is_a_png_and_svg_that_grows_with_depth(tmp_path):
  space = CNNSearchSpace(search_strides=True)
  heights = []
  for depth in (2, 6, 12):
    paths = diagrams.render(random_arch(space, depth), str(tmp_path / f"d{depth}"))
    assert os.path.getsize(paths["png"]) > 1000
    svg = open(paths["svg"]).read()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    heights.append(Image.open(paths["png"]).size[1])
  assert heights[0] < heights[1] < heights[2]


def test_picture_shows_every_layer_and_skip_edge():
  space = CNNSearchSpace()
  arch = space.decode(space.encode([
      {"filter_height": 3, "filter_width": 5, "filters": 24},
      {"filter_height": 1, "filter_width": 1, "filters": 36, "inputs": [0]},
      {"filter_height": 7, "filter_width": 7, "filters": 64, "inputs": [0, 1]}]), 3)
  graph = CNNSearchSpace.graph(arch)
  labels = [label for _, _, label, _ in graph.nodes.values()]
  assert any("3x5 conv, 24 filters" in label for label in labels)
  assert any("7x7 conv, 64 filters" in label for label in labels)
  edges = {(a, b) for a, b, *_ in graph.edges}
  assert edges == {("image", "l0"), ("l0", "l1"), ("l0", "l2"), ("l1", "l2"), ("l2", "head")}


def test_cell_picture_has_every_node_and_the_c_wiring(tmp_path):
  space = RNNCellSearchSpace(8)
  arch = random_arch(space, None, seed=3)
  graph = RNNCellSearchSpace.graph(arch)
  assert {f"n{i}" for i in range(15)} <= set(graph.nodes)
  assert ("n14", "h", 0.0, "-") in graph.edges
  assert ("c_prev", f"n{arch['inject']['node']}") in {(a, b) for a, b, *_ in graph.edges}
  paths = diagrams.render(arch, str(tmp_path / "cell"))
  assert os.path.getsize(paths["png"]) > 1000


def test_each_child_is_an_hparams_session_readable_by_tensorboard(tmp_path):
  from tensorboard.backend.event_processing import event_accumulator
  from tensorboard.plugins.hparams import plugin_data_pb2
  from tensorboard.util import tensor_util
  workdir = str(tmp_path)
  config = tiny_cifar_config(3)
  Search(config, workdir, Cifar10Task(config), log=lambda _: None).run()

  def plugin_data(run):
    acc = event_accumulator.EventAccumulator(run)
    acc.Reload()
    content = acc.PluginTagToContent("hparams")
    return ({tag: plugin_data_pb2.HParamsPluginData.FromString(data)
             for tag, data in content.items()}, acc)

  root, _ = plugin_data(os.path.join(workdir, "tensorboard", "hparams"))
  (experiment,) = [d.experiment for d in root.values() if d.HasField("experiment")]
  names = {h.name for h in experiment.hparam_infos}
  assert {"depth", "params", "kernels", "skip_connections", "status"} <= names
  # Under their own tags: the sessions' single points stay off the main child/* charts.
  tags = {m.name.tag for m in experiment.metric_infos}
  assert tags >= {"hparams/val_accuracy", "hparams/reward", "hparams/seconds"}
  assert not any(t.startswith("child/") for t in tags)
  runs = sorted(glob.glob(os.path.join(workdir, "tensorboard", "hparams", "child-*")))
  assert [os.path.basename(r) for r in runs] == ["child-00001", "child-00002", "child-00003"]
  rows = wd.read_jsonl(os.path.join(workdir, "children.jsonl"))
  for run, row in zip(runs, rows):
    data, acc = plugin_data(run)
    (start,) = [d.session_start_info for d in data.values() if d.HasField("session_start_info")]
    assert start.hparams["depth"].number_value == row["depth"]
    assert start.hparams["params"].number_value == row["params"]
    assert start.hparams["status"].string_value == "ok"
    assert not any(t.startswith("child/") for t in acc.Tags()["tensors"])
    scalars = acc.Tensors("hparams/val_accuracy")
    assert np.isclose(float(tensor_util.make_ndarray(scalars[0].tensor_proto)),
                      row["val_accuracy"])
  images = event_accumulator.EventAccumulator(os.path.join(workdir, "tensorboard"),
                                              size_guidance={"images": 0, "tensors": 0})
  images.Reload()
  assert "search/best_architecture" in images.Tags()["tensors"]


def test_compare_tabulates_several_searches_from_their_files(tmp_path):
  # Two lookup searches of 2,000 simulated seconds (NAS-Bench-201's rule: the child that
  # would pass the budget is left out, so the clock ends within one child's cost under it)
  # and a directory without a search.
  import re
  dirs = {}
  for method in ("random", "evolution"):
    dirs[method] = str(tmp_path / method)
    result = run_cli("search", "nasbench201", f"--method={method}", f"--workdir={dirs[method]}",
                     "--config.search.time_budget=2000s")
    assert result.returncode == 0, result.stderr
  out = run_cli("compare", dirs["random"], dirs["evolution"])
  assert out.returncode == 0, out.stderr
  lines = [line for line in out.stdout.splitlines() if line.startswith(f"| {tmp_path}")]
  assert len(lines) == 2
  for method, directory in dirs.items():
    rows = wd.read_jsonl(os.path.join(directory, "children.jsonl"))
    line = next(line for line in lines if line.startswith(f"| {directory} |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1:4] == [method, "nasbench201", "small"]
    assert cells[4] == f"{len(rows)} (0)"
    assert cells[5] == f"val_accuracy {max(r['val_accuracy'] for r in rows):.4f}"
    minutes, seconds = map(int, re.match(r"(\d+)m(\d+)s simulated", cells[7]).groups())
    assert 2000 - max(r["simulated_seconds"] for r in rows) < 60 * minutes + seconds <= 2000
    assert cells[8] == "not trained"
  # Best first (the higher validation accuracy on top).
  bests = [float(line.split("val_accuracy ")[1].split()[0]) for line in lines]
  assert bests == sorted(bests, reverse=True)
  missing = run_cli("compare", dirs["random"], str(tmp_path))
  assert missing.returncode == 2 and missing.stderr.strip().splitlines() == [
      f"nas-tf: error: compare: {tmp_path}: no search here (no config.json)"]


def tensorboard_hparams(logdir):
  """What TensorBoard's HParams tab shows for ``logdir``: its own backend, as the server runs
  it (the experiment's columns and metrics, and every session's hparams)."""
  from tensorboard import context
  from tensorboard.backend.event_processing import data_provider
  from tensorboard.backend.event_processing import plugin_event_multiplexer
  from tensorboard.plugins import base_plugin
  from tensorboard.plugins.hparams import api_pb2, backend_context, get_experiment, metadata
  multiplexer = plugin_event_multiplexer.EventMultiplexer()
  multiplexer.AddRunsFromDirectory(logdir)
  multiplexer.Reload()
  provider = data_provider.MultiplexerDataProvider(multiplexer, logdir)
  backend = backend_context.Context(base_plugin.TBContext(logdir=logdir,
                                                          data_provider=provider))
  request = context.RequestContext()
  experiment = get_experiment.Handler(request, backend, "", api_pb2.GetExperimentRequest()).run()
  sessions = {}
  for run, tags in backend.hparams_metadata(request, "").items():
    if metadata.SESSION_START_INFO_TAG in tags:
      info = metadata.parse_session_start_info_plugin_data(tags[metadata.SESSION_START_INFO_TAG])
      sessions[run] = {k: getattr(v, v.WhichOneof("kind")) for k, v in info.hparams.items()}
  return ({h.name for h in experiment.hparam_infos},
          {m.name.tag for m in experiment.metric_infos}, sessions)


def test_compare_out_gives_tensorboard_one_hparams_experiment_of_several_searches(tmp_path):
  dirs = [str(tmp_path / "runs" / task) for task in ("nasbench201", "nasbench_macro")]
  for directory in dirs:
    result = run_cli("search", os.path.basename(directory), "--method=random",
                     "--config.search.num_children=4", f"--workdir={directory}")
    assert result.returncode == 0, result.stderr
  # The problem: TensorBoard on their parent shows one search's columns, not both.
  names, metrics, sessions = tensorboard_hparams(str(tmp_path / "runs"))
  assert len(sessions) == 8
  assert not ({"edge_0_1", "layer_0"} <= names and
              {"hparams/val_accuracy", "hparams/run1_test_accuracy"} <= metrics)
  logdir = str(tmp_path / "hparams")
  out = run_cli("compare", *dirs, f"--out={logdir}")
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip().endswith(
      f"HParams of 8 children in one experiment: tensorboard --logdir {logdir}")
  names, metrics, sessions = tensorboard_hparams(logdir)
  assert {"search", "method", "task", "edge_0_1", "layer_0", "params"} <= names
  assert {"hparams/val_accuracy", "hparams/run1_test_accuracy", "hparams/reward"} <= metrics
  assert len(sessions) == 8
  for directory in dirs:  # every child, with the hparams its own search wrote
    task = os.path.basename(directory)
    rows = wd.read_jsonl(os.path.join(directory, "children.jsonl"))
    for row in rows:
      hparams = sessions[f"{task}/{wd.child_name(row['index'])}"]
      assert hparams["search"] == task and hparams["task"] == task
      assert hparams["method"] == "random" and hparams["index"] == row["index"]
      assert hparams.get("params") == row.get("params")  # the macro table's only
  # Rerun replaces it; a folder it did not write is refused.
  assert run_cli("compare", dirs[0], f"--out={logdir}").returncode == 0
  assert len(tensorboard_hparams(logdir)[2]) == 4
  refused = run_cli("compare", dirs[0], f"--out={tmp_path / 'runs'}")
  assert refused.returncode == 2 and refused.stderr.strip().splitlines()[-1] == (
      f"nas-tf: error: compare: --out={tmp_path / 'runs'} is not empty and was not written by "
      "nas-tf compare")
