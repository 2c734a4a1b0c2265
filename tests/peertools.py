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


# ----------------------------------------------------------------------------- the cases
def cuba_net(rng) -> nr.Network:
    """Two CubaLIF layers, no bias, one (du, dv, vth) per layer (snnTorch holds one threshold)."""
    return nr.Network([
        nr.LIFLayer(rng.normal(0, 1, (12, 6)), du=0.3, dv=0.1, vth=1.0),
        nr.LIFLayer(rng.normal(0, 1, (4, 12)), du=0.5, dv=0.2, vth=1.0),
    ], arithmetic="float")


def if_net(rng) -> nr.Network:
    """Two IF layers (du = 1, dv = 0): what Sinabs reads."""
    return nr.Network([
        nr.LIFLayer(np.abs(rng.normal(0, 0.5, (12, 6))), du=1.0, dv=0.0, vth=1.0),
        nr.LIFLayer(np.abs(rng.normal(0, 0.5, (4, 12))), du=1.0, dv=0.0, vth=1.0),
    ], arithmetic="float")


def spikes_in(rng, n=8, t=50, width=6, p=0.3) -> np.ndarray:
    return (rng.random((n, t, width)) < p).astype(np.float32)


def _scaled(model: torch.nn.Module, factor: float) -> torch.nn.Module:
    """Weights ``|w| * factor`` (factor > 0) or ``w * -factor``: enough drive to spike."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.copy_(module.weight.abs() * factor if factor > 0 else module.weight * -factor)
    return model


def snntorch_writer() -> tuple[torch.nn.Module, nir.NIRGraph]:
    """snnTorch Synaptic -> Leaky (reset to zero, undelayed: what its file can say), its export."""
    import snntorch as snn
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    common = dict(reset_mechanism="zero", reset_delay=False, init_hidden=True)
    model = _scaled(torch.nn.Sequential(
        torch.nn.Linear(6, 12, bias=False),
        snn.Synaptic(alpha=torch.full((12,), 0.7), beta=torch.full((12,), 0.9), threshold=torch.ones(12), **common),
        torch.nn.Linear(12, 4, bias=False),
        snn.Leaky(beta=torch.full((4,), 0.8), threshold=torch.ones(4), output=True, **common),
    ), -3.0)
    with quiet():
        return model, export_to_nir(model, torch.zeros(6))


def sinabs_writer(batch: int, nir_defaults: bool) -> tuple[torch.nn.Module, nir.NIRGraph]:
    """Sinabs IAF -> IAF, with its defaults or with NIR's (one spike, reset to zero), its export."""
    import sinabs
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, SingleSpike

    torch.manual_seed(0)
    kw = dict(spike_fn=SingleSpike, reset_fn=MembraneReset(), min_v_mem=None) if nir_defaults else {}
    model = _scaled(torch.nn.Sequential(
        torch.nn.Linear(6, 12, bias=False), sl.IAFSqueeze(batch_size=batch, **kw),
        torch.nn.Linear(12, 4, bias=False), sl.IAFSqueeze(batch_size=batch, **kw),
    ), 2.0)
    with quiet():
        return model, sinabs.to_nir(model, torch.zeros(batch, 6))


def rockpool_writer() -> tuple[torch.nn.Module, nir.NIRGraph]:
    """Rockpool LIFTorch -> LIFTorch at dt = 1 ms, its export."""
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch
    from rockpool.nn.modules import to_nir as rockpool_to_nir

    torch.manual_seed(0)
    model = Sequential(LinearTorch((6, 12)), LIFTorch(12, dt=1e-3), LinearTorch((12, 4)), LIFTorch(4, dt=1e-3))
    with quiet():
        return model, rockpool_to_nir(model)


def norse_writer(cell: str) -> tuple[torch.nn.Module, nir.NIRGraph]:
    """Norse ``LIFBoxCell`` (NIR LIF) or ``LIFCell`` (CubaLIF) networks, Norse's ``to_nir``."""
    import norse.torch as norse

    torch.manual_seed(0)
    make = getattr(norse, cell)
    model = _scaled(norse.SequentialState(
        torch.nn.Linear(5, 8, bias=False), make(), torch.nn.Linear(8, 3, bias=False), make()
    ), -(6.0 if cell == "LIFCell" else 30.0))
    with quiet():
        return model, norse.to_nir(model, torch.zeros(1, 5))
