"""Probability derivations: distributions, information measures, Gaussian naive Bayes and mixtures.

Every kernel against ``sm.evaluate`` of the derived expression; finite differences through
``sm.check``; every closed form (MLEs, Fisher information, EM updates) against a numeric optimum
from scipy.optimize or a Monte-Carlo mean, and against scipy.stats, numpy and scikit-learn where
they compute the same thing. The solvers and helpers they rest on (symml.stationarity, symml.probability)
are unit-tested at the end.
"""
import importlib
import warnings

import numpy as np
import pytest
from scipy import integrate, optimize, stats

import symml as sm
from symml.catalog import load
from symml.probability import OutOfScope, expectation, mvn_logpdf, vmap
from symml.stationarity import NoClosedForm, solve_inverse
from symml.verify import sample_inputs

DISTRIBUTIONS = ["distribution_bernoulli", "distribution_binomial", "distribution_poisson", "distribution_normal",
                 "distribution_exponential"]
INFORMATION = ["entropy_categorical", "cross_entropy_categorical", "kl_categorical", "kl_gaussian"]
NAMES = DISTRIBUTIONS + INFORMATION + ["gaussian_naive_bayes", "gaussian_mixture"]


def _kernels(name):
    return importlib.import_module(f"generated.{name}")


def _rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b))) / max(1.0, float(np.max(np.abs(b))))


def _flat(out):
    return [np.asarray(o) for o in (out if isinstance(out, tuple) else (out,))]


# ---------------------------------------------------------------- every kernel, every derivation

@pytest.mark.compile
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("sizes", [{"n": 5, "d": 2, "K": 2}, {"n": 13, "d": 3, "K": 4}])
def test_every_kernel_agrees_with_evaluate(name, sizes):
    d, k = load(name), _kernels(name)
    rng = np.random.default_rng(7)
    args = sample_inputs(d, rng, sizes=sizes)
    if "Y" in args:  # every class labelled at least once: the MLE divides by class counts
        args["Y"] = np.eye(sizes["K"])[rng.permutation(np.arange(sizes["n"]) % sizes["K"])]
    args.update({v.name: rng.normal(size=np.shape(args[p.name])) for v, p in zip(d.directions, d.params)})
    if d.sample_split is not None:  # chunk kernels over all rows: the data term and the regulariser
        args[d.sample_split.n_total.name] = float(sizes[str(d.sample_split.dim)])
    for spec in d.kernel_specs():
        call = [args[t.name] for t in spec.args]
        got = getattr(k, spec.name)(*call)
        # the arguments themselves ride along, so that every size is bound even where an output is constant
        ref = sm.evaluate((*spec.outputs, *spec.args), **{t.name: args[t.name] for t in spec.args})[:len(spec.outputs)]
        if spec.layout == "blocks":
            m = len(spec.block_params)
            sz = [int(np.size(args[p.name])) for p in spec.block_params]
            blocks = [np.reshape(v, (sz[i // m], sz[i % m])) for i, v in enumerate(ref)]
            assert _rel(got, np.block([[blocks[i * m + j] for j in range(m)] for i in range(m)])) < 1e-10, name
            continue
        if spec.layout == "pair":
            got = (got[0], *_flat(got[1]))
        assert len(_flat(got)) == len(ref), (name, spec.name)
        for g, r in zip(_flat(got), ref):
            assert np.shape(g) == np.shape(r) and _rel(g, r) < 1e-10, (name, spec.name)


@pytest.mark.compile
@pytest.mark.parametrize("name", NAMES)
def test_symml_check(name):
    assert sm.check(name, points=2).ok
    assert sm.check(name, points=1, dtype=np.float32).ok


def test_closed_forms_and_notes_are_exposed():
    import derivations.distributions as D
    import derivations.gaussian_mixture as G
    import derivations.gaussian_naive_bayes as NB

    assert set(D.closed_forms) == set(DISTRIBUTIONS)
    assert all(set(v) == {"mle", "fisher"} for v in D.closed_forms.values())
    assert set(NB.closed_forms) == {"priors", "means", "variances"}
    assert set(G.closed_forms) == {"weights", "means", "covariances"}
    for name in DISTRIBUTIONS + ["gaussian_naive_bayes", "gaussian_mixture"]:
        d = load(name)
        assert all(e in d.notes for e in d.extra), name


# ---------------------------------------------------------------- distributions

SAMPLES = {  # name → (true parameters, a sample drawer, hyper-parameters, scipy log-pmf/pdf)
    "distribution_bernoulli": ((0.3,), lambda r, n: (r.random(n) < 0.3) * 1.0, (),
                               lambda x, p: stats.bernoulli.logpmf(x, p)),
    "distribution_binomial": ((0.35,), lambda r, n: r.binomial(7, 0.35, n) * 1.0, (7.0,),
                              lambda x, p: stats.binom.logpmf(x, 7, p)),
    "distribution_poisson": ((2.5,), lambda r, n: r.poisson(2.5, n) * 1.0, (),
                             lambda x, lam: stats.poisson.logpmf(x, lam)),
    "distribution_normal": ((1.5, 0.8), lambda r, n: r.normal(1.5, np.sqrt(0.8), n), (),
                            lambda x, mu, s2: stats.norm.logpdf(x, mu, np.sqrt(s2))),
    "distribution_exponential": ((1.7,), lambda r, n: r.exponential(1 / 1.7, n), (),
                                 lambda x, rate: stats.expon.logpdf(x, scale=1 / rate)),
}
FISHER = {  # the textbook Fisher information of one observation
    "distribution_bernoulli": lambda p: 1 / (p * (1 - p)),
    "distribution_binomial": lambda p: 7 / (p * (1 - p)),
    "distribution_poisson": lambda lam: 1 / lam,
    "distribution_normal": lambda mu, s2: np.array([[1 / s2, 0.0], [0.0, 1 / (2 * s2**2)]]),
    "distribution_exponential": lambda rate: 1 / rate**2,
}
STATISTIC = {  # the MLE as a sample statistic
    "distribution_bernoulli": lambda x: (x.mean(),),
    "distribution_binomial": lambda x: (x.mean() / 7,),
    "distribution_poisson": lambda x: (x.mean(),),
    "distribution_normal": lambda x: (x.mean(), x.var()),
    "distribution_exponential": lambda x: (1 / x.mean(),),
}


@pytest.mark.compile
@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_distribution_loss_is_scipy_log_likelihood(name):
    theta, draw, hyper, logpdf = SAMPLES[name]
    x = draw(np.random.default_rng(1), 40)
    assert _kernels(name).loss(*theta, x, *hyper) == pytest.approx(-logpdf(x, *theta).sum(), rel=1e-12)


@pytest.mark.compile
@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_distribution_mle_is_the_numeric_optimum_and_the_statistic(name):
    theta, draw, hyper, _ = SAMPLES[name]
    k = _kernels(name)
    x = draw(np.random.default_rng(2), 200)
    hat = _flat(k.mle(x, *hyper))
    assert np.allclose(hat, STATISTIC[name](x), rtol=1e-12, atol=0)
    fun = (lambda t: (k.loss(*t, x, *hyper), np.array([float(g) for g in _flat(k.grad(*t, x, *hyper))])))
    bounds = [(1e-6, 1 - 1e-6)] if name in ("distribution_bernoulli", "distribution_binomial") else \
        [(None, None), (1e-6, None)] if name == "distribution_normal" else [(1e-6, None)]
    res = optimize.minimize(fun, np.array(theta) * 1.2, jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 500})
    assert np.allclose(res.x, [float(h) for h in hat], rtol=1e-6, atol=1e-8), (res.x, hat)


@pytest.mark.compile
@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_fisher_information_is_textbook_and_monte_carlo(name):
    theta, draw, hyper, _ = SAMPLES[name]
    d, k = load(name), _kernels(name)
    values = {t.name: v for t, v in zip(d.params + d.hyper, (*theta, *hyper))}
    spec = next(s for s in d.kernel_specs() if s.name == "fisher")
    info = np.array([float(v) for v in _flat(k.fisher(*[values[t.name] for t in spec.args]))])
    info = info.reshape(len(theta), len(theta))
    assert np.allclose(info, np.atleast_2d(FISHER[name](*theta)), rtol=1e-12, atol=1e-15)
    rng = np.random.default_rng(3)
    reps, n = 50, 2000  # the mean of the Hessian kernel over 100 000 draws, per observation
    mc = np.mean([k.hessian(*theta, draw(rng, n), *hyper) / n for _ in range(reps)], axis=0)
    assert np.allclose(mc, info, rtol=0.03, atol=0.03 * np.max(info))


# ---------------------------------------------------------------- information measures

def _log_softmax(z):
    return z - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)) - z.max(1, keepdims=True)


@pytest.mark.compile
def test_categorical_measures_match_scipy_entropy():
    rng = np.random.default_rng(4)
    a, c = rng.normal(size=(6, 5)) * 2, rng.normal(size=(6, 5)) * 2
    p, q = np.exp(_log_softmax(a)), np.exp(_log_softmax(c))
    H = sum(stats.entropy(pi) for pi in p)
    KL = sum(stats.entropy(pi, qi) for pi, qi in zip(p, q))
    assert _kernels("entropy_categorical").loss(a) == pytest.approx(H, rel=1e-12)
    assert _kernels("kl_categorical").loss(a, c) == pytest.approx(KL, rel=1e-12)
    assert _kernels("cross_entropy_categorical").loss(a, c) == pytest.approx(H + KL, rel=1e-12)
    ga, gc = _kernels("cross_entropy_categorical").grad(a, c)
    assert np.allclose(gc, q - p, atol=1e-13)  # ∇_c H(p, q) = q − p
    big = np.array([[800.0, 0.0, -800.0]])  # stable: log_softmax, no log 0, no overflow
    for name in ("entropy_categorical", "cross_entropy_categorical", "kl_categorical"):
        args = (big,) if name == "entropy_categorical" else (big, -big)
        f, g = _kernels(name).value_and_grad(*args)
        assert np.isfinite(f) and all(np.isfinite(gi).all() for gi in _flat(g)), name


def _kl_gauss(m0, S0, m1, S1):
    P1 = np.linalg.inv(S1)
    dm = m1 - m0
    return 0.5 * (np.trace(P1 @ S0) + dm @ P1 @ dm - len(m0) + np.linalg.slogdet(S1)[1] - np.linalg.slogdet(S0)[1])


@pytest.mark.compile
def test_kl_gaussian_matches_formula_and_quadrature():
    k = _kernels("kl_gaussian")
    rng = np.random.default_rng(5)
    A, B = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    S0, S1, m0, m1 = A @ A.T + np.eye(4), B @ B.T + np.eye(4), rng.normal(size=4), rng.normal(size=4)
    assert k.loss(m0, S0, m1, S1) == pytest.approx(_kl_gauss(m0, S0, m1, S1), rel=1e-12)
    assert k.loss(m0, S0, m0, S0) == pytest.approx(0.0, abs=1e-12)
    p0, p1 = stats.norm(0.3, 1.2), stats.norm(-0.5, 0.7)
    quad = integrate.quad(lambda t: p0.pdf(t) * (p0.logpdf(t) - p1.logpdf(t)), -np.inf, np.inf, epsabs=1e-13)[0]
    got = k.loss(np.array([0.3]), np.array([[1.44]]), np.array([-0.5]), np.array([[0.49]]))
    assert got == pytest.approx(quad, rel=1e-9)


# ---------------------------------------------------------------- Gaussian naive Bayes

@pytest.fixture(scope="module")
def labelled():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 3, 60)
    X = rng.normal(size=(60, 4)) * (1 + y[:, None]) + 2 * y[:, None]
    return X, y, np.eye(3)[y]


@pytest.mark.compile
def test_naive_bayes_mle_matches_sklearn(labelled):
    from sklearn.naive_bayes import GaussianNB

    X, y, Y = labelled
    priors, M, V = _kernels("gaussian_naive_bayes").mle(X, Y)
    nb = GaussianNB(var_smoothing=0.0).fit(X, y)
    assert np.allclose(priors, nb.class_prior_, rtol=1e-12)
    assert np.allclose(M, nb.theta_, rtol=1e-12)
    assert np.allclose(V, nb.var_, rtol=1e-10)


@pytest.mark.compile
def test_naive_bayes_mle_is_the_numeric_optimum(labelled):
    X, _, Y = labelled
    k = _kernels("gaussian_naive_bayes")
    priors, M, V = k.mle(X, Y)
    K, d = M.shape

    def fun(t):  # over (M, log V, a): unconstrained
        Mt, s, a = t[:K * d].reshape(K, d), t[K * d:2 * K * d].reshape(K, d), t[2 * K * d:]
        f, (gM, gV, ga) = k.value_and_grad(Mt, np.exp(s), a, X, Y)
        return f, np.concatenate([gM.ravel(), (gV * np.exp(s)).ravel(), ga])

    t0 = np.concatenate([np.zeros(K * d), np.zeros(K * d), np.zeros(K)])
    res = optimize.minimize(fun, t0, jac=True, method="L-BFGS-B",
                            options={"gtol": 1e-10, "ftol": 1e-16, "maxiter": 5000, "maxcor": 30})
    Mo, Vo, ao = res.x[:K * d].reshape(K, d), np.exp(res.x[K * d:2 * K * d]).reshape(K, d), res.x[2 * K * d:]
    assert np.allclose(Mo, M, atol=1e-5) and np.allclose(Vo, V, rtol=1e-5)
    assert np.allclose(np.exp(_log_softmax(ao[None]))[0], priors, atol=1e-6)


# ---------------------------------------------------------------- Gaussian mixture

@pytest.fixture(scope="module")
def mixture():
    rng = np.random.default_rng(9)
    X = np.r_[rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) * 0.6 + 3, rng.normal(size=(30, 2)) * 1.5 - 2]
    w = np.array([0.2, 0.3, 0.5])
    M = X[[3, 40, 70]] + 0.1
    A = rng.normal(size=(3, 2, 2))
    S = np.einsum("kij,klj->kil", A, A) + np.eye(2)
    L = np.linalg.cholesky(np.linalg.inv(S))
    return X, w, M, S, L


def _numpy_em_step(X, w, M, S):
    dens = np.stack([w[k] * stats.multivariate_normal(M[k], S[k]).pdf(X) for k in range(len(w))], axis=1)
    R = dens / dens.sum(1, keepdims=True)
    Nk = R.sum(0)
    Mn = R.T @ X / Nk[:, None]
    Sn = np.stack([(R[:, k, None] * (X - Mn[k])).T @ (X - Mn[k]) / Nk[k] for k in range(len(w))])
    return R, Nk / len(X), Mn, Sn


@pytest.mark.compile
def test_mixture_loss_matches_scipy(mixture):
    X, w, M, S, L = mixture
    ref = -np.sum(np.log(sum(w[k] * stats.multivariate_normal(M[k], S[k]).pdf(X) for k in range(3))))
    assert _kernels("gaussian_mixture").loss(M, np.log(w), L, X) == pytest.approx(ref, rel=1e-12)


@pytest.mark.compile
def test_mixture_em_step_matches_numpy(mixture):
    X, w, M, S, L = mixture
    k = _kernels("gaussian_mixture")
    R, w1, M1, S1 = _numpy_em_step(X, w, M, S)
    assert np.allclose(k.responsibilities(M, np.log(w), L, X), R, atol=1e-13)
    got = k.em_step(M, np.log(w), L, X)
    for g, r in zip(got, (w1, M1, S1)):
        assert np.allclose(g, r, rtol=1e-11, atol=1e-13)


@pytest.mark.compile
def test_mixture_em_iterations_match_sklearn(mixture):
    from sklearn.mixture import GaussianMixture

    X, w, M, S, L = mixture
    k = _kernels("gaussian_mixture")
    a = np.log(w)
    for _ in range(4):
        w_, M, S_ = k.em_step(M, a, L, X)
        a, L = np.log(w_), np.linalg.cholesky(np.linalg.inv(S_))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: four iterations on purpose
        gm = GaussianMixture(3, covariance_type="full", reg_covar=0.0, tol=0.0, max_iter=4, weights_init=w,
                             means_init=mixture[2], precisions_init=np.linalg.inv(S)).fit(X)
    assert k.loss(M, a, L, X) / len(X) == pytest.approx(-gm.score(X), abs=1e-6)
    assert np.allclose(w_, gm.weights_, atol=1e-6) and np.allclose(S_, gm.covariances_, atol=1e-6)


def test_mixture_m_step_is_the_numeric_optimum_of_q(mixture):
    """The closed forms (given R) maximise Q = Σᵢ Σ_k R_ik [log π_k + log N(xᵢ | μ_k, Σ_k)]."""
    import derivations.gaussian_mixture as G

    X, w, M, S, _ = mixture
    R = _numpy_em_step(X, w, M, S)[0]
    cf = sm.evaluate(G.closed_forms, X=X, R=R)
    K, d = M.shape
    tril = np.tril_indices(d)

    def unpack(t):
        a, Mt = t[:K], t[K:K + K * d].reshape(K, d)
        C = np.zeros((K, d, d))
        C[:, tril[0], tril[1]] = t[K + K * d:].reshape(K, -1)
        return a, Mt, np.einsum("kij,klj->kil", C, C)

    def negQ(t):
        a, Mt, St = unpack(t)
        logpi = _log_softmax(a[None])[0]
        return -sum(R[:, k] @ (logpi[k] + stats.multivariate_normal(Mt[k], St[k]).logpdf(X)) for k in range(K))

    t0 = np.concatenate([np.zeros(K), M.ravel(), np.tile(np.eye(d)[tril], K)])
    res = optimize.minimize(negQ, t0, method="BFGS", options={"gtol": 1e-9})
    a, Mo, So = unpack(res.x)
    assert np.allclose(np.exp(_log_softmax(a[None])[0]), cf["weights"], atol=1e-5)
    assert np.allclose(Mo, cf["means"], atol=1e-5) and np.allclose(So, cf["covariances"], atol=1e-5)


@pytest.mark.compile
def test_extras_reject_bad_input(mixture):
    X, w, M, S, L = mixture
    with pytest.raises(ValueError, match=r"L: expected shape \(K, d, d\)"):
        _kernels("gaussian_mixture").em_step(M, np.log(w), L[:, :1], X)
    with pytest.raises(ValueError, match=r"Y: expected shape \(n, K\)"):
        _kernels("gaussian_naive_bayes").mle(X, np.ones((len(X) - 1, 3)))
    with pytest.raises(ValueError, match="sigma2: expected a real number"):
        _kernels("distribution_normal").fisher(np.ones(2))


# ---------------------------------------------------------------- solvers and helpers

n_, d_, K_ = sm.dims("n d K")


def test_solve_entrywise_refuses_equations_that_do_not_separate():
    m, A = sm.tensor("m", (d_,)), sm.tensor("A", (d_, d_))
    with pytest.raises(NoClosedForm, match="does not separate"):
        sm.solve_entrywise(A @ m - 1, m)  # entry j involves every m_l
    with pytest.raises(NoClosedForm, match="does not separate"):
        sm.solve_entrywise(m - sm.sum(m), m)


def test_solve_entrywise_transposed_entries():
    S, B = sm.tensor("S", (d_, d_)), sm.tensor("B", (d_, d_))
    sol = sm.solve_entrywise(2 * S.T - B, S)  # 2Sᵀ = B  ⇒  S = Bᵀ/2
    Bv = np.arange(9.0).reshape(3, 3)
    assert np.allclose(sm.evaluate(sol, B=Bv), Bv.T / 2)


def test_solve_inverse_gives_the_covariance():
    X, mu, P = sm.tensor("X", (n_, d_)), sm.tensor("mu", (d_,)), sm.tensor("P", (d_, d_))
    Sigma = solve_inverse(sm.grad(sm.sum(mvn_logpdf(X, mu, P)), P), P)
    Xv, mv = np.random.default_rng(0).normal(size=(20, 3)), np.array([0.1, -0.2, 0.3])
    assert np.allclose(sm.evaluate(Sigma, X=Xv, mu=mv), (Xv - mv).T @ (Xv - mv) / 20)
    with pytest.raises(NoClosedForm, match="other than through"):
        solve_inverse(sm.grad(sm.sum(mvn_logpdf(X, mu, P)), P) + P, P)


def test_expectation_scope_and_values():
    x, p, q = sm.tensor("x", (n_,)), sm.scalar("p"), sm.scalar("q")
    moments = {1: p, 2: p + p**2}
    e = expectation(sm.sum(x**2 - 3 * x) / q + sm.sum(q * x), x, moments)
    got = sm.evaluate((e, x), p=2.0, q=4.0, x=np.zeros(5))[0]  # n = 5 is bound through x
    assert got == pytest.approx(5 * ((2 + 4 - 6) / 4 + 4 * 2))
    with pytest.raises(OutOfScope, match="affine"):
        expectation(sm.sum(x) * sm.sum(x), x, moments)
    with pytest.raises(OutOfScope, match="degree 3"):
        expectation(sm.sum(x**3), x, moments)
    with pytest.raises(OutOfScope, match="every term"):
        expectation(sm.sum(x) + p, x, moments, per_observation=True)


def test_vmap_batches_a_component_closed_form():
    r, x, R = sm.tensor("r", (n_,)), sm.tensor("x", (n_, d_)), sm.tensor("R", (n_, K_))
    mean = sm.einsum("i,ij->j", r, x) / sm.sum(r)
    rng = np.random.default_rng(1)
    xv, Rv = rng.normal(size=(7, 3)), rng.random((7, 2))
    assert np.allclose(sm.evaluate(vmap(mean, {r: (R, 1)}), x=xv, R=Rv), Rv.T @ xv / Rv.sum(0)[:, None])
    with pytest.raises(ValueError, match="no batching rule"):
        vmap(sm.logsumexp(r), {r: (R, 1)})
