"""Witnesses: candidate hidden LIF neurons, drawn on the profile's grid and calibrated on data.

A witness is one hidden neuron: its input weights, time constants (du, dv), threshold and bias.
They are drawn *on the chip's grid* (integers for fixed-point profiles), so the dictionary the
solver sees is exactly what the chip computes.

Calibration (so neurons are neither silent nor saturated at the readout):

1. Time constants come from a small palette of (du, dv) pairs spanning fast to slow (one
   group per pair: Lava shares du, dv, vth per process, and a core has few neuron configs).
2. Each neuron sees a random subset of the inputs (``connectivity``; sparse random
   projections make better features on wide inputs such as image rows). Weights lie on the
   Dense grid of ``weight_bits`` (8 bits, mixed sign: even values in [-256, 254]), spanning
   it times a random per-neuron gain. A probe simulation with thresholds out of reach measures each
   group's membrane scale; the layer's ``weight_exp`` is lowered until the slowest group stays
   clear of 24-bit saturation, and each group's ``vth`` is set to its typical scale.
3. Each neuron's bias is bisected (exact emulator runs on a calibration subset) so that its
   firing statistic at readout hits a random target in a useful range.
4. With ``max_delay`` > 0 every synapse gets its own delay, drawn uniformly from 0 to
   ``max_delay`` whole steps (Lava's ``DelayDense``; the profile's ``delay_bits`` bound it).
   A neuron whose synapses arrive at different delays detects *when* its inputs came relative
   to each other (a coincidence of the volley at t with the one at t - d), which counts of
   undelayed neurons cannot: on the timing tasks' tuning variants 500 random witnesses with
   delays up to 30 steps took interval discrimination from 45 % to 67 % and latency codes from
   76 % to 85 %. Every witness is delayed: keeping half undelayed (so more synapses deliver the
   last frames before the run ends) cost the default 9 points on interval and 6 on delayed match.

``netx_compatible`` draws on the part of the grid lava-dl's netx format holds exactly (weights
whole per spike at the layer's exponent, biases on netx's 64-grid; :mod:`neurorecon.quantize.netx_grid`);
netx also holds one (du, dv, vth) per layer, which a one-pair ``palette`` gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from neurorecon.network import NEURON_PARAMETERS, VTH_MAX, Dense, LIFLayer, Network
from neurorecon.profiles import Profile
from neurorecon.quantize.fixed_point import SMALLEST_DECAY, quantize_bias, quantize_decays
from neurorecon.quantize.netx_grid import netx_bias, netx_weight_grid
from neurorecon.quantize.scale import weight_grid
from neurorecon.simulate.arithmetic import DECAY_UNITY
from neurorecon.simulate.arrays import array_ops
from neurorecon.simulate.emulator import InputDrive, emulate, input_drive
from neurorecon.train.blocks import Engine, content_key

SAFE_VOLTAGE = 2**21  # probe membrane scale kept below this (v saturates at 2**23)
SAFE_QUANTILE = 99  # percent of the probe's |v| that must stay below SAFE_VOLTAGE
BISECTION_STEPS = 12
SLOWEST_LEAK = 4096.0  # tau_v in steps of dv = 1 (fixed) / 1/4096 (float)
CALIBRATION_BLOCK = 1024  # witnesses per bias-calibration block (a unit of work on a cluster)
# A block's bisection runs share its input current (computed once) up to this size; larger ones
# (long sequences) recompute it in each run, chunk by chunk, as a plain run does.
SHARED_DRIVE_BYTES = 2**28


def default_palette(t_frames: int) -> list[tuple[float, float]]:
    """Time constants (tau_u, tau_v) in steps (``decays`` also takes ``inf`` = no leak).

    Current time constants double from 1 step to the sequence length; each is paired with a
    fast, a medium and a slow voltage leak and with the slowest leak the chip has (dv = 1/4096,
    an integrator over any practical sequence; a perfect integrator behind a synapse is not
    expressible in NIR's CubaLIF, so trained networks would not export). Mixed time constants
    beat any single pair clearly; the number of pairs (Lava processes, chip neuron
    configurations) stays small: 4 * (1 + ceil(log2 T)).
    """
    currents = [2.0**k for k in range(int(np.ceil(np.log2(max(t_frames, 2)))) + 1)]
    return [(tu, tv) for tu in currents for tv in (1.0, 4.0, 16.0, SLOWEST_LEAK)]


def decays(tau_u: float, tau_v: float, arithmetic: str) -> tuple[float, float]:
    """(du, dv) for time constants in steps, on the arithmetic's grid (fixed: :func:`quantize_decays`)."""
    du, dv = 1.0 / tau_u, (0.0 if np.isinf(tau_v) else 1.0 / tau_v)
    if arithmetic == "fixed":
        # slower than 12 bits resolve: the chip's slowest current decay (du_int = 0), no voltage leak
        du_int, dv_int, _ = quantize_decays(np.array([max(du, 1 / DECAY_UNITY)]),
                                            np.array([dv if dv >= SMALLEST_DECAY else 0.0]), layer=0)
        return int(du_int[0]), int(dv_int[0])
    return du, dv


@dataclass(eq=False)
class Calibration:
    """Per-group constants shared by every witness of a layer."""

    group_decays: list[tuple[float, float]]
    group_vth: np.ndarray
    weight_exp: int


class WitnessSampler:
    """Draws calibrated witness neurons for one hidden layer.

    ``inputs`` is the calibration input raster (m, T_in, d) the layer sees (the data, or the
    spikes of the layer below); ``depth`` is the layer's index in the hidden stack.
    """

    def __init__(self, profile: Profile, inputs: np.ndarray, t_frames: int, depth: int, statistic: str,
                 rng: np.random.Generator, palette: list[tuple[float, float]] | None = None,
                 num_message_bits: int = 0, connectivity: float = 1.0, weight_bits: int = 8,
                 netx_compatible: bool = False, max_delay: int = 0):
        self.profile = profile
        self.arithmetic = profile.network_arithmetic
        self.inputs = inputs
        self.t_frames = t_frames
        self.depth = depth
        self.statistic = statistic  # "last": spike at the readout step; "rate": mean firing over the sequence
        self.rng = rng
        self.num_message_bits = num_message_bits
        self.connectivity = connectivity
        self.weight_bits = weight_bits
        self.netx_compatible = netx_compatible
        self.max_delay = int(max_delay)
        self.grid = weight_grid(np.array([-1.0, 1.0]), weight_bits)
        self.n_steps = inputs.shape[1] + 1
        self.engine: Engine | None = None
        self.backend, self.device = "emulator", None
        palette = palette or default_palette(t_frames)
        group_decays = list(dict.fromkeys(decays(tu, tv, self.arithmetic) for tu, tv in palette))
        self.calibration = self._calibrate(group_decays)
        if netx_compatible:
            self.grid = netx_weight_grid(self.grid, self.calibration.weight_exp)

    def use(self, engine: Engine) -> None:
        """Calibrate biases in blocks on ``engine`` (its cluster, store and simulation backend)."""
        self.engine = engine
        self.backend, self.device = engine.backend, engine.device

    def __getstate__(self) -> dict:
        return dict(self.__dict__, engine=None)  # what a worker needs; the engine stays here

    # ------------------------------------------------------------------ drawing
    def _directions(self, n: int) -> np.ndarray:
        d = self.inputs.shape[2]
        w = self.rng.standard_normal((n, d))
        if self.connectivity < 1.0:  # each neuron sees exactly k random inputs
            k = max(1, int(round(self.connectivity * d)))
            keep = np.argsort(self.rng.random((n, d)), axis=1)[:, :k]
            mask = np.zeros((n, d), dtype=bool)
            np.put_along_axis(mask, keep, True, axis=1)
            w *= mask
        w /= np.maximum(np.abs(w).max(axis=1, keepdims=True), 1e-12)
        gain = self.rng.uniform(0.25, 1.0, (n, 1))
        if self.arithmetic == "fixed":  # on the grid, so Lava's truncation keeps every weight as drawn
            return self.grid.snap(w * gain * self.grid.magnitude)
        return w * gain

    def _delays(self, n: int) -> np.ndarray | None:
        """Each synapse's delay (whole steps, uniform in 0..max_delay), or None without delays."""
        if self.max_delay <= 0:
            return None
        return self.rng.integers(0, self.max_delay + 1, (n, self.inputs.shape[2]))

    def _layer(self, weights, groups, vth, bias_mant, bias_exp, weight_exp, delays=None) -> LIFLayer:
        du = np.array([self.calibration.group_decays[g][0] for g in groups])
        dv = np.array([self.calibration.group_decays[g][1] for g in groups])
        dense = Dense(weights, weight_exp=weight_exp, num_weight_bits=self.weight_bits,
                      sign_mode="mixed" if self.arithmetic == "fixed" else None,
                      num_message_bits=self.num_message_bits, delays=delays)
        return LIFLayer(dense, du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp)

    def _simulate(self, layer: LIFLayer, record: tuple[str, ...], drive: InputDrive | None = None):
        net = Network([layer], arithmetic=self.arithmetic)
        return emulate(net, self.inputs, self.n_steps, record, [0], ops=array_ops(self.backend, self.device),
                       drive=drive)

    def _calibrate(self, group_decays: list[tuple[float, float]]) -> Calibration:
        """Choose the layer's weight exponent and each group's threshold from a probe run."""
        self.calibration = Calibration(group_decays, np.zeros(len(group_decays)), 0)
        per_group = 48
        groups = np.repeat(np.arange(len(group_decays)), per_group)
        weights = self._directions(groups.size)
        delays = self._delays(groups.size)
        fixed = self.arithmetic == "fixed"
        unreachable = VTH_MAX if fixed else 1e30
        weight_exp = 0
        lowest = self.profile.precision.weight_exp_min if fixed else 0
        while True:
            probe = self._layer(weights, groups, unreachable, 0, 0, weight_exp, delays)
            v = self._simulate(probe, ("v",)).v[0]  # int32 on the chip: no float64 copy of the probe run
            if not fixed or magnitude_quantile_below(v, SAFE_QUANTILE, SAFE_VOLTAGE) or weight_exp <= lowest:
                break
            weight_exp -= 1
        window = v[:, -1] if self.statistic == "last" else v.reshape(-1, v.shape[-1])
        spread = column_std(window)
        vth = np.empty(len(group_decays))
        for g in range(len(group_decays)):
            scale = float(np.median(spread[groups == g]))
            vth[g] = np.clip(round(scale / 64), 1, VTH_MAX) if fixed else max(scale, 1e-6)
        return Calibration(group_decays, vth, weight_exp)

    def _statistic(self, layer: LIFLayer, drive: InputDrive | None) -> np.ndarray:
        if self.statistic == "last":
            return self._simulate(layer, ("final_spikes",), drive).final_spikes[0].mean(axis=0)
        return self._simulate(layer, ("counts",), drive).spike_counts[0].mean(axis=0) / self.n_steps

    def bias_on_grid(self, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(bias_mant, bias_exp) of biases in v units, on the grid witnesses are drawn on."""
        if self.arithmetic != "fixed":
            return bias, np.zeros_like(bias)
        if self.netx_compatible:
            return netx_bias(bias)
        return quantize_bias(bias, 1.0, self.profile.precision)

    def calibrate_bias(self, weights: np.ndarray, groups: np.ndarray, targets: np.ndarray,
                       delays: np.ndarray | None = None) -> LIFLayer:
        """Bisect each neuron's bias so its firing statistic reaches ``targets`` (``delays``: the
        synapses' delays, or None).

        Neurons are independent here, so they are calibrated in blocks: on the engine's workers
        (and kept in its block store) when one is set.
        """
        cal = self.calibration
        blocks = [slice(start, start + CALIBRATION_BLOCK) for start in range(0, len(groups), CALIBRATION_BLOCK)]
        def rows(b: slice):
            return weights[b], groups[b], targets[b], None if delays is None else delays[b]

        if self.engine is None:
            parts = [self.bisect(*rows(b)) for b in blocks]
        else:
            setup = self.setup_key()
            tasks = [(content_key("bias", setup, *rows(b)), (self, *rows(b))) for b in blocks]
            parts = self.engine.map(_bisect_block, tasks)
        bias_mant = np.concatenate([p["bias_mant"] for p in parts])
        bias_exp = np.concatenate([p["bias_exp"] for p in parts])
        return self._layer(weights, groups, cal.group_vth[groups], bias_mant, bias_exp, cal.weight_exp, delays)

    def setup_key(self) -> str:
        """Everything besides a neuron's own draw that its calibrated bias depends on."""
        cal = self.calibration
        return content_key(self.inputs, self.arithmetic, self.profile.name, self.statistic, self.num_message_bits,
                           self.weight_bits, self.netx_compatible, [list(map(float, d)) for d in cal.group_decays],
                           cal.group_vth, cal.weight_exp, self.n_steps,
                           self.backend if self.arithmetic == "float" else None)

    def bisect(self, weights: np.ndarray, groups: np.ndarray, targets: np.ndarray,
               delays: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The calibrated (bias_mant, bias_exp) of a block of neurons."""
        cal = self.calibration
        vth = cal.group_vth[groups]
        span = vth * (64 if self.arithmetic == "fixed" else 1)
        lo, hi = -2.0 * span, 1.0 * span
        drive = None  # the synaptic input, the same for every bias tried
        shared = self.inputs.shape[0] * (self.n_steps - 1) * len(groups) * 8 <= SHARED_DRIVE_BYTES
        for _ in range(BISECTION_STEPS):
            mid = (lo + hi) / 2
            layer = self._layer(weights, groups, vth, *self.bias_on_grid(mid), cal.weight_exp, delays)
            if drive is None and shared:
                drive = input_drive(Network([layer], arithmetic=self.arithmetic), self.inputs, self.n_steps,
                                    array_ops(self.backend, self.device))
            low = self._statistic(layer, drive) < targets
            lo = np.where(low, mid, lo)
            hi = np.where(low, hi, mid)
        bias_mant, bias_exp = self.bias_on_grid((lo + hi) / 2)
        return {"bias_mant": np.asarray(bias_mant), "bias_exp": np.asarray(bias_exp)}

    def _targets(self, n: int) -> np.ndarray:
        if self.statistic == "last":
            return self.rng.uniform(0.05, 0.95, n)
        return self.rng.uniform(0.02, 0.5, n)

    def sample(self, n: int) -> LIFLayer:
        """``n`` new calibrated witnesses."""
        groups = self.rng.integers(0, len(self.calibration.group_decays), n)
        return self.calibrate_bias(self._directions(n), groups, self._targets(n), self._delays(n))

    def perturb(self, layer: LIFLayer, rows: np.ndarray, scale: float = 0.1) -> LIFLayer:
        """New witnesses near ``layer``'s neurons ``rows``: jittered weights, re-calibrated bias."""
        base = layer.weights[rows].astype(np.float64)
        amplitude = np.maximum(np.abs(base).max(axis=1, keepdims=True), 1.0)
        noisy = base + self.rng.standard_normal(base.shape) * amplitude * scale
        if self.arithmetic == "fixed":
            noisy = self.grid.snap(noisy)
        groups = np.array([self._group_of(layer, r) for r in rows])
        return self.calibrate_bias(noisy, groups, self._targets(len(rows)), synapse_delays(layer)[rows])

    def _group_of(self, layer: LIFLayer, row: int) -> int:
        key = (layer.du[row], layer.dv[row])
        return next(g for g, d in enumerate(self.calibration.group_decays) if tuple(d) == key)


def magnitude_quantile_below(values: np.ndarray, q: float, limit: float) -> bool:
    """``np.percentile(np.abs(values), q) < limit`` (linear interpolation) without sorting.

    In the sorted magnitudes ``a``, exactly the first ``c`` (the count below ``limit``) are below
    it, and the percentile interpolates between ``a[k]`` and ``a[k + 1]``, ``k = floor(q/100 (n-1))``:
    below the limit when ``k + 1 < c``, not when ``k >= c``; numpy decides the case between.
    The probe's v record is hundreds of MB, so one counting pass instead of a copy and a partition.
    """
    flat = np.ravel(values)
    below = _count_below(flat, float(limit))
    k = int(np.floor((flat.size - 1) * (q / 100)))
    if k + 2 < below:  # a margin of one rank against the float product's rounding
        return True
    if k - 1 >= below:
        return False
    return bool(np.percentile(np.abs(flat), q) < limit)


@numba.njit(cache=True, nogil=True)
def _count_below(flat, limit):
    count = 0
    for x in flat:
        if -limit < x < limit:
            count += 1
    return count


@numba.njit(cache=True, nogil=True)
def column_std(x):
    """``x.std(axis=0)`` of a 2-D array, the same bits: numpy sums the rows in order along axis 0
    (the mean, then the squared deviations, in float64), and so does this loop, without numpy's
    float64 copy of ``x`` (a probe record: hundreds of MB)."""
    rows, cols = x.shape
    total = np.zeros(cols)
    for i in range(rows):
        for j in range(cols):
            total[j] += np.float64(x[i, j])
    mean = total / rows
    squares = np.zeros(cols)
    for i in range(rows):
        for j in range(cols):
            deviation = np.float64(x[i, j]) - mean[j]
            squares[j] += deviation * deviation
    return np.sqrt(squares / rows)


def _bisect_block(sampler: WitnessSampler, weights, groups, targets, delays) -> dict[str, np.ndarray]:
    """One bias-calibration block (a unit of work on a cluster)."""
    return sampler.bisect(weights, groups, targets, delays)


NEURON_FIELDS = ("weights", *NEURON_PARAMETERS)


def synapse_delays(layer: LIFLayer) -> np.ndarray:
    """The layer's synaptic delays as a full (N, N_in) matrix (zeros without delays)."""
    delays = layer.dense.delays
    return np.zeros(layer.weights.shape, dtype=np.int64) if delays is None else delays


def layer_key(layer: LIFLayer) -> str:
    """A content key of a witness layer: every parameter its spikes depend on."""
    rec = layer.recurrent
    return content_key([np.asarray(getattr(layer, name)) for name in NEURON_FIELDS], synapse_delays(layer), layer.weight_exp,
                       layer.num_weight_bits, layer.sign_mode, layer.num_message_bits,
                       None if rec is None else (np.asarray(rec.weights), rec.weight_exp, rec.num_weight_bits,
                                                 rec.sign_mode, rec.num_message_bits))


def concat_layers(layers: list[LIFLayer]) -> LIFLayer:
    """Stack witness blocks (same inputs, weight exponent and sign mode) into one layer.

    Recurrent blocks (modules) keep their recurrent weights on the block diagonal, so stacking
    changes no neuron's dynamics; blocks without recurrence get zero recurrent weights.
    """
    first = layers[0]
    cat = {name: np.concatenate([getattr(l, name) for l in layers]) for name in NEURON_FIELDS}
    cat["delays"] = np.concatenate([synapse_delays(l) for l in layers])
    recurrent = [l.recurrent for l in layers if l.recurrent is not None]
    if recurrent:
        template = recurrent[0]
        sizes = [l.n_neurons for l in layers]
        weights = np.zeros((sum(sizes), sum(sizes)), dtype=template.weights.dtype)
        start = 0
        for layer, size in zip(layers, sizes):
            if layer.recurrent is not None:
                weights[start:start + size, start:start + size] = layer.recurrent.weights
            start += size
        cat["recurrent"] = template.replace(weights=weights)
    return first.replace(**cat)


def select_rows(layer: LIFLayer, rows: np.ndarray) -> LIFLayer:
    """The witnesses ``rows`` of a layer, in that order (recurrent weights among them kept)."""
    picked = {name: getattr(layer, name)[rows] for name in NEURON_FIELDS}
    picked["delays"] = synapse_delays(layer)[rows]
    if layer.recurrent is not None:
        picked["recurrent"] = layer.recurrent.replace(weights=layer.recurrent.weights[np.ix_(rows, rows)])
    return layer.replace(**picked)
