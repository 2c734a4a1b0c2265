"""Reading a NIR graph and reducing it to the chain the Network can hold.

The Network is a chain of (Dense -> LIF population) layers, each with an optional recurrent
Dense. So a NIR graph imports when, after inlining sub-graphs, it is::

    Input -> [linear]* -> neuron -> [linear]* -> neuron -> ... -> neuron -> Output

where ``[linear]*`` is any run of Affine / Linear / Scale / Flatten nodes (composed into one
matrix and bias) and a neuron may have self-recurrence: a run of linear nodes from the neuron
back to itself (the NIR recurrence pattern, flat or as a sub-graph). Anything else (branches,
skip connections, cycles through other neurons, convolutions, pooling, delays) is refused with
a message naming the node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import nir
import numpy as np

from neurorecon._hdf5 import open_hdf5
from neurorecon.errors import NeuroreconError
from neurorecon.interchange.convention import NEURON_TYPES, neuron_size

LINEAR_TYPES = (nir.Affine, nir.Linear, nir.Scale, nir.Flatten)
SUPPORTED = "Input, Output, Affine, Linear, Scale, Flatten (of vectors), CubaLIF, CubaLI, LIF, LI, IF, I and sub-graphs"


def read_nir(path: str | Path) -> nir.NIRGraph:
    """Read a ``.nir`` file (without NIR's strict type check; shapes are checked here)."""
    path = Path(path)
    open_hdf5(path, f"NIR file {path} does not exist", "NIR file").close()
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


@dataclass(eq=False)
class LinearMap:
    """A composed run of linear nodes: ``y = weight @ x + bias``."""

    weight: np.ndarray
    bias: np.ndarray
    names: list[str] = field(default_factory=list)

    @classmethod
    def identity(cls, n: int) -> "LinearMap":
        return cls(np.eye(n), np.zeros(n))

    @property
    def size(self) -> int:
        return int(self.weight.shape[0])

    def then(self, name: str, node: nir.NIRNode) -> "LinearMap":
        """This map followed by one linear node (shape-checked)."""
        n = self.size
        if isinstance(node, (nir.Affine, nir.Linear)):
            w = np.asarray(node.weight, dtype=np.float64)
            if w.ndim != 2:
                raise NeuroreconError(f"node '{name}' ({type(node).__name__}) has a {w.ndim}-D weight; only matrices import")
            if w.shape[1] != n:
                raise NeuroreconError(f"shape mismatch: node '{name}' expects {w.shape[1]} inputs but receives {n}")
            b = np.zeros(w.shape[0])
            if isinstance(node, nir.Affine) and node.bias is not None:
                b = np.broadcast_to(np.asarray(node.bias, dtype=np.float64).reshape(-1), (w.shape[0],)).copy()
            return LinearMap(w @ self.weight, w @ self.bias + b, self.names + [name])
        if isinstance(node, nir.Scale):
            s = np.asarray(node.scale, dtype=np.float64).reshape(-1)
            if s.size not in (1, n):
                raise NeuroreconError(f"shape mismatch: node '{name}' scales {s.size} values but receives {n}")
            return LinearMap(s[:, None] * self.weight, s * self.bias, self.names + [name])
        try:
            declared = int(np.prod(np.asarray(node.output_type["output"], dtype=np.int64)))
        except (KeyError, TypeError, ValueError):
            declared = n  # an untyped Flatten: nothing to check
        if declared != n:
            raise NeuroreconError(f"shape mismatch: node '{name}' (Flatten) outputs {declared} values but receives {n}")
        return LinearMap(self.weight, self.bias, self.names + [name])

    def is_identity(self) -> bool:
        return not self.names


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
        raise NeuroreconError(
            f"node {unsupported[0]} is not supported: the Network holds Dense layers of LIF neurons "
            f"(importable: {SUPPORTED}); unsupported nodes here: {', '.join(unsupported)}"
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
    n_in, multi = _size(nodes[inputs[0]].input_type["input"])
    if multi:
        shape = list(nodes[inputs[0]].input_type["input"])
        raise NeuroreconError(f"the Input node declares shape {shape}; only vectors import")

    def follow(start: str, first: str, size: int) -> tuple[str, LinearMap, str]:
        """From ``start`` via ``first`` through linear nodes to the next non-linear node.

        Returns that node, the composed map, and the node feeding it (``start`` or the last linear).
        """
        fmap, last, cur, seen = LinearMap.identity(size), start, first, set()
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
    current, size, feeding = inputs[0], n_in, None
    while True:
        paths = [follow(current, first, size) for first in succ[current]]
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
                layers[-1].recurrent = fmap if rec is None else LinearMap(
                    rec.weight + fmap.weight, rec.bias + fmap.bias, rec.names + fmap.names
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
            return NirChain(n_in, layers, notes)
        if any(layer.name == end for layer in layers):
            raise NeuroreconError(
                f"the edges from '{current}' lead back to '{end}', an earlier neuron: only self-recurrence "
                "(a neuron's output back to its own input) imports"
            )
        n = neuron_size(node)
        if fmap.size != n:
            raise NeuroreconError(f"shape mismatch: node '{end}' has {n} neurons but receives {fmap.size} values")
        layers.append(NirLayer(end, node, fmap, None))
        current, size = end, n
