from nas_tf.cli import run

run()
