"""MirroredStrategy over two logical CPU devices, and mixed precision, for children."""

import os
import subprocess
import sys
import textwrap

import numpy as np

from conftest import tiny_cifar_config
from nas_tf.tasks.cifar10 import Cifar10Task

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Logical devices must be configured before TensorFlow initialises, hence a fresh process.
MIRRORED = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    sys.path.insert(0, sys.argv[1])
    sys.path.insert(0, sys.argv[2])
    from conftest import tiny_cifar_config
    from nas_tf.tasks import training as child_trainer
    from nas_tf.tasks.cifar10 import Cifar10Task

    config = tiny_cifar_config(1)
    task = Cifar10Task(config)
    task.prepare()
    space = task.space
    arch = space.decode(space.encode([
        {"filter_height": 3, "filter_width": 3, "filters": 8},
        {"filter_height": 1, "filter_width": 3, "filters": 4, "inputs": [0]}]), 2)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(32, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 10, 32)

    def first_step_loss(strategy_name):
        c = task.settings()
        c.strategy = strategy_name
        keras.utils.set_random_seed(0)
        with child_trainer.child_context(c):
            model = task.build_model(arch, c)
            task.compile_model(model, c)
            replicas = model.distribute_strategy.num_replicas_in_sync
            return float(model.train_on_batch(images, labels)[0]), replicas

    single, one = first_step_loss("default")
    mirrored, two = first_step_loss("mirrored")
    assert (one, two) == (1, 2), (one, two)
    assert abs(single - mirrored) < 1e-4 * abs(single), (single, mirrored)
    config.child.strategy = "mirrored"
    metrics = task.train_child(arch, seed=0)  # a whole child trains under the strategy
    assert np.isfinite(metrics["val_accuracy"]), metrics
    print(f"ok {single:.6f} {mirrored:.6f} {metrics['val_accuracy']:.4f}")
""")


def test_mirrored_child_trains_on_two_replicas_and_matches_the_first_step_loss():
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1"}
  result = subprocess.run([sys.executable, "-c", MIRRORED, ROOT, os.path.join(ROOT, "tests")],
                          capture_output=True, text=True, env=env, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.startswith("ok "), result.stdout


def test_mixed_precision_child_keeps_float32_logits_and_trains():
  import keras
  config = tiny_cifar_config(1, **{"child.precision": "mixed_bfloat16"})
  task = Cifar10Task(config)
  task.prepare()
  arch = task.space.decode(task.space.encode([{"filter_height": 3, "filter_width": 3,
                                                "filters": 8}]), 1)
  metrics = task.train_child(arch, seed=0)
  assert np.isfinite(metrics["val_accuracy"]) and np.isfinite(metrics["reward"])
  assert keras.mixed_precision.global_policy().name == "float32"  # restored afterwards
  from nas_tf.tasks import training as child_trainer
  c = task.settings()
  with child_trainer.child_context(c):
    c.precision = "mixed_bfloat16"
  with child_trainer.child_context(config.child):
    model = task.build_model(arch)
    assert model.get_layer("l0_conv").compute_dtype == "bfloat16"
    assert model.output.dtype == "float32"
