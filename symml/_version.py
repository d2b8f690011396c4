"""The one version number of symml: pyproject.toml reads it, and so does every module that
stamps it (generated headers, cache keys)."""
__version__ = "0.1.0"
