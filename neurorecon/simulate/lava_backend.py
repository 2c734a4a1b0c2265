"""Run a Network on real Lava processes (``Loihi2SimCfg``; ``Loihi2HwCfg`` with lava-loihi).

Construction: ``RingBuffer`` source -> ``Dense`` -> ``LIF`` -> ... with ``Monitor`` probes.
Lava shares du, dv and vth per LIF process, so each layer becomes one LIF process per distinct
(du, dv, vth) group, fed by the matching rows of the Dense weights. Lava 0.10 cannot concatenate
ports, so every group process spans the whole layer: neurons outside the group get no input and
no bias, stay at zero and never spike, and the next Dense receives all group ports on one input
port, which Lava sums, giving exactly the layer's spike vector. Each Dense therefore
accumulates over its whole input before the ``weight_exp`` shift, as one Dense does.

Independent samples: a batch of B samples runs as B disjoint copies of the network inside one
Lava run (block-diagonal Dense weights, tiled biases), so no state carries from one sample to
the next and Lava's per-step overhead is shared by the batch. Every batch runs in a forked child
process with a timeout: a failing Lava worker otherwise hangs ``run()`` forever (SPEC section
8); the child's whole process group is killed on timeout, and ``stop()`` always runs.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from typing import Sequence

import numpy as np

from neurorecon.errors import NeuroreconError
from neurorecon.network import Dense, Network
from neurorecon.simulate.lava_compat import import_lava, lava_loihi_available
from neurorecon.simulate.result import SimulationResult

MAX_DENSE_ENTRIES = 2**22  # per tiled Dense process; bounds the batch size B
MAX_BATCH = 64


def _tiled_weights(weights: np.ndarray, members: np.ndarray, batch: int) -> np.ndarray:
    """Block-diagonal copy of ``weights`` for ``batch`` samples, rows outside ``members`` zero."""
    n_out, n_in = weights.shape
    block = np.zeros_like(weights)
    block[members] = weights[members]
    tiled = np.zeros((batch * n_out, batch * n_in), dtype=weights.dtype)
    for b in range(batch):
        tiled[b * n_out:(b + 1) * n_out, b * n_in:(b + 1) * n_in] = block
    return tiled


def batch_size(net: Network, n_samples: int) -> int:
    """Largest B whose tiled Dense matrices stay under ``MAX_DENSE_ENTRIES`` entries."""
    largest = max(layer.n_neurons * max(layer.n_inputs, layer.n_neurons if layer.recurrent else 0) for layer in net.layers)
    return int(max(1, min(n_samples, MAX_BATCH, np.sqrt(MAX_DENSE_ENTRIES / largest))))


def _lava_dense(dense: Dense, weights: np.ndarray, fixed: bool):
    from lava.proc.dense.process import Dense as LavaDense
    from lava.utils.weightutils import SignMode

    if not fixed:
        return LavaDense(weights=weights, num_message_bits=dense.num_message_bits)
    return LavaDense(
        weights=weights,
        weight_exp=dense.weight_exp,
        num_weight_bits=dense.num_weight_bits,
        sign_mode=SignMode[dense.resolved_sign_mode().upper()],
        num_message_bits=dense.num_message_bits,
    )


def _run_batch(net: Network, x: np.ndarray, n_steps: int, record: Sequence[str], layers: Sequence[int], hardware: bool):
    """Build, run and read back one batch; returns per-layer arrays in neuron order."""
    import_lava()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2HwCfg, Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    fixed = net.arithmetic == "fixed"
    batch, t_in, n_in = x.shape
    data = np.zeros((batch * n_in, n_steps), dtype=np.int64 if fixed else np.float64)
    steps = min(t_in, n_steps)
    data[:, :steps] = x[:, :steps].transpose(0, 2, 1).reshape(batch * n_in, steps)
    source = RingBuffer(data=data)
    inputs = [source.s_out]
    monitors, populations = [], []
    for i, layer in enumerate(net.layers):
        groups = layer.groups()
        procs = []
        for members in groups:
            first = members[0]
            mask = np.zeros(layer.n_neurons, dtype=bool)
            mask[members] = True
            # Full-width process: neurons outside the group get no input and no bias, so they
            # stay at 0 and never spike (vth >= 0); all group ports then sum to the layer's spikes.
            kwargs = dict(
                shape=(batch * layer.n_neurons,),
                bias_mant=np.tile(np.where(mask, layer.bias_mant, 0), batch),
                bias_exp=np.tile(np.where(mask, layer.bias_exp, 0), batch),
            )
            cast = int if fixed else float
            lif = LIF(du=cast(layer.du[first]), dv=cast(layer.dv[first]), vth=cast(layer.vth[first]), **kwargs)
            feed = _lava_dense(layer.dense, _tiled_weights(layer.weights, members, batch), fixed)
            for port in inputs:
                port.connect(feed.s_in)
            feed.a_out.connect(lif.a_in)
            procs.append(lif)
            if i in layers:
                probes = {}
                for var in record:
                    target = {"spikes": lif.s_out, "v": lif.v, "u": lif.u}[var]
                    monitor = Monitor()
                    monitor.probe(target, n_steps)
                    probes[var] = (monitor, target)
                monitors.append((i, members, lif, probes))
        if layer.recurrent is not None:
            for members, lif in zip(groups, procs):
                lateral = _lava_dense(layer.recurrent, _tiled_weights(layer.recurrent.weights, members, batch), fixed)
                for other in procs:
                    other.s_out.connect(lateral.s_in)
                lateral.a_out.connect(lif.a_in)
        populations.append((groups, procs))
        inputs = [lif.s_out for lif in procs]

    run_cfg = Loihi2HwCfg(select_tag="fixed_pt") if hardware else Loihi2SimCfg(
        select_tag="fixed_pt" if fixed else "floating_pt"
    )
    records: dict = {}
    final_v = []
    try:
        source.run(condition=RunSteps(num_steps=n_steps), run_cfg=run_cfg)
        for i, members, lif, probes in monitors:
            for var, (monitor, target) in probes.items():
                raw = monitor.get_data()[lif.name][target.name]  # (n_steps, B * n_g)
                records.setdefault((i, var), []).append((members, np.asarray(raw)))
        for groups, procs in populations:
            final_v.append([(members, np.asarray(lif.v.get())) for members, lif in zip(groups, procs)])
    finally:
        source.stop()
    return records, final_v


def _assemble(parts, batch: int, n_steps: int | None, n: int, dtype) -> np.ndarray:
    """Per-group full-width records -> (batch, [n_steps,] n) in neuron order."""
    shape = (batch, n) if n_steps is None else (batch, n_steps, n)
    out = np.zeros(shape, dtype=dtype)
    for members, raw in parts:
        if n_steps is None:
            out[:, members] = raw.reshape(batch, n)[:, members]
        else:
            out[:, :, members] = raw.reshape(n_steps, batch, n).transpose(1, 0, 2)[:, :, members]
    return out


def _child(conn, fn, args) -> None:
    os.setsid()  # own process group: the parent can kill Lava's workers with it
    try:
        conn.send(("ok", fn(*args)))
    except BaseException as exc:  # reported to the parent, which raises a clear error
        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))
    finally:
        conn.close()


def run_isolated(fn, args: tuple, timeout: float, what: str):
    """Run ``fn(*args)`` in a forked child with its own process group; kill it on timeout."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(sender, fn, args), daemon=False)
    child.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise NeuroreconError(f"{what} did not finish within {timeout:g} s and was stopped")
        status, payload = receiver.recv()
    except EOFError:
        raise NeuroreconError(f"{what} crashed (its process exited without a result)") from None
    finally:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        child.join(5)
    if status == "error":
        raise NeuroreconError(f"{what} failed: {payload}")
    return payload


def run_lava(
    net: Network,
    x: np.ndarray,
    n_steps: int,
    record: Sequence[str],
    layers: Sequence[int],
    hardware: bool = False,
    timeout: float = 600.0,
) -> SimulationResult:
    """Simulate ``x`` on Lava, batch by batch; same result layout as the emulator."""
    import_lava()
    if hardware and not lava_loihi_available():
        raise NeuroreconError(
            "backend 'loihi2-hw' needs Intel's Loihi 2 runtime (lava-loihi, available to INRC "
            "members), which is not installed here; backend 'lava' runs the same network "
            "bit-exactly on Lava's CPU simulator"
        )
    if hardware and net.arithmetic != "fixed":
        raise NeuroreconError("backend 'loihi2-hw' runs fixed-point networks only; quantize the network first")
    if net.arithmetic == "float" and any(len(l.groups()) > 1 and l.vth.min() < 0 for l in net.layers):
        raise NeuroreconError(
            "the Lava backend needs vth >= 0 in float layers with several (du, dv, vth) groups"
        )
    n = x.shape[0]
    requested = list(record)
    derived = {"counts", "final_spikes"} & set(record)
    record = [var for var in record if var not in derived]
    if derived and "spikes" not in record:
        record.append("spikes")
    batch = batch_size(net, n)
    dtype = np.int32 if net.arithmetic == "fixed" else np.float64
    sizes = net.sizes
    out = {var: [np.zeros((n, n_steps, s), bool if var == "spikes" else dtype) if i in layers and var in record else None
                 for i, s in enumerate(sizes)] for var in ("spikes", "v", "u")}
    final_v = [np.zeros((n, s), dtype) for s in sizes]
    label = "Loihi 2 run" if hardware else "Lava run"
    for start in range(0, n, batch):
        rows = slice(start, min(start + batch, n))
        b = rows.stop - rows.start
        records, finals = run_isolated(
            _run_batch, (net, x[rows], n_steps, list(record), list(layers), hardware), timeout, label
        )
        for (i, var), parts in records.items():
            values = _assemble(parts, b, n_steps, sizes[i], np.float64)
            out[var][i][rows] = values != 0 if var == "spikes" else values.astype(dtype)
        for i, parts in enumerate(finals):
            final_v[i][rows] = _assemble(parts, b, None, sizes[i], np.float64).astype(dtype)
    counts = [None if s is None or "counts" not in derived else s.sum(axis=1, dtype=np.int32) for s in out["spikes"]]
    final_spikes = [None if s is None or "final_spikes" not in derived else s[:, -1] for s in out["spikes"]]
    if derived and "spikes" not in requested:
        out["spikes"] = [None] * len(sizes)
    return SimulationResult(
        out["spikes"], out["v"], out["u"], final_v, counts, n_steps, "loihi2-hw" if hardware else "lava", final_spikes
    )
