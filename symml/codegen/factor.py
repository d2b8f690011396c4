"""One factorisation of a square matrix for all of its log det, det, solves and inverse.

A kernel that reads logdet(K), solve(K, t) and inv(K) (a Gaussian-process marginal
likelihood and its gradient) factors K once, with ``_fac``, and each reader takes what it
needs from the factor. The helpers are written once into the runtime of the generated
modules (see :mod:`symml.codegen.runtime`); the rule that emits the calls is in
:mod:`symml.codegen.emit_structural`, and the plan of which matrices share a factor in
:mod:`symml.lowering`.

``_fac(A, try_chol)`` returns ``(F, piv, kind)``:

- kind 0, Cholesky (tried when ``try_chol`` and A is exactly symmetric): F = L, lower
  triangular with A = LLᵀ, C order;
- kind 1, LU (A not symmetric, or Cholesky not tried): F = the LU factors of LAPACK's
  getrf in Fortran order, ``piv`` its row interchanges (1-based);
- kind 2, LU after a failed Cholesky: A is symmetric but not positive definite, which a
  log det reports.

Measured on this machine (numba 0.68, one thread, d = 1000, SPD A): np.linalg.inv 42–90
ms, Cholesky and LAPACK's getri on its factors as an LU without interchanges 40–74 ms,
Cholesky, a blocked triangular inverse and syrk 87 ms; two triangular solves by loops
0.3 ms against 15 ms for np.linalg.solve (which factors again). The inverse of a Cholesky
factor therefore goes through getri: (LD⁻¹)(DLᵀ), D = diag(L), is an LU of A that needs no
interchange.

# NOTE(numba): getrf and getri are the LAPACK wrappers numba itself exports to compiled
# code (numba_xxgetrf, numba_ez_xxgetri, the ones np.linalg.inv calls); numba registers
# them in every process, so a cached kernel links without SciPy being imported first.

The helpers read ``_nb_helperlib`` and ``_nb_types`` (numba._helperlib, numba.types), which the
runtime imports at its top.

Takes: nothing. Gives: the helpers' source (``FACTOR_HELPERS``).
"""
from __future__ import annotations

FACTOR_HELPERS = {
    "_fac": """
# LAPACK's integer: the width numba's own wrappers were built for
_FAC_INT = np.int64 if getattr(_nb_helperlib, "LAPACK_BUILD_ILP64", False) else np.int32
_fac_int = _nb_types.int64 if _FAC_INT is np.int64 else _nb_types.int32
_lapack_getrf = _nb_types.ExternalFunction("numba_xxgetrf", _nb_types.intc(
    _nb_types.char, _nb_types.intp, _nb_types.intp, _nb_types.voidptr, _nb_types.intp, _nb_types.CPointer(_fac_int)))
_lapack_getri = _nb_types.ExternalFunction("numba_ez_xxgetri", _nb_types.intc(
    _nb_types.char, _nb_types.intp, _nb_types.voidptr, _nb_types.intp, _nb_types.CPointer(_fac_int)))


@njit(cache=True)
def _fac_letter(A):
    # LAPACK's letter for the dtype: d (float64) or s (float32)
    return np.int8(100) if A.itemsize == 8 else np.int8(115)


@njit(cache=True)
def _fac(A, try_chol):
    # (F, piv, kind) of A (d, d), all in C order: Cholesky (kind 0, F = L) when try_chol and A is
    # exactly symmetric; else LU (kind 1), or LU after a failed Cholesky (kind 2). The LU is
    # getrf's of the C-order copy, which LAPACK reads as Aᵀ: Aᵀ = PLU, so F's lower triangle is
    # Uᵀ and its strict upper triangle Lᵀ (unit diagonal), piv the interchanges (1-based)
    n = A.shape[0]
    piv = np.empty(n, dtype=_FAC_INT)
    kind = 1
    if try_chol and np.all(np.isfinite(A)):
        sym = True
        for i in range(n):
            for j in range(i):
                if A[i, j] != A[j, i]:
                    sym = False
            if not sym:
                break
        if sym:
            try:
                return np.linalg.cholesky(np.ascontiguousarray(A)), piv, 0
            except Exception:  # not positive definite: LU below
                kind = 2
    F = np.ascontiguousarray(A).copy()
    if n > 0:
        _lapack_getrf(_fac_letter(F), n, n, F.ctypes, n, piv.ctypes)
    return F, piv, kind
""",
    "_fac_logdet": """
@njit(cache=True)
def _fac_logdet(F, piv, kind):
    # (log det A, 0), or (nan, 1) for a symmetric A that is not positive definite, or (nan, 2)
    # for a non-symmetric A with det A <= 0 (the flags of _logdet); NaN in, (nan, 0) out
    n = F.shape[0]
    s = 0.0
    if kind == 0:
        for j in range(n):
            s += np.log(F[j, j])
        return 2.0 * s, 0
    if kind == 2:
        return np.nan, 1
    neg = False
    for j in range(n):
        u = F[j, j]
        if u != u:
            return np.nan, 0
        if u == 0:
            return np.nan, 2
        if u < 0:
            neg = not neg
        if piv[j] != j + 1:
            neg = not neg
        s += np.log(abs(u))
    if neg:
        return np.nan, 2
    return s, 0
""",
    "_fac_det": """
@njit(cache=True)
def _fac_det(F, piv, kind):
    # det A from its factor
    n = F.shape[0]
    p = 1.0
    if kind == 0:
        for j in range(n):
            p *= F[j, j]
        return p * p
    for j in range(n):
        p *= F[j, j]
        if piv[j] != j + 1:
            p = -p
    return p
""",
    "_fac_solve": """
@njit(cache=True)
def _fac_solve(F, piv, kind, C):
    # A⁻¹C for C (d, m) from A's factor: two triangular solves, row by row of C
    n, m = C.shape
    X = np.empty((n, m), dtype=F.dtype)
    for i in range(n):
        for c in range(m):
            X[i, c] = C[i, c]
    if kind != 0:
        for i in range(n):
            if F[i, i] == 0:
                raise np.linalg.LinAlgError("Matrix is singular to machine precision.")
    # kind 0: L Y = C, then Lᵀ X = Y. LU: A = Uᵀ Lᵀ Pᵀ, so Uᵀ Y = C (F's lower triangle), then
    # Lᵀ Z = Y (F's strict upper triangle, unit diagonal), then X = P Z
    for i in range(n):
        for k in range(i):
            a = F[i, k]
            for c in range(m):
                X[i, c] -= a * X[k, c]
        r = 1.0 / F[i, i]
        for c in range(m):
            X[i, c] *= r
    if kind == 0:
        for i in range(n - 1, -1, -1):
            r = 1.0 / F[i, i]
            for c in range(m):
                X[i, c] *= r
            for k in range(i):
                a = F[i, k]
                for c in range(m):
                    X[k, c] -= a * X[i, c]
        return X
    for i in range(n - 1, -1, -1):
        for k in range(i + 1, n):
            a = F[i, k]
            for c in range(m):
                X[i, c] -= a * X[k, c]
    for i in range(n - 1, -1, -1):
        p = piv[i] - 1
        if p != i:
            for c in range(m):
                X[i, c], X[p, c] = X[p, c], X[i, c]
    return X
""",
    "_fac_inv": """
@njit(cache=True)
def _fac_inv(F, piv, kind):
    # A⁻¹ from its factor, by LAPACK's getri (on a copy, in C order: LAPACK reads it as Aᵀ and
    # writes (Aᵀ)⁻¹, which is A⁻¹ in C order). A Cholesky factor L is handed over as the LU
    # (LD⁻¹)(DLᵀ), D = diag(L), of the symmetric A, which needs no interchange
    n = F.shape[0]
    G = np.empty((n, n), dtype=F.dtype)
    if kind == 0:
        for a in range(n):  # LAPACK's (i, j) is G[j, i]: L' below the diagonal, U on and above
            for b in range(a + 1):
                G[a, b] = F[b, b] * F[a, b]
            r = 1.0 / F[a, a]
            for b in range(a + 1, n):
                G[a, b] = F[b, a] * r
        p = np.arange(1, n + 1).astype(piv.dtype)
    else:
        for j in range(n):
            if F[j, j] == 0:
                raise np.linalg.LinAlgError("Matrix is singular to machine precision.")
        G[:, :] = F
        p = piv.copy()
    if n > 0:
        _lapack_getri(_fac_letter(G), n, G.ctypes, n, p.ctypes)
    return G
""",
}
