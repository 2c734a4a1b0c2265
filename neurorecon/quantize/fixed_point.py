"""The float <-> fixed mapping of a Network (one definition, used by NIR import/export and PTQ).

Float LIF (Lava ``floating_pt``)::

    u = u(1-du) + a;   v = v(1-dv) + u + b;   s = v > vth;     a = W @ s_in

Fixed (Lava ``fixed_pt``, see :mod:`neurorecon.simulate.arithmetic`)::

    u = trunc0(u(4096-(du+1))/4096) + (a<<6);  v = trunc0(v(4096-dv)/4096) + u + (bias_mant<<bias_exp)
    s = v > (vth<<6);                           a = (W_eff @ s_in) << weight_exp

With a per-layer scale lambda (fixed v units per float v unit, chosen by
:mod:`neurorecon.quantize.scale`)::

    du_int = round(4096 du) - 1      dv_int = round(4096 dv)
    64 W_int 2**weight_exp ~ lambda W          64 vth_int ~ lambda vth
    bias_mant << bias_exp ~ lambda b

and back (:func:`dequantize_network`, the float network "in fixed units", lambda = 64)::

    W = W_eff 2**weight_exp   vth = vth_int   b = (bias_mant << bias_exp) / 64
    du = (du_int + 1) / 4096  dv = dv_int / 4096
"""

from __future__ import annotations

import warnings
import numpy as np

from neurorecon.errors import NeuroreconError
from neurorecon.network import Dense, LIFLayer, Network
from neurorecon.profiles import Precision, Profile, load_profile
from neurorecon.quantize.activity import compare_activity, float_state_peaks
from neurorecon.quantize.quantization_report import LayerReport, QuantizationReport, QuantizationWarning
from neurorecon.readout import NON_SPIKING_VTH
from neurorecon.quantize.scale import choose_scale, weight_grid
from neurorecon.simulate import check_input
from neurorecon.simulate.arithmetic import CURRENT_DECAY_OFFSET, DECAY_UNITY, STATE_SHIFT, fixed_bias

MAX_DECAY = DECAY_UNITY - 1
SMALLEST_DECAY = 0.5 / DECAY_UNITY  # below this a non-zero decay rounds away entirely


def quantize_decays(du: np.ndarray, dv: np.ndarray, layer: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """12-bit ``du_int = round(4096 du) - 1`` and ``dv_int = round(4096 dv)``, with notes.

    Decays outside [0, 1], and non-zero decays too small to survive rounding, are errors: the
    chip cannot represent them. ``du = 0`` (a current that never decays) is not representable
    either, but its nearest value (1/4096 per step) is reported rather than refused.
    """
    notes = []
    for name, d in (("du", du), ("dv", dv)):
        bad = d[(d < 0) | (d > 1)]
        if bad.size:
            raise NeuroreconError(
                f"layer {layer}: {name}={bad[0]:g} is outside [0, 1]; a decay is the fraction of the state lost per step"
            )
        tiny = d[(d > 0) & (d < SMALLEST_DECAY)]
        if tiny.size:
            raise NeuroreconError(
                f"layer {layer}: {name}={tiny[0]:g} rounds to an unrepresentable decay (12-bit decays resolve "
                f"1/4096 = {1 / DECAY_UNITY:.3g}); use {name}=0 or a larger time step"
            )
    du_int = np.clip(np.round(DECAY_UNITY * du) - CURRENT_DECAY_OFFSET, 0, MAX_DECAY).astype(np.int64)
    dv_int = np.clip(np.round(DECAY_UNITY * dv), 0, MAX_DECAY).astype(np.int64)
    if np.any(du == 0):
        notes.append("du=0 (a current that never decays) is not representable: du_int=0 still decays by 1/4096 per step")
    if np.any(dv > MAX_DECAY / DECAY_UNITY + SMALLEST_DECAY):
        notes.append("dv=1 is not representable in 12 bits: dv_int=4095 keeps 1/4096 of v per step")
    return du_int, dv_int, notes


def quantize_bias(bias: np.ndarray, scale: float, precision: Precision) -> tuple[np.ndarray, np.ndarray]:
    """Per neuron, the smallest ``bias_exp`` whose mantissa of ``scale * bias`` fits."""
    mant_max = 2 ** (precision.bias_mant_bits - 1) - 1
    exp_max = 2**precision.bias_exp_bits - 1
    target = scale * bias
    exps = np.full(bias.shape, exp_max, dtype=np.int64)
    for e in range(exp_max, -1, -1):  # the last exponent that fits, going down, is the smallest
        exps = np.where(np.abs(np.round(target / 2.0**e)) <= mant_max, e, exps)
    mant = np.clip(np.round(target / 2.0**exps), -mant_max - 1, mant_max).astype(np.int64)
    return mant, exps


def _relative(x_hat: np.ndarray, x: np.ndarray) -> float:
    """max|x_hat - x| / max|x| (0 for an all-zero x that stays zero)."""
    top = float(np.abs(x).max(initial=0.0))
    err = float(np.abs(x_hat - x).max(initial=0.0))
    return err / top if top > 0 else float(err > 0)


def _per_neuron_relative(x_hat: np.ndarray, x: np.ndarray) -> float:
    positive = x > 0
    if not positive.any():
        return 0.0
    return float(np.max(np.abs(x_hat[positive] - x[positive]) / x[positive]))


def quantize_layer(
    layer: LIFLayer,
    index: int,
    precision: Precision,
    max_payload: float,
    u_peak: float | None = None,
    v_peak: float | None = None,
    weight_exp: int | None = None,
) -> tuple[LIFLayer, LayerReport]:
    """One float layer on the integer grid, with its report."""
    du_int, dv_int, notes = quantize_decays(layer.du, layer.dv, index)
    spiking = layer.vth < NON_SPIKING_VTH
    if np.any(layer.vth[spiking] < 0):
        raise NeuroreconError(f"layer {index}: vth={layer.vth[spiking].min():g} < 0; Loihi thresholds are unsigned")
    choice = choose_scale(layer, precision, max_payload, du_int, u_peak, v_peak, weight_exp)
    scale, unit = choice.scale, 2.0**STATE_SHIFT
    grid = weight_grid(layer.weights, precision.weight_bits)
    w_int = grid.snap(scale * layer.weights / (unit * 2.0**choice.weight_exp))
    vth_max = 2**precision.threshold_bits - 1
    vth_int = np.where(spiking, np.clip(np.round(scale * np.where(spiking, layer.vth, 0) / unit), 0, vth_max), vth_max)
    vth_int = vth_int.astype(np.int64)
    lost = spiking & (layer.vth > 0) & (vth_int == 0)
    if lost.any():
        raise NeuroreconError(
            f"layer {index}: threshold {layer.vth[lost][0]:g} rounds to 0 at the layer scale {scale:.4g} "
            f"(thresholds span more than the {precision.threshold_bits}-bit range allows)"
        )
    bias_mant, bias_exp = quantize_bias(layer.bias_mant, scale, precision)
    recurrent, rec_w_hat = None, None
    if layer.recurrent is not None:
        rec_grid = weight_grid(layer.recurrent.weights, precision.weight_bits)
        rec_int = rec_grid.snap(scale * layer.recurrent.weights / (unit * 2.0**choice.recurrent_weight_exp))
        recurrent = Dense(rec_int, choice.recurrent_weight_exp, precision.weight_bits, rec_grid.sign_mode,
                          delays=layer.recurrent.delays)
        rec_w_hat = rec_int * unit * 2.0**choice.recurrent_weight_exp / scale
    fixed = LIFLayer(
        Dense(w_int, choice.weight_exp, precision.weight_bits, grid.sign_mode, layer.num_message_bits,
              delays=layer.dense.delays),
        du=du_int, dv=dv_int, vth=vth_int, bias_mant=bias_mant, bias_exp=bias_exp, recurrent=recurrent,
    )
    errors = {
        "weights": _relative(w_int * unit * 2.0**choice.weight_exp / scale, layer.weights),
        "recurrent_weights": 0.0 if rec_w_hat is None else _relative(rec_w_hat, layer.recurrent.weights),
        "vth": _per_neuron_relative(np.where(spiking, vth_int * unit / scale, 0), np.where(spiking, layer.vth, 0)),
        "bias": _relative(fixed_bias(fixed) / scale, layer.bias_mant),
        "du": _per_neuron_relative((du_int + CURRENT_DECAY_OFFSET) / DECAY_UNITY, layer.du),
        "dv": _per_neuron_relative(dv_int / DECAY_UNITY, layer.dv),
    }
    if not spiking.all():
        notes.append(f"non-spiking neurons (NIR LI/CubaLI readout) get vth={vth_max}: v must stay below {vth_max << 6}")
    w_range = float(np.abs(w_int).max(initial=0)) / grid.magnitude
    report = LayerReport(
        index, scale, choice.weight_exp, choice.recurrent_weight_exp, choice.limited_by, choice.bounds,
        errors, w_range, notes + choice.notes,
    )
    return fixed, report


def _check_delays(net: Network, profile: Profile) -> None:
    """Synaptic delays the profile cannot hold are refused (its ``delay_bits``)."""
    longest = max(d.max_delay for layer in net.layers for d in layer.connections())
    limit = profile.precision.max_delay
    if longest > limit:
        holds = "no synaptic delays" if limit == 0 else f"synaptic delays up to {limit} steps"
        raise NeuroreconError(f"the network has synaptic delays of up to {longest} steps; profile {profile.name} "
                              f"holds {holds} (delay_bits = {profile.precision.delay_bits})")


def _max_payload(net: Network, precision: Precision, x: np.ndarray | None) -> float:
    bits = net.layers[0].num_message_bits
    if bits and bits > precision.input_payload_bits:
        raise NeuroreconError(
            f"the network takes {bits}-bit input payloads but the profile carries {precision.input_payload_bits}"
        )
    if x is not None:
        return max(float(x.max(initial=0)), 1.0)
    return float(2**bits - 1) if bits else 1.0


def quantize_network(
    net_float: Network,
    profile: str | Profile = "loihi2",
    data=None,
    *,
    weight_exp: int | None = None,
    max_samples: int = 256,
) -> tuple[Network, QuantizationReport]:
    """Map a float Network onto a fixed-point profile; return the fixed Network and a report.

    ``data`` (n, T, N_in), when given, tightens the state bound (measured float peak |u|) and
    is used to simulate float and fixed side by side (first ``max_samples`` samples): a layer
    that quantization silences or saturates is reported and raises a
    :class:`QuantizationWarning`. ``weight_exp`` forces one weight exponent for every Dense
    (lava-dl's netx format, for one, has no exponent: use 0 there).
    A float profile returns the network unchanged.
    """
    if not isinstance(net_float, Network):
        raise NeuroreconError("quantize_network() needs a neurorecon.Network")
    if net_float.arithmetic != "float":
        raise NeuroreconError("quantize_network() maps a float network; this one is already fixed point")
    profile = load_profile(profile)
    x = None
    if data is not None:
        x = check_input(net_float, data)[:max_samples]
    if not profile.is_fixed:
        return net_float, QuantizationReport(profile.name, [], data_samples=0 if x is None else len(x))
    precision = profile.precision
    if weight_exp is not None and not precision.weight_exp_min <= weight_exp <= precision.weight_exp_max:
        raise NeuroreconError(
            f"weight_exp={weight_exp} is outside the profile's range [{precision.weight_exp_min}, {precision.weight_exp_max}]"
        )
    _check_delays(net_float, profile)
    payload = _max_payload(net_float, precision, x)
    peaks = float_state_peaks(net_float, x) if x is not None else None
    layers, reports = [], []
    for i, layer in enumerate(net_float.layers):
        u_peak, v_peak = (None, None) if peaks is None else (peaks.u_peak[i], peaks.v_peak[i])
        fixed, report = quantize_layer(layer, i, precision, payload if i == 0 else 1.0, u_peak, v_peak, weight_exp)
        layers.append(fixed)
        reports.append(report)
    metadata = dict(net_float.metadata, profile=profile.name, quantization_scales=[r.scale for r in reports])
    net_fixed = Network(layers, arithmetic="fixed", metadata=metadata)
    report = QuantizationReport(profile.name, reports, data_samples=0 if x is None else len(x))
    if x is not None:
        activities, messages = compare_activity(peaks, net_fixed, x, [r.scale for r in reports])
        for r, activity in zip(reports, activities):
            r.activity = activity
        report.warnings.extend(messages)
        for message in messages:
            warnings.warn(message, QuantizationWarning, stacklevel=2)
    return net_fixed, report


def dequantize_layer(layer: LIFLayer) -> LIFLayer:
    """A fixed layer as a float layer in fixed units (lambda = 64)."""
    unit = 2.0**STATE_SHIFT

    def dense_float(dense: Dense) -> Dense:
        return Dense(dense.effective_weights().astype(np.float64) * 2.0**dense.weight_exp,
                     num_message_bits=dense.num_message_bits, delays=dense.delays)

    recurrent = None
    if layer.recurrent is not None:
        recurrent = dense_float(layer.recurrent)
    return LIFLayer(
        dense_float(layer.dense),
        du=(layer.du + CURRENT_DECAY_OFFSET) / DECAY_UNITY,
        dv=layer.dv / DECAY_UNITY,
        vth=layer.vth.astype(np.float64),
        bias_mant=fixed_bias(layer) / unit,
        bias_exp=0,
        recurrent=recurrent,
    )


def dequantize_network(net_fixed: Network) -> Network:
    """The float Network that the fixed one approximates, in fixed units.

    It differs from the fixed network only by Lava's roundings: ``trunc0`` of the decayed u and
    v, the flooring shift of negative weight exponents, and the 24-bit wrap/saturation of the
    state. Used for NIR export and for float-vs-chip comparisons.
    """
    if not isinstance(net_fixed, Network):
        raise NeuroreconError("dequantize_network() needs a neurorecon.Network")
    if net_fixed.arithmetic != "fixed":
        raise NeuroreconError("dequantize_network() maps a fixed-point network; this one is float")
    layers = [dequantize_layer(layer) for layer in net_fixed.layers]
    return Network(layers, arithmetic="float", metadata=dict(net_fixed.metadata))

