"""sm.compile's first calls: numpy answers them while numba compiles (symml.codegen.interim).

Each test writes its kernel into an empty cache of its own, so the kernel is always one that
this process wrote, whatever the state of the shared caches (a kernel found in the cache was
compiled by the process that wrote it, and gets no numpy answers). The rest of the suite runs
with SYMML_NUMPY_FIRST=0 (conftest), so that every other test of a kernel tests numba's.
"""
import sys

import numpy as np
import pytest

import symml as sm
from symml.codegen import interim
from symml.codegen.jit import runtime_module
from symml.evaluate import BindError

pytestmark = pytest.mark.compile


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMML_CACHE_DIR", str(tmp_path))
    yield
    sm.finish_compiling()  # no compile thread outlives its test's cache


def logistic():
    n, d = sm.dims("n d")
    X, y = sm.tensor("X", (n, d)), sm.tensor("y", (n,))
    w, b, lam = sm.tensor("w", (d,)), sm.scalar("b"), sm.scalar("lam")
    z = X @ w + b
    L = sm.sum(sm.softplus(z) - y * z) + lam / 2 * sm.norm2(w)
    return {"loss": L, "grad": sm.grad(L, [w, b])}


def data(rng, n=300, d=7, dtype=np.float64):
    return {"X": rng.normal(size=(n, d)).astype(dtype), "y": (rng.random(n) < 0.5).astype(dtype),
            "w": (0.3 * rng.normal(size=d)).astype(dtype), "b": 0.2, "lam": 0.5}


def registered(kernel) -> bool:
    return (kernel.module_name, kernel.fn_name) in sys.modules[runtime_module()]._INTERIM


def test_the_first_call_is_answered_by_numpy_and_numba_gives_the_same_outputs_after(fresh, rng):
    k = sm.compile(logistic(), numpy_first=True)
    a = data(rng)
    first = k(**a)
    assert k._interim.calls == 1 and registered(k)
    k.finish_compiling()
    assert not registered(k)
    later = k(**a)
    assert k._interim.calls == 1  # numba's kernel answered
    assert type(first["loss"]) is type(later["loss"]) is float
    assert first["loss"] == pytest.approx(later["loss"], rel=1e-13)
    for g1, g2 in zip(first["grad"], later["grad"]):
        assert type(g1) is type(g2)
        np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-12)
    ref = sm.evaluate(logistic(), **a)
    np.testing.assert_allclose(later["grad"][0], ref["grad"][0], rtol=1e-12)


def test_numpy_answers_in_the_inputs_dtype_with_fresh_arrays(fresh, rng):
    k = sm.compile(logistic(), numpy_first=True)
    a = data(rng, dtype=np.float32)
    first = k(**a)
    assert k._interim.calls == 1
    k.finish_compiling()
    later = k(**a)
    assert first["grad"][0].dtype == later["grad"][0].dtype == np.float32
    np.testing.assert_allclose(first["grad"][0], later["grad"][0], rtol=1e-4, atol=1e-4)
    n = sm.dims("n")
    v = sm.tensor("v", (n,))
    same = sm.compile({"v": v * 1}, numpy_first=True)  # an output that is an input's values
    got = same(v=a["y"])["v"]
    assert not np.shares_memory(got, a["y"])


def test_bad_input_gets_the_kernels_message_before_numpy_sees_it(fresh, rng):
    k = sm.compile(logistic(), numpy_first=True)
    a = data(rng)
    with pytest.raises(BindError, match="missing input 'lam'"):
        k(**{key: v for key, v in a.items() if key != "lam"})
    with pytest.raises(ValueError, match=r"\(n,\)"):
        k(**{**a, "y": a["y"][:-1]})
    bad = a["X"].copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="X"):
        k(**{**a, "X": bad}, check_finite=True)
    with pytest.raises(ValueError, match="X"):
        k(**{**a, "X": bad})  # the lazy check: a NaN output names the input that carried it
    assert k(**a)["loss"] > 0


def test_what_numpy_cannot_compute_waits_for_numba(fresh, rng, monkeypatch):
    k = sm.compile(logistic(), numpy_first=True)

    def fails(args):
        raise np.linalg.LinAlgError("numpy could not")

    monkeypatch.setattr(k._interim, "_evaluate", fails)
    a = data(rng)
    out = k(**a)
    assert k._interim.calls == 0 and not registered(k)
    np.testing.assert_allclose(out["grad"][0], sm.evaluate(logistic(), **a)["grad"][0], rtol=1e-12)


def test_sizes_no_input_binds_reach_numpy(fresh):
    n = sm.dims("n")
    y, b = sm.tensor("y", (n,)), sm.scalar("b")
    H = sm.hessian(sm.sum((y - b) ** 2), b)  # 2n: n only through the number of rows
    k = sm.compile({"H": H}, dims={"n": 4}, numpy_first=True)
    assert k.sizes  # the kernel reads no input that binds n
    assert k(b=1.0)["H"] == 8.0
    assert k._interim.calls == 1
    k.finish_compiling()
    assert k(b=1.0, dims={"n": 5})["H"] == 10.0


def test_check_verifies_numbas_kernel(fresh, rng):
    k = sm.compile(logistic(), numpy_first=True)
    assert registered(k)
    assert k.check().passed
    assert not registered(k) and k._interim.calls == 0


def test_a_kernel_found_in_the_cache_and_the_switch_off_get_no_numpy(fresh, rng, monkeypatch):
    k = sm.compile(logistic(), numpy_first=True)
    k(**data(rng))
    k.finish_compiling()
    again = sm.compile(logistic(), numpy_first=True)  # the cache holds it: numba compiled it
    assert again._interim is None
    assert sm.compile(logistic(), numpy_first=False)._interim is None
    monkeypatch.setenv("SYMML_NUMPY_FIRST", "0")
    assert not interim.enabled(None)
    monkeypatch.setenv("SYMML_NUMPY_FIRST", "1")
    assert interim.enabled(None) and not interim.enabled(False)
