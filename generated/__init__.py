"""Kernel modules written by ``symml generate``. Never edit these by hand.

This package file is written by hand (``symml generate`` writes the modules beside it). It
checks each module's seal before Python compiles it: a module cut short can be a syntax
error, which no check inside the module could report, so a truncated or edited module is
refused here with the same ImportError its own check gives.
"""
import hashlib as _hashlib
import importlib.abc as _abc
import importlib.machinery as _machinery
import os as _os
import sys as _sys


def _refuse_unsealed(path):
    with open(path, "rb") as f:
        text = f.read().replace(b"\r\n", b"\n")
    body, sep, seal = text.rpartition(b"\nSYMML_SOURCE_HASH = '")
    if sep and _hashlib.sha256(body + b"\n").hexdigest().encode() + b"'\n" == seal:
        return
    name = _os.path.splitext(_os.path.basename(path))[0]
    raise ImportError(f"{path} is truncated or was edited after generation (its text does not match the hash on "
                      f"its last line); regenerate it with `symml generate {name}`")


class _SealedModules(_abc.MetaPathFinder):
    """Finds generated.<name> as the normal path finder does, after checking the file's seal."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(__name__ + ".") or fullname.count(".") != 1:
            return None
        spec = _machinery.PathFinder.find_spec(fullname, __path__)
        if spec is not None and isinstance(spec.origin, str) and spec.origin.endswith(".py"):
            _refuse_unsealed(spec.origin)
        return spec


if not any(type(f).__name__ == "_SealedModules" and getattr(f, "package", None) == __name__ for f in _sys.meta_path):
    _finder = _SealedModules()
    _finder.package = __name__
    _sys.meta_path.insert(0, _finder)
