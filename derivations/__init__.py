"""The model catalog: one module per derivation, each defining ``derivation``."""
