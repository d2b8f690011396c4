"""Gram products Σ_c A[c,i] s[c] A[c,j] on BLAS syrk, with no temporary the size of A.

The Hessian of a loss summed over samples is often XᵀSX, S = diag(s) the curvature of each
sample's loss (logistic, Poisson, probit regression), or a multiple of XᵀX (least squares,
ridge). As a plain contraction it would be a general product (gemm) of the n×d temporary
X ⊙ s with X. Here the pattern is recognised on one einsum node and computed by helpers
written once into the runtime of the generated modules (:mod:`symml.codegen.runtime`):

- ``_syrk_gram(A, alpha)``: alpha·AᵀA in one BLAS syrk on A itself (no copy);
- ``_syrk_gram_weighted(A, s, alpha)``: alpha·AᵀSA by blocks of rows. In a block, rows with
  s ≥ 0 are scaled by √s into a buffer and go to one syrk, rows with s < 0 by √−s and go
  to another with the opposite sign, so a Hessian that is not PSD costs no more.

syrk does half a gemm's flops (it writes one triangle, mirrored at the end), and the
extra memory is the d×d result and one block of rows, never n×d.

Takes: einsum nodes. Gives: a ``Gram`` match, and the helpers' source (``GRAM_HELPERS``).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..nodes import Einsum, Expr


@dataclass(frozen=True)
class Gram:
    """coef · Π scalars · Σ_c Π weights[c] · A[c,i] A[c,j] · Π scale[i or j], out (i, j).

    ``rows``: True when A is indexed A[c, i] (AᵀA), False for A[i, c] (AAᵀ). ``scale``:
    vectors on an output label, as (operand, axis of the result they scale).
    """

    A: Expr
    rows: bool
    weights: tuple
    scalars: tuple
    scale: tuple

    @property
    def helpers(self) -> set[str]:
        return {"_blas_syrk", "_syrk_gram_weighted" if self.weights else "_syrk_gram"}


def match_gram(node: Einsum) -> Gram | None:
    """The Gram product that ``node`` computes, or None if it is not one.

    >>> import symml as sm
    >>> n, d = sm.dims("n d")
    >>> X, s = sm.tensor("X", (n, d)), sm.tensor("s", (n,))
    >>> g = match_gram(sm.einsum("ni,n,nj->ij", X, s, X))
    >>> g.A.name, g.rows, [t.name for t in g.weights]
    ('X', True, ['s'])
    """
    if not isinstance(node, Einsum) or len(node.out) != 2:
        return None
    i, j = node.out
    mats = [(o, tuple(s)) for o, s in zip(node.operands, node.subs) if o.ndim == 2]
    if len(mats) != 2 or mats[0][0] is not mats[1][0] or any(o.ndim > 2 for o in node.operands):
        return None
    (A, sa), (_, sb) = mats
    if sa[0] == sb[0] and sa[0] not in node.out and {sa[1], sb[1]} == {i, j}:
        rows, c = True, sa[0]
    elif sa[1] == sb[1] and sa[1] not in node.out and {sa[0], sb[0]} == {i, j}:
        rows, c = False, sa[1]
    else:
        return None
    weights, scale = [], []
    for o, s in zip(node.operands, node.subs):
        if o.ndim != 1:
            continue
        if s[0] == c:
            weights.append(o)
        elif s[0] in node.out:
            scale.append((o, list(node.out).index(s[0])))
        else:  # a factor summed on its own label: not a Gram product
            return None
    scalars = tuple(o for o in node.operands if o.ndim == 0)
    return Gram(A, rows, tuple(weights), scalars, tuple(scale))


#: Runtime helpers that a module computing a Gram product imports (see the module docstring).
GRAM_HELPERS = {
    "_blas_syrk": '''
def _blas_function(name):
    """SciPy's BLAS routine ``name`` (the library numba's np.dot calls) as nopython code calls it."""
    from numba import types

    p = types.voidptr  # Fortran takes every argument by reference
    return types.ExternalFunction(f"symml_{name}", types.void(p, p, p, p, p, p, p, p, p, p))


_blas_dsyrk, _blas_ssyrk = _blas_function("dsyrk"), _blas_function("ssyrk")
_BLAS_REGISTERED = []


def _register_blas():
    """Register SciPy's dsyrk and ssyrk with LLVM under the names the kernels call (once a process).

    A module whose kernels use a Gram helper calls this when it is imported, before any of
    its kernels is compiled or loaded from numba's cache; other modules never load SciPy.
    """
    # NOTE(numba): a cached kernel must not embed this process's address of the routine (ctypes
    # pointers would). The address is registered under a fixed symbol name, and compiled code
    # calls the name, so a kernel from numba's cache links in any process.
    if _BLAS_REGISTERED:
        return
    from llvmlite import binding
    from numba.extending import get_cython_function_address

    for name in ("dsyrk", "ssyrk"):
        binding.add_symbol(f"symml_{name}", get_cython_function_address("scipy.linalg.cython_blas", name))
    _BLAS_REGISTERED.append(True)


@njit(cache=True)
def _blas_syrk(U, C, alpha):
    # C += alpha·UᵀU on and above the diagonal of C (d×d, C-contiguous), for U (k, d) C- or
    # F-contiguous. Fortran reads a C-contiguous U as the column-major d×k matrix Uᵀ, so UᵀU is
    # syrk "N" of it, and an F-contiguous U as U, so syrk "T"; its lower triangle is C's upper.
    k, d = U.shape
    if k == 0:
        return
    if not (U.flags.c_contiguous or U.flags.f_contiguous):
        raise ValueError("_blas_syrk: expected a C- or F-contiguous block")
    flag = np.empty(2, dtype=np.uint8)
    flag[0] = 76  # "L"
    flag[1] = 78 if U.flags.c_contiguous else 84  # "N" or "T"
    size = np.empty(4, dtype=np.int32)  # N, K, lda, ldc
    size[0], size[1], size[3] = d, k, d
    size[2] = d if U.flags.c_contiguous else k
    coef = np.empty(2, dtype=U.dtype)  # alpha, beta
    coef[0], coef[1] = alpha, 1.0
    if U.itemsize == 8:
        _blas_dsyrk(flag[0:].ctypes, flag[1:].ctypes, size[0:].ctypes, size[1:].ctypes, coef[0:].ctypes,
                    U.ctypes, size[2:].ctypes, coef[1:].ctypes, C.ctypes, size[3:].ctypes)
    else:
        _blas_ssyrk(flag[0:].ctypes, flag[1:].ctypes, size[0:].ctypes, size[1:].ctypes, coef[0:].ctypes,
                    U.ctypes, size[2:].ctypes, coef[1:].ctypes, C.ctypes, size[3:].ctypes)


@njit(cache=True)
def _blas_mirror(C):
    # C[i, j] = C[j, i] below the diagonal, tile by tile so that the column reads stay in cache
    d = C.shape[0]
    for i0 in range(0, d, 64):
        for j0 in range(0, i0 + 1, 64):
            for i in range(i0, min(i0 + 64, d)):
                for j in range(j0, min(j0 + 64, i)):
                    C[i, j] = C[j, i]
''',
    "_syrk_gram": '''
@njit(cache=True)
def _syrk_gram(A, alpha):
    # alpha·AᵀA for A (n, d): one BLAS syrk on A itself, half the flops of a general product
    d = A.shape[1]
    C = np.zeros((d, d), dtype=A.dtype)
    if A.flags.c_contiguous or A.flags.f_contiguous:
        _blas_syrk(A, C, alpha)
    else:  # a strided view: BLAS needs unit stride along one axis
        _blas_syrk(np.ascontiguousarray(A), C, alpha)
    _blas_mirror(C)
    return C
''',
    "_syrk_gram_weighted": '''
@njit(cache=True)
def _syrk_gram_weighted(A, s, alpha):
    # alpha·AᵀSA = alpha·Σ_r s_r a_r a_rᵀ (S = diag s) for A (n, d), by blocks of rows: no n×d temporary
    C = np.zeros((A.shape[1], A.shape[1]), dtype=A.dtype)
    _syrk_gram_weighted_into(A, s, alpha, C)
    _blas_mirror(C)
    return C


@njit(cache=True)
def _syrk_gram_weighted_into(A, s, alpha, C):
    # C += alpha·AᵀSA on and above the diagonal, by blocks of rows. Rows with s_r ≥ 0 are scaled
    # by √s_r and go to one syrk, rows with s_r < 0 by √−s_r and go to another with −alpha: half a
    # general product's flops whatever the signs. A NaN in s takes the first branch, so it reaches C.
    n, d = A.shape
    rows = max(1, min(n, max(256, min(4096, 131072 // max(d, 1)))))  # ≤ 1 MB in float64 unless d > 512
    U = np.empty((rows, d), dtype=A.dtype)
    for lo in range(0, n, rows):
        m = min(rows, n - lo)
        top, bottom = 0, m  # rows with s ≥ 0 fill U from the top, the others from the bottom
        for r in range(lo, lo + m):
            if s[r] < 0:
                bottom -= 1
                k, q = bottom, np.sqrt(-s[r])
            else:
                k, q = top, np.sqrt(s[r])
                top += 1
            for j in range(d):
                U[k, j] = A[r, j] * q
        _blas_syrk(U[:top], C, alpha)
        _blas_syrk(U[top:m], C, -alpha)


@njit(cache=True)
def _gram_slabs(n, d, threads, dtype_of):
    # how many slabs of rows a threaded Gram splits n rows into (one per thread, ≥ 256 rows each,
    # their d×d sums ≤ 128 MB in all), and their zeroed sums
    nt = max(1, min(threads, n // 256, 16777216 // max(1, d * d)))
    return nt, np.zeros((nt, d, d), dtype=dtype_of.dtype)


@njit(cache=True)
def _gram_total(G):
    # Σ_t G[t] (the slabs' upper triangles), mirrored: the symmetric d×d Gram (one slab: no copy)
    C = G[0]
    if G.shape[0] > 1:
        C = G[0].copy()
        for t in range(1, G.shape[0]):
            C += G[t]
    _blas_mirror(C)
    return C
''',
}


#: Matrix products with few columns (2 to 10): loops, not BLAS. OpenBLAS is tuned for wide products.
#: Measured on this machine (one thread, 20 000 rows in blocks, as the chunk kernels run them): in the
#: softmax kernel (d = 100, K = 10) X·W took 0.98 ms as the loop of ``_dot_nn`` against 1.25 ms on
#: np.dot, and Xᵀ·Δ 1.31 against 1.65 ms as that of ``_dot_tn``; at d = 20, 32, 50, 200 and 1000 with
#: K = 10, and at K = 4, the loops were as fast or faster (K = 8, d = 50: 0.48 against 0.47 ms). At
#: K = 16 np.dot was faster (d = 100: 1.51 against 1.58 ms; d = 50: 0.74 against 0.94), so from 11
#: columns on, and below 4 rows or 8 terms, they are np.dot. The sums are in float64.
SMALL_DOT_HELPERS = {
    "_dot_nn": '''
@njit(cache=True, fastmath={"reassoc", "contract"})
def _dot_nn(A, B):
    # A (n, d) · B (d, K): four rows at a time, each entry a dot product over d (vectorised), for 2 ≤ K ≤ 10
    n, d = A.shape
    K = B.shape[1]
    if K < 2 or K > 10 or d < 8 or n < 4:
        return np.dot(A, B)
    BT = np.ascontiguousarray(B.T)
    out = np.empty((n, K), dtype=A.dtype)
    n4 = n - n % 4
    for i in range(0, n4, 4):
        for j in range(K):
            s0 = s1 = s2 = s3 = 0.0
            for k in range(d):
                w = BT[j, k]
                s0 += A[i, k] * w
                s1 += A[i + 1, k] * w
                s2 += A[i + 2, k] * w
                s3 += A[i + 3, k] * w
            out[i, j], out[i + 1, j], out[i + 2, j], out[i + 3, j] = s0, s1, s2, s3
    for i in range(n4, n):
        for j in range(K):
            s = 0.0
            for k in range(d):
                s += A[i, k] * BT[j, k]
            out[i, j] = s
    return out
''',
    "_dot_tn": '''
@njit(cache=True, fastmath={"reassoc", "contract"})
def _dot_tn(X, D):
    # Xᵀ · D for X (n, d), D (n, K): two rows of X at a time into (D ⊗ X)ᵀ rows of length d, for 2 ≤ K ≤ 10
    n, d = X.shape
    K = D.shape[1]
    if K < 2 or K > 10 or d < 8 or n < 4:
        return np.dot(X.T, D)
    GT = np.zeros((K, d), dtype=np.float64)
    n2 = n - n % 2
    for i in range(0, n2, 2):
        for j in range(K):
            v0, v1 = D[i, j], D[i + 1, j]
            for k in range(d):
                GT[j, k] += v0 * X[i, k] + v1 * X[i + 1, k]
    for i in range(n2, n):
        for j in range(K):
            v = D[i, j]
            for k in range(d):
                GT[j, k] += v * X[i, k]
    return np.ascontiguousarray(GT.T).astype(X.dtype)
''',
}


#: Runtime helpers of a blocked kernel that runs BLAS (np.dot) on numba's threads (and its accumulator add).
BLAS_THREAD_HELPERS = {
    "_acc_add": '''
@njit(cache=True)
def _acc_add(acc, x):
    # acc += x for two C-contiguous arrays of one shape, entry by entry
    a = acc.reshape(-1)
    b = x.reshape(-1)
    for q in range(a.size):
        a[q] += b[q]
''',
    "_blas_threads": '''
_BLAS_THREAD_FNS = []


def _blas_thread_functions():
    """(get, set) of the thread count of SciPy's OpenBLAS, the BLAS numba's np.dot calls, or None."""
    import ctypes
    import os

    import scipy.linalg.cython_blas  # noqa: F401 - loads the library

    try:
        with open("/proc/self/maps") as f:
            paths = {ln.split()[-1] for ln in f if "openblas" in ln and "scipy" in ln and "numpy" not in ln}
    except OSError:  # not Linux: leave the BLAS as it is
        return None
    for path in sorted(paths):
        if not os.path.isfile(path):
            continue
        lib = ctypes.CDLL(path)
        for prefix in ("scipy_openblas", "openblas"):
            if hasattr(lib, prefix + "_set_num_threads") and hasattr(lib, prefix + "_get_num_threads"):
                return getattr(lib, prefix + "_get_num_threads"), getattr(lib, prefix + "_set_num_threads")
    return None


def _blas_threads(n):
    """Give SciPy's OpenBLAS n threads; the count it had, or None where it cannot be set."""
    # NOTE(OpenBLAS): an OpenBLAS that threads each call, called from two numba threads at once,
    # ran a blocked MLP kernel 6x slower here than with one BLAS thread per numba thread.
    if not _BLAS_THREAD_FNS:
        _BLAS_THREAD_FNS.append(_blas_thread_functions())
    fns = _BLAS_THREAD_FNS[0]
    if fns is None or n is None:
        return None
    prev = fns[0]()
    if prev != n:
        fns[1](n)
    return prev
''',
}
