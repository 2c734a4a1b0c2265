"""Network -> NIR graph: ``Input -> Affine -> CubaLIF (or IF) -> ... -> Output``.

Each layer becomes an Affine node (``fc<i>``) and a neuron node (``lif<i>``; ``if<i>`` for layers
with du=1 and dv=0), under the convention of :mod:`~neurorecon.interchange.convention`; a
recurrent Dense becomes an Affine node ``rec<i>`` from the neuron back to itself (the NIR
recurrence pattern of the Braille graphs). Synaptic delays become a ``Delay`` node before the
Affine when they are one per input (``fc<i>_delay``), after it when they are one per neuron
(NIR's Delay delays whole values; other delay patterns are refused). A fixed-point network is exported as its float
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
from neurorecon.convolution import conv_geometry, read_kernel
from neurorecon.interchange.nir_linear import pool_matrix
from neurorecon.network import Dense, LIFLayer, Network
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


POOLS = ("SumPool2d", "AvgPool2d")


def _pools(ops: list[dict]):
    """The matrix of a run of non-overlapping pools (and Flattens), or None if they overlap."""
    matrix = None
    for op in ops:
        if op["type"] == "Flatten":
            continue
        if op["type"] not in POOLS or op["stride"] != op["kernel_size"] or any(op["padding"]):
            return None
        step, _ = pool_matrix(tuple(op["in_shape"]), op, "pool")
        matrix = step if matrix is None else step @ matrix
    return matrix


def _pool_node(op: dict) -> nir.NIRNode:
    kind = nir.SumPool2d if op["type"] == "SumPool2d" else nir.AvgPool2d
    return kind(kernel_size=np.array(op["kernel_size"]), stride=np.array(op["stride"]), padding=np.array(op["padding"]))


def _flatten_node(op: dict) -> nir.Flatten:
    return nir.Flatten(input_type={"input": np.array(op["in_shape"])}, start_dim=op["start_dim"], end_dim=op["end_dim"])


def structured_nodes(ops: list[dict], weights: np.ndarray, bias: np.ndarray) -> list[nir.NIRNode] | None:
    """The NIR nodes an imported run of linear nodes came from (``ops``, recorded at import), with
    the parameters that reproduce the layer's ``weights`` and per-neuron ``bias`` exactly, or None.

    Handles ``[non-overlapping pools, Flatten]* -> Conv2d | Affine -> [Flatten]*``: the pools'
    matrix P has orthogonal rows, so the node's own matrix is ``W P^T (P P^T)^-1``; a Conv2d's
    kernel is read off its taps. The result is re-lowered and must give ``weights`` back.
    """
    kinds = [op["type"] for op in ops]
    params = [k for k, kind in enumerate(kinds) if kind in ("Conv2d", "Affine")]
    if len(params) != 1 or "Scale" in kinds or any(kind != "Flatten" for kind in kinds[params[0] + 1:]):
        return None
    k, op = params[0], ops[params[0]]
    before = _pools(ops[:k])
    if before is None and any(kind != "Flatten" for kind in kinds[:k]):
        return None
    matrix = weights
    if before is not None:
        gram = np.asarray((before @ before.T).diagonal()).reshape(-1)
        matrix = np.asarray(before @ weights.T).T / gram  # W P^T (P P^T)^-1, P P^T diagonal
    nodes = [_pool_node(o) if o["type"] in POOLS else _flatten_node(o) for o in ops[:k]]
    if op["type"] == "Conv2d":
        geometry = conv_geometry(op)
        kernel = read_kernel(matrix, geometry)
        rebuilt = geometry.matrix(kernel).toarray()
        channel_bias = bias.reshape(geometry.weight_shape[0], -1)
        if not np.allclose(channel_bias, channel_bias[:, :1], rtol=1e-12, atol=0):
            return None
        node = nir.Conv2d(input_shape=geometry.in_shape[1:], weight=kernel, stride=op["stride"], padding=op["padding"],
                          dilation=op["dilation"], groups=op["groups"], bias=channel_bias[:, 0].copy())
    else:
        rebuilt, node = matrix, nir.Affine(weight=matrix.copy(), bias=bias.copy())
    check = rebuilt if before is None else np.asarray((before.T @ rebuilt.T)).T
    scale = max(float(np.abs(weights).max(initial=0.0)), 1e-300)
    if not np.allclose(check, weights, rtol=0, atol=1e-12 * scale):
        return None
    nodes.append(node)
    return nodes + [_flatten_node(o) for o in ops[k + 1:]]


def _delay_node(dense: Dense, dt: float, where: str) -> tuple[str, nir.Delay] | None:
    """Where a NIR Delay node holds ``dense``'s synaptic delays (``"before"`` the Affine: one
    delay per input; ``"after"``: one per neuron) and the node, or None without delays."""
    if dense.delays is None:
        return None
    used = dense.weights != 0
    for side, axis in (("before", 0), ("after", 1)):
        longest = np.where(used, dense.delays, -1).max(axis=axis)
        shortest = np.where(used, dense.delays, np.iinfo(np.int64).max).min(axis=axis)
        if np.all((longest == shortest) | (longest < 0)):
            return side, nir.Delay(delay=np.maximum(longest, 0) * float(dt))
    raise NeuroreconError(
        f"{where}: its synaptic delays differ both along inputs and along neurons; NIR's Delay node delays whole "
        "values, so they cannot be written as a NIR graph (the Network file and the Lava export hold them; "
        "train with --max-delay 0 for a network NIR can hold)"
    )


def _linked(edges: list, nodes: dict, name: str, source: str, target: str, dense: Dense, dt: float,
            where: str) -> None:
    """Edges ``source -> name -> target`` with ``dense``'s Delay node where it belongs."""
    delay = _delay_node(dense, dt, where)
    if delay is None:
        edges += [(source, name), (name, target)]
        return
    side, node = delay
    if side == "after" and np.any(nodes[name].bias):
        raise NeuroreconError(
            f"{where}: its synaptic delays are one per neuron, so NIR's Delay would follow the Affine, whose bias "
            "(the neurons' bias) it would delay too; NIR cannot write this layer"
        )
    nodes[f"{name}_delay"] = node
    path = [source, f"{name}_delay", name, target] if side == "before" else [source, name, f"{name}_delay", target]
    edges += list(zip(path, path[1:]))


def _shaped(node: nir.NIRNode, shape: tuple[int, ...]) -> nir.NIRNode:
    """A neuron node with its per-neuron parameters in ``shape`` (a convolution's (C, H, W))."""
    fields = {f: np.asarray(getattr(node, f)).reshape(shape) for f in node.__dataclass_fields__
              if f not in ("input_type", "output_type", "metadata") and getattr(node, f) is not None}
    return type(node)(**fields)


def to_nir(net: Network, dt: float = DEFAULT_DT) -> nir.NIRGraph:
    """The NIR graph of ``net`` (float, or a fixed network's float equivalent in fixed units)."""
    if not isinstance(net, Network):
        raise NeuroreconError("to_nir() needs a neurorecon.Network")
    if not (np.isfinite(dt) and dt > 0):
        raise NeuroreconError(f"dt must be a positive number of seconds; got {dt!r}")
    if net.tail_steps:
        raise NeuroreconError(
            f"this network reads its answer {net.tail_steps} steps after the last frame (tail_steps); a NIR graph "
            "has no readout time, so NIR cannot carry it (export it to Lava)"
        )
    float_net = net if net.arithmetic == "float" else dequantize_network(net)
    input_shape = net.metadata.get("input_shape") or [net.n_inputs]
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type={"input": np.array(input_shape)})}
    edges: list[tuple[str, str]] = []
    previous = "input"
    imported = (net.metadata.get("nir_import") or {}).get("layers") or []
    for i, layer in enumerate(float_net.layers):
        neuron, affine_bias = nir_from_lava(layer.du, layer.dv, layer.vth, layer.bias_mant, dt, f"layer {i}")
        kind = "if" if isinstance(neuron, (nir.IF, nir.I)) else "lif"
        fc, cell = f"fc{i}", f"{kind}{i}"
        dense_meta, neuron_meta = _fixed_metadata(net.layers[i]) if net.arithmetic == "fixed" else ({}, {})
        ops = imported[i].get("structure") if i < len(imported) else None
        structured = None
        if ops and any(op["type"] != "Affine" for op in ops) and layer.recurrent is None and layer.dense.delays is None:
            structured = structured_nodes(ops, layer.weights, affine_bias)
        if structured is None:
            shape = np.asarray(nodes[previous].output_type["output"])
            if shape.size > 1:  # an image (the Input, or a convolution's neurons) into a dense matrix
                nodes[f"flat{i}"] = nir.Flatten(input_type={"input": shape}, start_dim=0, end_dim=-1)
                edges.append((previous, f"flat{i}"))
                previous = f"flat{i}"
            nodes[fc] = nir.Affine(weight=layer.weights.copy(), bias=affine_bias, metadata=dense_meta)
            _linked(edges, nodes, fc, previous, cell, layer.dense, dt, f"layer {i}")
        else:  # the convolution / pooling nodes it was imported from, in their order
            names = [f"{fc}_{k}" for k in range(len(structured))]
            for name, node in zip(names, structured):
                nodes[name] = node
            # the integers stay in the Network file: the lowered matrix would dwarf the kernel
            structured[-1].metadata = {k: v for k, v in dense_meta.items() if k != "neurorecon.weights_int"}
            edges += list(zip([previous] + names, names + [cell]))
            if isinstance(structured[-1], nir.Conv2d):
                neuron = _shaped(neuron, tuple(structured[-1].output_type["output"]))
        neuron.metadata = neuron_meta
        nodes[cell] = neuron
        if layer.recurrent is not None:
            rec_meta = {}
            if net.arithmetic == "fixed":
                rec = net.layers[i].recurrent
                rec_meta = {"neurorecon.weights_int": rec.weights.astype(np.int64), "neurorecon.weight_exp": rec.weight_exp}
            nodes[f"rec{i}"] = nir.Affine(
                weight=layer.recurrent.weights.copy(), bias=np.zeros(layer.n_neurons), metadata=rec_meta
            )
            _linked(edges, nodes, f"rec{i}", cell, cell, layer.recurrent, dt, f"layer {i} (recurrent)")
        previous = cell
    nodes["output"] = nir.Output(output_type={"output": np.array(nodes[previous].output_type["output"])})
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
