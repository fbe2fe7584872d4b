"""ENAS's three controllers transcribed in NumPy from melodyguan/enas, for tests only.

Each function follows one ``_build_sampler`` step by step (the LSTM steps, what each step is
fed, how logits are shaped, the priors, the entropy term) and returns the log-probability
and the entropy term of a given token sequence, so that nas-tf's ``Controller`` under an
ENAS config can be checked against it with the same weights. Written from the authors'
files, not from nas-tf's controller:

- ``micro``: ``src/cifar10/micro_controller.py`` lines 116-229 (two samplers, the second
  continuing the first's LSTM state; the normal cell's ``use_bias``);
- ``macro``: ``src/cifar10/general_controller.py`` lines 126-268 (``search_whole_channels``);
- ``recurrent``: ``src/ptb/ptb_enas_controller.py`` lines 92-174.

The weights come from nas-tf's controller (``weights``): an LSTM step in Keras' gate order
(ENAS's is i, f, o, g: the same function of a permuted weight matrix), and the op columns in
nas-tf's op order, which ``ENAS_MICRO_OPS`` maps to ENAS's (``micro_child.py`` line 566-572:
sep 3x3, sep 5x5, avg pool, max pool, identity).
"""

import numpy as np

ENAS_MICRO_OPS = ("sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity")
B_SOFT_INIT = np.array([10.0, 10.0, 0.0, 0.0, 0.0])  # micro_controller.py line 100
B_SOFT_NO_LEARN = np.array([0.25, 0.25, -0.25, -0.25, -0.25])  # line 106-107


def weights(controller):
  """The controller's weights as arrays (one LSTM layer, as all three of ENAS's)."""
  assert len(controller.cells) == 1
  cell = controller.cells[0]
  w = {"kernel": cell.kernel.numpy(), "recurrent": cell.recurrent_kernel.numpy(),
       "bias": cell.bias.numpy() if cell.use_bias else 0.0,
       "g_emb": controller.go.numpy(), "w_attn_1": controller.w_prev.kernel.numpy(),
       "w_attn_2": controller.w_curr.kernel.numpy(), "v_attn": controller.v.kernel.numpy()}
  for t, head in controller.heads.items():
    w[f"w_soft/{t}"] = head.kernel.numpy()
    w[f"b_soft/{t}"] = head.bias.numpy() if head.use_bias else 0.0
    w[f"w_emb/{t}"] = controller.embeddings[t].embeddings.numpy()
  return w


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


class _Lstm:
  def __init__(self, w):
    self.w, units = w, w["recurrent"].shape[0]
    self.c, self.h = np.zeros((1, units)), np.zeros((1, units))

  def __call__(self, x):
    z = x @ self.w["kernel"] + self.h @ self.w["recurrent"] + self.w["bias"]
    i, f, g, o = np.split(z, 4, axis=-1)
    self.c = _sigmoid(f) * self.c + _sigmoid(i) * np.tanh(g)
    self.h = _sigmoid(o) * np.tanh(self.c)
    return self.h


def _log_softmax(logits):
  logits = logits - logits.max()
  return logits - np.log(np.exp(logits).sum())


def _entropy(log_p):
  return float(-(np.exp(log_p) * log_p).sum())


def micro(w, tokens, num_blocks, ops, tanh_constant, op_tanh_reduce):
  """micro_controller.py: normal then reduction cell; per block index_1, index_2, op_1, op_2
  (nas-tf's token order, ENAS's sampling order), the full entropy of each decision."""
  to_ours = [ops.index(op) for op in ENAS_MICRO_OPS]  # ENAS op e is nas-tf column to_ours[e]
  w_soft = w["w_soft/cell_op"][:, to_ours]
  b_soft = np.asarray(w["b_soft/cell_op"])[to_ours]
  w_emb = w["w_emb/cell_op"][to_ours]
  lstm, log_prob, entropy, pos = _Lstm(w), 0.0, 0.0, 0
  for use_bias in (True, False):  # lines 79-80: the normal cell's sampler uses the bias
    inputs = w["g_emb"]
    anchors, anchors_w_1 = [], []
    for _ in range(2):  # lines 135-140
      h = lstm(inputs)
      anchors.append(np.zeros_like(h))
      anchors_w_1.append(h @ w["w_attn_1"])
    for layer_id in range(2, num_blocks + 2):
      for _ in range(2):  # lines 150-173
        h = lstm(inputs)
        query = np.tanh(np.concatenate(anchors_w_1[:layer_id]) + h @ w["w_attn_2"])
        logits = tanh_constant * np.tanh((query @ w["v_attn"]).reshape(-1))
        index = tokens[pos]
        log_p = _log_softmax(logits)
        log_prob, entropy, pos = log_prob + log_p[index], entropy + _entropy(log_p), pos + 1
        inputs = anchors[index]
      for _ in range(2):  # lines 175-196
        h = lstm(inputs)
        logits = (h @ w_soft + b_soft).reshape(-1)
        logits = tanh_constant / op_tanh_reduce * np.tanh(logits)
        if use_bias:
          logits = logits + B_SOFT_NO_LEARN
        op_id = to_ours.index(tokens[pos])
        log_p = _log_softmax(logits)
        log_prob, entropy, pos = log_prob + log_p[op_id], entropy + _entropy(log_p), pos + 1
        inputs = w_emb[op_id][None]
      h = lstm(inputs)  # lines 198-201
      anchors.append(h)
      anchors_w_1.append(h @ w["w_attn_1"])
      inputs = w["g_emb"]
  assert pos == len(tokens)
  return log_prob, entropy


def macro(w, tokens, num_layers, tanh_constant):
  """general_controller.py with search_whole_channels: per layer its op, then its skips; each
  decision's entropy term is the sampled value's -p log p (lines 168, 240-241)."""
  lstm, log_prob, entropy, pos = _Lstm(w), 0.0, 0.0, 0
  inputs, anchors, anchors_w_1 = w["g_emb"], [], []
  for layer_id in range(num_layers):
    h = lstm(inputs)  # lines 149-170
    logits = tanh_constant * np.tanh((h @ w["w_soft/operation"]).reshape(-1))
    log_p = _log_softmax(logits)[tokens[pos]]
    log_prob, entropy = log_prob + log_p, entropy - np.exp(log_p) * log_p
    inputs, pos = w["w_emb/operation"][tokens[pos]][None], pos + 1
    h = lstm(inputs)  # lines 213-250
    if layer_id > 0:
      query = np.tanh(np.concatenate(anchors_w_1) + h @ w["w_attn_2"]) @ w["v_attn"]
      logits = tanh_constant * np.tanh(np.concatenate([-query, query], axis=1))
      skip = np.asarray(tokens[pos:pos + layer_id])
      log_p = np.array([_log_softmax(row)[s] for row, s in zip(logits, skip)])
      log_prob += log_p.sum()
      entropy -= (np.exp(log_p) * log_p).sum()
      inputs = skip[None].astype(float) @ np.concatenate(anchors) / (1.0 + skip.sum())
      pos += layer_id
    else:
      inputs = w["g_emb"]
    anchors.append(h)
    anchors_w_1.append(h @ w["w_attn_1"])
  assert pos == len(tokens)
  return log_prob, entropy


def recurrent(w, tokens, num_nodes, tanh_constant, temperature):
  """ptb_enas_controller.py: per node an anchor step that (after node 0) picks the node's
  input with the (i - j)^2 / 6 distance prior and feeds it divided by 0.1 + distance, then
  its activation; entropy terms of the sampled values (lines 138, 161)."""
  lstm, log_prob, entropy, pos = _Lstm(w), 0.0, 0.0, 0
  inputs, all_h, all_h_w = w["g_emb"], [], []
  for layer_id in range(num_nodes):
    h = lstm(inputs)
    all_h.append(h)
    all_h_w.append(h @ w["w_attn_1"])
    if layer_id > 0:  # lines 115-143
      query = np.tanh(h @ w["w_attn_2"] + np.concatenate(all_h_w[:-1])) @ w["v_attn"]
      logits = tanh_constant * np.tanh(query.reshape(-1) / temperature)
      logits = logits - (layer_id - np.arange(layer_id)) ** 2 / 6.0
      index = tokens[pos]
      log_p = _log_softmax(logits)[index]
      log_prob, entropy, pos = log_prob + log_p, entropy - np.exp(log_p) * log_p, pos + 1
      inputs = all_h[index] / (0.1 + layer_id - index)
    else:
      inputs = w["g_emb"]
    h = lstm(inputs)  # lines 147-163
    logits = tanh_constant * np.tanh((h @ w["w_soft/activation"]).reshape(-1) / temperature)
    log_p = _log_softmax(logits)[tokens[pos]]
    log_prob, entropy = log_prob + log_p, entropy - np.exp(log_p) * log_p
    inputs, pos = w["w_emb/activation"][tokens[pos]][None], pos + 1
  assert pos == len(tokens)
  return log_prob, entropy
