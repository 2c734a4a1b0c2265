"""Where witnesses come from: random calibrated neurons (CVX) or an SG-trained layer (SG-CVX).

A source gives the initial witnesses and, for column generation, new candidates near the
selected ones. Witnesses come with module labels: a recurrent module's neurons interact, so the
dictionary simulates them together and reconstruction keeps a module whole.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from neurorecon.network import Dense, LIFLayer
from neurorecon.profiles import Profile
from neurorecon.quantize.scale import weight_grid
from neurorecon.train.convex.witnesses import WitnessSampler, concat_layers

RECURRENT_DENSITY = 0.2  # fraction of non-zero recurrent weights inside a random module
# Relative weight noise of a perturbed copy, chosen on the validation split (20 % of the training
# data) of seq-MNIST-10k with 2,500 witnesses: 0.1 -> 89.5 %, 0.3 -> 90.2 %, 0.6 -> 90.6 %,
# 1.0 -> 90.5 %. Copies this far from the SG neurons add features the SG layer lacks.
JITTER = 0.6


class RandomWitnesses:
    """Calibrated random witnesses; optional recurrent modules of ``module_size`` neurons."""

    def __init__(self, sampler: WitnessSampler, module_size: int | None = None, recurrent_gain: float = 0.5):
        self.sampler = sampler
        self.module_size = module_size
        self.recurrent_gain = recurrent_gain

    def _modules(self, layer: LIFLayer) -> tuple[LIFLayer, np.ndarray | None]:
        if not self.module_size:
            return layer, None
        n, m = layer.n_neurons, self.module_size
        rng, grid = self.sampler.rng, self.sampler.grid
        weights = np.zeros((n, n))
        for start in range(0, n, m):
            stop = min(start + m, n)
            block = rng.standard_normal((stop - start, stop - start)) * (rng.random((stop - start,) * 2) < RECURRENT_DENSITY)
            np.fill_diagonal(block, 0.0)
            weights[start:stop, start:stop] = block / max(np.abs(block).max(), 1e-12) * self.recurrent_gain
        fixed = self.sampler.arithmetic == "fixed"
        rec = grid.snap(weights * grid.magnitude) if fixed else weights
        dense = Dense(rec, weight_exp=layer.weight_exp, num_weight_bits=layer.num_weight_bits,
                      sign_mode="mixed" if fixed else None)
        return layer.replace(recurrent=dense), np.arange(n) // m

    def initial(self, n: int) -> tuple[LIFLayer, np.ndarray | None]:
        return self._modules(self.sampler.sample(n))

    def candidates(self, n: int, witnesses: LIFLayer, selected: np.ndarray, rng) -> tuple[LIFLayer, np.ndarray | None]:
        """Half fresh witnesses, half perturbations of selected ones (independent neurons only)."""
        if self.module_size:
            return self.initial(n)
        half = min(n // 2, len(selected))
        fresh = self.sampler.sample(n - half)
        if half == 0:
            return fresh, None
        near = self.sampler.perturb(witnesses, rng.choice(selected, size=half, replace=False))
        return concat_layers([fresh, near]), None


class SurrogateWitnesses:
    """The hidden layer of an SG-trained network, on the chip's grid, and jittered copies of it.

    With ``init`` (a trained Network of one hidden layer) the SG training fine-tunes it instead
    of starting from scratch: reconstruct, fine-tune, re-quantize, re-fit the readout convexly.

    Training and quantization are :func:`neurorecon.train.surrogate.trainer.train_surrogate` and
    :func:`neurorecon.quantize.ptq.sg_ptq`; the SG network's own float and chip accuracies are
    kept in ``report`` (the SG baseline of the same run).
    """

    def __init__(self, X, y, profile: Profile, readout: str, hidden: int, recurrent: bool, epochs: int,
                 lr: float, seed: int, progress: Callable[[str], None] | None = None, init=None):
        from neurorecon.quantize.ptq import sg_ptq
        from neurorecon.train.surrogate.trainer import train_surrogate

        self.profile = profile
        self.rng = np.random.default_rng([seed, 7])
        if init is not None:  # fine-tuning: the architecture (and recurrence) is init's
            net_float, history = train_surrogate(X, y, readout=readout, epochs=epochs, lr=lr, seed=seed,
                                                 progress=progress, init=init)
            recurrent = init.layers[0].recurrent is not None
        else:
            net_float, history = train_surrogate(X, y, hidden=(hidden,), readout=readout, recurrent=recurrent,
                                                 epochs=epochs, lr=lr, seed=seed, progress=progress)
        self.float_network = net_float
        if profile.is_fixed:
            net_chip, ptq = sg_ptq(net_float, profile, X, y)
            self.chip_network = net_chip
            self.report = {"history": history.to_dict(), "ptq": ptq.to_dict()}
        else:
            self.chip_network = net_float
            self.report = {"history": history.to_dict()}
        base = self.chip_network.layers[0]
        self.base = base.replace(sign_mode=base.dense.resolved_sign_mode() if profile.is_fixed else None)
        self.recurrent = recurrent

    def _copy(self, jitter: float) -> LIFLayer:
        base = self.base
        fixed = self.profile.is_fixed

        def noisy(w: np.ndarray, bits: int) -> np.ndarray:
            scale = np.abs(w).max(axis=1, keepdims=True) if w.size else 1.0
            out = w + self.rng.standard_normal(w.shape) * scale * jitter
            return weight_grid(np.array([-1.0, 1.0]), bits).snap(out) if fixed else out

        layer = base.replace(weights=noisy(base.weights.astype(float), base.num_weight_bits), sign_mode="mixed" if fixed else None)
        if base.recurrent is not None:
            rec = base.recurrent
            noisy_rec = rec.replace(weights=noisy(rec.weights.astype(float), rec.num_weight_bits),
                                    sign_mode="mixed" if fixed else None)
            layer = layer.replace(recurrent=noisy_rec)
        return layer

    def _layers(self, copies: int, include_base: bool) -> tuple[LIFLayer, np.ndarray]:
        layers = ([self.base] if include_base else []) + [self._copy(JITTER) for _ in range(copies)]
        size = self.base.n_neurons
        stacked = concat_layers(layers)
        if self.recurrent:
            return stacked, np.arange(stacked.n_neurons) // size
        return stacked, np.arange(stacked.n_neurons)

    def initial(self, n: int) -> tuple[LIFLayer, np.ndarray]:
        copies = max(0, int(np.ceil(n / self.base.n_neurons)) - 1)
        return self._layers(copies, include_base=True)

    def candidates(self, n: int, witnesses: LIFLayer, selected: np.ndarray, rng) -> tuple[LIFLayer, np.ndarray]:
        return self._layers(max(1, int(np.ceil(n / self.base.n_neurons))), include_base=False)
