"""Batched, bit-exact emulator of a Network (the ``"emulator"`` backend).

Time-major loop over steps, vectorised over a cache-resident chunk of samples; chunks run on a
small thread pool with BLAS limited to one thread (multi-threaded BLAS on these small GEMMs is
10-40x slower). Synaptic input is one GEMM per layer and step; in fixed point the GEMM runs in
float32 where every partial sum provably fits its 24-bit mantissa, else in float64 (exact below
2**53). The LIF update is :mod:`neurorecon.simulate.arithmetic`'s, applied in place.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from neurorecon.network import Network
from neurorecon.simulate import arithmetic as ar
from neurorecon.simulate.result import SimulationResult

@dataclass(frozen=True)
class _LayerPlan:
    feed_forward: ar.Synapse
    recurrent: ar.Synapse | None
    constants: ar.LIFConstants
    update: Callable


def _fixed_update(constants: ar.LIFConstants):
    def update(u, v, a):
        return u, v, ar.fixed_lif_update(u, v, a, constants)

    return update


def _float_update(constants: ar.LIFConstants):
    def update(u, v, a):
        u, v, s = ar.float_lif_update(u, v, a, constants)
        return u, v, s.astype(bool)

    return update


def plan_network(net: Network, max_input_payload: float) -> list[_LayerPlan]:
    """Precompute every layer's synapses and LIF constants (and check Lava's int32 datapath)."""
    plans = []
    for i, layer in enumerate(net.layers):
        payload = max_input_payload if i == 0 else 1.0
        bound = ar.max_abs_accumulation(layer.dense, net.arithmetic, payload)
        recurrent = None
        if layer.recurrent is not None:
            bound += ar.max_abs_accumulation(layer.recurrent, net.arithmetic, 1.0)
            recurrent = ar.synapse(layer.recurrent, net.arithmetic, 1.0)
        if net.arithmetic == "fixed":
            ar.check_int32_datapath(layer, i, bound)
        constants = ar.lif_constants(layer, net.arithmetic, bound)
        update = _fixed_update(constants) if net.arithmetic == "fixed" else _float_update(constants)
        plans.append(_LayerPlan(ar.synapse(layer.dense, net.arithmetic, payload), recurrent, constants, update))
    return plans


class _Recorder:
    """Preallocated outputs; every chunk writes its own rows, so threads never collide."""

    def __init__(self, net: Network, n: int, n_steps: int, record: Sequence[str], layers: Sequence[int]):
        value_dtype = np.int32 if net.arithmetic == "fixed" else np.float64
        sizes = net.sizes

        def maybe(var: str, dtype) -> list[np.ndarray | None]:
            return [
                np.zeros((n, n_steps, size), dtype) if (var in record and i in layers) else None
                for i, size in enumerate(sizes)
            ]

        self.spikes = maybe("spikes", bool)
        self.v = maybe("v", value_dtype)
        self.u = maybe("u", value_dtype)
        self.final_v = [np.zeros((n, size), value_dtype) for size in sizes]
        self.spike_counts = [
            np.zeros((n, size), np.int32) if ("counts" in record and i in layers) else None
            for i, size in enumerate(sizes)
        ]
        self.final_spikes = [
            np.zeros((n, size), bool) if ("final_spikes" in record and i in layers) else None
            for i, size in enumerate(sizes)
        ]

    def observe(self, layer: int, t: int, rows: slice, s: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        if self.spike_counts[layer] is not None:
            self.spike_counts[layer][rows] += s
        if self.spikes[layer] is not None:
            self.spikes[layer][rows, t] = s
        if self.v[layer] is not None:
            self.v[layer][rows, t] = v
        if self.u[layer] is not None:
            self.u[layer][rows, t] = u

    def result(self, n_steps: int) -> SimulationResult:
        return SimulationResult(
            self.spikes, self.v, self.u, self.final_v, self.spike_counts, n_steps, "emulator", self.final_spikes
        )


def _run_chunk(plans: list[_LayerPlan], x: np.ndarray, n_steps: int, rows: slice, rec: _Recorder) -> None:
    batch, t_in, _ = x.shape
    first = plans[0].feed_forward
    input_current = first(x.reshape(batch * t_in, -1)).astype(np.float64, copy=False).reshape(batch, t_in, -1)
    u = [np.zeros((batch, p.constants.threshold.shape[0])) for p in plans]
    v = [np.zeros_like(state) for state in u]
    previous: list[np.ndarray | None] = [None] * len(plans)
    for t in range(n_steps):
        current = []
        for i, plan in enumerate(plans):
            # Dense delivers the previous step's accumulation (one-step delay).
            if i == 0:
                a = input_current[:, t - 1] if 1 <= t <= t_in else 0.0
            else:
                a = plan.feed_forward(previous[i - 1]) if previous[i - 1] is not None else 0.0
            if plan.recurrent is not None and previous[i] is not None:
                a = a + plan.recurrent(previous[i])
            u[i], v[i], s = plan.update(u[i], v[i], a)
            rec.observe(i, t, rows, s, u[i], v[i])
            current.append(s)
        previous = current
    for i in range(len(plans)):
        rec.final_v[i][rows] = v[i]
        if rec.final_spikes[i] is not None:
            rec.final_spikes[i][rows] = previous[i]


def default_chunk_size(net: Network) -> int:
    """Samples per chunk: keep one layer's state around 64k values (cache resident)."""
    return int(np.clip(65536 // max(net.sizes), 8, 1024))


def emulate(
    net: Network,
    x: np.ndarray,
    n_steps: int,
    record: Sequence[str] = ("spikes", "v"),
    layers: Sequence[int] | None = None,
    chunk_size: int | None = None,
    threads: int | None = None,
) -> SimulationResult:
    """Simulate ``x`` (n, T, N_in), already validated, for ``n_steps`` steps (inputs past T are 0)."""
    n = x.shape[0]
    layers = range(net.n_layers) if layers is None else layers
    max_payload = float(x.max(initial=0))
    plans = plan_network(net, max(max_payload, 1.0))
    rec = _Recorder(net, n, n_steps, record, list(layers))
    chunk = chunk_size or default_chunk_size(net)
    bounds = [slice(start, min(start + chunk, n)) for start in range(0, n, chunk)]
    threads = threads or min(2, os.cpu_count() or 1, len(bounds))
    with threadpool_limits(limits=1, user_api="blas"):
        if threads <= 1:
            for rows in bounds:
                _run_chunk(plans, x[rows], n_steps, rows, rec)
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(lambda rows: _run_chunk(plans, x[rows], n_steps, rows, rec), bounds))
    return rec.result(n_steps)
