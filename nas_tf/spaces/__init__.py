"""Search spaces, pure Python (no TensorFlow): what a strategy decides and how its tokens
become an architecture dict. One module per space, registered in ``nas_tf.registry``."""
