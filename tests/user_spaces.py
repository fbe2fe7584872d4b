"""Build functions for tests/test_user_space.py: Keras Tuner's getting-started guide
(keras-team/keras-io guides/keras_tuner/getting_started.py) with only its import changed, and
small spaces with known answers."""

from tensorflow import keras
from tensorflow.keras import layers


def guide_first(hp):
  # The guide's first build_model: one hp.Int.
  model = keras.Sequential()
  model.add(layers.Flatten())
  model.add(
      layers.Dense(
          # Define the hyperparameter.
          units=hp.Int("units", min_value=32, max_value=512, step=32),
          activation="relu",
      )
  )
  model.add(layers.Dense(10, activation="softmax"))
  model.compile(
      optimizer="adam",
      loss="categorical_crossentropy",
      metrics=["accuracy"],
  )
  return model


def guide_layers(hp):
  # The guide's conditional build_model (units_i per layer), its learning rate a stepped
  # hp.Float: the guide's continuous hp.Float("lr", 1e-4, 1e-2, sampling="log") is refused.
  model = keras.Sequential()
  model.add(layers.Flatten())
  # Tune the number of layers.
  for i in range(hp.Int("num_layers", 1, 3)):
    model.add(
        layers.Dense(
            # Tune number of units separately.
            units=hp.Int(f"units_{i}", min_value=32, max_value=512, step=32),
            activation=hp.Choice("activation", ["relu", "tanh"]),
        )
    )
  if hp.Boolean("dropout"):
    model.add(layers.Dropout(rate=0.25))
  model.add(layers.Dense(10, activation="softmax"))
  learning_rate = hp.Float("lr", min_value=1e-4, max_value=1e-2, step=10, sampling="log")
  model.compile(
      optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
      loss="categorical_crossentropy",
      metrics=["accuracy"],
  )
  return model


def guide_continuous(hp):
  learning_rate = hp.Float("lr", min_value=1e-4, max_value=1e-2, sampling="log")
  return guide_first(hp)


def fails_at_64(hp):
  # A build that raises for one of its choices: those children fail, the search goes on.
  units = hp.Choice("units", [16, 64])
  if units == 64:
    raise ValueError("64 units are not supported here")
  model = keras.Sequential([layers.Flatten(), layers.Dense(units, activation="relu"),
                            layers.Dense(10)])
  return model  # not compiled: the task's recipe trains its logits


def choices(hp):
  # A LayerChoice of three ops and an InputChoice of two of three tensors, functional API.
  import nas_tf
  inputs = keras.Input((8, 8, 4))
  b0 = layers.Conv2D(4, 1, name="b0")(inputs)
  b1 = nas_tf.LayerChoice({"conv3": layers.Conv2D(4, 3, padding="same"),
                           "conv5": layers.Conv2D(4, 5, padding="same"),
                           "pool": layers.MaxPooling2D(3, 1, padding="same")}, name="op")(b0)
  merged = nas_tf.InputChoice(3, n_chosen=2, name="inputs")([inputs, b0, b1])
  outputs = layers.Dense(3)(layers.GlobalAveragePooling2D()(merged))
  return keras.Model(inputs, outputs)


class _Subclassed(keras.Model):
  def __init__(self):
    super().__init__()
    import nas_tf
    self.flatten = layers.Flatten()
    self.hidden = nas_tf.LayerChoice([layers.Dense(8), layers.Dense(16)], name="width")
    self.head = layers.Dense(3)

  def call(self, x):
    return self.head(self.hidden(self.flatten(x)))


def subclassed(hp):
  return _Subclassed()


def tiny_cell(hp):
  # A one-node DARTS-like cell for one-shot searches: two edges (a LayerChoice each) into a
  # node that keeps one; a dropout that does not change shapes (held under DARTS).
  import nas_tf
  inputs = keras.Input((None, None, 3))
  s0 = layers.Conv2D(4, 1, name="s0")(inputs)
  s1 = layers.Conv2D(4, 3, padding="same", name="s1")(inputs)
  edges = [nas_tf.LayerChoice({"none": layers.Lambda(lambda t: 0.0 * t),
                               "conv": layers.Conv2D(4, 3, padding="same"),
                               "pool": layers.AveragePooling2D(3, 1, padding="same")},
                              name=f"e{j}")(s) for j, s in enumerate([s0, s1])]
  node = nas_tf.InputChoice(2, n_chosen=1, name="node")(edges)
  if hp.Boolean("dropout"):
    node = layers.Dropout(0.1)(node)
  return keras.Model(inputs, layers.Dense(10)(layers.GlobalAveragePooling2D()(node)))


def width_and_choice(hp):
  # An hp value that changes weight shapes next to a LayerChoice: one-shot search refuses it.
  import nas_tf
  inputs = keras.Input((8, 8, 3))
  x = layers.Conv2D(hp.Choice("width", [4, 8]), 1)(inputs)
  x = nas_tf.LayerChoice([layers.ReLU(), layers.Activation("tanh")], name="act")(x)
  return keras.Model(inputs, layers.Dense(10)(layers.Flatten()(x)))


def mismatched_candidates(hp):
  # A LayerChoice whose candidates give different shapes: a one-shot search cannot sum them.
  import nas_tf
  inputs = keras.Input((8, 8, 3))
  x = nas_tf.LayerChoice([layers.Conv2D(4, 1), layers.Conv2D(8, 1)], name="width")(inputs)
  return keras.Model(inputs, layers.Dense(10)(layers.Flatten()(x)))


def cell_ops(hp):
  # nas_tf.cell_op candidates: DARTS' search-network ops in DARTS' supernet, the child's
  # own ops everywhere else.
  import nas_tf
  inputs = keras.Input((8, 8, 4))
  x = nas_tf.LayerChoice({"sep": nas_tf.cell_op("sep_conv_3x3", 4),
                          "pool": nas_tf.cell_op("avg_pool_3x3", 4)}, name="op")(inputs)
  return keras.Model(inputs, layers.Dense(10)(layers.GlobalAveragePooling2D()(x)))


# ENAS micro's supernet network (nas_tf/models/enas_micro.py) at the test's size, written
# with LayerChoice and InputChoice where the two spaces coincide: every block reads the
# cell's two inputs, so each cell's output (ENAS's loose ends) is all its blocks. The ops
# are the built-in's own layers (SharedOp) under the built-in's layer names, so its weights
# copy over by name.
ENAS_MICRO = {"ops": ("identity", "sep_conv_3x3", "avg_pool_3x3"), "num_blocks": 2,
              "channels": 4, "layers_per_stage": 1}


def enas_micro_cells(hp):
  import nas_tf
  from nas_tf.models.cell import cell_positions
  from nas_tf.models.layers import batch_norm
  from nas_tf.models.shared_ops import SharedOp

  class StridedOp(SharedOp):  # in a reduction cell the ops read the inputs at stride 2
    def __init__(self, kind, channels, reduction, **kwargs):
      super().__init__(kind, channels, reduction, **kwargs)
      self.stride = 2 if reduction else 1

    def call(self, x, training=False):
      return super().call(x, stride=self.stride, training=training)

  s = ENAS_MICRO
  images = keras.Input((32, 32, 3))
  stem = layers.Conv2D(3 * s["channels"], 3, padding="same", use_bias=False, name="stem_conv")
  prev_prev = prev = batch_norm("stem_bn")(stem(images))
  reduced = False  # whether the cell before was a reduction (h[c-2] is then twice h[c-1])
  for name, kind, reduction, filters in cell_positions(s["layers_per_stage"], s["channels"]):
    pre0 = SharedOp("identity" if reduced else "relu_conv_bn", filters, True,
                    name=f"{name}_pre0")
    inputs = [pre0(prev_prev, stride=2 if reduced else 1),
              SharedOp("relu_conv_bn", filters, name=f"{name}_pre1")(prev)]
    blocks = []
    for i in range(s["num_blocks"]):
      slots = []
      for slot in range(2):
        x = nas_tf.InputChoice(2, name=f"{kind}_b{i}_{slot}_in")(inputs)
        slots.append(nas_tf.LayerChoice(
            {op: StridedOp(op, filters, reduction, name=f"{name}_b{i}_{slot}_{op}")
             for op in s["ops"]}, name=f"{kind}_b{i}_{slot}_op")(x))
      blocks.append(layers.Add()(slots))
    prev_prev, prev, reduced = prev, layers.Concatenate()(blocks), reduction
  pooled = layers.GlobalAveragePooling2D(name="pool")(prev)
  return keras.Model(images, layers.Dense(10, name="logits")(pooled))
