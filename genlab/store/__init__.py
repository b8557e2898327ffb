"""The run store: run folders (atomic writes, meta, metrics), schemas of everything read back, checkpoints."""
