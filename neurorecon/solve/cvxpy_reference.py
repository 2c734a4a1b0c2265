"""The CVXPY reference solve (Clarabel by default, SCS optional): the oracle for the native solver.

The problem is written as a user would write it, intercept included as a variable. CVXPY's W is
kept as returned (interior-point solutions have tiny non-zeros in rows that are zero at the
optimum; ``support`` lists the rows above 1e-9 of the largest row), and its certificate comes
from the same code as the native solver's. The reported intercept is the optimal one for that W
(``ybar - W^T dbar``), which CVXPY's own b matches to solver accuracy (kept in ``info``).
"""

from __future__ import annotations

import numpy as np

from neurorecon.errors import NeuroreconError
from neurorecon.solve.operator import DictionaryOperator
from neurorecon.solve.result import certificate_result

CVXPY_SOLVERS = ("CLARABEL", "SCS")


def solve_cvxpy(op: DictionaryOperator, Y, beta, penalty, tol, cvxpy_solver, options, start):
    import cvxpy as cp

    name = str(cvxpy_solver).upper()
    if name not in CVXPY_SOLVERS:
        raise NeuroreconError(f"cvxpy_solver must be one of {CVXPY_SOLVERS}; got {cvxpy_solver!r}")
    if name == "SCS":
        options = {"eps_abs": tol * 1e-3, "eps_rel": tol * 1e-3, "max_iters": 200_000, **options}
    n, P, C = op.n, op.P, Y.shape[1]
    D = np.asarray(op.columns(np.arange(P)), dtype=np.float64)  # the operator's (standardized) columns
    W = cp.Variable((P, C))
    fit = D @ W
    if op.fit_intercept:
        b = cp.Variable(C)
        fit = fit + np.ones((n, 1)) @ cp.reshape(b, (1, C), order="C")
    reg = cp.sum(cp.norm(W, 2, axis=1)) if penalty == "group" else cp.sum(cp.abs(W))
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(fit - Y) + beta * reg))
    try:
        problem.solve(solver=name, **options)
    except cp.error.SolverError as exc:
        raise NeuroreconError(f"CVXPY ({name}) failed: {exc}") from None
    if W.value is None:
        raise NeuroreconError(f"CVXPY ({name}) returned no solution (status {problem.status})")
    Wv = np.asarray(W.value, dtype=np.float64)
    norms = np.sqrt((Wv**2).sum(axis=1))
    stats = problem.solver_stats
    result = certificate_result(
        op, Y, Wv, beta, penalty, tol, start,
        iterations=int(stats.num_iters or 0),
        solver=f"cvxpy-{name.lower()}",
        info={
            "status": problem.status,
            "cvxpy_objective": float(problem.value),
            "cvxpy_intercept": None if not op.fit_intercept else np.asarray(b.value).tolist(),
            "solve_seconds": stats.solve_time,
        },
    )
    result.converged = problem.status == cp.OPTIMAL
    result.support = np.flatnonzero(norms > 1e-9 * max(norms.max(), 1e-300))
    return result
