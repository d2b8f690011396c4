"""What every optimizer returns: ``OptimizeResult``, the error for a diverged fit, and the
checks of the options every optimizer shares.

Takes: an optimizer's final state. Gives: a result with the parameters by name.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class OptimizeResult:
    """The outcome of an optimizer.

    Attributes:
        params: the parameters by name (arrays shaped as declared; floats for scalars).
        theta: the same, flat (p,), in the derivation's order.
        loss_history: L after 0, 1, 2, ... iterations (epochs for stochastic methods), (n_iter + 1,).
        grad_norm_history: ‖∇L‖₂ at the same points (for prox: the gradient mapping's norm).
        n_iter: iterations done (Newton steps; epochs for first-order methods).
        converged: the stopping test passed (see each optimizer's ``tol``).
        diverged: the loss became non-finite or blew up; params then hold the last iterate
            whose loss was finite (the last entry of loss_history), never NaN.
        message: what happened, in one line.
        method: the optimizer's name.
        info: method-specific extras (e.g. step sizes, the batch rule, scipy's result).
    """

    params: dict
    theta: np.ndarray
    loss_history: np.ndarray
    grad_norm_history: np.ndarray
    n_iter: int
    converged: bool
    diverged: bool = False
    message: str = ""
    method: str = ""
    info: dict = field(default_factory=dict)

    @property
    def loss(self) -> float:
        """The final loss, L(params)."""
        return float(self.loss_history[-1])

    def _repr_html_(self):
        """Jupyter: a table of the method, state, iterations, loss, gradient norm and parameters."""
        from ..report.display import result_html

        return result_html(self)

    def __repr__(self):
        state = "converged" if self.converged else ("DIVERGED" if self.diverged else "not converged")
        return (f"<OptimizeResult {self.method}: {state} after {self.n_iter} iterations, "
                f"loss {self.loss:.6g}, ‖∇L‖ {float(self.grad_norm_history[-1]):.3g}>")


class DivergedError(ValueError):
    """An optimizer diverged; ``.result`` holds the last finite iterate and the histories."""

    def __init__(self, message: str, result: OptimizeResult):
        super().__init__(message)
        self.result = result


def make_result(problem, theta, losses, gnorms, n_iter, converged, diverged, message, method, **info):
    """An OptimizeResult from a problem and flat θ (copied)."""
    theta = np.array(theta, dtype=np.float64)
    return OptimizeResult(params=problem.unpack(theta), theta=theta,
                          loss_history=np.asarray(losses, dtype=np.float64),
                          grad_norm_history=np.asarray(gnorms, dtype=np.float64), n_iter=int(n_iter),
                          converged=bool(converged), diverged=bool(diverged), message=message, method=method,
                          info=info)


def positive(name: str, v, allow_zero: bool = False) -> float:
    """v as a float, or a ValueError: a positive (or non-negative) finite number was expected."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v) \
            or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name}: expected a {'non-negative' if allow_zero else 'positive'} number, got {v!r}")
    return float(v)


def count(name: str, v, minimum: int = 1) -> int:
    """v as an int, or a ValueError: an int ≥ minimum was expected."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"{name}: expected an int ≥ {minimum}, got {v!r}")
    return int(v)
