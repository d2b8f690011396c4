"""``python -m benchmarks``: symml's kernels against numpy, JAX, PyTorch, PyTensor and SymPy, side by side.

For each thread count (1 and 2 by default) a fresh Python process is started with the
thread settings in its environment before numpy is imported (NUMBA_NUM_THREADS,
OMP/OPENBLAS/MKL_NUM_THREADS, XLA_FLAGS for JAX, ``torch.set_num_threads``) and its CPU
affinity restricted to that many cores. That process measures the machine's limits
(``benchmarks.machine``), then, case by case (``benchmarks.cases``), checks every
implementation's result against the case's reference (numpy where it is written by
hand, else JAX), times it in its own block of repeats and probes its peak extra memory.

PyTensor runs in a second process at the same thread count, in the benchmark's own
virtual environment (``benchmarks.pytensor_env``: PyTensor pins numba ≤ 0.65), on the
same cases, checked against the same reference results (the first process writes them
to a shared directory); its entries join the same rows. Beside the catalog's modules
(``symml``), ``sm.compile`` of each loss written as a user writes it
(``benchmarks.impls_smcompile``) has its own column, and is symml's only column for the
models outside the catalog (``cases.USER_MODELS``).

The parent then runs the cold-start rows (``benchmarks.first_result``: fresh processes,
empty caches, time to the first result) and the row under contention
(``benchmarks.contention_row``), measures start-up (``benchmarks.startup``,
``benchmarks.derive_times`` and a whole-catalog ``symml generate --check``), judges the
targets of issues 7 and 18 (``benchmarks.cases.targets``) and writes JSON and a markdown
table, from which ``--readme`` writes README.md's (``benchmarks.readme_table``).

    python -m benchmarks                    # everything; writes benchmarks/results/latest.{json,md}
    python -m benchmarks --quick            # fewer repeats, start-up of the benchmarked modules only
    python -m benchmarks --cases logistic --impls symml,numpy --threads 2
    python -m benchmarks --tiny --cold --contention   # every kind of row at toy sizes (a smoke run)
    python -m benchmarks --readme                     # README's table from benchmarks/results/latest.json
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
IMPLS = ("symml", "smcompile", "numpy", "jax", "torch", "pytensor", "sympy")
TOL = 1e-6  # relative agreement with the reference required before a time is reported (float64)
REFERENCES = ("numpy", "jax", "sm.compile")  # the first that runs a case is its reference


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="2 threads only (unless --threads), 7 short repeats, calls over 2 s timed once, "
                        "start-up of the benchmarked modules only")
    p.add_argument("--tiny", action="store_true", help="toy sizes, a few MB for the machine limits (smoke test)")
    p.add_argument("--threads", default=None, help="comma-separated thread counts (default 1,2; --quick: 2)")
    p.add_argument("--cases", default=None, help="only cases whose name contains (or glob-matches) this")
    p.add_argument("--impls", default=",".join(IMPLS), help=f"comma-separated subset of {','.join(IMPLS)}")
    p.add_argument("--no-startup", action="store_true",
                   help="skip the start-up, derive-time, cold-start and contention measurements")
    p.add_argument("--cold", action=argparse.BooleanOptionalAction, default=None,
                   help="cold-start rows (default: on, except with --tiny or --no-startup)")
    p.add_argument("--contention", action=argparse.BooleanOptionalAction, default=None,
                   help="the row under contention (default: on, except with --tiny or --no-startup)")
    p.add_argument("--readme", nargs="?", const=str(ROOT / "README.md"), default=None, metavar="PATH",
                   help="rewrite the performance table of README.md (or PATH) from a results file (--from) and exit")
    p.add_argument("--from", dest="from_json", default=None,
                   help="with --readme: the results JSON (default benchmarks/results/latest.json)")
    p.add_argument("--out", default=None, help="directory for the JSON and markdown (default benchmarks/results)")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--child-json", default=None, help=argparse.SUPPRESS)
    p.add_argument("--refs", default=None, help=argparse.SUPPRESS)  # reference results shared by the children
    p.add_argument("--no-limits", action="store_true", help=argparse.SUPPRESS)  # the PyTensor child
    return p.parse_args(argv)


def _settings(opts) -> dict:
    if opts.tiny:
        return {"repeats": 7, "min_time": 1e-3, "warmup_time": 0.01, "bw_bytes": 8e6, "blas_n": 200,
                "attempts": 1, "quick": True, "time_once_over_s": None}
    if opts.quick:
        return {"repeats": 7, "min_time": 0.02, "warmup_time": 0.2, "bw_bytes": 8e8, "blas_n": 2000,
                "attempts": 2, "quick": True, "time_once_over_s": 2.0}
    return {"repeats": 11, "min_time": 0.1, "warmup_time": 0.3, "bw_bytes": 1.6e9, "blas_n": 3000,
            "attempts": 4, "quick": False, "time_once_over_s": None}


# ---------------------------------------------------------------- the child: one thread count

def _thread_env(threads: int) -> dict:
    from .machine import thread_env

    return thread_env(threads)


def _modules(names):
    import importlib

    return [importlib.import_module(f"benchmarks.impls_{n}") for n in names]


def _ref_path(refs, case):
    import hashlib

    return Path(refs) / (hashlib.sha1(case.name.encode()).hexdigest()[:16] + ".npy")


def _reference(case, built, refs):
    """(name, flat result) of the case's reference: the first of REFERENCES that built here, else the
    one that an earlier process (the same thread count) wrote to ``refs``, else (None, None)."""
    import numpy as np

    for name in REFERENCES:
        v = built.get(name)
        if v is not None and not isinstance(v, str):
            fn, to_flat = v
            ref = to_flat(fn())
            if refs:
                np.save(_ref_path(refs, case), ref)
                _ref_path(refs, case).with_suffix(".txt").write_text(name)
            return name, ref
    if refs and _ref_path(refs, case).exists():
        return _ref_path(refs, case).with_suffix(".txt").read_text(), np.load(_ref_path(refs, case))
    return None, None


def _run_case(case, mods, s, threads, refs=None) -> dict:
    import numpy as np

    from . import machine

    nbytes, flops = case.cost()
    res = {"name": case.name, "model": case.model, "kernel": case.kernel, "sizes": case.sizes, "bytes": nbytes,
           "flops": flops, "targets": list(case.targets), "impls": {}}
    data = case.data()
    built = {}
    for mod in mods:
        reason = mod.available()
        if reason:
            res["impls"][mod.NAME] = {"skipped": reason}
            continue
        try:
            for name, v in mod.build(case, data).items():
                built[name] = v
        except Exception as e:  # noqa: BLE001 - one library failing must not end the run
            res["impls"][mod.NAME] = {"skipped": f"failed to build: {type(e).__name__}: {e}"}
    res["reference"], ref = _reference(case, built, refs)
    for name, v in built.items():
        if isinstance(v, str):
            res["impls"][name] = {"skipped": v}
            continue
        fn, to_flat = v
        entry = {}
        try:
            t0 = time.perf_counter()
            got = fn()
            first = time.perf_counter() - t0
            got = to_flat(got)
            if ref is not None:
                err = float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref)))))
                entry["rel_err_vs_ref"] = err
                entry["agrees"] = bool(err <= TOL)
            entry["settle_s"] = machine.settle()  # another library's spinning threads go idle first
            # --quick only: a call of seconds (torch.func.hessian) is timed once, flagged in the table
            slow = s["time_once_over_s"] is not None and first > s["time_once_over_s"]
            entry.update(machine.time_call(fn, 1 if slow else s["repeats"], s["min_time"], s["warmup_time"],
                                           first_s=first, attempts=s["attempts"]))
            if not slow:
                mem = machine.peak_extra(fn, 1 if entry["median_s"] > 0.3 else 3)
                entry["peak_extra_bytes"] = mem["bytes"]
                res["memory_method"] = mem["method"]
        except Exception as e:  # noqa: BLE001
            entry = {"skipped": f"failed: {type(e).__name__}: {e}"}
        entry["threads"] = threads
        res["impls"][name] = entry
        print(f"  [{threads}t] {case.name:<42} {name:<15} "
              + (f"{entry['median_s'] * 1e3:10.3f} ms" if "median_s" in entry else entry.get("skipped", "")),
              file=sys.stderr, flush=True)
    return res


def child(opts) -> None:
    """Run every case at one thread count and write the JSON (in a fresh process)."""
    threads = opts.child
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[:threads]
        os.sched_setaffinity(0, cpus)
    import numba  # noqa: F401 - after the environment is in place

    from . import cases as C
    from . import impls_sympy, machine

    s = _settings(opts)
    names = [n for n in opts.impls.split(",") if n]
    if opts.no_limits:  # the PyTensor process: its cases only, beside the main process's run
        mods = _modules(names)
        out = {"threads": threads, "versions": machine.versions(), "cases": []}
        seen = set()
        for case in C.select(opts.cases, opts.tiny):
            if case.name not in seen:
                seen.add(case.name)
                out["cases"].append(_run_case(case, mods, s, threads, opts.refs))
        out["build_s"] = {k: v for m in mods for k, v in getattr(m, "BUILD_TIMES", {}).items()}
        out["blas_config"] = machine.blas_config()
        out["numba_threading_layer"] = machine.numba_layer()
        Path(opts.child_json).write_text(json.dumps(out, indent=1))
        return
    if opts.quick or opts.tiny:
        impls_sympy.MAX_D, impls_sympy.MAX_D_HESSIAN = 100, 10  # the 1000-feature builds take minutes
    else:
        impls_sympy.MAX_D = 1000
    try:
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
    except ImportError:
        pass
    out = {"threads": threads, "settings": s, "affinity": sorted(os.sched_getaffinity(0)) if hasattr(
        os, "sched_getaffinity") else None}
    out["bandwidth"] = machine.bandwidth(s["bw_bytes"])
    out["blas"] = machine.blas_gflops(s["blas_n"])
    out["numba_threading_layer"] = machine.numba_layer()
    print(f"[{threads} thread(s)] bandwidth {out['bandwidth']['GBps']:.1f} GB/s, "
          f"BLAS {out['blas']['GFLOPs']:.1f} GFLOP/s", file=sys.stderr, flush=True)
    mods = _modules(names)
    seen, results = set(), []
    for case in C.select(opts.cases, opts.tiny):
        if case.name in seen:  # tiny sizes make some cases identical
            continue
        seen.add(case.name)
        results.append(_run_case(case, mods, s, threads, opts.refs))
    out["cases"] = results
    # the limits again at the end: on a shared machine the better of the two measurements is the limit
    for key, f, arg in (("bandwidth", machine.bandwidth, s["bw_bytes"]), ("blas", machine.blas_gflops, s["blas_n"])):
        again = f(arg)
        rate = "GBps" if key == "bandwidth" else "GFLOPs"
        out[key + "_runs"] = [out[key][rate], again[rate]]
        if again[rate] > out[key][rate]:
            out[key] = again
    out["sympy_build_s"] = dict(impls_sympy.BUILD_TIMES)
    out["build_s"] = {k: v for m in mods for k, v in getattr(m, "BUILD_TIMES", {}).items() if m is not impls_sympy}
    out["blas_config"] = machine.blas_config()  # after the runs: every BLAS the implementations loaded
    out["numba_threading_layer"] = machine.numba_layer()
    Path(opts.child_json).write_text(json.dumps(out, indent=1))


# ---------------------------------------------------------------- the parent

def _impls(opts) -> list[str]:
    names = [n for n in opts.impls.split(",") if n]
    bad = [n for n in names if n not in IMPLS]
    if bad:
        raise SystemExit(f"unknown implementation(s) {', '.join(bad)}: expected a subset of {','.join(IMPLS)}")
    return names


def _run_child(threads: int, opts, argv, pytensor=None) -> dict:
    """The run at one thread count: the main process (every implementation but PyTensor), then,
    where ``pytensor`` = (python, versions), the PyTensor process, whose entries join the same rows."""
    import tempfile

    names = _impls(opts)
    main_impls = [n for n in names if n != "pytensor"]
    with tempfile.TemporaryDirectory() as tmp:
        path, refs = Path(tmp) / "child.json", Path(tmp) / "refs"
        refs.mkdir()
        common = ["--child", str(threads), "--refs", str(refs)]
        cmd = [sys.executable, "-m", "benchmarks", *argv, "--impls", ",".join(main_impls), *common,
               "--child-json", str(path)]
        subprocess.run(cmd, env=_thread_env(threads), cwd=ROOT, check=True)
        run = json.loads(path.read_text())
        if "pytensor" not in names:
            return run
        py, why = pytensor
        if py is None:
            return join_pytensor(run, why=why)
        from . import pytensor_env

        ppath = Path(tmp) / "pytensor.json"
        cmd = [str(py), "-m", "benchmarks", *argv, "--impls", "pytensor", *common, "--no-limits",
               "--child-json", str(ppath)]
        r = subprocess.run(cmd, env=pytensor_env.env(_thread_env(threads)), cwd=ROOT)
        if r.returncode != 0 or not ppath.exists():
            return join_pytensor(run, why=f"the PyTensor process failed (exit {r.returncode})")
        return join_pytensor(run, json.loads(ppath.read_text()))


def join_pytensor(run: dict, pt: dict | None = None, why: str | None = None) -> dict:
    """The PyTensor process's entries (``pt``) added to the rows of the same names in ``run``; without
    them, every row's PyTensor cell says "unavailable: <why>"."""
    if pt is None:
        for c in run["cases"]:
            for v in ("pytensor[numba]", "pytensor[c]"):
                c["impls"][v] = {"skipped": f"unavailable: {why}"}
        return run
    by_name = {c["name"]: c for c in run["cases"]}
    for c in pt["cases"]:
        if c["name"] in by_name:
            by_name[c["name"]]["impls"].update(c["impls"])
    run["pytensor"] = {k: pt[k] for k in ("versions", "build_s", "blas_config", "numba_threading_layer")}
    return run


def _startup(opts) -> dict:
    from . import derive_times, startup
    from .cases import CASES

    out = {}
    # the existing benchmarks start `python -c` children that must import symml from this checkout
    os.environ["PYTHONPATH"] = _thread_env(os.cpu_count() or 1)["PYTHONPATH"]
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "symml.cli", "generate", "--check"], cwd=ROOT, capture_output=True,
                       text=True)
    out["catalog_generate_check_s"] = time.perf_counter() - t0
    out["catalog_generate_check_rc"] = r.returncode
    print(f"derive + generate the whole catalog: {out['catalog_generate_check_s']:.1f} s", file=sys.stderr)
    names = sorted({c.model for c in CASES}) if opts.quick else None
    for key, job in (("derive", derive_times.run), ("startup", lambda: startup.run(names))):
        try:
            out[key] = job()
        except subprocess.CalledProcessError as e:  # report it; the timings above are still worth writing
            out[key + "_error"] = f"{e.cmd[-1][:200]!r} failed: {(e.stderr or '')[-500:]}"
            print(f"{key} failed: {(e.stderr or '')[-500:]}", file=sys.stderr)
    return out


def _child_argv(argv) -> list[str]:
    """The parent's arguments minus those only the parent reads."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--out", "--threads", "--impls", "--from"):
            skip = True
            continue
        if a.startswith(("--out=", "--threads=", "--impls=", "--from=")) or a in (
                "--no-startup", "--cold", "--no-cold", "--contention", "--no-contention", "--readme"):
            continue
        out.append(a)
    return out


def _ms(t):
    return "—" if t is None else f"{t * 1e3:.3g} ms" if t >= 1e-3 else f"{t * 1e6:.3g} µs"


def _mb(b):
    return "—" if b is None else f"{b / 1e6:.3g} MB"


COLUMNS = ("symml", "symml[nocheck]", "sm.compile", "numpy", "numpy[gemm]", "jax", "torch", "pytensor[numba]",
           "pytensor[c]", "sympy")


def base_of(case: dict) -> tuple[str | None, float | None]:
    """(column, median) that the ratios of a row divide by: the catalog module, else sm.compile."""
    for col in ("symml", "sm.compile"):
        t = case["impls"].get(col, {}).get("median_s")
        if t:
            return col, t
    return None, None


def markdown(res: dict) -> str:
    """The results as markdown: machine, times with ratios, efficiency and memory, targets, start-up."""
    L = [f"# symml benchmark ({res['mode']})", "",
         f"{res['date']} · {res['cpu']}, {res['cores']} cores · "
         + ", ".join(f"{k} {v}" for k, v in res["versions"].items()), "",
         f"`{res['command']}` · wall time {res.get('wall_s', 0):.0f} s", "",
         "## Machine limits (measured in this run)",
         "", "| threads | stream-sum bandwidth | float64 matmul (BLAS) | numba threading layer |", "|---|---|---|---|"]
    for t, run in res["runs"].items():
        bw, bl = run["bandwidth"], run["blas"]
        L.append(f"| {t} | {bw['GBps']:.1f} GB/s over {bw['bytes'] / 1e6:.0f} MB | {bl['GFLOPs']:.1f} GFLOP/s "
                 f"(n = {bl['n']}) | {run['numba_threading_layer']} |"
                 + "".join(f" ⚠ other load {x['foreign_load']:.0%} ({w})"
                           for w, x in (("bandwidth", bw), ("BLAS", bl)) if (x.get("foreign_load") or 0) > 0.1))
    busy = [(t, c["name"], k, e["foreign_load"]) for t, run in res["runs"].items() for c in run["cases"]
            for k, e in c["impls"].items() if (e.get("foreign_load") or 0) > 0.1]
    last = list(res["runs"].values())[-1]
    L += ["", "Thread pools loaded (threadpoolctl): " + "; ".join(
        " ".join(str(b[k]) for k in ("internal_api", "version", "architecture") if b.get(k))
        + f" ({b.get('num_threads')} threads, {b.get('file', '')})" for b in last.get("blas_config", [])), ""]
    skips = {}
    L += ["## Median time per call, and each implementation's time ÷ symml's (> 1×: symml is faster)", "",
          "symml is the catalog module where there is one, else (models outside the catalog) sm.compile "
          "(its cell is marked ◆).", "",
          "| case | threads | " + " | ".join(COLUMNS) + " |", "|---|---" + "|---" * len(COLUMNS) + "|"]
    for t, run in res["runs"].items():
        for c in run["cases"]:
            base_col, base = base_of(c)
            cells = []
            for col in COLUMNS:
                e = c["impls"].get(col)
                if e is None or "median_s" not in e:
                    if e is not None:
                        skips.setdefault(e.get("skipped", "?"), set()).add(f"{col}: {c['name']}")
                    cells.append("—")
                    continue
                cell = _ms(e["median_s"])
                if col != base_col and base:
                    cell += f" ({e['median_s'] / base:.2g}×)"
                elif col == "sm.compile":
                    cell += " ◆"
                if e.get("repeats", 7) < 7:
                    cell += f" [{e['repeats']} repeat{'s' if e['repeats'] > 1 else ''}]"
                if (e.get("foreign_load") or 0) > 0.1:
                    cell += f" ⚠{e['foreign_load']:.0%}"
                if e.get("agrees") is False:
                    cell += f" ✗ rel err {e['rel_err_vs_ref']:.1e} vs {c.get('reference')}"
                cells.append(cell)
            L.append(f"| {c['name']} | {t} | " + " | ".join(cells) + " |")
    L += ["", "## Effective rate of symml's kernel, against the machine limits, and peak extra memory", "",
          "| case | threads | reads · flops | symml GB/s | symml GFLOP/s | roofline fraction | peak extra: "
          "symml | numpy | jax | torch |", "|---|---|---|---|---|---|---|---|---|---|"]
    for t, run in res["runs"].items():
        bw, fl = run["bandwidth"]["GBps"] * 1e9, run["blas"]["GFLOPs"] * 1e9
        for c in run["cases"]:
            ts = base_of(c)[1]
            mem = [_mb(c["impls"].get(k, {}).get("peak_extra_bytes"))
                   for k in (base_of(c)[0] or "symml", "numpy", "jax", "torch")]
            if not ts:
                continue
            roof = max(c["bytes"] / bw, c["flops"] / fl) / ts
            L.append(f"| {c['name']} | {t} | {c['bytes'] / 1e6:.3g} MB · {c['flops'] / 1e6:.3g} MFLOP | "
                     f"{c['bytes'] / ts / 1e9:.1f} ({c['bytes'] / ts / bw:.0%}) | {c['flops'] / ts / 1e9:.1f} "
                     f"({c['flops'] / ts / fl:.0%}) | {roof:.0%} | " + " | ".join(mem) + " |")
    if res.get("targets"):
        L += ["", f"## Targets (issues 7 and 18), judged at {res['targets'][0]['threads']} threads unless a row "
              "names its thread count", "",
              "| target | case | measured | met |", "|---|---|---|---|"]
        for tg in res["targets"]:
            met = {True: "met", False: "**missed**", None: "not measured"}[tg["met"]]
            L.append(f"| {tg['target']} | {tg['case']} | {tg['measured']} | {met} |")
    L += _cold_md(res) + _contention_md(res)
    L += _startup_md(res)
    L += ["", "## Method", "",
          "- Each thread count runs in its own process; thread variables are set before numpy is imported and the "
          "process is pinned to that many cores.",
          "- Every implementation is checked against the case's reference, numpy where it is written by hand, else "
          "JAX, else sm.compile (relative error ≤ 1e-6), and then timed in its own block: "
          "warm-up, then repeats that each last long enough to time, not interleaved with other implementations "
          "(OpenBLAS and OpenMP threads spin after a call and would steal the next one's cores). The median of the "
          "repeats is reported.",
          "- symml = the generated wrapper called with its defaults (argument checks, and whatever finite check "
          "its `check_finite` default does); symml[nocheck] = `check_finite=False`; symml[kernel] (JSON only) = the "
          "private njit function alone, which prices the checks.",
          "- Roofline fraction = max(reads / bandwidth, flops / BLAS rate) / time; a Hessian's flops are the "
          "symmetric (syrk) count n·d·(d+1).",
          f"- Peak extra memory: {_memory_method(res)}.",
          "- The machine is shared: other processes' share of our cores is read from /proc/stat during each block of "
          "repeats; a block above 10% is timed again (up to the attempt limit) and the quietest attempt kept. "
          f"⚠ marks a kept block still above 10% ({len(busy)} of them in this run)."]
    L.append("- PyTensor runs in its own virtual environment (numba ≤ 0.65) and its own process at the same thread "
             "count, right after the main process, on the same cases and reference results.")
    builds = {k: v for run in res["runs"].values() for k, v in run.get("sympy_build_s", {}).items()}
    if builds:
        L.append("- SymPy lambdify: time to derive and lambdify per case (not in the timings): "
                 + "; ".join(f"{k} {v:.1f} s" for k, v in builds.items()) + ".")
    if skips:
        L += ["", "Not run:"] + [f"- {why} ({'; '.join(sorted(w)[:3])}{' …' if len(w) > 3 else ''})"
                                 for why, w in skips.items()]
    return "\n".join(L) + "\n"


def _cold_md(res) -> list[str]:
    cold = res.get("cold_start")
    if not cold:
        return []
    L = ["", f"## Cold start: fresh process, empty caches, to the first result ({cold['threads']} thread(s))", "",
         "| row | sizes | to the first result | of which imports | to every kernel compiled | whole process "
         "| all tries |",
         "|---|---|---|---|---|---|---|"]
    for r in cold["rows"]:
        if "to_first_result_s" not in r:
            L.append(f"| {r['row']} | — | {r['skipped']} | — | — | — | — |")
            continue
        sizes = "×".join(str(v) for v in r["sizes"].values())
        imp = f"{r['import_s']:.2f} s" if "import_s" in r else "—"
        done = f"{r['to_compiled_s']:.2f} s" if "to_compiled_s" in r else "—"
        L.append(f"| {r['row']} | {sizes} | {r['to_first_result_s']:.2f} s | {imp} | {done} | {r['process_s']:.2f} s | "
                 + ", ".join(f"{t:.2f}" for t in r.get("all_to_first_result_s", [])) + " |")
    L += ["", f"Caches: {cold['caches']}. To every kernel compiled: until what compiles behind the first "
          "call is done (symml's threaded twins; sm.compile's numba kernel, whose first calls numpy answers)."]
    return L


def _contention_md(res) -> list[str]:
    c = res.get("contention")
    if not c:
        return []
    if "variants" not in c:
        return ["", "## Under contention", "", f"Not run: {c.get('skipped')}"]
    L = ["", f"## Under contention: {c['case']}, one of {len(c['cpus'])} cores kept busy by another process", "",
         f"{c['calls']} calls each, each timed on its own; numba threading layer {c['threading_layer']}.", "",
         "| variant | median | slowest |", "|---|---|---|"]
    for name, e in c["variants"].items():
        if "median_s" in e:
            L.append(f"| {name} | {_ms(e['median_s'])} | {_ms(e['max_s'])} |")
        else:
            L.append(f"| {name} | {e.get('skipped')} | — |")
    L += ["", f"Slowest threaded call ÷ serial median: {c['threaded_max_over_serial_median']:.2g}× (target ≤ 3×)."]
    return L


def _memory_method(res):
    for run in res["runs"].values():
        for c in run["cases"]:
            if "memory_method" in c:
                return c["memory_method"]
    return "not measured"


def _startup_md(res) -> list[str]:
    if "catalog_generate_check_s" not in res:
        return []
    L = ["", "## Start-up (fresh processes)", "",
         f"- Derive and generate the whole catalog (`symml generate --check`): {res['catalog_generate_check_s']:.1f} s"]
    for k, v in res.get("derive", {}).items():
        L.append(f"- Derive {k}: {v['best_s'] * 1e3:.0f} ms (best of {len(v['all_s'])})")
    st = res.get("startup", {})
    if st:
        a = st["adhoc"]
        L.append(f"- `sm.compile`: first process {a['first_process_s']:.2f} s; second process (cache hit) "
                 f"{a['second_process_s']:.2f} s, of which the first call "
                 f"{a['second_process_first_call_s'] * 1e3:.0f} ms")
        L += ["", "| module | cold numba compile (all kernels) | cached: all kernels' first calls |", "|---|---|---|"]
        for name, v in st["modules"].items():
            L.append(f"| {name} | {v['cold_compile_s']:.2f} s | {v['cached_first_calls_s']:.2f} s |")
    return L


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    opts = parse(argv)
    if opts.child is not None:
        child(opts)
        return 0
    if opts.readme:
        from . import readme_table

        src = Path(opts.from_json) if opts.from_json else RESULTS / "latest.json"
        changed = readme_table.update(Path(opts.readme), json.loads(src.read_text()), source=src)
        print(f"{opts.readme} {'rewritten' if changed else 'already current'} from {src}", file=sys.stderr)
        return 0
    from . import machine
    from .cases import targets

    names = _impls(opts)

    t0 = time.perf_counter()
    res = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "mode": "tiny" if opts.tiny else "quick" if opts.quick else "full",
           "host": platform.node(), "cpu": machine.cpu_model(), "cores": os.cpu_count(),
           "versions": machine.versions(), "command": "python -m benchmarks " + " ".join(argv), "runs": {}}
    out = Path(opts.out) if opts.out else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    stem = {"full": "latest", "quick": "quick", "tiny": "tiny"}[res["mode"]]
    pytensor = None
    if "pytensor" in names:
        from . import pytensor_env

        pytensor = pytensor_env.ensure()
        if pytensor[0] is None:
            print(f"PyTensor unavailable: {pytensor[1]}", file=sys.stderr, flush=True)
        else:
            res["versions"].update(pytensor[1])
    threads = opts.threads or ("2" if opts.quick else "1,2")
    counts = [int(x) for x in threads.split(",") if x]
    for t in counts:
        print(f"== {t} thread(s)", file=sys.stderr, flush=True)
        res["runs"][str(t)] = _run_child(t, opts, _child_argv(argv), pytensor)
        (out / f"{stem}.json").write_text(json.dumps(res, indent=1))  # partial results survive a later failure
    default = not (opts.no_startup or opts.tiny)
    if opts.cold if opts.cold is not None else default:
        from . import first_result

        print("== cold start (fresh processes, empty caches)", file=sys.stderr, flush=True)
        res["cold_start"] = first_result.run(names, threads=max(counts), tiny=opts.tiny,
                                             repeats=1 if (opts.quick or opts.tiny) else 2, pytensor=pytensor)
        (out / f"{stem}.json").write_text(json.dumps(res, indent=1))
    if opts.contention if opts.contention is not None else default:
        from . import contention_row

        print("== under contention (one core kept busy)", file=sys.stderr, flush=True)
        res["contention"] = contention_row.run(tiny=opts.tiny, jax="jax" in names)
        (out / f"{stem}.json").write_text(json.dumps(res, indent=1))
    if default:
        res.update(_startup(opts))
    res["targets"] = targets(res)
    res["wall_s"] = time.perf_counter() - t0
    (out / f"{stem}.json").write_text(json.dumps(res, indent=1))
    md = markdown(res)
    (out / f"{stem}.md").write_text(md)
    print(md)
    print(f"wrote {out / (stem + '.json')} and {stem}.md in {res['wall_s']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
