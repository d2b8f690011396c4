"""A process forked while a kernel compiles in the background can run kernels.

numba's compiler lock is held by the thread that compiles; a child forked meanwhile would
inherit it held by a thread the child does not have, and its first compile would wait for
ever. The runtime makes a fork wait for the compiles it has in flight (os.register_at_fork).
"""
import os
import sys

import numpy as np
import pytest

import symml as sm

pytestmark = [pytest.mark.compile,
              pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin", reason="needs fork")]


def _run_child(fn, timeout=120) -> int:
    """fn() in a forked child; its exit status (1 for an exception), or -1 when it hangs."""
    import time

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            code = 0 if fn() else 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return -1


def test_a_fork_right_after_a_numpy_first_call_runs_kernels_in_the_child(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMML_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("SYMML_NUMPY_FIRST", "1")
    n, d = sm.dims("n d")
    X, w = sm.tensor("X", (n, d)), sm.tensor("w", (d,))
    L = sm.sum(sm.softplus(X @ w)) + sm.sum(w * w) * 0.37   # a kernel no other test compiles
    k = sm.compile({"loss": L, "grad": sm.grad(L, w)})
    rng = np.random.default_rng(0)
    a = {"X": rng.normal(size=(300, 4)), "w": rng.normal(size=4)}
    want = sm.evaluate({"loss": L, "grad": sm.grad(L, w)}, **a)
    k(**a)  # answered by numpy; numba compiles in a thread now

    def child():
        out = k(**a)
        return np.allclose(out["grad"], want["grad"], rtol=1e-10)

    assert _run_child(child) == 0
    k.finish_compiling()
    np.testing.assert_allclose(k(**a)["grad"], want["grad"], rtol=1e-10)
