"""The shape of the package: no import circles in symml/, one version number.

Imports are read from the source with ``ast``, at every depth: an import inside a function
is still a dependency, and a lazy import that only breaks a circle at load time is a circle
all the same. ``from pkg import name`` depends on ``pkg`` (its ``__init__`` runs) and, when
``name`` is a submodule, on that submodule too.
"""
from __future__ import annotations

import ast
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
