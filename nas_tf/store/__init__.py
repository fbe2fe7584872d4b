"""A search's files: the work directory (atomic writes, JSONL, the lock, ``claim``) and its
checkpoints."""
