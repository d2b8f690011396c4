"""Cold-start rows: a fresh process with empty caches, timed to its first result.

Each row starts a new interpreter with empty cache directories (numba's NUMBA_CACHE_DIR,
symml's SYMML_CACHE_DIR, JAX's persistent compilation cache switched off, PyTensor's
base_compiledir, which holds its C modules and its numba backend's cache), imports what
it needs, makes the case's data, builds the implementation exactly as the timed
benchmark does (``benchmarks.impls_*.build``) and calls it once.
Two figures per row:

- ``to_first_result_s``: inside the process, from its first line to the first result,
  without the time spent making the data (imports, derivation, code generation and
  compilation, and the call itself);
- ``to_compiled_s``: the same, to the moment every kernel that compiles behind the first call
  is compiled (symml's threaded twins; sm.compile's numba kernel, whose first calls numpy
  answers while it compiles, see ``symml.codegen.interim``);
- ``import_s``: the part of it spent importing numpy and the library (numba for a catalog
  module, which imports no symml; symml for sm.compile; jax; pytensor);
- ``process_s``: the whole process as the parent sees it (interpreter start-up, making
  the data and exiting included).

Rows: the catalog modules (logistic regression, softmax regression, the MLP), ``sm.compile``
of a user's logistic loss + gradient and of the MLP, JAX's ``jit`` of the same losses,
and PyTensor (NUMBA and C backends) where its environment exists. The sizes are those of
the first value_and_grad case of each model in ``cases.CASES`` (toy sizes with
``tiny``), so a kernel that switches to threads at that size compiles its threaded twin.

    python -m benchmarks.first_result [--tiny]

Takes: nothing. Gives: ``run()`` → {"rows": [...], "caches": how they were emptied}.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CODE = textwrap.dedent("""
    import time
    t0 = time.perf_counter()
    import os
    if {cpus!r} and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpus!r})  # before numpy and the thread pools start
    import json
    import numpy
    import {library}
    import_s = time.perf_counter() - t0
    from benchmarks import cases, {module}
    case = cases.Case({model!r}, "value_and_grad", {sizes!r})
    td = time.perf_counter()
    data = case.data()
    data_s = time.perf_counter() - td
    built = {module}.build(case, data{only})[{variant!r}]
    if isinstance(built, str):
        raise SystemExit(built)
    fn, to_flat = built
    result = to_flat(fn())
    t1 = time.perf_counter()
    import sys
    for m in list(sys.modules.values()):  # symml's runtimes: wait for what compiles behind the first call
        if hasattr(m, "_TWINS") and callable(getattr(m, "_settle", None)):
            m._settle()
    t2 = time.perf_counter()
    print(json.dumps({{"to_first_result_s": t1 - t0 - data_s, "to_compiled_s": t2 - t0 - data_s,
                      "import_s": import_s, "data_s": data_s, "value": float(result[0])}}))
""")

# (row label, --impls name, module, variant, model)
JOBS = (
    ("catalog logistic_regression", "symml", "impls_symml", "symml", "logistic_regression"),
    ("catalog softmax_regression", "symml", "impls_symml", "symml", "softmax_regression"),
    ("catalog mlp", "symml", "impls_symml", "symml", "mlp"),
    ("sm.compile logistic loss+grad", "smcompile", "impls_smcompile", "sm.compile", "logistic_regression"),
    ("sm.compile mlp", "smcompile", "impls_smcompile", "sm.compile", "mlp"),
    ("jax.jit logistic_regression", "jax", "impls_jax", "jax", "logistic_regression"),
    ("jax.jit softmax_regression", "jax", "impls_jax", "jax", "softmax_regression"),
    ("jax.jit mlp", "jax", "impls_jax", "jax", "mlp"),
    ("pytensor[numba] logistic_regression", "pytensor", "impls_pytensor", "pytensor[numba]", "logistic_regression"),
    ("pytensor[numba] mlp", "pytensor", "impls_pytensor", "pytensor[numba]", "mlp"),
    ("pytensor[c] logistic_regression", "pytensor", "impls_pytensor", "pytensor[c]", "logistic_regression"),
    ("pytensor[c] mlp", "pytensor", "impls_pytensor", "pytensor[c]", "mlp"),
)


def sizes_of(model: str, tiny: bool) -> dict:
    from .cases import CASES

    case = next(c for c in CASES if c.model == model and c.kernel == "value_and_grad")
    return case.scaled(tiny).sizes


def _cold_env(tmp: Path, threads: int, pytensor: bool) -> dict:
    from . import machine

    env = machine.thread_env(threads)
    for var, sub in (("NUMBA_CACHE_DIR", "numba"), ("SYMML_CACHE_DIR", "symml"), ("JAX_COMPILATION_CACHE_DIR", "jax")):
        (tmp / sub).mkdir()
        env[var] = str(tmp / sub)
    env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    env.pop("PYTENSOR_FLAGS", None)
    if pytensor:
        from . import pytensor_env

        (tmp / "pytensor").mkdir()
        env = pytensor_env.env(env, cache=str(tmp / "pytensor"))
    return env


def one(label, module, variant, model, python, threads, tiny) -> dict:
    """One cold start in a fresh process with empty caches: {"to_first_result_s", "process_s", ...}."""
    sizes = sizes_of(model, tiny)
    only = {"impls_pytensor": f", only={variant!r}", "impls_smcompile": ", wait=False"}.get(module, "")
    cpus = sorted(os.sched_getaffinity(0))[:threads] if hasattr(os, "sched_getaffinity") else None
    library = {"impls_symml": "numba", "impls_smcompile": "symml", "impls_jax": "jax", "impls_pytensor": "pytensor"}
    code = CODE.format(module=module, model=model, sizes=sizes, variant=variant, only=only, cpus=cpus,
                       library=library[module])
    with tempfile.TemporaryDirectory(prefix="symml-cold-") as tmp:
        env = _cold_env(Path(tmp), threads, module == "impls_pytensor")
        t0 = time.perf_counter()
        r = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
        wall = time.perf_counter() - t0
    row = {"row": label, "variant": variant, "model": model, "sizes": sizes, "threads": threads}
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()
        row["skipped"] = f"failed: {tail[-1][:300] if tail else f'exit {r.returncode}'}"
        return row
    row.update(json.loads(r.stdout.strip().splitlines()[-1]))
    row["process_s"] = wall
    return row


def run(impls=None, threads: int = 2, tiny: bool = False, repeats: int = 1, pytensor=None, log=sys.stderr) -> dict:
    """Every cold-start row whose implementation is in ``impls`` (default: all), ``repeats`` times each.

    ``pytensor``: (venv python or None, versions or the reason), as ``pytensor_env.ensure`` gives."""
    impls = set(impls or ("symml", "smcompile", "jax", "pytensor"))
    rows = []
    for label, impl, module, variant, model in JOBS:
        if impl not in impls:
            continue
        python = sys.executable
        if impl == "pytensor":
            if pytensor is None or pytensor[0] is None:
                rows.append({"row": label, "variant": variant, "model": model,
                             "skipped": f"unavailable: {pytensor[1] if pytensor else 'PyTensor not asked for'}"})
                continue
            python = pytensor[0]
        if impl == "jax":
            import importlib.util

            if importlib.util.find_spec("jax") is None:
                rows.append({"row": label, "variant": variant, "model": model, "skipped": "jax is not installed"})
                continue
        tries = [one(label, module, variant, model, python, threads, tiny) for _ in range(repeats)]
        ok = [t for t in tries if "skipped" not in t]
        row = dict(min(ok, key=lambda t: t["to_first_result_s"]) if ok else tries[0])
        if ok:
            row["all_to_first_result_s"] = [t["to_first_result_s"] for t in ok]
        rows.append(row)
        print(f"  cold {label:<40} " + (f"{row['to_first_result_s']:7.2f} s (imports {row['import_s']:.2f} s, "
                                        f"every kernel compiled {row['to_compiled_s']:.2f} s, "
                                        f"process {row['process_s']:.2f} s)"
                                        if "to_first_result_s" in row else row["skipped"]), file=log, flush=True)
    return {"rows": rows, "threads": threads, "repeats": repeats,
            "caches": "fresh empty NUMBA_CACHE_DIR, SYMML_CACHE_DIR and PyTensor base_compiledir per process; "
                      "JAX_ENABLE_COMPILATION_CACHE=false"}


if __name__ == "__main__":
    from . import pytensor_env

    out = run(tiny="--tiny" in sys.argv, pytensor=pytensor_env.ensure(create=False))
    print(json.dumps(out, indent=1))
