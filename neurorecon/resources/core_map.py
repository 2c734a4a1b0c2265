"""Map a Network's layers onto cores, Loihi 1 style (the model is in the package docstring).

Per core, the limits are the profile's ``Resources``: neurons, distinct neuron
configurations, input axons, output axons and synapse memory. A layer's cores all receive
the same inputs, so the fan-in and the synapse memory one neuron needs cannot be reduced by
splitting; the neurons a core can hold can. Layers are mapped last to first, because a
neuron's output axons depend on how many cores its destination layer spans.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neurorecon.network import Dense, LIFLayer, Network
from neurorecon.profiles import Resources
from neurorecon.resources.resource_report import CoreUse, LayerUsage, Violation

# Loihi 1 synapse memory layout, as nengo-loihi computes it (nengo_loihi/block.py,
# SynapseConfig.bits_per_axon with compression=3, the dense format it uses for dense weights):
# an input axon's synapses on a core are stored in entries of up to 64 synapses
# (numSynapses = 63, + 1), each entry with a 4-bit format id and a 6-bit synapse count,
# rounded up to whole 64-bit memory words (the core has 16384 words of 64 bits).
SYNAPSES_PER_ENTRY = 64
ENTRY_HEADER_BITS = 4 + 6
MEMORY_WORD_BITS = 64
# Loihi's numWeightBits field takes these widths (nengo-loihi SynapseConfig.WEIGHT_BITS_MAP);
# the field holds the sign for mixed-sign weights (Lava weightutils.truncate_weights drops
# 8 - num_weight_bits + 1 LSBs for them), so no extra sign bit is stored.
WEIGHT_FIELD_BITS = (1, 2, 3, 4, 5, 6, 8)


def weight_field_bits(num_weight_bits: int) -> int:
    """Bits one stored synapse takes: the smallest weight field Loihi has that holds the weight."""
    return next(b for b in WEIGHT_FIELD_BITS if b >= num_weight_bits)


def axon_synapse_bits(n_targets: int, field_bits: int) -> int:
    """Synapse memory one input axon with ``n_targets`` dense synapses takes on a core."""

    def entry(n: int) -> int:
        return -(-(n * field_bits + ENTRY_HEADER_BITS) // MEMORY_WORD_BITS) * MEMORY_WORD_BITS

    full, rest = divmod(n_targets, SYNAPSES_PER_ENTRY)
    return full * entry(SYNAPSES_PER_ENTRY) + (entry(rest) if rest else 0)


@dataclass(frozen=True)
class _Input:
    """One Dense into a layer: its input axons and the bits each synapse takes."""

    axons: int
    field_bits: int


def _inputs(layer: LIFLayer) -> list[_Input]:
    return [_Input(d.shape[1], weight_field_bits(d.num_weight_bits)) for d in layer.connections()]


def core_synapse_bits(inputs: list[_Input], neurons: int) -> int:
    """Synapse memory of a core holding ``neurons`` neurons of a layer fed by ``inputs``."""
    return sum(i.axons * axon_synapse_bits(neurons, i.field_bits) for i in inputs)


def _largest_fitting(inputs: list[_Input], limit_neurons: int, memory_bits: int) -> int:
    """The most neurons (<= limit_neurons) whose synapses fit ``memory_bits``; 0 if not even one."""
    lo, hi = 0, limit_neurons  # invariant: lo fits (0 trivially), everything above hi does not
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if core_synapse_bits(inputs, mid) <= memory_bits:
            lo = mid
        else:
            hi = mid - 1
    return lo


def pack(groups: list[np.ndarray], capacity: int, max_configs: int) -> list[list[tuple[int, np.ndarray]]]:
    """Greedy packing: fill cores with ``capacity`` neurons, group after group.

    Neurons are taken configuration group by configuration group (each group in index
    order), so a core holds as few configurations as possible; a new core starts when the
    current one is full or a new group would exceed ``max_configs``. Returns, per core, its
    (group id, neuron indices) pieces.
    """
    cores: list[list[tuple[int, np.ndarray]]] = []
    current: list[tuple[int, np.ndarray]] = []
    count = 0
    for gid, members in enumerate(groups):
        start = 0
        while start < members.size:
            if count == capacity or len(current) == max_configs:
                cores.append(current)
                current, count = [], 0
            take = min(capacity - count, members.size - start)
            current.append((gid, members[start:start + take]))
            count += take
            start += take
    cores.append(current)
    return cores


def neuron_ranges(indices: np.ndarray) -> list[list[int]]:
    """Sorted neuron indices as [start, stop) ranges."""
    idx = np.sort(indices)
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    return [[int(run[0]), int(run[-1]) + 1] for run in np.split(idx, breaks)]


@dataclass(eq=False)
class LayerMap:
    """A layer's cores (pieces per core) and its usage row, before global core numbering."""

    usage: LayerUsage
    pieces: list[list[tuple[int, np.ndarray]]]
    cores: list[CoreUse]


def _nonzero(dense: Dense) -> int:
    return int(np.count_nonzero(dense.weights))


def map_layer(layer: LIFLayer, index: int, res: Resources, next_cores: int) -> tuple[LayerMap, list[Violation]]:
    """Pack one layer; ``next_cores`` is how many cores the layer it sends to spans (0: none)."""
    where = f"layer {index}"
    violations: list[Violation] = []
    inputs = _inputs(layer)
    fan_in = sum(i.axons for i in inputs)
    n = layer.n_neurons
    groups = layer.groups()
    recurrent = layer.recurrent is not None

    if fan_in > res.input_axons_per_core:
        rec = f" ({layer.n_inputs} inputs + {n} recurrent)" if recurrent else ""
        violations.append(Violation(
            "error", "input_axons",
            f"{where}: fan-in of {fan_in} input axons{rec} exceeds the {res.input_axons_per_core} a core has "
            "(every core of a layer receives all its inputs; split the layer's inputs or prune them)", index))
    capacity = {"neurons per core": res.neurons_per_core}
    k_syn = _largest_fitting(inputs, res.neurons_per_core, res.synapse_memory_bits_per_core)
    if k_syn == 0:
        violations.append(Violation(
            "error", "synapse_memory",
            f"{where}: one neuron's {fan_in} synapses take {core_synapse_bits(inputs, 1)} bits, more than the "
            f"{res.synapse_memory_bits_per_core} bits of synapse memory a core has", index))
    else:
        capacity["synapse memory"] = k_syn

    # Output axons: each neuron takes one per destination core (the next layer's cores, and its
    # own layer's cores when recurrent). With recurrence that count depends on this layer's
    # own core count: start from the fewest cores the other limits allow and grow until stable.
    own = math.ceil(n / min(capacity.values())) if recurrent else 0
    while True:
        destinations = next_cores + own
        limits = dict(capacity)
        if destinations:
            k_out = res.output_axons_per_core // destinations
            if k_out == 0:
                violations.append(Violation(
                    "error", "output_axons",
                    f"{where}: each neuron sends to {destinations} cores, more than the {res.output_axons_per_core} "
                    "output axons a core has", index))
            else:
                limits["output axons"] = k_out
        cap = min(limits.values())
        pieces = pack(groups, cap, res.neuron_configs_per_core)
        if not recurrent or len(pieces) <= own or "output axons" not in limits:
            break
        own = len(pieces)
    destinations = next_cores + (len(pieces) if recurrent else 0)

    limited_by = None
    if len(pieces) > 1:
        limited_by = min(limits, key=limits.get)
        if len(pieces) > math.ceil(n / cap):
            limited_by = "neuron configs"
    cores = []
    for piece in pieces:
        members = np.concatenate([idx for _, idx in piece])
        k = int(members.size)
        cores.append(CoreUse(
            core=-1, layer=index, neuron_ranges=neuron_ranges(members), configs=[gid for gid, _ in piece],
            neurons=k, input_axons=fan_in, output_axons=k * destinations,
            synapse_bits=core_synapse_bits(inputs, k),
        ))
    usage = LayerUsage(
        layer=index, neurons=n, configs=len(groups), cores=len(cores), core_capacity=int(cap),
        limited_by=limited_by, input_axons=fan_in, output_axons=max(c.output_axons for c in cores),
        destination_cores=destinations, synapses=sum(i.axons for i in inputs) * n,
        nonzero_synapses=sum(_nonzero(d) for d in layer.connections()),
        synapse_bits=max(c.synapse_bits for c in cores), weight_field_bits=inputs[0].field_bits,
    )
    return LayerMap(usage, pieces, cores), violations


def map_network(net: Network, res: Resources) -> tuple[list[LayerUsage], list[CoreUse], list[Violation]]:
    """Map every layer (last to first), number the cores in layer order, check the chip's cores."""
    maps: list[LayerMap | None] = [None] * net.n_layers
    violations: list[Violation] = []
    next_cores = 0  # the last layer is read out by the host: its neurons need no output axons
    for i in reversed(range(net.n_layers)):
        layer_map, found = map_layer(net.layers[i], i, res, next_cores)
        maps[i] = layer_map
        violations = found + violations
        next_cores = layer_map.usage.cores
    cores = [core for m in maps for core in m.cores]
    for number, core in enumerate(cores):
        core.core = number
    if len(cores) > res.cores:
        per_layer = ", ".join(str(m.usage.cores) for m in maps)
        violations.append(Violation(
            "error", "cores", f"the network needs {len(cores)} cores (per layer: {per_layer}); the chip has {res.cores}"))
    return [m.usage for m in maps], cores, violations
