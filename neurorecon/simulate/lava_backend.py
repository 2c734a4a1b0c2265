"""Run a Network on real Lava processes (``Loihi2SimCfg``; ``Loihi2HwCfg`` with lava-loihi).

The processes are built by :mod:`neurorecon.simulate.lava_network`, the one construction the
exported script ships too; this module turns a Network into its layer arrays
(:func:`lava_layers`), runs batches, and assembles a :class:`SimulationResult` laid out as the
emulator's. Every batch runs in a forked child process with a timeout: a failing Lava worker
otherwise hangs ``run()`` forever (SPEC section 8); the child's whole process group is killed on
timeout, and ``stop()`` always runs.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from typing import Sequence

import numpy as np

from neurorecon._progress import ProgressOption, as_progress
from neurorecon.errors import NeuroreconError
from neurorecon.network import Dense, LIFLayer, Network
from neurorecon.simulate import lava_network
from neurorecon.simulate.result import SimulationResult


def import_lava() -> None:
    """Import lava-nc (applying the Python 3.11 fix first) or raise a clear error."""
    try:
        lava_network.import_lava()
    except lava_network.LavaBuildError:
        raise NeuroreconError(
            "the Lava backend needs lava-nc 0.10.0, which is not installed; "
            "run `make setup` (it installs lava-nc with the Python 3.11 fix)"
        ) from None


def _dense_arrays(prefix: str, dense: Dense, fixed: bool) -> dict[str, np.ndarray]:
    arrays = {f"{prefix}weights": dense.weights, f"{prefix}num_message_bits": np.array(dense.num_message_bits)}
    if fixed:
        arrays.update({
            f"{prefix}weight_exp": np.array(dense.weight_exp),
            f"{prefix}num_weight_bits": np.array(dense.num_weight_bits),
            f"{prefix}sign_mode": np.array(dense.resolved_sign_mode()),
        })
    return arrays


def _layer_arrays(layer: LIFLayer, fixed: bool) -> dict[str, np.ndarray]:
    arrays = {"du": layer.du, "dv": layer.dv, "vth": layer.vth, "bias_mant": layer.bias_mant,
              "bias_exp": layer.bias_exp if fixed else np.zeros(layer.n_neurons)}
    arrays.update(_dense_arrays("", layer.dense, fixed))
    if layer.recurrent is not None:
        arrays.update(_dense_arrays("rec_", layer.recurrent, fixed))
    return {key: np.asarray(value) for key, value in arrays.items()}


def lava_layers(net: Network) -> list[dict[str, np.ndarray]]:
    """The layer arrays :mod:`~neurorecon.simulate.lava_network` builds ``net`` from (its own arithmetic)."""
    return [_layer_arrays(layer, net.arithmetic == "fixed") for layer in net.layers]


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
    progress: ProgressOption = None,
) -> SimulationResult:
    """Simulate ``x`` on Lava, batch by batch; same result layout as the emulator.

    Only what ``record`` asks for is probed (a Monitor per variable and (du, dv, vth) group costs
    far more than the run itself); the final voltages are read from the LIF processes, always.
    """
    import_lava()
    if hardware and not lava_network.loihi_runtime_available():
        raise NeuroreconError(
            "backend 'loihi2-hw' needs Intel's Loihi 2 runtime (lava-loihi, available to INRC "
            "members), which is not installed here; backend 'lava' runs the same network "
            "bit-exactly on Lava's CPU simulator"
        )
    if hardware and net.arithmetic != "fixed":
        raise NeuroreconError("backend 'loihi2-hw' runs fixed-point networks only; quantize the network first")
    tag = "fixed_pt" if net.arithmetic == "fixed" else "floating_pt"
    arrays = lava_layers(net)
    try:
        lava_network.check_layers(arrays, tag)
    except lava_network.LavaBuildError as exc:
        raise NeuroreconError(f"the Lava backend cannot run this network: {exc}") from None
    n = x.shape[0]
    derived = {"counts", "final_spikes"} & set(record)
    probed = [var for var in lava_network.RECORDABLE if var in record or (var == "spikes" and derived)]
    batch = lava_network.batch_size(arrays, n)
    dtype = np.int32 if net.arithmetic == "fixed" else np.float64
    sizes = net.sizes
    out = {var: [np.zeros((n, n_steps, s), bool if var == "spikes" else dtype) if i in layers and var in probed else None
                 for i, s in enumerate(sizes)] for var in lava_network.RECORDABLE}
    final_v = [np.zeros((n, s), dtype) for s in sizes]
    label = "Loihi 2 run" if hardware else "Lava run"
    starts = range(0, n, batch)
    for start in as_progress(progress).steps(starts, len(starts), f"{label} batches ({batch} samples each)"):
        rows = slice(start, min(start + batch, n))
        part = run_isolated(lava_network.run_batch,
                            (arrays, x[rows], n_steps, tag, hardware, tuple(probed), list(layers)), timeout, label)
        for i in range(len(sizes)):
            final_v[i][rows] = part[f"final_v_{i}"].astype(dtype)
            for var in probed:
                if out[var][i] is not None:
                    values = part[f"{var}_{i}"]
                    out[var][i][rows] = values != 0 if var == "spikes" else values.astype(dtype)
    counts = [None if s is None or "counts" not in derived else s.sum(axis=1, dtype=np.int32) for s in out["spikes"]]
    final_spikes = [None if s is None or "final_spikes" not in derived else s[:, -1] for s in out["spikes"]]
    if derived and "spikes" not in record:
        out["spikes"] = [None] * len(sizes)
    return SimulationResult(
        out["spikes"], out["v"], out["u"], final_v, counts, n_steps, "loihi2-hw" if hardware else "lava", final_spikes
    )
