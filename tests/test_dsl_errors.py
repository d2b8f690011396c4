"""Bad input fails early, with a ValueError or TypeError that teaches.

Each case asserts the exception type and message fragments that name what was wrong and
what was expected. No case may surface a SymPy exception type or a SymPy-internal
message, directly or as the exception's cause.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import sympy as sp

import symml as sm

n, d, m = sm.dims("n d m")
X = sm.tensor("X", (n, d))
M = sm.tensor("M", (m, d))
S = sm.tensor("S", (d, d))
T3 = sm.tensor("T3", (n, d, m))
w = sm.tensor("w", (d,))
y = sm.tensor("y", (n,))
s = sm.scalar("s")
img = sm.tensor("img", (n, 3, 8, 8))
ker = sm.tensor("ker", (2, 4, 3, 3))
L = sm.sum(sm.softplus(-y * (X @ w)))
sm.scalar("s_errors_only"), sm.tensor("X_errors_only", (n, d))


def frag(*parts: str) -> str:
    """A regex matching the literal ``parts`` in order."""
    return "(?s)" + ".*".join(re.escape(p) for p in parts)


def _assert_clean(exc: BaseException):
    """Not a SymPy exception, not caused by one, and no SymPy-internal wording."""
    chain = []
    e: BaseException | None = exc
    while e is not None and len(chain) < 10:
        chain.append(e)
        e = e.__cause__ or e.__context__
    for e in chain:
        for cls in type(e).__mro__:
            assert not cls.__module__.startswith("sympy"), f"SymPy exception type {cls} in the chain: {e!r}"
    msg = str(exc)
    for internal in ("SympifyError", "Sympify of expression", "sympy.", "could not parse", "Traceback"):
        assert internal not in msg, msg
    assert msg.strip(), "an empty message teaches nothing"


CASES = [
    # '@'
    ("matmul_inner", lambda: X @ y, ValueError, frag("'@'", "(n, d) @ (n,)", "inner sizes must agree")),
    ("matmul_vector_left", lambda: y @ M, ValueError, frag("(n,) @ (m, d)", "must agree", "n ≠ m")),
    ("matmul_scalar", lambda: X @ 2, ValueError, frag("rank 1 or 2", "(n, d) and ()", "use '*' for scalars")),
    ("matmul_rank3", lambda: T3 @ m, ValueError, frag("'@'")),
    ("matmul_rank3_tensor", lambda: T3 @ w, ValueError, frag("(n, d, m) and (d,)", "use sm.einsum")),
    # elementwise
    ("add_shapes", lambda: X + y, ValueError,
     frag("(n, d) and (n,)", "do not broadcast in '+'", "expected equal sizes")),
    ("sub_shapes", lambda: X - M, ValueError, frag("(n, d) and (m, d)", "'-'", "numpy broadcasting")),
    ("mul_shapes", lambda: w * y, ValueError, frag("(d,) and (n,)", "'*'", "expected")),
    ("div_shapes", lambda: y / X, ValueError, frag("(n,) and (n, d)", "'/'")),
    ("pow_shapes", lambda: X**M, ValueError, frag("'**'", "expected")),
    ("add_string", lambda: X + "a", TypeError, frag("got str", "sm.tensor(name, shape)")),
    ("add_list", lambda: X + [1, 2], TypeError, frag("expected a symml tensor expression or a number", "got list")),
    ("add_array", lambda: X + np.ones(3), TypeError, frag("expected a symml tensor expression", "got ndarray")),
    ("add_bool", lambda: X + True, TypeError, frag("booleans are not tensor expressions")),
    ("add_foreign_symbol", lambda: X * sp.Symbol("q"), TypeError, frag("got Symbol", "sm.scalar(name)")),
    ("exp_string", lambda: sm.exp("X"), TypeError, frag("got str")),
    # products, reductions, matrix functions
    ("dot_lengths", lambda: sm.dot(w, y), ValueError, frag("sm.dot needs two vectors of one length", "(d,) and (n,)")),
    ("dot_rank", lambda: sm.dot(X, w), ValueError, frag("sm.dot", "two vectors", "(n, d) and (d,)")),
    ("outer_rank", lambda: sm.outer(X, w), ValueError, frag("sm.outer needs two vectors", "(n, d)")),
    ("diag_rank", lambda: sm.diag(T3), ValueError, frag("sm.diag needs a vector or a square matrix", "(n, d, m)")),
    ("diag_nonsquare", lambda: sm.diag(X), ValueError, frag("square matrix", "(n, d)")),
    ("trace_nonsquare", lambda: sm.trace(X), ValueError, frag("sm.trace needs a square matrix", "(n, d)")),
    ("inv_nonsquare", lambda: sm.inv(X), ValueError, frag("sm.inv needs a square matrix", "(n, d)")),
    ("det_vector", lambda: sm.det(w), ValueError, frag("sm.det needs a square matrix", "(d,)")),
    ("logdet_nonsquare", lambda: sm.logdet(X), ValueError, frag("sm.logdet needs a square matrix", "(n, d)")),
    ("sum_axis_range", lambda: sm.sum(X, axis=2), ValueError, frag("sm.sum", "axis 2 is out of range", "rank 2")),
    ("sum_axis_type", lambda: sm.sum(X, axis="0"), TypeError, frag("sm.sum", "axis must be an int", "'0'")),
    ("sum_axis_repeat", lambda: sm.sum(X, axis=(0, 0)), ValueError, frag("sm.sum", "(0, 0)", "repeats", "distinct")),
    ("mean_axis_repeat", lambda: sm.mean(X, axis=(1, -1)), ValueError, frag("sm.mean", "repeats", "distinct")),
    ("mean_axis_range", lambda: sm.mean(w, axis=1), ValueError, frag("sm.mean", "out of range", "rank 1")),
    ("logsumexp_scalar", lambda: sm.logsumexp(s), ValueError,
     frag("sm.logsumexp needs a tensor of rank ≥ 1", "scalar")),
    ("logsumexp_axis", lambda: sm.logsumexp(X, axis=3), ValueError, frag("sm.logsumexp", "axis 3", "rank 2")),
    ("logsumexp_axis_type", lambda: sm.logsumexp(X, axis=1.0), TypeError, frag("axis must be an int", "1.0")),
    ("softmax_axis", lambda: sm.softmax(w, axis=1), ValueError, frag("sm.softmax", "axis 1 is out of range", "rank 1")),
    ("log_softmax_axis", lambda: sm.log_softmax(X, axis=-3), ValueError, frag("sm.log_softmax", "axis -3")),
    ("transpose_axes", lambda: sm.transpose(X, (0, 0)), ValueError, frag("(0, 0)", "not a permutation", "2 axes")),
    ("eye_zero", lambda: sm.eye(0), ValueError, frag("size must be positive", "0")),
    ("eye_string", lambda: sm.eye("d"), TypeError, frag("sm.dims", "'d'")),
    # einsum
    ("einsum_too_few_operands", lambda: sm.einsum("ij,j->i", X), ValueError,
     frag("'ij,j->i'", "names 2 operands", "1 were given")),
    ("einsum_too_many_operands", lambda: sm.einsum("ij->i", X, w), ValueError,
     frag("names 1 operands", "2 were given")),
    ("einsum_rank", lambda: sm.einsum("ijk,j->i", X, w), ValueError,
     frag("term 'ijk' has 3 indices", "(n, d)", "expected 2")),
    ("einsum_rank_low", lambda: sm.einsum("i->i", X), ValueError, frag("term 'i' has 1 indices", "expected 2")),
    ("einsum_sizes", lambda: sm.einsum("ij,i->j", X, w), ValueError,
     frag("index 'i' is bound to sizes n and d", "one size")),
    ("einsum_sizes_same_operand", lambda: sm.einsum("ii->i", X), ValueError, frag("index 'i'", "n and d")),
    ("einsum_repeated_output", lambda: sm.einsum("ij->ii", X), ValueError, frag("output indices 'ii' repeat", "once")),
    ("einsum_unknown_output", lambda: sm.einsum("ij->k", X), ValueError,
     frag("output index 'k' appears in no operand")),
    ("einsum_bad_character", lambda: sm.einsum("i1,j->i", X, w), ValueError, frag("only letters", "','", "'->'")),
    ("einsum_ellipsis", lambda: sm.einsum("...i,i->...", X, w), ValueError, frag("only letters")),
    ("einsum_two_arrows", lambda: sm.einsum("ij->i->j", X), ValueError, frag("2 arrows", "at most one")),
    ("einsum_spec_type", lambda: sm.einsum(3, X), TypeError, frag("spec must be a string", "'ij,j->i'", "got int")),
    ("einsum_operand_type", lambda: sm.einsum("i->i", "w"), TypeError, frag("got str")),
    # CNN layers
    ("conv2d_channels", lambda: sm.conv2d(img, ker), ValueError,
     frag("conv2d", "input channels disagree", "(n, 3, 8, 8) has 3", "(2, 4, 3, 3) has 4")),
    ("conv2d_input_rank", lambda: sm.conv2d(X, ker), ValueError, frag("conv2d", "x must have rank 4", "(n, d)")),
    ("conv2d_kernel_rank", lambda: sm.conv2d(img, S), ValueError, frag("conv2d", "k must have rank 4", "(d, d)")),
    ("maxpool_size", lambda: sm.maxpool2d(img, 0), ValueError, frag("pool size must be a positive int", "0")),
    ("avgpool_size_type", lambda: sm.avgpool2d(img, 2.0), ValueError, frag("pool size must be a positive int", "2.0")),
    ("maxpool_rank", lambda: sm.maxpool2d(w), ValueError, frag("maxpool2d needs a tensor of rank ≥ 2", "(d,)")),
    # unknown dimensions
    ("dim_string", lambda: sm.tensor("Z", ("n", 3)), TypeError,
     frag("sm.tensor('Z'", "unknown dimension 'n'", "sm.dims('n')")),
    ("dim_whole_string", lambda: sm.tensor("Z", "n d"), TypeError, frag("shape must be a tuple of sizes", "'n d'")),
    ("dim_float", lambda: sm.tensor("Z", (n, 2.5)), TypeError, frag("size 2.5 (float)", "positive int")),
    ("dim_float_scalar_shape", lambda: sm.tensor("Z", 2.0), TypeError, frag("shape must be a tuple", "2.0 (float)")),
    ("dim_zero", lambda: sm.tensor("Z", (0,)), ValueError, frag("size 0 is not positive", "positive int")),
    ("dim_negative", lambda: sm.tensor("Z", (n, -3)), ValueError, frag("size -3 is not positive", "expected")),
    ("dim_none", lambda: sm.tensor("Z", (None,)), TypeError, frag("size None", "sm.dims")),
    ("dim_bool", lambda: sm.tensor("Z", (True,)), TypeError, frag("size True", "positive int")),
    ("dim_plain_symbol", lambda: sm.tensor("Z", (sp.Symbol("k"),)), TypeError,
     frag("k", "not a dimension", "sm.dims('k')")),
    ("dim_fraction", lambda: sm.tensor("Z", (n / 2,)), TypeError, frag("n/2", "not an integer")),
    ("dim_dict", lambda: sm.tensor("Z", {"n": 1}), TypeError, frag("shape must be a tuple", "dict")),
    ("vector_size", lambda: sm.vector("v", "d"), TypeError, frag("unknown dimension 'd'")),
    ("matrix_size", lambda: sm.matrix("V", d, 0), ValueError, frag("size 0 is not positive")),
    ("dims_bad_name", lambda: sm.dims("n 1a"), ValueError, frag("invalid dimension name '1a'", "Python identifier")),
    ("dims_empty", lambda: sm.dims(""), ValueError, frag("at least one name", "sm.dims('n d')")),
    # tensor names
    ("name_digit", lambda: sm.tensor("1X", (n,)), ValueError, frag("invalid tensor name '1X'", "Python identifier")),
    ("name_keyword", lambda: sm.tensor("lambda", (n,)), ValueError, frag("'lambda'", "not a keyword")),
    ("name_underscore", lambda: sm.tensor("_x", (n,)), ValueError, frag("'_x'", "does not start with '_'")),
    ("name_dunder", lambda: sm.tensor("__class__", ()), ValueError, frag("'__class__'", "identifier")),
    ("name_int", lambda: sm.tensor(3, (n,)), ValueError, frag("invalid tensor name 3", "identifier")),
    ("name_space", lambda: sm.tensor("a b", (n,)), ValueError, frag("'a b'", "for example")),
    ("name_empty", lambda: sm.tensor("", (n,)), ValueError, frag("invalid tensor name ''")),
    ("name_dot", lambda: sm.scalar("a.b"), ValueError, frag("invalid tensor name 'a.b'")),
    ("name_prime", lambda: sm.scalar("x'"), ValueError, frag("invalid tensor name \"x'\"")),
    ("let_name", lambda: sm.let("1z", X @ w), ValueError, frag("invalid intermediate name '1z'", "such as 'z'")),
    # differentiation
    ("grad_expression_target", lambda: sm.grad(L, X @ w), ValueError,
     frag("input tensor", "sm.tensor/sm.scalar", "got Einsum")),
    ("grad_string_target", lambda: sm.grad(L, "w"), ValueError, frag("input tensor", "got str")),
    ("grad_number_target", lambda: sm.grad(L, 1.0), ValueError, frag("input tensor", "got float")),
    ("grad_no_targets", lambda: sm.grad(L, []), ValueError, frag("at least one tensor")),
    ("grad_non_scalar", lambda: sm.grad(X @ w, w), ValueError,
     frag("sm.grad needs a scalar expression", "(n,)", "sm.jacobian")),
    ("grad_of_string", lambda: sm.grad("L", w), TypeError, frag("got str")),
    ("jacobian_expression", lambda: sm.jacobian(X @ w, sm.exp(w)), ValueError, frag("sm.jacobian", "input tensor")),
    ("jacobian_through_conv", lambda: sm.jacobian(sm.conv2d(img, sm.tensor("k3", (2, 3, 3, 3))), img), ValueError,
     frag("Jacobians and Hessians through conv2d are not supported", "sm.grad or sm.hvp")),
    ("jacobian_through_pool", lambda: sm.jacobian(sm.maxpool2d(img), img), ValueError,
     frag("through pooling", "sm.hvp")),
    ("hessian_non_scalar", lambda: sm.hessian(X @ w, w), ValueError,
     frag("sm.hessian needs a scalar expression", "(n,)")),
    ("hvp_direction_shape", lambda: sm.hvp(L, w, y), ValueError,
     frag("sm.hvp", "direction has shape (n,)", "w's (d,)")),
    ("hvp_direction_count", lambda: sm.hvp(L, [w, X], [w]), ValueError, frag("sm.hvp", "2 targets but 1 directions")),
    ("hvp_direction_type", lambda: sm.hvp(L, w, "v"), TypeError, frag("got str")),
    ("hvp_non_scalar", lambda: sm.hvp(X @ w, w, w), ValueError, frag("sm.hvp needs a scalar expression")),
    ("taylor_order_negative", lambda: sm.taylor(L, w, w, order=-1), ValueError,
     frag("sm.taylor", "order must be a non-negative int", "-1")),
    ("taylor_order_float", lambda: sm.taylor(L, w, w, order=1.5), ValueError, frag("non-negative int", "1.5")),
    ("taylor_order_string", lambda: sm.taylor(L, w, w, order="2"), ValueError, frag("non-negative int", "'2'")),
    ("taylor_order_bool", lambda: sm.taylor(L, w, w, order=True), ValueError, frag("non-negative int", "True")),
    ("taylor_x0_shape", lambda: sm.taylor(L, w, y), ValueError,
     frag("sm.taylor", "x0 has shape (n,)", "expected (d,)")),
    ("taylor_non_scalar", lambda: sm.taylor(X @ w, w, w), ValueError, frag("sm.taylor needs a scalar expression")),
    # evaluation
    ("evaluate_missing", lambda: sm.evaluate(X @ w, X=np.ones((2, 3))), ValueError,
     frag("missing input 'w'", "shape (d,)")),
    ("evaluate_unknown", lambda: sm.evaluate(sm.norm2(w), w=np.ones(3), zq_never_declared=np.ones(3)), ValueError,
     frag("unknown input 'zq_never_declared'", "no tensor of that name", "reads w")),
    ("evaluate_unknown_did_you_mean", lambda: sm.evaluate(L, X=np.ones((2, 3)), w=np.ones(3), y=np.ones(2), ww=1.0),
     ValueError, frag("unknown input 'ww'", "did you mean 'w'")),
    # names declared only here: an unread array is checked against the one tensor of its name
    ("evaluate_unread_wrong_shape", lambda: sm.evaluate(sm.norm2(w), w=np.ones(3), s_errors_only=np.ones(2)),
     ValueError, frag("s_errors_only: expected rank 0", "got shape (2,)")),
    ("evaluate_unread_inconsistent", lambda: sm.evaluate(sm.norm2(w), w=np.ones(3), X_errors_only=np.ones((2, 4))),
     ValueError, frag("X_errors_only: expected shape (n, d) = (2, 3)", "does not read")),
    ("evaluate_unbound_size", lambda: sm.evaluate(sm.grad(sm.norm2(w), y), w=np.ones(3)), ValueError,
     frag("size n is not bound", "dims={'n': ...}")),
    ("evaluate_rank", lambda: sm.evaluate(sm.norm2(w), w=np.ones((3, 1))), ValueError,
     frag("w: expected rank 1", "(d,)", "got shape (3, 1)")),
    ("evaluate_scalar_rank", lambda: sm.evaluate(s * 2, s=np.ones(2)), ValueError,
     frag("s: expected rank 0", "got shape (2,)")),
    ("evaluate_inconsistent", lambda: sm.evaluate(X @ w, X=np.ones((2, 3)), w=np.ones(4)), ValueError,
     frag("w: expected shape (d,) = (3,)", "d=3", "got (4,)")),
    ("evaluate_inconsistent_pair", lambda: sm.evaluate(L, X=np.ones((2, 3)), w=np.ones(3), y=np.ones(5)), ValueError,
     frag("X: expected shape (n, d) = (5, 3)", "n=5", "got (2, 3)")),
    ("evaluate_fixed_size", lambda: sm.evaluate(sm.sum(sm.tensor("K", (3,))), K=np.ones(4)), ValueError,
     frag("K: expected shape (3,)", "got (4,)")),
    ("evaluate_not_expression", lambda: sm.evaluate("X"), TypeError,
     frag("expected a symml tensor expression", "got str")),
]


@pytest.mark.parametrize("build, exc, match", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_bad_input_is_refused_with_a_teaching_message(build, exc, match):
    with pytest.raises(exc, match=match) as info:
        build()
    assert isinstance(info.value, (ValueError, TypeError))
    _assert_clean(info.value)


def test_derivative_errors_are_value_errors():
    with pytest.raises(sm.DerivativeError) as info:
        sm.grad(X @ w, w)
    assert isinstance(info.value, ValueError)


def test_case_ids_are_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))


def test_good_shapes_still_accepted():
    """The checks refuse only what is wrong: integer expressions in dims and ints are sizes."""
    assert sm.tensor("Z", (n + 1, 3)).shape == (n + 1, 3)
    assert sm.tensor("Z", 4).shape == (4,)
    assert sm.tensor("Z", [n, d]).shape == (n, d)
    assert sm.vector("v", d).shape == (d,)
    assert sm.matrix("V", n, 2).shape == (n, 2)
    assert sm.sum(T3, axis=(0, 2)).shape == (d,)
    assert sm.mean(T3, axis=(2, 0)).shape == (d,)


# ----------------------------------------------------------------- known bugs outside the DSL (reported)


def test_taylor_with_several_targets_says_one_target():
    with pytest.raises(ValueError, match=frag("sm.taylor", "one")) as info:
        sm.taylor(L, [w, X], w)
    assert "unpack" not in str(info.value)


def test_ndarray_on_the_left_is_refused():
    with pytest.raises(TypeError):
        np.ones(3) + w


def test_dims_of_a_non_string():
    with pytest.raises(TypeError, match="dims"):
        sm.dims(3)


def test_two_tensors_with_one_name_are_refused():
    w_n = sm.tensor("w", (n,))
    with pytest.raises(ValueError, match="w"):
        sm.evaluate(sm.sum(w_n) + sm.sum(w), w=np.ones(3))


def test_conv_kernel_larger_than_image():
    with pytest.raises(ValueError, match="conv2d"):
        sm.conv2d(img, sm.tensor("kbig", (2, 3, 9, 9)))


def test_pool_window_larger_than_image():
    with pytest.raises(ValueError, match="pool"):
        sm.maxpool2d(sm.tensor("tiny", (n, 3, 1, 1)))


def test_evaluate_non_numeric_array_names_the_input():
    with pytest.raises(ValueError, match="'w'"):
        sm.evaluate(sm.sum(w), w=np.array(["a", "b"]))
