"""Chunk kernels: the sample decomposition and the generated K_chunk / K_reg / K_finish.

For every catalog model whose loss is a sum over rows plus a regulariser, summing K_chunk
over blocks that partition the rows and calling K_finish gives K over all rows, to 1e-10
relative, for every standard kernel. Models that are not such sums say why and get none.
"""
from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest

import symml as sm
from symml.catalog import catalog, load
from symml.decompose import NotDecomposable, split_samples
from symml.nodes import leaves
from symml.verify import sample_inputs

DECOMPOSABLE = [name for name in catalog() if importlib.import_module(f"generated.{name}").CHUNKED]


def test_the_catalog_sums_are_found():
    assert {"least_squares", "ridge", "lasso", "elastic_net", "logistic_regression", "softmax_regression",
            "poisson_regression", "svm_primal", "svm_hinge", "mlp", "cnn", "gaussian_mixture",
            "gaussian_naive_bayes", "distribution_normal"} <= set(DECOMPOSABLE)
    for name in ("svm_dual", "ridge_dual", "kl_gaussian", "pca_lagrangian", "max_entropy"):
        assert name not in DECOMPOSABLE
        assert "No chunk kernels:" in inspect.getsource(importlib.import_module(f"generated.{name}"))


def _args(fn, values):
    return [values[p] for p in inspect.signature(fn).parameters if p not in ("check_finite", "parallel")]


def _close(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            _close(x, y)
        return
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    assert float(np.max(np.abs(a - b))) <= 1e-10 * scale if a.size else True


def _add(a, b):
    return tuple(_add(x, y) for x, y in zip(a, b)) if isinstance(a, tuple) else a + b


@pytest.mark.compile
@pytest.mark.parametrize("name", DECOMPOSABLE)
def test_chunks_sum_to_the_whole(name):
    mod = importlib.import_module(f"generated.{name}")
    d = load(name)
    rng = np.random.default_rng(1)
    split = d.sample_split
    values = sample_inputs(d, rng, sizes={str(split.dim): 7})
    for p, v in zip(d.params, d.directions):
        shape = np.shape(values[p.name])
        values[v.name] = rng.normal(size=shape) if shape else float(rng.normal())
    n = values[split.rows[0].name].shape[0]
    values[split.n_total.name] = float(n)
    rows = {t.name for t in split.rows}
    for k in mod.CHUNKED:
        whole = getattr(mod, k)(*_args(getattr(mod, k), values))
        chunk, finish = getattr(mod, f"{k}_chunk"), getattr(mod, f"{k}_finish")
        total = None
        for lo, hi in ((0, 3), (3, 4), (4, 7)):  # uneven blocks, one of a single row
            block = {key: (v[lo:hi] if key in rows else v) for key, v in values.items()}
            part = chunk(*_args(chunk, block))
            total = part if total is None else _add(total, part)
        fin_args = _args(finish, {**values, "partial": total})
        _close(finish(*fin_args), whole)


@pytest.mark.compile
def test_finish_refuses_a_partial_of_the_wrong_layout():
    from generated import logistic_regression as m

    w, X, y = np.zeros(3), np.ones((5, 3)), np.ones(5)
    part = m.value_and_grad_chunk(w, 0.0, X, y, 5.0)
    with pytest.raises(ValueError, match=r"partial\[1\]: expected a tuple of 2 parts"):
        m.value_and_grad_finish((part[0], part[1][0]), w, 0.0, 0.1, 5.0)
    with pytest.raises(ValueError, match=r"partial\[1\]\[0\]: expected shape \(3,\), got \(4,\)"):
        m.value_and_grad_finish((part[0], (np.zeros(4), 0.0)), w, 0.0, 0.1, 5.0)


def test_a_mean_reads_the_total_row_count():
    n, d = sm.dims("n d")
    X, y, w = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,))
    lam = sm.scalar("lam")
    loss = sm.mean((X @ w - y) ** 2) + lam * sm.norm2(w) + n * lam
    s = split_samples(loss, [X, y], [w, lam])
    rng = np.random.default_rng(0)
    Xv, yv, wv = rng.normal(size=(9, 2)), rng.normal(size=9), rng.normal(size=2)
    full = sm.evaluate(loss, X=Xv, y=yv, w=wv, lam=0.3)
    part = sum(sm.evaluate(s.data_term, X=Xv[a:b], y=yv[a:b], w=wv, n_total=9.0) for a, b in ((0, 4), (4, 9)))
    reg = sm.evaluate(s.reg_term, w=wv, lam=0.3, n_total=9.0)
    assert abs(part + reg - full) <= 1e-12 * abs(full)
    assert {t.name for t in leaves(s.reg_term)} == {"w", "lam", "n_total"}


@pytest.mark.parametrize("make, why", [
    # log Σ exp is recognised as logsumexp, which couples the rows
    (lambda X, y, w: sm.log(sm.sum(sm.exp(X @ w))), "LogSumExp node is not linear"),
    (lambda X, y, w: sm.sum(X @ w) * sm.sum(y), "not affine"),
    (lambda X, y, w: sm.norm2(sm.solve(X.T @ X, w)), "not linear"),
    # (Σ softmax over its own axis is 1, so the loss reads y against a softmax over the rows)
    (lambda X, y, w: sm.sum(y * sm.softmax(X @ w, axis=0)), "LogSumExp node is not linear"),
    (lambda X, y, w: sm.norm2(w), "does not read the data"),
])
def test_losses_that_are_not_sums_over_rows_are_refused(make, why):
    n, d = sm.dims("n d")
    X, y, w = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,))
    with pytest.raises(NotDecomposable, match=why):
        split_samples(make(X, y, w), [X, y], [w])


def test_no_sample_dimension_when_a_parameter_carries_it():
    n = sm.dims("n")
    K, a = sm.tensor("K", (n, n)), sm.tensor("a", (n,))
    with pytest.raises(NotDecomposable, match="no data tensor"):
        split_samples(a @ K @ a, [K], [a])
