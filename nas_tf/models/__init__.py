"""Keras model builders, one module per search space (``registry.SPACES[...].models``): an
image space's module exposes ``build_classifier(arch, input_shape, num_classes,
weight_decay, width)``; the recurrent cell's exposes ``NASCell`` and
``build_language_model``."""
