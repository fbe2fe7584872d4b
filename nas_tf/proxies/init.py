"""Initializations a proxy is computed under. The authors' runs scored networks as PyTorch
builds them (zero-cost-nas ``--init_w_type none --init_b_type none``; NASWOT ``--init ''``):
a convolution's or dense layer's kernel and bias uniform in +-1/sqrt(fan_in)
(``kaiming_uniform_(a=sqrt(5))`` and ``reset_parameters``' bias), fan_in the weights of one
filter; batch norm's scale 1 and shift 0. Keras' own (Glorot-uniform kernels, zero biases)
is the other choice."""

from __future__ import annotations

import keras
import numpy as np

from nas_tf.proxies.measures import _fan_in, weighted_layers

INITS = ("pytorch", "keras")


def pytorch_default(model: keras.Model, seed: int) -> keras.Model:
  """Re-draws ``model``'s kernels and biases as PyTorch's defaults, in place."""
  rng = np.random.default_rng(seed)
  for layer in weighted_layers(model):
    bound = 1.0 / np.sqrt(_fan_in(layer))
    layer.kernel.assign(rng.uniform(-bound, bound, layer.kernel.shape).astype(np.float32))
    if getattr(layer, "bias", None) is not None:
      layer.bias.assign(rng.uniform(-bound, bound, layer.bias.shape).astype(np.float32))
  return model


def initialize(model: keras.Model, init: str, seed: int) -> keras.Model:
  if init == "pytorch":
    return pytorch_default(model, seed)
  if init != "keras":
    raise ValueError(f"zero_cost.init={init!r}: one of {', '.join(INITS)}")
  return model
