"""Reading a NIR graph and reducing it to the chain the Network can hold.

The Network is a chain of (Dense -> LIF population) layers, each with an optional recurrent
Dense. So a NIR graph imports when, after inlining sub-graphs, it is::

    Input -> [linear]* -> neuron -> [linear]* -> neuron -> ... -> neuron -> Output

where ``[linear]*`` is any run of Affine / Linear / Scale / Flatten / Conv2d / SumPool2d /
AvgPool2d / Delay nodes (composed into one matrix, bias and synaptic delays:
:mod:`~neurorecon.interchange.nir_linear`)
and a neuron may have self-recurrence: a run of linear nodes from the neuron back to itself (the
NIR recurrence pattern, flat or as a sub-graph). Anything else (branches, skip connections,
cycles through other neurons, 1-D convolutions) is refused with a message naming the
node and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import nir
import numpy as np

from neurorecon._hdf5 import open_hdf5
from neurorecon.errors import NeuroreconError
from neurorecon.interchange.convention import NEURON_TYPES, neuron_size
from neurorecon.interchange.nir_linear import CONV_TYPES, LINEAR_TYPES, LinearMap

REFUSED_BECAUSE = {
    "Conv1d": "1-D convolutions are not lowered (Conv2d, SumPool2d and AvgPool2d are)",
    "Threshold": "a bare threshold (no membrane) has no Lava LIF equivalent",
}
SUPPORTED = (
    "Input, Output, Affine, Linear, Scale, Flatten, Conv2d, SumPool2d, AvgPool2d (lowered to Dense), "
    "Delay (synaptic delays), "
    "CubaLIF, CubaLI, LIF, LI, IF, I and sub-graphs"
)


def read_nir(path: str | Path) -> nir.NIRGraph:
    """Read a ``.nir`` file (without NIR's strict type check; shapes are checked here)."""
    path = Path(path)
    with open_hdf5(path, f"NIR file {path} does not exist", "NIR file") as f:
        node_type = f["node"].get("type") if isinstance(f.get("node"), h5py.Group) else None
        kind = node_type[()] if isinstance(node_type, h5py.Dataset) else None
    kind = kind.decode(errors="replace") if isinstance(kind, bytes) else kind
    if kind is not None and kind != "NIRGraph":
        raise NeuroreconError(f"{path} holds a single {kind} node, not a NIR graph; wrap it in a nir.NIRGraph "
                              "with Input and Output nodes")
    try:
        graph = nir.read(path, type_check=False)
    except Exception as exc:  # nir raises KeyError/ValueError/AssertionError/TypeError on bad content
        detail = _dangling_edge(path) or str(exc).strip() or type(exc).__name__
        raise NeuroreconError(f"{path} is not a valid NIR graph: {detail}") from None
    if not isinstance(graph, nir.NIRGraph):
        raise NeuroreconError(f"{path} holds a single {type(graph).__name__} node, not a NIR graph")
    return graph


def _dangling_edge(path: Path) -> str | None:
    """Name the (sub-)graph and edge of a file whose edges name a missing node, if that is the fault."""

    def visit(group, where: str) -> str | None:
        if "nodes" not in group or "edges" not in group:
            return None
        names = list(group["nodes"].keys())
        for pair in group["edges"][()]:
            src, dst = (p.decode() if isinstance(p, bytes) else str(p) for p in pair)
            for end in (src, dst):
                if end not in names and end.split(".", 1)[0] not in names:
                    return (
                        f"{where}: edge ({src!r}, {dst!r}) names node {end!r}, which does not exist "
                        f"(nodes: {', '.join(names)}); the file is malformed"
                    )
        for name in names:
            found = visit(group["nodes"][name], f"sub-graph '{name}'")
            if found:
                return found
        return None

    try:
        with h5py.File(path, "r") as f:
            return visit(f["node"], "the graph") if "node" in f else "no 'node' group (not written by nir.write)"
    except (OSError, KeyError, ValueError, TypeError):
        return None


@dataclass
class NirLayer:
    """One neuron node with the composed linear maps feeding it."""

    name: str
    node: nir.NIRNode
    feed: LinearMap
    recurrent: LinearMap | None


@dataclass
class NirChain:
    n_inputs: int
    layers: list[NirLayer]
    notes: list[str]
    input_shape: tuple[int, ...]  # the Input's shape: (N,), or (C, H, W) for images


def _flatten(graph: nir.NIRGraph, prefix: str, nodes: dict, edges: list, boundary: set) -> None:
    """Inline sub-graphs: names become ``sub.node``; their Input/Output become pass-throughs."""
    where = f"sub-graph '{prefix[:-1]}'" if prefix else "the graph"
    for src, dst in graph.edges:
        for end in (src, dst):
            if end not in graph.nodes and end.split(".", 1)[0] not in graph.nodes:
                raise NeuroreconError(
                    f"{where}: edge ({src!r}, {dst!r}) names node {end!r}, which does not exist "
                    f"(nodes: {', '.join(graph.nodes)}); the file is malformed"
                )
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            _flatten(node, full + ".", nodes, edges, boundary)
        else:
            nodes[full] = node
            if prefix and isinstance(node, (nir.Input, nir.Output)):
                boundary.add(full)

    def port(end: str, kind: type) -> str:
        node = graph.nodes.get(end)
        if isinstance(node, nir.NIRGraph):
            ports = [k for k, v in node.nodes.items() if isinstance(v, kind)]
            if len(ports) != 1:
                raise NeuroreconError(
                    f"sub-graph '{prefix + end}' has {len(ports)} {kind.__name__} nodes; only single-input, "
                    "single-output sub-graphs import"
                )
            return f"{prefix}{end}.{ports[0]}"
        return prefix + end

    edges.extend((port(src, nir.Output), port(dst, nir.Input)) for src, dst in graph.edges)


def flatten_graph(graph: nir.NIRGraph) -> tuple[dict, list[tuple[str, str]]]:
    """All leaf nodes and edges of ``graph`` with sub-graphs inlined."""
    nodes: dict = {}
    edges: list = []
    boundary: set = set()
    _flatten(graph, "", nodes, edges, boundary)
    for name in boundary:  # splice out the sub-graphs' own Input/Output nodes
        sources = [s for s, d in edges if d == name]
        targets = [d for s, d in edges if s == name]
        edges = [(s, d) for s, d in edges if name not in (s, d)] + [(s, d) for s in sources for d in targets]
        del nodes[name]
    return nodes, list(dict.fromkeys(edges))


def _size(shape) -> tuple[int, bool]:
    dims = np.asarray(shape).reshape(-1)
    return int(np.prod(dims)), dims.size > 1


def nir_chain(graph: nir.NIRGraph) -> NirChain:
    """Reduce a NIR graph to layers, or raise a clear error saying why it cannot be."""
    nodes, edges = flatten_graph(graph)
    unsupported = [
        f"'{k}' ({type(v).__name__})" for k, v in nodes.items()
        if not isinstance(v, LINEAR_TYPES + NEURON_TYPES + (nir.Input, nir.Output))
    ]
    if unsupported:
        first = next(v for v in nodes.values() if not isinstance(v, LINEAR_TYPES + NEURON_TYPES + (nir.Input, nir.Output)))
        reason = REFUSED_BECAUSE.get(type(first).__name__, "the Network holds Dense layers of LIF neurons")
        raise NeuroreconError(
            f"node {unsupported[0]} is not supported: {reason} (importable: {SUPPORTED}); "
            f"unsupported nodes here: {', '.join(unsupported)}"
        )
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NeuroreconError(
            f"the graph has {len(inputs)} Input and {len(outputs)} Output nodes; a Network has exactly one of each"
        )
    succ = {k: [d for s, d in edges if s == k] for k in nodes}
    pred = {k: [s for s, d in edges if d == k] for k in nodes}
    notes: list[str] = []
    shape = [int(d) for d in np.asarray(nodes[inputs[0]].input_type["input"]).reshape(-1)]
    if len(shape) == 2 and shape[0] == 1:
        notes.append(f"the Input declares shape {shape}: read as a batch of one vector of {shape[1]} (as torch exporters write it)")
        shape = shape[1:]
    if not shape or min(shape) < 1:
        raise NeuroreconError(f"the Input node declares shape {shape}; it needs at least one value")
    input_shape = tuple(shape)
    n_in = int(np.prod(shape))
    if any(isinstance(v, CONV_TYPES) for v in nodes.values()):
        notes.append(
            "convolution and pooling are lowered to the Dense matrices they apply (exact; each connection is "
            "stored, so synapse memory is that of the dense matrix, not of a shared kernel)"
        )

    def follow(start: str, first: str, shape: tuple[int, ...]) -> tuple[str, LinearMap, str]:
        """From ``start`` via ``first`` through linear nodes to the next non-linear node.

        Returns that node, the composed map, and the node feeding it (``start`` or the last linear).
        """
        fmap, last, cur, seen = LinearMap.identity(shape), start, first, set()
        while isinstance(nodes[cur], LINEAR_TYPES):
            if cur in seen:
                raise NeuroreconError(f"the linear nodes around '{cur}' form a cycle with no neuron in it")
            if len(pred[cur]) != 1:
                raise NeuroreconError(
                    f"node '{cur}' receives from {len(pred[cur])} nodes ({', '.join(pred[cur])}); a Network is a chain"
                )
            if len(succ[cur]) != 1:
                raise NeuroreconError(
                    f"node '{cur}' sends to {len(succ[cur])} nodes ({', '.join(succ[cur]) or 'none'}); a Network is a chain"
                )
            seen.add(cur)
            fmap = fmap.then(cur, nodes[cur])
            last, cur = cur, succ[cur][0]
        return cur, fmap, last

    layers: list[NirLayer] = []
    current, shape, feeding = inputs[0], input_shape, None
    while True:
        size = int(np.prod(shape))
        paths = [follow(current, first, shape) for first in succ[current]]
        loops = [p for p in paths if p[0] == current]
        ahead = [p for p in paths if p[0] != current]
        if loops and not layers:
            raise NeuroreconError(f"the edges from '{current}' lead back into the Input; only neurons may recur")
        if layers:  # current is the last layer's neuron: its loops are its recurrence
            for _, fmap, _ in loops:
                if fmap.size != size:
                    raise NeuroreconError(
                        f"shape mismatch: the recurrence of '{current}' returns {fmap.size} values for {size} neurons"
                    )
                rec = layers[-1].recurrent
                if rec is not None and any(m.delay_steps(1.0, "") is not None for m in (rec, fmap)):
                    raise NeuroreconError(f"'{current}' has several recurrent paths with a Delay; give it one")
                layers[-1].recurrent = fmap if rec is None else LinearMap(
                    rec.weight + fmap.weight, rec.bias + fmap.bias, rec.shape, rec.names + fmap.names
                )
            extra = [s for s in pred[current] if s != feeding and s not in {p[2] for p in loops}]
            if extra:
                raise NeuroreconError(
                    f"node '{current}' also receives from {', '.join(extra)}; a Network is a chain with self-recurrence only"
                )
        if len(ahead) != 1:
            raise NeuroreconError(
                f"node '{current}' sends to {len(ahead)} places ({', '.join(p[0] for p in ahead) or 'none'}); "
                "a Network is a chain (with self-recurrence only)"
            )
        end, fmap, feeding = ahead[0]
        node = nodes[end]
        if isinstance(node, nir.Output):
            if not layers:
                raise NeuroreconError("the graph has no neuron node between its Input and Output")
            if not fmap.is_identity():
                raise NeuroreconError(
                    f"the graph ends in linear nodes ({', '.join(fmap.names)}) with no neuron after them; "
                    "every Network layer ends in a LIF population"
                )
            out_size, multi = _size(node.output_type["output"])
            if out_size != size:
                raise NeuroreconError(f"shape mismatch: the Output '{end}' declares {out_size} values but receives {size}")
            if multi:
                shape = list(np.asarray(node.output_type["output"]))
                notes.append(f"Output '{end}' declares shape {shape}; read as a vector of {size}")
            return NirChain(n_in, layers, notes, input_shape)
        if any(layer.name == end for layer in layers):
            raise NeuroreconError(
                f"the edges from '{current}' lead back to '{end}', an earlier neuron: only self-recurrence "
                "(a neuron's output back to its own input) imports"
            )
        n = neuron_size(node, fmap.size)
        if fmap.size != n:
            raise NeuroreconError(f"shape mismatch: node '{end}' has {n} neurons but receives {fmap.size} values")
        layers.append(NirLayer(end, node, fmap, None))
        current, shape = end, fmap.shape
