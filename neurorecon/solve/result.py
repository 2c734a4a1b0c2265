"""What a solve returns: the readout, its intercept and its optimality certificate."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from neurorecon.solve.certificate import certify


@dataclass(eq=False)
class SolveResult:
    """A readout W (P, C) with its intercept and optimality certificate.

    ``gap`` is the relative primal–dual gap ``(primal - dual) / primal`` at ``dual_point``
    (Λ, n x C), which is feasible for every column: ``||D_p^T Λ||_2 <= beta`` (group) or
    ``|D_p^T Λ_c| <= beta`` (l1), and ``Λ`` sums to zero over samples when an intercept is fit.
    ``iterations`` counts coordinate-descent epochs (native) or solver iterations (cvxpy).
    """

    W: np.ndarray
    intercept: np.ndarray
    primal: float
    dual: float
    gap: float
    dual_point: np.ndarray
    iterations: int
    seconds: float
    converged: bool
    support: np.ndarray
    beta: float = 0.0
    penalty: str = "group"
    solver: str = "native"
    outer_iterations: int = 0
    history: list = field(default_factory=list)  # (seconds, relative gap, working-set size) per outer iteration
    info: dict = field(default_factory=dict)
    column_scale: np.ndarray | None = None  # sigma_p of a standardized solve (its penalty weights)

    def predict(self, D) -> np.ndarray:
        """Scores ``D W + b`` (n, C) for a dictionary with the same columns."""
        D = np.asarray(D)
        return D[:, self.support].astype(np.float64) @ self.W[self.support] + self.intercept


def certificate_result(op, Y, W, beta, penalty, tol, start, **fields) -> SolveResult:
    """A :class:`SolveResult` for ``W`` with its certificate over every column of ``op``."""
    ybar = Y.mean(axis=0) if op.fit_intercept else np.zeros(Y.shape[1])
    Yc = Y - ybar
    support = np.flatnonzero(np.any(W != 0, axis=1))
    R, r_error = op.residual(Yc, W[support], support)
    cert = certify(R, Yc, op.correlations(R), W, beta, penalty, op.correlation_error(R), r_error)
    values = dict(
        W=W,
        intercept=ybar - op.col_means[support] @ W[support],
        primal=cert.primal,
        dual=cert.dual,
        gap=cert.gap,
        dual_point=R * cert.scale,
        iterations=0,
        seconds=time.perf_counter() - start,
        converged=cert.gap <= tol,
        support=support,
        beta=beta,
        penalty=penalty,
        solver="given",
    )
    values.update(fields)
    return SolveResult(**values)
