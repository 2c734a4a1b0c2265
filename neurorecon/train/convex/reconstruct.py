"""Reconstruction: the selected witnesses and the convex readout become a layered Network.

Hidden neurons are the witnesses with non-zero readout rows, ordered by (du, dv, vth) group so
each Lava process / chip neuron configuration is a contiguous block. The readout layer comes
from :mod:`neurorecon.train.convex.integer_readout` (fixed point) or is the float solution itself.
"""

from __future__ import annotations

import numpy as np

from neurorecon.network import LIFLayer, Network
from neurorecon.simulate.emulator import emulate
from neurorecon.readout import Readout
from neurorecon.train.convex.witnesses import select_rows

FLOAT_NEVER = 1e30  # a float readout threshold no voltage reaches


def hidden_order(layer: LIFLayer) -> np.ndarray:
    """Neuron order that makes every (du, dv, vth) group contiguous (stable within a group)."""
    group = np.empty(layer.n_neurons, dtype=np.int64)
    for g, members in enumerate(layer.groups()):
        group[members] = g
    return np.argsort(group, kind="stable")


def pack(hidden: list[LIFLayer], witness_rows: np.ndarray, modules: np.ndarray, W: np.ndarray
         ) -> tuple[list[LIFLayer], np.ndarray]:
    """Keep the selected witnesses of the last hidden layer (with every other member of their
    modules, at readout weight 0), grouped by (du, dv, vth); returns the layers and the readout
    weights in the packed neuron order."""
    kept = np.flatnonzero(np.isin(modules, modules[witness_rows]))
    weights = np.zeros((len(kept), W.shape[1]))
    weights[np.searchsorted(kept, witness_rows)] = W
    selected = select_rows(hidden[-1], kept)
    order = hidden_order(selected)
    return hidden[:-1] + [select_rows(selected, order)], weights[order]


def hidden_raster(hidden: list[LIFLayer], X: np.ndarray, arithmetic: str) -> np.ndarray:
    """Spikes (n, T + depth + 1, S) of the last hidden layer: everything the readout will see."""
    net = Network(hidden, arithmetic=arithmetic)
    steps = X.shape[1] + len(hidden)
    return emulate(net, X, steps, ("spikes",), [len(hidden) - 1]).spikes[-1]


def float_readout_layer(W: np.ndarray, intercept: np.ndarray, readout: Readout, output_steps: int) -> LIFLayer:
    """The float readout: scores ``F W + b`` exactly (the integrator adds its bias every step)."""
    du, dv = readout.output_decays("float")
    share = output_steps if readout.kind == "count" else 1
    return LIFLayer(W.T.copy(), du=du, dv=dv, vth=FLOAT_NEVER, bias_mant=intercept / share)
