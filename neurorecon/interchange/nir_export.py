"""Network -> NIR graph: ``Input -> Affine -> CubaLIF (or IF) -> ... -> Output``.

Each layer becomes an Affine node (``fc<i>``) and a neuron node (``lif<i>``; ``if<i>`` for layers
with du=1 and dv=0), under the convention of :mod:`~neurorecon.interchange.convention`; a
recurrent Dense becomes an Affine node ``rec<i>`` from the neuron back to itself (the NIR
recurrence pattern of the Braille graphs). A fixed-point network is exported as its float
equivalent in fixed units (:func:`~neurorecon.quantize.dequantize_network`); its integers go in
the nodes' metadata for reference, but NIR readers must not rely on metadata, so the Network
file remains the source of truth for them.
"""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np

from neurorecon._version import __version__
from neurorecon._atomic import atomic_path
from neurorecon.errors import NeuroreconError
from neurorecon.interchange.convention import CONVENTION, DEFAULT_DT, nir_from_lava
from neurorecon.network import LIFLayer, Network
from neurorecon.quantize import dequantize_network

NOT_CARRIED = (
    "Lava semantics NIR does not state: strict threshold v > vth, reset of v to 0, u and v start at 0, "
    "one step of delay per Dense (layer i sees input frame k at Lava step k+i+2, i+1 steps after a "
    "delay-free simulator), 24-bit state (fixed point); integer weights, exponents and decays are in "
    "the Network file"
)


def _fixed_metadata(layer: LIFLayer) -> tuple[dict, dict]:
    dense = {
        "neurorecon.weights_int": layer.weights.astype(np.int64),
        "neurorecon.weight_exp": layer.weight_exp,
        "neurorecon.num_weight_bits": layer.num_weight_bits,
        "neurorecon.sign_mode": layer.dense.resolved_sign_mode(),
    }
    neuron = {
        f"neurorecon.{name}": getattr(layer, name).astype(np.int64)
        for name in ("du", "dv", "vth", "bias_mant", "bias_exp")
    }
    return dense, neuron


def to_nir(net: Network, dt: float = DEFAULT_DT) -> nir.NIRGraph:
    """The NIR graph of ``net`` (float, or a fixed network's float equivalent in fixed units)."""
    if not isinstance(net, Network):
        raise NeuroreconError("to_nir() needs a neurorecon.Network")
    if not (np.isfinite(dt) and dt > 0):
        raise NeuroreconError(f"dt must be a positive number of seconds; got {dt!r}")
    float_net = net if net.arithmetic == "float" else dequantize_network(net)
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type={"input": np.array([net.n_inputs])})}
    edges: list[tuple[str, str]] = []
    previous = "input"
    for i, layer in enumerate(float_net.layers):
        neuron, affine_bias = nir_from_lava(layer.du, layer.dv, layer.vth, layer.bias_mant, dt, f"layer {i}")
        kind = "if" if isinstance(neuron, (nir.IF, nir.I)) else "lif"
        fc, cell = f"fc{i}", f"{kind}{i}"
        dense_meta, neuron_meta = _fixed_metadata(net.layers[i]) if net.arithmetic == "fixed" else ({}, {})
        nodes[fc] = nir.Affine(weight=layer.weights.copy(), bias=affine_bias, metadata=dense_meta)
        neuron.metadata = neuron_meta
        nodes[cell] = neuron
        edges += [(previous, fc), (fc, cell)]
        if layer.recurrent is not None:
            rec_meta = {}
            if net.arithmetic == "fixed":
                rec = net.layers[i].recurrent
                rec_meta = {"neurorecon.weights_int": rec.weights.astype(np.int64), "neurorecon.weight_exp": rec.weight_exp}
            nodes[f"rec{i}"] = nir.Affine(
                weight=layer.recurrent.weights.copy(), bias=np.zeros(layer.n_neurons), metadata=rec_meta
            )
            edges += [(cell, f"rec{i}"), (f"rec{i}", cell)]
        previous = cell
    nodes["output"] = nir.Output(output_type={"output": np.array([net.n_outputs])})
    edges.append((previous, "output"))
    metadata = {
        "neurorecon.version": __version__,
        "neurorecon.dt": float(dt),
        "neurorecon.convention": CONVENTION,
        "neurorecon.not_carried": NOT_CARRIED,
        "neurorecon.arithmetic": net.arithmetic,
        "neurorecon.input_message_bits": int(net.layers[0].num_message_bits),
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=True)


def write_nir(net: Network, path: str | Path, dt: float = DEFAULT_DT) -> Path:
    """Export ``net`` to a ``.nir`` file, atomically."""
    graph = to_nir(net, dt)
    with atomic_path(path, suffix=".nir") as tmp:
        nir.write(tmp, graph)
    return Path(path)
