from nas_tf.cli.main import run

run()
