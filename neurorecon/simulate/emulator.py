"""Batched, bit-exact emulator of a Network (the ``"emulator"`` and ``"torch"`` backends).

Time-major loop over steps, vectorised over a chunk of samples. Synaptic input is one GEMM per
layer and step; in fixed point the GEMM runs in float32 where every partial sum provably fits its
24-bit mantissa, else in float64 (exact below 2**53). The first layer's delayed input is computed
for all steps at once: one GEMM over the input's delayed copies or, with numpy, where events and
synapses are sparse (``SPREAD_COST``), each input event added where its synapses deliver it. The
LIF update is :mod:`neurorecon.simulate.arithmetic`'s, applied in place; a feed-forward
fixed-point network on numpy (witness dictionaries, bias bisection, trained networks without
recurrence) runs layer by layer instead, each layer's whole loop compiled
(:mod:`neurorecon.simulate.layer_loop`, the same integers).

The loop is written once against :mod:`neurorecon.simulate.arrays`: with numpy (``"emulator"``)
chunks are cache-resident and run on a small thread pool with BLAS limited to one thread
(multi-threaded BLAS on these small GEMMs is 10-40x slower); with torch (``"torch"``, CPU or
CUDA) chunks are large and run one after the other, torch parallelising each operation.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from threadpoolctl import ThreadpoolController

from neurorecon._halves import usable_cores
from neurorecon.network import Dense, Network
from neurorecon.simulate import arithmetic as ar
from neurorecon.simulate.arrays import NumpyOps
from neurorecon.simulate.events import spread_events, synapse_lists
from neurorecon.simulate.layer_loop import run_layer
from neurorecon.simulate.result import SimulationResult, check_record_memory


def _on_device(c: ar.LIFConstants, arithmetic: str, ops) -> ar.LIFConstants:
    """The constants as arrays of ``ops``: decay factors in float64, the rest in the state's dtype."""
    state = ops.fixed_state if arithmetic == "fixed" else np.float64
    return ar.LIFConstants(ops.asarray(c.current_keep, np.float64), ops.asarray(c.voltage_keep, np.float64),
                           ops.asarray(c.bias, state), ops.asarray(c.threshold, state), c.may_wrap,
                           c.may_saturate, c.has_bias)


Taps = list[tuple[int, ar.Synapse]]  # one synapse per synaptic delay (ar.synapse_taps)
# An input event added where it lands costs about this many multiply-adds of the dense product
# over the input's delayed copies (numpy, one thread, seq-MNIST with delays: 48 G multiply-adds/s
# against 0.24 G events added / s; see _input_current).
SPREAD_COST = 200


@dataclass(frozen=True, eq=False)
class _EventSpread:
    """A stacked synapse (:func:`_stacked_taps`) as lists per input channel: synapse s carries
    channel c's events (``start[c] <= s < start[c + 1]``) to ``neuron[s]``, ``delay[s]`` steps
    later, times ``weight[s]`` (the stacked synapse's own scaled weight, float64)."""

    start: np.ndarray
    neuron: np.ndarray
    delay: np.ndarray
    weight: np.ndarray

    @property
    def per_channel(self) -> float:
        """Synapses per input channel, on average: the additions one input event costs."""
        return len(self.weight) / max(len(self.start) - 1, 1)


def _stacked_taps(layer, arithmetic: str, payload: float, ops) -> tuple[list[int], ar.Synapse] | None:
    """The first layer's delay taps as one synapse over the input's delayed copies, where that is
    the same integers: fixed point with ``weight_exp >= 0`` (every tap's shift is exact, so the
    sum of the shifted taps is the shift of one product). Float sums in another order, and a
    negative exponent floors each tap on its own: those keep one product per tap."""
    taps = ar.delay_taps(layer.dense)
    if len(taps) < 2 or arithmetic != "fixed" or layer.dense.weight_exp < 0:
        return None
    stacked = taps[0][1].replace(weights=np.concatenate([tap.weights for _, tap in taps], axis=1))
    return [k for k, _ in taps], ar.synapse(stacked, arithmetic, payload, ops)


def _event_spread(delays: list[int], syn: ar.Synapse, n_inputs: int) -> _EventSpread:
    """The stacked synapse ``syn`` (rows: delay index x input channel) as lists per channel."""
    rows, neurons = np.nonzero(np.asarray(syn.weights))
    delay = np.asarray(delays, dtype=np.int64)[rows // n_inputs]
    start, neuron, delay, order = synapse_lists(rows % n_inputs, neurons, delay, n_inputs)
    weights = np.asarray(syn.weights, dtype=np.float64)[rows, neurons]
    return _EventSpread(start, neuron, delay, weights[order])


@functools.cache
def _blas() -> ThreadpoolController:
    """The BLAS libraries numpy loaded, found once (a fresh search reads the process's library
    map: 1.4 ms, as long as a bias-bisection run of 64 witnesses)."""
    return ThreadpoolController()


def _one_blas_thread():
    """A context in which BLAS runs on one thread (see the module's docstring)."""
    return _blas().limit(limits=1, user_api="blas")


def _reach(taps: Taps | None) -> int:
    """How many past steps of spikes the synapses read (1 + the longest delay)."""
    return 1 + max(k for k, _ in taps) if taps else 1


def _fixed_update(constants: ar.LIFConstants, ops):
    step = ops.fused(ar.fixed_lif_update)

    def update(u, v, a):
        return u, v, step(u, v, a, constants, ops)

    return update


def _float_update(constants: ar.LIFConstants):
    def update(u, v, a):
        u, v, s = ar.float_lif_update(u, v, a, constants)
        return u, v, s > 0

    return update


@dataclass(frozen=True, eq=False)
class _Synapses:
    """A layer's feed-forward synapses as the loop applies them, and the largest ``|a << 6|``
    they can deliver (what the LIF constants and Lava's int32 datapath are checked against)."""

    taps: Taps
    bound: float
    stacked: tuple[list[int], ar.Synapse] | None  # the first layer's delayed taps as one (_stacked_taps)
    spread: _EventSpread | None  # the same synapses per input channel (numpy only)


@dataclass(frozen=True)
class _LayerPlan:
    synapses: _Synapses
    recurrent: Taps | None
    constants: ar.LIFConstants
    update: Callable


def _synapses(layer, first: bool, arithmetic: str, payload: float, ops) -> _Synapses:
    """``layer``'s synapses for inputs up to ``payload`` (``first``: the network's first layer,
    whose delay taps may be stacked into one product or spread as events)."""
    stacked = _stacked_taps(layer, arithmetic, payload, ops) if first else None
    spread = None
    if stacked is not None and isinstance(ops, NumpyOps):
        spread = _event_spread(*stacked, layer.dense.weights.shape[1])
    return _Synapses(ar.synapse_taps(layer.dense, arithmetic, payload, ops),
                     ar.max_abs_accumulation(layer.dense, arithmetic, payload), stacked, spread)


def plan_network(net: Network, max_input_payload: float, ops=None, first: _Synapses | None = None
                 ) -> list[_LayerPlan]:
    """Precompute every layer's synapses and LIF constants (and check Lava's int32 datapath);
    ``first``: the first layer's synapses, already planned (an :class:`InputDrive`'s)."""
    ops = ops or NumpyOps()
    plans = []
    for i, layer in enumerate(net.layers):
        payload = max_input_payload if i == 0 else 1.0
        synapses = first if i == 0 and first is not None else _synapses(layer, i == 0, net.arithmetic, payload, ops)
        bound = synapses.bound
        recurrent = None
        if layer.recurrent is not None:
            bound += ar.max_abs_accumulation(layer.recurrent, net.arithmetic, 1.0)
            recurrent = ar.synapse_taps(layer.recurrent, net.arithmetic, 1.0, ops)
        if net.arithmetic == "fixed":
            ar.check_int32_datapath(layer, i, bound)
        constants = _on_device(ar.lif_constants(layer, net.arithmetic, bound), net.arithmetic, ops)
        update = _fixed_update(constants, ops) if net.arithmetic == "fixed" else _float_update(constants)
        plans.append(_LayerPlan(synapses, recurrent, constants, update))
    return plans


class _Recorder:
    """Preallocated outputs; every chunk writes its own rows, so threads never collide."""

    def __init__(self, net: Network, n: int, n_steps: int, record: Sequence[str], layers: Sequence[int], ops):
        value_dtype = np.int32 if net.arithmetic == "fixed" else np.float64
        sizes = net.sizes
        self.ops = ops

        def maybe(var: str, shape, dtype) -> list:
            return [ops.zeros(shape(size), dtype) if (var in record and i in layers) else None
                    for i, size in enumerate(sizes)]

        self.spikes = maybe("spikes", lambda size: (n, n_steps, size), bool)
        self.v = maybe("v", lambda size: (n, n_steps, size), value_dtype)
        self.u = maybe("u", lambda size: (n, n_steps, size), value_dtype)
        self.final_v = [ops.zeros((n, size), value_dtype) for size in sizes]
        self.spike_counts = maybe("counts", lambda size: (n, size), np.int32)
        self.final_spikes = maybe("final_spikes", lambda size: (n, size), bool)

    def observe(self, layer: int, t: int, rows: slice, s, u, v) -> None:
        if self.spike_counts[layer] is not None:
            self.spike_counts[layer][rows] += s
        if self.spikes[layer] is not None:
            self.spikes[layer][rows, t] = s
        if self.v[layer] is not None:
            self.v[layer][rows, t] = v
        if self.u[layer] is not None:
            self.u[layer][rows, t] = u

    def result(self, n_steps: int) -> SimulationResult:
        def out(arrays):
            return [None if a is None else self.ops.to_numpy(a) for a in arrays]

        return SimulationResult(out(self.spikes), out(self.v), out(self.u), out(self.final_v), out(self.spike_counts),
                                n_steps, self.ops.backend, out(self.final_spikes))


def _delivered(taps: Taps, history: list, a=None):
    """``a`` plus what the synapses deliver now (None: nothing): tap k reads the spikes of k + 1
    steps ago (``history[k]``; the Dense's own step plus k synaptic delays)."""
    for k, syn in taps:
        if k < len(history):
            a = syn(history[k]) if a is None else a + syn(history[k])
    return a


def _input_current(synapses: _Synapses, x: np.ndarray, n_steps: int, ops):
    """What a layer receives through ``synapses`` at steps 1 .. n_steps - 1, (batch, n_steps - 1, N),
    or None if nothing arrives; ``x`` is the data (the first layer) or the raster of the layer below.

    Frame j reaches it at step j + 1 + k through a tap of delay k. With a stacked synapse
    (:func:`_stacked_taps`) one product over the input's delayed copies gives every step (or,
    where events and synapses are sparse, each event is added where it lands); else
    the taps' sums are added in ascending k, the order of the per-step sum, so float results are
    the same bits. Either way many delays do not multiply the per-step work.
    """
    batch, t_in, _ = x.shape
    steps = n_steps - 1
    if steps <= 0:
        return None
    if synapses.stacked is not None:
        delays, syn = synapses.stacked
        spread = synapses.spread  # numpy only: syn.weights is an ndarray there
        if spread is not None and (
                np.count_nonzero(x) * spread.per_channel * SPREAD_COST < batch * steps * syn.weights.size):
            # sparse events and synapses: each event is added where it lands (exact integer sums, as the product's)
            out = np.zeros((batch, steps, syn.weights.shape[1]))
            spread_events(x, spread.start, spread.neuron, spread.delay, spread.weight, out)
            return ops.asarray(out, syn.state)
        copies = np.zeros((batch, steps, len(delays), x.shape[2]), dtype=x.dtype)
        for j, k in enumerate(delays):
            frames = min(t_in, steps - k)
            if frames > 0:
                copies[:, k:k + frames, j] = x[:, :frames]
        return syn(copies.reshape(batch * steps, -1)).reshape(batch, steps, -1)
    taps = synapses.taps
    total = None
    for k, syn in taps:
        frames = min(t_in, steps - k)  # the frames that arrive within the run
        if frames <= 0:
            continue
        current = syn(x[:, :frames].reshape(batch * frames, -1)).reshape(batch, frames, -1)
        if len(taps) == 1 and frames == steps:
            return current  # one undelayed tap filling the run: nothing to add
        if total is None:
            total = ops.zeros((batch, steps, current.shape[-1]), current.dtype)
        total[:, k:k + frames] += current
    return total


@dataclass(eq=False, frozen=True)
class InputDrive:
    """What the first layer of a network receives from ``x`` at every step, computed once.

    Bisecting biases re-runs one layer many times on the same inputs with the same synapses; only
    its neurons' constants change, so the synaptic products (most of a run's work with delays)
    and the synapses' plan can be shared by every run. Made by :func:`input_drive`, passed to
    :func:`emulate`.
    """

    dense: Dense  # the first layer's synapses it was computed with
    x: np.ndarray
    n_steps: int
    current: object  # (n, n_steps - 1, N) in ``ops``'s arrays, or None if nothing arrives
    synapses: _Synapses  # the first layer's, as planned for ``x``


def input_drive(net: Network, x: np.ndarray, n_steps: int, ops=None) -> InputDrive:
    """The first layer's input current on ``x`` for runs of ``n_steps`` (see :class:`InputDrive`)."""
    ops = ops or NumpyOps()
    layer = net.layers[0]
    payload = max(float(x.max(initial=0)), 1.0)
    synapses = _synapses(layer, True, net.arithmetic, payload, ops)
    with _one_blas_thread():
        return InputDrive(layer.dense, x, n_steps, _input_current(synapses, x, n_steps, ops), synapses)


def _check_drive(drive: InputDrive, net: Network, x: np.ndarray, n_steps: int) -> None:
    if drive.x is not x or drive.n_steps != n_steps or not drive.dense.equals(net.layers[0].dense):
        raise ValueError("the input drive was computed for other inputs, steps or first-layer synapses")


def _run_chunk(plans: list[_LayerPlan], x: np.ndarray, n_steps: int, rows: slice, rec: _Recorder,
               drive: InputDrive | None = None, compiled: bool = False) -> None:
    """Run one chunk of samples (``rows``) and record it: step by step through every layer, or,
    ``compiled``, layer by layer (:func:`_run_layer_by_layer`)."""
    batch = x.shape[0]
    input_current = _input_current(plans[0].synapses, x, n_steps, rec.ops) if drive is None else (
        None if drive.current is None else drive.current[rows])
    if compiled:
        _run_layer_by_layer(plans, input_current, batch, n_steps, rows, rec)
        return
    state = plans[0].synapses.taps[0][1].state
    u = [rec.ops.zeros((batch, p.constants.threshold.shape[0]), state) for p in plans]
    v = [rec.ops.zeros((batch, p.constants.threshold.shape[0]), state) for p in plans]
    history: list[list] = [[] for _ in plans]  # each layer's spikes, the previous step first
    kept = [max(_reach(plan.recurrent), _reach(plans[i + 1].synapses.taps) if i + 1 < len(plans) else 1)
            for i, plan in enumerate(plans)]
    for t in range(n_steps):
        current = []
        for i, plan in enumerate(plans):
            if i == 0:
                a = None if input_current is None or t == 0 or t > input_current.shape[1] else input_current[:, t - 1]
            else:
                a = _delivered(plan.synapses.taps, history[i - 1])
            if plan.recurrent is not None:
                a = _delivered(plan.recurrent, history[i], a)
            u[i], v[i], s = plan.update(u[i], v[i], 0 if a is None else a)
            rec.observe(i, t, rows, s, u[i], v[i])
            current.append(s)
        for i, s in enumerate(current):
            history[i] = ([s] + history[i])[:kept[i]]
    for i in range(len(plans)):
        rec.final_v[i][rows] = v[i]
        if rec.final_spikes[i] is not None and history[i]:
            rec.final_spikes[i][rows] = history[i][0]


def _run_layer_by_layer(plans: list[_LayerPlan], input_current, batch: int, n_steps: int, rows: slice,
                        rec: _Recorder) -> None:
    """A feed-forward fixed-point network on numpy, one layer's whole run after the other: with no
    recurrence a layer's input at every step is known once the layer below has run (its spikes
    delivered one step later, plus each tap's delay), so each layer runs compiled
    (:func:`~neurorecon.simulate.layer_loop.run_layer`) on the current the layer below's raster
    gives, the same integers as the stepped loop."""
    current = input_current
    for i, plan in enumerate(plans):
        def view(records):
            return None if records[i] is None else records[i][rows]

        spikes = view(rec.spikes)
        if spikes is None and i + 1 < len(plans):  # the next layer's input
            spikes = np.zeros((batch, n_steps, plan.constants.threshold.shape[0]), dtype=bool)
        run_layer(current, batch, n_steps, plan.constants, counts=view(rec.spike_counts), spikes=spikes,
                  v=view(rec.v), u=view(rec.u), final_spikes=view(rec.final_spikes), final_v=rec.final_v[i][rows])
        if i + 1 < len(plans):
            current = _input_current(plans[i + 1].synapses, spikes, n_steps, rec.ops)


def default_chunk_size(net: Network, ops=None) -> int:
    """Samples per chunk: numpy keeps one layer's state around 64k values (cache resident);
    torch takes large chunks (fewer, larger operations), about 4M values per layer."""
    if isinstance(ops or NumpyOps(), NumpyOps):
        return int(np.clip(65536 // max(net.sizes), 8, 1024))
    return int(max(2**22 // max(net.sizes), 8))


def emulate(
    net: Network,
    x: np.ndarray,
    n_steps: int,
    record: Sequence[str] = ("spikes", "v"),
    layers: Sequence[int] | None = None,
    chunk_size: int | None = None,
    threads: int | None = None,
    ops=None,
    drive: InputDrive | None = None,
) -> SimulationResult:
    """Simulate ``x`` (n, T, N_in), already validated, for ``n_steps`` steps (inputs past T are 0).

    ``ops`` (:mod:`neurorecon.simulate.arrays`): numpy (default) or torch on a device.
    ``drive``: the first layer's input current, computed once by :func:`input_drive` with the
    same ``x``, ``n_steps``, synapses and ``ops``.
    """
    ops = ops or NumpyOps()
    if drive is not None:
        _check_drive(drive, net, x, n_steps)
    n = x.shape[0]
    layers = range(net.n_layers) if layers is None else layers
    max_payload = float(x.max(initial=0))
    plans = plan_network(net, max(max_payload, 1.0), ops, None if drive is None else drive.synapses)
    check_record_memory(net.sizes, n, n_steps, record, list(layers), 4 if net.arithmetic == "fixed" else 8)
    rec = _Recorder(net, n, n_steps, record, list(layers), ops)
    chunk = chunk_size or default_chunk_size(net, ops)
    bounds = [slice(start, min(start + chunk, n)) for start in range(0, n, chunk)]
    threads = 1 if not isinstance(ops, NumpyOps) else threads or min(2, usable_cores(), len(bounds))
    compiled = (isinstance(ops, NumpyOps) and net.arithmetic == "fixed"
                and all(layer.recurrent is None for layer in net.layers))
    with _one_blas_thread():
        if threads <= 1:
            for rows in bounds:
                _run_chunk(plans, x[rows], n_steps, rows, rec, drive, compiled)
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(lambda rows: _run_chunk(plans, x[rows], n_steps, rows, rec, drive, compiled), bounds))
    return rec.result(n_steps)
