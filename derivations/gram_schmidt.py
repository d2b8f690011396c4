"""Gram–Schmidt orthogonalisation: the QR factorisation A = QR, and the log volume it measures.

Column by column, with q₁ … q_k already orthonormal (Q_k = [q₁ … q_k]) and a the next column of A:

    r = Q_kᵀa,   v = a − Q_k r,   R_{k+1,k+1} = ‖v‖,   q_{k+1} = v / ‖v‖

Stacked, the q's form Q (orthonormal columns) and the r's the columns of R (upper triangular with a
positive diagonal): the unique QR with R_kk > 0, which numpy.linalg.qr gives up to the signs of
Q's columns. The product of R's diagonal is the volume spanned by A's columns, so

    L(A) = Σ_k log R_kk = log |det A|,   ∇L = Q R⁻ᵀ = A⁻ᵀ.

The gradient goes through the reverse-mode rule of the QR factors (symml.structured_linalg).
A is square (n, n) and invertible here; sm.qr also takes tall matrices (m ≥ n).

Reference: Trefethen & Bau, Numerical Linear Algebra, Lectures 7–8; Golub & Van Loan, §5.2.
"""
import symml as sm

n, k = sm.dims("n k")
A = sm.tensor("A", (n, n))
Q, R = sm.qr(A)
loss = sm.sum(sm.log(sm.diag(R)))

# one step of the recursion, in symml's own notation (printed by `symml show gram_schmidt`)
Qk, a = sm.tensor("Q_k", (n, k)), sm.tensor("a", (n,))
r = sm.let("r", Qk.T @ a)
v = sm.let("v", a - Qk @ r)
step = {"r": r, "v": v, "R_{k+1,k+1}": sm.sqrt(sm.norm2(v)), "q_{k+1}": v / sm.sqrt(sm.norm2(v))}

derivation = sm.Derivation(
    "gram_schmidt", loss, params=[A],
    kernels=("loss", "grad", "value_and_grad"),
    extra={"qr": (Q, R)},
    notes={"loss": "Gram–Schmidt, column k + 1 from the orthonormal columns Q_k and the next column a of A:\n"
                   + "\n".join(f"  {name} = {sm.pretty(getattr(e, 'body', e), where=False)}" for name, e in step.items()),
           "qr": "(Q, R): the reduced QR of A, R's diagonal positive (numpy.linalg.qr up to signs)."},
    title="Gram–Schmidt QR, L = Σ log R_kk = log |det A|",
)
