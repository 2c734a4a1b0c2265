"""Simulate a Network: the bit-exact emulator, real Lava (CPU), or a Loihi 2 board.

Time convention (one place for every backend): input frame ``X[:, k]`` is sent at Lava time
step ``k + 1``; every Dense delays by one step, so layer ``i`` (0-based) first sees frame ``k``
at step ``k + 2 + i``. A network of L layers therefore needs ``T + L`` steps for its last layer
to see the final frame: :func:`readout_steps`. :func:`simulate` runs ``X.shape[1]`` steps unless
``n_steps`` says otherwise (inputs past the end of ``X`` are zero).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from neurorecon._progress import ProgressOption, as_progress
from neurorecon.errors import NeuroreconError
from neurorecon.network import Network, as_sequences
from neurorecon.simulate.result import SimulationResult

BACKENDS = ("emulator", "torch", "lava", "loihi2-hw")
RECORDABLE = ("spikes", "v", "u", "counts", "final_spikes")
LAVA_TIMEOUT = 600.0  # default seconds per Lava batch (a hung Lava worker never finishes; SPEC section 8)


def readout_steps(net: Network, t_in: int) -> int:
    """Steps for the last layer to see all ``t_in`` input frames: one per Dense stage, plus the
    network's tail (:attr:`~neurorecon.network.Network.tail_steps`, steps without input)."""
    return t_in + net.tail_steps + net.n_layers


def pad_frames(X: np.ndarray, steps: int) -> np.ndarray:
    """``X`` (n, T, ...) followed by ``steps`` zero frames (a run's steps without input)."""
    if not steps:
        return X
    return np.concatenate([X, np.zeros((X.shape[0], steps) + X.shape[2:], X.dtype)], axis=1)


def with_tail(net: Network, X: np.ndarray) -> np.ndarray:
    """``X`` with the network's tail as zero frames: what the readout layer's inputs are computed
    from by callers that run the hidden layers on their own."""
    return pad_frames(X, net.tail_steps)


def _flatten_frames(net: Network, x):
    """Frames of a network whose Input is an image (metadata ``input_shape``, e.g. (C, H, W) from a
    NIR graph) may come as (n, T, C, H, W): flattened in C order to (n, T, C*H*W), as imported."""
    shape = tuple(net.metadata.get("input_shape") or ())
    if len(shape) < 2:
        return x
    array = np.asarray(x) if not isinstance(x, np.ndarray) else x
    if array.ndim == 2 + len(shape):
        if tuple(array.shape[2:]) != shape:
            raise NeuroreconError(
                f"X has frames of shape {list(array.shape[2:])} but the network's Input is {list(shape)}"
            )
        return array.reshape(array.shape[0], array.shape[1], -1)
    return array


def check_input(net: Network, x) -> np.ndarray:
    """Validate ``x`` (n, T, N_in), or (n, T, *input_shape) for image inputs, for ``net``; return
    it as a numeric (n, T, N_in) array."""
    x = as_sequences(_flatten_frames(net, x), "X")
    d = x.shape[2]
    if d != net.n_inputs:
        raise NeuroreconError(f"X has {d} inputs per step but the network expects {net.n_inputs}")
    message_bits = net.layers[0].num_message_bits
    integral = not np.issubdtype(x.dtype, np.floating) or np.array_equal(x, np.round(x))
    if message_bits == 0:
        if not integral or x.max() > 1:
            raise NeuroreconError(
                "X must hold binary spikes (0/1): the first layer takes binary spikes "
                "(num_message_bits=0); set num_message_bits for graded payloads"
            )
    elif net.arithmetic == "fixed":
        if not integral:
            raise NeuroreconError("X must hold integers in fixed arithmetic")
        if x.max() >= 2**message_bits:
            raise NeuroreconError(
                f"X has payload {x.max():g}, beyond the first layer's {message_bits}-bit messages"
            )
    return x


def simulate(
    net: Network,
    X,
    backend: str = "emulator",
    *,
    n_steps: int | None = None,
    record: Sequence[str] = ("spikes", "v"),
    layers: Sequence[int] | None = None,
    timeout: float = LAVA_TIMEOUT,
    device: str | None = None,
    progress: ProgressOption = None,
) -> SimulationResult:
    """Run ``net`` on ``X`` (n_samples, T, N_in) and return per-layer records.

    ``record`` picks what is kept: per-step ``"spikes"``, ``"v"``, ``"u"``, per-sample spike
    ``"counts"`` and/or the last step's spikes (``"final_spikes"``); ``layers`` the layers they
    are kept for (default all). ``final_v`` is always returned.
    ``backend``: ``"emulator"`` (bit-exact numpy), ``"torch"`` (the emulator's loop on torch
    tensors of ``device``, ``"cpu"`` or ``"cuda"``: bit-exact in fixed point, equal to 1e-9 in
    float), ``"lava"`` (Lava's CPU simulator,
    ``fixed_pt`` or ``floating_pt`` to match the network), ``"loihi2-hw"`` (Loihi 2 via
    lava-loihi, where installed). Lava runs stop after ``timeout`` seconds per batch (a positive
    number; a run that takes longer is stopped with every Lava process, and refused); ``progress``
    (None, True or a callable, see :mod:`neurorecon._progress`) reports their batches.
    """
    if not isinstance(net, Network):
        raise NeuroreconError("simulate() needs a neurorecon.Network")
    if backend not in BACKENDS:
        raise NeuroreconError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    unknown = set(record) - set(RECORDABLE)
    if unknown or isinstance(record, str):
        raise NeuroreconError(f"record must be a list drawn from {RECORDABLE}; got {record!r}")
    layers = list(range(net.n_layers)) if layers is None else [int(i) for i in layers]
    if any(not 0 <= i < net.n_layers for i in layers):
        raise NeuroreconError(f"layers must be in 0..{net.n_layers - 1}; got {layers}")
    progress = as_progress(progress)
    x = check_input(net, X)
    n_steps = x.shape[1] if n_steps is None else int(n_steps)
    if n_steps < 1:
        raise NeuroreconError(f"n_steps must be at least 1; got {n_steps}")
    if backend in ("emulator", "torch"):
        from neurorecon.simulate.arrays import array_ops
        from neurorecon.simulate.emulator import emulate

        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below, not warned about
            result = emulate(net, x, n_steps, record, layers, ops=array_ops(backend, device))
    else:
        if device is not None:
            raise NeuroreconError(f"device is for the torch backend; backend {backend!r} takes none")
        from neurorecon.simulate.lava_backend import run_lava

        result = run_lava(net, x, n_steps, record, layers, hardware=backend == "loihi2-hw", timeout=timeout,
                          progress=progress)
    if net.arithmetic == "float":
        check_finite(result, net)
    return result


def check_finite(result: SimulationResult, net: Network) -> None:
    """Refuse a float simulation whose voltages overflowed (inf or NaN), instead of returning them."""
    records = [*result.final_v, *(r for r in (*result.v, *result.u) if r is not None)]
    if not all(np.isfinite(r).all() for r in records):
        largest = max(float(np.abs(layer.weights).max(initial=0)) for layer in net.layers)
        raise NeuroreconError(
            f"the float simulation overflowed: voltages reached inf or NaN (largest weight {largest:.3g}); "
            "scale the network's weights and thresholds down"
        )
