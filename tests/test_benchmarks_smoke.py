"""Smoke test of the benchmark harness (``python -m benchmarks``) at toy sizes.

It runs the harness end to end, as a user does (a child process per thread count),
with symml and numpy only, and checks that every case produced a time, an agreement
check against numpy, a peak-memory figure, the machine's limits, the JSON and the
markdown table. JAX and PyTorch, when installed, are checked for agreement with numpy
in-process on the same toy cases. No timing is asserted: this proves that the harness
works, not how fast anything is.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import cases, impls_numpy, impls_symml, machine  # noqa: E402


@pytest.mark.compile
def test_harness_runs_end_to_end(tmp_path):
    cmd = [sys.executable, "-m", "benchmarks", "--tiny", "--impls", "symml,numpy", "--threads", "1",
           "--out", str(tmp_path)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path / "tiny.json").read_text())
    run = res["runs"]["1"]
    assert run["bandwidth"]["GBps"] > 0 and run["blas"]["GFLOPs"] > 0
    assert run["blas_config"], "the BLAS configuration must be reported"
    names = {c["name"] for c in run["cases"]}
    assert {c.name for c in cases.select(tiny=True)} == names
    for c in run["cases"]:
        for impl in ("symml", "symml[nocheck]", "numpy"):
            e = c["impls"][impl]
            assert e["agrees"], (c["name"], impl, e)
            assert e["median_s"] > 0 and e["repeats"] >= 7 and e["threads"] == 1
            assert e["peak_extra_bytes"] is None or e["peak_extra_bytes"] >= 0
    md = (tmp_path / "tiny.md").read_text()
    assert "| case | threads |" in md and "## Targets" in md and md in r.stdout


@pytest.mark.parametrize("lib", ["jax", "torch"])
def test_optional_libraries_agree_with_numpy(lib):
    if importlib.util.find_spec(lib) is None:
        pytest.skip(f"{lib} is not installed (the optional `bench` extra)")
    mod = importlib.import_module(f"benchmarks.impls_{lib}")
    seen = set()
    for case in cases.select(tiny=True):
        if case.name in seen:
            continue
        seen.add(case.name)
        data = case.data()
        fn, to_flat = impls_numpy.build(case, data)["numpy"]
        ref = to_flat(fn())
        for name, (fn, to_flat) in mod.build(case, data).items():
            np.testing.assert_allclose(to_flat(fn()), ref, rtol=1e-9, atol=1e-9, err_msg=f"{name} {case.name}")


@pytest.mark.compile
def test_symml_variants_agree_with_numpy():
    case = cases.select("logistic_regression hvp", tiny=True)[0]
    data = case.data()
    fn, to_flat = impls_numpy.build(case, data)["numpy"]
    ref = to_flat(fn())
    for name, (fn, to_flat) in impls_symml.build(case, data).items():
        np.testing.assert_allclose(to_flat(fn()), ref, rtol=1e-10, atol=1e-12, err_msg=name)


def test_time_call_and_peak_extra():
    t = machine.time_call(lambda: np.ones(10).sum(), repeats=7, min_time=1e-4, warmup_time=0)
    assert len(t["all_s"]) == 7 and t["min_s"] <= t["median_s"] <= t["max_s"]
    m = machine.peak_extra(lambda: np.ones(4_000_000), probes=1)  # a 32 MB temporary must show
    if m["bytes"] is not None:
        assert m["bytes"] >= 30e6, m


def test_targets_judge_a_synthetic_run():
    case = {"name": "least_squares vg 100000x100", "model": "least_squares", "kernel": "value_and_grad",
            "sizes": {"n": 100_000, "d": 100}, "bytes": 8.08e7, "flops": 4e7, "impls": {
                "symml": {"median_s": 0.01, "peak_extra_bytes": 1e5}, "symml[nocheck]": {"median_s": 0.009},
                "numpy": {"median_s": 0.03}, "jax": {"median_s": 0.02}}}
    res = {"runs": {"2": {"bandwidth": {"GBps": 10.0}, "blas": {"GFLOPs": 50.0}, "cases": [case]}}}
    got = {t["id"]: t for t in cases.targets(res)}
    assert got["lstsq_speed"]["met"] is False  # 2× JAX < 2.5×
    assert "numpy 3.00×" in got["lstsq_speed"]["measured"]
    assert got["lstsq_bandwidth"]["met"] is True  # 8.08 GB/s of 10
    assert got["memory"]["met"] is True
    assert got["softmax"]["met"] is None  # not run
