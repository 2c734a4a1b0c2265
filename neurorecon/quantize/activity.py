"""Float vs fixed activity on data: did quantization silence or saturate a layer?

Quantizing weights and thresholds separately is where post-training quantization usually
fails silently (a layer stops firing, or its state saturates); these checks make it loud.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurorecon.network import Network
from neurorecon.readout import NON_SPIKING_VTH
from neurorecon.simulate import readout_steps, simulate
from neurorecon.simulate.arithmetic import STATE_LIMIT
from neurorecon.simulate.result import SimulationResult

SILENCED_RATIO = 0.1  # fixed rate at or below this fraction of the float rate: "silenced"
RUNAWAY_RATIO = 10.0  # fixed rate above this multiple of the float rate: "runs away"


@dataclass
class FloatRun:
    """The float network's records on the data, and each layer's peak |u| and |v|."""

    net: Network
    result: SimulationResult
    u_peak: list[float]
    v_peak: list[float]
    n_steps: int


def float_state_peaks(net_float: Network, x: np.ndarray) -> FloatRun:
    """Simulate the float network on ``x`` (long enough for the last layer to see all of it)."""
    steps = readout_steps(net_float, x.shape[1])
    result = simulate(net_float, x, n_steps=steps, record=("spikes", "u", "v"))
    peak = [float(np.abs(u).max(initial=0.0)) for u in result.u]
    return FloatRun(net_float, result, peak, [float(np.abs(v).max(initial=0.0)) for v in result.v], steps)


def compare_activity(run: FloatRun, net_fixed: Network, x: np.ndarray, scales: list[float]) -> tuple[list[dict], list[str]]:
    """Per-layer float/fixed rates, spike agreement and state checks, plus warning messages."""
    fixed = simulate(net_fixed, x, n_steps=run.n_steps, record=("spikes", "v"))
    activities, messages = [], []
    for i, scale in enumerate(scales):
        f_spikes, q_spikes = run.result.spikes[i], fixed.spikes[i]
        float_rate, fixed_rate = float(f_spikes.mean()), float(q_spikes.mean())
        saturated = float(np.mean(fixed.v[i] <= -(STATE_LIMIT - 1)))
        wraps = run.u_peak[i] * scale >= STATE_LIMIT
        activity = {
            "float_rate": float_rate,
            "fixed_rate": fixed_rate,
            "spike_agreement": float(np.mean(f_spikes == q_spikes)),
            "v_saturated_fraction": saturated,
            "u_peak_fixed_units": run.u_peak[i] * scale,
        }
        activities.append(activity)
        where = f"layer {i}"
        if float_rate > 0 and fixed_rate <= SILENCED_RATIO * float_rate:
            messages.append(f"{where}: quantization silences the layer (firing rate {float_rate:.4g} -> {fixed_rate:.4g})")
        elif fixed_rate > 0.01 and fixed_rate > RUNAWAY_RATIO * float_rate:
            messages.append(f"{where}: quantization saturates the layer (firing rate {float_rate:.4g} -> {fixed_rate:.4g})")
        if saturated > 0:
            messages.append(f"{where}: v saturates at -(2**23 - 1) in {saturated:.2%} of neuron-steps")
        if wraps:
            messages.append(f"{where}: the current u reaches {run.u_peak[i] * scale:.3g} >= 2**23 and wraps")
        non_spiking = run.net.layers[i].vth >= NON_SPIKING_VTH
        if non_spiking.any() and q_spikes[:, :, non_spiking].any():
            messages.append(f"{where}: non-spiking neurons reach the maximal threshold and spike in fixed point")
    return activities, messages
