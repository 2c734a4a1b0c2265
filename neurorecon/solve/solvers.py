"""Certified solvers for the convex readout: group Lasso (default) or per-class Lasso.

Problem (C classes, targets Y (n, C), dictionary D (n, P), unpenalised intercept b)::

    min_{W, b}  0.5 ||D W + 1 b^T - Y||_F^2 + beta * Omega(W)
    Omega(W) = sum_p ||W_p,:||_2   ("group": a selected neuron serves every class)
             = sum_{p,c} |W_pc|    ("l1": C independent Lassos)

``standardize=True`` weighs each neuron's penalty by its column's standard deviation sigma_p,
``Omega(W) = sum_p sigma_p ||W_p,:||_2``: the same problem on standardized columns (glmnet's
``standardize``), so a neuron that spikes rarely but tellingly is not penalised for its small
counts. W is always returned for D's own columns; the dual constraint becomes
``||d_p^T Lambda|| <= beta sigma_p``.

The intercept is eliminated in closed form (``b = ybar - W^T dbar``), which turns the problem into
the same problem on centred Y and centred D; D is never centred in memory (see
:mod:`neurorecon.solve.operator`). Every result carries the relative primal–dual gap of
:mod:`neurorecon.solve.certificate`, computed over *all* P columns from the float64 residual.

Native algorithm (``solver="native"``): a working-set method with gap-based column selection, as
in celer / skglm / BLITZ, because the solution is sparse (a few hundred of tens of thousands of
columns) and full-dictionary passes are the expensive part:

1. From the current W: residual R (float64, each row block's rows of ``D_S W_S`` by exact digit
   products, with an error bound the primal value accounts for), one exact pass
   ``Z = D^T R`` over the whole dictionary, the dual point ``Lambda = s R`` and the gap. Stop when
   gap <= tol.
2. Gap-safe screening (``screen=True``; off by default): the dual optimum lies within
   ``sqrt(2 gap_abs)`` of Lambda (the dual is 1-strongly concave), so a column with
   ``s ||Z_p|| + sqrt(2 gap_abs) ||Dc_p|| < beta`` is zero at every optimum and is dropped for
   the rest of this solve; once fewer than a quarter of the columns remain, passes gather only
   those. When the screened problem reaches the tolerance, one full pass recomputes the
   certificate over every column, so the reported dual point is feasible for the whole
   dictionary. Off by default because on spike dictionaries the rule bites only in the last
   iteration or two, where that extra full pass costs more than it saves (measured).
3. Working set: the support plus the columns whose dual constraint is closest to violated,
   ranked by ``(beta - s ||Z_p||) / ||Dc_p||`` (the distance from Lambda to the constraint);
   size ``max(250, 2 |support|)``, doubled when an iteration did not halve the gap.
4. Solve the sub-problem on the working set to a gap of 0.01x the outer gap by block coordinate
   descent in Gram form with Anderson acceleration (:mod:`neurorecon.solve.working_set`); the
   working set's Gram matrix and ``B = Dc_ws^T Yc`` are cached and extended across iterations
   (across the betas of :func:`solve_path`; across solves on a growing dictionary with a
   :class:`GramCache`). Go to 1. Sub-problems are cheap next to a pass over D, so they are
   solved accurately and a solve typically takes 4-6 passes. When the working set holds every
   column and iterations stop shrinking the gap (``STALL_PASSES``), the gap is at the precision
   floor of the error bounds and the solve stops there, unconverged.

What lives on the client: the working set's Gram matrix G (m x m float64, m <= ``WS_MAX`` beyond
twice the support) and B (m x C), the residual R and its digits (n x C, n x J*C), Z (P x C) and
W. The dictionary's columns stay where its row blocks are (memory, disk, Dask workers): G is
extended by one reduction over the blocks returning ``D_b[:, new]^T D_b[:, ws]`` (exact integer
sums), so results have the same bits for any block split (:mod:`neurorecon.solve.operator`).

Certified to rounding: the correlations are exact up to a known bound (see
:mod:`neurorecon.solve.operator`), and the dual constraints are inflated by that bound, so the
dual point is feasible for the exact products; the residual is within a known bound of the exact
one, and the primal value is taken at that bound (an upper bound on the exact primal).

``solver="cvxpy"`` solves the same problem with CVXPY (Clarabel by default, SCS as an option):
the reference the native solver is tested against; its certificate is computed by the same code
from the W it returns.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from neurorecon.errors import NeuroreconError
from neurorecon.solve.certificate import check_penalty, certify, row_scores
from neurorecon.solve.working_set import bcd
from neurorecon.solve.operator import DictionaryOperator, as_operator
from neurorecon.solve.result import SolveResult, certificate_result

SOLVERS = ("native", "cvxpy")
WS_MIN = 250  # smallest working set (passes over D cost more than sub-problems: start big)
INNER_RHO = 0.01  # sub-problem gap target, relative to the outer gap (sub-problems are cheap, passes are not)
MAX_EPOCHS = 20_000  # per sub-problem
WS_MAX = 8192  # largest working set beyond twice the support (client memory: its Gram matrix is m x m float64)
# An iteration whose working set held every column gets the gap to INNER_RHO of what it was; when
# such iterations STALL_PASSES times in a row do not even halve it, the gap is at the floor of the
# products' error bounds (tol below what float64 can certify): the solve stops there, unconverged.
STALL_PASSES = 2


def beta_max(D, Y, penalty: str = "group", *, fit_intercept: bool = True, standardize: bool = False) -> float:
    """The smallest beta for which W = 0 is optimal: ``max_p ||Dc_p^T Yc|| / sigma_p`` (or the max |.| for l1)."""
    check_penalty(penalty)
    op = as_operator(D, fit_intercept, standardize)
    Y = _check_targets(Y, op.n)
    Yc = Y - Y.mean(axis=0) if op.fit_intercept else Y
    return float(row_scores(op.correlations(Yc), penalty).max())


def dual_violation(d_columns, dual_point, beta: float, penalty: str = "group", *,
                   standardize: bool = False) -> np.ndarray:
    """``||d^T Λ||_2 / beta`` (group) or ``max_c |d^T Λ_c| / beta`` (l1) for each new column d.

    ``d_columns`` (n, k), or a :class:`DictionaryOperator` of them (its own ``standardize``
    applies; row blocks are checked where they live). Values above 1 violate the dual
    constraint: adding that column can lower the objective (column generation). With an
    intercept Λ sums to zero, so raw and centred columns give the same value. ``standardize``:
    each column divided by its own standard deviation, as a standardized solve on the same rows
    would weigh it. The products are the operator's (exact for integer columns).
    """
    check_penalty(penalty)
    beta = _check_beta(beta)
    lam = np.asarray(dual_point, dtype=np.float64)
    if lam.ndim != 2 or not np.all(np.isfinite(lam)):
        raise NeuroreconError(f"dual_point must be a finite (n, C) array; got shape {lam.shape}")
    if isinstance(d_columns, DictionaryOperator):
        op = d_columns
    else:
        d = np.asarray(d_columns)
        if d.ndim == 1:
            d = d[:, None]
        if d.ndim != 2 or d.shape[0] != lam.shape[0]:
            raise NeuroreconError(f"d_columns must have shape ({lam.shape[0]}, k); got {d.shape}")
        if d.shape[1] == 0:
            return np.zeros(0)
        op = DictionaryOperator(d, standardize=standardize)
    if op.n != lam.shape[0]:
        raise NeuroreconError(f"the columns have {op.n} rows but dual_point has {lam.shape[0]}")
    return row_scores(op.correlations(lam), penalty) / beta


def evaluate(
    D, Y, W, beta: float, *, penalty: str = "group", fit_intercept: bool = True, tol: float = 1e-6,
    standardize: bool = False,
) -> SolveResult:
    """The certificate of any readout ``W`` (P, C): objective, dual point, relative gap.

    The intercept is the optimal one for W. ``converged`` says whether the gap is <= tol. Use it
    to check a W from elsewhere (a quantized readout, another solver).
    """
    start = time.perf_counter()
    check_penalty(penalty)
    beta = _check_beta(beta)
    op = as_operator(D, fit_intercept, standardize)
    Y = _check_targets(Y, op.n)
    W = _check_warm_start(W, None, op.P, Y.shape[1])
    if W is None:
        raise NeuroreconError("W is required")
    return _for_dictionary(certificate_result(op, Y, op.to_operator_units(W), beta, penalty, tol, start), op)


def solve(
    D,
    Y,
    beta: float,
    *,
    penalty: str = "group",
    tol: float = 1e-6,
    max_iter: int = 200,
    W0=None,
    intercept0=None,
    solver: str = "native",
    fit_intercept: bool = True,
    screen: bool = False,
    standardize: bool = False,
    cvxpy_solver: str = "CLARABEL",
    solver_options: dict | None = None,
    verbose: bool = False,
    cache: GramCache | None = None,
) -> SolveResult:
    """Minimise ``0.5 ||D W + 1 b^T - Y||^2 + beta Omega(W)``; stop at relative gap <= tol.

    ``D`` (n, P): array (float32 used in place; bool/int converted to float32) or a
    :class:`DictionaryOperator`. ``Y`` (n, C) or (n,). ``max_iter`` bounds the outer (working-set)
    iterations. ``W0`` warm-starts; ``intercept0`` is accepted for symmetry but not needed: the
    intercept is eliminated exactly, so it is a function of W. ``fit_intercept=False`` drops b.
    ``solver="cvxpy"`` uses CVXPY with ``cvxpy_solver`` ("CLARABEL" or "SCS") and
    ``solver_options`` (it ignores W0, max_iter and screen; meant for small problems).
    ``screen`` turns on gap-safe screening (see the module docstring). ``standardize`` weighs
    each column's penalty by its standard deviation (see the module docstring); W stays in D's units.
    ``cache``: a :class:`GramCache` to fill, or one filled by an earlier solve on a dictionary
    whose columns this one extends or cuts short (same rows and weighing): their shared Gram
    products are not computed again.
    """
    start = time.perf_counter()
    check_penalty(penalty)
    beta = _check_beta(beta)
    if solver not in SOLVERS:
        raise NeuroreconError(f"solver must be one of {SOLVERS}; got {solver!r}")
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise NeuroreconError(f"tol must be in (0, 1); got {tol!r}")
    if not (isinstance(max_iter, (int, np.integer)) and max_iter >= 1):
        raise NeuroreconError(f"max_iter must be a positive integer; got {max_iter!r}")
    if cache is not None and not isinstance(cache, GramCache):
        raise NeuroreconError(f"cache must be a GramCache or None; got {type(cache).__name__}")
    op = as_operator(D, fit_intercept, standardize)
    Y = _check_targets(Y, op.n)
    W0 = _check_warm_start(W0, intercept0, op.P, Y.shape[1])
    if solver == "cvxpy":
        from neurorecon.solve.cvxpy_reference import solve_cvxpy

        return _for_dictionary(solve_cvxpy(op, Y, beta, penalty, tol, cvxpy_solver, solver_options or {}, start), op)
    W0 = None if W0 is None else op.to_operator_units(W0)
    engine = _WorkingSet(op, penalty, cache)
    return _for_dictionary(engine.solve(Y, beta, tol, max_iter, W0, screen, verbose, start), op)


def _for_dictionary(result: SolveResult, op: DictionaryOperator) -> SolveResult:
    """The result of a solve on ``op`` with W for D's own columns (and the scale it used)."""
    if op.standardize:
        result.W = op.to_dictionary_units(result.W)
        result.column_scale = op.column_scale
    return result


def solve_path(
    D,
    Y,
    betas: Sequence[float],
    *,
    penalty: str = "group",
    tol: float = 1e-6,
    max_iter: int = 200,
    fit_intercept: bool = True,
    screen: bool = False,
    standardize: bool = False,
    verbose: bool = False,
) -> list[SolveResult]:
    """Solve for each beta (non-increasing), each warm-started from the previous solution.

    One dictionary pass validates D; the working set's cached Gram matrix carries over from one
    beta to the next.
    """
    check_penalty(penalty)
    betas = [_check_beta(b) for b in betas]
    if not betas:
        raise NeuroreconError("betas is empty")
    if any(b2 > b1 for b1, b2 in zip(betas, betas[1:])):
        raise NeuroreconError("betas must be non-increasing (the path is warm-started from large beta down)")
    op = as_operator(D, fit_intercept, standardize)
    Y = _check_targets(Y, op.n)
    engine = _WorkingSet(op, penalty)
    results, W = [], None
    for beta in betas:
        res = engine.solve(Y, beta, tol, max_iter, W, screen, verbose)
        W = res.W
        results.append(_for_dictionary(res, op))
    return results


class GramCache:
    """The working set's centred Gram matrix ``G = Dc_ws^T Dc_ws`` (m x m) and ``B = Dc_ws^T Yc``
    (m x C), kept across working-set changes and across solves: only the products of columns new
    to the set are computed, by reductions over D's row blocks (:meth:`DictionaryOperator.gram`,
    :meth:`DictionaryOperator.correlations`). The columns themselves stay where the blocks are.

    Order: the columns that stay keep their order, new ones are appended (sorted), so G and B are
    extended by blocks instead of being re-indexed.

    Passed to :func:`solve` (``cache=``), it carries over to the next solve on a dictionary whose
    columns extend, or cut short, the ones it was filled from (the same rows and weighing): column
    generation appends columns and re-solves, and its m x m Gram matrix would otherwise be computed
    again in full every round. A column is kept only where the new operator agrees with the old on
    its sums, squared norms and scale; any other operator starts the cache afresh.
    """

    def __init__(self):
        self.op: DictionaryOperator | None = None
        self.idx = np.zeros(0, dtype=np.intp)
        self.G = np.zeros((0, 0))
        self.Yc = None
        self.B = np.zeros((0, 0))

    def bind(self, op: DictionaryOperator) -> "GramCache":
        """Serve ``op`` from now on, keeping the columns it shares with the previous operator."""
        if op is self.op:
            return self
        shared = np.zeros(len(self.idx), dtype=bool)
        old = self.op
        if old is not None and (op.n, op.fit_intercept, op.standardize) == (old.n, old.fit_intercept, old.standardize):
            shared = self.idx < op.P
            cols = self.idx[shared]
            if not all(np.array_equal(getattr(op, name)[cols], getattr(old, name)[cols])
                       for name in ("col_sums", "col_sq_norms", "column_scale")):
                shared[:] = False
        self.op = op
        self._keep(np.flatnonzero(shared))
        return self

    def targets(self, Yc: np.ndarray) -> None:
        """Use the centred targets ``Yc`` for B (recomputed for the cached columns if they changed)."""
        if self.Yc is not None and self.Yc.shape == Yc.shape and np.array_equal(self.Yc, Yc):
            return
        self.Yc = Yc.copy()
        self.B = self.op.correlations(Yc, self.idx) if len(self.idx) else np.zeros((0, Yc.shape[1]))

    def update(self, cols: np.ndarray) -> None:
        """Make the cache hold exactly the columns ``cols`` (in the cache's own order)."""
        kept = np.flatnonzero(np.isin(self.idx, cols))
        fresh = np.setdiff1d(cols, self.idx)
        if len(fresh) == 0 and len(kept) == len(self.idx):
            return
        self._keep(kept)
        if len(fresh):
            cross, square = self.op.gram(fresh, self.idx)
            self.G = np.block([[self.G, cross.T], [cross, square]])
            self.B = np.concatenate([self.B, self.op.correlations(self.Yc, fresh)])
            self.idx = np.concatenate([self.idx, fresh]).astype(np.intp)

    def _keep(self, positions: np.ndarray) -> None:
        """Keep only the cached columns at ``positions`` (in order)."""
        if len(positions) == len(self.idx):
            return
        self.G = self.G.take(positions, axis=0).take(positions, axis=1)
        self.B = self.B[positions]
        self.idx = self.idx[positions]


class _WorkingSet:
    """The native working-set solver on one dictionary (its column cache outlives one solve)."""

    def __init__(self, op: DictionaryOperator, penalty: str, cache: GramCache | None = None):
        self.op = op
        self.penalty = penalty
        self.cache = (GramCache() if cache is None else cache).bind(op)

    def solve(self, Y, beta, tol, max_iter, W0, screen, verbose, start=None) -> SolveResult:
        """``start``: the caller's clock start, so that ``seconds`` includes validating D."""
        start = time.perf_counter() if start is None else start
        op, penalty, cache = self.op, self.penalty, self.cache
        P, C = op.P, Y.shape[1]
        ybar = Y.mean(axis=0) if op.fit_intercept else np.zeros(C)
        Yc = Y - ybar
        yy = np.einsum("ic,ic->c", Yc, Yc)
        cache.targets(Yc)
        W = np.zeros((P, C)) if W0 is None else W0.copy()
        W[op.col_norms == 0] = 0.0  # constant columns do nothing (intercept) or are zero columns
        kept = np.ones(P, dtype=bool)  # not screened out
        usable = op.col_norms > 0
        ws_size = min(WS_MIN, int(usable.sum()))
        epochs, history, last_gap, screened = 0, [], np.inf, 0
        converged, cert, R, Z = False, None, None, None
        outer, whole, stalls = 0, False, 0
        while True:
            support = np.flatnonzero(np.any(W != 0, axis=1))
            R, r_error = op.residual(Yc, W[support], support)
            full = bool(kept.all())
            Z = _correlations(op, R, kept)
            error = op.correlation_error(R)
            cert = certify(R, Yc, Z, W, beta, penalty, error, r_error)
            history.append((time.perf_counter() - start, cert.gap, len(cache.idx)))
            stalls = stalls + 1 if whole and cert.gap > 0.5 * last_gap else 0
            if verbose:
                print(f"[solver] it {outer:3d}  gap {cert.gap:.3e}  primal {cert.primal:.10g}  "
                      f"support {len(support)}  ws {len(cache.idx)}  kept {int(kept.sum())}  epochs {epochs}")
            if cert.gap <= tol:
                if full:
                    converged = True
                    break
                kept[:] = True  # certify over every column before stopping
                continue
            if outer >= max_iter or stalls == STALL_PASSES:
                if not full:  # report a certificate valid for the whole dictionary
                    kept[:] = True
                    Z = _correlations(op, R, kept)
                    cert = certify(R, Yc, Z, W, beta, penalty, error, r_error)
                break
            outer += 1
            scores = _scaled_scores(Z, cert.scale, penalty)
            if screen:
                radius = np.sqrt(2.0 * max(cert.gap_abs, 0.0))
                drop = kept & (scores + _scaled_scores(error, cert.scale, penalty) + radius * op.col_norms < beta)
                drop[support] = False
                kept &= ~drop
                screened = max(screened, int(P - kept.sum()))
            with np.errstate(divide="ignore", invalid="ignore"):
                priority = (beta - scores) / op.col_norms
            priority[~(kept & usable)] = np.inf
            priority[support] = -np.inf
            if cert.gap > 0.5 * last_gap:  # the last working set did not halve the gap: grow it
                ws_size *= 2
            ws_size = min(max(ws_size, WS_MIN), WS_MAX)
            ws_size = min(max(ws_size, 2 * len(support)), P)
            candidates = int(np.sum(priority < np.inf))
            last_gap = cert.gap
            cache.update(np.argsort(priority, kind="stable")[:min(ws_size, candidates)])
            ws, B = cache.idx, cache.B
            whole = len(ws) == candidates
            tol_in = max(INNER_RHO * cert.gap_abs, 0.2 * tol * cert.primal)
            W_ws, used, _ = bcd(cache.G, B, W[ws], yy, beta, penalty, tol_in, MAX_EPOCHS)
            epochs += used
            W[:] = 0.0
            W[ws] = W_ws
        support = np.flatnonzero(np.any(W != 0, axis=1))
        intercept = ybar - op.col_means[support] @ W[support]
        return SolveResult(
            W=W,
            intercept=intercept,
            primal=cert.primal,
            dual=cert.dual,
            gap=cert.gap,
            dual_point=R * cert.scale,
            iterations=epochs,
            seconds=time.perf_counter() - start,
            converged=converged,
            support=support,
            beta=beta,
            penalty=penalty,
            solver="native",
            outer_iterations=outer,
            history=history,
            info={"screened": screened, "working_set": len(cache.idx), "exact_float32": op.exact_float32},
        )


def _scaled_scores(Z: np.ndarray, scale: np.ndarray, penalty: str) -> np.ndarray:
    """Per column, the dual-constraint value at the scaled dual point ``scale * R``."""
    if penalty == "group":
        return row_scores(Z, penalty) * scale[0]
    return np.abs(Z * scale).max(axis=1)


def _correlations(op: DictionaryOperator, R: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """``D^T R`` over the kept columns (zeros elsewhere); a gathered pass only when it pays."""
    if kept.all() or kept.mean() > 0.25:
        Z = op.correlations(R)
        Z[~kept] = 0.0
        return Z
    Z = np.zeros((op.P, R.shape[1]))
    cols = np.flatnonzero(kept)
    if len(cols):
        Z[cols] = op.correlations(R, cols)
    return Z


def _check_beta(beta) -> float:
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise NeuroreconError(f"beta must be a number; got {beta!r}") from None
    if not np.isfinite(beta) or beta <= 0:
        raise NeuroreconError(
            f"beta must be finite and > 0; got {beta!r} (beta = 0 is unregularised least squares, "
            "which has no certificate here)"
        )
    return beta


def _check_targets(Y, n: int) -> np.ndarray:
    try:
        Y = np.array(Y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise NeuroreconError(f"Y is not an array of numbers: {exc}") from None
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2 or Y.shape[1] == 0:
        raise NeuroreconError(f"Y must have shape (n_samples, n_classes) or (n_samples,); got {Y.shape}")
    if Y.shape[0] != n:
        raise NeuroreconError(f"Y has {Y.shape[0]} samples but D has {n} rows")
    if not np.all(np.isfinite(Y)):
        raise NeuroreconError("Y contains NaN or infinite values")
    return Y


def _check_warm_start(W0, intercept0, P: int, C: int):
    if intercept0 is not None:
        b = np.asarray(intercept0, dtype=np.float64)
        if b.shape != (C,) or not np.all(np.isfinite(b)):
            raise NeuroreconError(f"intercept0 must be a finite array of shape ({C},); got shape {b.shape}")
    if W0 is None:
        return None
    W0 = np.array(W0, dtype=np.float64)
    if W0.ndim == 1 and C == 1:
        W0 = W0[:, None]
    if W0.shape != (P, C):
        raise NeuroreconError(f"W0 must have shape ({P}, {C}); got {W0.shape}")
    if not np.all(np.isfinite(W0)):
        raise NeuroreconError("W0 contains NaN or infinite values")
    return W0
