"""The one construction of a network as Lava 0.10 processes: the backend runs it, the export ships it.

This module imports only numpy and lava-nc (never neurorecon): ``neurorecon export --lava``
copies it verbatim beside ``run_network.py``, so the backend and the exported script accept,
refuse and compute exactly the same things.

A network is a list of layer dicts of plain arrays (:func:`check_layers` says which keys):
``du, dv, vth, bias_mant, bias_exp`` (N,), ``weights`` (N, M), ``num_message_bits``; fixed-point
layers add ``weight_exp, num_weight_bits, sign_mode``; ``delays`` (N, M), whole steps, makes the
connection Lava's ``DelayDense``; a recurrent layer adds the same with the prefix ``rec_``.
``conv_weight`` (C_out, kw, kh, C_in/groups, Lava's order) with ``conv_in_shape`` (C, H, W),
``conv_stride``, ``conv_padding``, ``conv_dilation`` (H, W order) and ``conv_groups`` makes the
feed-forward connection Lava's ``Conv`` process instead (its ``weights`` are the same matrix).

Construction: ``RingBuffer`` source -> ``Dense`` -> ``LIF`` -> ... with ``Monitor`` probes.
Lava shares du, dv and vth per LIF process, so each layer becomes one LIF process per distinct
(du, dv, vth) group, fed by the matching rows of the Dense weights. Lava 0.10 cannot concatenate
ports, so every group process spans the whole layer: neurons outside the group get no input and
no bias, stay at zero and never spike (which needs vth >= 0 wherever a layer has several groups),
and the next Dense receives all group ports on one input port, which Lava sums, giving exactly
the layer's spike vector. Each Dense therefore accumulates over its whole input before the
``weight_exp`` shift, as one Dense does.

Independent samples: a batch of B samples runs as B disjoint copies of the network inside one
Lava run (block-diagonal Dense weights, tiled biases; a Conv process sees the B samples as B
groups of channels), so no state carries from one sample to the next and Lava's per-step
overhead is shared by the batch. A Conv process reads and writes (W, H, C) images: the flat
(C, H, W) spike vectors reach it through reshaped and transposed ports. Input frame ``k`` is sent at step
``k + 1``; every Dense delays by one step.

A classifier's answer is read from its output layer by :func:`readout_predictions`, here so that
the exported script reads it exactly as neurorecon does.
"""

from __future__ import annotations

import importlib
import importlib.util
import multiprocessing
import re
import sys
import threading

import numpy as np

TAGS = ("fixed_pt", "floating_pt")
RECORDABLE = ("spikes", "v", "u")
MAX_DENSE_ENTRIES = 2**22  # per tiled Dense process; bounds the batch size B
MAX_BATCH = 64
MAX_DELAY = 63  # lava/proc/dense/models.py PyDelayDenseModelBitAcc: 6-bit delays
CONV_OUTPUT_LIMIT = 2**23  # lava/proc/conv/models.py PyConvModelFixed: a_out clamped to signed 24 bits
_PATCHED_MODULE = "lava.magma.compiler.var_model"
_LAVA_MODULES = (
    "lava.magma.core.run_configs",
    "lava.magma.core.run_conditions",
    "lava.proc.io.source",
    "lava.proc.lif.process",
    "lava.proc.dense.process",
    "lava.proc.conv.process",
    "lava.proc.monitor.process",
    "lava.utils.weightutils",
    "lava.utils.loihi",
)
_lock = threading.Lock()


class LavaBuildError(ValueError):
    """A network Lava cannot run as built here, or Lava itself is missing: one line for the user."""


def _patch_var_model() -> None:
    """Load Lava's var_model with its mutable ``ByteEncoder()`` defaults made default factories.

    lava-nc 0.10.0 declares Python < 3.11. On 3.11 exactly one module fails to import:
    ``lava/magma/compiler/var_model.py`` gives three dataclass fields a mutable ``ByteEncoder()``
    default, which 3.11 rejects. The module is compiled from Lava's own source with those
    defaults rewritten and registered in ``sys.modules`` before anything else of Lava is
    imported; site-packages is never edited. Lava's workers are forked and inherit it.
    """
    if _PATCHED_MODULE in sys.modules:
        return
    spec = importlib.util.find_spec(_PATCHED_MODULE)
    source = spec.loader.get_source(_PATCHED_MODULE)
    source, count = re.subn(r":\s*ByteEncoder\s*=\s*ByteEncoder\(\)",
                            ": ByteEncoder = field(default_factory=ByteEncoder)", source)
    if count:
        imports = "from dataclasses import dataclass, InitVar"
        source = source.replace(imports, imports + ", field", 1)
    module = importlib.util.module_from_spec(spec)
    sys.modules[_PATCHED_MODULE] = module
    try:
        exec(compile(source, spec.origin, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[_PATCHED_MODULE]
        raise


def import_lava() -> None:
    """Import lava-nc 0.10.0 (with the Python 3.11 fix) or raise :class:`LavaBuildError`.

    Everything the construction uses is imported now, in the calling process: some Lava modules
    set the multiprocessing start method at import, which fails in a child.
    """
    with _lock:
        if importlib.util.find_spec("lava") is None:
            raise LavaBuildError("lava-nc 0.10.0 is not installed (pip install --no-deps lava-nc==0.10.0)")
        if sys.version_info >= (3, 11):
            _patch_var_model()
        if "lava.magma.runtime.message_infrastructure.multiprocessing" not in sys.modules:
            # Lava sets the start method to 'fork' when first imported, which raises once anything
            # (a Dask cluster, tqdm's lock) has set one: let Lava set its own.
            multiprocessing.set_start_method(None, force=True)
        for module in _LAVA_MODULES:
            importlib.import_module(module)


def loihi_runtime_available() -> bool:
    """True when Intel's Loihi runtime (lava-loihi, INRC members only) is importable (Lava's own test)."""
    import_lava()
    from lava.utils.loihi import is_installed

    return is_installed()


def groups(layer: dict) -> list[np.ndarray]:
    """Neuron indices of each distinct (du, dv, vth), in order of first appearance."""
    keys = np.stack([layer["du"], layer["dv"], layer["vth"]], axis=1)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return [np.flatnonzero(inverse.reshape(-1) == g) for g in np.argsort(first)]


def check_layers(layers: list[dict], tag: str) -> None:
    """Refuse what this construction cannot run exactly (one reason, naming the layer)."""
    if tag not in TAGS:
        raise LavaBuildError(f"the Lava tag must be one of {TAGS}; got {tag!r}")
    if not layers:
        raise LavaBuildError("the network has no layers")
    required = ("du", "dv", "vth", "bias_mant", "bias_exp", "weights")
    if tag == "fixed_pt":
        required += ("weight_exp", "num_weight_bits", "sign_mode")
    for i, layer in enumerate(layers):
        missing = [key for key in required if key not in layer]
        if missing:
            raise LavaBuildError(f"layer {i} lacks {missing} for {tag}")
        for prefix in ("", "rec_"):
            delays = layer.get(prefix + "delays")
            if delays is not None and (np.min(delays) < 0 or (tag == "fixed_pt" and np.max(delays) > MAX_DELAY)):
                raise LavaBuildError(f"layer {i}: {prefix}delays must be whole steps in [0, {MAX_DELAY}] for {tag}")
        if "conv_weight" in layer and len(groups(layer)) > 1:
            raise LavaBuildError(f"layer {i}: a Conv process feeds one LIF process (one (du, dv, vth) group)")
        if len(groups(layer)) > 1 and np.min(layer["vth"]) < 0:
            raise LavaBuildError(
                f"layer {i} has several (du, dv, vth) groups and a negative vth: the Lava construction pads "
                "each group's process with silent neurons, which a negative threshold would make spike"
            )


def readout_predictions(kind: str, final_v: np.ndarray, v: np.ndarray | None, t_frames: int,
                        n_layers: int) -> np.ndarray:
    """Classes a classifier network answers, read from its output layer (neurorecon's readouts).

    ``last`` and ``count``: the argmax of the final voltage ``final_v`` (n, C), after ``t_frames +
    n_layers`` steps. ``step``: one class per input frame from the voltage trace ``v`` (n, steps,
    C); frame k reaches the output layer at step index k + n_layers (one Dense delay per layer).
    """
    if kind == "step":
        return v[:, n_layers:n_layers + t_frames].argmax(axis=-1)
    return final_v.argmax(axis=-1)


def batch_size(layers: list[dict], n_samples: int) -> int:
    """Largest B whose tiled Dense matrices stay under ``MAX_DENSE_ENTRIES`` entries."""
    largest = max(max(np.size(layer["weights"]), np.size(layer.get("rec_weights", ()))) for layer in layers)
    return int(max(1, min(n_samples, MAX_BATCH, np.sqrt(MAX_DENSE_ENTRIES / largest))))


def block_diagonal(weights: np.ndarray, members: np.ndarray, batch: int) -> np.ndarray:
    """``batch`` disjoint copies of ``weights`` (rows outside ``members`` zeroed): one per sample."""
    rows = np.zeros_like(weights)
    rows[members] = weights[members]
    return np.kron(np.eye(batch, dtype=weights.dtype), rows)


def _dense(layer: dict, prefix: str, members: np.ndarray, batch: int, fixed: bool):
    """The group ``members``' rows of a layer's (``prefix``) connection, tiled for ``batch``:
    Lava's ``Dense``, or ``DelayDense`` where the connection has synaptic delays."""
    from lava.proc.dense.process import Dense, DelayDense
    from lava.utils.weightutils import SignMode

    message_bits = int(layer.get(prefix + "num_message_bits", layer.get("num_message_bits", 0)))
    settings = {"weights": block_diagonal(layer[prefix + "weights"], members, batch), "num_message_bits": message_bits}
    if fixed:
        settings.update(
            weight_exp=int(layer[prefix + "weight_exp"]),
            num_weight_bits=int(layer[prefix + "num_weight_bits"]),
            sign_mode=SignMode[str(layer[prefix + "sign_mode"]).upper()],
        )
    delays = layer.get(prefix + "delays")
    if delays is None:
        return Dense(**settings)
    return DelayDense(delays=block_diagonal(np.asarray(delays, dtype=np.int64), members, batch), **settings)


def _conv(layer: dict, inputs: list, lif, batch: int, fixed: bool) -> None:
    """``inputs`` (flat spike ports of ``batch`` samples) -> Lava ``Conv`` -> ``lif``'s input.

    The batch is folded into the channels: sample b's channels are group b of the Conv's input,
    its kernel copy group b of the output (``groups`` times ``batch``).
    """
    from lava.proc.conv.process import Conv

    c, h, w = (int(v) for v in layer["conv_in_shape"])
    kernel = np.tile(layer["conv_weight"], (batch, 1, 1, 1))
    conv = Conv(weight=kernel, input_shape=(w, h, batch * c), stride=tuple(int(v) for v in layer["conv_stride"][::-1]),
                padding=tuple(int(v) for v in layer["conv_padding"][::-1]),
                dilation=tuple(int(v) for v in layer["conv_dilation"][::-1]),
                groups=batch * int(layer["conv_groups"]), num_message_bits=int(layer.get("num_message_bits", 0)))
    for port in inputs:  # (B*C*H*W,) -> (B, C, H, W) -> (W, H, B, C) -> (W, H, B*C)
        port.reshape((batch, c, h, w)).transpose([3, 2, 0, 1]).reshape((w, h, batch * c)).connect(conv.s_in)
    w_out, h_out, channels = conv.output_shape
    c_out = channels // batch
    conv.a_out.reshape((w_out, h_out, batch, c_out)).transpose([2, 3, 1, 0]).reshape(
        (batch * c_out * h_out * w_out,)).connect(lif.a_in)


def run_batch(layers: list[dict], x: np.ndarray, n_steps: int, tag: str, hardware: bool = False,
              record: tuple[str, ...] = (), record_layers=None) -> dict[str, np.ndarray]:
    """Build, run and read back one batch of samples ``x`` (B, T, M).

    Returns float64 arrays in neuron order: ``{var}_{i}`` (B, n_steps, N_i) for each recorded
    variable of each layer in ``record_layers`` (default: all), and ``final_v_{i}`` (B, N_i).
    """
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2HwCfg, Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    check_layers(layers, tag)
    fixed = tag == "fixed_pt"
    cast = int if fixed else float
    record_layers = range(len(layers)) if record_layers is None else record_layers
    batch, t_in, n_in = x.shape
    data = np.zeros((batch * n_in, n_steps), dtype=np.int64 if fixed else np.float64)
    steps = min(t_in, n_steps)
    data[:, :steps] = x[:, :steps].transpose(0, 2, 1).reshape(batch * n_in, steps)  # frame k at step k+1
    source = RingBuffer(data=data)
    inputs, probes, populations = [source.s_out], [], []
    for i, layer in enumerate(layers):
        n = np.size(layer["du"])
        procs = []
        for members in groups(layer):
            mask = np.isin(np.arange(n), members)
            lif = LIF(
                shape=(batch * n,),
                du=cast(layer["du"][members[0]]), dv=cast(layer["dv"][members[0]]), vth=cast(layer["vth"][members[0]]),
                bias_mant=np.tile(np.where(mask, layer["bias_mant"], 0), batch),
                bias_exp=np.tile(np.where(mask, layer["bias_exp"], 0), batch),
            )
            if "conv_weight" in layer:
                _conv(layer, inputs, lif, batch, fixed)
            else:
                feed = _dense(layer, "", members, batch, fixed)
                for port in inputs:
                    port.connect(feed.s_in)
                feed.a_out.connect(lif.a_in)
            if i in record_layers:
                for var in record:
                    monitor = Monitor()
                    target = {"spikes": lif.s_out, "v": lif.v, "u": lif.u}[var]
                    monitor.probe(target, n_steps)
                    probes.append((i, var, members, lif, monitor, target))
            procs.append((members, lif))
        if "rec_weights" in layer:  # recurrent Dense: the layer's spikes back to its own input
            for members, lif in procs:
                lateral = _dense(layer, "rec_", members, batch, fixed)
                for _, other in procs:
                    other.s_out.connect(lateral.s_in)
                lateral.a_out.connect(lif.a_in)
        populations.append((n, procs))
        inputs = [lif.s_out for _, lif in procs]
    run_cfg = Loihi2HwCfg(select_tag="fixed_pt") if hardware else Loihi2SimCfg(select_tag=tag)
    out = {}
    try:
        source.run(condition=RunSteps(num_steps=n_steps), run_cfg=run_cfg)
        for i, var, members, lif, monitor, target in probes:
            raw = np.asarray(monitor.get_data()[lif.name][target.name]).reshape(n_steps, batch, -1)
            full = out.setdefault(f"{var}_{i}", np.zeros((batch, n_steps, raw.shape[2])))
            full[:, :, members] = raw.transpose(1, 0, 2)[:, :, members]
        for i, (n, procs) in enumerate(populations):
            full = out.setdefault(f"final_v_{i}", np.zeros((batch, n)))
            for members, lif in procs:
                full[:, members] = np.asarray(lif.v.get()).reshape(batch, n)[:, members]
    finally:
        source.stop()
    return out
