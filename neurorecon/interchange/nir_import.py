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
from neurorecon.interchange.convention import CONVENTION, DEFAULT_DT, lava_from_nir
from neurorecon.interchange.nir_graph import nir_chain, read_nir
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


def _layer(chain_layer, index: int, dt: float, input_bits: int, notes: list[str]) -> LIFLayer:
    where = f"node '{chain_layer.name}'"
    lava = lava_from_nir(chain_layer.node, dt, where)
    feed, rec = chain_layer.feed, chain_layer.recurrent
    bias_in = feed.bias + (rec.bias if rec is not None else 0.0)
    if np.any(bias_in != 0) and not lava.bias_exact:
        notes.append(
            f"layer {index} ({chain_layer.name}): the Affine bias feeds a decaying synaptic current; it is imported "
            "as its steady-state voltage bias (exact after the current's transient (1-du)^t)"
        )
    recurrent = None if rec is None else Dense(lava.gain[:, None] * rec.weight)
    return LIFLayer(
        lava.gain[:, None] * feed.weight,
        du=lava.du,
        dv=lava.dv,
        vth=lava.vth,
        bias_mant=lava.bias + lava.bias_gain * bias_in,
        num_message_bits=input_bits if index == 0 else 0,
        recurrent=recurrent,
    )


def from_nir(
    graph_or_path: nir.NIRGraph | str | Path,
    profile: str | Profile = "float",
    *,
    dt: float = DEFAULT_DT,
    data=None,
    source_reset: str = "zero",
    input_bits: int = 0,
    weight_exp: int | None = None,
) -> Network:
    """Import a NIR graph (object or ``.nir`` file) as a Network for ``profile``.

    ``dt`` is the step of the discretisation (NIR is continuous time). ``profile="float"`` gives
    the float Network; a fixed-point profile quantizes it (``data``, (n, T, N_in), checks that
    quantization neither silences nor saturates a layer). ``source_reset="subtract"`` declares
    that the source framework reset by subtraction: the import then warns that Lava's reset to
    zero differs. ``input_bits`` > 0 lets the first layer take graded payloads.
    """
    if isinstance(graph_or_path, nir.NIRGraph):
        graph, source = graph_or_path, "<nir.NIRGraph>"
    elif isinstance(graph_or_path, (str, Path)):
        graph, source = read_nir(graph_or_path), str(graph_or_path)
    else:
        raise NeuroreconError("from_nir() needs a nir.NIRGraph or the path of a .nir file")
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise NeuroreconError(f"dt must be a positive number of seconds; got {dt!r}")
    if source_reset not in RESETS:
        raise NeuroreconError(f"source_reset must be one of {RESETS}; got {source_reset!r}")
    profile = load_profile(profile)
    chain = nir_chain(graph)
    notes = list(chain.notes) + [RESET_NOTE]
    layers = [_layer(layer, i, dt, input_bits, notes) for i, layer in enumerate(chain.layers)]
    report = {
        "source": source,
        "dt": dt,
        "convention": CONVENTION,
        "layers": [
            {
                "neuron": layer.name,
                "type": type(layer.node).__name__,
                "neurons": int(layer.feed.size),
                "linear": layer.feed.names,
                "recurrent": None if layer.recurrent is None else layer.recurrent.names,
            }
            for layer in chain.layers
        ],
        "notes": notes,
        "warnings": [],
        "quantization": None,
    }
    written_dt = (graph.metadata or {}).get("neurorecon.dt")
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
    net = Network(layers, arithmetic="float", metadata={"source": "nir", "dt": dt})
    if profile.is_fixed:
        net, quantization = quantize_network(net, profile, data=data, weight_exp=weight_exp)
        report["quantization"] = quantization.to_dict()
        report["warnings"].extend(quantization.warnings)
    net.metadata.update(profile=profile.name, nir_import=report)
    return net
