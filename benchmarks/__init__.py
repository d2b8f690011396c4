"""Benchmarks: timings side by side, not part of the test run (``python -m benchmarks``)."""
