"""NIR graph -> Network: the convention of :mod:`~neurorecon.interchange.convention`, then
(for a fixed-point profile) :func:`~neurorecon.quantize.quantize_network`.

The import report (what each layer came from, every approximation, the quantization errors)
is stored in ``network.metadata["nir_import"]``, so it travels with the Network file.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import nir
import numpy as np

from neurorecon.errors import NeuroreconError
from neurorecon.interchange.convention import CONVENTION, DEFAULT_DT, NORSE_DT, SOURCES, lava_from_nir
from neurorecon.interchange.nir_graph import flatten_graph, nir_chain, read_nir
from neurorecon.network import Dense, LIFLayer, Network
from neurorecon.profiles import Profile, load_profile
from neurorecon.quantize import quantize_network

RESETS = ("zero", "subtract")
RESET_NOTE = (
    "reset: NIR's v_reset=0 is imported as Lava's reset to zero; NIR cannot say whether the source "
    "framework reset by subtraction (snnTorch's default, Xylo), which Lava cannot do"
)


class NirImportWarning(UserWarning):
    """The imported network is known to behave differently from its source."""


def norse_signature(graph: nir.NIRGraph) -> bool:
    """True for a graph as Norse 1.1.0's ``to_nir`` writes it: an Input of shape [1, N] (its batch
    dimension), no neurorecon metadata, and neurons with ``r = 1`` (and ``w_in = 1``) everywhere."""
    if any(str(key).startswith("neurorecon.") for key in (graph.metadata or {})):
        return False
    nodes, _ = flatten_graph(graph)
    inputs = [v for v in nodes.values() if isinstance(v, nir.Input)]
    neurons = [v for v in nodes.values() if isinstance(v, (nir.CubaLIF, nir.CubaLI, nir.LIF, nir.LI))]
    if len(inputs) != 1 or not neurons:
        return False
    shape = np.asarray(inputs[0].input_type["input"]).reshape(-1)
    ones = lambda v: bool(np.all(np.asarray(v, dtype=np.float64) == 1))  # noqa: E731
    return (
        shape.size == 2 and shape[0] == 1
        and all(ones(v.r) and ones(getattr(v, "w_in", 1.0)) for v in neurons)
    )


def _layer(chain_layer, index: int, dt: float, input_bits: int, notes: list[str], source: str) -> LIFLayer:
    where = f"node '{chain_layer.name}'"
    lava = lava_from_nir(chain_layer.node, dt, where, chain_layer.feed.size, source)
    feed, rec = chain_layer.feed, chain_layer.recurrent
    bias_in = feed.bias + (rec.bias if rec is not None else 0.0)
    if np.any(bias_in != 0) and not lava.bias_exact:
        notes.append(
            f"layer {index} ({chain_layer.name}): the Affine bias feeds a decaying synaptic current; it is imported "
            "as its steady-state voltage bias (exact after the current's transient (1-du)^t)"
        )
    recurrent = None if rec is None else Dense(lava.gain[:, None] * rec.dense(),
                                               delays=rec.delay_steps(dt, f"the recurrence of {where}"))
    return LIFLayer(
        Dense(lava.gain[:, None] * feed.dense(), num_message_bits=input_bits if index == 0 else 0,
              delays=feed.delay_steps(dt, where)),
        du=lava.du,
        dv=lava.dv,
        vth=lava.vth,
        bias_mant=lava.bias + lava.bias_gain * bias_in,
        recurrent=recurrent,
    )


def from_nir(
    graph_or_path: nir.NIRGraph | str | Path,
    profile: str | Profile = "float",
    *,
    dt: float | None = None,
    data=None,
    source_reset: str = "zero",
    source: str = "auto",
    input_bits: int = 0,
    weight_exp: int | None = None,
) -> Network:
    """Import a NIR graph (object or ``.nir`` file) as a Network for ``profile``.

    ``dt`` is the step of the discretisation (NIR is continuous time; default 1e-4 s, or Norse's
    1e-3 s for Norse's graphs). ``source`` says whose convention the graph follows: ``"nir"``,
    ``"norse"`` (Norse 1.1.0's ``to_nir``: its time constants are scaled by its step and its
    ``LIFCell`` adds inputs to the current whole) or ``"auto"`` (Norse when
    :func:`norse_signature` holds, else NIR; reported). ``profile="float"`` gives
    the float Network; a fixed-point profile quantizes it (``data``, (n, T, N_in), checks that
    quantization neither silences nor saturates a layer). ``source_reset="subtract"`` declares
    that the source framework reset by subtraction: the import then warns that Lava's reset to
    zero differs. ``input_bits`` > 0 lets the first layer take graded payloads.
    """
    if isinstance(graph_or_path, nir.NIRGraph):
        graph, path_name = graph_or_path, "<nir.NIRGraph>"
    elif isinstance(graph_or_path, (str, Path)):
        graph, path_name = read_nir(graph_or_path), str(graph_or_path)
    else:
        raise NeuroreconError("from_nir() needs a nir.NIRGraph or the path of a .nir file")
    if source not in SOURCES + ("auto",):
        raise NeuroreconError(f"source must be one of {SOURCES + ('auto',)}; got {source!r}")
    if dt is not None and not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise NeuroreconError(f"dt must be a positive number of seconds; got {dt!r}")
    if source_reset not in RESETS:
        raise NeuroreconError(f"source_reset must be one of {RESETS}; got {source_reset!r}")
    profile = load_profile(profile)
    chain = nir_chain(graph)
    notes = list(chain.notes)
    if source == "auto":
        source = "norse" if norse_signature(graph) else "nir"
        if source == "norse":
            notes.append(
                "detected Norse 1.1.0's to_nir output (Input [1, N], r = w_in = 1): read with Norse's convention "
                "(tau written as dt * tau; LIFCell adds inputs to the current whole); pass source='nir' to override"
            )
    written_dt = (graph.metadata or {}).get("neurorecon.dt")
    if dt is None:
        dt = float(written_dt) if written_dt is not None else NORSE_DT if source == "norse" else DEFAULT_DT
    notes.append(RESET_NOTE)
    layers = [_layer(layer, i, dt, input_bits, notes, source) for i, layer in enumerate(chain.layers)]
    report = {
        "source": path_name,
        "framework": source,
        "dt": dt,
        "convention": CONVENTION,
        "layers": [
            {
                "neuron": layer.name,
                "type": type(layer.node).__name__,
                "neurons": int(layer.feed.size),
                "linear": layer.feed.names,
                "recurrent": None if layer.recurrent is None else layer.recurrent.names,
                "structure": layer.feed.ops,
            }
            for layer in chain.layers
        ],
        "notes": notes,
        "warnings": [],
        "quantization": None,
    }
    if written_dt is not None and not np.isclose(float(written_dt), dt, rtol=1e-9, atol=0):
        message = (
            f"the graph's metadata says neurorecon exported it with dt={float(written_dt):g}; importing with "
            f"dt={dt:g} gives different decays (pass dt={float(written_dt):g} to get the exported network back)"
        )
        report["warnings"].append(message)
        warnings.warn(message, NirImportWarning, stacklevel=2)
    if source_reset == "subtract":
        message = (
            "the source framework reset v by subtracting v_threshold; Lava resets v to 0, so the imported "
            "network differs from the source after a neuron's first spike"
        )
        report["warnings"].append(message)
        warnings.warn(message, NirImportWarning, stacklevel=2)
    metadata = {"source": "nir", "dt": dt}
    if len(chain.input_shape) > 1:
        metadata["input_shape"] = list(chain.input_shape)
    net = Network(layers, arithmetic="float", metadata=metadata)
    if profile.is_fixed:
        net, quantization = quantize_network(net, profile, data=data, weight_exp=weight_exp)
        report["quantization"] = quantization.to_dict()
        report["warnings"].extend(quantization.warnings)
    net.metadata.update(profile=profile.name, nir_import=report)
    return net
