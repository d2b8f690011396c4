"""Kernel modules written by ``symml generate``. Never edit these by hand."""
