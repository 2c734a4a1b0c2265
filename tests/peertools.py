"""The NIR peers themselves (snnTorch, Sinabs, Rockpool, Norse): load a graph in each, run it,
and the small models each one's own NIR writer exports.

Every runner takes per-step inputs ``x`` (n, T, N) and returns the output node's spikes (n, T, M)
as booleans, the peer's own (delay-free) time axis; ``emulator_output`` puts neurorecon's output
layer on that axis (Lava's Dense delays each layer by one step). Used by tests/test_peers.py and
docs/peers_table.py, so the documented agreements are the tested ones.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import nir
import numpy as np
import torch

import neurorecon as nr


@contextlib.contextmanager
def quiet():
    """The peers print and warn on import and load (deprecations, snnTorch's print statements)."""
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


def emulator_output(net: nr.Network, x: np.ndarray) -> np.ndarray:
    """The output layer's spikes, shifted onto a delay-free simulator's time axis."""
    t = x.shape[1]
    res = nr.simulate(net, x, n_steps=nr.readout_steps(net, t), record=("spikes",), layers=[net.n_layers - 1])
    return res.spikes[-1][:, net.n_layers:net.n_layers + t]


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.asarray(a, bool) == np.asarray(b, bool)))


# ----------------------------------------------------------------------------- snnTorch
def snntorch_model(graph: nir.NIRGraph) -> torch.nn.Module:
    from snntorch.import_nir import import_from_nir

    with quiet():
        return import_from_nir(graph)


def run_snntorch(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """snnTorch's import: neurons keep hidden state (``init_hidden``), reset between samples."""
    import snntorch.utils

    out = []
    with torch.no_grad():
        for sample in x:
            snntorch.utils.reset(model)
            steps = []
            for frame in sample:
                y = model(torch.as_tensor(frame, dtype=torch.float32))
                steps.append((y[0] if isinstance(y, tuple) else y).numpy().reshape(-1))
            out.append(np.stack(steps))
    return np.stack(out) > 0


# ----------------------------------------------------------------------------- Sinabs
def sinabs_model(graph: nir.NIRGraph, batch: int, single_spike_reset: bool = False) -> torch.nn.Module:
    """Sinabs' ``from_nir``; ``single_spike_reset`` swaps its IF defaults (several spikes per step,
    reset by subtraction, v floored at -v_threshold) for NIR's (one spike, reset to v_reset = 0)."""
    import sinabs
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, SingleSpike

    with quiet():
        model = sinabs.from_nir(graph, batch_size=batch)
    if single_spike_reset:
        for module in model.modules():
            if isinstance(module, sl.StatefulLayer):
                module.spike_fn, module.reset_fn, module.min_v_mem = SingleSpike, MembraneReset(), None
    return model


def run_sinabs(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """Sinabs' squeezed layers take (batch * T, ...) and keep state per batch row."""
    import sinabs.layers as sl

    n, t = x.shape[:2]
    for module in model.modules():
        if isinstance(module, sl.StatefulLayer):
            module.reset_states()
    with torch.no_grad():
        y = model(torch.as_tensor(x.reshape(n * t, *x.shape[2:]), dtype=torch.float32))
    y = y[0] if isinstance(y, tuple) else y
    return y.numpy().reshape(n, t, -1) > 0


# ----------------------------------------------------------------------------- Rockpool
def rockpool_model(graph: nir.NIRGraph) -> torch.nn.Module:
    from rockpool.nn.modules import from_nir

    with quiet():
        return from_nir(graph)


def run_rockpool(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """Rockpool's torch modules run whole (n, T, N) sequences from a zero state."""
    with torch.no_grad(), quiet():
        y = model(torch.as_tensor(x, dtype=torch.float32))
    y = y[0] if isinstance(y, tuple) else y
    return y.numpy().reshape(x.shape[0], x.shape[1], -1) > 0


# ----------------------------------------------------------------------------- Norse
def run_norse_module(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """A Norse ``SequentialState`` stepped frame by frame (batched, state carried)."""
    state, steps = None, []
    with torch.no_grad():
        for t in range(x.shape[1]):
            y, state = model(torch.as_tensor(x[:, t], dtype=torch.float32), state)
            steps.append(y.numpy())
    return np.stack(steps, axis=1) > 0
