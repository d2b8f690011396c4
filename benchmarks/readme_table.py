"""README.md's performance table, written from the JSON of one benchmark run.

``python -m benchmarks --readme [--from benchmarks/results/latest.json]`` replaces the
text between the two markers below in README.md with a table made from that file: the
date, the machine and the library versions of the run, then the median per call of
every case at 2 threads (else the largest thread count run) with each library's time ÷
symml's, JAX ÷ symml at 1 thread, the cold-start rows and the row under contention.
Nothing outside the markers changes, and nothing is measured here.

Takes: a results dict (``python -m benchmarks``'s JSON). Gives: ``table()`` and ``update()``.
"""
from __future__ import annotations

from pathlib import Path

BEGIN = "<!-- benchmark-table:begin (python -m benchmarks --readme writes this part; do not edit by hand) -->"
END = "<!-- benchmark-table:end -->"

COLUMNS = (("symml", "symml"), ("sm.compile", "sm.compile"), ("numpy", "numpy"), ("jax", "JAX"),
           ("torch", "PyTorch"), ("pytensor[numba]", "PyTensor NUMBA"), ("pytensor[c]", "PyTensor C"))
NAMES = {
    "logistic_regression vg": "logistic loss+grad", "least_squares vg": "least squares loss+grad",
    "logistic_regression hessian": "logistic Hessian", "logistic_regression hvp": "logistic hvp",
    "softmax_regression vg": "softmax regression loss+grad", "mlp vg": "MLP loss+grad", "cnn vg": "CNN loss+grad",
    "tied_autoencoder vg": "tied autoencoder¹", "label_smoothed_softmax vg": "label-smoothed softmax¹",
    "gaussian_nll vg": "multivariate Gaussian NLL¹", "gp_marginal_likelihood vg": "GP marginal likelihood¹",
    "masked_mf vg": "masked matrix factorisation¹",
}


def _ms(t):
    if t is None:
        return "—"
    if t >= 1:
        return f"{t:.3g} s"
    return f"{t * 1e3:.3g} ms" if t >= 1e-3 else f"{t * 1e6:.3g} µs"


def _label(case: dict) -> str:
    model_kernel = case["name"].rsplit(" ", 1)[0]
    sizes = ", ".join(f"{k} = {v:,}".replace(",", " ") for k, v in case["sizes"].items())
    return f"{NAMES.get(model_kernel, model_kernel)} ({sizes})"


def _base(case: dict):
    for col in ("symml", "sm.compile"):
        t = case["impls"].get(col, {}).get("median_s")
        if t:
            return col, t
    return None, None


def _key_run(res: dict) -> str:
    return "2" if "2" in res["runs"] else max(res["runs"], key=int)


def _threads(t) -> str:
    return f"{t} thread" + ("" if str(t) == "1" else "s")


def table(res: dict, source: str | None = None) -> str:
    """The markdown between the markers (without them)."""
    key = _key_run(res)
    run = res["runs"][key]
    one = res["runs"].get("1") if key != "1" else None
    one_cases = {c["name"]: c for c in one["cases"]} if one else {}
    versions = ", ".join(f"{k} {v}" for k, v in res["versions"].items())
    L = [f"Measured {res['date'][:10]} on {res['cpu']} ({res['cores']} cores), `{res['command']}`"
         + (f", results in `{source}`" if source else "") + f"; {versions}.",
         f"Stream-sum bandwidth {run['bandwidth']['GBps']:.1f} GB/s and BLAS {run['blas']['GFLOPs']:.1f} GFLOP/s "
         f"at {_threads(key)}. Median per call at {_threads(key)}; in brackets each library's time ÷ symml's "
         "(above 1×: symml is faster).", ""]
    heads = [h for _, h in COLUMNS] + (["JAX ÷ symml, 1 thread"] if one else [])
    L += ["| case | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    for c in run["cases"]:
        base_col, base = _base(c)
        cells = []
        for col, _ in COLUMNS:
            e = c["impls"].get(col)
            if not e or "median_s" not in e:
                cells.append("—")
                continue
            cell = _ms(e["median_s"])
            if base and col != base_col:
                cell += f" ({e['median_s'] / base:.2g}×)"
            if e.get("agrees") is False:
                cell += " ✗"
            cells.append(cell)
        if one:
            c1 = one_cases.get(c["name"])
            j, b = (c1["impls"].get("jax", {}).get("median_s"), _base(c1)[1]) if c1 else (None, None)
            cells.append(f"{j / b:.2g}×" if j and b else "—")
        L.append(f"| {_label(c)} | " + " | ".join(cells) + " |")
    L += ["", "¹ outside the catalog: symml's time is `sm.compile`'s. ✗: the result disagreed with the "
          "reference (numpy, else JAX) by more than 1e-6. —: not run (the JSON says why)."]
    cold = res.get("cold_start")
    if cold:
        L += ["", f"Cold start (fresh process, empty caches, to the first result, {_threads(cold['threads'])}):", "",
              "| what | sizes | to the first result | of which imports | to every kernel compiled | whole process |",
              "|---|---|---|---|---|---|"]
        for r in cold["rows"]:
            if "to_first_result_s" in r:
                sizes = "×".join(str(v) for v in r["sizes"].values())
                imp = f"{r['import_s']:.2f} s" if "import_s" in r else "—"
                done = f"{r['to_compiled_s']:.2f} s" if "to_compiled_s" in r else "—"
                L.append(f"| {r['row']} | {sizes} | {r['to_first_result_s']:.2f} s | {imp} | {done} | "
                         f"{r['process_s']:.2f} s |")
            else:
                L.append(f"| {r['row']} | — | {r['skipped']} | — | — | — |")
    c = res.get("contention")
    if c and "variants" in c:
        parts = [f"{name} median {_ms(e['median_s'])}, slowest {_ms(e['max_s'])}" for name, e in c["variants"].items()
                 if "median_s" in e]
        L += ["", f"Under load ({c['case']}, another process keeping one of {len(c['cpus'])} cores busy, "
              f"{c['calls']} calls each, {c['threading_layer']} threading layer): " + "; ".join(parts)
              + f". Slowest threaded call ÷ serial median: {c['threaded_max_over_serial_median']:.2g}×."]
    return "\n".join(L)


def update(readme: Path, res: dict, source=None) -> bool:
    """Rewrite the part of ``readme`` between the markers; True when the text changed.

    Raises:
        ValueError: when the markers are missing or out of order (nothing is written then).
    """
    text = Path(readme).read_text()
    i, j = text.find(BEGIN), text.find(END)
    if i < 0 or j < i:
        raise ValueError(f"{readme}: expected the markers {BEGIN!r} … {END!r} around the performance table")
    src = None
    if source is not None:
        try:
            src = str(Path(source).resolve().relative_to(Path(readme).resolve().parent))
        except ValueError:
            src = str(source)
    new = text[:i + len(BEGIN)] + "\n" + table(res, src) + "\n" + text[j:]
    if new != text:
        Path(readme).write_text(new)
    return new != text
