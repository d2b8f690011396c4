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
