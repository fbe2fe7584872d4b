"""Ray clusters as users meet them: nodes that share no file system with the driver, token
authentication, a stale current-cluster file, nodes with other package versions."""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time

import h5py
import numpy as np
import pytest

from conftest import load_config, run_cli, write_cifar_folder

ray = pytest.importorskip("ray")
RAY = os.path.join(os.path.dirname(sys.executable), "ray")
HIDDEN_HOST = "hidden-node"
# The tiny NAS-RL search both the cluster and this process run (same seed, same children).
TINY = {"search.num_children": 2, "search.batch_size": 2, "child.epochs": 1,
        "child.batch_size": 32, "space.filter_heights": (1, 3), "space.filter_widths": (1, 3),
        "space.num_filters": (4, 8), "search.start_depth": 1}


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _namespaces() -> list[str]:
  """unshare's arguments for a private mount and host name namespace (as an ordinary user,
  inside a user namespace where it is root)."""
  args = ["unshare", "-m", "-u"] + ([] if os.geteuid() == 0 else ["-r"])
  try:
    ok = subprocess.run([*args, "true"], capture_output=True).returncode == 0
  except FileNotFoundError:
    ok = False
  if not ok:
    pytest.skip("unshare cannot make mount namespaces here")
  return args


def _start(args, log_path, env):
  return subprocess.Popen(args, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT,
                          start_new_session=True)


def _wait_for(log_path, text, process, timeout=180.0):
  deadline = time.time() + timeout
  while time.time() < deadline:
    if text in open(log_path).read():
      return
    if process.poll() is not None:
      break
    time.sleep(0.5)
  raise AssertionError(f"{log_path}: no {text!r}:\n{open(log_path).read()[-2000:]}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
  """A head with no CPUs for tasks, and a worker node (2 CPUs) in its own mount namespace
  where a tmpfs covers ``hidden``: the work directories and data the driver uses there do
  not exist for the worker. Both use a token from ``token`` (RAY_AUTH_MODE=token)."""
  unshare = _namespaces()
  root = tmp_path_factory.mktemp("cluster")
  hidden = root / "hidden"
  hidden.mkdir()
  token = root / "token"
  token.write_text(secrets.token_hex(32))
  port = _free_port()
  address = f"127.0.0.1:{port}"
  ray_dir = tempfile.mkdtemp(prefix="nas-tf-ray-")  # Ray's socket paths fit in 107 bytes
  env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
         "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
         # A killed node is declared dead after about 2 s instead of Ray's 30 s or so.
         "RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "500",
         "RAY_health_check_failure_threshold": "3"}
  common = ["--block", "--disable-usage-stats", "--node-ip-address=127.0.0.1"]
  started = []

  def start_node(host: str):
    """A worker node (2 CPUs) named ``host``, in its own namespaces with ``hidden`` covered."""
    log = root / f"{host}.log"
    script = (f"mount -t tmpfs tmpfs {hidden} && hostname {host} && "
              f"exec {RAY} start --address={address} --num-cpus=2 {' '.join(common)}")
    node = _start([*unshare, "sh", "-c", script], log, env)
    started.append(node)
    _wait_for(log, "Ray runtime started", node)
    return node

  try:
    head = _start([RAY, "start", "--head", f"--port={port}", "--num-cpus=0",
                   "--include-dashboard=false", f"--temp-dir={ray_dir}", *common],
                  root / "head.log", env)
    started.append(head)
    _wait_for(root / "head.log", "Ray runtime started", head)
    worker = start_node(HIDDEN_HOST)
    yield {"address": address, "hidden": hidden, "token": token, "root": root,
           "worker": worker, "start_node": start_node}
  finally:
    for process in reversed(started):
      try:
        os.killpg(process.pid, signal.SIGKILL)  # every Ray process of that node
      except ProcessLookupError:
        pass
      process.wait()
    shutil.rmtree(ray_dir, ignore_errors=True)


def _tiny_cifar(folder) -> str:
  images, _ = write_cifar_folder(str(folder / "src"), per_batch=40)
  path = str(folder / "cifar-10-python.tar.gz")
  with tarfile.open(path, "w:gz") as tar:
    tar.add(images, arcname="cifar-10-batches-py")
  return path


def _weights(path):
  with h5py.File(path) as f:
    arrays = []
    f.visititems(lambda name, item: arrays.append((name, item[()]))
                 if isinstance(item, h5py.Dataset) else None)
  return sorted(arrays, key=lambda pair: pair[0])


def test_a_worker_node_that_cannot_see_the_work_directory_trains_every_child(cluster,
                                                                             tmp_path):
  """The data reaches the hidden node through the object store and the kept weights come
  back as bytes: the search is the one this process runs with the same seed."""
  from nas_tf.store import workdir as wd
  hidden = cluster["hidden"]
  data = _tiny_cifar(hidden)
  flags = [f"--config.{key}={value}" for key, value in TINY.items()]
  # The driver has the token but not RAY_AUTH_MODE, as after copying the head's token file.
  env = {"RAY_AUTH_TOKEN_PATH": str(cluster["token"]), "RAY_AUTH_MODE": None}
  done = run_cli("search", "cifar10", "--config=smoke", f"--config.data.source={data}",
                 "--config.executor.kind=ray", f"--config.executor.address={cluster['address']}",
                 f"--workdir={hidden / 'w'}", *flags, env=env, cwd=str(tmp_path))
  assert done.returncode == 0, done.stderr[-3000:]
  assert (f"children run on the Ray cluster at {cluster['address']}: 2 node(s) with nas-tf "
          in done.stdout), done.stdout  # the head (no CPUs) and the worker node, checked
  assert "2 CPUs, 0 GPUs; the data in its object store" in done.stdout
  rows = sorted(wd.read_jsonl(str(hidden / "w" / "children.jsonl")), key=lambda r: r["index"])
  assert [r["status"] for r in rows] == ["ok", "ok"]
  assert all(r["worker"].startswith(f"{HIDDEN_HOST}:") for r in rows)
  assert len({r["worker"] for r in rows}) == 2  # the node's two CPUs, a child on each

  # The same search in one process on this machine, with the Ray child's thread counts
  # (oneDNN's reductions depend on them).
  here = run_cli("search", "cifar10", "--config=smoke", f"--config.data.source={data}",
                 f"--workdir={tmp_path / 'local'}", *flags, cwd=str(tmp_path),
                 env={"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"})
  assert here.returncode == 0, here.stderr[-3000:]
  local = sorted(wd.read_jsonl(str(tmp_path / "local" / "children.jsonl")),
                 key=lambda r: r["index"])
  assert [(r["id"], r["val_curve"]) for r in rows] == [(r["id"], r["val_curve"]) for r in local]
  for row in rows:
    remote = _weights(wd.child_weights_path(str(hidden / "w"), row["index"]))
    here = _weights(wd.child_weights_path(str(tmp_path / "local"), row["index"]))
    assert [name for name, _ in remote] == [name for name, _ in here] and remote
    for (name, a), (_, b) in zip(remote, here):
      np.testing.assert_array_equal(a, b, err_msg=name)


def test_a_driver_without_the_cluster_s_token_is_refused_in_one_line(cluster, tmp_path):
  wrong = tmp_path / "token"
  wrong.write_text(secrets.token_hex(32))
  done = run_cli("search", "cifar10", "--config=smoke", "--config.data.source=synthetic",
                 "--config.executor.kind=ray", f"--config.executor.address={cluster['address']}",
                 f"--workdir={tmp_path / 'w'}", cwd=str(tmp_path),
                 env={"RAY_AUTH_TOKEN_PATH": str(wrong), "RAY_AUTH_MODE": None})
  assert done.returncode == 2
  assert done.stderr.strip().splitlines()[-1] == (
      f"nas-tf: error: the Ray cluster at executor.address={cluster['address']} refused this "
      "machine's token: copy the head node's ~/.ray/auth_token here, or set RAY_AUTH_TOKEN")
  assert "Traceback" not in done.stderr


def _children_on(node) -> list[int]:
  """The pids of the Ray workers training a child on ``node`` (in its UTS namespace)."""
  host = os.readlink(f"/proc/{node.pid}/ns/uts")
  found = []
  for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
      with open(f"/proc/{pid}/cmdline", "rb") as f:
        if f.read().startswith(b"ray::nas_tf_child") and \
           os.readlink(f"/proc/{pid}/ns/uts") == host:
          found.append(int(pid))
    except OSError:  # gone meanwhile
      continue
  return found


def test_a_custom_task_module_is_shipped_and_a_node_lost_mid_child_loses_nothing(cluster,
                                                                                tmp_path):
  """A custom task's module lives beside the driver only (under the hidden folder): Ray's
  runtime_env carries it to the worker nodes. A second node joins; the first node that
  starts a child is killed whole (raylet and workers) at once, and Ray trains its children
  again on the other: the search ends with every child, once each. (This test ends a node
  of the module's cluster, so it runs after the others that use it.)"""
  from nas_tf.store import workdir as wd
  folder = cluster["hidden"] / "code"
  folder.mkdir()
  # tests/custom_task.py under a name that exists nowhere else
  (folder / "brightness_task.py").write_text(
      open(os.path.join(os.path.dirname(__file__), "custom_task.py")).read())
  nodes = {HIDDEN_HOST: cluster["worker"], "hidden-node-b": cluster["start_node"]("hidden-node-b")}
  driver = textwrap.dedent(f'''
      import nas_tf
      from brightness_task import Brightness
      nas_tf.search(Brightness, method="random", preset="smoke", workdir={str(folder / "w")!r},
                    log=lambda _: None,
                    overrides={{"search.num_children": 2, "child.epochs": 1,
                               "executor.kind": "ray",
                               "executor.address": {cluster["address"]!r}}})
      ''')
  env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}
  env.update(RAY_AUTH_TOKEN_PATH=str(cluster["token"]), PYTHONPATH=str(folder),
             TF_CPP_MIN_LOG_LEVEL="3")
  search = subprocess.Popen([sys.executable, "-c", driver], env=env, cwd=str(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    lost = None
    deadline = time.time() + 180
    while lost is None and time.time() < deadline and search.poll() is None:
      lost = next((host for host, node in nodes.items() if _children_on(node)), None)
      time.sleep(0.1)
    assert lost, f"no child ran on a worker node: {search.communicate()}"
    os.killpg(nodes[lost].pid, signal.SIGKILL)  # the node's raylet: its workers follow
    _, err = search.communicate(timeout=300)
  finally:
    search.kill()
  assert search.returncode == 0, err[-3000:]
  rows = wd.read_jsonl(str(folder / "w" / "children.jsonl"))
  assert sorted(r["index"] for r in rows) == [0, 1] and [r["status"] for r in rows] == ["ok"] * 2
  (survivor,) = set(nodes) - {lost}
  assert all(r["worker"].startswith(f"{survivor}:") for r in rows), (lost, rows)


def test_a_stale_current_cluster_file_does_not_stop_a_local_ray(tmp_path, monkeypatch):
  """A killed head leaves RAY_TMPDIR/ray/ray_current_cluster behind; nas-tf's own local Ray
  starts anyway (Ray alone would try to join it, and refuse num_cpus). On it: data too large
  for the object store stops the search in one line."""
  from nas_tf.tasks.ray_executor import connect
  short = tempfile.mkdtemp(prefix="nas-tf-ray-")  # Ray's socket paths fit in 107 bytes
  monkeypatch.setenv("RAY_TMPDIR", short)
  os.makedirs(os.path.join(short, "ray"))
  with open(os.path.join(short, "ray", "ray_current_cluster"), "w") as f:
    f.write(f"127.0.0.1:{_free_port()}")
  with pytest.raises(ValueError, match="num_cpus and num_gpus must not be provided"):
    ray.init(num_cpus=1)  # what nas-tf called before
  try:
    assert connect("", 1) is True and ray.cluster_resources()["CPU"] == 1
    _data_too_large_for_the_object_store_stops_the_search_in_one_line(monkeypatch)
  finally:
    ray.shutdown()
    shutil.rmtree(short, ignore_errors=True)


def _data_too_large_for_the_object_store_stops_the_search_in_one_line(monkeypatch):
  """(On the running Ray of the test above, to start one Ray fewer.)"""
  from nas_tf.errors import InfrastructureError
  from nas_tf.tasks.cifar10 import Cifar10Task
  from nas_tf.tasks.ray_executor import RayExecutor
  config = load_config("smoke")
  config.data.source = "synthetic"

  def full(value, **kwargs):  # what Ray raises once its store and spill disk are full
    raise ray.exceptions.ObjectStoreFullError("Failed to put object 00ff of size 3.9 GiB")
  monkeypatch.setattr(ray, "put", full)
  with pytest.raises(InfrastructureError) as raised:
    RayExecutor(config, Cifar10Task(config))
  assert str(raised.value).startswith("the task's data does not fit in Ray's object store "
                                      "(ObjectStoreFullError: Failed to put object 00ff")
  assert "--object-store-memory" in str(raised.value) and "\n" not in str(raised.value)
  monkeypatch.undo()


def test_a_node_that_differs_from_the_driver_refuses_its_child():
  """A node that joins after the start is checked by its first child: another nas-tf there
  stops the search in one line instead of training with other code."""
  from nas_tf.tasks.ray_executor import NodeMismatch, _train_child_on_node, versions
  driver = {**versions(), "nas-tf": "0.0.1"}
  with pytest.raises(NodeMismatch, match=r"runs nas-tf \S+ \(the driver has 0\.0\.1\): "
                                         r"install the driver's versions on every node"):
    _train_child_on_node([None], {"space": "cnn"}, 0, True, driver)


def test_a_node_with_another_tensorflow_is_refused_before_any_child_trains(tmp_path):
  from nas_tf.errors import InfrastructureError
  from nas_tf.tasks.cifar10 import Cifar10Task
  from nas_tf.tasks.ray_executor import RayExecutor
  fake = tmp_path / "site" / "tensorflow-9.9.0.dist-info"
  fake.mkdir(parents=True)
  (fake / "METADATA").write_text("Metadata-Version: 2.1\nName: tensorflow\nVersion: 9.9.0\n")
  config = load_config("smoke")
  config.data.source = "synthetic"
  config.executor.kind = "ray"
  ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False,
           runtime_env={"env_vars": {"PYTHONPATH": str(tmp_path / "site")}})
  try:
    with pytest.raises(InfrastructureError, match=r"runs tensorflow 9\.9\.0 \(the driver has "
                                                  r"2\.\d+\.\d+\): install the driver's"):
      RayExecutor(config, Cifar10Task(config))
  finally:
    ray.shutdown()
