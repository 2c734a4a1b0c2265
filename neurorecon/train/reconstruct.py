"""Reconstruction: selected witnesses and the convex readout become a layered Network.

Hidden neurons are the witnesses with non-zero readout rows, ordered by (du, dv, vth) group so
each Lava process / chip neuron configuration is a contiguous block. The readout layer is put on
the chip's grid: one scale for all weights, chosen so the 8-bit mantissas use their range while
the output voltage stays clear of the threshold that would make it spike (v above vth << 6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurorecon.network import LIFLayer, Network
from neurorecon.train.readout import Readout
from neurorecon.train.witnesses import select_rows

VTH_MAX = 2**17 - 1
VOLTAGE_CEILING = VTH_MAX << 6  # a never-spiking readout must keep v at or below this
VOLTAGE_MARGIN = 0.9
WEIGHT_MAX = 254  # even mantissas: mixed-sign weights lose their LSB in Lava's truncation
BIAS_MANT_MAX = 2**12 - 1
FLOAT_NEVER = 1e30


@dataclass(frozen=True)
class ReadoutQuantization:
    """How the float readout was put on the grid, and the voltage headroom it leaves."""

    scale: float  # mantissa units per unit of the convex solution
    weight_exp: int
    max_abs_voltage: float  # predicted on the training features
    voltage_margin: float  # 1 - max |v| / ceiling
    weight_bits_used: int


def quantize_bias(bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bias as 13-bit mantissa << 3-bit exponent, the smallest exponent that fits."""
    exponent = np.clip(np.ceil(np.log2(np.maximum(np.abs(bias), 1) / BIAS_MANT_MAX)), 0, 7).astype(np.int64)
    mantissa = np.clip(np.round(bias / 2.0**exponent), -BIAS_MANT_MAX - 1, BIAS_MANT_MAX).astype(np.int64)
    return mantissa, exponent


def output_steps(t_frames: int, depth: int) -> int:
    """Steps the output layer integrates its bias over (the whole run: T + hidden layers + 1)."""
    return t_frames + depth + 2


def readout_layer(W: np.ndarray, intercept: np.ndarray, features: np.ndarray, readout: Readout,
                  arithmetic: str, t_frames: int, depth: int) -> tuple[LIFLayer, ReadoutQuantization | None]:
    """The output layer realising scores ``features @ W + intercept`` on the given arithmetic."""
    du, dv = readout.output_decays(arithmetic)
    steps = output_steps(t_frames, depth)
    bias_share = steps if readout.kind == "count" else 1  # count: the integrator adds the bias every step
    if arithmetic == "float":
        layer = LIFLayer(W.T.copy(), du=du, dv=dv, vth=FLOAT_NEVER, bias_mant=intercept / bias_share)
        return layer, None
    scores = features @ W + intercept
    peak = float(np.abs(scores).max(initial=0.0))
    largest = float(np.abs(W).max(initial=0.0))
    scale = WEIGHT_MAX / max(largest, 1e-300)
    if peak > 0:
        scale = min(scale, VOLTAGE_MARGIN * VOLTAGE_CEILING / (64 * peak))
    mantissa = np.clip(2 * np.round(scale * W / 2), -256, WEIGHT_MAX).astype(np.int64)
    bias_mant, bias_exp = quantize_bias(64 * scale * intercept / bias_share)
    layer = LIFLayer(mantissa.T.copy(), du=du, dv=dv, vth=VTH_MAX, bias_mant=bias_mant, bias_exp=bias_exp,
                     weight_exp=0, sign_mode="mixed")
    used = int(np.ceil(np.log2(max(int(np.abs(mantissa).max(initial=0)), 1) + 1))) + 1
    quant = ReadoutQuantization(scale, 0, 64 * scale * peak, 1 - 64 * scale * peak / VOLTAGE_CEILING, used)
    return layer, quant


def hidden_order(layer: LIFLayer) -> np.ndarray:
    """Neuron order that makes every (du, dv, vth) group contiguous (stable within a group)."""
    group = np.empty(layer.n_neurons, dtype=np.int64)
    for g, members in enumerate(layer.groups()):
        group[members] = g
    return np.argsort(group, kind="stable")


def pack(hidden: list[LIFLayer], witness_rows: np.ndarray, W: np.ndarray) -> tuple[list[LIFLayer], np.ndarray]:
    """Keep the selected witnesses of the last hidden layer, grouped; reorder W's rows to match."""
    selected = select_rows(hidden[-1], witness_rows)
    order = hidden_order(selected)
    return hidden[:-1] + [select_rows(selected, order)], W[order]


def build_network(hidden: list[LIFLayer], witness_rows: np.ndarray, W: np.ndarray, intercept: np.ndarray,
                  features: np.ndarray, readout: Readout, arithmetic: str, t_frames: int,
                  metadata: dict) -> tuple[Network, ReadoutQuantization | None, np.ndarray]:
    """The reconstructed Network; also returns the readout quantization and the hidden order."""
    layers, W_sorted = pack(hidden, witness_rows, W)
    order = hidden_order(select_rows(hidden[-1], witness_rows))
    depth = len(hidden) - 1
    out, quant = readout_layer(W_sorted, intercept, features[:, order], readout, arithmetic, t_frames, depth)
    return Network(layers + [out], arithmetic=arithmetic, metadata=metadata), quant, order
