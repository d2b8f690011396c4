"""The benchmark's own virtual environment for PyTensor (``benchmarks/.venv-pytensor``).

PyTensor pins numba ≤ 0.65 and symml's environment has a newer numba, so PyTensor runs
in a separate environment, made on first use: ``python -m venv`` with the interpreter
that runs the benchmark, then ``pip install`` of PyTensor (which brings its numba,
scipy and numpy), threadpoolctl, and ``cmeel-openblas``, an OpenBLAS with unprefixed
symbols that PyTensor's C backend can link (the OpenBLAS inside numpy's and scipy's
wheels has prefixed names, so a pip-installed PyTensor finds no BLAS and its C backend
falls back to slow loops; conda users get one). That OpenBLAS needs libgfortran.so.5;
where the system has none, the copy shipped inside numpy's wheel is linked in under that
name. The C backend's flags are passed in ``PYTENSOR_FLAGS``; PyTensor's caches (the C
modules, and its numba backend's, which follows ``base_compiledir`` and not
NUMBA_CACHE_DIR) live in the environment, or in a fresh directory for a cold start.

    python -m benchmarks.pytensor_env          # make it (or say what is there) and exit

Takes: nothing. Gives: ``ensure()`` → (python path or None, versions or the reason), ``env()``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".venv-pytensor"
REQUIREMENTS = ("pytensor>=3,<4", "threadpoolctl", "cmeel-openblas")
VERSIONS = ("import json, numpy, numba, scipy, pytensor; print(json.dumps({'pytensor': pytensor.__version__, "
            "'numba (pytensor venv)': numba.__version__, 'numpy (pytensor venv)': numpy.__version__}))")


def python() -> Path:
    return VENV / "bin" / "python"


def _site() -> Path | None:
    found = sorted(VENV.glob("lib/python*/site-packages"))
    return found[0] if found else None


def blas_dir() -> Path | None:
    """The directory of cmeel's libopenblas.so, with libgfortran.so.5 beside it where the system lacks one."""
    site = _site()
    if site is None or not (site / "cmeel.prefix" / "lib" / "libopenblas.so").exists():
        return None
    lib = site / "cmeel.prefix" / "lib"
    if not (lib / "libgfortran.so.5").exists() and not _system_has("libgfortran.so.5"):
        for wheel_libs in (site / "numpy.libs", site / "scipy.libs"):
            gf = sorted(wheel_libs.glob("libgfortran-*.so.5*"))
            if gf:
                (lib / "libgfortran.so.5").symlink_to(gf[0])
                for dep in wheel_libs.glob("libquadmath-*"):  # libgfortran's own (renamed) dependency
                    if not (lib / dep.name).exists():
                        (lib / dep.name).symlink_to(dep)
                break
    return lib


def _system_has(soname: str) -> bool:
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return False
    return soname in out


def env(base: dict | None = None, cache: str | None = None) -> dict:
    """The environment for a process in the venv: PyTensor's cache directory and BLAS flags."""
    e = dict(os.environ if base is None else base)
    flags = [f"base_compiledir={cache or VENV / 'cache'}"]
    lib = blas_dir()
    if lib is not None:
        # DT_RPATH (not RUNPATH), so that libopenblas's own libgfortran.so.5 is found beside it too
        flags.append(f"blas__ldflags=-L{lib} -lopenblas -Wl\\,--disable-new-dtags\\,-rpath\\,{lib}")
    e["PYTENSOR_FLAGS"] = ",".join(flags + ([e["PYTENSOR_FLAGS"]] if e.get("PYTENSOR_FLAGS") else []))
    return e


def ensure(create: bool = True, log=sys.stderr) -> tuple[Path | None, dict | str]:
    """(the venv's python, {library: version}) when PyTensor imports there, else (None, why not).

    Makes the venv when it is missing and ``create`` is true (about a minute: PyTensor and
    its numba, scipy and numpy from the package index)."""
    py = python()
    if not py.exists():
        if not create:
            return None, f"no PyTensor environment at {VENV} (python -m benchmarks.pytensor_env makes it)"
        print(f"making {VENV} for PyTensor (numba ≤ 0.65) ...", file=log, flush=True)
        steps = ([sys.executable, "-m", "venv", str(VENV)],
                 [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *REQUIREMENTS])
        for cmd in steps:
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                tail = " ".join((r.stderr or r.stdout).strip().splitlines()[-2:])[:300]
                return None, f"`{' '.join(cmd[-3:])}` failed: {tail}"
    r = subprocess.run([str(py), "-c", VERSIONS], capture_output=True, text=True, env=env())
    if r.returncode != 0:
        return None, "pytensor does not import in " + f"{VENV}: {(r.stderr.strip().splitlines() or ['?'])[-1][:300]}"
    versions = json.loads(r.stdout.strip().splitlines()[-1])
    versions["pytensor C backend BLAS"] = "cmeel-openblas" if blas_dir() else "none found (slow fallback)"
    return py, versions


if __name__ == "__main__":
    where, what = ensure()
    print(where or "unavailable", what)
    sys.exit(0 if where else 1)
