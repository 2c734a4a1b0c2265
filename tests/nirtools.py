"""NIR test helpers: run a graph in Norse (an independent NIR simulator), compare to the emulator."""

from __future__ import annotations

import logging
import warnings

import nir
import numpy as np
import torch

import neurorecon as nr


def run_norse(graph: nir.NIRGraph, x: np.ndarray, dt: float, nodes: list[str]) -> dict[str, np.ndarray]:
    """Spikes of ``nodes`` (Norse's sanitized names), shape (n, T, N), running ``graph`` on ``x``.

    Norse 1.1.0's ``from_nir`` discretises CubaLIF with forward Euler at ``dt`` and applies NIR
    Affine nodes without delay; recurrent edges carry the previous step's output.
    """
    logging.disable(logging.WARNING)  # Norse warns about r != 1 on LIF/IF
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # nirtorch.load, torch.jit.script
            import norse.torch

            model = norse.torch.from_nir(graph, dt=dt)
    finally:
        logging.disable(logging.NOTSET)
    records = {name: [] for name in nodes}
    with torch.no_grad():
        for sample in x:
            state, steps = None, {name: [] for name in nodes}
            for frame in sample:
                _, state = model(torch.as_tensor(frame, dtype=torch.float32), state)
                for name in nodes:
                    steps[name].append(state.cache[name].numpy().copy())
            for name in nodes:
                records[name].append(np.stack(steps[name]))
    return {name: np.stack(records[name]) > 0 for name in nodes}


def emulator_aligned(net: nr.Network, x: np.ndarray) -> list[np.ndarray]:
    """Emulator spikes per layer, shifted to a delay-free simulator's time axis.

    Lava's Dense delays by one step, so layer i's response to frame k appears at record
    k + 1 + i; a NIR simulator without delays shows it at step k.
    """
    t = x.shape[1]
    res = nr.simulate(net, x, n_steps=nr.readout_steps(net, t), record=("spikes",))
    return [res.spikes[i][:, 1 + i:1 + i + t] for i in range(net.n_layers)]


def nested_recurrence(flat: nir.NIRGraph, neuron: str, loop: str, name: str) -> nir.NIRGraph:
    """``flat`` with ``neuron`` and its recurrent ``loop`` moved into a sub-graph ``name``.

    The layout the NIR paper's Braille *_subgraph files meant to have (their sub-graph edges
    name a node 'lif' that is stored as 'lif1'; see docs/interchange.md).
    """
    n = np.asarray(flat.nodes[neuron].output_type["output"])
    sub = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": n}), "lif": flat.nodes[neuron],
               "lin": flat.nodes[loop], "output": nir.Output(output_type={"output": n})},
        edges=[("input", "lif"), ("lif", "lin"), ("lin", "lif"), ("lif", "output")],
        type_check=False,
    )
    nodes = {k: v for k, v in flat.nodes.items() if k not in (neuron, loop)}
    nodes[name] = sub
    edges = []
    for src, dst in flat.edges:
        if {src, dst} <= {neuron, loop}:
            continue
        edges.append((name if src == neuron else src, name if dst == neuron else dst))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
