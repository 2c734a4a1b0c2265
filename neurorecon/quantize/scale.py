"""Choosing a layer's scale (fixed v units per float v unit) and weight exponent.

Float and fixed LIF layers compute the same thing up to one factor per layer, lambda:
``u_fixed ~ lambda * u_float`` and ``v_fixed ~ lambda * v_float``, because u feeds v with
coefficient 1 in both. So ``64 * W_int * 2**weight_exp ~ lambda * W``,
``64 * vth_int ~ lambda * vth`` and ``bias_mant << bias_exp ~ lambda * bias``.

A larger lambda makes thresholds, biases and the truncation of the decays relatively finer; the
weights keep 8 bits whatever lambda is, provided the exponent is chosen so they fill the grid.
So the rule is: compute every upper bound on lambda (17-bit thresholds, 13-bit bias mantissa
with its 3-bit exponent, the 24-bit state ``u`` that wraps, Lava's 32-bit datapath), then take
the largest ``lambda_e = 64 * 2**e * grid_max / max|W|`` (weights exactly filling the grid at
exponent e) that respects them all. If even the smallest exponent overshoots, lambda is the
bound itself and the weights use part of the grid (the report says how much).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurorecon.network import LIFLayer
from neurorecon.readout import NON_SPIKING_VTH
from neurorecon.profiles import Precision
from neurorecon.simulate.arithmetic import DECAY_UNITY, INT32_HEADROOM, STATE_LIMIT, STATE_SHIFT

STATE_MARGIN = 2.0  # measured peak |u| on data times this must stay inside 24 bits (u wraps)
VOLTAGE_MARGIN = 1.25  # measured peak |v| on data times this must stay inside 24 bits (v clips)


@dataclass(frozen=True)
class WeightGrid:
    """The integers a Dense holds exactly after Lava's clip and truncation, for one sign mode."""

    sign_mode: str
    step: int
    lo: int
    hi: int

    @property
    def magnitude(self) -> int:
        """Largest magnitude usable for both signs (mixed: 254 at 8 bits, not 256)."""
        return self.hi if self.sign_mode != "inhibitory" else -self.lo

    def snap(self, x: np.ndarray) -> np.ndarray:
        """Nearest grid integers (so Lava's truncation leaves them unchanged)."""
        return np.clip(self.step * np.round(x / self.step), self.lo, self.hi).astype(np.int64)

    def with_step(self, step: int) -> "WeightGrid":
        """The same range on a coarser step (a multiple of this one): its multiples of ``step``."""
        if step <= self.step:
            return self
        return WeightGrid(self.sign_mode, step, -(-self.lo // step) * step, self.hi // step * step)


def weight_grid(weights: np.ndarray, weight_bits: int) -> WeightGrid:
    """The grid for ``weights``' signs: Lava infers the same sign mode from them."""
    if weights.size == 0 or weights.min() >= 0:
        step = 2 ** (8 - weight_bits)
        return WeightGrid("excitatory", step, 0, 256 - step)
    if weights.max() <= 0:
        step = 2 ** (8 - weight_bits)
        return WeightGrid("inhibitory", step, -(256 - step), 0)
    step = 2 ** (8 - weight_bits + 1)  # mixed sign: one bit goes to the sign
    return WeightGrid("mixed", step, -256, 256 - step)


@dataclass
class ScaleChoice:
    scale: float
    weight_exp: int
    recurrent_weight_exp: int | None
    limited_by: str
    bounds: dict[str, float]
    notes: list[str] = field(default_factory=list)


def _bias_limit(precision: Precision) -> float:
    return float((2 ** (precision.bias_mant_bits - 1) - 1) * 2 ** (2**precision.bias_exp_bits - 1))


def smallest_exponent(max_abs: float, scale: float, grid: WeightGrid, precision: Precision) -> int:
    """Smallest weight exponent at which ``scale * max_abs`` fits the grid."""
    for e in range(precision.weight_exp_min, precision.weight_exp_max + 1):
        if scale * max_abs / (2**STATE_SHIFT * 2.0**e) <= grid.magnitude * (1 + 1e-12):
            return e
    return precision.weight_exp_max


def choose_scale(
    layer: LIFLayer,
    precision: Precision,
    max_payload: float,
    quantized_du: np.ndarray,
    u_peak: float | None = None,
    v_peak: float | None = None,
    weight_exp: int | None = None,
) -> ScaleChoice:
    """The layer scale and exponents (see the module docstring for the rule).

    ``max_payload`` bounds the layer's input values (1 for spikes); ``quantized_du`` are the
    fixed-point du the layer will get (the current decays by ``(du+1)/4096``); ``u_peak`` and
    ``v_peak`` the peak float |u| and |v| measured on data, if any; ``weight_exp`` forces the
    exponent of the feed-forward and the recurrent weights. Without data only the wrap of u is
    bounded (worst case): the clip of a very negative v is benign and data-dependent.
    """
    grid = weight_grid(layer.weights, precision.weight_bits)
    w_max = float(np.abs(layer.weights).max(initial=0.0))
    unit = 2.0**STATE_SHIFT
    bounds: dict[str, float] = {}
    e_max = precision.weight_exp_max if weight_exp is None else weight_exp
    if w_max > 0:
        bounds["weights"] = unit * 2.0**e_max * grid.magnitude / w_max
    rec_max = 0.0
    if layer.recurrent is not None:
        rec_grid = weight_grid(layer.recurrent.weights, precision.weight_bits)
        rec_max = float(np.abs(layer.recurrent.weights).max(initial=0.0))
        if rec_max > 0:
            bounds["recurrent weights"] = unit * 2.0**e_max * rec_grid.magnitude / rec_max
    spiking = layer.vth[layer.vth < NON_SPIKING_VTH]
    if spiking.size and spiking.max() > 0:
        bounds["threshold"] = unit * (2**precision.threshold_bits - 1) / float(spiking.max())
    b_max = float(np.abs(layer.bias_mant).max(initial=0.0))
    if b_max > 0:
        bounds["bias"] = _bias_limit(precision) / b_max
    drive = float(np.abs(layer.weights).sum(axis=1).max(initial=0.0)) * max_payload
    if layer.recurrent is not None:
        drive += float(np.abs(layer.recurrent.weights).sum(axis=1).max(initial=0.0))
    if drive > 0:
        # |a << 6| ~ lambda * |a_float| must stay inside Lava's int32 datapath.
        bounds["int32 datapath"] = INT32_HEADROOM / (drive * 1.01)
        if u_peak is not None:
            if u_peak > 0:
                bounds["state u (data)"] = (STATE_LIMIT - 1) / (u_peak * STATE_MARGIN)
        else:
            # |u| <= drive / du_eff: geometric series of the (truncating) current decay.
            du_eff = (quantized_du.astype(float) + 1) / DECAY_UNITY
            bounds["state u (worst case)"] = (STATE_LIMIT - 1) * float(du_eff.min()) / drive
    if v_peak is not None and v_peak > 0:
        bounds["state v (data)"] = (STATE_LIMIT - 1) / (v_peak * VOLTAGE_MARGIN)
    notes: list[str] = []
    limit = min(bounds.values()) if bounds else unit
    limited_by = min(bounds, key=bounds.get) if bounds else "nothing (all-zero layer)"
    if w_max == 0:
        e = int(np.clip(0 if weight_exp is None else weight_exp, precision.weight_exp_min, precision.weight_exp_max))
        scale = limit
    else:
        exponents = range(precision.weight_exp_min, e_max + 1) if weight_exp is None else [weight_exp]
        fitting = [e for e in exponents if unit * 2.0**e * grid.magnitude / w_max <= limit * (1 + 1e-12)]
        if fitting:
            e = max(fitting)
            scale = unit * 2.0**e * grid.magnitude / w_max
        else:
            e = min(exponents)
            scale = limit
            notes.append(
                f"weights use {scale * w_max / (unit * 2.0**e) / grid.magnitude:.0%} of the "
                f"{precision.weight_bits}-bit grid at the smallest exponent {e} (scale limited by {limited_by})"
            )
    rec_e = None
    if layer.recurrent is not None:
        rec_grid = weight_grid(layer.recurrent.weights, precision.weight_bits)
        rec_e = smallest_exponent(rec_max, scale, rec_grid, precision) if weight_exp is None else weight_exp
    if limited_by == "state u (worst case)":
        notes.append("scale limited by the worst-case current |u| bound; pass data for a tighter (finer) scale")
    return ScaleChoice(float(scale), int(e), rec_e, limited_by, bounds, notes)
