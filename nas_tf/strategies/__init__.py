"""Search strategies: proposers driven by the shared loop and one-shot methods with their
own (see ``base``). One module per strategy, registered in ``nas_tf.registry``."""
