"""Calculus against independent oracles.

Every DSL operation is differentiated by every derivative verb (grad, jacobian, hessian,
hvp), and each result is compared with central finite differences of ``sm.evaluate`` of
the function itself (:mod:`fd`), at random points and at two different bindings of the
symbolic sizes. Taylor models are checked by their order of accuracy, value_and_grad and
multi-target derivatives on a two-layer MLP, and a few gradients against SymPy applied
to explicit matrices at tiny fixed sizes, a path that shares no code with symml's
calculus.
"""
from __future__ import annotations

import functools

import fd
import numpy as np
import pytest
import sympy as sp

import symml as sm
from symml.nodes import Dim, Einsum, Map, walk

# --------------------------------------------------------------------------- inputs

n, d, m = sm.dims("n d m")
c, o, h, q = sm.dims("c o h q")

#: two bindings of the dims; every check runs at both
SIZES = {
    "small": {n: 3, d: 2, m: 2, c: 1, o: 2, h: 4, q: 5},
    "large": {n: 5, d: 4, m: 3, c: 2, o: 1, h: 6, q: 7},
}

A = sm.tensor("A", (n, d))
B = sm.tensor("B", (n, d))
R = sm.tensor("R", (n, 1))
M = sm.tensor("M", (d, m))
S = sm.tensor("S", (d, d))
T3 = sm.tensor("T3", (n, d, m))
x = sm.tensor("x", (d,))
x2 = sm.tensor("x2", (d,))
u = sm.tensor("u", (n,))
z = sm.tensor("z", (m,))
s = sm.scalar("s")
t = sm.scalar("t")
img = sm.tensor("img", (n, c, h, q))
ker = sm.tensor("ker", (o, c, 2, 2))


def shape_of(tensor, sizes) -> tuple:
    return tuple(int(sp.sympify(e).xreplace(sizes)) for e in tensor.shape)


def draw(kind: str, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """Random inputs in the domain an operation needs.

    normal: N(0, 1); pos: in [0.5, 2] (log, sqrt, division, powers); away: |x| ≥ 0.3
    (abs, relu: far from the kink); spd: symmetric positive definite (logdet); cond: a
    well-conditioned square matrix with positive determinant (inv, det); distinct:
    entries at least 0.09 apart (max pooling: no ties within a window).
    """
    if kind == "normal":
        return rng.standard_normal(shape)
    if kind == "pos":
        return rng.uniform(0.5, 2.0, shape)
    if kind == "away":
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 1.5, shape)
    if kind == "spd":
        G = rng.standard_normal(shape)
        return G @ G.T / shape[0] + np.eye(shape[0])
    if kind == "cond":
        return 2.0 * np.eye(shape[0]) + 0.3 * rng.standard_normal(shape)
    if kind == "distinct":
        size = int(np.prod(shape))
        return (rng.permutation(size) * 0.1 + rng.uniform(0, 0.01, size)).reshape(shape) - 0.05 * size
    raise ValueError(kind)


def make_point(exprs, sizes, rng, kinds=None) -> dict:
    kinds = kinds or {}
    point = {}
    for e in exprs:
        for leaf in sm.nodes.leaves(sm.nodes.as_expr(e)):
            if leaf.name not in point:
                point[leaf.name] = draw(kinds.get(leaf.name, "normal"), shape_of(leaf, sizes), rng)
    return point


@pytest.fixture(params=list(SIZES))
def sizes(request):
    return SIZES[request.param]


def _flat(tree):
    if isinstance(tree, (tuple, list)):
        return [e for sub in tree for e in _flat(sub)]
    return [sm.nodes.as_expr(tree)]


def evaluate(expr, *anchors, **arrays):
    """sm.evaluate of ``expr``, passing only the arrays it reads.

    A derivative need not read every input (the gradient of Σ C ⊙ (A + B) is C, of shape
    (n, d)); its dims are then bound by evaluating it together with ``anchors``, usually
    the function it was derived from.
    """
    roots = (expr, *anchors)
    used = {leaf.name for e in _flat(roots) for leaf in sm.nodes.leaves(e)}
    return sm.evaluate(roots, **{k: v for k, v in arrays.items() if k in used})[0]


def ev(expr):
    """fun(**arrays) for fd: evaluate ``expr`` with numpy."""
    return lambda **arrays: evaluate(expr, **arrays)


# --------------------------------------------------------------------------- the operations

# (id, function of the module's tensors, targets, input domains)
OPS = [
    # elementwise arithmetic, broadcasting, scalars, numbers
    ("add", lambda: A + B, "A B", {}),
    ("sub", lambda: A - B, "A B", {}),
    ("mul", lambda: A * B, "A B", {}),
    ("div", lambda: A / B, "A B", {"B": "pos"}),
    ("pow_int", lambda: A**3, "A", {}),
    ("pow_neg_int", lambda: A**-2, "A", {"A": "pos"}),
    ("pow_float", lambda: A**1.5, "A", {"A": "pos"}),
    ("pow_tensor", lambda: A**B, "A B", {"A": "pos"}),
    ("pow_scalar", lambda: A**s, "A s", {"A": "pos"}),
    ("rpow_number", lambda: 2**A, "A", {}),
    ("neg", lambda: -A, "A", {}),
    ("pos", lambda: +A, "A", {}),
    ("bcast_row_add", lambda: A + x, "A x", {}),
    ("bcast_row_mul", lambda: A * x, "A x", {}),
    ("bcast_row_rdiv", lambda: x / A, "x A", {"A": "pos"}),
    ("bcast_col_mul", lambda: A * R, "A R", {}),
    ("bcast_col_sub", lambda: R - A, "A R", {}),
    ("scalar_mul", lambda: s * A, "s A", {}),
    ("scalar_add", lambda: A + s, "s A", {}),
    ("scalar_rdiv", lambda: s / A, "s A", {"A": "pos"}),
    ("scalar_scalar", lambda: s**2 * t / (1 + t**2), "s t", {}),
    ("numbers", lambda: 2.5 * A - A / 4 + 3 - (1 - A) * 0.5, "A", {}),
    ("number_rdiv", lambda: 1 / A, "A", {"A": "pos"}),
    # products and transposes
    ("matmul_mm", lambda: A @ M, "A M", {}),
    ("matmul_mv", lambda: A @ x, "A x", {}),
    ("matmul_vm", lambda: u @ A, "u A", {}),
    ("matmul_vv", lambda: x @ x2, "x x2", {}),
    ("matmul_gram", lambda: A.T @ A, "A", {}),
    ("matmul_chain", lambda: A @ S @ M, "A S M", {}),
    ("transpose", lambda: A.T, "A", {}),
    ("transpose_vector", lambda: x.T * x2, "x x2", {}),
    # reductions
    ("sum_all", lambda: sm.sum(A), "A", {}),
    ("sum_axis0", lambda: sm.sum(A, axis=0), "A", {}),
    ("sum_axis1", lambda: sm.sum(A, axis=1), "A", {}),
    ("sum_axis_neg", lambda: sm.sum(T3, axis=-1), "T3", {}),
    ("sum_axes_tuple", lambda: sm.sum(T3, axis=(0, 2)), "T3", {}),
    ("mean_all", lambda: sm.mean(A), "A", {}),
    ("mean_axis0", lambda: sm.mean(A, axis=0), "A", {}),
    ("mean_axis1", lambda: sm.mean(A, axis=1), "A", {}),
    ("dot", lambda: sm.dot(x, x2), "x x2", {}),
    ("dot_self", lambda: sm.dot(x, x), "x", {}),
    ("outer", lambda: sm.outer(x, u), "x u", {}),
    ("diag_vector", lambda: sm.diag(x), "x", {}),
    ("diag_matrix", lambda: sm.diag(S), "S", {}),
    ("trace", lambda: sm.trace(S), "S", {}),
    ("trace_product", lambda: sm.trace(S @ S.T), "S", {}),
    ("norm2", lambda: sm.norm2(A), "A", {}),
    ("eye_add", lambda: S + s * sm.eye(d), "S s", {}),
    ("eye_matmul", lambda: (sm.eye(d) * 2 - S) @ x, "S x", {}),
    # matrix functions
    ("inv", lambda: sm.inv(S), "S", {"S": "cond"}),
    ("inv_solve", lambda: sm.inv(S) @ x, "S x", {"S": "cond"}),
    ("solve_vector", lambda: sm.solve(S, x), "S x", {"S": "cond"}),
    ("solve_matrix", lambda: sm.solve(S, M), "S M", {"S": "cond"}),
    ("det", lambda: sm.det(S), "S", {"S": "cond"}),
    ("logdet", lambda: sm.logdet(S), "S", {"S": "spd"}),
    ("logdet_gram", lambda: sm.logdet(A.T @ A + sm.eye(d)), "A", {}),
    # elementwise functions
    ("exp", lambda: sm.exp(A), "A", {}),
    ("log", lambda: sm.log(A), "A", {"A": "pos"}),
    ("sqrt", lambda: sm.sqrt(A), "A", {"A": "pos"}),
    ("abs", lambda: sm.abs(A), "A", {"A": "away"}),
    ("tanh", lambda: sm.tanh(A), "A", {}),
    ("sigmoid", lambda: sm.sigmoid(A), "A", {}),
    ("softplus", lambda: sm.softplus(A), "A", {}),
    ("log_sigmoid", lambda: sm.log_sigmoid(A), "A", {}),
    ("relu", lambda: sm.relu(A), "A", {"A": "away"}),
    ("relu_affine", lambda: sm.relu(A @ x + u), "A x u", {"u": "pos", "A": "pos", "x": "pos"}),
    # log-sum-exp family
    ("logsumexp_all", lambda: sm.logsumexp(A), "A", {}),
    ("logsumexp_axis0", lambda: sm.logsumexp(A, axis=0), "A", {}),
    ("logsumexp_axis1", lambda: sm.logsumexp(A, axis=1), "A", {}),
    ("logsumexp_vector", lambda: sm.logsumexp(x), "x", {}),
    ("logsumexp_rank3", lambda: sm.logsumexp(T3), "T3", {}),
    ("softmax", lambda: sm.softmax(A), "A", {}),
    ("softmax_axis0", lambda: sm.softmax(A, axis=0), "A", {}),
    ("softmax_vector", lambda: sm.softmax(x), "x", {}),
    ("log_softmax", lambda: sm.log_softmax(A), "A", {}),
    ("log_softmax_axis0", lambda: sm.log_softmax(A, axis=0), "A", {}),
    # einsum
    ("einsum_matvec", lambda: sm.einsum("ij,j->i", A, x), "A x", {}),
    ("einsum_gram", lambda: sm.einsum("ij,ik->jk", A, B), "A B", {}),
    ("einsum_trace", lambda: sm.einsum("ii->", S), "S", {}),
    ("einsum_diagonal", lambda: sm.einsum("ii->i", S), "S", {}),
    ("einsum_transpose", lambda: sm.einsum("ij->ji", A), "A", {}),
    ("einsum_frobenius", lambda: sm.einsum("ij,ij->", A, B), "A B", {}),
    ("einsum_rowdots", lambda: sm.einsum("ij,ij->i", A, A), "A", {}),
    ("einsum_outer", lambda: sm.einsum("i,j->ij", x, u), "x u", {}),
    ("einsum_rank3", lambda: sm.einsum("ijk,k->ij", T3, z), "T3 z", {}),
    ("einsum_chain", lambda: sm.einsum("ij,jk,kl->il", A, S, M), "A S M", {}),
    ("einsum_implicit", lambda: sm.einsum("ij,jk", A, M), "A M", {}),
    ("einsum_diag_weighted", lambda: sm.einsum("ii,i->i", S, x), "S x", {}),
    ("einsum_spaces", lambda: sm.einsum("i j , j -> i", A, x), "A x", {}),
    # CNN layers (no Jacobians: see test_jacobian)
    ("conv2d", lambda: sm.conv2d(img, ker), "img ker", {}),
    ("conv2d_tanh", lambda: sm.tanh(sm.conv2d(img, ker)), "img ker", {}),
    ("maxpool2d", lambda: sm.maxpool2d(img), "img", {"img": "distinct"}),
    ("maxpool2d_size3", lambda: sm.maxpool2d(img, size=3), "img", {"img": "distinct"}),
    ("avgpool2d", lambda: sm.avgpool2d(img), "img", {}),
    ("avgpool2d_size3", lambda: sm.avgpool2d(sm.exp(img), size=3), "img", {}),
    ("avgpool_conv", lambda: sm.avgpool2d(sm.tanh(sm.conv2d(img, ker))), "img ker", {}),
    # named intermediates
    ("let", lambda: sm.sigmoid(sm.let("zz", A @ x)) * sm.let("zz", A @ x), "A x", {}),
    ("let_nested", lambda: sm.softplus(sm.let("hh", sm.tanh(sm.let("aa", A @ M))) @ z), "A M z", {}),
]

NO_JACOBIAN = {"conv2d", "conv2d_tanh", "maxpool2d", "maxpool2d_size3", "avgpool2d", "avgpool2d_size3", "avgpool_conv"}


def op_params(skip=frozenset()):
    return [pytest.param(name, id=name) for name, *_ in OPS if name not in skip]


@functools.lru_cache(maxsize=None)
def op(name):
    """(f, targets, kinds, weighted scalar loss L = Σ C ⊙ f)."""
    _, build, wrt, kinds = next(row for row in OPS if row[0] == name)
    f = build()
    targets = [next(leaf for leaf in sm.nodes.leaves(f) if leaf.name == w) for w in wrt.split()]
    L = sm.sum(sm.tensor("C", f.shape) * f) if f.ndim else sm.tensor("C") * f
    return f, targets, kinds, L


@functools.lru_cache(maxsize=None)
def derivative(name, verb):
    f, targets, _, L = op(name)
    if verb == "grad":
        return sm.grad(L, targets)
    if verb == "jacobian":
        return sm.jacobian(f, targets)
    if verb == "hessian":
        return sm.hessian(L, targets)
    if verb == "hvp":
        return sm.hvp(L, targets, [sm.tensor("v_" + tg.name, tg.shape) for tg in targets])
    raise ValueError(verb)


def names(targets):
    return [tg.name for tg in targets]


@pytest.mark.parametrize("name", op_params())
def test_grad(name, sizes, rng):
    f, targets, kinds, L = op(name)
    g = derivative(name, "grad")
    assert isinstance(g, tuple) and [gk.shape for gk in g] == [tg.shape for tg in targets]
    point = make_point([L], sizes, rng, kinds)
    values = evaluate(g, L, **point)
    fd.check_grads(ev(L), point, dict(zip(names(targets), values)), rng, what=f"grad of {name}")


@pytest.mark.parametrize("name", op_params(skip=NO_JACOBIAN))
def test_jacobian(name, sizes, rng):
    f, targets, kinds, _ = op(name)
    J = derivative(name, "jacobian")
    assert [Jk.shape for Jk in J] == [f.shape + tg.shape for tg in targets]
    point = make_point([f], sizes, rng, kinds)
    values = evaluate(J, f, **point)
    fd.check_jacobians(ev(f), point, dict(zip(names(targets), values)), rng, what=f"jacobian of {name}")


def _stacked(values) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in values])


@pytest.mark.parametrize("name", op_params(skip=NO_JACOBIAN))
def test_hessian(name, sizes, rng):
    """H[i][j] · v_j summed over j is the directional derivative of grad_i."""
    f, targets, kinds, L = op(name)
    Hs = derivative(name, "hessian")
    g = derivative(name, "grad")
    assert [[Hij.shape for Hij in row] for row in Hs] == [[a.shape + b.shape for b in targets] for a in targets]
    point = make_point([L], sizes, rng, kinds)
    values = evaluate(Hs, L, **point)
    rows = [fd.jvp_of_jacobians(dict(zip(names(targets), row))) for row in values]
    fd.check_jvp(lambda **a: _stacked(evaluate(g, L, **a)), point,
                 lambda v: _stacked([row(v) for row in rows]), names(targets), rng, what=f"hessian of {name}")


@pytest.mark.parametrize("name", op_params())
def test_hvp(name, sizes, rng):
    f, targets, kinds, L = op(name)
    hv = derivative(name, "hvp")
    g = derivative(name, "grad")
    point = make_point([L], sizes, rng, kinds)

    def jvp(v):
        return _stacked(evaluate(hv, L, **point, **{"v_" + k: a for k, a in v.items()}))

    fd.check_jvp(lambda **a: _stacked(evaluate(g, L, **a)), point, jvp, names(targets), rng, what=f"hvp of {name}")


def test_single_target_hessian_matches_block(sizes, rng):
    f, (tg, *_), kinds, L = op("logdet_gram")
    point = make_point([L], sizes, rng, kinds)
    H1 = evaluate(sm.hessian(L, tg), L, **point)
    H2 = evaluate(sm.hessian(L, [tg])[0][0], L, **point)
    np.testing.assert_allclose(H1, H2, rtol=1e-12)


def test_hessian_of_linear_function_is_zero():
    H = sm.hessian(sm.sum(x * x2), x)
    assert H.shape == (d, d)


def test_hessian_of_linear_function_is_zero_with_target_list():
    (H,), = sm.hessian(sm.sum(x * x2), [x])
    np.testing.assert_array_equal(evaluate(H, x + x2, x=np.ones(3), x2=np.ones(3)), np.zeros((3, 3)))


# --------------------------------------------------------------------------- models, several targets

X = sm.tensor("X", (n, d))
y = sm.tensor("y", (n,))
W1 = sm.tensor("W1", (d, m))
b1 = sm.tensor("b1", (m,))
W2 = sm.tensor("W2", (m,))
b2 = sm.scalar("b2")
lam = sm.scalar("lam")
w = sm.tensor("w", (d,))


def mlp_loss():
    """A two-layer MLP with a logistic loss and weight decay."""
    H1 = sm.let("h", sm.tanh(sm.let("a", X @ W1 + b1)))
    out = sm.let("out", H1 @ W2 + b2)
    return sm.mean(sm.softplus(-y * out)) + lam * (sm.norm2(W1) + sm.norm2(W2)), out


MLP_PARAMS = [W1, b1, W2, b2]


def mlp_point(sizes, rng):
    point = make_point([mlp_loss()[0]], sizes, rng)
    point["y"] = rng.choice([-1.0, 1.0], shape_of(y, sizes))
    point["lam"] = np.array(0.1)
    return point


def test_mlp_grad_all_parameters(sizes, rng):
    L, _ = mlp_loss()
    gs = sm.grad(L, MLP_PARAMS)
    point = mlp_point(sizes, rng)
    fd.check_grads(ev(L), point, dict(zip(names(MLP_PARAMS), evaluate(gs, **point))), rng, n_dirs=4)


def test_mlp_grad_each_parameter_matches_joint(sizes, rng):
    L, _ = mlp_loss()
    point = mlp_point(sizes, rng)
    joint = evaluate(sm.grad(L, MLP_PARAMS), **point)
    for P, gj in zip(MLP_PARAMS, joint):
        np.testing.assert_allclose(evaluate(sm.grad(L, P), **point), gj, rtol=1e-12, atol=1e-14)


def test_mlp_value_and_grad(sizes, rng):
    L, _ = mlp_loss()
    value, gs = sm.value_and_grad(L, MLP_PARAMS)
    point = mlp_point(sizes, rng)
    v, gv = evaluate((value, gs), **point)
    np.testing.assert_allclose(v, evaluate(L, **point), rtol=1e-14)
    fd.check_grads(ev(L), point, dict(zip(names(MLP_PARAMS), gv)), rng)


def test_value_and_grad_single_target(sizes, rng):
    L = sm.sum(sm.log_sigmoid(y * (X @ w))) - lam * sm.norm2(w)
    value, g = sm.value_and_grad(L, w)
    assert g.shape == (d,)
    point = make_point([L], sizes, rng, {"lam": "pos"})
    np.testing.assert_allclose(evaluate(value, **point), evaluate(L, **point), rtol=1e-14)
    fd.check_grads(ev(L), point, {"w": evaluate(g, **point)}, rng)


def test_mlp_jacobian_of_outputs(sizes, rng):
    _, out = mlp_loss()
    Js = sm.jacobian(out, [W1, b1, W2, b2])
    assert [J.shape for J in Js] == [(n, d, m), (n, m), (n, m), (n,)]
    point = mlp_point(sizes, rng)
    point = {k: point[k] for k in ("X", "W1", "b1", "W2", "b2")}
    fd.check_jacobians(ev(out), point, dict(zip(names(MLP_PARAMS), evaluate(Js, **point))), rng)


def test_mlp_hessian_blocks(sizes, rng):
    L, _ = mlp_loss()
    Hs = sm.hessian(L, MLP_PARAMS)
    g = sm.grad(L, MLP_PARAMS)
    point = mlp_point(sizes, rng)
    values = evaluate(Hs, L, **point)
    for i, row in enumerate(values):  # symmetric: H[i][j] = H[j][i]ᵀ
        for j, Hij in enumerate(row):
            a, b = MLP_PARAMS[i].ndim, MLP_PARAMS[j].ndim
            np.testing.assert_allclose(Hij, np.moveaxis(values[j][i], list(range(b)), list(range(a, a + b))),
                                       rtol=1e-10, atol=1e-12)
    rows = [fd.jvp_of_jacobians(dict(zip(names(MLP_PARAMS), row))) for row in values]
    fd.check_jvp(lambda **a: _stacked(evaluate(g, L, **a)), point, lambda v: _stacked([r(v) for r in rows]),
                 names(MLP_PARAMS), rng, n_dirs=3)


def test_mlp_hvp_matches_hessian(sizes, rng):
    L, _ = mlp_loss()
    dirs = [sm.tensor("v_" + P.name, P.shape) for P in MLP_PARAMS]
    hv = sm.hvp(L, MLP_PARAMS, dirs)
    Hs = sm.hessian(L, MLP_PARAMS)
    point = mlp_point(sizes, rng)
    v = fd.random_direction(point, names(MLP_PARAMS), rng)
    got = evaluate(hv, L, **point, **{"v_" + k: a for k, a in v.items()})
    values = evaluate(Hs, L, **point)
    for gi, row in zip(got, values):
        want = fd.jvp_of_jacobians(dict(zip(names(MLP_PARAMS), row)))(v)
        np.testing.assert_allclose(gi, want, rtol=1e-10, atol=1e-12)


def test_cnn_grad_and_hvp(sizes, rng):
    """conv → relu → maxpool → linear readout: every CNN node on one path."""
    readout = sm.tensor("readout", sm.maxpool2d(sm.conv2d(img, ker)).shape)
    L = sm.sum(readout * sm.maxpool2d(sm.tanh(sm.conv2d(img, ker)))) + 0.5 * sm.norm2(ker)
    point = make_point([L], sizes, rng)  # random normals: window maxima are apart by far more than a step
    gs = sm.grad(L, [img, ker])
    fd.check_grads(ev(L), point, dict(zip(["img", "ker"], evaluate(gs, **point))), rng)
    hv = sm.hvp(L, ker, sm.tensor("v_ker", ker.shape))
    fd.check_jvp(lambda **a: evaluate(sm.grad(L, ker), **a), point,
                 lambda v: evaluate(hv, **point, v_ker=v["ker"]), ["ker"], rng)


# --------------------------------------------------------------------------- Taylor


def logistic():
    return sm.sum(sm.softplus(-y * (X @ w))) + 0.5 * lam * sm.norm2(w), w


def expsum():
    return sm.logsumexp(A @ x) + sm.sum(x**3) / 3, x


def matrix_fn():
    return sm.logdet(S @ S.T + sm.eye(d)) + sm.sum(sm.tanh(S)), S


TAYLOR_CASES = [pytest.param(fn, id=fn.__name__) for fn in (logistic, expsum, matrix_fn)]


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("build", TAYLOR_CASES)
def test_taylor_error_order(build, order, sizes, rng):
    """The order-k model's error is O(h^(k+1)): halving h divides it by ≈ 2^(k+1)."""
    f, xv = build()
    x0 = sm.tensor("x0", xv.shape)
    model = sm.taylor(f, xv, x0, order=order)
    point = make_point([f], sizes, rng)
    if "y" in point:
        point["y"] = np.sign(point["y"])
        point["lam"] = np.array(0.3)
    base = point.pop(xv.name)
    v = rng.standard_normal(base.shape)
    v /= np.linalg.norm(v)
    errs = []
    for k in range(5):  # small enough that the leading error term dominates, big enough to beat rounding
        step = 0.05 / 2**k
        at = {**point, xv.name: base + step * v}
        errs.append(abs(float(evaluate(f, **at)) - float(evaluate(model, **at, x0=base))))
    ratios = [errs[k] / errs[k + 1] for k in range(4)]
    want = 2.0 ** (order + 1)
    assert all(abs(r / want - 1) < 0.1 for r in ratios[-2:]), (ratios, errs)


def test_taylor_at_x0_is_f(sizes, rng):
    f, xv = logistic()
    x0 = sm.tensor("x0", xv.shape)
    point = make_point([f], sizes, rng)
    for order in (0, 1, 2):
        model = sm.taylor(f, xv, x0, order=order)
        np.testing.assert_allclose(evaluate(model, **point, x0=point["w"]), evaluate(f, **point), rtol=1e-13)


def test_taylor_order0_is_constant(sizes, rng):
    f, xv = logistic()
    x0 = sm.tensor("x0", xv.shape)
    model = sm.taylor(f, xv, x0, order=0)
    point = make_point([f], sizes, rng)
    far = {**point, "w": point["w"] + 5.0}
    np.testing.assert_allclose(evaluate(model, **far, x0=point["w"]), evaluate(f, **point), rtol=1e-13)


@pytest.mark.parametrize("order", [2, 3, 5])
def test_taylor_of_quadratic_is_exact(order, sizes, rng):
    b = sm.tensor("bq", (d,))
    f = 0.5 * x @ (S @ x) + b @ x + s
    x0 = sm.tensor("x0", (d,))
    model = sm.taylor(f, x, x0, order=order)
    point = make_point([f], sizes, rng)
    far = {**point, "x": 10.0 * rng.standard_normal(point["x"].shape)}
    np.testing.assert_allclose(evaluate(model, **far, x0=point["x"]), evaluate(f, **far), rtol=1e-11)


def test_taylor_of_matrix_quadratic_is_exact(sizes, rng):
    f = sm.trace(M.T @ S @ M) + sm.sum(M * M) - sm.sum(M)
    M0 = sm.tensor("M0", M.shape)
    model = sm.taylor(f, M, M0)
    point = make_point([f], sizes, rng)
    far = {**point, "M": 7.0 * rng.standard_normal(point["M"].shape)}
    np.testing.assert_allclose(evaluate(model, **far, M0=point["M"]), evaluate(f, **far), rtol=1e-11)


def test_taylor_of_cubic_at_order3_is_exact(sizes, rng):
    f = sm.sum(x**3) - 2 * sm.dot(x, x2) ** 2
    x0 = sm.tensor("x0", (d,))
    model = sm.taylor(f, x, x0, order=3)
    point = make_point([f], sizes, rng)
    far = {**point, "x": 3.0 * rng.standard_normal(point["x"].shape)}
    np.testing.assert_allclose(evaluate(model, **far, x0=point["x"]), evaluate(f, **far), rtol=1e-10)


def test_taylor_about_a_number_expression(sizes, rng):
    """x0 may be any expression of x's shape, e.g. zeros: the Maclaurin polynomial."""
    f = sm.sum(sm.exp(x))
    model = sm.taylor(f, x, 0 * x2, order=2)
    point = make_point([f, x2], sizes, rng)
    xs = point["x"]
    want = xs.size + xs.sum() + 0.5 * (xs**2).sum()
    np.testing.assert_allclose(evaluate(model, **point), want, rtol=1e-12)


# --------------------------------------------------------------------------- SymPy as the oracle


def _explicit(name, rows, cols):
    return sp.MatrixSymbol(name, rows, cols).as_explicit()


def _numbers(symbolic, values) -> dict:
    return {symbolic[i, j]: sp.Float(float(values[i, j]), 30)
            for i in range(symbolic.rows) for j in range(symbolic.cols)}


@pytest.mark.parametrize("dd", [2, 3])
def test_sympy_oracle_logistic_grad_and_hessian(dd, rng):
    nn = 3
    Xs, ws, ys = _explicit("X", nn, dd), _explicit("w", dd, 1), _explicit("y", nn, 1)
    ls = sp.Symbol("lam")
    z_ = Xs * ws
    Ls = sum(sp.log(1 + sp.exp(-ys[i, 0] * z_[i, 0])) for i in range(nn)) + ls * sum(ws[j, 0] ** 2 for j in range(dd))
    Xv, wv, yv = rng.standard_normal((nn, dd)), rng.standard_normal((dd, 1)), rng.choice([-1.0, 1.0], (nn, 1))
    subs = {**_numbers(Xs, Xv), **_numbers(ws, wv), **_numbers(ys, yv), ls: sp.Float(0.3)}
    want_g = np.array([float(sp.diff(Ls, ws[j, 0]).xreplace(subs)) for j in range(dd)])
    want_H = np.array([[float(sp.diff(Ls, ws[i, 0], ws[j, 0]).xreplace(subs)) for j in range(dd)] for i in range(dd)])

    L = sm.sum(sm.softplus(-y * (X @ w))) + lam * sm.norm2(w)
    arrays = dict(X=Xv, w=wv[:, 0], y=yv[:, 0], lam=0.3)
    np.testing.assert_allclose(evaluate(sm.grad(L, w), **arrays), want_g, rtol=1e-12)
    np.testing.assert_allclose(evaluate(sm.hessian(L, w), **arrays), want_H, rtol=1e-12)


@pytest.mark.parametrize("dd", [2, 3])
def test_sympy_oracle_matrix_functions(dd, rng):
    """f(S) = log det S + tr(S⁻¹ B) + det S, with ∂/∂S_ij by SymPy on explicit entries."""
    Ss, Bs = _explicit("S", dd, dd), _explicit("B", dd, dd)
    fs = sp.log(Ss.det()) + (Ss.inv() * Bs).trace() + Ss.det()
    Sv = draw("spd", (dd, dd), rng)
    Bv = rng.standard_normal((dd, dd))
    subs = {**_numbers(Ss, Sv), **_numbers(Bs, Bv)}
    want = np.array([[float(sp.diff(fs, Ss[i, j]).xreplace(subs)) for j in range(dd)] for i in range(dd)])

    Bm = sm.tensor("B", (d, d))
    f = sm.logdet(S) + sm.trace(sm.inv(S) @ Bm) + sm.det(S)
    np.testing.assert_allclose(evaluate(sm.grad(f, S), S=Sv, B=Bv), want, rtol=1e-10)


@pytest.mark.parametrize("dd", [2, 3])
def test_sympy_oracle_softmax_cross_entropy(dd, rng):
    nn, kk = 2, 3
    Xs, Ws, Ys = _explicit("X", nn, dd), _explicit("W", dd, kk), _explicit("Y", nn, kk)
    Zs = Xs * Ws
    fs = sum(sp.log(sum(sp.exp(Zs[i, j]) for j in range(kk))) - sum(Ys[i, j] * Zs[i, j] for j in range(kk))
             for i in range(nn))
    Xv, Wv = rng.standard_normal((nn, dd)), rng.standard_normal((dd, kk))
    Yv = np.eye(kk)[rng.integers(0, kk, nn)]
    subs = {**_numbers(Xs, Xv), **_numbers(Ws, Wv), **_numbers(Ys, Yv)}
    want = np.array([[float(sp.diff(fs, Ws[i, j]).xreplace(subs)) for j in range(kk)] for i in range(dd)])

    k_ = sm.dims("k")
    W = sm.tensor("W", (d, k_))
    Y = sm.tensor("Y", (n, k_))
    f = sm.sum(sm.logsumexp(X @ W, axis=1)) - sm.sum(Y * (X @ W))
    np.testing.assert_allclose(evaluate(sm.grad(f, W), X=Xv, W=Wv, Y=Yv), want, rtol=1e-11)
    f2 = -sm.sum(Y * sm.log_softmax(X @ W))
    np.testing.assert_allclose(evaluate(sm.grad(f2, W), X=Xv, W=Wv, Y=Yv), want, rtol=1e-11)


# --------------------------------------------------------------------------- no per-entry symbols


def _symbols_ok(node) -> set:
    """The SymPy symbols a node holds that are neither placeholders nor dims."""
    bad = set()
    if isinstance(node, Map):
        bad |= {sym for sym in node.expr.free_symbols if not (sym.name.startswith("_t") or isinstance(sym, Dim))}
    if isinstance(node, Einsum):
        bad |= {sym for sym in sp.sympify(node.coef).free_symbols if not isinstance(sym, Dim)}
    for size in node.shape:
        bad |= {sym for sym in sp.sympify(size).free_symbols if not isinstance(sym, Dim)}
    return bad


def test_symbolic_d_creates_no_entry_symbols():
    z_ = sm.let("z", X @ w)
    L = sm.mean(sm.softplus(-y * z_)) + lam * sm.norm2(w)
    v = sm.tensor("v", (d,))
    x0 = sm.tensor("x0", (d,))
    graphs = {
        "grad": sm.grad(L, w),
        "hessian": sm.hessian(L, w),
        "hvp": sm.hvp(L, w, v),
        "taylor": sm.taylor(L, w, x0),
        "mlp": sm.hessian(mlp_loss()[0], MLP_PARAMS),
    }
    for what, G in graphs.items():
        nodes = walk(_flat(G))
        maps = [nd for nd in nodes if isinstance(nd, Map)]
        assert maps, what
        for nd in nodes:
            assert not _symbols_ok(nd), (what, type(nd).__name__, _symbols_ok(nd))
        # the graph is small and independent of d: no node per entry
        assert len(nodes) < 200, (what, len(nodes))


def test_gradient_graph_size_does_not_depend_on_sizes():
    """The same graph serves every size: a d = 10 000 evaluation uses the d-symbolic gradient."""
    L = sm.sum(sm.softplus(-y * (X @ w)))
    g = sm.grad(L, w)
    rng = np.random.default_rng(0)
    Xv = rng.standard_normal((7, 10_000)) / 100
    out = evaluate(g, X=Xv, w=rng.standard_normal(10_000), y=np.ones(7))
    assert out.shape == (10_000,)


# --------------------------------------------------------------------------- the fd helper itself


def test_fd_detects_a_wrong_gradient(rng):
    point = {"x": rng.standard_normal(4)}
    fun = lambda x: np.sum(np.sin(x))  # noqa: E731
    fd.check_grads(fun, point, {"x": np.cos(point["x"])}, rng)
    with pytest.raises(AssertionError, match="disagrees with central differences"):
        fd.check_grads(fun, point, {"x": np.cos(point["x"]) * 1.001}, rng)


def test_fd_float32_table(rng):
    point = {"x": rng.standard_normal(5).astype(np.float32)}
    fun = lambda x: np.sum(np.exp(x.astype(np.float32)) * x)  # noqa: E731
    fd.check_grads(fun, point, {"x": np.exp(point["x"]) * (1 + point["x"])}, rng, dtype=np.float32)
    assert fd.tolerance(np.float32).step > fd.tolerance(np.float64).step


def test_fd_step_scales_with_the_point():
    small = fd.step_size({"x": np.array([0.1, -0.5])}, ["x"])
    big = fd.step_size({"x": np.array([100.0, -0.5])}, ["x"])
    assert small == fd.tolerance().step
    assert big == pytest.approx(100 * small)


def test_fd_numeric_jacobian(rng):
    Av = rng.standard_normal((3, 2))
    J = fd.numeric_jacobian(lambda x: Av @ x, {"x": rng.standard_normal(2)}, "x")
    np.testing.assert_allclose(J, Av, rtol=1e-8)


# --------------------------------------------------------------------------- zeros, not refusals


def test_a_derivative_in_a_tensor_not_read_is_zero_shaped_like_it(rng):
    """JAX returns zeros for an input the function does not read; so does symml (issue 16)."""
    f = sm.sum(sm.exp(A @ x)) + s
    point = {"A": rng.standard_normal((3, 2)), "x": rng.standard_normal(2), "s": 0.5,
             "z": rng.standard_normal(4), "M": rng.standard_normal((2, 4))}
    gz = sm.grad(f, z)
    assert gz.shape == z.shape
    np.testing.assert_array_equal(sm.evaluate(gz, **point), np.zeros(4))
    gx, gM, gs = sm.grad(f, [x, M, s])
    assert (gx.shape, gM.shape, gs.shape) == (x.shape, M.shape, ())
    np.testing.assert_array_equal(sm.evaluate(gM, **point), np.zeros((2, 4)))
    assert float(sm.evaluate(gs, **point)) == 1.0
    J = sm.jacobian(A @ x, z)
    assert J.shape == (n, m)
    np.testing.assert_array_equal(sm.evaluate(J, **point), np.zeros((3, 4)))
    H = sm.hessian(f, [x, z])
    assert H[0][1].shape == (d, m) and H[1][1].shape == (m, m)
    np.testing.assert_array_equal(sm.evaluate(H[1][0], **point), np.zeros((4, 2)))
    assert sm.hessian(f, z).shape == (m, m)
    hz = sm.hvp(f, [x, z], [x2, z])
    np.testing.assert_array_equal(sm.evaluate(hz[1], **point, x2=np.ones(2)), np.zeros(4))
    assert sm.hvp(f, z, z).shape == (m,)
    assert sm.taylor(f, z, z) is f


def test_x_to_the_zero_has_zero_derivative(rng):
    g = sm.grad(sm.sum(x ** 0), x)
    assert g.shape == x.shape
    np.testing.assert_array_equal(sm.evaluate(g, x=rng.standard_normal(3)), np.zeros(3))
    np.testing.assert_array_equal(sm.evaluate(sm.hessian(sm.sum(x ** 0) * s, x), x=np.ones(2), s=2.0), np.zeros((2, 2)))


def test_the_nonzero_blocks_beside_zero_ones_are_still_right(rng):
    f = sm.sum(sm.log(1 + sm.exp(A @ x))) * s
    point = {"A": rng.standard_normal((3, 2)), "x": rng.standard_normal(2), "s": 1.3, "z": rng.standard_normal(2)}
    gx, gz, gs = sm.grad(f, [x, z, s])
    fun = lambda **a: sm.evaluate(f, **a)  # noqa: E731
    fd.check_grads(fun, point, {"x": sm.evaluate(gx, **point), "z": sm.evaluate(gz, **point),
                                "s": sm.evaluate(gs, **point)}, rng)


def test_dims_with_one_name_is_one_dim():
    hh = sm.dims("hh")
    assert isinstance(hh, Dim) and str(hh) == "hh"
    assert sm.tensor("W", (d, hh)).shape == (d, hh)
    assert sm.dims("hh,") == (hh,)
    assert sm.dims("hh kk") == (hh, Dim("kk"))


# --------------------------------------------------------------------------- scalar_diff


def _scalar_trees():
    from hypothesis import strategies as st

    from symml import functions as F
    from symml.nodes import placeholder

    leaves = st.sampled_from([placeholder(0), placeholder(1), placeholder(2), sp.Integer(2), sp.Rational(1, 2),
                              sp.Integer(-3), sp.Symbol("lam", positive=True)])
    unary = [sp.exp, sp.log, sp.tanh, sp.sin, sp.sqrt, sp.Abs, sp.atan, sp.erf, F.sigmoid, F.softplus, sp.sign]

    def grow(children):
        return st.one_of(
            st.tuples(children, children).map(lambda t: t[0] + t[1]),
            st.tuples(children, children).map(lambda t: t[0] * t[1]),
            st.tuples(children, children).map(lambda t: t[0] - t[1]),
            st.tuples(children, st.sampled_from([2, 3, -1, sp.Rational(1, 2), sp.Symbol("q")])).map(lambda t: t[0] ** t[1]),
            st.tuples(children, children).map(lambda t: t[0] ** t[1]),
            st.tuples(st.sampled_from(unary), children).map(lambda t: t[0](t[1])),
            st.tuples(children, children).map(lambda t: sp.Piecewise((t[0], placeholder(0) > 0), (t[1], True))),
        )

    return st.recursive(leaves, grow, max_leaves=8)


def test_scalar_diff_is_sympy_diff():
    """calculus.scalar_diff (SymPy's rules without Derivative's set-up) returns exactly what
    sympy.diff returns, the same expression and not only an equal one, on random scalar trees
    of the operations elementwise maps hold."""
    from hypothesis import HealthCheck, given, settings

    from symml.calculus import scalar_diff
    from symml.nodes import placeholder

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(_scalar_trees())
    def check(e):
        for k in range(3):
            x = placeholder(k)
            got, want = scalar_diff(e, x), sp.diff(e, x)
            assert got == want and sp.srepr(got) == sp.srepr(want), (e, x, got, want)

    check()
