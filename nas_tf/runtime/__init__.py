"""The process a search runs in: the machine's devices and threads (``hardware``), seeds
derived from the search seed (``seeds``), TensorFlow's start-up noise kept off the
terminal (``quiet``)."""
