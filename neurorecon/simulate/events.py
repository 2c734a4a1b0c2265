"""Delayed synapses as lists per input channel, and the event spread over them (and its adjoint).

Synapse s carries input channel c's events (``start[c] <= s < start[c + 1]``) to ``neuron[s]``,
``delay[s]`` steps later, times ``weight[s]``. Where input events are sparse, adding each event
where its synapses deliver it costs far less than a dense product over the input's delayed copies.
The emulator spreads exact integers with it (float64), pricing's twin float32 currents, whose
gradient in the weights is :func:`gather_events`. Both loops visit events in (sample, frame,
channel) order, so every sum is formed in one fixed order: the same bits on every run.
"""

from __future__ import annotations

import numba
import numpy as np


def synapse_lists(channel: np.ndarray, neuron: np.ndarray, delay: np.ndarray, n_inputs: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Synapses (given by their channel, neuron and delay) grouped per channel, then by where
    they land (delay, neuron: memory order): each channel's ``start``, the sorted ``neuron`` and
    ``delay`` (int64), and the ``order`` that sorted them (to sort what else goes with them)."""
    order = np.lexsort((neuron, delay, channel))
    start = np.concatenate([[0], np.cumsum(np.bincount(channel, minlength=n_inputs))])
    return start.astype(np.int64), neuron[order].astype(np.int64), delay[order].astype(np.int64), order


@numba.njit(cache=True, nogil=True)
def spread_events(x, start, neuron, delay, weight, out):
    """``out[b, j + delay[s], neuron[s]] += x[b, j, c] * weight[s]`` for every input event
    (b, j, c) and synapse s of channel c, where ``j + delay[s]`` is within ``out``'s steps."""
    batch, frames, channels = x.shape
    steps = out.shape[1]
    for b in range(batch):
        for j in range(frames):
            for c in range(channels):
                value = x[b, j, c]
                if value == 0:
                    continue
                for s in range(start[c], start[c + 1]):
                    t = j + delay[s]
                    if t < steps:
                        out[b, t, neuron[s]] += value * weight[s]


@numba.njit(cache=True, nogil=True)
def gather_events(x, start, neuron, delay, grad_out, grad_weight):
    """The adjoint of :func:`spread_events` in the weights: ``grad_weight[s] += x[b, j, c] *
    grad_out[b, j + delay[s], neuron[s]]`` over the same events and synapses."""
    batch, frames, channels = x.shape
    steps = grad_out.shape[1]
    for b in range(batch):
        for j in range(frames):
            for c in range(channels):
                value = x[b, j, c]
                if value == 0:
                    continue
                for s in range(start[c], start[c + 1]):
                    t = j + delay[s]
                    if t < steps:
                        grad_weight[s] += value * grad_out[b, t, neuron[s]]
