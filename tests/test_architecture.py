"""The shape of the package: no import circles in symml/, one version number.

Imports are read from the source with ``ast``, at every depth: an import inside a function
is still a dependency, and a lazy import that only breaks a circle at load time is a circle
all the same. ``from pkg import name`` depends on ``pkg`` (its ``__init__`` runs) and, when
``name`` is a submodule, on that submodule too.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import symml

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

PKG = Path(symml.__file__).resolve().parent
ROOT = PKG.parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _resolve(current: str, is_package: bool, level: int, target: str | None) -> str:
    base = current.split(".") if is_package else current.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def import_graph() -> dict[str, set[str]]:
    """Module → the symml modules it imports (at any depth of its source)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            found: list[str] = []
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                src = _resolve(mod, is_pkg, node.level, node.module) if node.level else (node.module or "")
                subs = [f"{src}.{a.name}" for a in node.names]
                # `from pkg import submodule` needs only the submodule (a package's __init__ has
                # always run before its children); a name defined in pkg/__init__ needs pkg.
                found = subs + ([src] if any(s not in mods for s in subs) else [])
            for name in found:
                while name and name not in mods:  # `import symml.a.b` also runs symml.a
                    name = name.rpartition(".")[0]
                if name and name != mod and name.startswith("symml"):
                    graph[mod].add(name)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


# A package's __init__ may re-export its own submodules; that is the package's face, not a
# dependency of one stage on another. Only the top-level package is exempt, and only as an
# importer: a module that imports ``symml`` itself (for example for __version__) is a circle.
def _stage_graph() -> dict[str, set[str]]:
    g = import_graph()
    g["symml"] = set()
    return g


def test_no_import_circles():
    found = circles(_stage_graph())
    assert not found, "import circles in symml/ (break each by moving the shared piece to the earlier stage):\n" + \
        "\n".join("  " + " ↔ ".join(c) for c in found)


#: tools at the end of the pipeline that write with the public API, as a user does
API_USERS = {"symml.gallery"}


def test_no_module_imports_the_top_level_package():
    g = import_graph()
    offenders = sorted(m for m, deps in g.items() if "symml" in deps and m != "symml" and m not in API_USERS)
    assert not offenders, f"these modules import symml/__init__ (and so everything): {offenders}"


def test_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_one_version_number():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in meta["project"], "pyproject.toml must take the version from symml._version"
    assert "version" in meta["project"]["dynamic"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "symml._version.__version__"}
    from importlib.metadata import version

    assert version("symml") == symml.__version__


# --------------------------------------------------------------------------- one source of truth


def _functions(tree):
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _calls(node) -> set[str]:
    out = set()
    for c in ast.walk(node):
        if isinstance(c, ast.Call):
            f = c.func
            out.add(f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else "")
    return out


#: what builds graph nodes: a loop over walk(...) that calls one of these rebuilds the graph
GRAPH_BUILDERS = {"rebuild", "make_einsum", "make_map"}


def test_one_graph_rewrite():
    """Only nodes.py walks a graph and rebuilds it; every other rewrite goes through
    nodes.transform / nodes.substitute."""
    offenders = []
    for mod, path in _modules().items():
        if mod == "symml.nodes":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for loop in ast.walk(tree):
            if isinstance(loop, ast.For) and isinstance(loop.iter, ast.Call) and "walk" in _calls(loop.iter) \
                    and _calls(ast.Module(body=loop.body, type_ignores=[])) & GRAPH_BUILDERS:
                offenders.append(f"{mod}:{loop.lineno}")
        for fn in _functions(tree):
            args = [a.arg for a in fn.args.args]
            if fn.name.lstrip("_") == "rebuild" and args[:1] == ["node"]:  # node classes' rebuild(self, ops) is theirs
                offenders.append(f"{mod}:{fn.lineno} defines {fn.name}")
    assert not offenders, f"graph rewrites outside symml/nodes.py (use nodes.transform): {offenders}"


def test_transform_and_substitute_rebuild_bottom_up():
    import symml as sm
    from symml import nodes

    n, d = sm.dims("n d")
    X, w, v = sm.tensor("X", (n, d)), sm.tensor("w", (d,)), sm.tensor("v", (d,))
    e = sm.sum(sm.softplus(X @ w))
    assert nodes.substitute(e, {w: v}) is sm.sum(sm.softplus(X @ v))
    assert nodes.substitute(e, {}) is e  # nothing replaced: the same node
    seen = []
    out = nodes.transform([e], lambda node, ops: seen.append(node) or None)
    assert out == [e] and seen == nodes.walk([e])  # operands before users, every node once
    with pytest.raises(ValueError, match="shape"):
        sm.substitute(e, {w: X})


def _strings(tree) -> set[str]:
    """String constants of a module, docstrings left out."""
    docs = set()
    for node in [tree] + [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]:
        body = getattr(node, "body", [])
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            docs.add(id(body[0].value))
    return {c.value for c in ast.walk(tree) if isinstance(c, ast.Constant) and isinstance(c.value, str)
            and id(c) not in docs}


def test_model_facts_live_in_the_spec():
    """Generic code names no model of the catalog and none of their hyper-parameters: closed-form
    conversions, the step size, the path's penalty and the decision function come from the spec."""
    from symml.catalog import catalog, load

    names = set(catalog())
    for name in catalog():
        names |= {t.name for t in load(name).hyper}
    generic = [p for m, p in _modules().items() if m.startswith("symml.optim") or m == "symml.plot"]
    found = {p.relative_to(ROOT).as_posix(): sorted(_strings(ast.parse(p.read_text(encoding="utf-8"))) & names)
             for p in generic}
    found = {k: v for k, v in found.items() if v}
    assert not found, f"model names in generic code (move the fact into sm.Derivation): {found}"


def test_spec_facts_are_checked():
    import symml as sm
    from symml.spec import CatalogError

    n, d = sm.dims("n d")
    X, y, w, b = sm.tensor("X", (n, d)), sm.tensor("y", (n,)), sm.tensor("w", (d,)), sm.scalar("b")
    lam, eta = sm.scalar("lam"), sm.scalar("eta")
    loss = sm.norm2(X @ w + b - y) + lam * sm.norm2(w)
    base = dict(params=[w, b], data=[X, y], hyper=[lam, eta])
    d_ = sm.Derivation("mine", loss, step_size=eta, decision=X @ w + b, **base)
    assert d_.penalty_param is lam  # the only hyper-parameter other than the step size
    with pytest.raises(CatalogError, match="step_size must be one of the hyper-parameters"):
        sm.Derivation("mine", loss, step_size=w, **base)
    with pytest.raises(CatalogError, match="decision function must read one data tensor"):
        sm.Derivation("mine", loss, decision=sm.sum(w), **base)
    with pytest.raises(CatalogError, match="params_from_solution must be a function"):
        sm.Derivation("mine", loss, params_from_solution={"w": 1}, **base)
    half = sm.Derivation("mine", loss, params_from_solution=lambda a, c: {"w": a}, **base)
    with pytest.raises(CatalogError, match="missing b"):
        half.to_params((1.0, 2.0))
    assert sm.Derivation("mine", loss, **base).to_params((1.0, 2.0)) == (1.0, 2.0)


def test_one_flat_layout():
    """optim.Problem and a generated module's scipy adapters lay θ out by one FlatLayout."""
    import numpy as np

    import generated.softmax_regression as mod
    from symml.catalog import load
    from symml.layout import FlatLayout
    from symml.optim import Problem

    d = load("softmax_regression")
    X, Y = np.ones((4, 3)), np.eye(2)[[0, 1, 0, 1]]
    pr = Problem(d, (X, Y), {"lam": 1.0})
    lay = FlatLayout.of(d.params)
    assert pr.flat == lay.bind({s: v for s, v in zip(sorted(lay.dims(), key=str), (2, 3))})  # K = 2, d = 3
    assert list(pr.layout) == pr.flat.array() and pr.size == 8
    with pytest.raises(ValueError, match=re.escape(f"expected length K*d + K = 8 ({lay.describe()})")):
        mod.fun(np.zeros(7), X, Y, 1.0)
    theta = np.arange(8.0)
    assert np.array_equal(pr.unpack(theta)["W"], theta[:6].reshape(3, 2))


def test_sample_axis_from_the_split():
    """The optimizers slice, and the split sums over, the same data tensors: decompose.sample_rows."""
    from symml.catalog import catalog, load
    from symml.decompose import sample_rows
    from symml.optim.adapters import row_sliced

    for name in catalog():
        d = load(name)
        rows = sample_rows(d.data, d.params + d.hyper)
        assert row_sliced(d) == [t in rows for t in d.data], name
        if d.sample_split is not None:
            assert d.sample_split.rows == rows, name


def test_generated_modules_lint_clean(tmp_path):
    """Emitted modules bind, import and keep only what they read: ruff's pyflakes finds nothing."""
    import subprocess
    import sys

    pytest.importorskip("ruff")
    from symml.build import generated_source

    # a checker that reads no size, heads without dt, logsumexp parts, composed and blocked kernels
    for name in ("least_norm", "max_entropy", "gaussian_naive_bayes", "distribution_exponential", "mlp"):
        (tmp_path / f"{name}.py").write_text(generated_source(name), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
                          str(ROOT / "pyproject.toml"), str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
