"""How much of the chip's registers a fixed-point network uses: static worst cases and measured peaks.

Registers (SPEC section 3, Lava 0.10 ``PyLifModelBitAcc``): ``a_in`` is declared 16-bit but
Lava's Python never wraps it (the chip would), ``u`` wraps modulo 2**24 once it leaves
(-2**23, 2**23], ``v`` is clipped to +-(2**23 - 1) and a readout neuron (vth at its maximum)
must keep v at or below ``vth << 6``.

* Static: ``a_in`` ranges over [P * sum(negative W_eff), P * sum(positive W_eff)] per neuron,
  shifted by ``weight_exp`` (inputs are spikes or payloads in [0, P], so this is the exact
  worst case, tighter than ``P * sum|W|``); feed-forward and recurrent add. ``|u|`` is bounded
  by ``|a << 6| * 4096 / (du + 1)``; ``v`` above by ``min(leak bound, (vth << 6) + u + bias)``
  (v above the threshold spikes and resets) and below by the leak bound, unbounded when dv = 0.
* Measured: the emulator records u, v and spikes; the values *before* the wrap, the clip and
  the reset are recomputed from them with the same operations the emulator uses, so peaks and
  wrap/saturation events are exact.
"""

from __future__ import annotations

import math

import numpy as np

from neurorecon.network import Dense, LIFLayer, Network
from neurorecon.profiles import Precision
from neurorecon.resources.resource_report import LayerPrecision, Measured, Violation, margin_bits
from neurorecon.simulate import readout_steps, simulate
from neurorecon.simulate import arithmetic as ar

RECORD_BUDGET_BYTES = 512 * 2**20  # per chunk of samples: records plus the recomputed states
RECORD_BYTES = 1 + 4 + 4  # per neuron-step: spikes, u and v records
TEMPORARY_BYTES = 4 * 8  # per neuron-step of the layer being recomputed: four float64 arrays


def signed_bits(lo: int, hi: int) -> int:
    """Width of the smallest two's-complement register holding every value in [lo, hi] (lo <= 0 <= hi)."""
    return max(int(hi).bit_length(), int(-lo - 1).bit_length()) + 1


def _shifted(acc: np.ndarray, weight_exp: int) -> np.ndarray:
    """``acc << weight_exp`` (``>> -weight_exp``, flooring), as Lava's Dense applies it."""
    return acc << weight_exp if weight_exp >= 0 else acc >> -weight_exp


def accumulation_range(dense: Dense, max_payload: int) -> tuple[np.ndarray, np.ndarray]:
    """Per neuron, the least and greatest ``a_in`` this Dense can deliver (exact, integers; with
    synaptic delays every delay's shifted sum may arrive at once)."""
    lo = hi = 0
    for _, tap in ar.delay_taps(dense):
        w = tap.effective_weights()
        lo = lo + _shifted(np.minimum(w, 0).sum(axis=1) * int(max_payload), tap.weight_exp)
        hi = hi + _shifted(np.maximum(w, 0).sum(axis=1) * int(max_payload), tap.weight_exp)
    return lo, hi


def first_layer_payload(net: Network) -> int:
    """The largest payload the first layer's format allows: 1 for spikes, 2**bits - 1 for graded."""
    bits = net.layers[0].num_message_bits
    return 2**bits - 1 if bits else 1


def static_precision(net: Network, precision: Precision) -> tuple[list[LayerPrecision], list[Violation]]:
    """Worst-case register use per layer; a possible ``a_in`` overflow is a warning."""
    rows, violations = [], []
    for i, layer in enumerate(net.layers):
        lo, hi = accumulation_range(layer.dense, first_layer_payload(net) if i == 0 else 1)
        if layer.recurrent is not None:
            rec_lo, rec_hi = accumulation_range(layer.recurrent, 1)
            lo, hi = lo + rec_lo, hi + rec_hi
        a_lo, a_hi = int(lo.min()), int(hi.max())
        bits = signed_bits(a_lo, a_hi)
        if bits > precision.accumulator_bits:
            violations.append(Violation(
                "warning", "accumulator",
                f"layer {i}: a_in can reach [{a_lo}, {a_hi}] ({bits} bits); the chip's {precision.accumulator_bits}-bit "
                "accumulator would wrap where Lava's Python does not (lower weight_exp or the weights)", i))
        u_hi, u_lo, v_hi, v_lo = _state_bounds(layer, lo, hi)
        u_peak = int(max(u_hi.max(), -u_lo.min()))
        v_peak = max(v_hi.max(), -v_lo.min())
        state = precision.state_bits
        rows.append(LayerPrecision(
            accumulator_range=[a_lo, a_hi], accumulator_bits=bits,
            accumulator_margin_bits=margin_bits(max(a_hi, -a_lo), precision.accumulator_bits),
            u_static_peak=u_peak, u_margin_bits=margin_bits(u_peak, state),
            v_static_peak=int(v_peak) if np.isfinite(v_peak) else None, v_margin_bits=margin_bits(v_peak, state),
        ))
    return rows, violations


def _state_bounds(layer: LIFLayer, a_lo: np.ndarray, a_hi: np.ndarray):
    """Per-neuron bounds of u (both signs) and v (both signs) from the decays; see module docstring."""
    shift = 2**ar.STATE_SHIFT
    du = layer.du.astype(np.int64)
    dv = layer.dv.astype(np.int64)
    bias = ar.fixed_bias(layer)
    gain = ar.DECAY_UNITY / (du + ar.CURRENT_DECAY_OFFSET)  # 1 / (1 - current keep), finite: du + 1 >= 1
    u_hi = np.floor(a_hi * shift * gain)
    u_lo = np.ceil(a_lo * shift * gain)
    with np.errstate(divide="ignore", invalid="ignore"):
        v_gain = np.where(dv > 0, ar.DECAY_UNITY / np.maximum(dv, 1), np.inf)
        up = u_hi + np.maximum(bias, 0)
        down = u_lo + np.minimum(bias, 0)
        leak_hi = np.where(up > 0, up * v_gain, 0.0)
        leak_lo = np.where(down < 0, down * v_gain, 0.0)
    threshold = (layer.vth.astype(np.int64) << ar.STATE_SHIFT).astype(float)
    v_hi = np.minimum(leak_hi, threshold + np.maximum(up, 0))
    return u_hi, u_lo, v_hi, leak_lo


def measure(net: Network, x: np.ndarray, precision: Precision, vth_max: int) -> tuple[list[Measured], list[Violation]]:
    """Run the emulator on ``x`` (validated) for ``readout_steps`` and take exact peaks per layer."""
    steps = readout_steps(net, x.shape[1])
    per_sample = steps * (RECORD_BYTES * sum(net.sizes) + TEMPORARY_BYTES * max(net.sizes + [net.n_inputs]))
    chunk = max(1, RECORD_BUDGET_BYTES // per_sample)
    peaks = [_Peaks(layer, i == net.n_layers - 1, vth_max) for i, layer in enumerate(net.layers)]
    payload = max(float(x.max(initial=0)), 1.0)
    synapses = [
        (_Synapse(layer.dense, payload if i == 0 else 1.0),
         None if layer.recurrent is None else _Synapse(layer.recurrent, 1.0))
        for i, layer in enumerate(net.layers)
    ]
    for start in range(0, x.shape[0], chunk):
        xs = x[start:start + chunk]
        result = simulate(net, xs, n_steps=steps, record=("spikes", "u", "v"))
        source = np.zeros((xs.shape[0], steps, xs.shape[2]), dtype=xs.dtype)
        source[:, : xs.shape[1]] = xs
        for i, (feed_forward, recurrent) in enumerate(synapses):
            a6 = feed_forward(source)
            if recurrent is not None:
                a6 += recurrent(result.spikes[i])
            peaks[i].update(a6, result.u[i], result.v[i], result.spikes[i])
            source = result.spikes[i]
    rows, violations = [], []
    for i, p in enumerate(peaks):
        row = p.result(precision)
        rows.append(row)
        where = f"layer {i}"
        if row.u_wraps:
            violations.append(Violation(
                "warning", "u_wrap",
                f"{where}: u wrapped at 24 bits in {row.u_wraps} neuron-steps on the data (peak |u| {row.u_peak}, "
                "limit 2**23)", i))
        if row.v_saturations:
            violations.append(Violation(
                "warning", "v_saturation",
                f"{where}: v saturated at -(2**23 - 1) in {row.v_saturations} neuron-steps on the data "
                f"(peak |v| {row.v_peak})", i))
        if row.readout_spikes:
            violations.append(Violation(
                "warning", "readout_spikes",
                f"{where}: readout neurons (vth {vth_max}) spiked {row.readout_spikes} times on the data: their v "
                "reached vth << 6 and was reset (scale the readout weights down)", i))
    return rows, violations


class _Synapse:
    """``a_in << 6`` at every step from a source's records (Dense delivers the previous step's sum).

    The emulator's synapses (:func:`~neurorecon.simulate.arithmetic.synapse_taps`), each on the
    source's step 1 + its delay before.
    """

    def __init__(self, dense: Dense, max_payload: float):
        self.taps = ar.synapse_taps(dense, "fixed", max_payload)

    def __call__(self, source: np.ndarray) -> np.ndarray:
        total = np.zeros(source.shape[:2] + (self.taps[0][1].weights.shape[1],))
        for k, synapse in self.taps:
            earlier = np.zeros(source.shape, dtype=synapse.weights.dtype)
            earlier[:, 1 + k:] = source[:, :source.shape[1] - 1 - k]
            total += synapse(earlier)
        return total


def _previous(values: np.ndarray) -> np.ndarray:
    out = np.zeros(values.shape, dtype=np.float64)
    out[:, 1:] = values[:, :-1]
    return out


class _Peaks:
    """Running maxima of one layer over chunks of samples."""

    def __init__(self, layer: LIFLayer, last: bool, vth_max: int):
        self.constants = ar.lif_constants(layer, "fixed")
        self.readout = (layer.vth == vth_max) if last else np.zeros(layer.n_neurons, bool)
        self.threshold = int(vth_max) << ar.STATE_SHIFT
        self.a = self.u = self.v = self.readout_v = 0
        self.wraps = self.saturations = self.readout_spikes = 0

    def update(self, a6: np.ndarray, u: np.ndarray, v: np.ndarray, spikes: np.ndarray) -> None:
        c = self.constants
        u_pre = np.trunc(_previous(u) * c.current_keep) + a6  # u before the wrap
        v_pre = np.trunc(_previous(v) * c.voltage_keep) + u + c.bias  # v before the clip and the reset
        limit = ar.STATE_LIMIT
        self.a = max(self.a, int(np.abs(a6).max(initial=0)) >> ar.STATE_SHIFT)
        self.u = max(self.u, int(np.abs(u_pre).max(initial=0)))
        self.v = max(self.v, int(np.abs(v_pre).max(initial=0)))
        self.wraps += int(np.count_nonzero((u_pre > limit) | (u_pre <= -limit)))
        self.saturations += int(np.count_nonzero(v_pre < -(limit - 1)))
        if self.readout.any():
            self.readout_spikes += int(np.count_nonzero(spikes[..., self.readout]))
            self.readout_v = max(self.readout_v, int(v_pre[..., self.readout].max(initial=0)))

    def result(self, precision: Precision) -> Measured:
        state = precision.state_bits
        readout_margin = None
        if self.readout.any() and self.readout_v > 0:
            readout_margin = round(math.log2(self.threshold / self.readout_v), 2)
        return Measured(
            accumulator_peak=self.a, u_peak=self.u, v_peak=self.v, u_wraps=self.wraps,
            v_saturations=self.saturations, readout_spikes=self.readout_spikes,
            accumulator_margin_bits=margin_bits(self.a, precision.accumulator_bits),
            u_margin_bits=margin_bits(self.u, state), v_margin_bits=margin_bits(self.v, state),
            readout_margin_bits=readout_margin,
        )


def format_violations(net: Network, precision: Precision) -> list[Violation]:
    """Values the profile's number formats cannot hold (errors: the chip has no such format)."""
    out = []
    q = precision

    def check(i: int, name: str, values, lo: int, hi: int, what: str) -> None:
        arr = np.asarray(values)
        if arr.size and (arr.min() < lo or arr.max() > hi):
            bad = arr[(arr < lo) | (arr > hi)].flat[0]
            out.append(Violation("error", "format", f"layer {i}: {name}={bad} is outside {what} [{lo}, {hi}]", i))

    for i, layer in enumerate(net.layers):
        if i == 0 and layer.num_message_bits > q.input_payload_bits:
            kind = "binary spikes only" if q.input_payload_bits == 0 else f"at most {q.input_payload_bits}-bit payloads"
            out.append(Violation("error", "format", f"layer 0 takes {layer.num_message_bits}-bit graded payloads; "
                                 f"the chip carries {kind}", 0))
        for dense in layer.connections():
            check(i, "num_weight_bits", dense.num_weight_bits, 1, q.weight_bits, "the weight format")
            check(i, "weight_exp", dense.weight_exp, q.weight_exp_min, q.weight_exp_max, "the weight exponent range")
            if dense.delays is not None:
                check(i, "synaptic delay", dense.delays, 0, q.max_delay,
                      f"the profile's {q.delay_bits}-bit synaptic delays")
        check(i, "vth", layer.vth, 0, 2**q.threshold_bits - 1, "the threshold format")
        half = 2 ** (q.bias_mant_bits - 1)
        check(i, "bias_mant", layer.bias_mant, -half, half - 1, "the bias mantissa format")
        check(i, "bias_exp", layer.bias_exp, 0, 2**q.bias_exp_bits - 1, "the bias exponent format")
    return out

