"""The quantization-aware readout: its scale search at low weight bits, and the chip's limits."""

import numpy as np
import pytest

import neurorecon.train.convex.integer_readout as integer_readout
from neurorecon.profiles import load_profile
from neurorecon.quantize.scale import weight_grid
from neurorecon.readout import Readout
from neurorecon.train.convex.integer_readout import (VOLTAGE_CEILING, chip_scores, chip_scores_side_by_side,
                                                     fit_integer_readout, make_layer)

T, S, C, N = 10, 40, 3, 600


def _problem(outlier: float):
    """A count readout whose least-squares weights are moderate, but for one rarely spiking
    neuron whose weights are ``outlier`` times the others' largest (what a weighed penalty gives)."""
    rng = np.random.default_rng(4)
    raster = (rng.random((N, T + 1, S)) < rng.uniform(0.05, 0.4, S)).astype(np.uint8)
    raster[:, :, 0] = 0
    raster[:3, 2, 0] = 1  # neuron 0 spikes in three sequences
    F = raster.sum(axis=1).astype(np.float64)
    truth = rng.standard_normal((S, C))
    labels = np.argmax((F - F.mean(axis=0)) @ truth, axis=1)
    Y = np.eye(C)[labels]
    Fc = F - F.mean(axis=0)
    W = np.linalg.solve(Fc.T @ Fc + 1e-3 * np.eye(S), Fc.T @ (Y - Y.mean(axis=0)))
    W[0] = outlier * np.abs(W[1:]).max() * np.sign(rng.standard_normal(C))
    intercept = Y.mean(axis=0) - F.mean(axis=0) @ W
    return W, intercept, raster, Y, labels


def _fit(problem, bits: int):
    W, intercept, raster, Y, _ = problem
    return fit_integer_readout(W, intercept, raster, Y, 1e-3, "group", Readout("count"), load_profile("loihi2"),
                               T, 0, weight_bits=bits, refine=False)


@pytest.mark.parametrize("bits", [3, 4])
def test_clipping_the_largest_weights_resolves_the_others_at_low_bits(monkeypatch, bits):
    problem = _problem(outlier=8.0)
    labels = problem[-1]
    layer, report, Z = _fit(problem, bits)
    monkeypatch.setattr(integer_readout, "MAX_CLIP_DOUBLINGS", 0)
    _, unclipped, Z_unclipped = _fit(problem, bits)
    assert report.scale > unclipped.scale  # the search clipped
    assert report.objective_rounded < unclipped.objective_rounded
    assert (Z.argmax(axis=1) == labels).mean() > (Z_unclipped.argmax(axis=1) == labels).mean() + 0.1
    assert np.abs(layer.weights[:, 0]).max() >= weight_grid(np.array([-1.0, 1.0]), bits).magnitude  # clipped


def test_the_chosen_readout_keeps_the_chip_limits_and_its_scores_are_the_emulators():
    problem = _problem(outlier=8.0)
    raster = problem[2]
    layer, report, Z = _fit(problem, 4)
    again, v_peak, a_peak = chip_scores(layer, raster, Readout("count"), T, 0)
    np.testing.assert_array_equal(Z, again)
    assert v_peak == report.voltage_peak <= VOLTAGE_CEILING
    assert a_peak == report.accumulator_peak < 2 ** (load_profile("loihi2").precision.accumulator_bits - 1)


@pytest.mark.parametrize("kind", ["count", "step"])
def test_readouts_scored_side_by_side_get_the_integers_each_gets_alone(kind):
    rng = np.random.default_rng(7)
    raster = (rng.random((N, T + 1, S)) < 0.3).astype(np.uint8)
    readout = Readout(kind)
    # large mantissas and biases: some voltages run into the chip's limits, which must stay per neuron
    layers = [make_layer(rng.integers(-128, 128, (S, C)), rng.integers(-4096, 4096, C), rng.integers(0, 8, C), exponent,
                         8, readout) for exponent in (0, 0, 0)]
    together = chip_scores_side_by_side(layers, raster, readout, T, 0)
    for layer, (Z, v_peak, a_peak) in zip(layers, together):
        alone = chip_scores(layer, raster, readout, T, 0)
        np.testing.assert_array_equal(Z, alone[0])
        assert (v_peak, a_peak) == alone[1:]
    assert not np.array_equal(together[0][0], together[1][0])


def test_at_eight_bits_without_outliers_the_grid_filling_scale_is_kept():
    problem = _problem(outlier=1.0)
    layer, report, _ = _fit(problem, 8)
    W = problem[0]
    assert report.scale * np.abs(W).max() <= 256  # no weight clipped


def test_refinement_from_larger_scales_never_ends_above_the_best_rounded_readout(monkeypatch):
    problem = _problem(outlier=8.0)
    W, intercept, raster, Y, labels = problem
    refined = fit_integer_readout(W, intercept, raster, Y, 1e-3, "group", Readout("count"), load_profile("loihi2"),
                                  T, 0, weight_bits=4)[1]
    assert refined.objective_refined < refined.objective_rounded and refined.moves > 0
    monkeypatch.setattr(integer_readout, "MAX_CLIP_DOUBLINGS", 0)  # refinement from the grid-filling scale only
    alone = fit_integer_readout(W, intercept, raster, Y, 1e-3, "group", Readout("count"), load_profile("loihi2"),
                                T, 0, weight_bits=4)[1]
    assert refined.objective_refined <= alone.objective_refined


def _correlated_problem():
    """A count readout over near-copies of a few neurons: least squares gives them large weights
    of opposite signs that cancel, which rounding each weight alone does not keep."""
    rng = np.random.default_rng(11)
    base = (rng.random((N, T + 1, 8)) < rng.uniform(0.1, 0.4, 8)).astype(np.uint8)
    flips = rng.random((N, T + 1, S)) < 0.03
    raster = (base[:, :, np.arange(S) % 8] ^ flips).astype(np.uint8)
    F = raster.sum(axis=1).astype(np.float64)
    labels = np.argmax((F - F.mean(axis=0)) @ rng.standard_normal((S, C)), axis=1)
    Y = np.eye(C)[labels]
    Fc = F - F.mean(axis=0)
    W = np.linalg.solve(Fc.T @ Fc + 1e-3 * np.eye(S), Fc.T @ (Y - Y.mean(axis=0)))
    return W, Y.mean(axis=0) - F.mean(axis=0) @ W, raster, Y, F


def _snap_each(self, target, grid):
    return grid.snap(target)


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_error_feedback_keeps_the_rounded_scores_nearer_the_float_ones_than_rounding_each_weight(monkeypatch, bits):
    W, intercept, raster, Y, F = _correlated_problem()
    grid = weight_grid(np.array([-1.0, 1.0]), bits)
    q = grid.magnitude / np.abs(W).max()
    rounding = integer_readout._RoundingOrder.of(F)
    carried, alone = rounding.round(q * W, grid), grid.snap(q * W)
    assert grid.lo <= carried.min() and carried.max() <= grid.hi and (carried % grid.step == 0).all()
    distance = lambda M: np.linalg.norm(F @ (M / q - W))
    assert distance(carried) < 0.8 * distance(alone)
    # and through the whole fit: the best rounded readout's objective on the exact chip scores is lower
    fitted = fit_integer_readout(W, intercept, raster, Y, 1e-3, "group", Readout("count"), load_profile("loihi2"),
                                 T, 0, weight_bits=bits, refine=False)[1]
    monkeypatch.setattr(integer_readout._RoundingOrder, "round", _snap_each)
    plain = fit_integer_readout(W, intercept, raster, Y, 1e-3, "group", Readout("count"), load_profile("loihi2"),
                                T, 0, weight_bits=bits, refine=False)[1]
    assert fitted.objective_rounded < plain.objective_rounded


def test_error_feedback_is_plain_rounding_for_neurons_that_never_spike_together():
    rng = np.random.default_rng(3)
    F = np.zeros((60, 6))
    F[np.arange(60), np.arange(60) % 6] = rng.integers(1, 5, 60)  # each row one neuron: F^T F is diagonal
    target = rng.normal(0, 40, (6, C))
    grid = weight_grid(np.array([-1.0, 1.0]), 4)
    np.testing.assert_array_equal(integer_readout._RoundingOrder.of(F).round(target, grid), grid.snap(target))


def _refine_one_move_at_a_time(F, Y, M, bias, q, beta, penalty, sigma, step, lo, hi):
    """Reference: the coordinate descent scalar by scalar (neuron, class, step), objective from F."""
    M = M.astype(np.float64).copy()
    R = F @ M / q + bias - Y
    col_sq = (F**2).sum(axis=0)
    for _ in range(integer_readout.MAX_SWEEPS):
        improved = 0
        for p in np.flatnonzero(col_sq > 0):
            g = F[:, p] @ R
            for c in range(M.shape[1]):
                before = np.linalg.norm(M[p]) if penalty == "group" else abs(M[p, c])
                best, best_delta = 0.0, 0.0
                for delta in (-step, step):
                    new = M[p, c] + delta
                    if lo <= new <= hi:
                        d = delta / q
                        after = np.sqrt(max(before**2 - M[p, c] ** 2 + new**2, 0.0)) if penalty == "group" else abs(new)
                        change = d * g[c] + 0.5 * d * d * col_sq[p] + beta * sigma[p] * (after - before) / q
                        if change < best - 1e-12:
                            best, best_delta = change, delta
                if best_delta:
                    M[p, c] += best_delta
                    R[:, c] += F[:, p] * (best_delta / q)
                    g[c] = F[:, p] @ R[:, c]
                    improved += 1
        if not improved:
            break
    return M.astype(np.int64)


def _small_refinement_problem(penalty):
    rng = np.random.default_rng(7)
    n, P, classes = 200, 12, 3
    F = rng.poisson(2.0, (n, P)).astype(np.float64)
    Y = np.eye(classes)[rng.integers(0, classes, n)]
    start = rng.integers(-3, 4, (P, classes))
    # F, Y, start, bias, q, beta, penalty, sigma, step, lo, hi
    return F, Y, start, rng.standard_normal(classes) * 0.1, 20.0, 0.5, penalty, rng.uniform(0.5, 2.0, P), 1.0, -7.0, 7.0


def _refinement_objective(M, F, Y, bias, q, beta, penalty, sigma):
    residual = F @ M / q + bias - Y
    rows = np.linalg.norm(M, axis=1) if penalty == "group" else np.abs(M).sum(axis=1)
    return 0.5 * (residual**2).sum() + beta * (sigma * rows).sum() / q


@pytest.mark.parametrize("penalty", ["group", "l1"])
def test_refinement_moves_as_the_scalar_coordinate_descent_does(penalty):
    """The compiled refinement takes the moves of the scalar reference above (numpy, scalar by
    scalar), and lowers the objective."""
    problem = _small_refinement_problem(penalty)
    F, Y, start, bias, q, beta, _, sigma, *_ = problem
    M, moves = integer_readout._refine(*problem)
    np.testing.assert_array_equal(M, _refine_one_move_at_a_time(*problem))
    assert moves > 0
    assert _refinement_objective(M, F, Y, bias, q, beta, penalty, sigma) < \
        _refinement_objective(start, F, Y, bias, q, beta, penalty, sigma)


@pytest.mark.parametrize("penalty", ["group", "l1"])
def test_refinement_without_a_sweep_limit_ends_where_no_grid_step_lowers_the_objective(monkeypatch, penalty):
    monkeypatch.setattr(integer_readout, "MAX_SWEEPS", 1000)
    problem = _small_refinement_problem(penalty)
    F, Y, start, bias, q, beta, _, sigma, step, lo, hi = problem
    M, _ = integer_readout._refine(*problem)
    assert M.min() >= lo and M.max() <= hi
    final = _refinement_objective(M, F, Y, bias, q, beta, penalty, sigma)
    for p in range(M.shape[0]):
        for c in range(M.shape[1]):
            for delta in (-step, step):
                moved = M.astype(np.float64)
                moved[p, c] += delta
                if lo <= moved[p, c] <= hi:
                    assert _refinement_objective(moved, F, Y, bias, q, beta, penalty, sigma) >= final - 1e-9
