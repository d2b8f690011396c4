"""Shared pytest fixtures."""
from __future__ import annotations

import os
import sys
import zlib

import numpy as np
import pytest

# tests/fd.py is a helper module, imported as ``fd`` by the tests
sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A numpy Generator seeded from the test's id: reproducible, and different per test."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)


# sm.compile answers a freshly written kernel's first calls with numpy while numba compiles it
# (symml.codegen.interim). Every test of a kernel tests numba's kernel: tests/test_numpy_first.py
# switches the numpy answers on for itself.
os.environ.setdefault("SYMML_NUMPY_FIRST", "0")
