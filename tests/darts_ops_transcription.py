"""quark0/darts ``cnn/operations.py`` transcribed in NumPy (NHWC), for tests only: each op as
PyTorch computes it, from the file, not from nas-tf's ``cell_ops``. Weights are given in
Keras' layouts (depthwise [k, k, C, 1], conv [kh, kw, C_in, C_out]), read from the nas-tf
op's layers by name; ``bn`` normalizes with the batch's statistics, as BatchNorm2d in
training mode (biased variance, eps 1e-5), with ``gamma``/``beta`` when ``affine``.

Lines: OPS 4-20, ReLUConvBN 22-33 (ReLU, conv, BN), DilConv 35-47 (ReLU, dilated depthwise,
pointwise, BN), SepConv 50-66 (that twice, the stride on the first depthwise only),
Identity 69-75, Zero 78-87, FactorizedReduce 90-104 (ReLU, 1x1 stride-2 convs of x and of
x[1:, 1:], concatenated, BN); pools 3x3 with padding 1, the average not counting it
(``count_include_pad=False``); model_search.py MixedOp (lines 11-22): in the search a pool is
followed by a BN without scale and shift, and every BN has none (``affine=False``).
"""

import numpy as np

EPS = 1e-5  # torch.nn.BatchNorm2d


def relu(x):
  return np.maximum(x, 0.0)


def bn(x, gamma=None, beta=None):
  mean = x.mean(axis=(0, 1, 2))
  var = x.var(axis=(0, 1, 2))
  y = (x - mean) / np.sqrt(var + EPS)
  return y if gamma is None else y * gamma + beta


def _pad(x, p, value=0.0):
  return np.pad(x, ((0, 0), (p[0], p[0]), (p[1], p[1]), (0, 0)), constant_values=value)


def depthwise(x, kernel, stride=1, padding=0, dilation=1):
  """nn.Conv2d(C, C, k, stride, padding, dilation, groups=C); ``kernel`` [k, k, C, 1]."""
  k = kernel.shape[0]
  xp = _pad(x, (padding, padding))
  h = (xp.shape[1] - dilation * (k - 1) - 1) // stride + 1
  w = (xp.shape[2] - dilation * (k - 1) - 1) // stride + 1
  out = np.zeros((x.shape[0], h, w, x.shape[3]))
  for a in range(k):
    for b in range(k):
      patch = xp[:, a * dilation:a * dilation + stride * (h - 1) + 1:stride,
                 b * dilation:b * dilation + stride * (w - 1) + 1:stride, :]
      out += patch * kernel[a, b, :, 0]
  return out


def conv(x, kernel, stride=(1, 1), padding=(0, 0)):
  """nn.Conv2d(C_in, C_out, (kh, kw), stride, padding, bias=False)."""
  kh, kw = kernel.shape[:2]
  xp = _pad(x, padding)
  h = (xp.shape[1] - kh) // stride[0] + 1
  w = (xp.shape[2] - kw) // stride[1] + 1
  out = np.zeros((x.shape[0], h, w, kernel.shape[3]))
  for a in range(kh):
    for b in range(kw):
      rows = slice(a, a + stride[0] * (h - 1) + 1, stride[0])
      patch = xp[:, rows, b:b + stride[1] * (w - 1) + 1:stride[1]]
      out += patch @ kernel[a, b]
  return out


def pool(x, kind, stride=1):
  """nn.AvgPool2d(3, stride, padding=1, count_include_pad=False) / nn.MaxPool2d(3, stride, 1)."""
  if kind == "max":
    xp = _pad(x, (1, 1), -np.inf)
  else:
    xp, ones = _pad(x, (1, 1)), _pad(np.ones_like(x[:1, ..., :1]), (1, 1))
  h, w = (x.shape[1] - 1) // stride + 1, (x.shape[2] - 1) // stride + 1
  windows = [xp[:, a:a + stride * (h - 1) + 1:stride, b:b + stride * (w - 1) + 1:stride]
             for a in range(3) for b in range(3)]
  if kind == "max":
    return np.max(windows, axis=0)
  counts = sum(ones[:, a:a + stride * (h - 1) + 1:stride, b:b + stride * (w - 1) + 1:stride]
               for a in range(3) for b in range(3))
  return np.sum(windows, axis=0) / counts


def op(name, x, w, stride, affine, search):
  """One op of OPS on x; ``w(layer, weight)`` gives the nas-tf op's weight arrays."""
  norm = (lambda y, layer: bn(y, w(layer, "gamma"), w(layer, "beta"))) if affine else (
      lambda y, layer: bn(y))
  if name == "none":
    return np.zeros_like(x[:, ::stride, ::stride])
  if name == "skip_connect":
    if stride == 1:
      return x
    y = relu(x)
    halves = [conv(y, w("conv_a", "kernel"), (2, 2)), conv(y[:, 1:, 1:], w("conv_b", "kernel"),
                                                          (2, 2))]
    return norm(np.concatenate(halves, axis=-1), "bn")
  if name.endswith("pool_3x3"):
    y = pool(x, name[:3], stride)
    return bn(y) if search else y
  if name.startswith("sep_conv"):
    k = int(name[-1])
    for t in range(2):
      x = depthwise(relu(x), w(f"dw{t}", "kernel"), stride if t == 0 else 1, (k - 1) // 2)
      x = norm(conv(x, w(f"pw{t}", "kernel")), f"bn{t}")
    return x
  if name.startswith("dil_conv"):
    k = int(name[-1])
    x = depthwise(relu(x), w("dw", "kernel"), stride, k - 1, dilation=2)
    return norm(conv(x, w("pw", "kernel")), "bn")
  if name == "conv_7x1_1x7":
    x = conv(relu(x), w("1x7", "kernel"), (1, stride), (0, 3))
    x = conv(x, w("7x1", "kernel"), (stride, 1), (3, 0))
    return norm(x, "bn")
  raise ValueError(name)
