"""Export a fixed-point Network to lava-dl's netx HDF5 format (``.net``).

Layout, as ``lava.lib.dl.netx.hdf5.Network`` of lava-dl 0.6.0 reads it (the last release; the
netx code is unchanged up to the archived HEAD d825ac5) and slayer's ``export_hdf5`` writes it::

    layer/0/type = ['input']  (S10, shape (1,))      layer/0/shape = [n_inputs]
    layer/<i>/type = ['dense'] or ['dense_rec']     layer/<i>/shape = [N]
    layer/<i>/inFeatures, outFeatures               layer/<i>/weight (N, M) int
    layer/<i>/weight_rec (N, N) int (dense_rec)     layer/<i>/bias (N,) int (optional)
    layer/<i>/neuron/{type='CUBA', iDecay, vDecay, vThMant, refDelay, gradedSpike}

netx builds ``LIF(du=iDecay-1, dv=vDecay, vth=vThMant, bias_mant=bias, bias_exp=6)`` and a Dense
whose weights it rescales itself (``netx.utils.optimize_weight_bits``: weight exponent, weight
bits; sign mode left to Lava), so a stored weight ``w`` acts as ``w`` per spike. What netx cannot
express, and so what this exporter refuses (it never approximates):

* several (du, dv, vth) groups in a layer: netx gives each layer one LIF process (scalars);
* a weight exponent whose effective weights ``W_eff * 2**weight_exp`` are not integers that
  netx's rescaling reproduces exactly (netx has no exponent field; quantize with
  ``weight_exp=0`` for netx);
* a bias ``bias_mant << bias_exp`` that is not a multiple of 64 in 13 bits (netx fixes
  ``bias_exp=6``);
* float networks (netx is integer: quantize first).
Graded input payloads are carried by Lava, not the file: pass ``input_message_bits`` to
``netx.hdf5.Network`` (the file records it in ``neurorecon.input_message_bits``).

:func:`read_netx` builds, from a ``.net`` file of dense CUBA layers, the Network netx would build
(so an export can be checked, and lava-dl users can bring such files to neurorecon).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from neurorecon._atomic import atomic_path
from neurorecon._version import __version__
from neurorecon._hdf5 import open_hdf5
from neurorecon.errors import NeuroreconError
from neurorecon.network import Dense, LIFLayer, Network
from neurorecon.quantize.netx_grid import NETX_BIAS_EXP, netx_layers, netx_weight_mapping
from neurorecon.simulate.arithmetic import CURRENT_DECAY_OFFSET, fixed_bias

NETX_LAYOUT = "lava-dl 0.6.0 netx (lava/lib/dl/netx/hdf5.py; unchanged up to lava-dl HEAD d825ac5)"


def _string(group: h5py.Group, name: str, value: str) -> None:
    group.create_dataset(name, (1,), "S10", [value.encode("ascii")])  # slayer's export_hdf5 format


def write_netx(net: Network, path: str | Path) -> Path:
    """Write ``net`` as a netx ``.net`` file, atomically; refuse what netx cannot hold exactly."""
    plans = netx_layers(net)
    with atomic_path(path, suffix=".net") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["neurorecon.version"] = __version__
            f.attrs["neurorecon.netx_layout"] = NETX_LAYOUT
            f.attrs["neurorecon.input_message_bits"] = net.layers[0].num_message_bits
            first = f.create_group("layer/0")
            _string(first, "type", "input")
            first.create_dataset("shape", data=np.array([net.n_inputs]))
            for i, (layer, parts) in enumerate(plans, start=1):
                g = f.create_group(f"layer/{i}")
                _string(g, "type", "dense_rec" if len(parts) == 2 else "dense")
                g.create_dataset("shape", data=np.array([layer.n_neurons]))
                g.create_dataset("inFeatures", data=layer.n_inputs)
                g.create_dataset("outFeatures", data=layer.n_neurons)
                g.create_dataset("weight", data=parts[0])
                if len(parts) == 2:
                    g.create_dataset("weight_rec", data=parts[1])
                total = fixed_bias(layer)
                if np.any(total):
                    g.create_dataset("bias", data=total >> NETX_BIAS_EXP)
                n = g.create_group("neuron")
                _string(n, "type", "CUBA")
                n.create_dataset("iDecay", data=int(layer.du[0]) + CURRENT_DECAY_OFFSET)
                n.create_dataset("vDecay", data=int(layer.dv[0]))
                n.create_dataset("vThMant", data=int(layer.vth[0]))
                n.create_dataset("refDelay", data=1)
                n.create_dataset("gradedSpike", data=False)
    return Path(path)


def _scalar(group: h5py.Group, name: str, default=None):
    if name not in group:
        if default is None:
            raise NeuroreconError(f"netx layer {group.name} has no {name!r}")
        return default
    value = np.asarray(group[name][()])
    if value.size != 1:
        raise NeuroreconError(f"netx {group.name}/{name} is not a scalar; neurorecon reads one LIF per layer")
    return value.item()


def _text(group: h5py.Group, name: str) -> str:
    value = np.asarray(group[name][()]).reshape(-1)[0]
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


def _read_layer(g: h5py.Group, n_inputs: int, message_bits: int) -> LIFLayer:
    kind = _text(g, "type")
    if kind not in ("dense", "dense_rec"):
        raise NeuroreconError(f"netx layer {g.name} is {kind!r}; neurorecon reads dense and dense_rec layers")
    if "delay" in g:
        raise NeuroreconError(f"netx layer {g.name} has axonal delays, which neurorecon's LIF layers do not model")
    neuron = g["neuron"]
    if _text(neuron, "type") != "CUBA" or _scalar(neuron, "refDelay", 1) > 1 or _scalar(neuron, "gradedSpike", False):
        raise NeuroreconError(f"netx layer {g.name}: only CUBA neurons without refractory delay or graded spikes are read")
    parts = [np.asarray(g["weight"][()])] + ([np.asarray(g["weight_rec"][()])] if kind == "dense_rec" else [])
    if parts[0].ndim != 2 or parts[0].shape[1] != n_inputs:
        raise NeuroreconError(f"netx layer {g.name}: weight of shape {parts[0].shape} does not take {n_inputs} inputs")
    if any(np.any(p != np.round(p)) for p in parts):
        raise NeuroreconError(f"netx layer {g.name}: weights are not integers (a float slayer export; quantize it first)")
    parts = [p.astype(np.int64) for p in parts]
    mapped = netx_weight_mapping(np.hstack(parts))
    if mapped is None:
        raise NeuroreconError(f"netx layer {g.name}: netx cannot load these weights (all zero, or beyond 8 bits)")
    stored, bits, exp = mapped
    feed_forward, recurrent = stored[:, :n_inputs], stored[:, n_inputs:]
    return LIFLayer(
        feed_forward, du=int(_scalar(neuron, "iDecay")) - CURRENT_DECAY_OFFSET, dv=int(_scalar(neuron, "vDecay")),
        vth=int(_scalar(neuron, "vThMant")), bias_mant=np.asarray(g["bias"][()]).astype(np.int64) if "bias" in g else 0,
        bias_exp=NETX_BIAS_EXP, weight_exp=exp, num_weight_bits=bits, num_message_bits=message_bits,
        recurrent=Dense(recurrent, exp, bits) if kind == "dense_rec" else None,
    )


def read_netx(path: str | Path) -> Network:
    """The fixed-point Network lava-dl's netx builds from the ``.net`` file ``path``."""
    path = Path(path)
    with open_hdf5(path, f"netx file {path} does not exist", "netx file") as f:
        if "layer" not in f or "0" not in f["layer"]:
            raise NeuroreconError(f"{path} is not a netx file (no layer/0)")
        group = f["layer"]
        first = group["0"]
        if _text(first, "type") != "input" or "neuron" in first:
            raise NeuroreconError(f"{path}: layer/0 must be a plain input layer (input neurons are not read)")
        n_inputs = int(np.prod(first["shape"][()]))
        message_bits = int(f.attrs.get("neurorecon.input_message_bits", 0))
        layers = []
        for key in sorted((k for k in group if k != "0"), key=int):
            layers.append(_read_layer(group[key], n_inputs, message_bits if not layers else 0))
            n_inputs = layers[-1].n_neurons
    if not layers:
        raise NeuroreconError(f"{path} holds no layer after the input")
    return Network(layers)
