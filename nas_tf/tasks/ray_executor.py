"""Children as Ray tasks, needing nothing from the nodes but Ray and the same packages.

Many Ray clusters share no file system (KubeRay, ``ray up`` clusters, spot nodes), so no
worker opens a path of the driver's:

- the driver loads the task's data once and puts the prepared task into Ray's object store;
  each worker process reads it from there once;
- a child returns its metrics, and its weights as bytes when the search keeps them; the
  driver writes them into the work directory;
- a custom task's module (``module:Class`` from outside site-packages) travels in the job's
  ``runtime_env`` (``py_modules``; Ray uploads local paths for a job, not for a task).

Before any child trains, every node is asked its nas-tf, TensorFlow and Keras versions; a
node that differs from the driver stops the search in one line (a node that joins later is
checked by its first child). With no ``executor.address`` a fresh local Ray is started
(``address="local"``), whatever ``/tmp/ray/ray_current_cluster`` points to; with one, the
cluster's token (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``) is
used when there is one.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import sys
import tempfile
from importlib import metadata
from typing import Any

import ml_collections

from nas_tf.config import ConfigError
from nas_tf.errors import InfrastructureError
from nas_tf.tasks import executors

WEIGHTS = "_weights_h5"  # the metrics key a child's weights travel under, as bytes
_TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly")
_TASKS: dict[str, Any] = {}  # object id -> the prepared task, inside a worker process


class ClusterError(ConfigError):
  """The Ray cluster cannot be reached or used as configured (exit 2)."""


class NodeMismatch(InfrastructureError):
  """A node runs other packages than the driver, or cannot load the task."""


def _installed(*distributions: str) -> str | None:
  """The version of the first of ``distributions`` installed here, or None."""
  for name in distributions:
    try:
      return metadata.version(name)
    except metadata.PackageNotFoundError:
      continue
  return None


def versions() -> dict[str, str | None]:
  """What must match between the driver and every node (read without importing them)."""
  import nas_tf
  return {"nas-tf": nas_tf.__version__, "tensorflow": _installed(*_TENSORFLOW_DISTRIBUTIONS),
          "keras": _installed("keras")}


def mismatch(driver: dict[str, Any], node: dict[str, Any], where: str) -> str | None:
  """One line naming what differs between the driver's and a node's versions, or None."""
  differ = [f"{name} {node.get(name)} (the driver has {version})"
            for name, version in driver.items() if node.get(name) != version]
  if not differ:
    return None
  return (f"{where} runs {', '.join(differ)}: install the driver's versions on every node "
          "(pip install nas-tf and requirements.txt) before searching on this cluster")


def _node_versions() -> dict[str, Any]:
  return {**versions(), "host": executors.worker_id().split(":")[0]}


def _task_from_store(box: list) -> Any:
  """The prepared task this worker process was given, fetched from the object store once."""
  import ray
  ref = box[0]
  if ref.hex() not in _TASKS:
    try:
      _TASKS[ref.hex()] = ray.get(ref)
    except (ModuleNotFoundError, ray.exceptions.RaySystemError) as e:
      raise NodeMismatch(f"{executors.worker_id()} cannot load the task ({_cause(e)}): "
                         "install its module on every node, or pass "
                         "runtime_env={'py_modules': [its folder]} to your ray.init") from None
  return _TASKS[ref.hex()]


def _train_child_on_node(box: list, arch: dict[str, Any], seed: int, keep_weights: bool,
                         driver_versions: dict[str, Any]) -> dict[str, Any]:
  problem = mismatch(driver_versions, versions(), f"node {executors.worker_id()}")
  if problem:
    raise NodeMismatch(problem)
  task = _task_from_store(box)
  if not keep_weights or task.simulated:
    return executors.train_in_this_process(task, arch, seed, None)
  folder = tempfile.mkdtemp(prefix="nas-tf-child-")  # this node's own disk, removed after
  try:
    path = os.path.join(folder, "child.weights.h5")
    metrics = executors.train_in_this_process(task, arch, seed, path)
    if os.path.exists(path):
      with open(path, "rb") as f:
        metrics[WEIGHTS] = f.read()
    return metrics
  finally:
    shutil.rmtree(folder, ignore_errors=True)


def _token_available() -> bool:
  path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
  return bool(os.environ.get("RAY_AUTH_TOKEN")) or os.path.isfile(path)


def connect(address: str, cpus: int, py_modules: list[str] = ()) -> bool:
  """Connects this process to Ray, with ``py_modules`` uploaded for the workers; returns
  whether it started the instance (and so stops it). A Ray already initialized here (a
  notebook, a test) is used as it is."""
  if address and "RAY_AUTH_MODE" not in os.environ and _token_available():
    # Ray enables a found token only for clusters it finds itself ("auto"); a cluster named
    # by its address that was started with `ray start` wants it as well.
    os.environ["RAY_AUTH_MODE"] = "token"
  import ray
  if ray.is_initialized():
    return False
  try:  # Ray reads RAY_AUTH_MODE into its config once, when first imported
    from ray._raylet import Config
    Config.initialize("")
  except (ImportError, AttributeError):
    pass
  # Only a job's runtime_env may name local paths for Ray to upload, not a task's.
  job = {"runtime_env": {"py_modules": list(py_modules)}} if py_modules else {}
  if not address:  # our own, even with a stale current-cluster file left by a dead head
    ray.init(address="local", num_cpus=cpus or None, include_dashboard=False,
             log_to_driver=False, configure_logging=False, **job)
    return True
  try:
    if address != "auto":
      _ask_for_the_cluster_id(address)
    ray.init(address=address, log_to_driver=False, configure_logging=False, **job)
  except ray.exceptions.AuthenticationError:
    raise ClusterError(
        f"the Ray cluster at executor.address={address} refused this machine's token: copy "
        "the head node's ~/.ray/auth_token here, or set RAY_AUTH_TOKEN") from None
  except (ConnectionError, ValueError, RuntimeError) as e:
    raise ClusterError(
        f"could not connect to the Ray cluster at executor.address={address} "
        f"({str(e).strip().splitlines()[0]}): is it running, and does this machine have its "
        "token (the head's ~/.ray/auth_token here, or RAY_AUTH_TOKEN)?") from None
  return False


def _ask_for_the_cluster_id(address: str) -> None:
  """One request to the head: a refused token raises AuthenticationError at once, where
  ``ray.init`` would retry it for 20 s, logging a line a second, and then call it a
  connection failure. Anything else is left to ``ray.init``."""
  try:
    from ray._raylet import GcsClient
    GcsClient(address=address).cluster_id
  except ImportError:
    return
  except Exception as e:
    import ray
    if isinstance(e, ray.exceptions.AuthenticationError):
      raise


def check_nodes(ray, driver: dict[str, Any], timeout: float = 120.0) -> int:
  """Asks every live node its versions (a zero-CPU task pinned to it); raises NodeMismatch
  on the first that differs. Returns the number of nodes."""
  from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
  probe = ray.remote(_node_versions)
  nodes = [n for n in ray.nodes() if n.get("Alive")]
  refs = [probe.options(name="nas_tf_versions", num_cpus=0,
                        scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
                        ).remote() for n in nodes]
  try:
    answers = ray.get(refs, timeout=timeout)
  except ray.exceptions.GetTimeoutError:
    raise NodeMismatch(f"not every Ray node answered within {timeout:.0f} s") from None
  except ray.exceptions.RayError as e:  # e.g. nas_tf missing on a node: the probe cannot load
    raise NodeMismatch(f"a Ray node cannot run nas-tf ({_cause(e)}): install the driver's "
                       "packages on every node") from None
  for node, answer in zip(nodes, answers):
    problem = mismatch(driver, answer, f"node {answer['host']} "
                                       f"({node.get('NodeManagerAddress', '?')})")
    if problem:
      raise NodeMismatch(problem)
  return len(nodes)


def _cause(error: BaseException) -> str:
  """``Type: first line`` of the error a Ray error carries (a task's own), or of the error."""
  cause = getattr(error, "cause", None) or error
  text = str(cause).strip().splitlines()
  return f"{type(cause).__name__}: {text[0] if text else ''}"


def _shipped_modules(task) -> list[str]:
  """The path of the custom task's top-level module or package when it is not installed
  (Ray uploads it for the workers); nas-tf's own and installed ones are the nodes' to have."""
  top = type(task).__module__.split(".")[0]
  module = sys.modules.get(top)
  paths = list(getattr(module, "__path__", None) or [getattr(module, "__file__", None) or ""])
  if top in ("nas_tf", "__main__") or len(paths) != 1 or not paths[0] or "-packages" in paths[0]:
    return []
  return paths


class RayExecutor:
  """Children as Ray tasks; Ray schedules them on the cluster's CPUs and GPUs."""

  def __init__(self, config: ml_collections.ConfigDict, task):
    import ray
    e = config.executor
    self._ray = ray
    if not task.prepared:
      task.prepare()
    self._started_here = connect(e.address, e.workers, _shipped_modules(task))
    try:
      self.versions = versions()
      self.nodes = check_nodes(ray, self.versions)
      self._box = [self._put(task)]  # a list, so that Ray hands workers the reference
    except BaseException:
      self.close()
      raise
    threads = max(1, int(e.cpus_per_child))
    runtime_env = {"env_vars": {"TF_NUM_INTRAOP_THREADS": str(threads),
                                "TF_NUM_INTEROP_THREADS": "1",
                                "TF_FORCE_GPU_ALLOW_GROWTH": "true",
                                "TF_CPP_MIN_LOG_LEVEL": "2"}}
    self.remote = ray.remote(_train_child_on_node).options(
        name="nas_tf_child", num_cpus=e.cpus_per_child, num_gpus=e.gpus_per_child,
        max_retries=e.max_retries, retry_exceptions=False, runtime_env=runtime_env)
    resources = ray.cluster_resources()
    self.capacity = max(1, int(resources.get("CPU", 1) // max(e.cpus_per_child, 1e-9)))
    if e.gpus_per_child:
      self.capacity = min(self.capacity, max(1, int(resources.get("GPU", 0) // e.gpus_per_child)))
    cluster = f"the Ray cluster at {e.address}" if e.address else "a local Ray"
    self.where = (f"on {cluster}: {self.nodes} node(s) with nas-tf {self.versions['nas-tf']}, "
                  f"TensorFlow {self.versions['tensorflow']}, {resources.get('CPU', 0):g} CPUs, "
                  f"{resources.get('GPU', 0):g} GPUs; the data in its object store")

  def _put(self, task):
    try:
      return self._ray.put(task)
    except (self._ray.exceptions.ObjectStoreFullError, self._ray.exceptions.OutOfDiskError) as e:
      raise InfrastructureError(f"the task's data does not fit in Ray's object store "
                                f"({_cause(e)}): start the nodes with a larger "
                                "--object-store-memory, or give them more disk to spill to"
                                ) from None

  def submit(self, arch, seed, weights_path=None) -> concurrent.futures.Future:
    outer = concurrent.futures.Future()
    inner = self.remote.remote(self._box, arch, seed, weights_path is not None,
                               self.versions).future()

    def relay(done: concurrent.futures.Future):
      try:
        metrics = done.result()
        weights = metrics.pop(WEIGHTS, None)
        if weights is not None:
          from nas_tf.store import workdir as wd
          os.makedirs(os.path.dirname(weights_path), exist_ok=True)
          wd.atomic_write_bytes(weights_path, weights)
        outer.set_result(metrics)
      except BaseException as e:  # the child's own error, not Ray's wrapper of it
        outer.set_exception(self._unwrapped(e))
    inner.add_done_callback(relay)
    return outer

  def _unwrapped(self, error: BaseException) -> BaseException:
    exceptions = self._ray.exceptions
    if isinstance(error, (exceptions.ObjectStoreFullError, exceptions.OutOfDiskError)):
      return InfrastructureError(f"Ray's object store is full ({_cause(error)}): start the "
                                 "nodes with a larger --object-store-memory")
    cause = getattr(error, "cause", None)
    if isinstance(error, exceptions.RayTaskError) and isinstance(cause, BaseException):
      return cause
    return error

  def close(self) -> None:
    if self._started_here and self._ray.is_initialized():
      self._ray.shutdown()


def make_ray(config: ml_collections.ConfigDict, task):
  from nas_tf.config import ConfigError
  try:
    import ray  # noqa: F401  (an extra: a search on one machine installs no Ray)
  except ImportError:
    raise ConfigError("executor.kind=ray needs Ray: pip install 'nas-tf[ray]' (or -r "
                      "requirements-ray.txt)") from None
  return RayExecutor(config, task)
