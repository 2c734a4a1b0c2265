"""Class predictions of a classifier Network (metadata ``readout``), on any backend.

A prediction needs only the output layer's final voltage (``last``, ``count``) or its voltage
trace (``step``): nothing else is recorded. How the class is read from the voltage is
:func:`neurorecon.simulate.lava_network.readout_predictions`, which the exported Lava script
ships verbatim, so the script predicts exactly as neurorecon does.
"""

from __future__ import annotations

import numpy as np

from neurorecon._progress import ProgressOption
from neurorecon.data.dataset import check_sequences
from neurorecon.network import Network
from neurorecon.readout import Readout
from neurorecon.simulate import LAVA_TIMEOUT, readout_steps, simulate
from neurorecon.simulate.lava_network import readout_predictions
from neurorecon.simulate.result import SimulationResult


def predict_network(net: Network, X, backend: str = "emulator", progress: ProgressOption = None,
                    timeout: float = LAVA_TIMEOUT) -> np.ndarray:
    """Predictions of a classifier Network on ``X`` with a backend: (n,) or (n, T) for ``step``."""
    return readout_run(net, check_sequences(X, "X"), backend, progress=progress, timeout=timeout)[0]


def readout_run(net: Network, X: np.ndarray, backend: str = "emulator", record: tuple[str, ...] = (),
                progress: ProgressOption = None, timeout: float = LAVA_TIMEOUT) -> tuple[np.ndarray, SimulationResult]:
    """Run a classifier Network for its readout: (predictions, the readout layer's SimulationResult).

    ``record`` adds what the caller needs besides the predictions (e.g. ``"counts"``).
    """
    readout = Readout(net.metadata.get("readout", "last"))
    last = net.n_layers - 1
    record = tuple(record) + (("v",) if readout.per_step else ())
    result = simulate(net, X, backend=backend, n_steps=readout_steps(net, X.shape[1]), record=record, layers=[last],
                      progress=progress, timeout=timeout)
    v = result.v[last] if readout.per_step else None
    return readout_predictions(readout.kind, result.final_v[last], v, X.shape[1], net.n_layers), result
