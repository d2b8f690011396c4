"""Progress on long work: one line per item (``symml generate``, ``symml check``) and a status line
that rewrites itself (long ``sm.fit`` runs).

Both write to stderr, and only when stderr is a terminal (never into a pipe, a log or a captured
test run) unless told otherwise; ``--quiet`` turns them off. No dependency: a line per module and a
carriage-return status line say what tqdm would, and symml keeps its dependencies to the four it
needs (see the README's dependency notes).

Takes: counts and labels. Gives: text on stderr.
"""
from __future__ import annotations

import sys
import time


def interactive(stream=None) -> bool:
    """Whether the stream (default stderr) is a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Lines:
    """``[i/N] label`` lines, one per item, with the seconds the previous item took.

    >>> import io
    >>> out = io.StringIO()
    >>> p = Lines(2, "checking", stream=out, enabled=True)
    >>> p.item("ridge"); p.item("lasso"); p.done()
    >>> out.getvalue().splitlines()[0]
    '[1/2] checking ridge'
    """

    def __init__(self, total: int, verb: str, *, stream=None, enabled: bool | None = None):
        self.total, self.verb, self.stream = total, verb, sys.stderr if stream is None else stream
        self.enabled = interactive(self.stream) if enabled is None else enabled
        self.i, self.t0, self.start = 0, time.perf_counter(), time.perf_counter()

    def say(self, text: str) -> None:
        if self.enabled:
            print(text, file=self.stream, flush=True)

    def item(self, label: str) -> None:
        """The next item starts."""
        self.i += 1
        self.t0 = time.perf_counter()
        self.say(f"[{self.i}/{self.total}] {self.verb} {label}")

    def done(self) -> None:
        if self.i:
            self.say(f"{self.verb}: {self.i} done in {time.perf_counter() - self.start:.1f} s")


class Status:
    """A status line that rewrites itself (at most 4 times a second, after ``delay`` seconds),
    cleared when the work ends: short work prints nothing."""

    def __init__(self, label: str, *, stream=None, enabled: bool | None = None, delay: float = 1.0):
        self.label, self.stream = label, sys.stderr if stream is None else stream
        self.enabled = interactive(self.stream) if enabled is None else enabled
        self.start, self.last, self.delay, self.shown = time.perf_counter(), 0.0, delay, 0

    def update(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if force or (now - self.start >= self.delay and now - self.last >= 0.25):
            line = f"{self.label}: {text} ({now - self.start:.1f} s)"
            self.stream.write("\r" + line.ljust(self.shown))
            self.stream.flush()
            self.shown, self.last = len(line), now

    def close(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.stream.flush()


def cold_in_numba_cache(py_files) -> list:
    """The files with no numba cache index yet (their kernels compile on first use).

    Cheap: it looks for numba's index files (``<module>.<function>-<line>.py<ver>.nbi``) where
    numba keeps them, in ``NUMBA_CACHE_DIR`` when it is set, else in the ``__pycache__`` next to
    the file; nothing is imported or compiled.
    """
    import glob
    import os

    from numba.core import config
    from numba.core.caching import _CacheLocator

    cold = []
    for path in map(os.path.abspath, map(str, py_files)):
        stem = os.path.splitext(os.path.basename(path))[0]
        folders = [os.path.join(os.path.dirname(path), "__pycache__")]
        if config.CACHE_DIR:
            folders.insert(0, os.path.join(config.CACHE_DIR, _CacheLocator.get_suitable_cache_subpath(path)))
        if not any(glob.glob(os.path.join(glob.escape(f), f"{glob.escape(stem)}.*.nbi")) for f in folders):
            cold.append(path)
    return cold
