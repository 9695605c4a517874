"""The embedded `studio` backends: CPU only, no weights, no torch."""
