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
