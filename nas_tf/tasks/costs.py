"""What a child costs to deploy: its parameters, its FLOPs and its measured latency, from the
built network before it trains (none of them depends on the weights, so a hard budget can
skip an over-budget child's training).

FLOPs are TensorFlow's own count of the inference graph at batch 1 (the profiler's
``float_operation`` statistics: a multiply-add is two operations, and bias adds, batch
normalization and pooling count too). A language model is counted per token: the graph of one
step, whose loop body TensorFlow's count would skip at longer sequences. Latency is the
median of ``calls`` timed calls of that traced function at batch 1, after warm-up calls,
on this machine: children trained at once share its cores, so measure it with one at a time.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import tensorflow as tf

WARMUP_CALLS = 3


def inference_function(model, spec: tf.TensorSpec):
  """``model`` in inference mode, traced for ``spec``'s (fully known) shape."""
  return tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)


def count_flops(function) -> int:
  """Floating-point operations of one call of a concrete function (TensorFlow's profiler)."""
  from tensorflow.python.profiler import model_analyzer, option_builder
  from tensorflow.python.util import deprecation
  builder = option_builder.ProfileOptionBuilder
  options = builder(builder.float_operation()).with_empty_output().build()
  with deprecation.silence():
    return int(model_analyzer.profile(function.graph, options=options).total_float_ops)


def latency_ms(function, example, calls: int) -> float:
  """Median milliseconds of ``calls`` calls of ``function(example)``."""
  for _ in range(WARMUP_CALLS):
    function(example)
  times = []
  for _ in range(calls):
    started = time.perf_counter()
    np.asarray(function(example))  # waits for the result, on any device
    times.append((time.perf_counter() - started) * 1000.0)
  return round(statistics.median(times), 4)


def measure(model, spec: tf.TensorSpec, latency_calls: int = 0,
            params_of=None) -> dict[str, Any]:
  """``params`` (of ``params_of``, default ``model``), ``flops`` at batch 1 and, when
  ``latency_calls`` > 0, ``latency_ms``."""
  function = inference_function(model, spec)
  costs = {"params": int((params_of or model).count_params()), "flops": count_flops(function)}
  if latency_calls:
    example = tf.zeros(spec.shape, spec.dtype)
    costs["latency_ms"] = latency_ms(function, example, latency_calls)
  return costs
