"""The primal–dual gap certificate of the (group) Lasso readout, from any W.

Primal (intercept eliminated: ``Yc``, ``Dc`` centred, ``R = Yc - Dc W``)::

    P(W) = 0.5 ||R||_F^2 + beta * Omega(W),   Omega = sum_p ||W_p||_2 (group) or sum |W_pc| (l1)

Dual (Lagrange dual of the problem with the intercept; ``1^T Lambda = 0`` is its optimality
condition)::

    D(Lambda) = <Lambda, Y> - 0.5 ||Lambda||_F^2
    s.t. ||D_p^T Lambda||_2 <= beta (group) or |D_p^T Lambda_c| <= beta (l1), and 1^T Lambda = 0.

Weak duality gives ``D(Lambda) <= min P <= P(W)`` for every feasible Lambda, so ``P(W) - D(Lambda)``
bounds W's suboptimality. The dual point is the residual, scaled into the feasible set:
``Lambda = s R`` with ``s = min(1, beta / max_p ||D_p^T R||)`` (one scale for the group penalty; one
per class for l1, whose dual separates by class). R is centred, so ``1^T Lambda = 0``. At the
optimum ``Lambda* = R*`` and the gap is zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurorecon.errors import NeuroreconError

PENALTIES = ("group", "l1")


@dataclass(eq=False, frozen=True)
class Certificate:
    """Primal and dual values at ``W`` and the dual point ``scale * R``."""

    primal: float
    dual: float
    gap_abs: float  # primal - dual (>= 0 up to rounding)
    gap: float  # relative: gap_abs / max(primal, tiny)
    scale: np.ndarray  # (C,) the dual scaling s of each class (equal for "group")


def check_penalty(penalty: str) -> str:
    if penalty not in PENALTIES:
        raise NeuroreconError(f"penalty must be one of {PENALTIES}; got {penalty!r}")
    return penalty


def penalty_value(W: np.ndarray, penalty: str) -> float:
    """``Omega(W)``: sum of row norms (group) or of absolute values (l1)."""
    if penalty == "group":
        return float(np.sqrt(np.einsum("pc,pc->p", W, W)).sum())
    return float(np.abs(W).sum())


def row_scores(Z: np.ndarray, penalty: str) -> np.ndarray:
    """Per column p the dual-constraint value of ``Z = D^T Lambda``: ``||Z_p||_2`` or ``max_c |Z_pc|``."""
    if Z.shape[0] == 0:
        return np.zeros(0)
    if penalty == "group":
        return np.sqrt(np.einsum("pc,pc->p", Z, Z))
    return np.abs(Z).max(axis=1)


def dual_scale(Z: np.ndarray, beta: float, penalty: str, error: np.ndarray | None = None) -> np.ndarray:
    """The largest ``s`` (per class, C,) with ``s * Z`` inside the dual feasible set.

    ``error`` (P x C) bounds the absolute error of each entry of Z; the constraint values are
    inflated by it, so the scaled point is feasible for the exact Z too.
    """
    C = Z.shape[1]
    if Z.shape[0] == 0:
        return np.ones(C)
    if penalty == "group":
        scores = row_scores(Z, penalty)
        if error is not None:
            scores = scores + row_scores(error, penalty)
        top = np.full(C, scores.max())
    else:
        A = np.abs(Z)
        if error is not None:
            A = A + error
        top = A.max(axis=0)
    with np.errstate(divide="ignore"):
        return np.where(top > beta, beta / np.maximum(top, 1e-300), 1.0)


def certify_parts(rr: np.ndarray, ry: np.ndarray, omega: float, scale: np.ndarray, beta: float,
                  rr_primal: np.ndarray | None = None) -> Certificate:
    """The certificate from per-class ``||R_c||^2`` (rr), ``<R_c, Yc_c>`` (ry), ``Omega(W)`` and ``s``.

    ``rr_primal``: an upper bound on the exact residual's ``||R*_c||^2`` for the primal value when
    R is only within a bound of it (default: rr). The dual value uses R itself, the dual point.
    """
    primal = 0.5 * float((rr if rr_primal is None else rr_primal).sum()) + beta * omega
    dual = float(np.sum(scale * ry - 0.5 * scale**2 * rr))
    gap_abs = primal - dual
    return Certificate(primal, dual, gap_abs, gap_abs / max(primal, np.finfo(float).tiny), scale)


def certify(
    R: np.ndarray, Yc: np.ndarray, Z: np.ndarray, W: np.ndarray, beta: float, penalty: str,
    error: np.ndarray | None = None, residual_error: np.ndarray | None = None,
) -> Certificate:
    """The gap of ``W`` from its residual R (n x C), centred targets Yc, ``Z = D^T R`` (all
    columns) and the error bound of Z's entries per column (see :func:`dual_scale`).

    ``residual_error`` (C,) bounds ``||R_c - R*_c||_2``, R* the exact residual of W: the primal
    value is then taken at ``(||R_c|| + residual_error_c)^2 >= ||R*_c||^2``, an upper bound on the
    exact primal. The dual point is ``s R`` itself, so its value and feasibility (``Z`` and its
    ``error``) need no residual bound: the gap stays an upper bound on W's suboptimality.
    """
    rr = np.einsum("ic,ic->c", R, R)
    ry = np.einsum("ic,ic->c", R, Yc)
    rr_primal = None if residual_error is None else (np.sqrt(rr) + residual_error) ** 2
    return certify_parts(rr, ry, penalty_value(W, penalty), dual_scale(Z, beta, penalty, error), beta, rr_primal)
