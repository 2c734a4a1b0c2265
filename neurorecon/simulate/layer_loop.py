"""One feed-forward fixed-point layer's whole run as one compiled loop (the numpy emulator).

Without recurrence a layer's synaptic input for every step is known before it runs: from the
data for the first layer (:func:`~neurorecon.simulate.emulator._input_current`), from the raster
of the layer below for the others. Stepping :func:`~neurorecon.simulate.arithmetic.fixed_lif_update`
then costs a dozen numpy passes over the (samples x neurons) state per step; this loop takes each
sample's neurons through all the steps at once, with the same float64 operations in the same
order, per step t (``a`` the input current, 0 at step 0 and past the input)::

    u = trunc0(u * current_keep) + a ; u -= 2**24 if u > 2**23 ; u += 2**24 if u <= -2**23
    v = trunc0(v * voltage_keep) + u + bias ; v = max(v, -(2**23 - 1))
    s = v > threshold ; v = 0 where s

(the wrap and the clip only where the constants say they can happen, as there). The same integers
as the stepped update: ``tests/test_layer_loop.py`` checks every record against the Lava
reference and the stepped loop, on layers driven into the wrap and the clip. Bias bisection on a
spike-order task (64 witnesses, 512 sequences) takes half the time.
"""

from __future__ import annotations

import numba
import numpy as np

from neurorecon.simulate.arithmetic import STATE_LIMIT, LIFConstants

_NO_RECORD = {"counts": np.zeros((0, 0), np.int32), "flags": np.zeros((0, 0), bool),
              "raster": np.zeros((0, 0, 0), bool), "values": np.zeros((0, 0, 0), np.int32)}


@numba.njit(cache=True, nogil=True)
def _run(current, n_steps, current_keep, voltage_keep, bias, threshold, may_wrap, may_saturate, has_bias,
         counts, spikes, v_record, u_record, final_spikes, final_v):
    """The loop; a record of size 0 is not kept."""
    batch, steps, n = current.shape
    wrap = 2.0 * STATE_LIMIT
    lowest = -(STATE_LIMIT - 1.0)
    keep_counts, keep_spikes = counts.size > 0, spikes.size > 0
    keep_v, keep_u, keep_final = v_record.size > 0, u_record.size > 0, final_spikes.size > 0
    u = np.zeros(n)
    v = np.zeros(n)
    fired = np.zeros(n, np.bool_)
    for b in range(batch):
        u[:] = 0.0
        v[:] = 0.0
        for t in range(n_steps):
            arrives = 1 <= t <= steps
            for i in range(n):
                x = np.trunc(u[i] * current_keep[i])
                if arrives:
                    x += current[b, t - 1, i]
                if may_wrap:
                    if x > STATE_LIMIT:
                        x -= wrap
                    if x <= -STATE_LIMIT:
                        x += wrap
                y = np.trunc(v[i] * voltage_keep[i]) + x
                if has_bias:
                    y += bias[i]
                if may_saturate and y < lowest:
                    y = lowest
                spiked = y > threshold[i]
                if spiked:
                    y = 0.0
                    if keep_counts:
                        counts[b, i] += 1
                u[i] = x
                v[i] = y
                fired[i] = spiked
            # the records apart from the update, so its loop stays tight
            if keep_spikes:
                spikes[b, t] = fired
            if keep_v:
                for i in range(n):
                    v_record[b, t, i] = np.int32(v[i])
            if keep_u:
                for i in range(n):
                    u_record[b, t, i] = np.int32(u[i])
        if keep_final and n_steps > 0:
            final_spikes[b] = fired
        for i in range(n):
            final_v[b, i] = np.int32(v[i])


def run_layer(current: np.ndarray | None, n_samples: int, n_steps: int, constants: LIFConstants, *,
              counts: np.ndarray | None, spikes: np.ndarray | None, v: np.ndarray | None, u: np.ndarray | None,
              final_spikes: np.ndarray | None, final_v: np.ndarray) -> None:
    """Run ``n_samples`` through one layer for ``n_steps`` steps, writing into the given records
    (views of the emulator's; None: not recorded): ``current`` (n_samples, steps, N) is the
    synaptic input ``a << 6`` of steps 1 .. steps, or None if nothing arrives."""
    n = final_v.shape[1]
    if current is None:
        current = np.zeros((n_samples, 0, n))

    def per_neuron(values) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(np.asarray(values, dtype=np.float64), (n,)))

    _run(np.ascontiguousarray(current, dtype=np.float64), n_steps, per_neuron(constants.current_keep),
         per_neuron(constants.voltage_keep), per_neuron(constants.bias), per_neuron(constants.threshold),
         bool(constants.may_wrap), bool(constants.may_saturate), bool(constants.has_bias),
         _NO_RECORD["counts"] if counts is None else counts, _NO_RECORD["raster"] if spikes is None else spikes,
         _NO_RECORD["values"] if v is None else v, _NO_RECORD["values"] if u is None else u,
         _NO_RECORD["flags"] if final_spikes is None else final_spikes, final_v)
