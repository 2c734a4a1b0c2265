"""A literal, per-sample transcription of Lava 0.10's fixed-point models (test oracle only).

Written from lava/proc/lif/models.py (AbstractPyLifModelFixed, PyLifModelBitAcc),
lava/proc/dense/models.py (AbstractPyDenseModelBitAcc) and lava/utils/weightutils.py, with
the same integer dtypes and the same order of operations, one sample and one step at a time.
It shares no code with neurorecon's emulator, so agreement between the two is evidence.
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
    def __init__(self, weights, weight_exp, num_weight_bits, sign_mode, num_message_bits):
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
    def __init__(self, layer):
        n = layer.n_neurons
        self.u = np.zeros(n, np.int32)
        self.v = np.zeros(n, np.int32)
        self.du = layer.du.astype(np.int64)
        self.dv = layer.dv.astype(np.int64)
        bias = layer.bias_mant.astype(np.int32)
        self.bias = np.left_shift(bias, layer.bias_exp.astype(np.int32))
        self.vth = np.left_shift(layer.vth.astype(np.int32), 6)

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


def run_reference(net, x: np.ndarray, n_steps: int):
    """Spikes, u and v of every layer, shape (n, n_steps, N), for a fixed-point Network."""
    n = x.shape[0]
    out = {k: [np.zeros((n, n_steps, s), np.int64) for s in net.sizes] for k in ("spikes", "u", "v")}
    for b in range(n):
        denses = [_DenseRef(l.weights, l.weight_exp, l.num_weight_bits, l.sign_mode, l.num_message_bits) for l in net.layers]
        recs = [
            None if l.recurrent is None
            else _DenseRef(l.recurrent.weights, l.recurrent.weight_exp, l.recurrent.num_weight_bits, l.recurrent.sign_mode, 0)
            for l in net.layers
        ]
        lifs = [_LifRef(l) for l in net.layers]
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
