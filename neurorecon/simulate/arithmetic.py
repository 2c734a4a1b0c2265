"""The one definition of the neuron and synapse arithmetic (SPEC section 3, Lava 0.10).

Everything that simulates a Network steps it with these functions: the batched emulator, and
(through :func:`float_lif_update`, which uses only array operators) the torch models used for
surrogate-gradient training. Two compiled loops carry the same operations over whole sequences
where per-step array calls cost more than the arithmetic, each tested equal to these: each
layer of a feed-forward fixed-point network in the numpy emulator (:mod:`neurorecon.simulate.layer_loop`) and
pricing's float twin (:mod:`neurorecon.train.surrogate.fused`). Lava's own models are the
external reference they are tested against.

Fixed point (``PyLifModelBitAcc``, ``PyDenseModelBitAcc``)::

    a      = (W_eff @ s_in) << weight_exp        (>> -weight_exp: flooring), sent one step later
    u      = trunc0(u * (4096 - (du + 1)) / 4096) + (a << 6)      ; u wraps once at 24 bits
    v      = trunc0(v * (4096 - dv) / 4096) + u + (bias_mant << bias_exp)
    v      = clip(v, -(2**23 - 1), 2**23 - 1)
    s      = v > (vth << 6);  v = 0 where s

Float (``PyLifModelFloat``, ``PyDenseModelFloat``)::

    u = u * (1 - du) + a;   v = v * (1 - dv) + u + bias_mant;   s = v > vth;  v = 0 where s

Fixed-point state is held in float64 arrays of integers (numpy) or int64 tensors (torch): every
intermediate value is an integer below 2**36, so products, ``trunc`` and sums are exact (SPEC
section 3 asks for bit-exactness; the tests check it against Lava). The update is written once;
:mod:`neurorecon.simulate.arrays` spells its few in-place operations for each array library.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurorecon.errors import NeuroreconError
from neurorecon.network import Dense, LIFLayer
from neurorecon.simulate.arrays import NumpyOps

NUMPY = NumpyOps()

DECAY_UNITY = 4096  # 2**12: du, dv are 12-bit fractions
CURRENT_DECAY_OFFSET = 1  # Lava's ds_offset: the current decays by du + 1
STATE_SHIFT = 6  # a_in and vth are left-shifted by 6 to align with the 24-bit state
STATE_LIMIT = 2**23  # u wraps above this; v saturates at +-(2**23 - 1)
INT32_HEADROOM = 2**31 - 2**23  # Lava adds (a << 6) to u in int32: larger inputs overflow
FLOAT32_EXACT = 2**24  # integers below this are exact in float32


@dataclass(eq=False, frozen=True)
class LIFConstants:
    """Per-neuron constants of one layer's LIF update, precomputed once."""

    current_keep: np.ndarray  # fixed: (4096 - (du+1)) / 4096 ; float: 1 - du
    voltage_keep: np.ndarray  # fixed: (4096 - dv) / 4096     ; float: 1 - dv
    bias: np.ndarray  # fixed: bias_mant << bias_exp ; float: bias_mant
    threshold: np.ndarray  # fixed: vth << 6 ; float: vth
    may_wrap: bool = True  # False when u provably stays inside 24 bits
    may_saturate: bool = True  # False when v provably stays above -(2**23 - 1)
    has_bias: bool = True


def fixed_bias(layer: LIFLayer) -> np.ndarray:
    """``bias_mant << bias_exp`` as Lava's ``scale_bias`` computes it."""
    return layer.bias_mant.astype(np.int64) << layer.bias_exp.astype(np.int64)


def lif_constants(layer: LIFLayer, arithmetic: str, max_abs_input: float = np.inf) -> LIFConstants:
    """Constants of ``layer``'s LIF update; ``max_abs_input`` bounds |a << 6| (fixed) if known."""
    if arithmetic == "float":
        return LIFConstants(1.0 - layer.du, 1.0 - layer.dv, layer.bias_mant.astype(float), layer.vth.astype(float))
    du = layer.du.astype(np.int64)
    dv = layer.dv.astype(np.int64)
    bias = fixed_bias(layer)
    current_keep = (DECAY_UNITY - (du + CURRENT_DECAY_OFFSET)) / DECAY_UNITY
    # |u| <= A / (1 - keep) when |a << 6| <= A: truncation toward zero only shrinks it.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        u_bound = np.where(current_keep < 1, max_abs_input / (1.0 - current_keep), np.inf)
        v_bound = np.where(dv > 0, (u_bound + np.abs(bias)) * DECAY_UNITY / np.maximum(dv, 1), np.inf)
    return LIFConstants(
        current_keep=current_keep.astype(np.float64),
        voltage_keep=((DECAY_UNITY - dv) / DECAY_UNITY).astype(np.float64),
        bias=bias.astype(np.float64),
        threshold=(layer.vth.astype(np.int64) << STATE_SHIFT).astype(np.float64),
        may_wrap=bool(np.any(u_bound >= STATE_LIMIT)),
        may_saturate=bool(np.any(v_bound >= STATE_LIMIT - 1)),
        has_bias=bool(np.any(bias)),
    )


def fixed_lif_update(u, v, a_shifted, c: LIFConstants, ops=NUMPY):
    """One fixed-point LIF step, in place on the state arrays; returns the spikes.

    ``a_shifted`` is the synaptic input already shifted by 6 (``a_in << 6``). ``ops`` spells
    the few in-place operations of the array library (:mod:`neurorecon.simulate.arrays`): numpy
    float64 arrays of integers or torch int64 tensors, the same formulas either way.
    """
    ops.trunc_scale_(u, c.current_keep)
    u += a_shifted
    if c.may_wrap:  # Lava wraps once: u > 2**23 -> u - 2**24 ; u <= -2**23 -> u + 2**24
        u -= (u > STATE_LIMIT) * (2 * STATE_LIMIT)
        u += (u <= -STATE_LIMIT) * (2 * STATE_LIMIT)
    ops.trunc_scale_(v, c.voltage_keep)
    v += u
    if c.has_bias:
        v += c.bias
    if c.may_saturate:
        # Lava clips v to +-(2**23 - 1). Only the lower clip is observable: vth << 6 is at most
        # 8,388,544 < 2**23 - 1, so a v above the upper clip spikes and is reset to 0 either way.
        ops.clip_below_(v, -(STATE_LIMIT - 1))
    spikes = v > c.threshold
    v *= ~spikes
    return spikes


def shifted_accumulation(acc, floor_scale: float, ops=NUMPY):
    """``(acc >> -weight_exp) << 6`` for a negative ``weight_exp``: floor(acc * scale) * 64, in
    place on a float64 accumulation (exact: acc is an integer below 2**53)."""
    acc *= floor_scale
    ops.floor_(acc)
    acc *= 2**STATE_SHIFT
    return acc


def float_lif_update(u, v, a_in, c: LIFConstants, spike_fn=None, reset_fn=None):
    """One float LIF step (Lava's ``PyLifModelFloat`` order of operations); returns (u, v, s).

    Written with array operators only, so it runs on numpy arrays and on torch tensors; a
    surrogate-gradient model passes its own differentiable ``spike_fn(v - vth)`` and, to keep
    the gradient out of the reset (as Norse does), ``reset_fn`` (e.g. ``torch.Tensor.detach``),
    which must return the spikes' values unchanged.
    """
    u = u * c.current_keep + a_in
    v = v * c.voltage_keep + u + c.bias
    s = (v > c.threshold) * 1.0 if spike_fn is None else spike_fn(v - c.threshold)
    v = v * (1 - (s if reset_fn is None else reset_fn(s)))
    return u, v, s


def synaptic_scale(dense: Dense, arithmetic: str) -> tuple[np.ndarray, float | None]:
    """Weights to multiply spikes with, and a post-GEMM scale needing a floor, if any.

    Fixed point: ``(acc << weight_exp) << 6`` is folded into the weights when
    ``weight_exp >= 0`` (exact); for ``weight_exp < 0`` the flooring right shift must follow
    the accumulation, so the second value is ``2**weight_exp`` and the caller computes
    ``floor(acc * scale) * 64``. Float: the weights as they are.
    """
    if arithmetic == "float":
        return dense.weights.astype(np.float64), None
    w = dense.effective_weights().astype(np.float64)
    if dense.weight_exp >= 0:
        return w * float(2 ** (dense.weight_exp + STATE_SHIFT)), None
    return w, float(2.0**dense.weight_exp)


@dataclass(eq=False, frozen=True)
class Synapse:
    """``a << 6`` from inputs: x @ weights, then (fixed point, negative weight_exp) the flooring shift and << 6.

    Arrays are ``ops``'s (:mod:`neurorecon.simulate.arrays`); the result has the neuron state's dtype.
    """

    weights: object  # (N_in, N_out), already transposed
    floor_scale: float | None
    state: type = np.float64  # dtype of the neuron state the result is added to
    ops: object = NUMPY

    def __call__(self, x):
        acc = self.ops.asarray(x, self.weights.dtype) @ self.weights
        if self.floor_scale is not None:
            acc = shifted_accumulation(self.ops.asarray(acc, np.float64), self.floor_scale, self.ops)
        return self.ops.asarray(acc, self.state)


def synapse(dense: Dense, arithmetic: str, max_payload: float, ops=NUMPY) -> Synapse:
    """The synapse of ``dense`` for inputs up to ``max_payload``: float32 GEMM where every partial
    sum is an integer below 2**24 (exact), float64 otherwise."""
    weights, floor_scale = synaptic_scale(dense, arithmetic)
    exact_in_float32 = ops.exact_float32 and (
        arithmetic == "fixed" and float(np.abs(weights).sum(axis=1).max(initial=0.0)) * max_payload < FLOAT32_EXACT
    )
    dtype = np.float32 if exact_in_float32 else np.float64
    state = ops.fixed_state if arithmetic == "fixed" else np.float64
    return Synapse(ops.asarray(np.ascontiguousarray(weights.T), dtype), floor_scale, state, ops)


def delay_taps(dense: Dense) -> list[tuple[int, Dense]]:
    """``dense`` split by synaptic delay: (k, the synapses delayed by k steps), k ascending.

    Lava's ``DelayDense`` accumulates each delay's synapses apart and shifts each sum by
    ``weight_exp`` on its own before buffering it, so with delays::

        a_t = sum_k shift(W_k @ s_{t-1-k})

    A Dense without delays is its own single tap (k = 0). Each tap keeps the whole matrix's sign
    mode (Lava infers it from all the weights) so its clipping and truncation are the Dense's.
    """
    if dense.delays is None:
        return [(0, dense)]
    used = np.unique(dense.delays[dense.weights != 0])
    sign_mode = dense.resolved_sign_mode()
    return [(int(k), dense.replace(weights=np.where(dense.delays == k, dense.weights, 0), delays=None,
                                   sign_mode=sign_mode)) for k in (used if used.size else [0])]


def synapse_taps(dense: Dense, arithmetic: str, max_payload: float, ops=NUMPY) -> list[tuple[int, Synapse]]:
    """One :class:`Synapse` per delay of ``dense`` (:func:`delay_taps`)."""
    return [(k, synapse(tap, arithmetic, max_payload, ops)) for k, tap in delay_taps(dense)]


def max_abs_accumulation(dense: Dense, arithmetic: str, max_payload: float) -> float:
    """Worst-case |a << 6| a neuron can receive through ``dense`` (fixed point; every delay's
    sum may arrive at the same step)."""
    if arithmetic == "float" or dense.weights.size == 0:
        return 0.0
    total = 0.0
    for _, tap in delay_taps(dense):
        acc = float(np.abs(tap.effective_weights()).sum(axis=1).max()) * max_payload
        total += float(np.floor(acc * 2.0**tap.weight_exp)) * 2**STATE_SHIFT + (
            2**STATE_SHIFT if tap.weight_exp < 0 else 0
        )
    return total


def check_int32_datapath(layer: LIFLayer, index: int, max_abs_input: float) -> None:
    """Lava adds ``a << 6`` to u in int32: refuse networks whose inputs could overflow it."""
    if max_abs_input >= INT32_HEADROOM:
        raise NeuroreconError(
            f"layer {index}: the worst-case synaptic input (|a << 6| up to {max_abs_input:.3g}) "
            "overflows Lava's 32-bit datapath; use smaller weights, weight_exp or payloads"
        )
