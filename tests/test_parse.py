"""The restricted expression parser: what it accepts equals the DSL, and the rest is refused."""
from __future__ import annotations

import ast
import builtins

import numpy as np
import pytest

import symml as sm
from symml.parse import MAX_LENGTH, MAX_NESTING, ParseError, parse, tensors_from_specs

n, d = sm.dims("n d")
c, h, q = sm.dims("c h q")

NS = tensors_from_specs(["X=n,d", "w=d", "y=n", "lam=", "S=d,d", "img=n,c,h,q", "ker=2,c,3,3", "k3=3"])
X, w, y, lam, S = (NS[k] for k in ("X", "w", "y", "lam", "S"))
img, ker, k3 = NS["img"], NS["ker"], NS["k3"]

# text → the same formula written with the DSL
GOOD = [
    ("X", lambda: X),
    ("X @ w", lambda: X @ w),
    ("X.T @ X", lambda: X.T @ X),
    ("X.T.T", lambda: X),
    ("w @ S @ w", lambda: w @ S @ w),
    ("(X @ w - y) ** 2", lambda: (X @ w - y) ** 2),
    ("-X + +X", lambda: -X + X),
    ("2 * w", lambda: 2 * w),
    ("w * 2", lambda: w * 2),
    ("w / 4", lambda: w / 4),
    ("1 / w", lambda: 1 / w),
    ("1.5 * w - 0.25", lambda: 1.5 * w - 0.25),
    ("1e-3 * w", lambda: 1e-3 * w),
    ("w ** 2", lambda: w**2),
    ("w ** -1", lambda: w**-1),
    ("2 ** w", lambda: 2**w),
    ("2 ** 10 * w", lambda: 1024 * w),
    ("X + w", lambda: X + w),
    ("lam * X", lambda: lam * X),
    ("sum(X)", lambda: sm.sum(X)),
    ("sum(X, axis=0)", lambda: sm.sum(X, axis=0)),
    ("sum(X, axis=-1)", lambda: sm.sum(X, axis=-1)),
    ("mean(X)", lambda: sm.mean(X)),
    ("mean(X, axis=1)", lambda: sm.mean(X, axis=1)),
    ("dot(w, w)", lambda: sm.dot(w, w)),
    ("outer(w, y)", lambda: sm.outer(w, y)),
    ("diag(w)", lambda: sm.diag(w)),
    ("diag(S)", lambda: sm.diag(S)),
    ("trace(S)", lambda: sm.trace(S)),
    ("inv(S)", lambda: sm.inv(S)),
    ("det(S)", lambda: sm.det(S)),
    ("logdet(S)", lambda: sm.logdet(S)),
    ("norm2(w)", lambda: sm.norm2(w)),
    ("S + 2 * eye(d)", lambda: S + 2 * sm.eye(d)),
    ("eye(3) @ k3", lambda: sm.eye(3) @ k3),
    ("exp(X)", lambda: sm.exp(X)),
    ("log(X)", lambda: sm.log(X)),
    ("sqrt(X)", lambda: sm.sqrt(X)),
    ("abs(X)", lambda: sm.abs(X)),
    ("tanh(X)", lambda: sm.tanh(X)),
    ("sigmoid(X)", lambda: sm.sigmoid(X)),
    ("softplus(X)", lambda: sm.softplus(X)),
    ("log_sigmoid(X)", lambda: sm.log_sigmoid(X)),
    ("relu(X)", lambda: sm.relu(X)),
    ("logsumexp(X)", lambda: sm.logsumexp(X)),
    ("logsumexp(X, axis=1)", lambda: sm.logsumexp(X, axis=1)),
    ("softmax(X)", lambda: sm.softmax(X)),
    ("softmax(X, axis=0)", lambda: sm.softmax(X, axis=0)),
    ("log_softmax(X, axis=-1)", lambda: sm.log_softmax(X, axis=-1)),
    ("einsum('ij,j->i', X, w)", lambda: sm.einsum("ij,j->i", X, w)),
    ("einsum('ii->', S)", lambda: sm.einsum("ii->", S)),
    ('einsum("ii->i", S)', lambda: sm.einsum("ii->i", S)),
    ("einsum('ij' ',j->i', X, w)", lambda: sm.einsum("ij,j->i", X, w)),
    ("conv2d(img, ker)", lambda: sm.conv2d(img, ker)),
    ("maxpool2d(img)", lambda: sm.maxpool2d(img)),
    ("maxpool2d(img, size=3)", lambda: sm.maxpool2d(img, size=3)),
    ("avgpool2d(tanh(conv2d(img, ker)), size=2)", lambda: sm.avgpool2d(sm.tanh(sm.conv2d(img, ker)), size=2)),
    ("sum(softplus(-y * (X @ w))) + lam * norm2(w)", lambda: sm.sum(sm.softplus(-y * (X @ w))) + lam * sm.norm2(w)),
    ("  mean( log_sigmoid( y*(X@w) ) )  ", lambda: sm.mean(sm.log_sigmoid(y * (X @ w)))),
]


@pytest.mark.parametrize("text, build", [pytest.param(t, b, id=t) for t, b in GOOD])
def test_parse_builds_the_same_expression(text, build):
    got = parse(text, NS)
    want = build()
    assert isinstance(got, sm.Expr)
    assert got.shape == want.shape
    if got is not want:  # equal graphs are interned, but a different but equal build order may differ
        _assert_same_values(got, want)


def _assert_same_values(a, b):
    rng = np.random.default_rng(0)
    sizes = {n: 3, d: 2, c: 2, h: 6, q: 7}
    arrays = {}
    for e in (a, b):
        for t in sm.nodes.leaves(e):
            shape = tuple(int(s.xreplace(sizes)) for s in t.shape)
            arrays.setdefault(t.name, rng.uniform(0.5, 1.5, shape))
    va, vb = sm.evaluate((a, b), **arrays)
    np.testing.assert_allclose(va, vb, rtol=1e-12)


def test_most_parses_are_the_same_interned_object():
    same = sum(parse(t, NS) is b() for t, b in GOOD)
    assert same >= len(GOOD) - 2


def test_sm_parse_is_exported():
    assert sm.parse is parse
    assert "parse" in sm.__all__


def test_parsed_loss_differentiates_like_the_dsl():
    L = parse("sum(softplus(-y * (X @ w))) + lam * norm2(w)", NS)
    assert sm.grad(L, w) is sm.grad(sm.sum(sm.softplus(-y * (X @ w))) + lam * sm.norm2(w), w)


def test_shape_errors_pass_through_as_value_errors():
    with pytest.raises(ValueError, match=r"'@'.*\(n, d\) @ \(n,\)") as info:
        parse("X @ y", NS)
    assert not isinstance(info.value, ParseError)
    with pytest.raises(ValueError, match="sm.dot") as info:
        parse("dot(w, y)", NS)
    assert not isinstance(info.value, ParseError)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        parse("sum(X, axis=2)", NS)


# --------------------------------------------------------------------------- specs


def test_specs_make_shared_dims():
    ns = tensors_from_specs(["X=n,d", "w=d", "lam=", "k=3", " V = n , 2 "])
    assert ns["X"].shape == (n, d)
    assert ns["X"].shape[1] == ns["w"].shape[0] == d
    assert ns["lam"].shape == ()
    assert ns["k"].shape == (3,)
    assert ns["V"].shape == (n, 2)
    assert ns["X"] is sm.tensor("X", (n, d))  # the same interned tensor as the DSL's
    assert list(ns) == ["X", "w", "lam", "k", "V"]


BAD_SPECS = [
    "X", "X=n=d", "=n", "1X=n", "X=n,,d", "X=n,", "X=0", "X=-1", "X=1.5", "X=n d", "X=__a", "X=_n",
    "X=lambda", "sum=n", "lambda=n", "X=n;import os", "X=(n)", "X=n,\u0661", "", "X:n",
]


@pytest.mark.parametrize("spec", BAD_SPECS)
def test_bad_specs_say_the_expected_form(spec):
    with pytest.raises(ParseError, match="NAME=DIM,DIM") as info:
        tensors_from_specs(["w=d", spec])
    assert "\n" not in str(info.value)


def test_duplicate_spec_names():
    with pytest.raises(ParseError, match=r"'w' is defined twice.*NAME=DIM,DIM"):
        tensors_from_specs(["w=d", "w=n"])


# --------------------------------------------------------------------------- hostile input

HOSTILE = [
    "__import__('os').system('x')",
    "__import__",
    "__builtins__",
    "X.__class__",
    "X.__class__.__mro__[1].__subclasses__()",
    "(X @ w).__class__",
    "X.T.__dict__",
    "sum.__globals__",
    "X.shape",
    "X.T()",
    "(lambda: 1)()",
    "lambda: 0",
    "[x for x in X]",
    "{x for x in X}",
    "(x for x in X)",
    "{k: 1 for k in X}",
    "X[0]",
    "X[0:2]",
    "open('f')",
    "eval('1')",
    "exec('x=1')",
    "compile('1', 'f', 'eval')",
    "getattr(X, 'T')",
    "globals()",
    "breakpoint()",
    "print(X)",
    "os.system('ls')",
    "'a'+'b'",
    "'X'",
    "b'ij'",
    "X if w else y",
    'f"{X}"',
    "(a:=X)",
    "X and y",
    "X or y",
    "not X",
    "X < y",
    "X == X",
    "*X",
    "sum(*X)",
    "sum(**X)",
    "import os",
    "X; w",
    "X\nw",
    "X +" * 2500 + " X",
    "(" * 200 + "X" + ")" * 200,
    "[" * 60 + "]" * 60,
    "sum(X, axis=eval('1'))",
    "sum(X, axis='0')",
    "sum(X, axis=0.5)",
    "sum(X, axis=True)",
    "sum(X, axis=(0, 1))",
    "sum(X, keepdims=1)",
    "sum(X, 0)",
    "maxpool2d(img, 2)",
    "exp(X, 2)",
    "exp()",
    "exp",
    "einsum(X)",
    "einsum(b'ij', X)",
    "einsum(spec, X)",
    "einsum('i' + 'j', X)",
    "einsum(f'ij', X)",
    "eye(X)",
    "eye(-1)",
    "eye(0)",
    "eye(k)",
    "[X, w]",
    "(X, w)",
    "{'a': X}",
    "X // 2",
    "X % 2",
    "~X",
    "X | y",
    "X ^ y",
    "X << 1",
    "True * X",
    "None",
    "...",
    "1j * X",
    "1e999 * X",
    "9**9**9**9",
    "(-10) ** 100000 * X",
    "unknown + X",
    "_private",
    "sum(X)(1)",
    "yield X",
    "await X",
    "X\x00",
    "",
    "   ",
    "-" * 1500 + "X",
]


def test_corpus_is_large_enough():
    assert len(HOSTILE) >= 30
    assert any(len(t) > MAX_LENGTH for t in HOSTILE)
    assert any(t.count("(") > MAX_NESTING for t in HOSTILE)


@pytest.mark.parametrize("text", [pytest.param(t, id=repr(t)[:40]) for t in HOSTILE])
def test_hostile_text_is_refused_in_one_line(text):
    with pytest.raises(ParseError) as info:
        parse(text, NS)
    msg = str(info.value)
    assert "\n" not in msg and msg.strip()
    assert "allowed" in msg or "expected" in msg, msg
    assert isinstance(info.value, ValueError)


def test_messages_name_the_problem():
    cases = {
        "X.__class__": r"attribute \.__class__.*only attribute is \.T",
        "unknown + X": r"unknown name 'unknown'.*allowed names: the tensors S, X,.*functions sum",
        "open('f')": r"unknown function 'open'.*allowed functions: sum, mean",
        "'a'+'b'": r"a string.*only as einsum's first argument",
        "X[0]": r"indexing.*not allowed",
        "X < y": r"a comparison.*not allowed",
        "(lambda: 1)()": r"calling this.*by bare name",
        "sum(X, axis=eval('1'))": r"axis=.*int literals",
        "sum(X, keepdims=1)": r"keyword keepdims=.*sum\(\) takes the keyword axis=",
        "exp(X, 2)": r"exp\(\) takes 1 positional argument, got 2",
        "import os": r"syntax error at column \d+.*allowed",
        "X +" * 2500 + " X": rf"too long: 7502 characters, at most {MAX_LENGTH}",
        "(" * 200 + "X" + ")" * 200: rf"nested too deeply: 200 levels.*at most {MAX_NESTING}",
        "eye(X)": r"eye takes a dimension \(c, d, h, n, q\)",
        "9**9**9**9": r"digits",
        "f'{X}'": r"f-string",
    }
    for text, pattern in cases.items():
        with pytest.raises(ParseError, match=pattern):
            parse(text, NS)


def test_nesting_limit_is_exact():
    ok = "(" * MAX_NESTING + "X" + ")" * MAX_NESTING
    assert parse(ok, NS) is X
    with pytest.raises(ParseError, match="nested too deeply"):
        parse("(" + ok + ")", NS)


def test_length_limit_is_exact():
    assert parse(" " * (MAX_LENGTH - 1) + "X", NS) is X
    with pytest.raises(ParseError, match="too long"):
        parse(" " * MAX_LENGTH + "X", NS)


def test_nothing_is_evaluated(monkeypatch):
    """eval and exec are never called, and compile only ever builds a syntax tree."""
    calls = []

    def forbidden(name):
        def f(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} called by the parser")

        return f

    real_compile = builtins.compile

    def ast_only_compile(source, filename, mode, flags=0, *args, **kwargs):
        if not flags & ast.PyCF_ONLY_AST:
            calls.append("compile")
            raise AssertionError("compile to code called by the parser")
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "eval", forbidden("eval"))
    monkeypatch.setattr(builtins, "exec", forbidden("exec"))
    monkeypatch.setattr(builtins, "compile", ast_only_compile)
    for text in HOSTILE:
        with pytest.raises(ParseError):
            parse(text, NS)
    for text, build in GOOD:
        parse(text, NS)
    assert calls == []


def test_hostile_text_has_no_side_effects(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for text in ("open('pwned', 'w')", "__import__('pathlib').Path('pwned').touch()", "exec('open(\"pwned\",\"w\")')"):
        with pytest.raises(ParseError):
            parse(text, NS)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- the namespace


def test_namespace_must_hold_tensors():
    with pytest.raises(ParseError, match="namespace entry 'os'.*expected a symml tensor"):
        parse("X", {**NS, "os": builtins})
    with pytest.raises(ParseError, match="'exp' is not allowed: it shadows the DSL function exp"):
        parse("X", {**NS, "exp": X})
    with pytest.raises(ParseError, match="namespace name '__x'"):
        parse("X", {**NS, "__x": X})


def test_text_must_be_a_string():
    with pytest.raises(ParseError, match="as a string, got bytes"):
        parse(b"X", NS)


def test_namespace_may_hold_any_expression():
    ns = {**NS, "z": sm.let("z", X @ w)}
    assert parse("sigmoid(z)", ns) is sm.sigmoid(ns["z"])
