"""The integers lava-dl's netx format holds exactly: what ``netx_compatible`` training draws on
and what the exporter checks (:func:`netx_layers`).

netx (lava-dl 0.6.0, ``netx/hdf5.py``) stores per-spike integer weights (it picks the weight
exponent itself) and a bias mantissa that it loads with ``bias_exp = 6``. So a layer netx can
hold has weight mantissas that are whole numbers per spike at the layer's exponent, and biases
``bias_mant << bias_exp`` on the 64-grid within a 13-bit mantissa. The exporter
(:mod:`neurorecon.interchange.netx`) checks the same constants.
"""

from __future__ import annotations

import numpy as np

from neurorecon.errors import NeuroreconError
from neurorecon.network import Dense, LIFLayer, Network
from neurorecon.quantize.scale import WeightGrid
from neurorecon.simulate.arithmetic import fixed_bias

NETX_BIAS_EXP = 6  # netx/hdf5.py get_neuron_params: 'bias_exp': 6
BIAS_MANT_RANGE = (-(2**12), 2**12 - 1)


def netx_bias(total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bias_mant, bias_exp) nearest to the total bias ``total`` that netx loads unchanged."""
    mant = np.clip(np.round(np.asarray(total, dtype=np.float64) / 2**NETX_BIAS_EXP), *BIAS_MANT_RANGE)
    return mant.astype(np.int64), np.full(mant.shape, NETX_BIAS_EXP, dtype=np.int64)


def netx_weight_grid(grid: WeightGrid, weight_exp: int) -> WeightGrid:
    """The part of ``grid`` whose mantissas are whole numbers per spike at ``weight_exp``."""
    return grid.with_step(2 ** max(0, -weight_exp))


def netx_weight_mapping(weights: np.ndarray) -> tuple[np.ndarray, int, int] | None:
    """netx's ``optimize_weight_bits`` as documented: stored weights -> Lava Dense arguments.

    Returns (weights for Lava's Dense, num_weight_bits, weight_exp), or None where netx would
    fail or clip (an all-zero matrix, magnitudes beyond 8 bits).
    """
    w_max, w_min = int(weights.max()), int(weights.min())
    if w_max == 0 and w_min == 0:
        return None  # netx divides by the largest weight
    if w_max < 0:
        signed, scale = 0, -256 / w_min
    elif w_min >= 0:
        signed, scale = 0, 255 / w_max
    else:
        signed, scale = 1, min(127 / w_max if w_max > 0 else np.inf, -128 / w_min)
    shift = int(np.floor(np.log2(scale))) + signed
    if shift < 0:
        return None  # beyond netx's 8-bit range (it would clip)
    zeros = 8
    while zeros > 0 and np.any(weights % (2**zeros)):
        zeros -= 1
    return weights.astype(np.int64) << shift, 8 - shift - (zeros - signed), -shift


def netx_per_spike(weights: np.ndarray, bits: int, exp: int) -> np.ndarray | None:
    """What Lava computes per spike for netx-stored ``weights`` rescaled with (bits, exp).

    None when that is not an exact integer map (the flooring ``>> -exp`` is exact only on
    multiples of ``2**-exp``).
    """
    effective = Dense(weights.astype(np.int64) << -exp, exp, bits).effective_weights()  # Lava's clip, truncation
    if np.any(effective % (2**-exp)):
        return None
    return effective >> -exp


def _integer_map(dense: Dense, layer: int, what: str) -> np.ndarray:
    w = dense.effective_weights().astype(np.int64)
    if dense.weight_exp >= 0:
        return w << dense.weight_exp
    if np.any(w % (2**-dense.weight_exp)):
        raise NeuroreconError(
            f"layer {layer}: {what} weights with weight_exp={dense.weight_exp} are fractional per spike; netx has no "
            "weight exponent (quantize with weight_exp=0 for netx)"
        )
    return w >> -dense.weight_exp


def _check_exact(parts: list[np.ndarray], layer: int) -> None:
    """Refuse weights that netx would not reproduce exactly (dense_rec rescales [W, W_rec] together)."""
    stored = np.hstack(parts)
    if not np.any(stored):
        raise NeuroreconError(f"layer {layer}: netx cannot load an all-zero weight matrix (it divides by the largest weight)")
    mapped = netx_weight_mapping(stored)
    if mapped is None or not 1 <= mapped[1] <= 8:
        raise NeuroreconError(
            f"layer {layer}: weights span [{stored.min()}, {stored.max()}] per spike, beyond what netx's 8-bit "
            "rescaling holds exactly (quantize with weight_exp=0 for netx)"
        )
    for part in parts:  # Lava infers each Dense's sign mode from its own weights
        got = netx_per_spike(part, mapped[1], mapped[2])
        if got is None or not np.array_equal(got, part):
            raise NeuroreconError(f"layer {layer}: netx's weight rescaling would not reproduce these weights exactly")


def _check_layer(layer: LIFLayer, i: int) -> None:
    if any(d.delays is not None for d in layer.connections()):
        raise NeuroreconError(f"layer {i} has synaptic delays; this netx export writes none (the NIR and Lava exports "
                              "hold them)")
    if len(layer.groups()) > 1:
        raise NeuroreconError(
            f"layer {i} has {len(layer.groups())} (du, dv, vth) groups; netx gives a layer one LIF process with "
            "scalar du, dv and vth"
        )
    total = fixed_bias(layer)
    mant = total >> NETX_BIAS_EXP
    if np.any(total % 2**NETX_BIAS_EXP) or np.any((mant < BIAS_MANT_RANGE[0]) | (mant > BIAS_MANT_RANGE[1])):
        raise NeuroreconError(
            f"layer {i}: bias_mant << bias_exp must be a multiple of 64 within 13 bits for netx (it fixes bias_exp=6)"
        )


def netx_layers(net: Network) -> list[tuple[LIFLayer, list[np.ndarray]]]:
    """Check that netx can hold ``net`` exactly; return each layer with its per-spike weight matrices."""
    if not isinstance(net, Network):
        raise NeuroreconError("the netx export needs a neurorecon.Network")
    if net.arithmetic != "fixed":
        raise NeuroreconError("netx holds integer networks: quantize the float network first (e.g. --profile loihi2)")
    plans = []
    for i, layer in enumerate(net.layers):
        _check_layer(layer, i)
        parts = [_integer_map(layer.dense, i, "feed-forward")]
        if layer.recurrent is not None:
            parts.append(_integer_map(layer.recurrent, i, "recurrent"))
        _check_exact(parts, i)
        plans.append((layer, parts))
    return plans
