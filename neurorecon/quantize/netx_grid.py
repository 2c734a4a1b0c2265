"""The integers lava-dl's netx format holds exactly: what ``netx_compatible`` training draws on.

netx (lava-dl 0.6.0, ``netx/hdf5.py``) stores per-spike integer weights (it picks the weight
exponent itself) and a bias mantissa that it loads with ``bias_exp = 6``. So a layer netx can
hold has weight mantissas that are whole numbers per spike at the layer's exponent, and biases
``bias_mant << bias_exp`` on the 64-grid within a 13-bit mantissa. The exporter
(:mod:`neurorecon.interchange.netx`) checks the same constants.
"""

from __future__ import annotations

import numpy as np

from neurorecon.quantize.scale import WeightGrid

NETX_BIAS_EXP = 6  # netx/hdf5.py get_neuron_params: 'bias_exp': 6
BIAS_MANT_RANGE = (-(2**12), 2**12 - 1)


def netx_bias(total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bias_mant, bias_exp) nearest to the total bias ``total`` that netx loads unchanged."""
    mant = np.clip(np.round(np.asarray(total, dtype=np.float64) / 2**NETX_BIAS_EXP), *BIAS_MANT_RANGE)
    return mant.astype(np.int64), np.full(mant.shape, NETX_BIAS_EXP, dtype=np.int64)


def netx_weight_grid(grid: WeightGrid, weight_exp: int) -> WeightGrid:
    """The part of ``grid`` whose mantissas are whole numbers per spike at ``weight_exp``."""
    return grid.with_step(2 ** max(0, -weight_exp))
