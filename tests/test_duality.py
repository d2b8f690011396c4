"""Duality without numba: Lagrangians, KKT conditions, duals, kernelize, and the normal form.

Oracles: the problem's own Lagrangian evaluated at the recovered primal point (q(ν) must equal
L(x*(ν), ν), and ∇q(ν) the constraint residual h(x*(ν)): Danskin's theorem), finite differences
(tests/fd.py), numpy.linalg (pinv, eigh, eig), scikit-learn (Ridge, KernelRidge, pairwise kernels)
and mpmath. Every closed form is computed with ``sm.evaluate``; the generated kernels are tested
in test_duality_catalog.py.
"""
import fd
import mpmath
import numpy as np
import pytest

import symml as sm
from derivations import categorical_mle, least_norm, markov_stationary, max_entropy, pca_lagrangian, ridge_dual
from derivations import svm_dual
from symml.catalog import catalog
from symml.duality import NoClosedForm, dual, eliminate, kkt, lagrangian, solve_dual
from symml.duality.algebra import expand, monomials, stabilize
from symml.duality.conditions import Condition
from symml.duality.kernels import KernelizeError, gram, kernelize, linear_kernel, polynomial_kernel, rbf_kernel

pairwise = pytest.importorskip("sklearn.metrics.pairwise")
sk_linear = pytest.importorskip("sklearn.linear_model")
sk_kernel_ridge = pytest.importorskip("sklearn.kernel_ridge")

n, d, K, m = sm.dims("n d K m")
X, y, w, Z = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,)), sm.tensor("Z", (m, d))
NAMES = ["svm_dual", "svm_dual_hard", "svm_dual_rbf", "ridge_dual", "ridge_dual_rbf", "least_norm", "pca_lagrangian",
         "max_entropy", "categorical_mle", "markov_stationary"]


def _ev(expr, **arrays):
    """sm.evaluate with only the inputs the expression uses."""
    from symml.nodes import leaves

    used = {t.name for t in leaves(expr)}
    return sm.evaluate(expr, **{k: v for k, v in arrays.items() if k in used})


# ---------------------------------------------------------------- lagrangian and its errors


def test_lagrangian_names_multipliers_and_shapes_them_like_their_constraints():
    b = sm.scalar("b")
    P = lagrangian(sm.norm2(w), [w, b], eq=[X @ w + b - y, sm.sum(w)], ineq=[-w])
    nu_1, nu_2, lam = P.multipliers
    assert [(t.name, t.shape) for t in (nu_1, nu_2, lam)] == [("nu_1", (n,)), ("nu_2", ()), ("lam", (d,))]
    assert sm.pretty(P.L) == "‖w‖² + ν₁ᵀ(Xw + b − y) + ν₂ sum(w) − wᵀλ"  # operands in canonical order (issue 17)
    taken = sm.tensor("nu", ())  # a name the problem already uses is skipped
    assert lagrangian(sm.norm2(w) + taken, [w], eq=[sm.sum(w)]).multipliers[0].name == "nu_"
    alpha = sm.tensor("alpha", (n,))
    assert lagrangian(sm.norm2(w), [w], ineq={alpha: (y, X @ w)}).multipliers == [alpha]


def test_maximize_subtracts_the_constraints():
    S = sm.tensor("S", (d, d))
    P = lagrangian(w @ S @ w, w, eq={"lam": (w @ w, 1)}, maximize=True)
    assert sm.pretty(P.L) == "wᵀSw − λ(wᵀw − 1)"
    assert str(P).splitlines()[0].startswith("maximize over w:")


@pytest.mark.parametrize("call, message", [
    (lambda: lagrangian(X @ w, [w]), "objective must be a scalar"),
    (lambda: lagrangian(sm.norm2(w), []), "give the primal variables"),
    (lambda: lagrangian(sm.norm2(w), [X @ w]), "primal variables must be input tensors"),
    (lambda: lagrangian(sm.norm2(w), [w], eq=[y - 1]), "involves none of the primal variables"),
    (lambda: lagrangian(sm.norm2(w), [w, y]), "appears neither in the objective"),
    (lambda: lagrangian(sm.norm2(w), [w], eq={"X": X @ w}), "is already used"),
    (lambda: lagrangian(sm.norm2(w), [w], eq={sm.tensor("nu", ()): X @ w}), "has shape ()"),
    (lambda: lagrangian(sm.norm2(w), [w], eq=[(X @ w, y, 1)]), "must be (lhs, rhs)"),
    (lambda: lagrangian(sm.norm2(w), [w], eq=[(X @ w, w)]), "sides of a constraint do not fit"),
    (lambda: lagrangian(sm.norm2(w), [w], eq=[3]), "must be an expression"),
    (lambda: lagrangian(sm.norm2(w), [w], eq=X @ w), "list of constraints or a dict"),
    (lambda: lagrangian(sm.norm2(w), [w], eq={1: X @ w}), "named by a string or a tensor"),
    (lambda: lagrangian(sm.norm2(w), [w], maximize="yes"), "maximize must be True or False"),
    (lambda: lagrangian(sm.norm2(w), [w], symmetric=[w]), "square input matrices"),
    (lambda: kkt(sm.norm2(w)), "takes a Problem"),
    (lambda: dual(sm.norm2(w)), "takes a Problem"),
])
def test_bad_problems_get_one_line_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=None) as info:
        call()
    assert message in str(info.value) and "\n" not in str(info.value)


# ---------------------------------------------------------------- KKT


def test_svm_kkt_conditions_print_as_in_the_textbook():
    text = str(kkt(svm_dual.soft)).splitlines()
    assert text == [
        "stationarity:             w = Xᵀ(y ⊙ α)",
        "                          yᵀα = 0",
        "                          μ + α = C",
        "primal feasibility:       1 − ξ ≤ y ⊙ (Xw + b)",
        "                          ξ ≥ 0",
        "dual feasibility:         α ≥ 0",
        "                          μ ≥ 0",
        "complementary slackness:  α ⊙ (1 − ξ − y ⊙ (Xw + b)) = 0",
        "                          μ ⊙ ξ = 0",
    ]
    assert r"\succeq" in pca_lagrangian.D.render("latex") and "\\text{stationarity}" in kkt(svm_dual.soft).render(
        "latex")


def test_kkt_residuals_vanish_at_the_least_norm_solution_and_not_elsewhere(rng):
    Xv, yv = rng.normal(size=(3, 6)), rng.normal(size=3)
    wv = np.linalg.pinv(Xv) @ yv
    nu = -2 * np.linalg.solve(Xv @ Xv.T, yv)
    res = kkt(least_norm.problem).residuals(w=wv, nu=nu, X=Xv, y=yv)
    assert max(res.values()) < 1e-12
    assert kkt(least_norm.problem).residuals(w=wv + 0.1, nu=nu, X=Xv, y=yv)["stationarity"] > 0.1


def test_pca_stationary_points_are_the_eigenpairs(rng):
    A = rng.normal(size=(5, 5))
    S = A @ A.T
    conditions = pca_lagrangian.conditions
    assert [str(c) for c in conditions.stationarity] == ["Sw = λw"]
    vals, vecs = np.linalg.eigh(S)
    for lam_i, v in zip(vals, vecs.T):
        assert max(conditions.residuals(w=v, lam=lam_i, S=S).values()) < 1e-10
    assert conditions.residuals(w=vecs[:, 0], lam=vals[1], S=S)["stationarity"] > 1e-3
    # the dual: min λ subject to λI ⪰ S, so λ* = λ_max(S) (strong duality: max wᵀSw = λ_max)
    (curv,) = pca_lagrangian.D.constraints
    assert str(curv) == "λI ⪰ S" and sm.pretty(pca_lagrangian.D.objective) == "λ"
    assert curv.residual(lam=vals[-1], S=S) < 1e-12 < curv.residual(lam=vals[-1] - 1e-3, S=S)
    assert pca_lagrangian.D.recover[pca_lagrangian.w] is None  # the null space of S − λI, not a formula


# ---------------------------------------------------------------- duals


def test_svm_dual_is_derived_with_its_constraints():
    D = svm_dual.soft_dual
    assert sm.pretty(D.objective) == "sum(α) − (y ⊙ α)ᵀXXᵀ(y ⊙ α)/2" and D.maximize
    assert [str(c) for c in D.constraints] == ["yᵀα = 0", "α ≥ 0", "α ≤ C"]
    assert sm.pretty(D.recover[svm_dual.w]) == "Xᵀ(y ⊙ α)" and D.recover[svm_dual.b] is None
    assert [v.name for v in D.variables] == ["alpha"] and sm.pretty(list(D.eliminated.values())[0]) == "C − α"
    assert [str(c) for c in svm_dual.hard_dual.constraints] == ["yᵀα = 0", "α ≥ 0"]
    assert svm_dual.hard_dual.objective is D.objective


def test_svm_dual_function_equals_the_lagrangian_at_the_recovered_point(rng):
    """On the dual's feasible set (yᵀα = 0, μ = C − α) L does not depend on b or ξ, and
    q(α) = L(w*(α), b, ξ, α, μ) for any b, ξ."""
    n_, d_ = 7, 3
    Xv, yv = rng.normal(size=(n_, d_)), np.where(rng.random(n_) < 0.5, -1.0, 1.0)
    a = rng.uniform(0, 1, n_)
    a -= yv * (yv @ a) / n_  # project onto yᵀα = 0
    D = svm_dual.soft_dual
    wv = _ev(D.recover[svm_dual.w], alpha=a, X=Xv, y=yv)
    for _ in range(2):
        L = _ev(svm_dual.soft.L, w=wv, b=rng.normal(), xi=rng.normal(size=n_), alpha=a, mu=1.5 - a, X=Xv, y=yv,
                C=1.5)
        assert abs(L - _ev(D.objective, alpha=a, X=Xv, y=yv)) < 1e-12 * max(1, abs(L))


@pytest.mark.parametrize("module, var, primal, constraint", [
    (least_norm, "nu", "w", lambda v: v["X"] @ v["w"] - v["y"]),
    (ridge_dual, "alpha", "w", lambda v: v["y"] - v["X"] @ v["w"] - v["r"]),
])
def test_dual_gradient_is_the_constraint_residual(module, var, primal, constraint, rng):
    """Danskin: ∇q(ν) = h(x*(ν)); and the dual gradient against finite differences."""
    D = module.D if hasattr(module, "D") else module.linear
    v = {"X": rng.normal(size=(4, 6)), "y": rng.normal(size=4), "lam": 0.7, var: rng.normal(size=4)}
    mult = D.variables[0]
    for p, r in D.recover.items():
        v[p.name] = _ev(r, **v)
    assert np.allclose(_ev(sm.grad(D.objective, mult), **v), constraint(v), atol=1e-12)
    q = lambda **a: _ev(D.objective, **a)  # noqa: E731
    fd.check_grads(q, {k: v[k] for k in ("X", "y", "lam", var)}, {var: _ev(sm.grad(D.objective, mult), **v)}, rng)
    fd.check_jacobians(lambda **a: _ev(sm.grad(D.objective, mult), **a), {k: v[k] for k in ("X", "y", "lam", var)},
                       {var: _ev(sm.hessian(D.objective, mult), **v)}, rng)


def test_least_norm_is_the_pseudoinverse_solution(rng):
    Xv, yv = rng.normal(size=(4, 9)), rng.normal(size=4)
    assert sm.pretty(least_norm.optimum[least_norm.w]) == "Xᵀ((XXᵀ)⁻¹y)"
    assert np.allclose(_ev(least_norm.optimum[least_norm.w], X=Xv, y=yv), np.linalg.pinv(Xv) @ yv, atol=1e-12)
    nu = _ev(least_norm.optimum[least_norm.nu], X=Xv, y=yv)
    w_star = np.linalg.pinv(Xv) @ yv
    assert abs(_ev(least_norm.D.objective, nu=nu, X=Xv, y=yv) - w_star @ w_star) < 1e-10  # no duality gap


def test_ridge_dual_is_kernel_ridge(rng):
    Xv, yv, lam = rng.normal(size=(12, 4)), rng.normal(size=12), 0.3
    alpha = ridge_dual.optimum[ridge_dual.alpha]
    assert sm.pretty(alpha) == "(XXᵀ + λI)⁻¹y"
    coef = sk_linear.Ridge(alpha=lam, fit_intercept=False).fit(Xv, yv).coef_
    assert np.allclose(_ev(ridge_dual.optimum[ridge_dual.w], X=Xv, y=yv, lam=lam), coef, atol=1e-10)
    kr = sk_kernel_ridge.KernelRidge(alpha=lam, kernel="rbf", gamma=0.4).fit(Xv, yv)
    assert np.allclose(_ev(ridge_dual.alpha_rbf, X=Xv, y=yv, lam=lam, gamma=0.4), kr.dual_coef_, atol=1e-10)
    Zv = rng.normal(size=(5, 4))
    pred = _ev(ridge_dual.predict_rbf, Z=Zv, X=Xv, alpha=kr.dual_coef_, gamma=0.4)
    assert np.allclose(pred, kr.predict(Zv), atol=1e-10)


def test_max_entropy_dual_gives_the_gibbs_distribution(rng):
    Fv, th = rng.normal(size=(6, 2)), rng.normal(size=2)
    p = _ev(max_entropy.gibbs.recover[max_entropy.p], F=Fv, theta=th)
    z = -Fv @ th
    assert np.allclose(p, np.exp(z) / np.exp(z).sum(), atol=1e-14)
    assert sm.pretty(max_entropy.gibbs.objective) == "logsumexp(−Fθ) + μᵀθ"  # canonical operand order (issue 17)
    nu = _ev(max_entropy.gibbs.eliminated[max_entropy.nu], F=Fv, theta=th)
    assert abs(nu - (np.log(np.exp(z).sum()) - 1)) < 1e-12
    # stable where exp overflows: θ of thousands, against 50-digit arithmetic
    big = 3000.0 * th
    zs = [-(sum(mpmath.mpf(float(Fv[k, j])) * mpmath.mpf(float(big[j])) for j in range(2))) for k in range(6)]
    ref = [float(mpmath.exp(zk) / sum(mpmath.exp(zj) for zj in zs)) for zk in zs]
    with np.errstate(over="raise"):
        assert np.allclose(_ev(max_entropy.gibbs.recover[max_entropy.p], F=Fv, theta=big), ref, atol=1e-14)
        q = _ev(max_entropy.gibbs.objective, F=Fv, theta=big, mu=np.zeros(2))
    assert abs(q - float(mpmath.log(sum(mpmath.exp(zj) for zj in zs)))) < 1e-9 * abs(q)


def test_categorical_mle_is_counts_over_total(rng):
    Rv = np.eye(4)[rng.integers(0, 4, 30)]
    assert np.allclose(_ev(categorical_mle.optimum[categorical_mle.p], R=Rv), Rv.sum(0) / 30, atol=1e-15)
    assert abs(_ev(categorical_mle.optimum[categorical_mle.nu], R=Rv) - 30) < 1e-12
    soft = rng.dirichlet(np.ones(4), size=9)  # responsibilities: the EM mixture-weight step
    assert np.allclose(_ev(categorical_mle.optimum[categorical_mle.p], R=soft), soft.mean(0), atol=1e-15)


def test_markov_stationary_distribution_is_the_leading_left_eigenvector(rng):
    P = rng.random((6, 6)) + 0.05
    P /= P.sum(1, keepdims=True)
    vals, vecs = np.linalg.eig(P.T)
    lead = np.real(vecs[:, np.argmax(np.real(vals))])
    pi = _ev(markov_stationary.optimum[markov_stationary.pi], P=P)
    assert np.allclose(pi, lead / lead.sum(), atol=1e-12) and np.allclose(pi @ P, pi, atol=1e-12)
    assert abs(_ev(markov_stationary.optimum[markov_stationary.nu], P=P)) < 1e-12


def test_no_closed_form_is_said_clearly():
    P = lagrangian(sm.sum(sm.exp(X @ w)) + sm.norm2(w), [w], eq={"nu": (sm.sum(w), 1)})
    with pytest.raises(NoClosedForm) as info:
        dual(P)
    text = str(info.value)
    assert text.startswith("no closed form for the dual: stationarity cannot be solved for w: ∂L/∂w = ")
    assert "not affine in w" in text and "sm.kkt(problem)" in text and "\n" not in text


def test_eliminate_and_solve_dual_refuse_what_they_cannot_do():
    with pytest.raises(NoClosedForm, match="alpha is constrained in the dual"):
        solve_dual(svm_dual.soft_dual)
    with pytest.raises(ValueError, match="is not a variable of this dual"):
        eliminate(least_norm.D, w)


# ---------------------------------------------------------------- kernelize


def test_kernelize_replaces_the_gram_matrix(rng):
    Xv, yv, a = rng.normal(size=(8, 3)), np.where(rng.random(8) < 0.5, -1.0, 1.0), rng.random(8)
    D = svm_dual.soft_dual
    for kernel, K_ref in [(linear_kernel(), Xv @ Xv.T), ("rbf", pairwise.rbf_kernel(Xv, gamma=0.3)),
                          (polynomial_kernel(3), pairwise.polynomial_kernel(Xv, degree=3, gamma=0.3, coef0=1.5))]:
        q = kernelize(D, kernel).objective
        ay = a * yv
        assert abs(_ev(q, alpha=a, X=Xv, y=yv, gamma=0.3, coef0=1.5) - (a.sum() - ay @ K_ref @ ay / 2)) < 1e-12
    Zv = rng.normal(size=(5, 3))
    f = _ev(svm_dual.decision_rbf, Z=Zv, X=Xv, y=yv, alpha=a, b=0.25, gamma=0.3)
    assert np.allclose(f, pairwise.rbf_kernel(Zv, Xv, gamma=0.3) @ (a * yv) + 0.25, atol=1e-12)
    assert np.allclose(_ev(gram("rbf", X, Z), X=Xv, Z=Zv, gamma=0.3), pairwise.rbf_kernel(Xv, Zv, gamma=0.3))
    assert sm.pretty(kernelize(sm.norm2(X.T @ y), linear_kernel())) == "yᵀXXᵀy"


def test_kernelize_refuses_what_is_not_a_function_of_inner_products():
    with pytest.raises(KernelizeError, match="other than through inner products"):
        kernelize(svm_dual.soft_dual.recover[svm_dual.w], "rbf", data=X)
    with pytest.raises(KernelizeError, match="pass data=X"):
        kernelize(sm.sum(X), "rbf")
    with pytest.raises(TypeError, match="expected 'linear', 'polynomial', 'rbf'"):
        kernelize(sm.norm2(X.T @ y), 3)
    with pytest.raises(ValueError, match="degree must be a positive int"):
        polynomial_kernel(0)
    assert "w" not in {p.name for p in kernelize(svm_dual.soft_dual, rbf_kernel()).recover}


# ---------------------------------------------------------------- the normal form


def test_expand_combines_like_terms_and_keeps_values(rng):
    v, lam, S, z = sm.tensor("v", (n,)), sm.scalar("lam"), sm.tensor("S", (d, d)), sm.tensor("z", (d,))
    cases = [sm.norm2(X.T @ v) / 2 - v @ (X @ (X.T @ v)), lam * lam / lam * sm.norm2(v) - lam * sm.norm2(v),
             sm.sum(sm.exp(X @ w) * (v + 1) ** 2), sm.solve(X.T @ X + lam * sm.eye(d), X.T @ (v * (1 - lam))),
             sm.sum((X @ (w + z)) ** 7)]  # 2⁷ monomials: kept whole
    assert sm.pretty(expand(cases[0])) == "−vᵀXXᵀv/2" and sm.pretty(expand(cases[1])) == "0"
    vals = {"X": rng.normal(size=(5, 3)), "v": rng.normal(size=5), "lam": 0.7, "w": rng.normal(size=3),
            "z": rng.normal(size=3)}
    for e in cases:
        assert np.allclose(_ev(expand(e), **vals), _ev(e, **vals), atol=1e-12)
    assert sm.pretty(expand(w @ S @ w - w @ S.T @ w, symmetric=[S])) == "0"
    assert len(monomials(sm.grad(w @ S @ w, w), symmetric=[S])) == 1


def test_stabilize_rewrites_log_sum_exp():
    v = sm.tensor("v", (n,))
    e = stabilize(sm.log(sm.sum(sm.exp(v))) + 1)
    assert sm.pretty(e) == "logsumexp(v) + 1"
    assert abs(_ev(e, v=np.array([1000.0, 1000.0])) - (1001 + np.log(2))) < 1e-12


def test_conditions_print_rearranged_and_measure_violations():
    a, C = sm.tensor("alpha", (n,)), sm.scalar("C")
    c = Condition(C - a, ">=", multipliers=[a])
    assert str(c) == "α ≤ C" and c.residual(alpha=np.array([0.5, 2.0]), C=1.0) == 1.0
    assert Condition(a, "<=").residual(alpha=np.array([-1.0, 0.25])) == 0.25
    with pytest.raises(ValueError, match="relation"):
        Condition(a, "<")


def test_the_catalog_lists_every_constrained_derivation():
    assert set(NAMES) <= set(catalog())
