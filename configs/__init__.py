"""The bundled configs, one per task and per method with its authors' settings; installed as
``nas_tf.configs`` (``nas_tf/presets.py`` finds them from any folder)."""
