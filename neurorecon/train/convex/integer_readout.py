"""Quantization-aware readout: the convex readout on the chip's integer grid, refined there.

The hidden layers are already on the grid (witnesses are drawn there), so the only thing left
to quantize is the readout. Given the exact spike raster ``H`` of the selected hidden neurons on
the training data, the chip's readout is a known integer function of (mantissas M, weight
exponent e, bias): :func:`chip_scores` computes it exactly by running the readout layer alone in
the emulator on ``H``. Steps:

1. Scale: mantissas ``M ~ q * W``. For each exponent e from 0 down, q is at most the largest
   value with the 16-bit accumulator ``|2**e * (M h_t)| < 2**15`` and the output voltage clear
   of the spiking threshold (peaks measured on ``H``, with a margin); within that, the scale
   that puts the largest weight at the grid's edge, and it doubled up to ``MAX_CLIP_DOUBLINGS``
   times: larger scales clip the largest weights so the others are resolved (at 4 bits, a few
   large weights otherwise round every other one to zero: seq-MNIST's default fell from 95.5 %
   at 8 bits to 68.5 %); clipped readouts have their peaks checked on the exact scores. The
   (exponent, scale) whose rounded readout has the lowest convex objective under the *exact*
   chip scores wins.
2. Round with error feedback (GPTQ's rule, Frantar et al. 2023): neurons are rounded one at a
   time, the most active first, and each one's rounding error ``e`` is carried onto the neurons
   not yet rounded through the inverse Gram matrix of the features (``H = F^T F``, damped by
   ``ROUNDING_DAMPING`` of its mean diagonal): with ``U`` the upper Cholesky factor of ``H^-1``,
   the rows after p take ``- U[p, p+1:]^T e / U[p, p]``, which keeps ``F M / q`` near ``F W``.
   Rounding each weight alone left the readouts of priced neurons on every input far from their
   float scores (seq-MNIST-10k at 4 bits: objective 578,111 rounded, 1,401 refined, chip 92.75 %
   against 96.4 % float; with error feedback 884 and 760, chip 96.4 %).
   Then refine the integers by coordinate descent (one grid step per move, a few sweeps)
   on the same convex objective, ``0.5 ||Z/kappa - Y||^2 + beta * sum_p sigma_p ||M_p / q||``
   (sigma_p the standard deviation of neuron p's feature when the solve was standardized, else
   1), with the scores ``Z`` the chip produces (linear in M up to the flooring of negative
   exponents and the 1/4096 voltage carry of ``last``). Refinement starts from the best rounded
   readout and from each larger scale of its exponent while the refined objective falls; the
   lowest objective on the exact chip scores is kept.
3. Re-check: exact chip scores, predictions, margins.

``netx_compatible`` keeps the mantissas whole per spike and the bias on netx's 64-grid
(:mod:`neurorecon.quantize.netx_grid`), so lava-dl's netx format holds the readout exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from neurorecon.network import VTH_MAX, LIFLayer, Network
from neurorecon.profiles import Profile
from neurorecon.quantize.fixed_point import quantize_bias
from neurorecon.quantize.netx_grid import netx_bias, netx_weight_grid
from neurorecon.quantize.scale import WeightGrid, weight_grid
from neurorecon.simulate.arithmetic import STATE_SHIFT
from neurorecon.simulate.emulator import emulate
from neurorecon.solve.operator import column_scale
from neurorecon.readout import Readout
from neurorecon.train.convex.witnesses import concat_layers

VOLTAGE_CEILING = VTH_MAX << STATE_SHIFT  # the readout never spikes while v <= this
VOLTAGE_MARGIN = 0.9
# Refinement stops after this many sweeps: run to a local minimum (greedy descent), it lowered the
# training objective further but lost 0.4-0.5 points of test accuracy on seq-MNIST at 4 and 8 bits.
MAX_SWEEPS = 8
# Scales tried per exponent: the one that puts the largest weight at the grid's edge, and it
# doubled up to this many times; larger ones clip the largest weights to resolve the others
# (what low bit widths need). All are tried: the objective is not unimodal in the scale (at
# 2 bits on seq-MNIST it rose from 1x to 2x and fell below both at 8x).
MAX_CLIP_DOUBLINGS = 5
ROUNDING_DAMPING = 0.01  # error feedback's Gram matrix gets this times its mean diagonal added (GPTQ's)
PEAK_CHUNK = 64  # samples per product when bounding the float readout's peaks
# Refined readouts scored per run: the walk over the starts (below) stopped at the second of six
# on addition in base 3 and ran through all four on seq-MNIST; refining all first cost addition
# four needless refinements (4 s), one at a time costs seq-MNIST two more runs
REFINED_TOGETHER = 2
# Candidates scored in one run record at most this many bytes of output state (v and u), or one
# candidate's where that alone is more
SIDE_BY_SIDE_BYTES = 2**28


@dataclass(frozen=True)
class IntegerReadoutReport:
    """How the readout was put on the grid; objectives are the convex one, in solution units."""

    weight_bits: int
    weight_exp: int
    scale: float  # mantissa units per unit of the convex solution
    objective_float: float
    objective_rounded: float
    objective_refined: float
    moves: int
    voltage_peak: float  # max |v| of the output layer on the training data (exact)
    voltage_margin: float  # 1 - peak / (vth << 6)
    accumulator_peak: float  # max |a_in| (16-bit on the chip)
    accumulator_bits: int


def output_steps(t_frames: int, depth: int) -> int:
    """Steps the output layer runs: the whole sequence plus one per hidden layer, plus its own."""
    return t_frames + depth + 2


def read_indices(readout: Readout, t_frames: int, depth: int) -> np.ndarray:
    """Output-layer step indices read as scores (the last one, or one per input frame)."""
    if readout.per_step:
        return np.arange(t_frames) + depth + 2
    return np.array([output_steps(t_frames, depth) - 1])


def make_layer(mantissa: np.ndarray, bias_mant, bias_exp, weight_exp: int, weight_bits: int,
               readout: Readout) -> LIFLayer:
    du, dv = readout.output_decays("fixed")
    return LIFLayer(mantissa.T.copy(), du=du, dv=dv, vth=VTH_MAX, bias_mant=bias_mant, bias_exp=bias_exp,
                    weight_exp=weight_exp, num_weight_bits=weight_bits, sign_mode="mixed")


def chip_scores(layer: LIFLayer, raster: np.ndarray, readout: Readout, t_frames: int, depth: int):
    """Exact output voltages at the read steps, (rows, C), and the peak |v| and |a_in| seen."""
    return chip_scores_side_by_side([layer], raster, readout, t_frames, depth)[0]


def chip_scores_side_by_side(layers: list[LIFLayer], raster: np.ndarray, readout: Readout, t_frames: int,
                             depth: int) -> list[tuple[np.ndarray, float, float]]:
    """:func:`chip_scores` of readout layers with one weight exponent, run as one layer side by
    side: output neurons do not interact, so each gets the integers it gets alone, and the hidden
    raster (most of a run's work: seq-MNIST's is 10,000 x 30 x 1,800) is read once for all."""
    widths = [layer.n_neurons for layer in layers]
    side_by_side = concat_layers(layers)
    steps = raster.shape[1] + 1
    result = emulate(Network([side_by_side], arithmetic="fixed"), raster, steps, ("v", "u"), [0])
    read = read_indices(readout, t_frames, depth)
    out, start = [], 0
    for width in widths:
        v = result.v[0][..., start:start + width]
        scores = v[:, read].astype(np.float64).reshape(-1, width)
        accumulator = np.abs(result.u[0][..., start:start + width]).max(initial=0) / 2**STATE_SHIFT  # u = a_in << 6
        out.append((scores, float(np.abs(v).max(initial=0)), float(accumulator)))
        start += width
    return out


def _objective(Z: np.ndarray, Y: np.ndarray, mantissa: np.ndarray, kappa: float, q: float, beta: float,
               penalty: str, sigma: np.ndarray) -> float:
    residual = Z / kappa - Y
    rows = np.linalg.norm(mantissa, axis=1) if penalty == "group" else np.abs(mantissa).sum(axis=1)
    return float(0.5 * (residual**2).sum() + beta * (sigma * rows).sum() / q)


def _row_features(raster: np.ndarray, readout: Readout, t_frames: int, depth: int) -> np.ndarray:
    """The linear features the chip's scores are (almost) linear in: F with Z ~ kappa * F M / q."""
    if readout.kind == "count":
        return np.add.reduce(raster, axis=1, dtype=np.int32).astype(np.float64)  # integer sums: 2x faster
    index = read_indices(readout, t_frames, depth) - 1  # the output reads the raster one step later
    return raster[:, index].reshape(-1, raster.shape[-1]).astype(np.float64)


def _float_peaks(raster: np.ndarray, W: np.ndarray, intercept: np.ndarray, readout: Readout,
                 bias_share: int) -> tuple[float, float]:
    """Largest |v| and |input| of the real-valued readout over the training rasters.

    The readout's input at every step is ``raster @ W`` (n, steps, C); its voltage is that input
    (plus the intercept) or, for counts, its running sum. Computed a few samples at a time: a
    float64 copy of the whole raster is gigabytes on seq-MNIST (each sample's product is the
    same either way, so are the peaks)."""
    voltage_peak = input_peak = 0.0
    bias_ramp = intercept * (np.arange(1, raster.shape[1] + 1) / bias_share)[:, None]
    for start in range(0, raster.shape[0], PEAK_CHUNK):
        per_step = raster[start:start + PEAK_CHUNK].astype(np.float64) @ W
        trajectory = np.cumsum(per_step, axis=1) + bias_ramp if readout.kind == "count" else per_step + intercept
        voltage_peak = max(voltage_peak, float(np.abs(trajectory).max(initial=0.0)))
        input_peak = max(input_peak, float(np.abs(per_step).max(initial=0.0)))
    return voltage_peak, input_peak


@dataclass(eq=False)
class _Candidate:
    """One integer readout tried: its layer, exact chip scores and peaks, and convex objective."""

    objective: float
    exponent: int
    q: float
    kappa: float
    mantissa: np.ndarray
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    grid: WeightGrid  # the exponent's grid (netx's or the profile's)
    layer: LIFLayer
    scores: np.ndarray
    voltage_peak: float
    accumulator_peak: float


@dataclass(eq=False)
class _ChipObjective:
    """The convex objective of an integer readout, scored on the exact chip scores of ``raster``."""

    raster: np.ndarray
    Y: np.ndarray
    beta: float
    penalty: str
    sigma: np.ndarray
    readout: Readout
    t_frames: int
    depth: int
    weight_bits: int

    def candidates(self, specs: list[tuple]) -> list[_Candidate]:
        """The candidates ``(mantissa, bias_mant, bias_exp, exponent, q, kappa, grid)``, scored
        on the exact chip; those of one exponent in one run (:func:`chip_scores_side_by_side`)."""
        layers = [make_layer(m, bm, be, e, self.weight_bits, self.readout) for m, bm, be, e, *_ in specs]
        out: list[_Candidate | None] = [None] * len(specs)
        per_candidate = self.raster.shape[0] * (self.raster.shape[1] + 1) * self.Y.shape[1] * 8  # int32 v and u
        together = max(1, SIDE_BY_SIDE_BYTES // per_candidate)
        for exponent in dict.fromkeys(spec[3] for spec in specs):
            members = [i for i, spec in enumerate(specs) if spec[3] == exponent]
            runs = [run for start in range(0, len(members), together)
                    for run in chip_scores_side_by_side([layers[i] for i in members[start:start + together]],
                                                        self.raster, self.readout, self.t_frames, self.depth)]
            for i, (Z, v_peak, a_peak) in zip(members, runs):
                mantissa, bias_mant, bias_exp, _, q, kappa, grid = specs[i]
                objective = _objective(Z, self.Y, mantissa, kappa, q, self.beta, self.penalty, self.sigma)
                out[i] = _Candidate(objective, exponent, q, kappa, mantissa, bias_mant, bias_exp, grid, layers[i], Z,
                                    v_peak, a_peak)
        return out


def _refine(F, Y, mantissa, bias_units, q, beta, penalty, sigma, step, lo, hi) -> tuple[np.ndarray, int]:
    """Integer coordinate descent on 0.5||F M/q + bias - Y||^2 + beta * pen(M)/q, one grid step
    per move: neurons in turn, each one's classes in turn, at most ``MAX_SWEEPS`` sweeps."""
    M = mantissa.astype(np.float64)
    R = np.asfortranarray(F @ M / q + bias_units - Y)  # the residual; its class columns contiguous
    col_sq = (F**2).sum(axis=0)
    moves = _refine_sweeps(np.asfortranarray(F, dtype=np.float64), R, M, col_sq, beta * sigma, float(q),
                           penalty == "group", float(step), float(lo), float(hi), MAX_SWEEPS)
    return M.astype(np.int64), moves


@numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
def _refine_sweeps(F, R, M, col_sq, weight, q, group, step, lo, hi, max_sweeps):
    """The sweeps of :func:`_refine` (compiled; M and R updated in place; returns the moves).

    The sums ``F_p^T R_c`` may be reassociated, so they are vectorised (4x faster on seq-MNIST's
    shapes): a move is decided on a sum a few ulps from the sequential one, the same on every
    run of one build, and what the refined readout is worth is measured on the exact chip scores.

    Class c of neuron p moves by the grid step delta (either sign) that lowers the objective most,
    if any: with ``g = F_p^T R_c`` the loss changes by ``d g + d^2 ||F_p||^2 / 2`` (d = delta / q)
    and the penalty by ``weight_p / q`` times the change of the row's norm (group) or of
    ``|M_pc|`` (l1). Each class is weighed from the state the previous move left."""
    n, P = F.shape
    C = M.shape[1]
    moves = 0
    for _ in range(max_sweeps):
        improved = 0
        for p in range(P):
            if col_sq[p] <= 0:
                continue
            norm_sq = 0.0
            for c in range(C):
                norm_sq += M[p, c] * M[p, c]
            for c in range(C):
                g = 0.0
                for i in range(n):
                    g += F[i, p] * R[i, c]
                old = M[p, c]
                before = np.sqrt(norm_sq) if group else abs(old)
                best, best_step = 0.0, 0.0
                for delta in (-step, step):
                    new = old + delta
                    if new < lo or new > hi:
                        continue
                    d = delta / q
                    after = np.sqrt(max(norm_sq - old * old + new * new, 0.0)) if group else abs(new)
                    change = d * g + 0.5 * d * d * col_sq[p] + weight[p] * (after - before) / q
                    if change < best - 1e-12:
                        best, best_step = change, delta
                if best_step == 0.0:
                    continue
                M[p, c] = old + best_step
                norm_sq = max(norm_sq - old * old + M[p, c] * M[p, c], 0.0)
                d = best_step / q
                for i in range(n):
                    R[i, c] += F[i, p] * d
                improved += 1
        moves += improved
        if improved == 0:
            break
    return moves


@dataclass(eq=False)
class _RoundingOrder:
    """What error feedback needs of the features F (rows, P): the order neurons are rounded in
    (most active first, GPTQ's "act order") and the upper Cholesky factor of the damped inverse
    Gram matrix in that order; one per readout fit, shared by every scale tried."""

    order: np.ndarray
    factor: np.ndarray

    @classmethod
    def of(cls, F: np.ndarray) -> "_RoundingOrder":
        gram = F.T @ F
        activity = np.diag(gram).copy()
        order = np.argsort(-activity, kind="stable")
        gram = gram[np.ix_(order, order)]
        silent = activity[order] <= 0  # a neuron that never spikes: any value of its row is as good
        gram[np.diag_indices_from(gram)] += ROUNDING_DAMPING * max(activity.mean(), 1e-300) + silent
        return cls(order, np.linalg.cholesky(np.linalg.inv(gram)).T)

    def round(self, target: np.ndarray, grid: WeightGrid) -> np.ndarray:
        """``target`` (P, C) on ``grid``, rounded row by row with each row's error carried forward."""
        factor = self.factor
        remaining = target[self.order].astype(np.float64)
        rounded = np.empty(remaining.shape, np.int64)
        for p in range(len(remaining)):
            rounded[p] = grid.snap(remaining[p])
            error = (remaining[p] - rounded[p]) / factor[p, p]
            remaining[p + 1:] -= np.outer(factor[p, p + 1:], error)
        out = np.empty_like(rounded)
        out[self.order] = rounded
        return out


def fit_integer_readout(W: np.ndarray, intercept: np.ndarray, raster: np.ndarray, Y: np.ndarray, beta: float,
                        penalty: str, readout: Readout, profile: Profile, t_frames: int, depth: int,
                        weight_bits: int = 8, refine: bool = True, netx_compatible: bool = False,
                        standardize: bool = False) -> tuple[LIFLayer, IntegerReadoutReport, np.ndarray]:
    """The readout layer on ``profile``'s grid for hidden ``raster`` (n, steps, S), its report, and
    the exact chip scores (rows, C) it produces on the training data. ``standardize``: the convex
    solve weighed each neuron's penalty by its feature's standard deviation (so does the refinement)."""
    precision = profile.precision
    grid = weight_grid(np.array([-1.0, 1.0]), weight_bits)  # readouts are mixed sign
    F = _row_features(raster, readout, t_frames, depth)
    sigma = column_scale(F.sum(axis=0), (F * F).sum(axis=0), len(F)) if standardize else np.ones(F.shape[1])
    chip = _ChipObjective(raster, Y, beta, penalty, sigma, readout, t_frames, depth, weight_bits)
    bias_share = output_steps(t_frames, depth) if readout.kind == "count" else 1
    Z_float = F @ W + intercept
    voltage_peak, input_peak = _float_peaks(raster, W, intercept, readout, bias_share)
    accumulator_limit = 2 ** (precision.accumulator_bits - 1) - 1
    objective_float = _objective(Z_float, Y, W, 1.0, 1.0, beta, penalty, sigma)

    def within_limits(candidate: _Candidate) -> bool:
        return candidate.voltage_peak <= VOLTAGE_CEILING and candidate.accumulator_peak <= accumulator_limit

    rounding = _RoundingOrder.of(F)
    specs, clipping = [], []  # q ascending per exponent
    for exponent in range(0, precision.weight_exp_min - 1, -1):
        exponent_grid = netx_weight_grid(grid, exponent) if netx_compatible else grid
        fill = exponent_grid.magnitude / max(np.abs(W).max(initial=0.0), 1e-300)
        limits = []
        if voltage_peak > 0:
            limits.append(VOLTAGE_MARGIN * VOLTAGE_CEILING / (2**STATE_SHIFT * 2.0**exponent * voltage_peak))
        if input_peak > 0:
            limits.append(accumulator_limit / (2.0**exponent * input_peak))
        bound = min(limits, default=np.inf)
        for q in sorted({min(fill * 2.0**k, bound) for k in range(MAX_CLIP_DOUBLINGS + 1)}):
            kappa = 2**STATE_SHIFT * 2.0**exponent * q  # chip voltage units per solution unit
            bias_total = kappa * intercept / bias_share
            bias_mant, bias_exp = netx_bias(bias_total) if netx_compatible else quantize_bias(bias_total, 1.0, precision)
            specs.append((rounding.round(q * W, exponent_grid), bias_mant, bias_exp, exponent, q, kappa,
                          exponent_grid))
            clipping.append(q > fill)
        if fill <= bound:  # weights already fill the grid: a lower exponent only adds flooring
            break
    # the limits above hold for unclipped weights only: clipped ones are checked on their exact scores
    rounded = [c for c, clipped in zip(chip.candidates(specs), clipping) if not clipped or within_limits(c)]
    best = min(rounded, key=lambda c: c.objective)
    chosen, moves = best, 0
    if refine:
        # The best rounded readout, then larger scales of its exponent while the refined objective
        # falls: rounding's ranking of the scales is not refinement's (4 bits, seq-MNIST: the best
        # rounded scale refined to 1,250, four times it to 862).
        # Starts are refined and scored REFINED_TOGETHER at a time (one run each), and the walk
        # over them, in scale order, is the same as refining one at a time.
        starts = [c for c in rounded if c.exponent == best.exponent and c.q >= best.q]

        def refined_in_order():
            """(candidate, moves) per start, in scale order; a batch is refined only when asked for."""
            for first in range(0, len(starts), REFINED_TOGETHER):
                specs, moves_of = [], []
                for start in starts[first:first + REFINED_TOGETHER]:
                    bias_units = (start.bias_mant.astype(np.float64) * 2.0**start.bias_exp) * bias_share / start.kappa
                    refined, steps = _refine(F, Y, start.mantissa, bias_units, start.q, beta, penalty, sigma,
                                             start.grid.step, start.grid.lo, start.grid.hi)
                    specs.append((refined, start.bias_mant, start.bias_exp, start.exponent, start.q, start.kappa,
                                  start.grid))
                    moves_of.append(steps)
                yield from zip(chip.candidates(specs), moves_of)

        previous = np.inf
        for candidate, steps in refined_in_order():
            if candidate.objective < chosen.objective and within_limits(candidate):
                chosen, moves = candidate, steps
            if candidate.objective >= previous:
                break
            previous = candidate.objective
    report = IntegerReadoutReport(
        weight_bits=weight_bits, weight_exp=chosen.exponent, scale=chosen.q, objective_float=objective_float,
        objective_rounded=best.objective, objective_refined=chosen.objective, moves=moves,
        voltage_peak=chosen.voltage_peak, voltage_margin=1 - chosen.voltage_peak / VOLTAGE_CEILING,
        accumulator_peak=chosen.accumulator_peak,
        accumulator_bits=int(np.ceil(np.log2(chosen.accumulator_peak + 1))) + 1,
    )
    return chosen.layer, report, chosen.scores
