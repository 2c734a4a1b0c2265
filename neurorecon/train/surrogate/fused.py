"""A feed-forward surrogate LIF layer's whole time loop as one compiled autograd function.

Stepping :meth:`SurrogateLayer.step` T times in torch builds T small graphs of ~10 operations
each; on the pricing twin's shapes (256 sequences x 128 candidates) the per-operation overhead,
not the arithmetic, is the cost (16 of 21 s of pricing on a spike-order task). This module runs
the same arithmetic in one numba loop and writes the backward pass out by hand.

Forward, per step t (``a_t`` the synaptic input frame, 0 outside the input; Lava's float order,
as :func:`~neurorecon.simulate.arithmetic.float_lif_update`, in float32)::

    u_t  = u_{t-1} * current_keep + a_t
    v'_t = v_{t-1} * voltage_keep + u_t + bias
    s_t  = v'_t > threshold
    v_t  = v'_t * (1 - s_t)

Backward (the reset's spike detached, as Norse and :class:`SurrogateLayer` do; Norse's ``tanh``
surrogate ``ds/dv' = (1 - tanh(alpha z)^2) / vth`` with ``z = (v' - vth) / vth``, in Norse's
order of float32 operations, its tanh taken by torch), from the last step down, with ``g_v``,
``g_u`` the gradients reaching v_t and u_t from step t + 1::

    g_v'_t = g_v (1 - s_t) + g_s_t ds/dv'_t
    g_u_t  = g_u + g_v'_t            (= the gradient of a_t)
    g_bias += g_v'_t
    g_v, g_u = voltage_keep g_v'_t, current_keep g_u_t

``tests/test_fused_lif.py`` checks both against the stepped torch layer. Sequences are
independent, so each loop runs in two halves of the batch on two threads, and the backward's
tanh in two halves cut where one call's vector loop passes anyway: the same bits as one thread
(:mod:`neurorecon._halves`).
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from neurorecon._halves import in_halves
from neurorecon.train.surrogate.model import SurrogateLayer

SURROGATE = "tanh"  # the surrogate whose derivative the backward loop writes out
# torch's element-wise loop takes 2 vectors at a time (2 x 16 floats with AVX-512) and the
# remainder element by element; a part starting at a multiple of this gets each element the
# same path, so the same bits, as one call over the whole array
VECTOR_STEP_MULTIPLE = 64


@numba.njit(cache=True, nogil=True)
def _forward(frames, bias, current_keep, voltage_keep, threshold, inverse_unit, alpha, spikes, scaled):
    """Fills the spikes (zeros on entry) and ``alpha z`` (z = (v' - vth) / vth), where the
    surrogate's tanh is taken, of the sequences ``frames``."""
    batch, t_in, n = frames.shape
    n_steps = spikes.shape[1]
    zero = np.float32(0.0)
    for b in range(batch):
        u = np.zeros(n, np.float32)
        v = np.zeros(n, np.float32)
        for t in range(n_steps):
            for i in range(n):
                a = frames[b, t - 1, i] if 1 <= t <= t_in else zero
                u[i] = u[i] * current_keep[i] + a
                vp = v[i] * voltage_keep[i] + u[i] + bias[i]
                scaled[b, t, i] = (vp - threshold[i]) * inverse_unit[i] * alpha
                if vp > threshold[i]:
                    spikes[b, t, i] = 1.0
                    v[i] = zero
                else:
                    v[i] = vp


@numba.njit(cache=True, nogil=True)
def _backward(grad_spikes, slope, spikes, current_keep, voltage_keep, inverse_unit, grad_frames, grad_bias):
    """The backward recurrence, into ``grad_frames`` and per-sequence ``grad_bias`` (zeros on
    entry); ``slope`` is tanh(alpha z) (torch's, as Norse takes it)."""
    batch, n_steps, n = spikes.shape
    t_in = grad_frames.shape[1]
    one = np.float32(1.0)
    for b in range(batch):
        g_v = np.zeros(n, np.float32)
        g_u = np.zeros(n, np.float32)
        for t in range(n_steps - 1, -1, -1):
            for i in range(n):
                tanh = slope[b, t, i]
                g_pre = g_v[i] * (one - spikes[b, t, i]) + grad_spikes[b, t, i] * (one - tanh * tanh) * inverse_unit[i]
                g_ut = g_u[i] + g_pre
                grad_bias[b, i] += g_pre
                if 1 <= t <= t_in:
                    grad_frames[b, t - 1, i] = g_ut
                g_v[i] = voltage_keep[i] * g_pre
                g_u[i] = current_keep[i] * g_ut


def parallel_tanh(x: np.ndarray) -> np.ndarray:
    """``torch.tanh`` of a float32 array, bit for bit, in two halves on two threads; the cut is
    a multiple of :data:`VECTOR_STEP_MULTIPLE` elements."""
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty_like(flat)

    def part(positions: slice) -> None:
        torch.tanh(torch.from_numpy(flat[positions]), out=torch.from_numpy(out[positions]))

    in_halves(part, flat.size, VECTOR_STEP_MULTIPLE)
    return out.reshape(x.shape)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to(torch.float32).numpy())


class _LIFLoop(torch.autograd.Function):
    @staticmethod
    def forward(ctx, frames, bias, current_keep, voltage_keep, threshold, inverse_unit, alpha, n_steps):
        keeps, inverse_unit = (_numpy(current_keep), _numpy(voltage_keep)), _numpy(inverse_unit)
        frames_, bias_, threshold_ = _numpy(frames), _numpy(bias), _numpy(threshold)
        shape = (frames.shape[0], n_steps, frames.shape[2])
        spikes, scaled = np.zeros(shape, np.float32), np.empty(shape, np.float32)
        in_halves(lambda b: _forward(frames_[b], bias_, *keeps, threshold_, inverse_unit, np.float32(alpha),
                                     spikes[b], scaled[b]), shape[0])
        ctx.arrays, ctx.scaled, ctx.t_in = (spikes, *keeps, inverse_unit), scaled, frames.shape[1]
        return torch.from_numpy(spikes)

    @staticmethod
    def backward(ctx, grad_spikes):
        slope = parallel_tanh(ctx.scaled)  # the one transcendental, vectorised by torch
        grad_spikes, (spikes, *constants) = _numpy(grad_spikes), ctx.arrays
        grad_frames = np.zeros((spikes.shape[0], ctx.t_in, spikes.shape[2]), np.float32)
        grad_bias = np.zeros((spikes.shape[0], spikes.shape[2]), np.float32)  # per sequence, summed below
        in_halves(lambda b: _backward(grad_spikes[b], slope[b], spikes[b], *constants, grad_frames[b], grad_bias[b]),
                  spikes.shape[0])
        return torch.from_numpy(grad_frames), torch.from_numpy(grad_bias.sum(axis=0)), None, None, None, None, None, None


def lif_raster(frames: torch.Tensor, layer: SurrogateLayer, n_steps: int) -> torch.Tensor:
    """The spikes (B, n_steps, N) of the feed-forward spiking ``layer`` driven by ``frames``
    (B, T_in, N; frame j arrives at step j + 1), differentiable in ``frames`` and the bias."""
    if not layer.spiking or layer.surrogate != SURROGATE or layer.recurrent is not None:
        raise ValueError(f"the fused loop runs feed-forward spiking layers with the {SURROGATE!r} surrogate")
    c = layer.constants()
    return _LIFLoop.apply(frames, c.bias, c.current_keep, c.voltage_keep, c.threshold, layer.inverse_unit,
                          layer.alpha, n_steps)
