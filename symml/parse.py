"""A restricted parser: tensor expressions typed as text, for the command line.

``parse("sum(softplus(-y * (X @ w)))", namespace)`` reads the text with Python's ``ast``
module and builds the expression by walking the tree itself. Nothing is evaluated:
there is no ``eval``, ``exec`` or compilation to code, and only a small, listed subset of
Python's syntax is accepted: tensor names from ``namespace``, int and float literals,
unary ``+ -``, binary ``+ - * / ** @``, the ``.T`` attribute, and calls of the DSL
functions by bare name (a string literal is allowed only as ``einsum``'s spec, and
keywords only as ``axis=`` and, for the pools, ``size=``, with int literals). Anything
else is refused with a one-line :class:`ParseError` that says what is allowed. Shape
errors from the DSL pass through as the DSL's ``ValueError``.

``tensors_from_specs(["X=n,d", "w=d", "lam="])`` makes the namespace from command-line
specs; a dimension name always means the same :class:`~symml.nodes.Dim`.

Takes: text and tensors. Gives: graph nodes (:mod:`symml.nodes`).
"""
from __future__ import annotations

import ast
import math
from typing import Callable, Mapping

import sympy as sp

from . import dsl
from .nodes import Dim, Expr, as_expr, dims, is_const

__all__ = ["ParseError", "parse", "tensors_from_specs", "FUNCTIONS", "MAX_LENGTH", "MAX_NESTING"]

#: the longest text accepted, in characters
MAX_LENGTH = 2000
#: the deepest bracket nesting accepted, checked before Python's parser runs
MAX_NESTING = 50
#: the deepest syntax tree accepted (long operator chains, e.g. ``- - - x``), checked before the walk
MAX_TREE_DEPTH = 200
#: the most digits an exact number literal folded by ``**`` may have
MAX_DIGITS = 10_000

#: the DSL functions a text may call, by bare name
FUNCTIONS: dict[str, Callable] = {
    name: getattr(dsl, name)
    for name in (
        "sum", "mean", "dot", "outer", "diag", "trace", "inv", "det", "logdet", "norm2", "eye", "exp", "log",
        "sqrt", "abs", "tanh", "sigmoid", "softplus", "log_sigmoid", "relu", "logsumexp", "softmax",
        "log_softmax", "einsum", "conv2d", "maxpool2d", "avgpool2d",
    )
}

# positional arity (min, max; None = any) and allowed keywords, as data
_UNARY = (1, 1)
_ARITY: dict[str, tuple[int, int | None]] = {name: _UNARY for name in FUNCTIONS}
_ARITY.update({"dot": (2, 2), "outer": (2, 2), "conv2d": (2, 2), "einsum": (2, None)})
_SIGNATURES = {  # how a call is spelled, for messages
    "sum": "sum(x, axis=int)", "mean": "mean(x, axis=int)", "logsumexp": "logsumexp(x, axis=int)",
    "softmax": "softmax(x, axis=int)", "log_softmax": "log_softmax(x, axis=int)", "dot": "dot(a, b)",
    "outer": "outer(a, b)", "conv2d": "conv2d(x, k)", "einsum": "einsum('ij,j->i', A, b)", "eye": "eye(d)",
    "maxpool2d": "maxpool2d(x, size=int)", "avgpool2d": "avgpool2d(x, size=int)",
}
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "sum": ("axis",), "mean": ("axis",), "logsumexp": ("axis",), "softmax": ("axis",), "log_softmax": ("axis",),
    "maxpool2d": ("size",), "avgpool2d": ("size",),
}

ALLOWED = (
    "allowed: tensor names, int/float literals, unary + -, binary + - * / ** @, .T, and calls of "
    + ", ".join(FUNCTIONS)
    + " (einsum's first argument a string literal; keywords axis= and size= with int literals)"
)

_FORBIDDEN = {  # syntax → how to name it in a message
    ast.Lambda: "lambda", ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator expression", ast.Subscript: "indexing",
    ast.JoinedStr: "an f-string", ast.FormattedValue: "an f-string", ast.NamedExpr: "an assignment (:=)",
    ast.BoolOp: "'and'/'or'", ast.Compare: "a comparison", ast.IfExp: "a conditional expression",
    ast.Starred: "unpacking (*)", ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict", ast.Set: "a set",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "a slice",
}


class ParseError(ValueError):
    """The text is not an expression of the accepted subset; the message is one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def parse(text: str, namespace: Mapping[str, Expr]) -> Expr:
    """The expression that ``text`` spells, with names resolved in ``namespace``.

    Args:
        text: an expression in the DSL's notation, e.g. ``"sum(softplus(-y * (X @ w)))"``.
        namespace: tensor name → symml expression (see :func:`tensors_from_specs`).

    Returns:
        The graph node, the same interned object the DSL builds for the same formula.

    Raises:
        ParseError: on anything outside the accepted subset (one line, says what is allowed).
        ValueError: a shape error from the DSL, unchanged.

    >>> import symml as sm
    >>> ns = tensors_from_specs(["X=n,d", "w=d"])
    >>> parse("X @ w", ns).shape
    (n,)
    """
    if not isinstance(text, str):
        raise ParseError(f"parse() takes the expression as a string, got {type(text).__name__}; {ALLOWED}")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"expression too long: {len(text)} characters, at most {MAX_LENGTH} are allowed")
    _check_namespace(namespace)
    _check_nesting(text)
    try:
        tree = ast.parse(text.strip(), mode="eval")  # builds a syntax tree only; nothing runs
    except SyntaxError as e:
        where = f" at column {e.offset}" if e.offset else ""
        raise ParseError(f"syntax error{where}: {e.msg}; expected one expression, {ALLOWED}") from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise ParseError(f"cannot read the expression ({type(e).__name__}: {e}); {ALLOWED}") from None
    _check_tree_depth(tree)
    return _Walker(text, namespace).expr(tree.body)


def _check_namespace(namespace):
    if not isinstance(namespace, Mapping):
        raise ParseError(f"namespace must map names to symml tensors, got {type(namespace).__name__}")
    for k, v in namespace.items():
        if not isinstance(k, str) or not k.isidentifier() or k.startswith("_"):
            raise ParseError(f"namespace name {k!r} is not allowed: expected an identifier not starting with '_'")
        if k in FUNCTIONS:
            raise ParseError(f"namespace name {k!r} is not allowed: it shadows the DSL function {k}()")
        if not isinstance(v, Expr):
            raise ParseError(
                f"namespace entry {k!r} is a {type(v).__name__}: expected a symml tensor from sm.tensor(...)"
            )


def _check_nesting(text: str):
    depth = deepest = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    if deepest > MAX_NESTING:
        raise ParseError(
            f"expression nested too deeply: {deepest} levels of brackets, at most {MAX_NESTING} are allowed"
        )


def _check_tree_depth(tree):
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise ParseError(
                f"expression nested too deeply: more than {MAX_TREE_DEPTH} levels of operators, "
                f"at most {MAX_TREE_DEPTH} are allowed"
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


class _Walker:
    """Turns an accepted syntax tree into graph nodes, refusing everything else."""

    def __init__(self, text: str, namespace: Mapping[str, Expr]):
        self.text = text
        self.namespace = namespace
        self.dims = {str(s): s for v in namespace.values() for e in v.shape for s in sp.sympify(e).free_symbols
                     if isinstance(s, Dim)}

    # -- messages
    def fail(self, node, what: str, hint: str = ALLOWED):
        seg = ast.get_source_segment(self.text.strip(), node) or ""
        seg = seg if len(seg) <= 40 else seg[:37] + "..."
        col = getattr(node, "col_offset", None)
        where = f" at column {col + 1}" if col is not None else ""
        raise ParseError(f"{what}{where} ({seg!r}) is not allowed; {hint}")

    def defined(self) -> str:
        tensors = ", ".join(sorted(self.namespace)) or "none"
        dims_ = ", ".join(sorted(self.dims)) or "none"
        return f"the tensors {tensors} (dimensions {dims_}, for eye) and the functions {', '.join(FUNCTIONS)}"

    # -- the walk
    def expr(self, node) -> Expr:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            what = _FORBIDDEN.get(type(node), f"syntax {type(node).__name__}")
            self.fail(node, what)
        return method(node)

    def _Name(self, node: ast.Name) -> Expr:
        name = node.id
        if name.startswith("__"):
            self.fail(node, f"the name {name!r}", "names starting with '__' are never allowed; " + ALLOWED)
        if name in self.namespace:
            return as_expr(self.namespace[name])
        if name in FUNCTIONS:
            self.fail(node, f"the function {name} without a call", f"call it, as in {name}(X)")
        raise ParseError(f"unknown name {name!r} at column {node.col_offset + 1}; allowed names: {self.defined()}")

    def _Constant(self, node: ast.Constant) -> Expr:
        v = node.value
        if isinstance(v, str):
            self.fail(node, "a string", "a string literal is allowed only as einsum's first argument, "
                                        "as in einsum('ij,j->i', X, w)")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.fail(node, f"the literal {type(v).__name__}", "numbers must be int or float literals; " + ALLOWED)
        if isinstance(v, float) and not math.isfinite(v):
            self.fail(node, "a non-finite number", "numbers must be finite")
        return as_expr(v)

    def _UnaryOp(self, node: ast.UnaryOp) -> Expr:
        if isinstance(node.op, ast.USub):
            return -self.expr(node.operand)
        if isinstance(node.op, ast.UAdd):
            return +self.expr(node.operand)
        self.fail(node, f"the operator {_OP_NAMES.get(type(node.op), type(node.op).__name__)}")

    def _BinOp(self, node: ast.BinOp) -> Expr:
        op = _BINARY.get(type(node.op))
        if op is None:
            self.fail(node, f"the operator {_OP_NAMES.get(type(node.op), type(node.op).__name__)}")
        a, b = self.expr(node.left), self.expr(node.right)
        if isinstance(node.op, ast.Pow):
            self._check_power(node, a, b)
        return op(a, b)

    def _check_power(self, node, a: Expr, b: Expr):
        """number ** number is folded exactly by SymPy: refuse results too large to hold."""
        if not (is_const(a) and is_const(b) and not a.shape and not b.shape):
            return
        base, e = a.expr, b.expr
        if not (base.is_Rational and e.is_Rational) or e.is_zero or abs(base) in (0, 1):
            return
        size = max(abs(int(base.p)), abs(int(base.q)))
        digits = float(abs(e)) * math.log10(size)
        if digits > MAX_DIGITS:
            self.fail(node, f"a number with about {digits:.3g} digits",
                      f"exact numbers may have at most {MAX_DIGITS} digits")

    def _Attribute(self, node: ast.Attribute) -> Expr:
        if node.attr != "T":
            self.fail(node, f"the attribute .{node.attr}", "the only attribute is .T (transpose), as in X.T")
        return self.expr(node.value).T

    def _Call(self, node: ast.Call) -> Expr:
        if not isinstance(node.func, ast.Name):
            self.fail(node, "calling this", "only DSL functions may be called, by bare name, as in sum(X)")
        name = node.func.id
        if name.startswith("__"):
            self.fail(node.func, f"the name {name!r}", "names starting with '__' are never allowed; " + ALLOWED)
        fn = FUNCTIONS.get(name)
        if fn is None:
            raise ParseError(
                f"unknown function {name!r} at column {node.col_offset + 1}; allowed functions: {', '.join(FUNCTIONS)}"
            )
        for a in node.args:
            if isinstance(a, ast.Starred):
                self.fail(a, "unpacking (*)")
        for kw in node.keywords:
            if kw.arg is None:
                self.fail(kw.value, "unpacking (**)")
        lo, hi = _ARITY[name]
        if len(node.args) < lo or (hi is not None and len(node.args) > hi):
            want = f"{lo}" if lo == hi else f"at least {lo}"
            raise ParseError(
                f"{name}() takes {want} positional argument{'s' if lo != 1 or hi != 1 else ''}, "
                f"got {len(node.args)} at column {node.col_offset + 1}; allowed: {_signature(name)}"
            )
        kwargs = {}
        for kw in node.keywords:
            allowed = _KEYWORDS.get(name, ())
            if kw.arg not in allowed:
                hint = f"{name}() takes the keyword {', '.join(k + '=' for k in allowed)}" if allowed \
                    else f"{name}() takes no keywords"
                self.fail(kw.value, f"the keyword {kw.arg}=", hint)
            kwargs[kw.arg] = self.int_literal(kw.value, f"{name}(..., {kw.arg}=...)")
        if name == "einsum":
            spec = node.args[0]
            if not (isinstance(spec, ast.Constant) and isinstance(spec.value, str)):
                self.fail(spec, "einsum's first argument", "it must be a string literal such as 'ij,j->i'")
            return fn(spec.value, *[self.expr(a) for a in node.args[1:]])
        if name == "eye":
            return fn(self.size(node.args[0]))
        args = [self.expr(a) for a in node.args]
        try:
            return fn(*args, **kwargs)
        except TypeError as e:  # a ValueError (a shape error) passes through unchanged
            raise ParseError(f"{name}(): {e}; allowed: {_signature(name)}") from None

    def int_literal(self, node, where: str) -> int:
        """An int literal, or a negated one (axis=-1)."""
        sign = 1
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            sign, node = -1, node.operand
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return sign * node.value
        self.fail(node, f"this value in {where}", "keyword values must be int literals, as in axis=0 or size=2")

    def size(self, node):
        """eye's argument: a dimension name of the namespace's tensors, or a positive int literal."""
        if isinstance(node, ast.Name) and node.id in self.dims:
            return self.dims[node.id]
        v = getattr(node, "value", None)
        if isinstance(node, ast.Constant) and isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
        known = ", ".join(sorted(self.dims)) or "none defined"
        self.fail(node, "this argument of eye",
                  f"eye takes a dimension ({known}) or a positive int literal, as in eye(d)")


def _signature(name: str) -> str:
    return _SIGNATURES.get(name, f"{name}(x)")


_BINARY = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a**b, ast.MatMult: lambda a, b: a @ b,
}
_OP_NAMES = {
    ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^",
    ast.BitAnd: "&", ast.Invert: "~", ast.Not: "not",
}


# --------------------------------------------------------------------------- specs


def tensors_from_specs(specs: list[str]) -> dict[str, Expr]:
    """Tensors from command-line specs ``NAME=DIM,DIM``.

    ``"X=n,d"`` is a matrix, ``"w=d"`` a vector, ``"lam="`` a scalar and ``"k=3"`` has a
    fixed size. A dimension name means the same dimension in every spec.

    Args:
        specs: strings of the form ``NAME=DIM,DIM`` (sizes are names or positive ints).

    Returns:
        name → tensor, in the order given.

    >>> ns = tensors_from_specs(["X=n,d", "w=d", "lam="])
    >>> ns["X"].shape, ns["w"].shape, ns["lam"].shape
    ((n, d), (d,), ())
    """
    if isinstance(specs, str):
        specs = [specs]
    out: dict[str, Expr] = {}
    form = "expected NAME=DIM,DIM such as X=n,d (w=d a vector, lam= a scalar, k=3 a fixed size)"
    for spec in specs:
        if not isinstance(spec, str) or spec.count("=") != 1:
            raise ParseError(f"bad tensor spec {spec!r}: {form}")
        name, _, rest = (p.strip() for p in spec.partition("="))
        if name in FUNCTIONS:
            raise ParseError(f"bad tensor spec {spec!r}: {name!r} is a DSL function; choose another name ({form})")
        if name in out:
            raise ParseError(f"bad tensor spec {spec!r}: {name!r} is defined twice; {form}")
        shape = []
        for part in rest.split(",") if rest else []:
            part = part.strip()
            if part.isdecimal() and part.isascii():
                shape.append(int(part))
            elif part.isidentifier() and part.isascii():
                try:
                    shape.append(dims(part))
                except ValueError as e:
                    raise ParseError(f"bad tensor spec {spec!r}: {e}; {form}") from None
            else:
                raise ParseError(
                    f"bad tensor spec {spec!r}: size {part!r} is neither a dimension name nor an int; {form}"
                )
        try:
            out[name] = dsl.tensor(name, tuple(shape))
        except (ValueError, TypeError) as e:
            raise ParseError(f"bad tensor spec {spec!r}: {e}; {form}") from None
    return out
