"""symml.dask: chunk kernels over Dask arrays, on the threaded scheduler and on a real
LocalCluster (2 worker processes on loopback): equality with the in-memory kernels, fits,
bounded worker memory, and a worker killed during a distributed gradient."""
from __future__ import annotations

import os
import resource
import signal
import threading
import time

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import symml as sm  # noqa: E402
from symml import dask as smd  # noqa: E402

pytestmark = pytest.mark.compile


def _flat(o):
    if isinstance(o, tuple):
        return np.concatenate([_flat(x) for x in o]) if o else np.zeros(0)
    return np.ravel(np.asarray(o, dtype=float))


def _rel(a, b):
    a, b = _flat(a), _flat(b)
    assert a.shape == b.shape
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


@pytest.mark.parametrize("name", ["logistic_regression", "least_squares", "softmax_regression", "poisson_regression"])
def test_every_chunked_kernel_equals_the_in_memory_kernel(name):
    import importlib

    mod = importlib.import_module(f"generated.{name}")
    d = sm.load(name)
    rng = np.random.default_rng(3)
    values = sm.verify.sample_inputs(d, rng, sizes={"n": 1003, "d": 4, "K": 3})
    for p, v in zip(d.params, d.directions):
        values[v.name] = rng.normal(size=np.shape(values[p.name])) if np.ndim(values[p.name]) else 0.3
    for k in mod.CHUNKED:
        names = [t for t in smd._params_of(getattr(mod, k))]
        ref = getattr(mod, k)(*[values[t] for t in names])
        lazy = {t: (da.from_array(values[t], chunks=(200,) + np.shape(values[t])[1:]) if t in mod.ROW_ARGS
                    else values[t]) for t in names}
        got = smd.run(name, k, *[lazy[t] for t in names], split_every=3)
        assert _rel(got, ref) <= 1e-10, (name, k)


def test_bad_input_is_refused_before_any_task_runs():
    X = da.zeros((100, 3), chunks=(30, 3))
    y = da.zeros(100, chunks=30)
    with pytest.raises(ValueError, match=r"w: expected shape \(d,\) = \(3,\)"):
        smd.value_and_grad("logistic_regression", np.zeros(4), 0.0, X, y, 1.0)
    with pytest.raises(ValueError, match="y: expected 100 rows"):
        smd.value_and_grad("logistic_regression", np.zeros(3), 0.0, X, da.zeros(99, chunks=30), 1.0)
    with pytest.raises(ValueError, match="kernel: expected one of"):
        smd.run("logistic_regression", "fisher", np.zeros(3), 0.0, X, y, 1.0)
    with pytest.raises(ValueError, match="svm_dual: loss has no chunk form"):
        smd.run("svm_dual", "loss")
    with pytest.raises(TypeError, match="missing argument 'lam'"):
        smd.value_and_grad("logistic_regression", np.zeros(3), 0.0, X, y)
    with pytest.raises(ValueError, match="expected a float array"):
        smd.loss("least_squares", np.zeros(3), 0.0, da.from_array(np.array([["a"] * 3] * 4)), da.zeros(4), )


def test_nan_in_one_block_is_named():
    Xn = np.ones((90, 2))
    Xn[70, 1] = np.nan
    X, y = da.from_array(Xn, chunks=(30, 2)), da.zeros(90, chunks=30)
    with pytest.raises(ValueError, match="X: contains NaN or inf"):
        smd.value_and_grad("logistic_regression", np.zeros(2), 0.0, X, y, 1.0)


def test_sm_fit_sends_dask_data_to_the_cluster_path_and_agrees_in_memory():
    X, y, _ = smd.synthetic_logistic(6_000, 4, 1_000, seed=2)
    r = sm.fit("logistic_regression", (X, y), lam=1.0)
    ref = sm.fit("logistic_regression", (X.compute(), y.compute()), method="L-BFGS-B", lam=1.0)
    assert r.converged and r.info["distributed_calls"] >= 2
    assert np.max(np.abs(r.theta - ref.theta)) <= 1e-6
    nt = smd.fit("logistic_regression", (X, y), method="newton", lam=1.0)
    assert np.max(np.abs(nt.theta - ref.theta)) <= 1e-6


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, memory_limit="1GiB", silence_logs=40)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _warm(d):
    from generated import logistic_regression as m

    rng = np.random.default_rng(0)
    m.value_and_grad_chunk(np.zeros(d), 0.0, rng.normal(size=(50, d)), np.ones(50), 50.0)


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_fit_on_a_cluster_with_data_never_held_whole(client):
    # 4 × 10⁵ rows × 50 columns (153 MiB) made block by block on the workers, 20 blocks of 7.6 MiB
    # (examples/dask_logistic.py does 2 × 10⁶ rows under a memory limit below the data's size)
    n, d, rows = 400_000, 50, 20_000
    X, y, w_true = smd.synthetic_logistic(n, d, rows, seed=7)
    client.run(_warm, d)  # every worker loads the kernels before the baseline
    base = client.run(_peak_rss_mb)
    r = smd.fit("logistic_regression", (X, y), method="L-BFGS-B", client=client, lam=1.0, tol=1e-6)
    assert r.converged, r.message
    # 2·10⁶ samples: the estimate is within a few standard errors of the truth
    assert np.max(np.abs(r.params["w"] - w_true)) < 0.05
    peak = client.run(_peak_rss_mb)
    block_mb = rows * d * 8 / 2**20
    for worker, mb in peak.items():  # no worker held more than a few blocks at once
        assert mb - base[worker] < 8 * block_mb, (worker, mb, base[worker])
    # the same fit on a subsample-sized problem agrees with the in-memory fit
    Xs, ys, _ = smd.synthetic_logistic(20_000, d, 2_500, seed=8)
    small = smd.fit("logistic_regression", (Xs, ys), method="Newton-CG", client=client, lam=1.0)
    ref = sm.fit("logistic_regression", (Xs.compute(), ys.compute()), method="newton", lam=1.0)
    assert np.max(np.abs(small.theta - ref.theta)) <= 1e-6


def test_minibatch_sgd_samples_blocks(client):
    X, y, _ = smd.synthetic_logistic(40_000, 5, 4_000, seed=4)
    r = smd.fit("logistic_regression", (X, y), method="sgd", client=client, lam=1.0, lr=5e-6, epochs=4)
    ref = sm.fit("logistic_regression", (X.compute(), y.compute()), method="newton", lam=1.0)
    # 40 noisy steps (one block of 4 000 rows each) close ≥ 95% of the gap to the optimum
    gap = (r.loss_history - ref.loss) / (r.loss_history[0] - ref.loss)
    assert gap[-1] < 0.05, r.loss_history


def _slow_block(i, rows, d):
    time.sleep(0.15)
    return np.random.default_rng([11, i]).normal(size=(rows, d))


def test_a_worker_killed_during_a_gradient_never_gives_a_wrong_sum(client):
    rows, d, blocks = 5_000, 8, 24
    make = dask.delayed(_slow_block, pure=True)
    X = da.concatenate([da.from_delayed(make(i, rows, d), (rows, d), np.float64) for i in range(blocks)])
    Xn = np.concatenate([_slow_block(i, rows, d) for i in range(blocks)])
    yn = (Xn[:, 0] > 0).astype(float)
    y = da.from_array(yn, chunks=rows)
    w = np.linspace(-0.5, 0.5, d)
    from generated import logistic_regression as m

    ref = m.value_and_grad(w, 0.1, Xn, yn, 1.0)
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    killer = threading.Timer(0.6, lambda: os.kill(victim, signal.SIGKILL))
    killer.start()
    try:
        got = smd.value_and_grad("logistic_regression", w, 0.1, X, y, 1.0, client=client)
    except distributed.KilledWorker as e:  # the other acceptable outcome: a clear error, no number
        assert "KilledWorker" in type(e).__name__
    else:
        assert _rel(got, ref) <= 1e-10
    finally:
        killer.join()
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.run(os.getpid).values()  # the kill did happen
