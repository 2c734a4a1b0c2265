"""A literal, per-sample transcription of Lava 0.10's fixed-point models (test oracle only).

Written from lava/proc/lif/models.py (AbstractPyLifModelFixed, PyLifModelBitAcc),
lava/proc/dense/models.py (AbstractPyDenseModelBitAcc) and lava/utils/weightutils.py, with
the same integer dtypes and the same order of operations, one sample and one step at a time.
It shares no code with neurorecon's emulator, so agreement between the two is evidence.

:func:`run_processes` runs layers given as the arguments of Lava's ``Dense`` and ``LIF``
constructors (so other oracles, e.g. ``netx_reference``, can say what Lava is given);
:func:`run_reference` runs a neurorecon Network through it.
"""

from __future__ import annotations

import numpy as np


def _effective_weights(weights: np.ndarray, sign_mode: str, num_weight_bits: int) -> np.ndarray:
    w = weights.copy().astype(np.int32)
    if sign_mode == "inhibitory":
        w = -w
    mixed = int(sign_mode == "mixed")
    w = np.clip(w, (-(2**8)) * mixed, 2**8 - 1)
    drop = 8 - num_weight_bits + mixed
    w = (w >> drop) << drop
    if sign_mode == "inhibitory":
        w = -w
    return w


def _sign_mode(weights: np.ndarray) -> str:
    if np.min(weights) >= 0:
        return "excitatory"
    if np.max(weights) <= 0:
        return "inhibitory"
    return "mixed"


class _DenseRef:
    """lava.proc.dense.process.Dense's arguments, with its defaults (sign mode inferred when None)."""

    def __init__(self, weights, weight_exp=0, num_weight_bits=8, sign_mode=None, num_message_bits=0):
        mode = sign_mode or _sign_mode(weights)
        self.w = _effective_weights(weights, mode, num_weight_bits)
        self.exp = weight_exp
        self.graded = num_message_bits > 0
        self.buff = np.zeros(weights.shape[0], np.int64)

    def send(self):
        return self.buff

    def recv(self, s_in):
        if self.graded:
            acc = self.w.dot(s_in.astype(np.int32))
        else:
            acc = self.w[:, s_in.astype(bool)].sum(axis=1)
        self.buff = np.left_shift(acc, self.exp) if self.exp > 0 else np.right_shift(acc, -self.exp)


class _LifRef:
    """lava.proc.lif.process.LIF's arguments, with its defaults (scalars or, beyond Lava, per neuron)."""

    def __init__(self, shape, du=0, dv=0, vth=10, bias_mant=0, bias_exp=0):
        n = int(np.prod(shape))
        self.u = np.zeros(n, np.int32)
        self.v = np.zeros(n, np.int32)
        self.du = np.asarray(du, np.int64)
        self.dv = np.asarray(dv, np.int64)
        bias = np.broadcast_to(np.asarray(bias_mant), (n,)).astype(np.int32)
        self.bias = np.left_shift(bias, np.asarray(bias_exp).astype(np.int32))
        self.vth = np.left_shift(np.asarray(vth).astype(np.int32), 6)

    def step(self, a_in):
        max_uv = 2**23
        decayed = np.int64(self.u) * (4096 - (self.du + 1))
        decayed = np.int32(np.sign(decayed) * np.right_shift(np.abs(decayed), 12))
        decayed = decayed + np.left_shift(a_in.astype(np.int32), 6)
        wrapped = np.where(decayed > max_uv, decayed - 2 * max_uv, decayed)
        wrapped = np.where(wrapped <= -max_uv, decayed + 2 * max_uv, wrapped)
        self.u[:] = wrapped
        dvolt = np.int64(self.v) * (4096 - self.dv)
        dvolt = np.int32(np.sign(dvolt) * np.right_shift(np.abs(dvolt), 12))
        self.v[:] = np.clip(dvolt + self.u + self.bias, -max_uv + 1, max_uv - 1)
        s = self.v > self.vth
        self.v[s] = 0
        return s


def lava_arguments(net) -> list[dict]:
    """Each layer of a fixed-point Network as Lava constructor arguments (``dense``, ``lif``, ``rec``)."""
    def dense(d, message_bits):
        return dict(weights=d.weights, weight_exp=d.weight_exp, num_weight_bits=d.num_weight_bits,
                    sign_mode=d.sign_mode, num_message_bits=message_bits)

    return [
        dict(dense=dense(l.dense, l.num_message_bits), rec=None if l.recurrent is None else dense(l.recurrent, 0),
             lif=dict(shape=(l.n_neurons,), du=l.du, dv=l.dv, vth=l.vth, bias_mant=l.bias_mant, bias_exp=l.bias_exp))
        for l in net.layers
    ]


def run_reference(net, x: np.ndarray, n_steps: int):
    """Spikes, u and v of every layer, shape (n, n_steps, N), for a fixed-point Network."""
    return run_processes(lava_arguments(net), x, n_steps)


def run_processes(layers: list[dict], x: np.ndarray, n_steps: int):
    """Spikes, u and v of every layer, shape (n, n_steps, N), for layers of Lava constructor
    arguments: ``dense`` (Dense from the layer below), ``lif`` (LIF) and ``rec`` (a Dense from
    the layer's own spikes back into it, or None)."""
    n = x.shape[0]
    sizes = [int(np.prod(layer["lif"]["shape"])) for layer in layers]
    out = {k: [np.zeros((n, n_steps, s), np.int64) for s in sizes] for k in ("spikes", "u", "v")}
    for b in range(n):
        denses = [_DenseRef(**layer["dense"]) for layer in layers]
        recs = [None if layer["rec"] is None else _DenseRef(**layer["rec"]) for layer in layers]
        lifs = [_LifRef(**layer["lif"]) for layer in layers]
        # Within a Lava step every Dense first sends the buffer it filled last step, then
        # receives this step's spikes (from the source, the layer below, or its own layer).
        for t in range(n_steps):
            frame = x[b, t] if t < x.shape[1] else np.zeros(x.shape[2], x.dtype)
            below = frame
            for i, (dense, rec, lif) in enumerate(zip(denses, recs, lifs)):
                a = dense.send()
                dense.recv(below)
                if rec is not None:
                    a = a + rec.send()
                s = lif.step(a)
                if rec is not None:
                    rec.recv(s)
                out["spikes"][i][b, t] = s
                out["u"][i][b, t] = lif.u
                out["v"][i][b, t] = lif.v
                below = s.copy()
    return out


def dense_outputs(dense: dict, spikes: np.ndarray) -> np.ndarray:
    """What a Dense (Lava arguments) delivers at each step for input ``spikes`` (steps, N_in):
    (steps, N_out), one step late as in Lava."""
    ref = _DenseRef(**dense)
    out = []
    for s in spikes:
        out.append(ref.send().copy())
        ref.recv(s)
    return np.asarray(out)


def lif_step(lif: dict, u: np.ndarray, v: np.ndarray, a_in: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of a LIF (Lava arguments) from the state (``u``, ``v``): (spikes, u, v) after it."""
    ref = _LifRef(**lif)
    ref.u[:], ref.v[:] = u, v
    s = ref.step(a_in)
    return s, ref.u.copy(), ref.v.copy()
